"""Tests of graphcl.walks: exact transition probabilities, dead ends, determinism, RWR."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from torch_geometric.data import Data

from graphcl.graph import CSRGraph
from graphcl.walks import (
    _steps,
    engine,
    random_walk,
    random_walk_with_restart,
    rwr_subgraph,
    rwr_subgraphs,
    walks_per_node,
)

# A small undirected graph with triangles, a hub, a pendant node and non-adjacent
# neighbour pairs, so every node2vec case (return / adjacent / far) occurs.
EDGES = [(0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (3, 4), (4, 5), (4, 6), (5, 6), (2, 5), (6, 7)]
NUM_NODES = 8
P_MIN = 1e-4  # chi-square p-value threshold per test (fixed seeds: deterministic)



def _graph(weighted: bool = False) -> CSRGraph:
    ei = torch.tensor(EDGES).t()
    w = None
    if weighted:
        w = torch.tensor([1.0, 3.0, 0.5, 2.0, 1.0, 4.0, 1.5, 0.5, 2.5, 1.0, 3.0])
    return CSRGraph.from_edge_index(ei, NUM_NODES, w, undirected=True)


def _nbrs(g: CSRGraph) -> dict[int, tuple[list[int], list[float]]]:
    out = {}
    for v in range(g.num_nodes):
        a, b = int(g.rowptr[v]), int(g.rowptr[v + 1])
        w = [1.0] * (b - a) if g.weight is None else g.weight[a:b].tolist()
        out[v] = (g.col[a:b].tolist(), w)
    return out


def _exact_second_order(g: CSRGraph, p: float, q: float, chained: bool = False):
    """P(x | t, v) by brute force. ``chained=True`` gives the torch_cluster bug's law."""
    nb = _nbrs(g)
    a_max = max(1 / p, 1.0, 1 / q)
    probs = {}
    for v, (xs, ws) in nb.items():
        for t in xs:
            t_adj = set(nb[t][0])
            acc = []
            for x in xs:
                if not chained:
                    alpha = 1 / p if x == t else (1.0 if x in t_adj else 1 / q)
                    acc.append(alpha / a_max)
                else:
                    # if (x == t and r < p0) elif (adjacent and r < p1) elif (r < p2):
                    # a candidate rejected by one branch can pass a later one.
                    thr = 1 / q / a_max
                    if x == t:
                        thr = max(thr, 1 / p / a_max)
                    if x in t_adj:
                        thr = max(thr, 1 / a_max)
                    acc.append(thr)
            un = np.array(acc) * np.array(ws)
            probs[(t, v)] = (xs, un / un.sum())
    return probs


def _assert_matches(counts: dict, probs: dict, min_tests: int) -> None:
    tested = 0
    for key, (xs, pr) in probs.items():
        c = counts.get(key)
        if not c:
            continue
        obs = np.array([c.get(x, 0) for x in xs], dtype=float)
        n = obs.sum()
        assert n == sum(c.values()), f"{key}: moved to a non-neighbour {c}"
        if len(xs) < 2 or n * pr.min() < 5:
            continue
        res = chisquare(obs, n * pr)
        assert res.pvalue > P_MIN, f"{key}: observed {obs} expected {n * pr} p={res.pvalue:.2e}"
        tested += 1
    assert tested >= min_tests


def _triples(walks: torch.Tensor) -> dict:
    w = walks.numpy()
    counts: dict = defaultdict(Counter)
    t, v, x = w[:, :-2].ravel(), w[:, 1:-1].ravel(), w[:, 2:].ravel()
    keys, n = np.unique(np.stack([t, v, x]), axis=1, return_counts=True)
    for (a, b, c), k in zip(keys.T.tolist(), n.tolist()):
        counts[(a, b)][c] += k
    return counts


def _pairs(walks: torch.Tensor) -> dict:
    w = walks.numpy()
    counts: dict = defaultdict(Counter)
    keys, n = np.unique(np.stack([w[:, :-1].ravel(), w[:, 1:].ravel()]), axis=1, return_counts=True)
    for (a, b), k in zip(keys.T.tolist(), n.tolist()):
        counts[a][b] += k
    return counts


