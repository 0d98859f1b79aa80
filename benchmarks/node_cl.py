"""Node-classification quality of GRACE, GCA, CSGCL and rLap-GCL (linear probe, random 10/10/80 splits).

For every training seed and dataset the methods are trained back to back
(interleaved, same process, same conditions) with the settings of
graphcl/configs/<method>.yaml for that dataset, the model after the final
epoch is kept (as the papers) and the frozen encoder output is scored with
graphcl.eval.linear_probe on ``--splits`` random 10/10/80 splits (C chosen on
validation nodes). Communities for CSGCL are detected once per dataset (timed
separately). The JSON is rewritten after every run, so partial runs leave
their results.

``--epochs N`` (or ``--epoch-scale f``) trains fewer epochs than the papers:
such rows are labelled ``reduced`` and are never checked against the paper
targets. CSGCL's Team-up schedule (start t0, ramp) is scaled by the same factor
so that it still switches on before the end (recorded in the JSON).

``--methods`` also takes ``rlap-unweighted``: an ablation of rLap-GCL whose
Schur-complement views reach the GCN without their edge weights, as in the
reference code (kvignesh1420/rlap returns ``edge_weights=None``); same config
as ``rlap`` and, per seed, the same random views.

Input features: row-normalised (PyG ``T.NormalizeFeatures``, the reference protocol) where the method's
config says ``normalize_features: true`` (Photo / Computers / CS); ``--set normalize_features=true`` (or
``false``) overrides it for every method. ``--set`` values are read as YAML (ints, floats, true/false).

Targets: CSGCL Photo >= 92.8, Computers >= 89.2, CS >= 93.0 and above GRACE;
GRACE Cora >= 82.3, CiteSeer >= 71.1 (as benchmarks/grace.py);
rLap-GCL >= GRACE on Cora, CiteSeer and Photo (same encoder).

``--order methods`` trains every seed of one method before the next method.
``--seed-start S`` runs only training seeds S..seeds-1, and ``--merge PATH``
prepends the runs stored in an earlier JSON of this script (same methods,
datasets and configs; disjoint seeds; checked) so that one summary covers all
seeds; the JSON records both commands and ``--merge-note`` (e.g. which build ran
which seeds). Every run records whether the encoder's first layer ran as a
sparse product (``first_layer``) and the probe's validation accuracy (``val_accuracy``, mean over splits, at
the C chosen on it; ``per_split_val``), reported per row as the ``val_accuracy`` metric.

Selection on validation: ``--candidate k1=v1,k2=v2`` (repeatable) trains every listed method once per
candidate setting (on top of ``--set``), each as its own row labelled ``method[k1=v1,k2=v2]``; the JSON's
``selection`` block then picks, per method and dataset, the candidate with the highest mean validation
accuracy over all (training seed, split) pairs of the seeds every candidate finished (ties at 0.01 %: the
candidate equal to the method's config file, then the first listed). Use training seeds disjoint from the
test seeds (``--seed-start``). ``--reference PATH`` pairs this run's rows with the stored runs of their
reference method (e.g. the committed GRACE runs) from an earlier JSON of this script instead of re-training
it (config checked against the current config file; recorded under ``reference``).

Usage:
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/node_cl.py --datasets cora,citeseer \\
        --methods grace,rlap --seeds 3 --out benchmarks/results/node_cl_planetoid.json
    python benchmarks/node_cl.py --datasets amazon-photo --methods grace,gca,csgcl,rlap --epochs 300
    python benchmarks/node_cl.py --datasets citeseer --methods grace,rlap --seeds 5 --seed-start 2 \\
        --merge benchmarks/results/node_cl_citeseer_2seeds.json --out benchmarks/results/node_cl_citeseer_5seeds.json
    python benchmarks/node_cl.py --datasets citeseer --methods rlap --seed-start 100 --seeds 102 \
        --candidate schur_fraction1=0.1,schur_fraction2=0.1 --candidate schur_fraction1=0.2,schur_fraction2=0.0
    python benchmarks/node_cl.py --datasets citeseer --methods rlap --set schur_fraction1=0.3 \
        --reference benchmarks/results/node_cl_citeseer_5seeds.json
    python benchmarks/node_cl.py --quick                  # SBM smoke run, < 1 minute
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from graphcl.config import load_config, parse_override
from graphcl.eval import linear_probe
from graphcl.methods.grace import collapse_loss, prepare_node_data
from graphcl.utils import atomic_write_json, machine_info, peak_memory_mb, resolve_device

PAPER = {  # accuracy %, CSGCL paper table (GRACE / GCA / CSGCL rows) and GRACE paper (Cora, CiteSeer)
    ("grace", "amazon-photo"): 92.52, ("grace", "amazon-computers"): 88.29, ("grace", "coauthor-cs"): 92.50,
    ("gca", "amazon-photo"): 92.06, ("gca", "amazon-computers"): 87.99, ("gca", "coauthor-cs"): 92.81,
    ("csgcl", "amazon-photo"): 93.32, ("csgcl", "amazon-computers"): 90.17, ("csgcl", "coauthor-cs"): 93.55,
    ("grace", "cora"): 83.3, ("grace", "citeseer"): 72.1,
}
TARGETS = {("csgcl", "amazon-photo"): 92.8, ("csgcl", "amazon-computers"): 89.2, ("csgcl", "coauthor-cs"): 93.0,
           ("grace", "cora"): 82.3, ("grace", "citeseer"): 71.1}  # GRACE: as benchmarks/grace.py
CONFIG_OF = {"rlap-unweighted": "rlap"}  # ablation variants read their method's config
# must reach (>=) the reference method on the same dataset
RELATIVE = {"csgcl": "grace", "rlap": "grace", "rlap-unweighted": "grace"}


def base_method(label: str) -> str:
    """The method of a row label: ``"rlap[schur_fraction1=0.1]"`` -> ``"rlap"``."""
    return label.split("[", 1)[0]


def parse_candidates(items: list[str]) -> list[dict]:
    """``--candidate k1=v1,k2=v2`` items as a list of setting dicts (values read as YAML, like ``--set``).

    Example: ``parse_candidates(["p=0.1,q=0"])`` -> ``[{"p": 0.1, "q": 0}]``.
    """
    out = []
    for item in items:
        cand = parse_settings([part for part in item.split(",") if part.strip()])
        if not cand:
            raise ValueError(f"--candidate needs at least one key=value, got {item!r}")
        if cand in out:
            raise ValueError(f"--candidate {item!r} is listed twice")
        out.append(cand)
    keys = [sorted(c) for c in out]
    if any(k != keys[0] for k in keys):
        raise ValueError(f"--candidate settings must all set the same keys, got {keys}")
    return out


def candidate_label(method: str, cand: dict | None) -> str:
    """Row label of ``method`` trained with the candidate settings ``cand`` (``method`` itself for ``None``)."""
    if not cand:
        return method
    return f"{method}[{','.join(f'{k}={v}' for k, v in cand.items())}]"


def select_candidates(summary: dict, candidates: list[dict], extra: dict) -> dict:
    """Per (method, dataset) the candidate with the highest mean validation accuracy (in %).

    Only the training seeds that every candidate of the group finished count. Ties (equal at 0.01 %) go to the
    candidate that equals the method's config-file setting (the incumbent), then to the first listed.
    """
    groups: dict = {}
    for s in summary.values():
        if s.get("candidate") is not None:
            groups.setdefault((base_method(s["method"]), s["dataset"]), []).append(s)
    out = {}
    for (method, name), rows in groups.items():
        seeds = set.intersection(*({r["seed"] for r in s["runs"]} for s in rows))
        base = load_config(CONFIG_OF.get(method, method), name)
        scores = {}
        for s in rows:
            vals = [100 * v for r in s["runs"] if r["seed"] in seeds for v in r.get("per_split_val") or []]
            per_seed = {r["seed"]: round(100 * r["val_accuracy"], 2) for r in s["runs"] if r["seed"] in seeds}
            scores[s["method"]] = {
                "settings": s["candidate"], "val_accuracy": round(statistics.fmean(vals), 2) if vals else None,
                "val_per_training_seed": per_seed,
                "incumbent": all(base.get(k) == v for k, v in {**extra, **s["candidate"]}.items())}
        order = {candidate_label(method, c): i for i, c in enumerate(candidates)}
        ranked = sorted((v for v in scores.items() if v[1]["val_accuracy"] is not None),
                        key=lambda kv: (-kv[1]["val_accuracy"], not kv[1]["incumbent"], order.get(kv[0], 0)))
        out[f"{method} {name}"] = {
            "seeds": sorted(seeds), "candidates": scores, "chosen": ranked[0][0] if ranked else None,
            "chosen_settings": scores[ranked[0][0]]["settings"] if ranked else None,
            "rule": ("highest mean validation accuracy (probe validation nodes, at the C chosen on them) over "
                     "all (training seed, split) pairs of the seeds every candidate finished; ties at 0.01 % -> "
                     "the incumbent (the config file's setting), then the first listed; test accuracy unused"),
        }
    return out


def trainers() -> dict:
    from graphcl.methods.csgcl import train_csgcl
    from graphcl.methods.gca import train_gca
    from graphcl.methods.grace import train_grace
    from graphcl.methods.rlap import train_rlap

    return {"grace": train_grace, "gca": train_gca, "csgcl": train_csgcl, "rlap": train_rlap,
            "rlap-unweighted": train_rlap_unweighted}


def train_rlap_unweighted(data, config: dict, *, device: torch.device | str = "cpu", seed: int = 0) -> dict:
    """Ablation: rLap-GCL whose Schur-complement views are given to the GCN WITHOUT their edge weights.

    The reference code (github.com/kvignesh1420/rlap, scripts/augmentor_benchmarks.py ``rLap.augment``)
    returns ``edge_weights=None`` for its views, while graphcl's ``rlap_views`` passes the weights. Same
    generator draws as ``rlap`` (the weights are computed and dropped), so for one seed both see the same
    eliminated vertices, edges and masks: a paired comparison of the weights alone.
    """
    from graphcl.methods.grace import ViewSpec, train_contrastive
    from graphcl.methods.rlap import rlap_views

    def views(d, cfg: dict, dev: torch.device) -> ViewSpec:
        spec = rlap_views(d, cfg, dev)

        def view(i: int, x, ei, gen):
            xv, ev, _ = spec.view(i, x, ei, gen)
            return xv, ev, None

        return ViewSpec(view)

    return train_contrastive(data, config, views, device=device, seed=seed, method="rLap")


def parse_settings(items: list[str]) -> dict:
    """``--set key=value`` items as a dict, values read as YAML like ``graphcl run --set`` (ints, floats,
    ``true``/``false``, ``null``, strings)."""
    extra = {}
    for item in items:
        keys, value = parse_override(item)
        if len(keys) != 1:
            raise ValueError(f"--set takes top-level settings only, got {item!r}")
        extra[keys[0]] = value
    return extra


def method_config(method: str, dataset: str, epochs: int | None, scale: float | None, extra: dict) -> dict:
    cfg = dict(load_config(CONFIG_OF.get(method, method), dataset), **extra)
    full = int(cfg["epochs"])
    if epochs is None and scale is not None:
        epochs = max(1, round(full * scale))
    if epochs is not None and epochs != full:
        f = epochs / full
        cfg["epochs"] = epochs
        if method == "csgcl":  # keep the shape of the Team-up schedule
            cfg["team_up_start"] = round(float(cfg["team_up_start"]) * f)
            cfg["team_up_ramp"] = max(1.0, float(cfg["team_up_ramp"]) * f)
    cfg["paper_epochs"] = full
    return cfg


def run_one(method: str, data, cfg: dict, seed: int, splits: int, device: torch.device) -> dict:
    train = trainers()[base_method(method)]
    t0 = time.perf_counter()
    out = train(data, {k: v for k, v in cfg.items() if k != "paper_epochs"}, device=device, seed=seed)
    train_s = time.perf_counter() - t0
    probe = linear_probe(out["embedding"], data.y, num_seeds=splits, train_ratio=cfg["train_ratio"],
                         val_ratio=cfg["val_ratio"], seed=seed)
    losses = [h["loss"] for h in out["history"]]
    encoder = out["model"].encoder
    x_seen = prepare_node_data(data, cfg).x  # the x the model trained on (row-normalised if configured)
    sparse = encoder.sparse_input(x_seen.to(device=device, dtype=torch.float32)).layout != torch.strided
    # collapse diagnostics: the loss of identical embeddings (every similarity equal) is log of the number of
    # terms in the denominator; the mean pairwise cosine of the L2-normalised embeddings is 1 when collapsed
    collapse = collapse_loss(int(data.num_nodes), bool(cfg.get("intra_view_negatives", True)))
    emb = out["embedding"]
    unit = torch.nn.functional.normalize(emb, dim=1)
    stride = max(1, len(losses) // 100)
    curve = [[e + 1, round(v, 4)] for e, v in enumerate(losses) if e % stride == 0 or e == len(losses) - 1]
    return {"seed": seed, "first_layer": "sparse" if sparse else "dense",
            "normalize_features": bool(cfg.get("normalize_features", False)), "accuracy": probe["accuracy"],
            "std": probe["std"], "per_split": probe["per_seed"],
            "val_accuracy": statistics.fmean(probe["val_accuracy"]), "per_split_val": probe["val_accuracy"],
            "chosen_C": probe["chosen_C"],
            "first_loss": losses[0] if losses else None, "final_loss": losses[-1] if losses else None,
            "min_loss": min(losses) if losses else None, "collapse_loss": collapse,
            "loss_curve": curve, "mean_pairwise_cosine": float(unit.mean(0).pow(2).sum()),
            "dead_output_units": float((emb == 0).all(0).float().mean()),
            "train_s": train_s, "s_per_epoch": train_s / max(1, len(losses)), "peak_mb": peak_memory_mb(device),
            "epochs": cfg["epochs"], "protocol": probe["protocol"]}


def summarise(results: dict, configs: dict, extra_info: dict, device: torch.device,
              candidates: dict | None = None) -> dict:
    """The report: rows, ratios, per (row label, dataset) summaries; ``candidates`` maps a row label to its
    candidate settings (``--candidate``), which adds the ``selection`` block."""
    rows, ratios, summary = [], {}, {}
    candidates = candidates or {}
    for (method, name), runs in results.items():
        if not runs:
            continue
        base = base_method(method)
        accs = [100 * a for r in runs for a in r["per_split"]]
        mean, std = statistics.fmean(accs), (statistics.pstdev(accs) if len(accs) > 1 else 0.0)
        per_seed = [100 * r["accuracy"] for r in runs]
        # validation accuracy of the probe: only where every run recorded it (older stored runs did not)
        vals = [v for r in runs for v in r.get("per_split_val") or [None]]
        vals = [100 * v for v in vals] if None not in vals else []
        val = round(statistics.fmean(vals), 2) if vals else None
        cfg = configs[(method, name)]
        reduced = cfg["epochs"] != cfg["paper_epochs"]
        label = f"{name} ({cfg['epochs']} epochs{', REDUCED from ' + str(cfg['paper_epochs']) if reduced else ''}; "
        case = label + f"{len(runs)} seeds x {len(runs[0]['per_split'])} splits)"
        rows += [
            {"case": case, "impl": f"graphcl {method}", "metric": "accuracy", "value": round(mean, 2), "unit": "%",
             "std": round(std, 2),
             "std_over_training_seeds": round(statistics.pstdev(per_seed), 2) if len(per_seed) > 1 else 0.0},
            {"case": case, "impl": f"graphcl {method}", "metric": "s_per_epoch",
             "value": round(statistics.median(r["s_per_epoch"] for r in runs), 3), "unit": "s"},
        ]
        if val is not None:
            rows.append({"case": case, "impl": f"graphcl {method}", "metric": "val_accuracy", "value": val,
                         "unit": "%", "std": round(statistics.pstdev(vals), 2) if len(vals) > 1 else 0.0})
        if (base, name) in PAPER:
            rows.append({"case": case, "impl": f"paper {base}", "metric": "accuracy",
                         "value": PAPER[(base, name)], "unit": "%"})
            ratios[f"accuracy {method} {name} graphcl/paper"] = round(mean / PAPER[(base, name)], 4)
        tgt = TARGETS.get((base, name))
        summary[f"{method} {name}"] = {
            "method": method, "dataset": name, "accuracy": round(mean, 2), "std": round(std, 2),
            "per_training_seed": [round(a, 2) for a in per_seed], "val_accuracy": val,
            "val_per_training_seed": [round(100 * r["val_accuracy"], 2) if "val_accuracy" in r else None
                                      for r in runs],
            "candidate": candidates.get(method), "epochs": cfg["epochs"],
            "paper_epochs": cfg["paper_epochs"], "reduced_epochs": reduced, "paper": PAPER.get((base, name)),
            "target": tgt, "met": None if tgt is None or reduced else mean >= tgt,
            "config": {k: v for k, v in cfg.items() if k != "paper_epochs"}, "runs": runs,
        }
    for s in list(summary.values()):  # relative targets: same dataset, same number of seeds
        ref = RELATIVE.get(base_method(s["method"]))
        other = summary.get(f"{ref} {s['dataset']}") if ref else None
        if other:  # paired by training seed: the seeds both have
            mine = {r["seed"]: r for r in s["runs"]}
            theirs = {r["seed"]: r for r in other["runs"]}
            common = sorted(set(mine) & set(theirs))
            if not common:
                continue
            a = statistics.fmean(100 * x for k in common for x in mine[k]["per_split"])
            b = statistics.fmean(100 * x for k in common for x in theirs[k]["per_split"])
            diffs = [100 * (mine[k]["accuracy"] - theirs[k]["accuracy"]) for k in common]
            s["vs_" + ref] = {"seeds": len(common), "paired_seeds": common, "this": round(a, 2), ref: round(b, 2),
                              "difference": round(a - b, 2), "at_least": a >= b,
                              "per_seed_difference": [round(d, 2) for d in diffs],
                              "std_of_per_seed_difference": round(statistics.pstdev(diffs), 2)
                              if len(diffs) > 1 else 0.0,
                              "seeds_at_least": sum(d >= 0 for d in diffs)}
            ratios[f"accuracy {s['dataset']} {s['method']}/{ref}"] = round(a / b, 4)
    if candidates:
        extra_info = {**extra_info, "selection": select_candidates(summary, list(candidates.values()),
                                                                    extra_info.get("set", {}))}
    return {
        "benchmark": "node_cl", "machine": machine_info(), "device": str(device),
        "protocol": ("settings of graphcl/configs/<method>.yaml per dataset; model after the final epoch (as the "
                     "papers); frozen encoder output, L2-normalised, logistic-regression probe, random 10/10/80 "
                     "splits, C chosen on validation; accuracy mean +- population std over all (training seed, "
                     "split) pairs; methods trained back to back per seed (--order seeds) or all seeds of one "
                     "method after the other (--order methods, see 'order'); rows marked REDUCED ran fewer epochs "
                     "than the paper and are not checked against paper targets"),
        "command": " ".join(sys.argv), "threads": torch.get_num_threads(), "rows": rows, "ratios": ratios,
        "datasets": summary, **extra_info,
    }


def merge_runs(path: str, results: dict, configs: dict, seeds: set[int], note: str | None) -> dict:
    """Put the runs stored in ``path`` (an earlier node_cl JSON) into ``results``, checking configs and seeds."""
    with open(path) as f:
        prior = json.load(f)
    merged = {}
    for (method, name), cfg in configs.items():
        stored = prior.get("datasets", {}).get(f"{method} {name}")
        if stored is None:
            raise ValueError(f"--merge {path} has no '{method} {name}' runs")
        mine = {k: v for k, v in cfg.items() if k != "paper_epochs"}
        # runs stored before the normalize_features setting existed never normalised their features
        stored["config"] = {"normalize_features": False, **stored["config"]}
        if stored["config"] != mine:
            diff = sorted(k for k in set(mine) | set(stored["config"]) if mine.get(k) != stored["config"].get(k))
            raise ValueError(f"--merge {path}: '{method} {name}' was run with another config (keys {diff})")
        overlap = seeds & {r["seed"] for r in stored["runs"]}
        if overlap:
            raise ValueError(f"--merge {path}: '{method} {name}' already has seeds {sorted(overlap)}")
        # runs without "first_layer" predate the sparse first layer: their encoder ran the dense product
        results[(method, name)].extend({"first_layer": "dense (not recorded; run before the sparse first layer)",
                                        **r, "merged_from": path} for r in stored["runs"])
        merged[f"{method} {name}"] = [r["seed"] for r in stored["runs"]]
    return {"path": path, "command": prior.get("command"), "seeds": merged, "note": note,
            **{k: prior[k] for k in ("stopped", "renamed") if k in prior}}


def add_reference(path: str, results: dict, configs: dict, epochs: int | None, scale: float | None) -> dict:
    """Add to ``results`` the stored runs of each row's reference method (``RELATIVE``, e.g. GRACE for rLap)
    from ``path`` (an earlier node_cl JSON), for the paired comparison, without re-training it.

    The stored config must equal the reference method's current config for that dataset (no ``--set``
    settings: those are for the rows being run). Returns what is recorded under ``reference`` in the JSON.
    """
    with open(path) as f:
        prior = json.load(f)
    added = {}
    for method, name in list(configs):
        ref = RELATIVE.get(base_method(method))
        if ref is None or (ref, name) in configs:
            continue
        stored = prior.get("datasets", {}).get(f"{ref} {name}")
        if stored is None:
            raise ValueError(f"--reference {path} has no '{ref} {name}' runs")
        cfg = method_config(ref, name, epochs, scale, {})
        mine = {k: v for k, v in cfg.items() if k != "paper_epochs"}
        theirs = {"normalize_features": False, **stored["config"]}  # runs before the setting never normalised
        if theirs != mine:
            diff = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            raise ValueError(f"--reference {path}: '{ref} {name}' was run with another config (keys {diff})")
        configs[(ref, name)] = cfg
        results[(ref, name)] = [{**r, "reference_from": path} for r in stored["runs"]]
        added[f"{ref} {name}"] = [r["seed"] for r in stored["runs"]]
    return {"path": path, "command": prior.get("command"), "seeds": added,
            "note": "stored runs, not re-trained in this run"}


def print_table(report: dict) -> None:
    w = max([16] + [len(s["method"]) + 2 for s in report["datasets"].values()])
    print(f"{'method':<{w}}{'dataset':<18}{'epochs':>12}{'accuracy':>17}{'val acc':>9}{'paper':>8}  target/met")
    for s in report["datasets"].values():
        ep = f"{s['epochs']}/{s['paper_epochs']}"
        rel = "".join(f" {k}: {v['difference']:+.2f}" for k, v in s.items() if k.startswith("vs_"))
        val = "-" if s.get("val_accuracy") is None else f"{s['val_accuracy']:.2f}"
        print(f"{s['method']:<{w}}{s['dataset']:<18}{ep:>12}{s['accuracy']:>10.2f} +- {s['std']:<4.2f}{val:>9}"
              f"{s['paper'] or '-':>8}  {s['target'] or '-'}/{s['met']}{rel}")
    for key, sel in report.get("selection", {}).items():
        print(f"selection {key} (seeds {sel['seeds']}): chosen {sel['chosen']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", default="cora,citeseer")
    ap.add_argument("--methods", default="grace,rlap")
    ap.add_argument("--seeds", type=int, default=5, help="training seeds seed-start..seeds-1")
    ap.add_argument("--seed-start", type=int, default=0, help="first training seed (default 0)")
    ap.add_argument("--merge", default=None, help="JSON of an earlier run of this script whose runs (other seeds, "
                    "same configs) are merged into this summary")
    ap.add_argument("--merge-note", default=None, help="text recorded with the merge (e.g. which build ran which "
                    "seeds)")
    ap.add_argument("--order", choices=("seeds", "methods"), default="seeds",
                    help="'seeds': per training seed all methods back to back (default); 'methods': all seeds of "
                    "one method, then the next")
    ap.add_argument("--splits", type=int, default=5, help="random 10/10/80 probe splits per trained model")
    ap.add_argument("--epochs", type=int, default=None, help="train this many epochs (labelled REDUCED)")
    ap.add_argument("--epoch-scale", type=float, default=None, help="train this fraction of the paper's epochs")
    ap.add_argument("--set", action="append", default=[], help="extra setting for all methods, key=value (e.g. "
                    "block_size=512)")
    ap.add_argument("--candidate", action="append", default=[], help="candidate setting k1=v1,k2=v2 "
                    "(repeatable): each listed method is trained once per candidate; the JSON's 'selection' "
                    "block picks the best on validation accuracy")
    ap.add_argument("--reference", default=None, help="JSON of an earlier run of this script whose runs of the "
                    "reference method (e.g. GRACE for rLap) are paired with this run's rows, not re-trained")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--time-budget", type=float, default=None,
                    help="wall seconds: no new training seed starts after this much time (recorded in the JSON)")
    ap.add_argument("--quick", action="store_true", help="SBM smoke run (< 1 minute)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    methods = args.methods.split(",")
    extra = parse_settings(args.set)
    cands = parse_candidates(args.candidate)
    info: dict = {"community_detection_s": {}, "set": extra}
    if cands:
        info["candidates"] = cands
    if args.quick:
        from graphcl.data import sbm

        graphs = {"sbm": sbm([80, 80, 80], p_in=0.1, p_out=0.02, num_features=32, seed=0, feature_noise=5.0)}
        extra.update(hidden=32, proj_hidden=32, lr=0.01, tau=0.5)
        args.epochs = args.epochs or 30
        seeds = range(args.seed_start, min(args.seeds, 2))
        out = args.out or "benchmarks/results/node_cl_quick.json"
    else:
        from graphcl.data import load

        graphs = {name: load(name) for name in args.datasets.split(",")}
        seeds = range(args.seed_start, args.seeds)
        out = args.out or "benchmarks/results/node_cl.json"
    if not seeds:
        raise ValueError(f"--seed-start {args.seed_start} leaves no training seed below --seeds {args.seeds}")
    if "csgcl" in methods:
        from graphcl.augment import attach_community_strength

        for name in graphs:
            cfg = load_config("csgcl", name)
            t0 = time.perf_counter()
            graphs[name] = attach_community_strength(graphs[name], method=cfg["community_method"],
                                                     seed=cfg["community_seed"])
            info["community_detection_s"][name] = round(time.perf_counter() - t0, 2)
            print(f"{name}: {int(graphs[name].community.max()) + 1} communities, "
                  f"modularity {float(graphs[name].community_strength.sum()):.3f} "
                  f"({info['community_detection_s'][name]} s)", flush=True)
    labels = {candidate_label(m, c): (m, c) for m in methods for c in (cands or [None])}
    configs = {(lab, n): method_config(m, n, args.epochs, args.epoch_scale, {**extra, **(c or {})})
               for n in graphs for lab, (m, c) in labels.items()}
    results: dict = {key: [] for key in configs}
    if args.merge:
        info["merged"] = merge_runs(args.merge, results, configs, set(seeds), args.merge_note)
    if args.reference:
        info["reference"] = add_reference(args.reference, results, configs, args.epochs, args.epoch_scale)
    by_label = {lab: c for lab, (m, c) in labels.items() if c}
    report = None
    t_start = time.perf_counter()
    if args.order == "seeds":  # per seed, every dataset and method (candidate) back to back
        jobs = [(seed, name, m) for seed in seeds for name in graphs for m in labels]
    else:  # every seed of the first method (candidate), then the next
        jobs = [(seed, name, m) for m in labels for name in graphs for seed in seeds]
    info["order"] = args.order
    for j, (seed, name, m) in enumerate(jobs):
        boundary = args.order == "methods" or (name, m) == (jobs[0][1], jobs[0][2])
        if (args.time_budget is not None and j > 0 and boundary
                and time.perf_counter() - t_start > args.time_budget):
            info["stopped"] = (f"time budget {args.time_budget:.0f} s reached after {j} of {len(jobs)} training "
                               f"runs (order '{args.order}'); later runs not run: "
                               f"{[f'{mm} {nn} seed {ss}' for ss, nn, mm in jobs[j:]]}")
            report = summarise(results, configs, info, device, by_label)
            atomic_write_json(out, report)
            print(info["stopped"], flush=True)
            break
        r = run_one(m, graphs[name], configs[(m, name)], seed, args.splits, device)
        results[(m, name)].append(r)
        print(f"{m} {name} seed={seed}: {100 * r['accuracy']:.2f} +- {100 * r['std']:.2f} "
              f"({r['epochs']} epochs, {r['s_per_epoch']:.3f} s/epoch, loss {r['first_loss']:.3f} -> "
              f"{r['final_loss']:.3f} (collapse {r['collapse_loss']:.3f}), "
              f"mean cosine {r['mean_pairwise_cosine']:.3f}, "
              f"{r['first_layer']} first layer, normalize_features={r['normalize_features']}, "
              f"val {100 * r['val_accuracy']:.2f})", flush=True)
        report = summarise(results, configs, info, device, by_label)
        atomic_write_json(out, report)
    print_table(report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
