"""Tests of GCC: subgraph features, ego sampling, induced subgraphs, MoCo parts, losses, training, transfer."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats
from torch_geometric.data import Data

from graphcl.augment.subgraph_features import (
    collate_subgraphs,
    fix_eigenvector_signs,
    subgraph_batch,
    subgraph_positional_features,
)
from graphcl.config import load_config
from graphcl.graph import CSRGraph
from graphcl.losses import infonce
from graphcl.methods.gcc import (
    GCCEncoder,
    GCCSampler,
    MoCoQueue,
    build_encoder,
    degree_histogram_features,
    e2e_loss,
    ema_update,
    embed_graphs,
    moco_loss,
    pretrain_gcc,
    rwr_induced_subgraphs,
    warmup_linear,
)
from graphcl.walks import rwr_subgraphs


def _undirected(edges: list[tuple[int, int]]) -> torch.Tensor:
    ei = torch.tensor(edges, dtype=torch.long).t()
    return torch.cat([ei, ei.flip(0)], dim=1)


def _random_graph(n: int, p: float, seed: int, path: bool = False) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = (torch.rand(n, n, generator=g) < p).triu(1)
    if path:  # connected: a path through all nodes plus random edges
        a |= torch.diag(torch.ones(n - 1, dtype=torch.bool), 1)
    ei = a.nonzero().t()
    return torch.cat([ei, ei.flip(0)], dim=1)


def _dense_reference(ei: torch.Tensor, n: int, k: int) -> np.ndarray:
    a = np.zeros((n, n))
    np.add.at(a, (ei[0].numpy(), ei[1].numpy()), 1.0)
    d = np.clip(a.sum(1), 1, None) ** -0.5
    w, v = np.linalg.eigh(d[:, None] * a * d[None, :])
    kk = max(min(n - 2, k), 0)
    v = v[:, ::-1][:, :kk].copy()
    v = fix_eigenvector_signs(torch.tensor(v)).numpy()
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    out = np.zeros((n, k))
    out[:, :kk] = v
    return out, w


def _generic(n: int, ei: torch.Tensor) -> bool:
    """Distinct eigenvalues and every kept eigenvector with a clearly non-zero entry sum."""
    a = np.zeros((n, n))
    np.add.at(a, (ei[0].numpy(), ei[1].numpy()), 1.0)
    d = np.clip(a.sum(1), 1, None) ** -0.5
    w, v = np.linalg.eigh(d[:, None] * a * d[None, :])
    return np.diff(w).min() > 1e-6 and np.abs(v.sum(0)).min() > 1e-3


# A connected graph with distinct eigenvalues (checked in the test) and a unique highest-degree node.
_G7 = _undirected([(0, 1), (0, 2), (0, 3), (1, 2), (3, 4), (4, 5), (5, 6), (2, 6), (0, 5)])


# --------------------------------------------------------------------------- eigenvector signs
def test_sign_rule_sum_positive_and_flip_invariant():
    g = torch.Generator().manual_seed(0)
    v = torch.randn(9, 5, generator=g, dtype=torch.float64)
    a = fix_eigenvector_signs(v)
    assert (a.sum(0) > 0).all()
    flips = torch.tensor([1.0, -1.0, -1.0, 1.0, -1.0], dtype=torch.float64)
    assert torch.equal(fix_eigenvector_signs(v * flips), a)  # deterministic whatever sign the solver returned
    assert torch.equal(fix_eigenvector_signs(v), a)


def test_sign_rule_fallback_to_largest_entry_and_mask():
    v = torch.tensor([[0.5], [-0.8], [0.3]], dtype=torch.float64)  # sum 0 -> largest |entry| (-0.8) made positive
    assert fix_eigenvector_signs(v).flatten().tolist() == pytest.approx([-0.5, 0.8, -0.3])
    # padding rows are ignored by the rule
    w = torch.tensor([[-1.0], [0.2], [9.0]])
    mask = torch.tensor([True, True, False])
    assert fix_eigenvector_signs(w, mask).flatten().tolist() == pytest.approx([1.0, -0.2, -9.0])


def test_positional_features_match_dense_reference():
    graphs = [(7, _G7), (12, _random_graph(12, 0.4, 1, path=True)), (3, _undirected([(0, 1), (1, 2)])), (1, _G7[:, :0])]
    b = collate_subgraphs(graphs, k=8)
    for i, (n, ei) in enumerate(graphs):
        ref, _ = _dense_reference(ei, n, 8)
        got = b.pos[b.ptr[i]:b.ptr[i + 1]].double().numpy()
        assert np.abs(got - ref).max() < 1e-5, i
    # rows of a graph with n - 2 >= 1 columns are unit vectors; a 3-node graph has exactly 1 column
    assert torch.allclose(b.pos[: 7].norm(dim=1), torch.ones(7), atol=1e-5)
    assert b.pos[19:22, 1:].abs().max() == 0
    assert b.pos[22].abs().max() == 0  # single node: no eigenvector


def test_positional_features_invariant_to_relabelling():
    n = 7
    assert _generic(n, _G7)  # distinct eigenvalues, non-zero sums: the rule is relabelling invariant
    base = subgraph_positional_features(_G7, torch.tensor([0, n]), k=8)
    g = torch.Generator().manual_seed(3)
    for _ in range(3):
        perm = torch.cat([torch.tensor([0]), 1 + torch.randperm(n - 1, generator=g)])  # ego stays first
        inv = torch.empty_like(perm)
        inv[perm] = torch.arange(n)
        relabelled = inv[_G7]  # old node perm[j] is new node j
        feats = subgraph_positional_features(relabelled, torch.tensor([0, n]), k=8)
        assert torch.allclose(feats, base[perm], atol=1e-5)


def test_batched_groups_equal_single_graph_features():
    graphs = []
    for n in (6, 30, 9, 17, 7, 22, 11):  # graphs for which the sign rule is exact (no near-ties)
        seed = 0
        while not _generic(n, _random_graph(n, 0.3, seed, path=True)):
            seed += 1
        graphs.append((n, _random_graph(n, 0.3, seed, path=True)))
    together = collate_subgraphs(graphs, k=6, group_size=2)
    for i, g in enumerate(graphs):
        alone = collate_subgraphs([g], k=6)
        assert torch.allclose(together.pos[together.ptr[i]:together.ptr[i + 1]], alone.pos, atol=1e-5)


def _projector_reference_check(feats: torch.Tensor, ei: torch.Tensor, n: int, k: int, gap: float = 1e-6) -> None:
    """Features vs float64 dense eigenvectors: entry by entry on simple eigenvalues, through the
    projector F_c F_c^T on every cluster of (numerically) equal eigenvalues (no canonical basis)."""
    ref, w = _dense_reference(ei, n, k)
    w = w[::-1]
    take = max(min(n - 2, k), 0)
    got = feats.double().numpy()
    assert take in (0, n) or w[take - 1] - w[take] >= gap  # a cut inside a cluster would make row norms basis dependent
    c = 0
    while c < take:
        e = c + 1
        while e < take and w[e - 1] - w[e] < gap:
            e += 1
        if e - c == 1:
            diff = np.abs(got[:, c] - ref[:, c]).max()
            top = np.sort(np.abs(ref[:, c]))
            if abs(ref[:, c].sum()) < 1e-6 and n > 1 and top[-1] - top[-2] < 1e-6:
                # entry sum 0 and tied largest entries (e.g. twin nodes): the rule cannot fix the sign
                diff = min(diff, np.abs(got[:, c] + ref[:, c]).max())
            assert diff < 1e-5, c
        else:
            assert np.abs(got[:, c:e] @ got[:, c:e].T - ref[:, c:e] @ ref[:, c:e].T).max() < 1e-5, (c, e)
        c = e
    assert np.abs(got[:, take:]).max(initial=0.0) == 0.0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_features_match_float64_reference_with_repeated_eigenvalues(dtype):
    # stars with twin leaves (eigenvalue 0 repeated), a cycle (pairs of equal eigenvalues), a 4-clique
    # with a tail (twins in the clique), and generic random graphs; several graphs of one size share a group
    # (chosen so that the cut at min(n - 2, k) columns does not split a repeated eigenvalue)
    star = _undirected([(0, i) for i in range(1, 7)] + [(1, 2)])
    cycle = _undirected([(i, (i + 1) % 7) for i in range(7)])
    clique = _undirected([(a, b) for a in range(4) for b in range(a + 1, 4)] + [(3, 4), (4, 5), (5, 6)])
    stars = _undirected([(0, 1), (0, 2), (0, 3), (0, 4), (4, 5), (4, 6), (4, 7), (5, 8)])
    graphs = [(7, star), (7, cycle), (7, clique), (9, stars), (7, star), (7, cycle)]
    graphs += [(n, _random_graph(n, 0.3, s, path=True)) for s, n in enumerate((9, 9, 12, 5, 40, 3, 1))]
    b = collate_subgraphs(graphs, k=8, group_size=2, dtype=dtype)
    for i, (n, ei) in enumerate(graphs):
        _projector_reference_check(b.pos[b.ptr[i]:b.ptr[i + 1]], ei, n, 8)


def test_features_do_not_depend_on_the_rest_of_the_batch():
    # no padding: a graph is solved with the graphs of its own size only, so alone, in a batch of
    # other sizes, or in any group size it is the same eigenproblem (equal up to LAPACK rounding)
    graphs = []
    for s, n in enumerate((9, 14, 9, 30, 6, 14, 9)):
        seed = 10 * s
        while not _generic(n, _random_graph(n, 0.3, seed, path=True)):
            seed += 1
        graphs.append((n, _random_graph(n, 0.3, seed, path=True)))
    for dtype, tol in ((torch.float32, 1e-5), (torch.float64, 1e-12)):
        together = collate_subgraphs(graphs, k=6, group_size=32, dtype=dtype)
        small_groups = collate_subgraphs(graphs, k=6, group_size=1, dtype=dtype)
        assert torch.allclose(together.pos, small_groups.pos, atol=tol, rtol=0)
        for i in (1, 3, 4):
            alone = collate_subgraphs([graphs[i]], k=6, dtype=dtype)
            assert torch.allclose(together.pos[together.ptr[i]:together.ptr[i + 1]], alone.pos, atol=tol, rtol=0)


def test_sign_rule_deterministic_on_solver_sign_flips():
    n, ei = 12, _random_graph(12, 0.4, 1, path=True)
    assert _generic(n, ei)
    a = np.zeros((n, n))
    np.add.at(a, (ei[0].numpy(), ei[1].numpy()), 1.0)
    d = np.clip(a.sum(1), 1, None) ** -0.5
    _, v = np.linalg.eigh(d[:, None] * a * d[None, :])
    v = torch.tensor(v)
    flips = torch.where(torch.rand(n, generator=torch.Generator().manual_seed(0)) < 0.5, -1.0, 1.0).double()
    assert torch.equal(fix_eigenvector_signs(v), fix_eigenvector_signs(v * flips))
    feats = subgraph_positional_features(ei, torch.tensor([0, n]), k=8)
    assert torch.equal(feats, subgraph_positional_features(ei, torch.tensor([0, n]), k=8))


def test_segment_peak_is_first_largest_magnitude_entry():
    from graphcl.augment.subgraph_features import _segment_peak

    gen = torch.Generator().manual_seed(0)
    sizes = torch.tensor([3, 5, 1, 4, 6])
    rows = torch.randint(-3, 4, (int(sizes.sum()), 4), generator=gen).double() / 4  # many ties in magnitude
    rows[3:8, 2] = torch.tensor([0.5, -0.75, 0.75, 0.25, -0.75])  # ties of opposite signs: the first wins
    start = torch.cumsum(sizes, 0) - sizes
    wanted = torch.rand(5, 4, generator=gen) < 0.6
    wanted[1, 2] = True
    got = _segment_peak(rows, start, sizes, wanted)
    assert got[1, 2] == -0.75
    for g in range(5):
        for c in range(4):
            col = rows[start[g]:start[g] + sizes[g], c]
            ref = float(col[int(col.abs().argmax())]) if wanted[g, c] else 0.0  # argmax: first maximum
            assert float(got[g, c]) == ref, (g, c)


def test_subgraph_batch_unchecked_and_symmetric_paths_are_identical():
    # validate=False skips the input checks, symmetric=True hands eigh the transposed (column-major)
    # view of each symmetric matrix: both must give the same bits as the checked default
    graphs = [(n, _random_graph(n, 0.3, s, path=True)) for s, n in enumerate((9, 14, 9, 30, 6, 14, 9, 2, 40))]
    b0 = collate_subgraphs(graphs, k=8, dtype=torch.float32)
    for validate, symmetric in ((False, False), (True, True), (False, True)):
        b = subgraph_batch(b0.edge_index, b0.ptr, None, 8, dtype=torch.float32, validate=validate,
                           symmetric=symmetric)
        for f in ("edge_index", "batch", "ptr", "pos", "degree", "ego"):
            assert torch.equal(getattr(b, f), getattr(b0, f)), (validate, symmetric, f)
    with pytest.raises(ValueError, match="different graphs"):  # checked by default ...
        subgraph_batch(torch.tensor([[0, 1], [2, 0]]), torch.tensor([0, 2, 3]), k=4)


def test_sign_fallback_on_zero_sum_columns_matches_reference():
    # The Frucht graph is 3-regular (every eigenvector but the top one sums to 0, so the sign comes from
    # the largest-magnitude entry) with simple eigenvalues; batched with relabelled copies and other graphs
    # of its size, in both group sizes, against fix_eigenvector_signs on float64 eigenvectors. float64 only:
    # a float32 eigenvector's zero sum carries rounding up to ~1e-6, the rule's threshold (documented limit).
    import networkx as nx

    frucht = torch.tensor(list(nx.frucht_graph().edges())).t()
    frucht = torch.cat([frucht, frucht.flip(0)], 1)
    perm = torch.randperm(12, generator=torch.Generator().manual_seed(0))
    graphs = [(12, frucht), (12, _random_graph(12, 0.4, 1, path=True)), (12, perm[frucht]), (7, _G7), (12, frucht)]
    a = np.zeros((12, 12))
    np.add.at(a, (frucht[0].numpy(), frucht[1].numpy()), 1.0)
    v = np.linalg.eigh(a / 3.0)[1]
    assert np.abs(v[:, :-1].sum(0)).max() < 1e-12  # zero-sum columns: the fallback decides their signs
    for group_size in (1, 32):
        b = collate_subgraphs(graphs, k=16, group_size=group_size, dtype=torch.float64)
        for i, (n, ei) in enumerate(graphs):
            _projector_reference_check(b.pos[b.ptr[i]:b.ptr[i + 1]], ei, n, 16)
        assert torch.equal(b.pos[:12], b.pos[b.ptr[4]:b.ptr[5]])  # same graph, same features


def _rwr_step_by_step(graph: CSRGraph, egos: torch.Tensor, length: int, restart_prob: float, seed: int,
                      dead_ends: bool, chunk: int) -> torch.Tensor:
    """Walks with restart advanced one step at a time for all walkers (the engine's former loop):
    random numbers drawn in chunks of ``chunk`` steps, ``[steps, 2, B]`` (uniform, restart draw)."""
    from graphcl.walks import engine

    index = engine._walk_index(graph)
    gen = torch.Generator().manual_seed(seed)
    ego = egos.to(index.idx_dtype)
    walks = [ego]
    for j0 in range(0, length, chunk):
        rand = torch.rand((min(chunk, length - j0), 2, egos.numel()), generator=gen)
        for r in rand:
            nxt = index.step(walks[-1], r[0].clone())
            back = r[1] < restart_prob
            if index.has_dead and dead_ends:
                back = back | (nxt == index.sentinel)
            walks.append(torch.where(back, ego, nxt))
    return torch.stack(walks, 1).long()


@pytest.mark.parametrize("chunk_steps", [None, 3])  # one chunk of random numbers / several
def test_rwr_by_excursion_depth_equals_step_by_step(monkeypatch, chunk_steps):
    from graphcl.walks import engine

    egos = torch.tensor([0, 3, 3, 10, 46, 20, 1, 44])
    if chunk_steps is not None:
        monkeypatch.setattr(engine, "_RAND_CHUNK", 2 * egos.numel() * chunk_steps)
    chunk = max(1, engine._RAND_CHUNK // (2 * egos.numel()))
    g0 = torch.Generator().manual_seed(1)
    a = torch.rand(50, 50, generator=g0) < 0.1
    a[:, 45:] = False  # nodes 45..49 have no in-edges; 40..44 no out-edges (dead ends)
    a[40:45] = False
    sym = (a | a.t()).nonzero().t()
    graphs = [CSRGraph.from_edge_index(sym, num_nodes=50),
              CSRGraph.from_edge_index(sym, num_nodes=50, edge_weight=torch.rand(sym.size(1), generator=g0)),
              CSRGraph.from_edge_index(a.nonzero().t(), num_nodes=50)]
    for gi, g in enumerate(graphs):
        for p in (0.0, 0.3, 0.8, 1.0):
            for length in (0, 1, 17):
                for dead_ends in (True, False):
                    got = engine._rwr(engine._walk_index(g), egos, length, p, torch.Generator().manual_seed(5),
                                      dead_ends)
                    ref = _rwr_step_by_step(g, egos, length, p, 5, dead_ends, chunk)
                    assert torch.equal(got, ref), (gi, p, length, dead_ends)


# --------------------------------------------------------------------------- ego sampling
def test_ego_probabilities_and_chi_square():
    # star + path: degrees 0..4 with several distinct values
    ei = _undirected([(0, 1), (0, 2), (0, 3), (0, 4), (4, 5), (5, 6), (6, 7), (1, 2)])
    s = GCCSampler([Data(edge_index=ei, num_nodes=9)], pos_dim=4)  # node 8 isolated
    deg = torch.bincount(ei[0], minlength=9).double()
    exact = deg.pow(0.75) / deg.pow(0.75).sum()
    assert torch.allclose(s.ego_probabilities, exact)
    assert s.ego_probabilities[8] == 0
    draws = 60000
    egos = s.sample_egos(draws, torch.Generator().manual_seed(0))
    counts = torch.bincount(egos, minlength=9)[:8].numpy()
    assert int(torch.bincount(egos, minlength=9)[8]) == 0
    _, p = stats.chisquare(counts, exact[:8].numpy() * draws)
    assert p > 1e-3


def test_ego_probabilities_over_several_graphs():
    g1 = Data(edge_index=_undirected([(0, 1), (1, 2)]), num_nodes=3)
    g2 = Data(edge_index=_undirected([(0, 1), (0, 2), (0, 3)]), num_nodes=4)
    s = GCCSampler([g1, g2], pos_dim=4)
    deg = torch.tensor([1, 2, 1, 3, 1, 1, 1], dtype=torch.float64)
    assert torch.allclose(s.ego_probabilities, deg.pow(0.75) / deg.pow(0.75).sum())
    assert s.offsets.tolist() == [0, 3, 7]


# --------------------------------------------------------------------------- induced subgraphs
@pytest.mark.parametrize("max_nodes", [None, 6])
def test_rwr_induced_subgraphs_equal_rwr_subgraphs(max_nodes):
    ei = _random_graph(60, 0.12, 5)
    g = CSRGraph.from_edge_index(ei, num_nodes=60)
    egos = torch.tensor([0, 5, 5, 17, 59, 33])
    ref = rwr_subgraphs(g, egos, 0.5, 40, max_nodes, torch.Generator().manual_seed(4))
    for symmetric in (False, True):
        out_ei, ptr, nodes = rwr_induced_subgraphs(g, egos, 0.5, 40, max_nodes, torch.Generator().manual_seed(4),
                                                   symmetric=symmetric)
        assert ptr.numel() == len(ref) + 1
        for i, (ref_nodes, ref_ei) in enumerate(ref):
            assert torch.equal(nodes[ptr[i]:ptr[i + 1]], ref_nodes)
            mask = (out_ei[0] >= ptr[i]) & (out_ei[0] < ptr[i + 1])
            mine = out_ei[:, mask] - ptr[i]
            key = lambda e: sorted((e[0] * 1000 + e[1]).tolist())  # noqa: E731
            assert key(mine) == key(ref_ei)
        assert bool((out_ei[0].diff() >= 0).all())  # sorted by source


def test_sampler_batches_have_egos_first_and_consistent_slices():
    ei = _random_graph(80, 0.08, 2)
    s = GCCSampler([Data(edge_index=ei, num_nodes=80)], pos_dim=4, max_steps=32)
    pool = s.sample_many(3, 5, torch.Generator().manual_seed(0))
    assert len(pool) == 3
    for q, k in pool:
        for b in (q, k):
            assert b.num_graphs == 5 and b.ptr.numel() == 6
            assert b.ego.sum() == 5 and bool(b.ego[b.ptr[:-1]].all())
            assert int(b.edge_index.min()) >= 0 and int(b.edge_index.max()) < int(b.ptr[-1])
            assert torch.equal(b.batch, torch.repeat_interleave(torch.arange(5), b.ptr.diff()))
            assert torch.equal(b.degree, torch.bincount(b.edge_index[0], minlength=int(b.ptr[-1])))


def _induced_reference(graph: CSRGraph, egos, restart_prob, steps, max_nodes, seed):
    """Walks from the public walk function (same generator use), first visits and induced edges by hand."""
    from graphcl.walks import random_walk_with_restart

    walks = random_walk_with_restart(graph, egos, steps, restart_prob, torch.Generator().manual_seed(seed))
    dense = torch.zeros(graph.num_nodes, graph.num_nodes, dtype=torch.bool)
    dense[graph.row, graph.col] = True
    out = []
    for w in walks.tolist():
        nodes = list(dict.fromkeys(w))[: max_nodes or None]
        edges = sorted((i, j) for i, a in enumerate(nodes) for j, b in enumerate(nodes) if dense[a, b])
        out.append((nodes, edges))
    return out


@pytest.mark.parametrize("hub_nodes", [1 << 14, 6])  # bitmap for every node / for 6 hubs + binary search
def test_rwr_induced_subgraphs_match_reference(monkeypatch, hub_nodes):
    from graphcl.walks import engine

    monkeypatch.setattr(engine, "_HUB_BITMAP_NODES", hub_nodes)
    g0 = torch.Generator().manual_seed(7)
    cases = []
    a = (torch.rand(50, 50, generator=g0) < 0.15)
    a[:5] |= torch.rand(5, 50, generator=g0) < 0.8  # a few hubs
    sym = a | a.t()
    sym[45:] = False
    sym[:, 45:] = False  # isolated nodes 45..49 (dead ends) ...
    sym[3, 3] = True  # ... and a self-loop on a hub
    cases.append((sym.nonzero().t(), True))
    cases.append((a.nonzero().t(), False))  # directed, with dead ends
    for ei, symmetric in cases:
        g = CSRGraph.from_edge_index(ei, num_nodes=50)
        egos = torch.tensor([0, 3, 3, 10, 46, 20, 1])
        for max_nodes in (None, 5):
            for sym_flag in ((False, True) if symmetric else (False,)):
                out_ei, ptr, nodes = rwr_induced_subgraphs(g, egos, 0.3, 30, max_nodes,
                                                           torch.Generator().manual_seed(2), symmetric=sym_flag)
                ref = _induced_reference(g, egos, 0.3, 30, max_nodes, 2)
                assert bool((out_ei[0].diff() >= 0).all())
                for i, (ref_nodes, ref_edges) in enumerate(ref):
                    assert nodes[ptr[i]:ptr[i + 1]].tolist() == ref_nodes
                    mask = (out_ei[0] >= ptr[i]) & (out_ei[0] < ptr[i + 1])
                    mine = (out_ei[:, mask] - ptr[i]).t().tolist()
                    assert [tuple(e) for e in mine] == ref_edges  # sorted by (source, target)


@pytest.mark.parametrize("chunk_steps", [None, 4])  # one chunk of random numbers / several (row offsets)
def test_rwr_moves_equal_the_walk_matrix(monkeypatch, chunk_steps):
    from graphcl.walks import engine

    egos = torch.tensor([0, 3, 3, 10, 20, 1, 44])
    if chunk_steps is not None:
        monkeypatch.setattr(engine, "_RAND_CHUNK", 2 * egos.numel() * chunk_steps)
    g = CSRGraph.from_edge_index(_random_graph(50, 0.1, 3, path=True), num_nodes=50)
    index = engine._walk_index(g)
    for p, length in ((0.8, 30), (0.3, 17), (0.0, 9), (1.0, 5)):
        trace = engine._rwr(index, egos, length, p, torch.Generator().manual_seed(6), False)
        pos, node = engine._rwr(index, egos, length, p, torch.Generator().manual_seed(6), False, moves=True)
        assert torch.equal(trace.view(-1)[pos], node)  # every move's node is in the walk matrix ...
        assert pos.unique().numel() == pos.numel() and bool((pos % (length + 1) > 0).all())
        # ... every step away from the ego is a move, and the number of moves is the number of steps
        # whose restart draw failed (the draws of the same generator, in the walk's chunks)
        away = (trace != egos.unsqueeze(1)).view(-1).nonzero().squeeze(1)
        assert set(away.tolist()) <= set(pos.tolist())
        gen, draws, chunk = torch.Generator().manual_seed(6), [], max(1, engine._RAND_CHUNK // (2 * egos.numel()))
        for j0 in range(0, length, chunk):
            draws.append(torch.rand((min(chunk, length - j0), 2, egos.numel()), generator=gen)[:, 1])
        assert pos.numel() == int((torch.cat(draws) >= p).sum())
    g_dead = CSRGraph.from_edge_index(torch.tensor([[0, 1], [1, 0]]), num_nodes=3)  # node 2: dead end
    with pytest.raises(ValueError, match="moves=True"):
        engine._rwr(engine._walk_index(g_dead), torch.tensor([0]), 4, 0.5, None, True, moves=True)


@pytest.mark.parametrize("hub_nodes,chunk_steps,bitmap_bytes", [(1 << 14, None, 1 << 25), (6, 3, 1 << 25),
                                                                 (6, None, 8)])
def test_rwr_induced_subgraphs_from_moves_match_reference(monkeypatch, hub_nodes, chunk_steps, bitmap_bytes):
    # symmetric graph with hubs, self-loops on two hubs and isolated nodes, egos not isolated: the walks
    # return their moves only (no walk matrix); hub pairs read the bitmap, or (6 hubs) mostly binary
    # search; walk membership reads the (walk, node) bitmap with popcount ranks, or (8 bytes) binary search
    from graphcl.walks import engine

    monkeypatch.setattr(engine, "_HUB_BITMAP_NODES", hub_nodes)
    monkeypatch.setattr(engine, "_BITMAP_BYTES", bitmap_bytes)
    egos = torch.tensor([0, 3, 3, 10, 44, 20, 1, 2])
    if chunk_steps is not None:
        monkeypatch.setattr(engine, "_RAND_CHUNK", 2 * egos.numel() * chunk_steps)
    g0 = torch.Generator().manual_seed(8)
    a = torch.rand(50, 50, generator=g0) < 0.12
    a[:6] |= torch.rand(6, 50, generator=g0) < 0.7
    sym = a | a.t()
    sym[46:] = False
    sym[:, 46:] = False
    sym[3, 3] = sym[1, 1] = True
    g = CSRGraph.from_edge_index(sym.nonzero().t(), num_nodes=50)
    assert engine._walk_index(g).has_dead
    for max_nodes in (None, 7):
        out_ei, ptr, nodes = rwr_induced_subgraphs(g, egos, 0.4, 40, max_nodes, torch.Generator().manual_seed(3),
                                                   symmetric=True)
        ref = _induced_reference(g, egos, 0.4, 40, max_nodes, 3)
        for i, (ref_nodes, ref_edges) in enumerate(ref):
            assert nodes[ptr[i]:ptr[i + 1]].tolist() == ref_nodes
            mask = (out_ei[0] >= ptr[i]) & (out_ei[0] < ptr[i + 1])
            assert [tuple(e) for e in (out_ei[:, mask] - ptr[i]).t().tolist()] == ref_edges


def test_popcount31_counts_bits():
    from graphcl.walks.engine import _popcount31

    x = torch.randint(0, 2**31 - 1, (2000,), generator=torch.Generator().manual_seed(0), dtype=torch.int32)
    x = torch.cat([x, torch.tensor([0, 1, 2**31 - 1, 2**30, 0x55555555], dtype=torch.int32)])
    assert _popcount31(x).tolist() == [bin(v).count("1") for v in x.tolist()]


def test_hub_edge_test_equals_has_edge():
    from graphcl.walks.engine import _HubEdges

    ei = _random_graph(60, 0.2, 3)
    g = CSRGraph.from_edge_index(ei, num_nodes=60)
    gen = torch.Generator().manual_seed(0)
    u, x = torch.randint(0, 60, (2, 5000), generator=gen)
    nodes = torch.arange(60)
    for hubs in (1, 10, 59, 60, 1000):
        test = _HubEdges(g, hubs)
        assert int((test.hub_id >= 0).sum()) <= hubs
        assert torch.equal(test.contains(nodes, u, x), g.has_edge(u, x))
        perm = torch.randperm(60, generator=gen)  # nodes given through an index list
        assert torch.equal(test.contains(perm, u, x), g.has_edge(perm[u], perm[x]))


def test_sampler_bit_identical_to_baseline_build(load_benchmark, monkeypatch):
    # the benchmark's baseline sampler (walk engine and features loaded from its git revision) and the
    # current one give the same pools bit for bit; small hub bitmap: the hub pair fix-ups run as well
    from graphcl.walks import engine

    bench = load_benchmark("gcc")
    monkeypatch.setattr(engine, "_HUB_BITMAP_NODES", 24)
    from graphcl.data import sbm

    graphs = [sbm([30, 30, 30], p_in=0.25, p_out=0.03, seed=s) for s in range(2)]
    sampler = GCCSampler(graphs, pos_dim=16, max_steps=64, max_nodes=24, eig_dtype=torch.float32)
    old = bench._baseline_sampler(sampler, bench.BASELINE_REV)
    if old is None:
        pytest.skip(f"git revision {bench.BASELINE_REV} is not available")
    res = bench.identical_to_baseline(sampler, old, range(3), num_batches=4, batch_size=16)
    assert res["identical"], res["mismatches"]
    assert res["pools"] == 3


def test_sampler_same_seed_same_batches():
    s = GCCSampler([Data(edge_index=_random_graph(80, 0.08, 2), num_nodes=80)], pos_dim=4, max_steps=32)
    a = s.sample_many(2, 5, torch.Generator().manual_seed(3))
    b = s.sample_many(2, 5, torch.Generator().manual_seed(3))
    c = s.sample_many(2, 5, torch.Generator().manual_seed(4))
    for (qa, ka), (qb, kb) in zip(a, b):
        for x, y in ((qa, qb), (ka, kb)):
            for f in ("edge_index", "ptr", "pos", "degree", "ego"):
                assert torch.equal(getattr(x, f), getattr(y, f))
    assert not all(torch.equal(x[0].ptr, y[0].ptr) and torch.equal(x[0].edge_index, y[0].edge_index)
                   for x, y in zip(a, c))


# --------------------------------------------------------------------------- MoCo parts and losses
def test_moco_queue_fifo():
    q = MoCoQueue(4, 2)
    assert q.negatives().shape == (0, 2)
    q.enqueue(torch.tensor([[1.0, 1], [2, 2], [3, 3]]))
    assert q.negatives()[:, 0].tolist() == [1, 2, 3] and int(q.ptr) == 3
    q.enqueue(torch.tensor([[4.0, 4], [5, 5]]))  # 5 overwrites the oldest (1)
    assert q.negatives()[:, 0].tolist() == [5, 2, 3, 4] and int(q.count) == 4 and int(q.ptr) == 1
    q.enqueue(torch.arange(12.0).view(6, 2))  # more keys than slots: the last 4 survive
    assert sorted(q.negatives()[:, 0].tolist()) == [4.0, 6.0, 8.0, 10.0]
    state = q.state_dict()
    assert set(state) == {"queue", "ptr", "count"}
    with pytest.raises(ValueError, match="keys must have shape"):
        q.enqueue(torch.zeros(2, 3))


def test_ema_update_formula():
    torch.manual_seed(0)
    a, b = nn_pair()
    before = [p.clone() for p in a.parameters()]
    ema_update(a, b, 0.9)
    for p0, pa, pb in zip(before, a.parameters(), b.parameters()):
        assert torch.allclose(pa, 0.9 * p0 + 0.1 * pb)
    with pytest.raises(ValueError, match="momentum"):
        ema_update(a, b, 1.5)


def nn_pair():
    return GCCEncoder(pos_dim=4, hidden=8, out_dim=4), GCCEncoder(pos_dim=4, hidden=8, out_dim=4)


def test_moco_loss_by_hand():
    g = torch.Generator().manual_seed(1)
    q = torch.nn.functional.normalize(torch.randn(3, 4, generator=g), dim=1)
    k = torch.nn.functional.normalize(torch.randn(3, 4, generator=g), dim=1)
    neg = torch.nn.functional.normalize(torch.randn(5, 4, generator=g), dim=1)
    tau = 0.2
    ref = 0.0
    for i in range(3):
        pos = float(q[i] @ k[i]) / tau
        negs = [float(q[i] @ n) / tau for n in neg]
        ref += -pos + np.log(np.exp(pos) + np.exp(negs).sum())
    assert moco_loss(q, k, neg, tau).item() == pytest.approx(ref / 3, rel=1e-5)
    with pytest.raises(ValueError, match="tau"):
        moco_loss(q, k, neg, 0.0)
    with pytest.raises(ValueError, match="negatives"):
        moco_loss(q, k, torch.zeros(5, 3), 0.1)


def test_e2e_loss_equals_infonce_and_hand_value():
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    tau = 0.5
    assert e2e_loss(q, k, tau).item() == pytest.approx(infonce(q, k, tau, intra_view_negatives=False).item())
    qn, kn = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(k, dim=1)
    s = (qn @ kn.t()).numpy() / tau
    l1 = -np.diag(s) + np.log(np.exp(s).sum(1))
    l2 = -np.diag(s) + np.log(np.exp(s).sum(0))
    assert e2e_loss(q, k, tau).item() == pytest.approx(float((l1 + l2).mean() / 2), rel=1e-5)


def test_warmup_linear():
    assert [warmup_linear(p, 0.1) for p in (0.0, 0.05, 0.1, 0.55, 1.0)] == pytest.approx([0, 0.5, 1, 0.5, 0])


# --------------------------------------------------------------------------- training and transfer
def _tiny_config(**kw) -> dict:
    cfg = dict(load_config("gcc"), pos_dim=4, hidden=8, out_dim=8, num_layers=2, degree_dim=4, queue_size=16,
               max_steps=16, max_nodes=12, epochs=2, steps_per_epoch=2, moco_batch_size=4, e2e_batch_size=6,
               moco_pool_batches=3, e2e_pool_batches=1)
    cfg.update(kw)
    return cfg


def _tiny_graphs():
    return [Data(edge_index=_random_graph(40, 0.15, s), num_nodes=40) for s in range(2)]


@pytest.mark.parametrize("mode", ["moco", "e2e"])
def test_pretrain_deterministic(mode):
    cfg = _tiny_config()
    a = pretrain_gcc(_tiny_graphs(), cfg, mode=mode, seed=3)
    b = pretrain_gcc(_tiny_graphs(), cfg, mode=mode, seed=3)
    assert [h["loss"] for h in a["history"]] == [h["loss"] for h in b["history"]]
    for pa, pb in zip(a["model"].state_dict().values(), b["model"].state_dict().values()):
        assert torch.equal(pa, pb)
    bs = cfg[f"{mode}_batch_size"]
    assert a["sampling"]["instances"] == 2 * 2 * bs
    assert 0 < a["sampling"]["share"] < 1
    c = pretrain_gcc(_tiny_graphs(), cfg, mode=mode, seed=4)
    assert [h["loss"] for h in a["history"]] != [h["loss"] for h in c["history"]]


def test_pretrain_moco_queue_fills_and_resume(tmp_path: Path):
    cfg = _tiny_config(epochs=2)
    full = pretrain_gcc(_tiny_graphs(), cfg, mode="moco", seed=0)
    ck = str(tmp_path / "gcc.pt")
    pretrain_gcc(_tiny_graphs(), dict(cfg, epochs=1), mode="moco", seed=0, checkpoint=ck)
    # the schedule depends on the total number of steps, so resuming needs the same epochs
    half = pretrain_gcc(_tiny_graphs(), cfg, mode="moco", seed=0, checkpoint=ck, resume=True)
    assert half["train"]["resumed_from"] is not None
    assert len(full["history"]) == 2


def test_embed_graphs_permutation_invariant():
    model = GCCEncoder(pos_dim=8, hidden=16, out_dim=8).eval()
    n = 7
    base = embed_graphs(model, [Data(edge_index=_G7, num_nodes=n)])
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(0))
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(n)
    moved = embed_graphs(model, [Data(edge_index=inv[_G7], num_nodes=n)])
    assert torch.allclose(base, moved, atol=1e-5)
    assert torch.allclose(base.norm(dim=1), torch.ones(1), atol=1e-5)


def test_degree_histogram_features():
    h = degree_histogram_features([Data(edge_index=_undirected([(0, 1), (0, 2)]), num_nodes=4)], max_degree=3)
    assert h[0].tolist() == pytest.approx([0.25, 0.5, 0.25, 0.0])


# --------------------------------------------------------------------------- bad input
def test_bad_input():
    with pytest.raises(ValueError, match="mode must be one of"):
        pretrain_gcc(_tiny_graphs(), _tiny_config(), mode="simclr")
    with pytest.raises(ValueError, match="tau must be > 0"):
        pretrain_gcc(_tiny_graphs(), _tiny_config(tau=0.0))
    with pytest.raises(ValueError, match="lacks setting 'queue_size'"):
        pretrain_gcc(_tiny_graphs(), {k: v for k, v in _tiny_config().items() if k != "queue_size"})
    with pytest.raises(ValueError, match="no edges"):
        GCCSampler([Data(edge_index=torch.zeros(2, 0, dtype=torch.long), num_nodes=3)])
    with pytest.raises(ValueError, match="restart_prob"):
        GCCSampler(_tiny_graphs(), restart_prob=1.5)
    with pytest.raises(TypeError, match="cannot read graphs"):
        GCCSampler(42)
    with pytest.raises(TypeError, match="vectors must be a torch.Tensor"):
        fix_eigenvector_signs([[1.0]])
    with pytest.raises(ValueError, match="ptr must start at 0"):
        subgraph_positional_features(_G7, torch.tensor([1, 7]))
    with pytest.raises(ValueError, match="different graphs"):
        subgraph_positional_features(_undirected([(0, 3)]), torch.tensor([0, 2, 4]))
    with pytest.raises(ValueError, match="egos must be local node ids"):
        subgraph_batch(_G7, torch.tensor([0, 7]), torch.tensor([7]))
    with pytest.raises(ValueError, match="k must be"):
        subgraph_batch(_G7, torch.tensor([0, 7]), k=0)
    with pytest.raises(ValueError, match="group_size must be"):
        subgraph_positional_features(_G7, torch.tensor([0, 7]), group_size=0)
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float64"):
        subgraph_batch(_G7, torch.tensor([0, 7]), dtype=torch.float16)
    with pytest.raises(ValueError, match="different graphs"):
        subgraph_batch(_undirected([(1, 2)]), torch.tensor([0, 2, 4]))
    with pytest.raises(ValueError, match="node ids outside"):
        collate_subgraphs([(2, torch.tensor([[0], [2]]))])
    with pytest.raises(ValueError, match="pos_dim=4"):
        GCCEncoder(pos_dim=4, hidden=8)(collate_subgraphs([(7, _G7)], k=8))
    with pytest.raises(TypeError, match="graph must be a CSRGraph"):
        rwr_induced_subgraphs([0, 1], torch.tensor([0]))


# --------------------------------------------------------------------------- method entry point
_DATA = os.environ.get("GRAPHCL_DATA")
_HAS_MUTAG = bool(_DATA) and (Path(_DATA) / "TU" / "MUTAG" / "raw").is_dir()


@pytest.mark.skipif(not _HAS_MUTAG, reason="GRAPHCL_DATA does not point at the shared datasets (TU/MUTAG)")
def test_run_registered_method_on_mutag():
    from graphcl.methods import RunContext, get_method

    spec = get_method("gcc")
    cfg = _tiny_config(pretrain_datasets=["karate"], folds=3, num_seeds=1, epochs=1)
    out = spec.fn("mutag", cfg, RunContext(quiet=True, root=_DATA))
    res = out["metrics"]["graph_classification"]
    assert 0.5 <= res["accuracy"] <= 1.0 and "frozen" in res["protocol"]
    assert out["embedding"].shape == (188, 8)
    with pytest.raises(ValueError, match="must not contain the evaluation dataset"):
        spec.fn("mutag", dict(cfg, pretrain_datasets=["mutag"]), RunContext(quiet=True, root=_DATA))


def test_build_encoder_from_config():
    enc = build_encoder(load_config("gcc"))
    assert enc.in_dim == 32 + 16 + 1 and enc.out_dim == 64 and len(enc.heads) == 5