# ------------------------------------------------------------------- first order
@pytest.mark.parametrize("weighted", [False, True])
def test_first_order_matches_exact_transition_probabilities(weighted):
    g = _graph(weighted)
    start = torch.arange(NUM_NODES).repeat(1500)
    walks = random_walk(g, start, 20, generator=torch.Generator().manual_seed(1))
    assert walks.shape == (start.numel(), 21) and walks.dtype == torch.long
    assert torch.equal(walks[:, 0], start)
    counts = _pairs(walks)
    nb = _nbrs(g)
    tested = 0
    for v, (xs, ws) in nb.items():
        obs = np.array([counts[v].get(x, 0) for x in xs], dtype=float)
        assert obs.sum() == sum(counts[v].values()), f"node {v} moved to a non-neighbour"
        if len(xs) < 2:
            continue
        pr = np.array(ws) / sum(ws)
        res = chisquare(obs, obs.sum() * pr)
        assert res.pvalue > P_MIN, (v, obs, pr)
        tested += 1
    assert tested == NUM_NODES - 1  # node 7 is a pendant


def test_first_order_is_not_degree_biased_on_a_star():
    # hub 0 with 50 leaves: each leaf must get ~1/50 of the hub's moves.
    ei = torch.stack([torch.zeros(50, dtype=torch.long), torch.arange(1, 51)])
    g = CSRGraph.from_edge_index(ei, 51, undirected=True)
    walks = random_walk(g, torch.zeros(50_000, dtype=torch.long), 1,
                        generator=torch.Generator().manual_seed(0))
    obs = torch.bincount(walks[:, 1], minlength=51)[1:].double().numpy()
    assert chisquare(obs).pvalue > P_MIN


# ------------------------------------------------------------------ second order
@pytest.mark.parametrize(
    "p,q,weighted",
    [(4.0, 0.25, False), (0.25, 1.0, False), (0.5, 2.0, False), (1.0, 0.5, False),
     (2.0, 0.5, True)],
)
def test_node2vec_matches_exact_second_order_probabilities(p, q, weighted):
    g = _graph(weighted)
    start = torch.arange(NUM_NODES).repeat(1000)
    walks = random_walk(g, start, 25, p=p, q=q, generator=torch.Generator().manual_seed(2))
    assert (walks >= 0).all()
    _assert_matches(_triples(walks), _exact_second_order(g, p, q), min_tests=15)


def test_node2vec_first_step_is_first_order():
    g = _graph()
    start = torch.full((40_000,), 3, dtype=torch.long)
    walks = random_walk(g, start, 1, p=0.1, q=10.0, generator=torch.Generator().manual_seed(3))
    xs = g.neighbors(3).tolist()
    obs = np.array([(walks[:, 1] == x).sum().item() for x in xs], dtype=float)
    assert obs.sum() == start.numel()
    assert chisquare(obs).pvalue > P_MIN


def test_node2vec_cases_are_exclusive_unlike_chained_sampler():
    """The torch_cluster sampler chains the branches, so for q < max(p, 1) a candidate
    rejected as "return" or "adjacent" can still pass the 1/q test. Here (p=4, q=0.25)
    that law is uniform; the exact law returns with probability (1/4)/(1/4+4) on a path."""
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
    g = CSRGraph.from_edge_index(ei, 5, undirected=True)
    p, q = 4.0, 0.25
    start = torch.full((20_000,), 1, dtype=torch.long)
    walks = random_walk(g, start, 2, p=p, q=q, generator=torch.Generator().manual_seed(4))
    # Walks 1 -> 2 -> {1, 3}: return to 1 has alpha 1/p, far node 3 has 1/q.
    sel = walks[:, 1] == 2
    ret = (walks[sel, 2] == 1).double().mean().item()
    n = int(sel.sum())
    exact = (1 / p) / (1 / p + 1 / q)
    chained = _exact_second_order(g, p, q, chained=True)[(1, 2)][1][0]
    assert chained == pytest.approx(0.5)
    sd = (exact * (1 - exact) / n) ** 0.5
    assert abs(ret - exact) < 5 * sd
    assert abs(ret - chained) > 50 * sd
    # Full law on the small graph, with a configuration that separates the two laws.
    g = _graph()
    exact_probs = _exact_second_order(g, p, q)
    chained_probs = _exact_second_order(g, p, q, chained=True)
    assert any(not np.allclose(exact_probs[k][1], chained_probs[k][1]) for k in exact_probs)
    start = torch.arange(NUM_NODES).repeat(800)
    walks = random_walk(g, start, 25, p=p, q=q, generator=torch.Generator().manual_seed(5))
    counts = _triples(walks)
    _assert_matches(counts, exact_probs, min_tests=15)
    with pytest.raises(AssertionError):
        _assert_matches(counts, chained_probs, min_tests=15)


