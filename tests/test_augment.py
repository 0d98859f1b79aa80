"""Basic, adaptive (GCA) and diffusion views: rates, structure, Data handling, determinism."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphcl.augment import (
    AdaptiveDropEdge,
    AdaptiveMaskFeature,
    AddEdge,
    Compose,
    DropEdge,
    DropNode,
    DropoutFeature,
    HeatDiffusion,
    MaskFeature,
    PPRDiffusion,
    RandomChoice,
    RandomWalkSubgraph,
    adaptive_drop_edge,
    adaptive_mask_feature,
    add_edge,
    drop_edge,
    drop_node,
    dropout_feature,
    gca_drop_probabilities,
    gca_edge_weights,
    gca_feature_weights,
    heat_diffusion,
    mask_feature,
    node_centrality,
    ppr_diffusion,
    subgraph_random_walk,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def undirected_graph(n: int, m: int, seed: int) -> torch.Tensor:
    g = gen(seed)
    ei = torch.randint(0, n, (2, m), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(torch.minimum(ei[0], ei[1]) * n + torch.maximum(ei[0], ei[1]))
    u, v = key // n, key % n
    return torch.cat([torch.stack([u, v]), torch.stack([v, u])], 1)


def edge_set(ei: torch.Tensor) -> set:
    return set(map(tuple, ei.t().tolist()))


# ------------------------------------------------------------------ drop_edge
def test_drop_edge_rate_and_directions_independent():
    ei = undirected_graph(500, 5000, 0)
    out, mask = drop_edge(ei, 0.3, generator=gen(1))
    E = ei.size(1)
    assert abs((~mask).float().mean().item() - 0.3) < 4 * math.sqrt(0.21 / E)
    assert torch.equal(out, ei[:, mask])
    # directed mode: the two directions are dropped independently
    half = E // 2
    both_dropped = (~mask[:half] & ~mask[half:]).float().mean().item()
    assert abs(both_dropped - 0.09) < 0.03


def test_drop_edge_undirected_drops_both_directions():
    ei = undirected_graph(300, 3000, 2)
    perm = torch.randperm(ei.size(1), generator=gen(0))
    ei = ei[:, perm]  # directions far apart in the edge list
    w = torch.rand(ei.size(1))
    out, ow, mask = drop_edge(ei, 0.4, undirected=True, edge_weight=w, generator=gen(3))
    kept = edge_set(out)
    assert all((v, u) in kept for u, v in kept)
    assert len(kept) < ei.size(1)
    assert torch.equal(ow, w[mask])
    assert abs((~mask).float().mean().item() - 0.4) < 0.05


def test_drop_edge_modes_and_errors():
    ei = undirected_graph(50, 200, 4)
    out, mask = drop_edge(ei, 0.5, training=False)
    assert torch.equal(out, ei) and bool(mask.all())
    out, mask = drop_edge(ei, 1.0, generator=gen(0))
    assert out.size(1) == 0
    out, mask = drop_edge(torch.empty(2, 0, dtype=torch.long), 0.5)
    assert out.shape == (2, 0) and mask.numel() == 0
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match="p must be a probability"):
            drop_edge(ei, p)
    with pytest.raises(ValueError, match="edge_weight must have shape"):
        drop_edge(ei, 0.2, edge_weight=torch.ones(3))
    a = drop_edge(ei, 0.5, generator=gen(9))[1]
    b = drop_edge(ei, 0.5, generator=gen(9))[1]
    assert torch.equal(a, b)


# ------------------------------------------------------------------- add_edge
@pytest.mark.parametrize("undirected", [False, True])
def test_add_edge_only_non_edges(undirected):
    n = 60
    ei = undirected_graph(n, 300, 5)
    out, added = add_edge(ei, n, 0.5, undirected=undirected, generator=gen(0))
    E = ei.size(1)
    assert torch.equal(out[:, :E], ei) and torch.equal(out[:, E:], added)
    assert added.size(1) == (2 * round(0.5 * E / 2) if undirected else round(0.5 * E))
    orig = edge_set(ei)
    new = list(map(tuple, added.t().tolist()))
    assert len(set(new)) == len(new)
    assert all(u != v and (u, v) not in orig for u, v in new)
    if undirected:
        assert all((v, u) in set(new) for u, v in new)


def test_add_edge_large_graph_rejection_path_and_weights():
    n = 3000  # n * n > 4e6: rejection sampling
    ei = undirected_graph(n, 20000, 6)
    w = torch.rand(ei.size(1))
    out, ow, added = add_edge(ei, n, 0.2, edge_weight=w, fill_value=0.5, generator=gen(1))
    orig = edge_set(ei)
    new = list(map(tuple, added.t().tolist()))
    assert len(new) == round(0.2 * ei.size(1)) and len(set(new)) == len(new)
    assert all(u != v and (u, v) not in orig for u, v in new)
    assert torch.equal(ow[: w.numel()], w) and bool((ow[w.numel():] == 0.5).all())


def test_add_edge_saturated_graph():
    n = 5
    u, v = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    full = torch.stack([u.reshape(-1), v.reshape(-1)])
    full = full[:, full[0] != full[1]]
    out, added = add_edge(full, n, 0.5, generator=gen(0))
    assert added.size(1) == 0 and torch.equal(out, full)


# ---------------------------------------------------------------- features
def test_mask_feature_masks_columns_at_rate_p():
    x = torch.rand(20, 4000) + 0.1
    out, keep = mask_feature(x, 0.3, generator=gen(0))
    masked_cols = (out == 0).all(0)
    assert torch.equal(masked_cols, ~keep)
    rate = masked_cols.float().mean().item()
    assert abs(rate - 0.3) < 4 * math.sqrt(0.21 / 4000), rate  # NOT 70 %
    assert torch.equal(out[:, keep], x[:, keep])
    assert mask_feature(x, 0.3, training=False)[0] is x
    with pytest.raises(ValueError, match="shape"):
        mask_feature(torch.rand(5), 0.3)
    with pytest.raises(ValueError, match="p must be a probability"):
        mask_feature(x, 2.0)


def test_dropout_feature_elementwise():
    x = torch.ones(200, 200)
    out, keep = dropout_feature(x, 0.25, generator=gen(0))
    assert abs((out == 0).float().mean().item() - 0.25) < 0.01
    assert torch.equal(out, keep.float())
    # not column-shared: columns are mixed
    assert bool(((out == 0).any(0) & (out != 0).any(0)).all())
    out, _ = dropout_feature(x, 0.25, rescale=True, generator=gen(0))
    assert torch.allclose(out[out != 0], torch.tensor(4 / 3))


# ------------------------------------------------------------------- nodes
def test_drop_node_removes_incident_edges():
    n = 400
    ei = undirected_graph(n, 3000, 7)
    out, emask, nmask = drop_node(ei, n, 0.3, generator=gen(0))
    assert abs((~nmask).float().mean().item() - 0.3) < 0.08
    assert bool(nmask[out].all())
    expected = nmask[ei[0]] & nmask[ei[1]]
    assert torch.equal(emask, expected) and torch.equal(out, ei[:, expected])
    rel, emask2, ids = drop_node(ei, n, 0.3, relabel=True, generator=gen(0))
    assert torch.equal(ids, nmask.nonzero().view(-1)) and torch.equal(emask2, emask)
    assert torch.equal(ids[rel], out)
    with pytest.raises(ValueError, match="p must be a probability"):
        drop_node(ei, n, -1.0)


def test_subgraph_random_walk_induced():
    # path 0-1-2-...-9
    a = torch.arange(9)
    ei = torch.cat([torch.stack([a, a + 1]), torch.stack([a + 1, a])], 1)
    out, emask, nmask = subgraph_random_walk(ei, 10, walk_length=3, start=torch.tensor([0]),
                                             generator=gen(0))
    kept = nmask.nonzero().view(-1).tolist()
    assert kept[0] == 0 and kept == list(range(len(kept))) and len(kept) <= 4
    assert torch.equal(emask, nmask[ei[0]] & nmask[ei[1]])
    # random seeds on a bigger graph: walks only visit reachable nodes, subgraph is induced
    n = 300
    ei = undirected_graph(n, 900, 8)
    out, emask, ids = subgraph_random_walk(ei, n, num_seeds=3, walk_length=8, relabel=True,
                                           generator=gen(1))
    assert 1 <= ids.numel() <= 3 * 9
    assert int(out.max()) < ids.numel()
    a = subgraph_random_walk(ei, n, 3, 8, generator=gen(5))[2]
    b = subgraph_random_walk(ei, n, 3, 8, generator=gen(5))[2]
    assert torch.equal(a, b)


# ------------------------------------------------------------------- GCA
def test_gca_edge_probabilities_hand_computed():
    # star centre 0 with leaves 1, 2, 3 plus edge 1-2 (undirected)
    ei = torch.tensor([[0, 1, 0, 2, 0, 3, 1, 2], [1, 0, 2, 0, 3, 0, 2, 1]])
    deg = node_centrality(ei, 4, "degree")
    assert deg.tolist() == [3.0, 2.0, 2.0, 1.0]
    s = torch.log(deg[ei[1]])
    w_hand = (s.max() - s) / (s.max() - s.mean())
    w = gca_edge_weights(ei, 4, "degree")
    assert torch.allclose(w, w_hand)
    p = 0.5
    probs = gca_drop_probabilities(w, p, threshold=0.7)
    hand = torch.clamp(w_hand / w_hand.mean() * p, max=0.7)
    assert torch.allclose(probs, hand)
    # the edge into the leaf 3 has the largest weight and hits the 0.7 cap
    assert w_hand[4] / w_hand.mean() * p > 0.7 and abs(float(probs[4]) - 0.7) < 1e-6
    assert float(probs[1]) == 0.0  # edges into the hub are never dropped
    # sampled frequencies match the probabilities
    R = 4000  # R copies of the edge list in one call (the mean weight is unchanged)
    _, mask = adaptive_drop_edge(ei.repeat(1, R), w.repeat(R), p, 0.7, generator=gen(0))
    freq = (~mask).view(R, -1).float().mean(0)
    assert torch.all((freq - probs).abs() < 4 * torch.sqrt(probs * (1 - probs) / R) + 1e-3)


def test_gca_uniform_weights_when_degenerate():
    ring = torch.arange(6)
    ei = torch.cat([torch.stack([ring, (ring + 1) % 6]), torch.stack([(ring + 1) % 6, ring])], 1)
    w = gca_edge_weights(ei, 6, "degree")
    assert torch.allclose(w, torch.ones_like(w))
    assert torch.allclose(gca_drop_probabilities(w, 0.3), torch.full_like(w, 0.3))


def test_gca_feature_weights_and_masking():
    x = torch.tensor([[1.0, 0.0, 2.0], [0.0, 1.0, 0.0], [1.0, 1.0, 0.0]])
    c = torch.tensor([3.0, 1.0, 2.0])
    wf = torch.log(torch.tensor([5.0, 3.0, 6.0]))
    hand = (wf.max() - wf) / (wf.max() - wf.mean())
    w = gca_feature_weights(x, c)
    assert torch.allclose(w, hand)
    out, keep = adaptive_mask_feature(x, w, 0.4, generator=gen(0))
    assert torch.equal(out[:, ~keep], torch.zeros_like(out[:, ~keep]))
    assert bool(keep[2])  # weight 0 -> probability 0
    # zero column: no NaN
    w0 = gca_feature_weights(torch.zeros(3, 2), c)
    assert bool(torch.isfinite(w0).all())


def test_centralities_against_networkx():
    nx = pytest.importorskip("networkx")
    ei = undirected_graph(40, 120, 9)
    G = nx.Graph()
    G.add_nodes_from(range(40))
    G.add_edges_from(ei.t().tolist())
    pr = node_centrality(ei, 40, "pagerank")
    pr_nx = torch.tensor([nx.pagerank(G, alpha=0.85, tol=1e-12)[i] for i in range(40)])
    assert torch.allclose(pr, pr_nx.to(pr.dtype), atol=1e-5)
    big = max(nx.connected_components(G), key=len)
    if len(big) == 40:
        ev = node_centrality(ei, 40, "eigenvector", max_iter=1000, tol=1e-12)
        ev_nx = nx.eigenvector_centrality(G, max_iter=1000, tol=1e-12)
        assert torch.allclose(ev, torch.tensor([ev_nx[i] for i in range(40)]).float(), atol=1e-4)
    with pytest.raises(ValueError, match="centrality must be one of"):
        gca_edge_weights(ei, 40, "closeness")


# -------------------------------------------------------------- diffusion
def _dense_T(ei, n):
    A = torch.zeros(n, n, dtype=torch.float64)
    A[ei[0], ei[1]] = 1.0
    A += torch.eye(n, dtype=torch.float64)
    d = A.sum(1)
    return A / d.sqrt()[:, None] / d.sqrt()[None, :]


def test_ppr_and_heat_vs_dense_reference():
    n = 30
    ei = undirected_graph(n, 80, 10)
    T = _dense_T(ei, n)
    eye = torch.eye(n, dtype=torch.float64)
    ref_ppr = 0.2 * torch.linalg.inv(eye - 0.8 * T)
    ref_heat = torch.linalg.matrix_exp(-2.0 * (eye - T))
    for fn, ref, kw in ((ppr_diffusion, ref_ppr, {"alpha": 0.2}), (heat_diffusion, ref_heat,
                                                                    {"t": 2.0})):
        for dense_max in (5000, 0):  # exact dense path and sparse series path
            out, w = fn(ei, n, threshold=0.0, tol=1e-9, dense_max_nodes=dense_max, **kw)
            S = torch.zeros(n, n, dtype=torch.float64)
            S[out[0], out[1]] = w.double()
            assert torch.allclose(S, ref, atol=1e-6), (fn.__name__, dense_max)
    # sparsification
    out, w = ppr_diffusion(ei, n, 0.2, threshold=None, top_k=4, tol=1e-9, dense_max_nodes=0)
    assert bool((torch.bincount(out[0], minlength=n) == 4).all())
    S = torch.zeros(n, n, dtype=torch.float64)
    S[out[0], out[1]] = w.double()
    top = torch.topk(ref_ppr, 4, dim=1).values
    assert torch.allclose(torch.sort(S.sum(1)).values, torch.sort(top.sum(1)).values, atol=1e-4)
    out, w = heat_diffusion(ei, n, 2.0, threshold=0.05)
    assert bool((w >= 0.05).all())
    # default pruning (tol = threshold) on the sparse path: error below the threshold
    out, w = ppr_diffusion(ei, n, 0.2, threshold=1e-3, dense_max_nodes=0)
    S = torch.zeros(n, n, dtype=torch.float64)
    S[out[0], out[1]] = w.double()
    assert float((S - ref_ppr * (S > 0)).abs().max()) < 1e-2


def test_diffusion_views_and_errors():
    ei = undirected_graph(20, 50, 11)
    data = Data(x=torch.rand(20, 3), edge_index=ei, edge_attr=torch.rand(ei.size(1)))
    for view in (PPRDiffusion(0.2, threshold=0.01), HeatDiffusion(3.0, top_k=5)):
        out = view(data)
        assert "edge_attr" not in out and out.edge_weight.numel() == out.edge_index.size(1)
        assert "edge_attr" in data and torch.equal(data.edge_index, ei)
    with pytest.raises(ValueError, match="alpha"):
        ppr_diffusion(ei, 20, 0.0)
    with pytest.raises(ValueError, match="t must be"):
        heat_diffusion(ei, 20, -1.0)
    out, w = ppr_diffusion(torch.empty(2, 0, dtype=torch.long), 4, 0.2, threshold=0.01)
    assert out.size(1) == 4  # self-loops only


# ---------------------------------------------------------- Data / Batch
def make_batch():
    graphs = []
    for k, seed in ((12, 0), (20, 1), (15, 2)):
        ei = undirected_graph(k, 3 * k, seed)
        graphs.append(Data(x=torch.rand(k, 5), edge_index=ei, edge_attr=torch.rand(ei.size(1), 2),
                           y=torch.tensor([seed])))
    return Batch.from_data_list(graphs)


@pytest.mark.parametrize(
    "view",
    [
        DropEdge(0.3, seed=0),
        DropEdge(0.3, undirected=True, seed=0),
        AddEdge(0.3, undirected=True, seed=0),
        MaskFeature(0.3, seed=0),
        DropoutFeature(0.3, seed=0),
        DropNode(0.3, seed=0),
        DropNode(0.3, relabel=True, seed=0),
        RandomWalkSubgraph(2, 5, relabel=True, seed=0),
        AdaptiveDropEdge(0.3, seed=0),
        AdaptiveMaskFeature(0.3, "pagerank", seed=0),
    ],
    ids=lambda v: repr(v)[:40],
)
def test_views_on_batch_consistent_untouched_deterministic(view):
    batch = make_batch()
    snap = {k: v.clone() for k, v in batch.items() if isinstance(v, torch.Tensor)}
    slices = {k: v.clone() for k, v in batch._slice_dict.items()}
    out = view(batch)
    assert out is not batch
    for k, v in snap.items():
        assert torch.equal(batch[k], v), k
    assert all(torch.equal(batch._slice_dict[k], v) for k, v in slices.items())
    E = out.edge_index.size(1)
    assert out.edge_attr.size(0) == E
    assert out.x.size(0) == out.batch.numel() == out.num_nodes
    assert int(out.edge_index.max()) < out.num_nodes
    assert bool((out.batch[out.edge_index[0]] == out.batch[out.edge_index[1]]).all())
    assert torch.equal(out.ptr[1:] - out.ptr[:-1], torch.bincount(out.batch, minlength=3))
    parts = out.to_data_list()
    assert len(parts) == 3 and [int(p.y) for p in parts] == [0, 1, 2]
    for p in parts:
        assert p.edge_index.numel() == 0 or int(p.edge_index.max()) < p.num_nodes
    # a fresh view with the same seed reproduces the result
    view.reset()
    again = view(batch)
    assert torch.equal(again.edge_index, out.edge_index) and torch.equal(again.x, out.x)


def test_compose_random_choice_and_generator():
    data = make_batch()
    g1 = gen(0)
    a = RandomChoice([DropEdge(0.5, generator=g1), MaskFeature(0.5, generator=g1)], seed=3)(data)
    g2 = gen(0)
    b = RandomChoice([DropEdge(0.5, generator=g2), MaskFeature(0.5, generator=g2)], seed=3)(data)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x)
    picks = set()
    rc = RandomChoice([DropEdge(1.0), MaskFeature(1.0)], num_choices=1, seed=0)
    for _ in range(20):
        v = rc(data)
        picks.add((v.edge_index.size(1) == 0, bool((v.x == 0).all())))
    assert picks == {(True, False), (False, True)}
    both = Compose([DropEdge(1.0), MaskFeature(1.0)])(data)
    assert both.edge_index.size(1) == 0 and bool((both.x == 0).all())
    with pytest.raises(ValueError, match="num_choices"):
        RandomChoice([DropEdge(0.1)], num_choices=2)
    with pytest.raises(ValueError, match="either generator or seed"):
        DropEdge(0.1, seed=0, generator=gen(0))
    with pytest.raises(ValueError, match="p must be a probability"):
        MaskFeature(1.2)


def test_views_on_graph_without_edges():
    data = Data(x=torch.rand(5, 3), edge_index=torch.empty(2, 0, dtype=torch.long))
    for view in (DropEdge(0.5, seed=0), AddEdge(0.5, seed=0), DropNode(0.5, relabel=True, seed=0),
                 RandomWalkSubgraph(2, 3, seed=0), AdaptiveDropEdge(0.3, seed=0),
                 AdaptiveMaskFeature(0.3, seed=0)):
        out = view(data)
        assert out.edge_index.shape == (2, 0) and out.x.size(1) == 3


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_all_views_on_cuda():
    dev = torch.device("cuda")
    batch = make_batch().to(dev)
    views = [
        DropEdge(0.3, seed=0), DropEdge(0.3, undirected=True, seed=0),
        AddEdge(0.3, undirected=True, seed=0), MaskFeature(0.3, seed=0),
        DropoutFeature(0.3, seed=0), DropNode(0.3, relabel=True, seed=0),
        RandomWalkSubgraph(2, 5, relabel=True, seed=0), AdaptiveDropEdge(0.3, seed=0),
        AdaptiveMaskFeature(0.3, "eigenvector", seed=0), PPRDiffusion(0.2, top_k=4),
        HeatDiffusion(2.0, threshold=0.01),
        RandomChoice([DropEdge(0.2), MaskFeature(0.2)], seed=1),
    ]
    for view in views:
        out = view(batch)
        assert out.edge_index.device.type == "cuda" and out.x.device.type == "cuda"
        assert out.x.size(0) == out.batch.numel()
        if getattr(view, "seed", None) is not None and not isinstance(view, RandomChoice):
            view.reset()
            again = view(batch)
            assert torch.equal(again.edge_index, out.edge_index), view
            assert torch.equal(again.x, out.x), view
    # large-graph paths on CUDA: rejection sampling and the sparse diffusion series
    n = 3000
    ei = undirected_graph(n, 20000, 6).to(dev)
    g = torch.Generator(device=dev).manual_seed(0)
    out, added = add_edge(ei, n, 0.1, generator=g)
    assert added.device.type == "cuda" and not bool(
        torch.isin(added[0] * n + added[1], ei[0] * n + ei[1]).any()
    )
    small = undirected_graph(30, 80, 10)
    cpu = ppr_diffusion(small, 30, 0.2, threshold=1e-3, dense_max_nodes=0)
    gpu = ppr_diffusion(small.to(dev), 30, 0.2, threshold=1e-3, dense_max_nodes=0)
    assert torch.equal(cpu[0], gpu[0].cpu()) and torch.allclose(cpu[1], gpu[1].cpu(), atol=1e-6)
    with pytest.raises(ValueError, match="generator is on cpu"):
        drop_edge(ei, 0.2, generator=gen(0))
