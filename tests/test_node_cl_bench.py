"""benchmarks/node_cl.py helpers: candidate settings, selection on validation accuracy, reference runs."""

import json
import sys

import pytest
import torch


@pytest.fixture(scope="module")
def node_cl(load_benchmark):
    return load_benchmark("node_cl")


def fake_run(seed, val, test):
    """A stored run as run_one records it: per-split validation / test accuracies (fractions)."""
    return {"seed": seed, "accuracy": sum(test) / len(test), "std": 0.0, "per_split": test,
            "val_accuracy": sum(val) / len(val), "per_split_val": val, "s_per_epoch": 1.0}


def test_parse_candidates_and_labels(node_cl):
    got = node_cl.parse_candidates(["schur_fraction1=0.1,schur_fraction2=0",
                                    "schur_fraction2=0.5,schur_fraction1=1e-1"])
    assert got == [{"schur_fraction1": 0.1, "schur_fraction2": 0}, {"schur_fraction2": 0.5, "schur_fraction1": 0.1}]
    assert node_cl.candidate_label("rlap", got[0]) == "rlap[schur_fraction1=0.1,schur_fraction2=0]"
    assert node_cl.candidate_label("rlap", None) == "rlap"
    assert node_cl.base_method("rlap[schur_fraction1=0.1,schur_fraction2=0]") == "rlap"
    assert node_cl.base_method("rlap-unweighted") == "rlap-unweighted"
    with pytest.raises(ValueError, match="same keys"):
        node_cl.parse_candidates(["a=1,b=2", "a=2"])
    with pytest.raises(ValueError, match="listed twice"):
        node_cl.parse_candidates(["a=1", "a=1.0"])
    with pytest.raises(ValueError, match="at least one"):
        node_cl.parse_candidates([","])
    with pytest.raises(ValueError, match="key=value"):
        node_cl.parse_candidates(["a"])


def summary_of(node_cl, cands, runs_by_cand):
    results, configs, labels = {}, {}, {}
    for cand, runs in zip(cands, runs_by_cand):
        lab = node_cl.candidate_label("rlap", cand)
        labels[lab] = cand
        configs[(lab, "citeseer")] = node_cl.method_config("rlap", "citeseer", None, None, cand)
        results[(lab, "citeseer")] = runs
    return node_cl.summarise(results, configs, {"set": {}}, torch.device("cpu"), labels)


def test_selection_uses_validation_only_and_common_seeds(node_cl):
    a = {"schur_fraction1": 0.1, "schur_fraction2": 0.1}
    b = {"schur_fraction1": 0.3, "schur_fraction2": 0.3}
    # a: higher TEST accuracy, lower validation accuracy; b's extra seed 102 (a very low val) is not shared
    runs_a = [fake_run(100, [0.70, 0.72], [0.90, 0.90]), fake_run(101, [0.70, 0.70], [0.90, 0.90])]
    runs_b = [fake_run(100, [0.72, 0.72], [0.50, 0.50]), fake_run(101, [0.71, 0.71], [0.50, 0.50]),
              fake_run(102, [0.10, 0.10], [0.50, 0.50])]
    rep = summary_of(node_cl, [a, b], [runs_a, runs_b])
    sel = rep["selection"]["rlap citeseer"]
    assert sel["seeds"] == [100, 101]
    assert sel["candidates"]["rlap[schur_fraction1=0.1,schur_fraction2=0.1]"]["val_accuracy"] == 70.5
    assert sel["candidates"]["rlap[schur_fraction1=0.3,schur_fraction2=0.3]"]["val_accuracy"] == 71.5
    assert sel["chosen"] == "rlap[schur_fraction1=0.3,schur_fraction2=0.3]" and sel["chosen_settings"] == b
    # the per-row val_accuracy metric: mean over all (seed, split) pairs of that row, in %
    row = rep["datasets"]["rlap[schur_fraction1=0.1,schur_fraction2=0.1] citeseer"]
    assert row["val_accuracy"] == 70.5 and row["val_per_training_seed"] == [71.0, 70.0]
    assert any(r["metric"] == "val_accuracy" and r["value"] == 70.5 for r in rep["rows"])