# A directed graph with self-loops: a hub (0) joined both ways to leaves 1-6, leaf-to-leaf
# arcs in one direction only, and loops at 0 and 5, so a walker t -> v meets x in N(t) but
# not in N(v), t not in N(v), and x == t proposed through N(t) (the loop at 5).
DIRECTED = [(0, i) for i in range(1, 7)] + [(i, 0) for i in range(1, 7)] + [
    (1, 2), (2, 3), (3, 1), (4, 5), (5, 6), (6, 4), (2, 4), (0, 0), (5, 5)]


def _exact_directed(g: CSRGraph, p: float, q: float) -> dict:
    """P(x | t, v) for every arc t -> v, by brute force (alpha of node2vec on out-arcs)."""
    nb = {v: g.neighbors(v).tolist() for v in range(g.num_nodes)}
    probs = {}
    for t in range(g.num_nodes):
        for v in nb[t]:
            xs = nb[v]
            a = np.array([1 / p if x == t else (1.0 if x in nb[t] else 1 / q) for x in xs])
            probs[(t, v)] = (xs, a / a.sum())
    return probs


@pytest.mark.parametrize("p,q", [(0.5, 2.0), (2.0, 2.0), (0.25, 1.0), (1.0, 4.0), (4.0, 0.25)])
def test_node2vec_mixture_proposals_match_exact_law_on_directed_graph(p, q):
    # With 1/q the smallest factor, walkers t -> v with d_t + 1 < d_v propose through
    # N(t) and t (mixture); the others propose uniformly in N(v). Both must give the law.
    ei = torch.tensor(DIRECTED).t()
    g = CSRGraph.from_edge_index(ei, 7)
    assert engine._walk_index(g).simple
    start = torch.arange(7).repeat(1200)
    walks = random_walk(g, start, 20, p=p, q=q, generator=torch.Generator().manual_seed(30))
    assert (walks >= 0).all()
    _assert_matches(_triples(walks), _exact_directed(g, p, q), min_tests=20)


def _proposals_on_a_star(simple: bool) -> tuple[float, float]:
    """Proposals per walker for the step leaf -> hub -> ?, and the return frequency."""
    ei = torch.stack([torch.zeros(60, dtype=torch.long), torch.arange(1, 61)])
    g = CSRGraph.from_edge_index(ei, 61, undirected=True)
    index = engine._walk_index(g)
    _ = index.simple
    index._simple = simple
    start = torch.arange(1, 61).repeat(500).to(index.idx_dtype)  # 30k walkers: leaf -> hub -> ?
    out = torch.empty((start.numel(), 3), dtype=torch.long)
    drawn = engine._second_order(index, start, 2, 1.0, 4.0, torch.Generator().manual_seed(31), out)
    return drawn / start.numel(), (out[:, 2] == out[:, 0]).double().mean().item()


def test_node2vec_mixture_needs_fewer_proposals_from_a_leaf_into_a_hub():
    # alpha = 1 for the return, 1/4 for the 59 other leaves: uniform proposals at the hub
    # are accepted with probability 15.75 / 60; the mixture (mass 15 + 0.75 + 0.75 = 16.5)
    # with probability 15.75 / 16.5.
    mix, ret_mix = _proposals_on_a_star(simple=True)
    uni, ret_uni = _proposals_on_a_star(simple=False)
    assert mix < 1.15 and uni > 3.3  # expected 1.048 and 3.81 (plus the last round's spares)
    exact, n = 1.0 / 15.75, 30_000
    sd = (exact * (1 - exact) / n) ** 0.5
    assert abs(ret_mix - exact) < 5 * sd and abs(ret_uni - exact) < 5 * sd


def test_walk_index_simple_flag():
    assert engine._walk_index(_graph()).simple
    assert not engine._walk_index(_graph(weighted=True)).simple
    # a CSR with a repeated entry (1 -> 2 twice) is a multigraph: uniform proposals only
    g = CSRGraph(torch.tensor([0, 1, 4, 5]), torch.tensor([1, 0, 2, 2, 1]), None, 3)
    assert not engine._walk_index(g).simple
    w = random_walk(g, torch.tensor([0] * 2000), 3, p=0.5, q=2.0, generator=torch.Generator().manual_seed(32))
    # 0 -> 1 -> {0 (alpha 2), 2 twice (alpha 1/2 each)}: back to 0 with probability 2/3
    sel = w[:, 1] == 1
    assert abs((w[sel, 2] == 0).double().mean().item() - 2 / 3) < 0.04


