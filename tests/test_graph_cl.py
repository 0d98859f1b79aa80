"""GraphCL (unsupervised TU), SEGA and the graph-level views."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphcl.augment.graph_views import (
    AUGMENTATION_SETS,
    graph_view,
    perturb_node_features,
    resolve_augmentations,
    subgraph_mask,
)
from graphcl.config import load_config
from graphcl.losses import infonce
from graphcl.methods.graphcl_tu import (
    GraphCLModel,
    evaluate_embeddings,
    nt_xent,
    prepare_graphs,
    train_graphcl,
)
from graphcl.methods.sega import TreeEncoder, prepare_trees, train_sega, tree_inputs


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _cycle(n: int, offset: int = 0) -> torch.Tensor:
    i = torch.arange(n)
    u, v = i, (i + 1) % n
    return torch.stack([torch.cat([u, v]), torch.cat([v, u])]) + offset


def _batch_of_cycles(sizes: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    eis, batch, off = [], [], 0
    for g, n in enumerate(sizes):
        eis.append(_cycle(n, off))
        batch.append(torch.full((n,), g))
        off += n
    return torch.cat(eis, 1), torch.cat(batch)


def _toy_graphs(num: int = 12, seed: int = 0) -> list[Data]:
    g = _gen(seed)
    out = []
    for i in range(num):
        n = 5 + i % 4
        x = torch.nn.functional.one_hot(torch.randint(3, (n,), generator=g), 3).float()
        out.append(Data(x=x, edge_index=_cycle(n), y=torch.tensor([i % 2]), num_nodes=n))
    return out


# ---------------------------------------------------------------------- loss
def _dense_nt_xent(z1: torch.Tensor, z2: torch.Tensor, tau: float) -> torch.Tensor:
    a = z1 / z1.norm(dim=1, keepdim=True)
    b = z2 / z2.norm(dim=1, keepdim=True)
    e = torch.exp(a @ b.t() / tau).double()
    pos = e.diagonal()
    return -torch.log(pos / (e.sum(1) - pos)).mean()


def test_nt_xent_matches_reference_formula():
    g = _gen(1)
    z1, z2 = torch.randn(9, 5, generator=g), torch.randn(9, 5, generator=g)
    got = nt_xent(z1, z2, tau=0.2)
    assert math.isclose(float(got), float(_dense_nt_xent(z1, z2, 0.2)), rel_tol=1e-5)
    # one direction only: swapping the views changes the value
    assert not math.isclose(float(got), float(nt_xent(z2, z1, tau=0.2)), rel_tol=1e-3)


def test_nt_xent_symmetric_is_mean_of_both_directions_and_infonce():
    g = _gen(2)
    z1, z2 = torch.randn(7, 4, generator=g), torch.randn(7, 4, generator=g)
    want = 0.5 * (_dense_nt_xent(z1, z2, 0.5) + _dense_nt_xent(z2, z1, 0.5))
    got = nt_xent(z1, z2, tau=0.5, symmetric=True)
    assert math.isclose(float(got), float(want), rel_tol=1e-5)
    assert math.isclose(float(got), float(infonce(z1, z2, 0.5, intra_view_negatives=False, decoupled=True)),
                        rel_tol=1e-6)


def test_nt_xent_gradient_matches_dense():
    g = _gen(3)
    z1 = torch.randn(6, 3, generator=g, requires_grad=True)
    z2 = torch.randn(6, 3, generator=g)
    nt_xent(z1, z2, 0.3).backward()
    ref = z1.detach().clone().double().requires_grad_(True)
    _dense_nt_xent(ref, z2.double(), 0.3).backward()
    assert torch.allclose(z1.grad.double(), ref.grad, atol=1e-5)


def test_nt_xent_errors():
    with pytest.raises(ValueError, match="same shape"):
        nt_xent(torch.randn(4, 3), torch.randn(5, 3))
    with pytest.raises(ValueError, match="at least 2 rows"):
        nt_xent(torch.randn(1, 3), torch.randn(1, 3))
    with pytest.raises(ValueError, match="tau must be > 0"):
        nt_xent(torch.randn(3, 3), torch.randn(3, 3), tau=0.0)
    with pytest.raises(TypeError, match="must be tensors"):
        nt_xent([[1.0]], torch.randn(1, 1))


# --------------------------------------------------------------------- views
def test_resolve_augmentations():
    assert resolve_augmentations("random4") == AUGMENTATION_SETS["random4"]
    assert resolve_augmentations(["dnodes", "none"]) == ("dnodes", "none")
    with pytest.raises(ValueError, match="unknown augmentation 'flip'"):
        resolve_augmentations("flip")
    with pytest.raises(TypeError, match="aug must be"):
        resolve_augmentations([])


def test_subgraph_mask_connected_and_sized():
    sizes = [10, 7, 20, 1]
    ei, batch = _batch_of_cycles(sizes[:3])
    ei_all = ei
    batch = torch.cat([batch, torch.tensor([3])])  # an isolated one-node graph
    mask = subgraph_mask(ei_all, batch, 0.5, generator=_gen(0))
    for gi, n in enumerate(sizes):
        kept = mask[batch == gi]
        assert int(kept.sum()) == max(1, math.floor(0.5 * n))
    # on a cycle a connected node set is one contiguous arc: exactly 2 boundary nodes unless all kept
    for gi, n in enumerate(sizes[:3]):
        nodes = (batch == gi).nonzero().view(-1)
        kept = mask[nodes]
        k = int(kept.sum())
        if 1 < k < n:
            arc_breaks = int((kept != kept.roll(1)).sum())
            assert arc_breaks == 2
    assert torch.equal(mask, subgraph_mask(ei_all, batch, 0.5, generator=_gen(0)))


def test_subgraph_mask_start_is_uniform():
    ei, batch = _batch_of_cycles([4] * 4000)
    m = subgraph_mask(ei, batch, 0.25, generator=_gen(0))  # keeps 1 node per graph: its start
    assert torch.equal(torch.bincount(batch[m], minlength=4000), torch.ones(4000, dtype=torch.long))
    freq = m.view(4000, 4).float().mean(0)
    assert torch.allclose(freq, torch.full((4,), 0.25), atol=0.03)  # std 0.007: > 4 sigma


def test_subgraph_mask_stops_without_neighbours():
    ei = torch.tensor([[0, 1], [1, 0]])  # nodes 2, 3 isolated; one graph of 4 nodes
    batch = torch.zeros(4, dtype=torch.long)
    for s in range(20):
        m = subgraph_mask(ei, batch, 1.0, generator=_gen(s))
        assert int(m.sum()) in (1, 2)
        if int(m.sum()) == 2:
            assert m[:2].all()


def test_graph_view_dnodes_frequency_and_edges():
    ei, batch = _batch_of_cycles([50] * 40)
    n = batch.numel()
    x = torch.arange(n, dtype=torch.float32)[:, None]  # original id as feature
    v = graph_view(x, ei, batch, "dnodes", drop_ratio=0.3, generator=_gen(0))
    kept = v.x[:, 0].long()
    assert abs(kept.numel() / n - 0.7) < 0.03
    assert torch.equal(v.batch, batch[kept])
    orig = {tuple(e) for e in ei.t().tolist()}
    mapped = kept[v.edge_index]
    got = {tuple(e) for e in mapped.t().tolist()}
    keep_set = set(kept.tolist())
    want = {e for e in orig if e[0] in keep_set and e[1] in keep_set}
    assert got == want


def test_graph_view_pedges_and_mask_frequencies():
    ei, batch = _batch_of_cycles([100] * 20)
    n = batch.numel()
    x = torch.zeros(n, 4)
    v = graph_view(x, ei, batch, "pedges", edge_ratio=0.2, generator=_gen(1))
    assert v.x.shape == x.shape
    assert abs(v.edge_index.size(1) / ei.size(1) - 0.8) < 0.02
    out, m = perturb_node_features(x, 0.25, generator=_gen(2))
    assert abs(m.float().mean().item() - 0.25) < 0.03
    noise = out[m]
    assert abs(noise.mean().item() - 0.5) < 0.03 and abs(noise.std().item() - 0.5) < 0.03
    assert bool((out[~m] == 0).all())


def test_graph_view_random_choice_per_graph():
    ei, batch = _batch_of_cycles([30] * 400)
    x = torch.ones(batch.numel(), 2)
    v = graph_view(x, ei, batch, ["none", "dnodes"], drop_ratio=1.0, generator=_gen(3))
    freq = (v.choice == 1).float().mean().item()
    assert abs(freq - 0.5) < 0.07
    kept_per_graph = torch.bincount(v.batch, minlength=400)
    assert torch.equal(kept_per_graph, torch.where(v.choice == 1, 0, 30))
    a = graph_view(x, ei, batch, "random4", generator=_gen(4))
    b = graph_view(x, ei, batch, "random4", generator=_gen(4))
    assert all(torch.equal(p, q) for p, q in zip(a, b))


def test_graph_view_errors():
    ei, batch = _batch_of_cycles([3])
    with pytest.raises(ValueError, match="drop_ratio"):
        graph_view(torch.ones(3, 1), ei, batch, "dnodes", drop_ratio=1.5)
    with pytest.raises(ValueError, match="batch must be"):
        graph_view(torch.ones(3, 1), ei, torch.zeros(2, dtype=torch.long), "dnodes")
    with pytest.raises(TypeError, match="integer"):
        subgraph_mask(ei, torch.zeros(3), 0.5)


# ------------------------------------------------------------------ SEGA tree
def test_tree_inputs_degree_one_hot():
    x = torch.ones(3, 2)
    ei = torch.tensor([[0, 0, 0, 1], [1, 2, 1, 0]])
    out = tree_inputs(x, ei, max_degree=2)
    assert out[:, :2].eq(1).all()
    assert out[:, 2:].argmax(1).tolist() == [2, 1, 0]  # degree 3 capped at 2


def test_tree_encoder_matches_hand_computation():
    torch.manual_seed(0)
    enc = TreeEncoder(3, 4, 5, height=2).eval()
    x = torch.randn(5, 3)
    parents = [torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 0, 1])]  # graph 0: leaves 0-2, graph 1: 3-4
    # graph ids: leaves 0,1,2 -> communities 0,0,1 -> graph 0; leaves 3,4 -> community 2 -> graph 1
    got = enc(x, parents, 2)
    h1 = enc.mlps[0](torch.stack([x[0] + x[1], x[2], x[3] + x[4]]))
    h2 = enc.mlps[1](torch.stack([h1[0] + h1[1], h1[2]]))
    pooled = torch.cat([torch.stack([h1[0] + h1[1], h1[2]]), h2], 1)
    assert torch.allclose(got, enc.align(pooled), atol=1e-5)
    with pytest.raises(ValueError, match="2 levels"):
        enc(x, parents[:1], 2)


def test_tree_encoder_three_levels_bottom_up():
    """Height 3, uneven fan-in: level l is MLP_l of the sum of its children at level l-1, every
    level is sum-pooled per graph, the pooled levels are concatenated in bottom-up order."""
    torch.manual_seed(1)
    enc = TreeEncoder(2, 3, 4, height=3).eval()
    x = torch.randn(6, 2)
    # graph 0: leaves 0-3 -> communities 0,0,1,2 -> level-2 nodes 0,0,1 -> graph 0 (its two level-2 nodes)
    # graph 1: leaves 4-5 -> community 3 -> level-2 node 2 -> graph 1
    parents = [torch.tensor([0, 0, 1, 2, 3, 3]), torch.tensor([0, 0, 1, 2]), torch.tensor([0, 0, 1])]
    got = enc(x, parents, 2)
    h1 = enc.mlps[0](torch.stack([x[0] + x[1], x[2], x[3], x[4] + x[5]]))
    h2 = enc.mlps[1](torch.stack([h1[0] + h1[1], h1[2], h1[3]]))
    h3 = enc.mlps[2](torch.stack([h2[0] + h2[1], h2[2]]))
    p1 = torch.stack([h1[0] + h1[1] + h1[2], h1[3]])
    p2 = torch.stack([h2[0] + h2[1], h2[2]])
    want = enc.align(torch.cat([p1, p2, h3], 1))
    assert got.shape == (2, 4)
    assert torch.allclose(got, want, atol=1e-5)
    # the MLPs are applied in bottom-up order: swapping the two upper ones changes the output
    enc.mlps[1], enc.mlps[2] = enc.mlps[2], enc.mlps[1]
    assert not torch.allclose(enc(x, parents, 2), want, atol=1e-3)


def test_tree_batching_equals_single_graphs():
    graphs = _toy_graphs(5)
    tgraphs, seconds = prepare_trees(graphs, 3, max_degree=4)
    assert seconds >= 0 and all(int(d.tree_height) == 3 for d in tgraphs)
    torch.manual_seed(0)
    from graphcl.methods.sega import SEGAModel

    m = SEGAModel(3, tgraphs[0].tree_x.size(1), hidden=8, tree_hidden=8, tree_height=3).eval()
    together = m.encode_tree(Batch.from_data_list(tgraphs))
    alone = torch.cat([m.encode_tree(Batch.from_data_list([d])) for d in tgraphs])
    assert torch.allclose(together, alone, atol=1e-5)


# ----------------------------------------------------------------- training
def _small_cfg(method: str, **kw) -> dict:
    cfg = load_config(method)
    cfg.update({"epochs": 2, "batch_size": 4, "eval_batch_size": 5, **kw})
    return cfg


def test_graphcl_training_deterministic():
    graphs = _toy_graphs(12)
    cfg = _small_cfg("graphcl", epochs=3)
    a = train_graphcl(graphs, cfg, seed=3)
    b = train_graphcl(graphs, cfg, seed=3)
    c = train_graphcl(graphs, cfg, seed=4)
    assert a["embedding"].shape == (12, 96)
    assert torch.equal(a["embedding"], b["embedding"])
    assert not torch.equal(a["embedding"], c["embedding"])
    hist = a["train"]["history"]
    assert len(hist) == 3 and all(math.isfinite(h["loss"]) and h["epoch_time_s"] > 0 for h in hist)


def test_sega_training_deterministic():
    graphs = _toy_graphs(10)
    cfg = _small_cfg("sega", tree_height=2, max_degree=5)
    a = train_sega(graphs, cfg, seed=0)
    b = train_sega(graphs, cfg, seed=0)
    assert torch.equal(a["embeddings"]["GT"], b["embeddings"]["GT"])
    assert torch.equal(a["embeddings"]["GT"][:, 96:], a["embeddings"]["T"])
    with pytest.raises(ValueError, match="embedding must be one of"):
        train_sega(graphs, dict(cfg, embedding="X"))
    with pytest.raises(ValueError, match="config tree_height is 3"):
        train_sega(graphs, dict(cfg, tree_height=3), trees=prepare_trees(graphs, 2, 5))


def test_training_checkpoint_resume(tmp_path: Path):
    graphs = _toy_graphs(8)
    cfg = _small_cfg("graphcl", epochs=2)
    full = train_graphcl(graphs, cfg, seed=1)
    ck = str(tmp_path / "ck.pt")
    train_graphcl(graphs, dict(cfg, epochs=1), seed=1, checkpoint=ck)
    resumed = train_graphcl(graphs, cfg, seed=1, checkpoint=ck, resume=True)
    assert torch.allclose(full["embedding"], resumed["embedding"], atol=1e-6)


def test_prepare_graphs_features():
    g = Data(edge_index=_cycle(4), y=torch.tensor([1]), num_nodes=4)
    assert prepare_graphs([g], "constant")[0].x.tolist() == [[1.0]] * 4
    with pytest.raises(ValueError, match="no node features"):
        prepare_graphs([g], "default")
    with pytest.raises(ValueError, match="features must be"):
        prepare_graphs([g], "degree")
    assert load_config("graphcl", "imdb-binary")["features"] == "constant"
    assert load_config("sega", "imdb-binary")["features"] == "constant"


def test_graphcl_model_shape():
    m = GraphCLModel(4, hidden=8, num_layers=2)
    out = m(torch.randn(6, 4), _cycle(6), torch.zeros(6, dtype=torch.long), 1)
    assert out.shape == (1, 16) and m.project(out).shape == (1, 16)


_DATA = os.environ.get("GRAPHCL_DATA")
_HAS_MUTAG = bool(_DATA) and (Path(_DATA) / "TU" / "MUTAG").exists()


@pytest.mark.skipif(not _HAS_MUTAG, reason="GRAPHCL_DATA does not point at the shared datasets (TU/MUTAG)")
@pytest.mark.parametrize("method", ["graphcl", "sega"])
def test_registered_methods_on_mutag(method: str):
    from graphcl.methods import RunContext, get_method

    cfg = load_config(method, "mutag")
    cfg.update(epochs=2, svm_C_grid=[1.0, 10.0], svm_folds=5, svm_inner_folds=2)
    if method == "sega":
        cfg["tree_height"] = 3
    out = get_method(method).fn("mutag", cfg, RunContext(quiet=True))
    res = out["metrics"]["graph_classification"]
    assert out["embedding"].shape[0] == 188
    assert 0.7 <= res["accuracy"] <= 1.0  # majority class is 66.5 %
    assert "no epoch or embedding chosen on test folds" in res["protocol"]


# ------------------------------------------------------------- evaluation
def _svm_problem(n: int = 120, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = _gen(seed)
    X = torch.randn(n, 12, generator=g)
    y = (X[:, 0] + 0.9 * torch.randn(n, generator=g) > 0).long()  # overlapping classes: C matters
    X[:, 1:4] *= 4.0
    return X, y


def rbf_svm_nested_cv(X, y, **kw):
    from graphcl.eval import graph_classification_svm

    return graph_classification_svm(X, y, precompute_kernel=True, **kw)


def test_rbf_svm_nested_cv_equals_sklearn_protocol():
    from graphcl.eval import graph_classification_svm

    X, y = _svm_problem()
    kw = {"folds": 4, "num_seeds": 2, "C_grid": [100.0, 0.1, 1.0, 10.0], "seed": 5, "inner_folds": 3}
    ref = graph_classification_svm(X, y, **kw)
    got = rbf_svm_nested_cv(X, y, **kw)
    assert got["per_fold"] == ref["per_fold"]
    assert got["chosen_C"] == ref["chosen_C"]
    assert len({c for cs in ref["chosen_C"] for c in cs}) > 1  # the inner CV really had to choose
    for key in ("accuracy", "std", "fold_std"):
        assert got[key] == pytest.approx(ref[key], abs=1e-12)
    assert "C from [0.1, 1.0, 10.0, 100.0]" in got["protocol"] and "precomputed kernel" in got["protocol"]
    cfg = {"svm_folds": 4, "svm_seeds": 2, "svm_inner_folds": 3, "svm_C_grid": kw["C_grid"]}
    assert evaluate_embeddings(X, y, dict(cfg, svm_impl="precomputed"), seed=5)["per_fold"] == ref["per_fold"]
    assert load_config("graphcl")["svm_impl"] == load_config("sega")["svm_impl"] == "precomputed"


def test_rbf_svm_nested_cv_constant_features_and_errors():
    from graphcl.eval import graph_classification_svm

    X = torch.ones(40, 3)  # zero variance: sklearn's gamma="scale" falls back to 1.0
    y = torch.arange(40) % 2
    kw = {"folds": 4, "num_seeds": 1, "C_grid": [1.0], "inner_folds": 2}
    assert rbf_svm_nested_cv(X, y, **kw)["per_fold"] == graph_classification_svm(X, y, **kw)["per_fold"]
    with pytest.raises(ValueError, match="folds"):
        rbf_svm_nested_cv(X, y, folds=1)
    with pytest.raises(ValueError, match="C_grid"):
        rbf_svm_nested_cv(X, y, C_grid=[-1.0])
    with pytest.raises(ValueError, match="at least 2 classes"):
        rbf_svm_nested_cv(X, torch.zeros(40, dtype=torch.long))
    with pytest.raises(ValueError, match="NaN"):
        rbf_svm_nested_cv(torch.full((40, 3), float("nan")), y)
    with pytest.raises(ValueError, match="precompute_kernel=True needs kernel='rbf'"):
        rbf_svm_nested_cv(X, y, kernel="linear")
    with pytest.raises(ValueError, match="svm_impl"):
        evaluate_embeddings(X, y, {"svm_folds": 4, "svm_seeds": 1, "svm_inner_folds": 2, "svm_C_grid": [1.0],
                                   "svm_impl": "liblinear"})


def test_benchmark_merge_concatenates_seed_chunks(tmp_path: Path, load_benchmark):
    import json

    bench = load_benchmark("graph_cl")

    def report(seeds: list[int], gcl: list[float], sega: list[float]) -> dict:
        runs = [{"seed": s, "graphcl": {"accuracy": a, "epoch_times": [1.0, 1.0]},
                 "sega": {"accuracy": b, "epoch_times": [2.0, 2.0]}} for s, a, b in zip(seeds, gcl, sega)]
        return {"machine": {"cpu": "x"}, "config": {"command": f"chunk {seeds}", "protocol": "p",
                                                   "per_dataset": {"nci1": {"seeds": seeds}}},
                "rows": [{"case": "NCI1", "impl": "sega", "metric": "tree_precompute", "value": v, "repeats": 3}
                         for v in [4.0 + seeds[0]]],
                "ratios": {}, "runs": {"nci1": runs}}

    paths = []
    for i, rep in enumerate([report([2, 3], [0.80, 0.78], [0.79, 0.80]), report([0, 1], [0.79, 0.81], [0.80, 0.80])]):
        paths.append(str(tmp_path / f"r{i}.json"))
        Path(paths[-1]).write_text(json.dumps(rep))
    out = bench.merge(paths, tmp_path / "merged.json")
    assert [r["seed"] for r in out["runs"]["nci1"]] == [0, 1, 2, 3]
    gains = [0.01, -0.01, -0.01, 0.02]  # sega - graphcl by seed 0..3
    mean = sum(gains) / 4
    std = math.sqrt(sum((g - mean) ** 2 for g in gains) / 4)
    gain = [r for r in out["rows"] if r["metric"] == "accuracy_gain"][0]
    assert gain["value"] == pytest.approx(100 * mean, abs=1e-3) and gain["std"] == pytest.approx(100 * std, abs=1e-3)
    acc = [r for r in out["rows"] if r["impl"] == "graphcl" and r["metric"] == "accuracy"][0]
    assert acc["per_seed"] == [79.0, 81.0, 80.0, 78.0] and acc["seeds"] == 4
    assert out["ratios"]["time_per_epoch sega/graphcl NCI1"] == 2.0
    assert [r for r in out["rows"] if r["metric"] == "tree_precompute"][0]["repeats"] == 6
    assert out["summary"]["gains"]["NCI1"]["value"] == gain["value"]
    assert json.loads((tmp_path / "merged.json").read_text())["config"]["per_dataset"]["nci1"]["seeds"] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="more than one report"):
        bench.merge([paths[0], paths[0]], tmp_path / "dup.json")


def test_benchmark_baseline_runs_either_method(load_benchmark):
    from graphcl.config import load_config

    bench = load_benchmark("graph_cl")
    cfgs = {m: dict(load_config(m, "mutag"), selection="none") for m in ("graphcl", "sega")}
    baseline = {"config": {"per_dataset": {"mutag": {"configs": cfgs}}},
                "runs": {"mutag": [{"seed": s, "graphcl": {"accuracy": 0.8 + s}, "sega": {"accuracy": 0.7 + s}}
                                   for s in (0, 1)]}}
    # GraphCL trained now (any augmentation): SEGA's stored runs, checked against SEGA's current config
    trained = {"graphcl": dict(cfgs["graphcl"], aug="dnodes")}
    assert bench._baseline_runs(baseline, "mutag", trained, "sega") == {0: {"accuracy": 0.7}, 1: {"accuracy": 1.7}}
    assert bench._baseline_runs(baseline, "mutag", {"sega": cfgs["sega"]}, "graphcl")[1] == {"accuracy": 1.8}
    stale = {"config": {"per_dataset": {"mutag": {"configs": {"sega": dict(cfgs["sega"], tree_height=3)}}}},
             "runs": baseline["runs"]}
    with pytest.raises(SystemExit, match=r"sega config of mutag differs .*tree_height"):
        bench._baseline_runs(stale, "mutag", trained, "sega")
    other_svm = {"graphcl": dict(cfgs["graphcl"], svm_folds=3)}
    with pytest.raises(SystemExit, match="svm_folds"):
        bench._baseline_runs(baseline, "mutag", other_svm, "sega")
    with pytest.raises(SystemExit, match="no runs of nci1"):
        bench._baseline_runs(baseline, "nci1", trained, "sega")


# ------------------------------------------------- candidate selection by inner CV
def _candidate_problem(n: int = 96, seed: int = 1) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    X, y = _svm_problem(n, seed)
    g = _gen(seed + 10)
    weak = X.clone()
    weak[:, 0] = torch.randn(n, generator=g)  # the informative column replaced by noise
    return {"weak": weak, "strong": X, "noise": torch.randn(n, 12, generator=g)}, y


def _inner_choice(cands: dict, y: torch.Tensor, train, grid, inner_folds: int, rs: int) -> tuple[str, float]:
    """The (candidate, C) pair of best mean inner-CV accuracy from the outer training part alone (sklearn SVC)."""
    import numpy as np
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import SVC

    yn = y.numpy()
    best, best_score = None, -1.0
    for name, emb in cands.items():
        x = emb.double().numpy()[train]
        for c in sorted(grid):
            accs = []
            for fit, val in StratifiedKFold(inner_folds, shuffle=True, random_state=rs).split(x, yn[train]):
                pred = SVC(C=c).fit(x[fit], yn[train][fit]).predict(x[val])
                accs.append(float((pred == yn[train][val]).mean()))
            if np.mean(accs) > best_score + 1e-12:  # strict: ties keep the earlier candidate / smaller C
                best, best_score = (name, c), float(np.mean(accs))
    return best


@pytest.mark.parametrize("precompute", [False, True])
def test_candidate_selection_uses_training_folds_only(precompute: bool):
    from sklearn.model_selection import StratifiedKFold

    from graphcl.eval import graph_classification_svm

    cands, y = _candidate_problem()
    kw = {"folds": 4, "num_seeds": 1, "C_grid": [0.1, 1.0, 10.0], "seed": 3, "inner_folds": 3,
          "precompute_kernel": precompute}
    res = graph_classification_svm(cands, y, **kw)
    assert res["candidates"] == ["weak", "strong", "noise"]
    assert "chosen with C by the same inner CV among 3 candidates" in res["protocol"]
    splits = list(StratifiedKFold(4, shuffle=True, random_state=3).split(cands["strong"].numpy(), y.numpy()))
    for f, (train, test) in enumerate(splits):
        # the choice is a function of the outer training part only ...
        assert (res["chosen_candidate"][0][f], res["chosen_C"][0][f]) == _inner_choice(cands, y, train,
                                                                                        kw["C_grid"], 3, 3)
        if f != 0:
            continue
        # ... so overwriting the held-out graphs' embeddings in every candidate cannot move it
        spoiled = {k: v.clone() for k, v in cands.items()}
        for v in spoiled.values():
            v[torch.as_tensor(test)] = 50.0 * torch.randn(len(test), v.size(1), generator=_gen(f))
        again = graph_classification_svm(spoiled, y, **kw)
        assert again["chosen_candidate"][0][f] == res["chosen_candidate"][0][f]
        assert again["chosen_C"][0][f] == res["chosen_C"][0][f]
    assert set(res["chosen_candidate"][0]) == {"strong"}  # the informative embedding wins every fold
    alone = graph_classification_svm(cands["strong"], y, **kw)
    assert res["per_fold"] == alone["per_fold"] and "candidates" not in alone


def test_candidate_selection_single_candidate_ties_and_errors():
    from graphcl.eval import graph_classification_svm

    X, y = _svm_problem(60, 2)
    kw = {"folds": 3, "num_seeds": 2, "C_grid": [1.0, 10.0], "inner_folds": 2}
    plain = graph_classification_svm(X, y, **kw)
    one = graph_classification_svm({"only": X}, y, **kw)
    assert one["per_fold"] == plain["per_fold"] and one["chosen_C"] == plain["chosen_C"]
    assert one["chosen_candidate"] == [["only"] * 3] * 2
    twins = graph_classification_svm({"a": X, "b": X.clone()}, y, **kw)  # identical candidates: ties -> first
    assert {c for seed in twins["chosen_candidate"] for c in seed} == {"a"}
    with pytest.raises(ValueError, match="at least one candidate"):
        graph_classification_svm({}, y, **kw)
    with pytest.raises(ValueError, match=r"X\['b'\] has 59 rows"):
        graph_classification_svm({"a": X, "b": X[:59]}, y, **kw)
    with pytest.raises(TypeError, match="candidate names must be strings"):
        graph_classification_svm({0: X}, y, **kw)
    with pytest.raises(ValueError, match="NaN"):
        graph_classification_svm({"a": X, "b": torch.full_like(X, float("nan"))}, y, **kw)


def test_method_candidates_and_selection_config():
    from graphcl.methods.graphcl_tu import graphcl_candidates, selection_mode
    from graphcl.methods.sega import sega_candidates

    gs = _toy_graphs(8)
    cfg = dict(load_config("graphcl"), epochs=1, batch_size=4, select_augs=["dnodes", "subgraph"])
    embs, outs = graphcl_candidates(gs, cfg, seed=3)
    assert list(embs) == ["aug=dnodes", "aug=subgraph"] and all(e.shape == (8, 96) for e in embs.values())
    ref = train_graphcl(gs, dict(cfg, aug="subgraph"), seed=3)["embedding"]  # same seed, one model per aug
    assert torch.equal(embs["aug=subgraph"], ref) and "model" not in outs["aug=dnodes"]
    with pytest.raises(ValueError, match="select_augs must be a non-empty list of distinct"):
        graphcl_candidates(gs, dict(cfg, select_augs=["dnodes", "dnodes"]))
    with pytest.raises(ValueError, match="unknown augmentation|aug"):
        graphcl_candidates(gs, dict(cfg, select_augs=["flip"]))
    e = {"G": torch.zeros(3, 2), "T": torch.ones(3, 2), "GT": torch.zeros(3, 4)}
    assert list(sega_candidates(e, load_config("sega"))) == ["GT", "G", "T"]
    with pytest.raises(ValueError, match="select_embeddings must be"):
        sega_candidates(e, {"select_embeddings": ["GT", "X"]})
    assert selection_mode(load_config("graphcl")) == selection_mode(load_config("sega")) == "none"
    assert load_config("graphcl", "imdb-binary")["select_augs"][0] == load_config("graphcl", "imdb-binary")["aug"]
    with pytest.raises(ValueError, match="selection must be 'none' or 'inner_cv'"):
        selection_mode({"selection": "test"})


@pytest.mark.skipif(not _HAS_MUTAG, reason="GRAPHCL_DATA does not point at the shared datasets (TU/MUTAG)")
@pytest.mark.parametrize("method", ["graphcl", "sega"])
def test_registered_methods_select_on_mutag(method: str):
    from graphcl.methods import RunContext, get_method

    cfg = load_config(method, "mutag")
    cfg.update(epochs=1, svm_C_grid=[1.0], svm_folds=3, svm_inner_folds=2, selection="inner_cv")
    if method == "sega":
        cfg["tree_height"] = 2
    res = get_method(method).fn("mutag", cfg, RunContext(quiet=True))["metrics"]["graph_classification"]
    names = cfg["select_embeddings"] if method == "sega" else [f"aug={a}" for a in cfg["select_augs"]]
    assert res["candidates"] == list(names) and set(res["chosen_candidate"][0]) <= set(names)
    assert "nothing chosen on test folds" in res["protocol"]