def test_selection_ties_go_to_the_incumbent(node_cl):
    from graphcl.config import load_config

    cfg = load_config("rlap", "citeseer")
    cur = {"schur_fraction1": cfg["schur_fraction1"], "schur_fraction2": cfg["schur_fraction2"]}
    other = {"schur_fraction1": 0.45, "schur_fraction2": 0.45}
    runs = [fake_run(100, [0.7, 0.7], [0.7, 0.7])]
    for order in ([other, cur], [cur, other]):  # the incumbent wins a tie wherever it is listed
        sel = summary_of(node_cl, order, [runs, runs])["selection"]["rlap citeseer"]
        assert sel["chosen_settings"] == cur
        assert sel["candidates"][node_cl.candidate_label("rlap", cur)]["incumbent"] is True
        assert sel["candidates"][node_cl.candidate_label("rlap", other)]["incumbent"] is False
    # no incumbent among tied candidates: the first listed
    third = {"schur_fraction1": 0.35, "schur_fraction2": 0.35}
    sel = summary_of(node_cl, [third, other], [runs, runs])["selection"]["rlap citeseer"]
    assert sel["chosen_settings"] == third


def test_reference_runs_are_paired_and_config_checked(node_cl, tmp_path):
    grace_cfg = node_cl.method_config("grace", "citeseer", None, None, {})
    stored = {k: v for k, v in grace_cfg.items() if k not in ("paper_epochs", "normalize_features")}
    # stored runs from before the validation accuracy was recorded
    ref_runs = [{k: v for k, v in fake_run(s, [0.7], [a]).items() if "val" not in k}
                for s, a in ((0, 0.70), (1, 0.72))]
    path = tmp_path / "ref.json"
    path.write_text(json.dumps({"command": "x", "datasets": {"grace citeseer": {"config": stored, "runs": ref_runs}}}))
    cand = {"schur_fraction1": 0.3, "schur_fraction2": 0.3}
    lab = node_cl.candidate_label("rlap", cand)
    configs = {(lab, "citeseer"): node_cl.method_config("rlap", "citeseer", None, None, cand)}
    results = {(lab, "citeseer"): [fake_run(0, [0.7], [0.71]), fake_run(1, [0.7], [0.71])]}
    fresh = dict(configs)
    info = node_cl.add_reference(str(path), results, configs, None, None)
    assert info["seeds"] == {"grace citeseer": [0, 1]}
    rep = node_cl.summarise(results, configs, {}, torch.device("cpu"), {lab: cand})
    vs = rep["datasets"][f"{lab} citeseer"]["vs_grace"]
    assert vs["per_seed_difference"] == [1.0, -1.0] and vs["difference"] == 0.0 and vs["at_least"] is True
    assert rep["datasets"]["grace citeseer"]["val_accuracy"] is None
    assert rep["datasets"]["grace citeseer"]["val_per_training_seed"] == [None, None]
    assert not any(r["metric"] == "val_accuracy" and r["impl"] == "graphcl grace" for r in rep["rows"])
    # a reference stored with another config is refused, naming the key
    path.write_text(json.dumps({"datasets": {"grace citeseer": {"config": {**stored, "tau": 0.5}, "runs": ref_runs}}}))
    with pytest.raises(ValueError, match="tau"):
        node_cl.add_reference(str(path), {(lab, "citeseer"): []}, dict(fresh), None, None)
    path.write_text(json.dumps({"datasets": {}}))
    with pytest.raises(ValueError, match="no 'grace citeseer' runs"):
        node_cl.add_reference(str(path), {(lab, "citeseer"): []}, dict(fresh), None, None)


def test_quick_run_with_candidates_records_validation(node_cl, tmp_path, monkeypatch):
    out = tmp_path / "q.json"
    monkeypatch.setattr(sys, "argv", ["node_cl.py", "--quick", "--methods", "rlap", "--epochs", "2", "--splits", "2",
                                      "--seeds", "1", "--candidate", "schur_fraction1=0.1,schur_fraction2=0.1",
                                      "--candidate", "schur_fraction1=0.3,schur_fraction2=0.0", "--out", str(out)])
    node_cl.main()
    rep = json.loads(out.read_text())
    sel = rep["selection"]["rlap sbm"]
    assert sel["seeds"] == [0] and set(sel["candidates"]) == {
        "rlap[schur_fraction1=0.1,schur_fraction2=0.1]", "rlap[schur_fraction1=0.3,schur_fraction2=0.0]"}
    best = max(sel["candidates"].items(), key=lambda kv: kv[1]["val_accuracy"])[0]
    assert sel["chosen"] == best
    for s in rep["datasets"].values():
        run = s["runs"][0]
        assert len(run["per_split_val"]) == 2 and len(run["chosen_C"]) == 2
        assert s["val_accuracy"] == round(100 * sum(run["per_split_val"]) / 2, 2)
        assert s["config"]["schur_fraction1"] == s["candidate"]["schur_fraction1"]
    assert rep["candidates"] == [{"schur_fraction1": 0.1, "schur_fraction2": 0.1},
                                 {"schur_fraction1": 0.3, "schur_fraction2": 0.0}]