def test_accept_and_select_helpers_equal_torch_where():
    gen = torch.Generator().manual_seed(33)
    n = 5000
    r = torch.rand(n, generator=gen)
    is_t = torch.rand(n, generator=gen) < 0.2
    adj = torch.rand(n, generator=gen) < 0.5
    for p, q in [(1, 4), (0.25, 0.25), (4, 1), (0.5, 2), (2, 0.5), (1, 1), (0.25, 1)]:
        a = (1 / p, 1.0, 1 / q)
        levels = tuple(x / max(a) for x in a)
        alpha = torch.where(is_t, levels[0], torch.where(adj, levels[1], levels[2]))
        assert torch.equal(_steps.accept(r, is_t, adj, *levels), r < alpha)
        if a[1] == a[2]:
            assert torch.equal(_steps.accept(r, is_t, None, *levels), r < alpha)
    for dtype in (torch.int32, torch.int64):
        x = torch.randint(-2**30, 2**30, (n,), generator=gen).to(dtype)
        y = torch.randint(-2**30, 2**30, (n,), generator=gen).to(dtype)
        assert torch.equal(_steps.select(adj, x, y), torch.where(adj, x, y))
    assert torch.equal(_steps.either(adj, is_t, ~is_t), torch.where(adj, is_t, ~is_t))
    assert torch.equal(_steps.either(adj, None, is_t), adj | is_t)
    assert torch.equal(_steps.either(adj, is_t, None), ~adj | is_t)
    assert _steps.either(adj, None, None) is None


def test_first_order_slices_are_exact_and_do_not_depend_on_threads(monkeypatch):
    # Above _CPU_STREAM_WALKERS walkers, first-order walks run as fixed slices with their
    # own generators on torch's threads: same walks whatever the thread count.
    monkeypatch.setattr(engine, "_CPU_STREAM_WALKERS", 1000)
    g = _graph()
    start = torch.arange(NUM_NODES).repeat(1500)  # 12 slices
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = random_walk(g, start, 20, generator=torch.Generator().manual_seed(34))
        torch.set_num_threads(3)
        three = random_walk(g, start, 20, generator=torch.Generator().manual_seed(34))
    finally:
        torch.set_num_threads(threads)
    assert torch.equal(one, three)
    assert torch.equal(one[:, 0], start)
    counts = _pairs(one)
    for v, (xs, _) in _nbrs(g).items():
        obs = np.array([counts[v].get(x, 0) for x in xs], dtype=float)
        assert obs.sum() == sum(counts[v].values())
        if len(xs) > 1:
            assert chisquare(obs).pvalue > P_MIN, (v, obs)
    other = random_walk(g, start, 20, generator=torch.Generator().manual_seed(35))
    assert not torch.equal(one, other)


@pytest.mark.parametrize("p,q", [(1.0, 4.0), (0.25, 0.25), (4.0, 1.0)])
def test_node2vec_slices_are_exact_and_do_not_depend_on_threads(monkeypatch, p, q):
    # node2vec walks of more than _CPU_STREAM_WALKERS_N2V walkers run as fixed slices with
    # their own generators on torch's threads (TorchScript kernels, no GIL held).
    monkeypatch.setattr(engine, "_CPU_STREAM_WALKERS_N2V", 900)
    built = []

    class Counted(engine._EdgeBitmap):
        def __init__(self, graph):
            built.append(1)
            super().__init__(graph)

    monkeypatch.setattr(engine, "_EdgeBitmap", Counted)
    start = torch.arange(NUM_NODES).repeat(800)  # 8 slices
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(3)  # a cold graph: the adjacency test is built once, before the threads
        three = random_walk(_graph(), start, 20, p=p, q=q, generator=torch.Generator().manual_seed(36))
        assert torch.get_num_threads() == 3  # set to 1 while the slices ran, then restored
        torch.set_num_threads(1)
        one = random_walk(_graph(), start, 20, p=p, q=q, generator=torch.Generator().manual_seed(36))
    finally:
        torch.set_num_threads(threads)
    assert len(built) == (0 if p == 4.0 else 2)  # (4, 1): no adjacency test needed
    assert torch.equal(one, three)
    assert torch.equal(one[:, 0], start)
    _assert_matches(_triples(one), _exact_second_order(_graph(), p, q), min_tests=15)


def _kernel_cases() -> list[tuple[str, CSRGraph, float, float]]:
    dead = CSRGraph.from_edge_index(torch.tensor([[0, 1, 1, 2, 3], [1, 0, 2, 3, 0]]), 5)  # 3 -> 0, 4 isolated
    return [
        ("uniform", _graph(), 1.0, 1.0),
        ("weighted uniform", _graph(weighted=True), 1.0, 1.0),
        ("mixture", _graph(), 1.0, 4.0),
        ("mixture, p < 1", _graph(), 0.25, 2.0),
        ("uniform proposals", _graph(), 0.25, 0.25),
        ("no adjacency test", _graph(), 4.0, 1.0),
        ("weighted node2vec", _graph(weighted=True), 0.5, 2.0),
        ("dead ends", dead, 0.5, 2.0),
    ]


@pytest.mark.parametrize("case", range(8))
def test_torchscript_kernels_equal_plain_python(monkeypatch, case):
    # The walk kernels run compiled by TorchScript; plain Python runs the same ops in the
    # same order, so the walks are identical (the hash-set adjacency as well).
    name, g, p, q = _kernel_cases()[case]
    assert _steps.kernel("second_order_walks") is not _steps.second_order_walks  # compiled here
    start = torch.arange(g.num_nodes).repeat(300)
    for hashed in (False, True):
        if hashed:
            monkeypatch.setattr(engine, "_EdgeBitmap", engine._EdgeSet)
        runs = []
        for script in (True, False):
            monkeypatch.setattr(_steps, "TORCHSCRIPT", script)
            g2 = CSRGraph(g.rowptr, g.col, g.weight, g.num_nodes)  # a fresh walk index
            runs.append(random_walk(g2, start, 12, p=p, q=q, generator=torch.Generator().manual_seed(37)))
        assert torch.equal(runs[0], runs[1]), name
        if name == "dead ends":
            assert (runs[0][start == 4, 1:] == -1).all()


def test_adjacency_bitmap_and_hash_set_agree_with_has_edge():
    gen = torch.Generator().manual_seed(23)
    ei = torch.randint(0, 300, (2, 3000), generator=gen)
    g = CSRGraph.from_edge_index(ei, 300)
    e = torch.randint(0, g.num_edges, (5000,), generator=gen)
    t = torch.cat([g.row[e], torch.randint(0, 300, (5000,), generator=gen)])
    x = torch.cat([g.col[e], torch.randint(0, 300, (5000,), generator=gen)])
    ref = g.has_edge(t, x)
    assert ref[:5000].all() and not ref[5000:].all()
    for cls in (engine._EdgeBitmap, engine._EdgeSet):
        s = cls(g)
        assert torch.equal(s.contains(t, x), ref)
        assert torch.equal(s.contains(t.int(), x.int()), ref)


def test_adjacency_bitmap_built_in_blocks_equals_one_pass(monkeypatch):
    gen = torch.Generator().manual_seed(25)
    g = CSRGraph.from_edge_index(torch.randint(0, 200, (2, 2500), generator=gen), 203)  # 3 isolated ids
    one_pass = engine._EdgeBitmap(g).words
    monkeypatch.setattr(engine, "_BITMAP_BUILD_EDGES", 7)
    assert torch.equal(engine._EdgeBitmap(g).words, one_pass)
    ref = torch.zeros_like(one_pass)
    engine._set_bits(ref, g.row * g.num_nodes + g.col)
    assert torch.equal(one_pass, ref)


def test_node2vec_with_hash_set_adjacency(monkeypatch):
    # Larger graphs use the hash set instead of the bitmap: same law.
    monkeypatch.setattr(engine, "_EdgeBitmap", engine._EdgeSet)
    g = _graph()
    start = torch.arange(NUM_NODES).repeat(600)
    walks = random_walk(g, start, 25, p=4.0, q=0.25, generator=torch.Generator().manual_seed(24))
    _assert_matches(_triples(walks), _exact_second_order(g, 4.0, 0.25), min_tests=15)


# ------------------------------------------------------------------- structure
@pytest.mark.parametrize("p,q", [(1.0, 1.0), (0.5, 2.0)])
def test_every_step_follows_an_edge(p, q):
    gen = torch.Generator().manual_seed(6)
    ei = torch.randint(0, 200, (2, 800), generator=gen)
    g = CSRGraph.from_edge_index(ei, 200, undirected=True)
    walks = random_walk(g, torch.arange(200), 30, p=p, q=q, generator=gen)
    a, b = walks[:, :-1].reshape(-1), walks[:, 1:].reshape(-1)
    live = b >= 0
    assert g.has_edge(a[live], b[live]).all()
    # -1 only after a dead end, never followed by a node again
    assert ((a >= 0) | (b < 0)).all()


@pytest.mark.parametrize("p,q", [(1.0, 1.0), (0.5, 2.0)])
def test_dead_end_stops_walk_with_minus_one_padding(p, q):
    # directed: 0 -> 1 -> 2 (2 has no out-edge); 3 isolated; 4 <-> 0
    ei = torch.tensor([[0, 1, 4, 0], [1, 2, 0, 4]])
    g = CSRGraph.from_edge_index(ei, 5)
    walks = random_walk(g, torch.tensor([1, 2, 3]), 4, p=p, q=q,
                        generator=torch.Generator().manual_seed(7))
    assert walks.tolist() == [[1, 2, -1, -1, -1], [2, -1, -1, -1, -1], [3, -1, -1, -1, -1]]
    walks = random_walk(g, torch.full((200,), 4), 6, p=p, q=q,
                        generator=torch.Generator().manual_seed(8))
    assert set(walks[:, 1].tolist()) == {0}
    stopped = (walks == -1).any(1)
    assert stopped.any() and (~stopped).any()
    first_pad = (walks == -1).float().argmax(1)[stopped]
    assert (walks[stopped, first_pad - 1] == 2).all()


def test_zero_weight_edges_are_never_taken():
    ei = torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]])
    w = torch.tensor([0.0, 1.0, 3.0, 1.0, 1.0, 0.0])  # node 3's only out-edge weighs 0
    g = CSRGraph.from_edge_index(ei, 4, w)
    walks = random_walk(g, torch.zeros(20_000, dtype=torch.long), 2,
                        generator=torch.Generator().manual_seed(9))
    assert (walks[:, 1] != 1).all()
    frac3 = (walks[:, 1] == 3).double().mean().item()
    assert frac3 == pytest.approx(0.75, abs=0.02)
    assert (walks[walks[:, 1] == 3, 2] == -1).all()


def test_same_seed_same_walks_and_length_zero():
    g = _graph()
    start = torch.arange(NUM_NODES).repeat(5)
    for p, q in [(1.0, 1.0), (0.3, 3.0)]:
        a = random_walk(g, start, 12, p=p, q=q, generator=torch.Generator().manual_seed(10))
        b = random_walk(g, start, 12, p=p, q=q, generator=torch.Generator().manual_seed(10))
        c = random_walk(g, start, 12, p=p, q=q, generator=torch.Generator().manual_seed(11))
        assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(random_walk(g, start, 0), start.unsqueeze(1))
    assert random_walk(g, torch.empty(0, dtype=torch.long), 5).shape == (0, 6)


def test_accepts_edge_index_and_data():
    g = _graph()
    ei = g.to_edge_index()
    start = torch.arange(NUM_NODES)
    ref = random_walk(g, start, 6, p=2.0, q=0.5, generator=torch.Generator().manual_seed(12))
    a = random_walk(ei, start, 6, p=2.0, q=0.5, num_nodes=NUM_NODES,
                    generator=torch.Generator().manual_seed(12))
    b = random_walk(Data(edge_index=ei, num_nodes=NUM_NODES), start, 6, p=2.0, q=0.5,
                    generator=torch.Generator().manual_seed(12))
    assert torch.equal(ref, a) and torch.equal(ref, b)


def test_walks_per_node_shuffled_passes():
    g = _graph()
    w = walks_per_node(g, 3, 5, generator=torch.Generator().manual_seed(13), batch_size=7)
    assert w.shape == (3 * NUM_NODES, 6)
    for i in range(3):
        assert sorted(w[i * NUM_NODES:(i + 1) * NUM_NODES, 0].tolist()) == list(range(NUM_NODES))
    assert not torch.equal(w[:NUM_NODES, 0], torch.arange(NUM_NODES))
    a, b = w[:, :-1].reshape(-1), w[:, 1:].reshape(-1)
    assert g.has_edge(a, b).all()
    w2 = walks_per_node(g, 2, 4, p=0.5, q=2.0, shuffle=False,
                        generator=torch.Generator().manual_seed(14))
    assert w2[:, 0].tolist() == list(range(NUM_NODES)) * 2


def test_walks_per_node_batches_write_into_the_output():
    # batched generation consumes the generator in the same order as one batch of the
    # same walkers would: each batch equals random_walk on its start nodes
    g = _graph()
    gen = torch.Generator().manual_seed(15)
    w = walks_per_node(g, 2, 6, p=0.5, q=2.0, shuffle=False, generator=gen, batch_size=5)
    gen = torch.Generator().manual_seed(15)
    start = torch.arange(NUM_NODES).repeat(2)
    parts = [random_walk(g, start[s:s + 5], 6, p=0.5, q=2.0, generator=gen) for s in range(0, start.numel(), 5)]
    assert w.dtype == torch.long and w.is_contiguous()
    assert torch.equal(w, torch.cat(parts))


@pytest.mark.parametrize("p,q", [(1.0, 1.0), (0.5, 2.0), (4.0, 1.0)])
def test_step_blocks_do_not_change_the_walks(monkeypatch, p, q):
    # The working rows hold a block of steps at a time (engine._WORK_IDS ids); blocks of any
    # size (and the small uniform draws) consume the generator as one pass would.
    g = _graph()
    start = torch.arange(NUM_NODES).repeat(40)
    ref = random_walk(g, start, 23, p=p, q=q, generator=torch.Generator().manual_seed(16))
    for work, rand in ((start.numel() * 5, 3 * start.numel()), (1, 1)):
        monkeypatch.setattr(engine, "_WORK_IDS", work)
        monkeypatch.setattr(engine, "_STEP_RAND", rand)
        w = random_walk(g, start, 23, p=p, q=q, generator=torch.Generator().manual_seed(16))
        assert torch.equal(w, ref)


def test_invalid_arguments_raise():
    g = _graph()
    s = torch.tensor([0, 1])
    for bad in [0.0, -1.0, float("inf"), float("nan")]:
        with pytest.raises(ValueError, match="p must be a finite number > 0"):
            random_walk(g, s, 3, p=bad)
        with pytest.raises(ValueError, match="q must be a finite number > 0"):
            random_walk(g, s, 3, q=bad)
    for bad in ["1", True, None]:
        with pytest.raises(TypeError, match="p must be a number"):
            random_walk(g, s, 3, p=bad)
    with pytest.raises(ValueError, match="length must be >= 0"):
        random_walk(g, s, -1)
    with pytest.raises(TypeError, match="length must be an int"):
        random_walk(g, s, 2.5)
    with pytest.raises(ValueError, match="start contains node id 8"):
        random_walk(g, torch.tensor([8]), 3)
    with pytest.raises(ValueError, match="start contains negative"):
        random_walk(g, torch.tensor([-1]), 3)
    with pytest.raises(TypeError, match="start must be an integer tensor"):
        random_walk(g, torch.tensor([0.0]), 3)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        random_walk(g, s, 3, generator=0)
    with pytest.raises(TypeError, match="graph must be a CSRGraph"):
        random_walk([[0, 1]], s, 3)
    with pytest.raises(ValueError, match="restart_prob"):
        random_walk_with_restart(g, s, 3, restart_prob=1.5)
    with pytest.raises(ValueError, match="walks_per_node must be >= 0"):
        walks_per_node(g, -1, 3)


# ------------------------------------------------------------- walk with restart
def test_rwr_restarts_with_the_right_frequency():
    # directed cycle 0 -> 1 -> ... -> 9 -> 0, plus a dead end 5 -> 10
    src = list(range(10)) + [5]
    dst = [(i + 1) % 10 for i in range(10)] + [10]
    g = CSRGraph.from_edge_index(torch.tensor([src, dst]), 11)
    r = 0.3
    ego = torch.full((4000,), 2, dtype=torch.long)
    w = random_walk_with_restart(g, ego, 40, restart_prob=r,
                                 generator=torch.Generator().manual_seed(15))
    assert w.shape == (4000, 41) and (w >= 0).all() and (w[:, 0] == 2).all()
    cur, nxt = w[:, :-1].reshape(-1), w[:, 1:].reshape(-1)
    # From nodes that are not in-neighbours of the ego, arriving at the ego = restart.
    sel = (cur != 1) & (cur != 10)
    frac = (nxt[sel] == 2).double().mean().item()
    n = int(sel.sum())
    assert abs(frac - r) < 5 * (r * (1 - r) / n) ** 0.5
    # Node 10 has no out-edge: always restart. Non-restart moves follow edges.
    assert (nxt[cur == 10] == 2).all() and (cur == 10).any()
    moved = nxt != 2
    assert g.has_edge(cur[moved], nxt[moved]).all()
    # Node 5 splits its moves between 6 and 10.
    m5 = nxt[(cur == 5) & moved]
    assert abs((m5 == 10).double().mean().item() - 0.5) < 0.05


def test_rwr_subgraph_is_induced_with_ego_first():
    gen = torch.Generator().manual_seed(16)
    ei = torch.randint(0, 60, (2, 240), generator=gen)
    g = CSRGraph.from_edge_index(ei, 60, undirected=True)
    egos = torch.tensor([0, 5, 17, 5, 59])
    subs = rwr_subgraphs(g, egos, restart_prob=0.5, max_steps=30,
                         generator=torch.Generator().manual_seed(17))
    trace = random_walk_with_restart(g, egos, 30, restart_prob=0.5,
                                     generator=torch.Generator().manual_seed(17))
    assert len(subs) == egos.numel()
    dense = torch.zeros(60, 60, dtype=torch.bool)
    dense[g.row, g.col] = True
    for (nodes, sub_ei), ego, tr in zip(subs, egos.tolist(), trace):
        first_visit = list(dict.fromkeys(tr.tolist()))
        assert nodes.tolist() == first_visit and int(nodes[0]) == ego
        k = nodes.numel()
        expect = dense[nodes][:, nodes].nonzero().t()
        got = sub_ei[:, torch.argsort(sub_ei[0] * k + sub_ei[1])]
        assert torch.equal(got, expect)
    # max_nodes keeps the first visited nodes; the single-ego helper matches.
    small = rwr_subgraphs(g, egos, 0.5, 30, max_nodes=3, generator=torch.Generator().manual_seed(17))
    for (n3, e3), (nodes, _) in zip(small, subs):
        assert n3.tolist() == nodes[:3].tolist()
        assert e3.numel() == 0 or int(e3.max()) < n3.numel()
    one = rwr_subgraph(g, 17, 0.5, 30, generator=torch.Generator().manual_seed(18))
    assert int(one[0][0]) == 17


def test_rwr_isolated_ego_gives_single_node():
    g = CSRGraph.from_edge_index(torch.tensor([[0, 1], [1, 0]]), 3)
    nodes, ei = rwr_subgraph(g, 2, generator=torch.Generator().manual_seed(19))
    assert nodes.tolist() == [2] and ei.shape == (2, 0)


# ------------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_walks_match_exact_probabilities_and_stay_on_device():
    dev = torch.device("cuda")
    # (0.5, 2) unweighted takes the mixture proposals of walkers into higher-degree nodes
    for weighted, (p, q) in [(False, (4.0, 0.25)), (True, (0.5, 2.0)), (False, (0.5, 2.0))]:
        g = _graph(weighted).to(dev)
        start = torch.arange(NUM_NODES, device=dev).repeat(1000)
        gen = torch.Generator(device=dev).manual_seed(20)
        walks = random_walk(g, start, 25, p=p, q=q, generator=gen)
        assert walks.device.type == "cuda" and walks.dtype == torch.long
        _assert_matches(_triples(walks.cpu()), _exact_second_order(_graph(weighted), p, q), 15)
        first = random_walk(g, start, 25, generator=gen)
        nb = _nbrs(_graph(weighted))
        counts = _pairs(first.cpu())
        for v, (xs, ws) in nb.items():
            obs = np.array([counts[v].get(x, 0) for x in xs], dtype=float)
            assert obs.sum() == sum(counts[v].values())
            if len(xs) > 1:
                assert chisquare(obs, obs.sum() * np.array(ws) / sum(ws)).pvalue > P_MIN
    ei = torch.tensor([[0, 1, 4, 0], [1, 2, 0, 4]], device=dev)
    g = CSRGraph.from_edge_index(ei, 5)
    w = random_walk(g, torch.tensor([1, 2, 3], device=dev), 4, p=0.5, q=2.0,
                    generator=torch.Generator(device=dev).manual_seed(21))
    assert w.cpu().tolist() == [[1, 2, -1, -1, -1], [2, -1, -1, -1, -1], [3, -1, -1, -1, -1]]
    subs = rwr_subgraphs(g, torch.tensor([0, 4], device=dev), 0.5, 20,
                         generator=torch.Generator(device=dev).manual_seed(22))
    assert [int(n[0]) for n, _ in subs] == [0, 4] and subs[0][0].device.type == "cuda"
    with pytest.raises(ValueError, match="generator is on cpu"):
        random_walk(g, torch.tensor([0], device=dev), 3, generator=torch.Generator())
    gd = CSRGraph.from_edge_index(torch.tensor(DIRECTED, device=dev).t(), 7)
    walks = random_walk(gd, torch.arange(7, device=dev).repeat(1200), 20, p=1.0, q=4.0,
                        generator=torch.Generator(device=dev).manual_seed(23))
    gc = CSRGraph.from_edge_index(torch.tensor(DIRECTED).t(), 7)
    _assert_matches(_triples(walks.cpu()), _exact_directed(gc, 1.0, 4.0), min_tests=20)


def test_walk_index_cached_on_graph_and_rebuilt_when_tensors_change():
    import pickle

    from graphcl.walks.engine import _walk_index

    g = CSRGraph.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
    idx = _walk_index(g)
    assert _walk_index(g) is idx
    assert "_walk_index_cache" not in pickle.loads(pickle.dumps(g)).__dict__
    g.col = g.col.clone()
    assert _walk_index(g) is not idx
