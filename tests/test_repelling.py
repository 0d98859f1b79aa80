"""Repelling random walks and the estimators that show their variance reduction."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from graphcl.graph import CSRGraph
from graphcl.walks.estimators import (
    exact_pagerank,
    exact_regularised_laplacian_kernel,
    grf_features,
    grf_kernel_estimate,
    pagerank_estimate,
    relative_frobenius_error,
)
from graphcl.walks.repelling import repelling_walks, walk_ensemble


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def from_nx(g: nx.Graph) -> CSRGraph:
    ei = torch.tensor(list(g.edges()), dtype=torch.long).T
    return CSRGraph.from_edge_index(ei, g.number_of_nodes(), undirected=True)


def star(d: int) -> CSRGraph:
    """Node 0 joined to nodes 1..d."""
    return from_nx(nx.star_graph(d))



@pytest.fixture(scope="module")
def karate() -> CSRGraph:
    return from_nx(nx.karate_club_graph())


def small_graph() -> CSRGraph:
    """7 nodes, degrees 1..4: a triangle, a square and a pendant."""
    edges = [(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (4, 5), (5, 2), (5, 6)]
    return from_nx(nx.Graph(edges))


# ------------------------------------------------------------------ the walker
@pytest.mark.parametrize("k", [1, 2, 3, 5, 7])
def test_distinct_neighbours_while_count_le_degree(k):
    g = star(7)
    w = repelling_walks(g, torch.zeros(400, dtype=torch.long), k, 1, generator=gen(k))
    nxt = w[:, :, 1]
    assert bool((nxt >= 1).all())
    srt = nxt.sort(dim=1).values
    assert bool((srt[:, 1:] != srt[:, :-1]).all()), "two walkers of one ensemble collided"
    if k == 7:  # all neighbours used exactly once
        assert bool((srt == torch.arange(1, 8)).all())


@pytest.mark.parametrize("k", [8, 10, 15, 23])
def test_balanced_counts_when_count_gt_degree(k):
    d = 7
    g = star(d)
    w = repelling_walks(g, torch.zeros(300, dtype=torch.long), k, 1, generator=gen(k))
    counts = torch.zeros(300, d + 1, dtype=torch.long)
    counts.scatter_add_(1, w[:, :, 1], torch.ones_like(w[:, :, 1]))
    counts = counts[:, 1:]
    assert bool((counts.sum(1) == k).all())
    assert bool(((counts == k // d) | (counts == -(-k // d))).all())


def test_iid_ensemble_does_collide():
    # the contrast: independent walkers share neighbours (5 walkers, 7 neighbours)
    w = walk_ensemble(star(7), torch.zeros(200, dtype=torch.long), 5, 1, ensemble="iid",
                      generator=gen(0))
    srt = w[:, :, 1].sort(dim=1).values
    assert bool((srt[:, 1:] == srt[:, :-1]).any())


def test_ranks_are_reshuffled_so_pairs_are_exchangeable():
    # k=3 walkers, d=7: systematic sampling puts rank r+1 two or three neighbours after
    # rank r. With fixed ranks walker 1 would always be 2-3 steps "after" walker 0;
    # with the per-step random rank permutation, (w0, w1) and (w1, w0) are equally likely.
    b = 6000
    w = repelling_walks(star(7), torch.zeros(b, dtype=torch.long), 3, 1, generator=gen(8))
    diff = (w[:, 1, 1] - w[:, 0, 1]) % 7
    assert bool(((diff >= 2) & (diff <= 5)).all())  # spacing of 7/3: never 0, 1 or 6 apart
    frac = float(((diff == 2) | (diff == 3)).float().mean())
    assert abs(frac - 0.5) < 4 * (0.25 / b) ** 0.5


@pytest.mark.parametrize("k", [3, 7, 10])
def test_each_walker_marginal_is_uniform(k):
    d = 7
    b = 3000
    w = repelling_walks(star(d), torch.zeros(b, dtype=torch.long), k, 1, generator=gen(10 + k))
    pvals = []
    for j in range(k):  # walker j is an independent sample in every ensemble
        counts = torch.bincount(w[:, j, 1] - 1, minlength=d).numpy()
        pvals.append(chisquare(counts).pvalue)
    assert min(pvals) > 1e-4, pvals


def test_multi_step_marginal_matches_transition_matrix(karate):
    # after 3 repelling steps from node 0, one walker is distributed as (P^3)[0]
    a = nx.to_numpy_array(nx.karate_club_graph(), weight=None)
    p = a / a.sum(1, keepdims=True)
    expected = np.linalg.matrix_power(p, 3)[0]
    b = 4000
    w = repelling_walks(karate, torch.zeros(b, dtype=torch.long), 8, 3, generator=gen(3))
    for j in (0, 5):
        obs = np.bincount(w[:, j, 3].numpy(), minlength=34).astype(float)
        exp = expected * b
        big = exp >= 5  # lump sparse cells so the chi-square approximation holds
        obs_c, exp_c = obs[big], exp[big]
        if exp[~big].sum() > 0:
            obs_c = np.append(obs_c, obs[~big].sum())
            exp_c = np.append(exp_c, exp[~big].sum())
        assert chisquare(obs_c, exp_c).pvalue > 1e-4


def test_every_step_follows_an_edge_and_stopped_stays_stopped(karate):
    w = repelling_walks(karate, torch.arange(34), 12, 10, p_halt=0.1, generator=gen(1))
    u, v = w[:, :, :-1].reshape(-1), w[:, :, 1:].reshape(-1)
    ok = u >= 0
    assert bool((v[~ok] == -1).all()), "a halted walker moved again"
    moved = ok & (v >= 0)
    assert bool(karate.has_edge(u[moved], v[moved]).all())
    assert bool((w[:, :, 0] == torch.arange(34).unsqueeze(1)).all())


def test_dead_end_stops_and_weights_ignored():
    ei = torch.tensor([[0, 1], [1, 2]])  # directed path; node 2 has no out-neighbour
    g = CSRGraph.from_edge_index(ei, 3)
    w = repelling_walks(g, 0, 3, 4, generator=gen(0))
    assert w.shape == (1, 3, 5)
    assert bool((w[0] == torch.tensor([0, 1, 2, -1, -1])).all())
    karate_ei = torch.tensor(list(nx.karate_club_graph().edges())).T
    gw = CSRGraph.from_edge_index(karate_ei, edge_weight=torch.rand(karate_ei.size(1)) + 0.1,
                                  undirected=True)
    gu = CSRGraph.from_edge_index(karate_ei, undirected=True)
    assert torch.equal(repelling_walks(gw, torch.arange(34), 6, 5, generator=gen(4)),
                       repelling_walks(gu, torch.arange(34), 6, 5, generator=gen(4)))


def test_halting_rate(karate):
    p = 0.3
    w = repelling_walks(karate, torch.arange(34).repeat(20), 30, 2, p_halt=p, generator=gen(5))
    n = w[:, :, 0].numel()
    h1 = int((w[:, :, 1] == -1).sum())
    assert abs(h1 / n - p) < 4 * (p * (1 - p) / n) ** 0.5
    alive1 = w[:, :, 1] >= 0
    h2 = int((w[:, :, 2][alive1] == -1).sum())
    n2 = int(alive1.sum())
    assert abs(h2 / n2 - p) < 4 * (p * (1 - p) / n2) ** 0.5
    # p_halt = 1: nobody moves; p_halt = 0: nobody halts on a graph without dead ends
    assert bool((repelling_walks(karate, 0, 4, 3, p_halt=1.0)[0, :, 1:] == -1).all())
    assert bool((repelling_walks(karate, 0, 4, 3, p_halt=0.0)[0] >= 0).all())


def test_antithetic_pairs(karate):
    start = torch.arange(34).repeat(30)
    w = repelling_walks(karate, start, 8, 1, p_halt=0.5, antithetic=True, generator=gen(6))
    halted = w[:, :, 1] == -1
    assert bool((halted[:, 0::2] ^ halted[:, 1::2]).all()), "p=0.5: exactly one of a pair halts"
    p = 0.3
    w = repelling_walks(karate, start, 8, 1, p_halt=p, antithetic=True, generator=gen(7))
    halted = w[:, :, 1] == -1
    assert not bool((halted[:, 0::2] & halted[:, 1::2]).any()), "p<=0.5: never both halt"
    n = halted.numel()
    assert abs(float(halted.float().mean()) - p) < 4 * (p * (1 - p) / n) ** 0.5


def test_same_seed_same_walks(karate):
    kw = dict(p_halt=0.2, antithetic=True)
    a = repelling_walks(karate, torch.arange(34), 6, 8, generator=gen(42), **kw)
    b = repelling_walks(karate, torch.arange(34), 6, 8, generator=gen(42), **kw)
    c = repelling_walks(karate, torch.arange(34), 6, 8, generator=gen(43), **kw)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    ka = grf_kernel_estimate(karate, 4, generator=gen(1))
    assert torch.equal(ka, grf_kernel_estimate(karate, 4, generator=gen(1)))


def test_bad_inputs(karate):
    with pytest.raises(ValueError, match="p_halt"):
        repelling_walks(karate, 0, 2, 3, p_halt=1.5)
    with pytest.raises(ValueError, match="p_halt"):
        repelling_walks(karate, 0, 2, 3, p_halt=-0.1)
    with pytest.raises(ValueError, match="num_walkers"):
        repelling_walks(karate, 0, 0, 3)
    with pytest.raises(TypeError, match="num_walkers"):
        repelling_walks(karate, 0, 2.0, 3)
    with pytest.raises(ValueError, match="length"):
        repelling_walks(karate, 0, 2, -1)
    with pytest.raises(ValueError, match="start"):
        repelling_walks(karate, 34, 2, 3)
    with pytest.raises(ValueError, match="start"):
        repelling_walks(karate, torch.tensor([0, 40]), 2, 3)
    with pytest.raises(TypeError, match="start"):
        repelling_walks(karate, torch.tensor([0.0]), 2, 3)
    with pytest.raises(TypeError, match="graph"):
        repelling_walks(torch.tensor([[0, 1], [1, 0]]), 0, 2, 3)
    with pytest.raises(ValueError, match="even"):
        repelling_walks(karate, 0, 3, 3, p_halt=0.5, antithetic=True)
    with pytest.raises(TypeError, match="generator"):
        repelling_walks(karate, 0, 2, 3, generator=0)
    with pytest.raises(ValueError, match="ensemble"):
        walk_ensemble(karate, 0, 2, 3, ensemble="qmc")
    with pytest.raises(ValueError, match="ensemble"):
        grf_features(karate, 2, ensemble="sobol")
    with pytest.raises(ValueError, match="sigma"):
        grf_features(karate, 2, sigma=0.0)
    with pytest.raises(ValueError, match="p_halt"):
        grf_features(karate, 2, p_halt=0.0)
    with pytest.raises(ValueError, match="even"):
        grf_features(karate, 3, ensemble="antithetic")
    with pytest.raises(ValueError, match="undirected"):
        grf_features(CSRGraph.from_edge_index(torch.tensor([[0], [1]])), 2)
    with pytest.raises(ValueError, match="diagonal"):
        grf_kernel_estimate(karate, 2, diagonal="none")
    with pytest.raises(ValueError, match="alpha"):
        pagerank_estimate(karate, 2, alpha=1.0)
    with pytest.raises(ValueError, match="estimator"):
        pagerank_estimate(karate, 2, estimator="mean")
    with pytest.raises(ValueError, match="coupling"):
        pagerank_estimate(karate, 2, coupling="pairs")


# -------------------------------------------------------------- exact targets
def test_exact_kernel_matches_dense_reference():
    g_nx = nx.les_miserables_graph()
    g_nx = nx.convert_node_labels_to_integers(g_nx)
    ei = torch.tensor(list(g_nx.edges())).T
    w = torch.tensor([g_nx.edges[e]["weight"] for e in g_nx.edges()], dtype=torch.float64)
    for weighted in (False, True):
        g = CSRGraph.from_edge_index(ei, 77, w if weighted else None, undirected=True)
        lap = nx.normalized_laplacian_matrix(g_nx, weight="weight" if weighted else None)
        inv = np.linalg.inv(np.eye(77) + 0.25 * lap.toarray())
        ref = inv @ inv
        got = exact_regularised_laplacian_kernel(g, 0.5).numpy()
        assert np.allclose(got, ref, atol=1e-12)


def test_exact_pagerank_matches_networkx():
    g_nx = nx.karate_club_graph()
    got = exact_pagerank(from_nx(g_nx), 0.85)
    ref = nx.pagerank(g_nx, alpha=0.85, weight=None, tol=1e-13)
    assert np.allclose(got.numpy(), [ref[i] for i in range(34)], atol=1e-9)
    d_nx = nx.DiGraph([(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (1, 4)])  # node 4 dangling
    g = CSRGraph.from_edge_index(torch.tensor(list(d_nx.edges())).T, 5)
    ref = nx.pagerank(d_nx, alpha=0.7, tol=1e-13)
    assert np.allclose(exact_pagerank(g, 0.7).numpy(), [ref[i] for i in range(5)], atol=1e-9)


# ----------------------------------------------------------------- unbiasedness
def _assert_unbiased(draws: torch.Tensor, exact: torch.Tensor, z_max: float = 5.0) -> None:
    mean = draws.mean(0)
    se = draws.std(0) / draws.size(0) ** 0.5
    z = (mean - exact).abs() / (se + 1e-12)
    assert float(z.max()) < z_max, f"max z-score {float(z.max()):.2f}"


@pytest.mark.parametrize("ensemble", ["iid", "repelling", "repelling+antithetic"])
def test_grf_kernel_unbiased(ensemble):
    g = small_graph()
    exact = exact_regularised_laplacian_kernel(g, 0.5)
    draws = grf_kernel_estimate(g, 4, ensemble=ensemble, num_draws=3000, generator=gen(11))
    _assert_unbiased(draws, exact)
    # plain Phi Phi^T is unbiased off the diagonal only (diagonal biased up by Var)
    same = grf_kernel_estimate(g, 4, ensemble=ensemble, diagonal="same", num_draws=3000,
                               generator=gen(12))
    off = ~torch.eye(7, dtype=torch.bool)
    _assert_unbiased(same[:, off], exact[off])
    assert bool((same.mean(0).diagonal() > exact.diagonal()).all())


def test_grf_features_unbiased_weighted():
    g0 = small_graph()
    w = torch.tensor([1.0, 2.0, 0.5, 3.0, 1.5, 1.0, 0.7, 2.5], dtype=torch.float64)
    ei = g0.to_edge_index()
    ei = ei[:, ei[0] < ei[1]]
    g = CSRGraph.from_edge_index(ei, 7, w, undirected=True)
    # E[Phi] = c (I - U)^-1, symmetric positive definite, so it is the square root of K
    k = exact_regularised_laplacian_kernel(g, 0.5)
    evals, evecs = torch.linalg.eigh(k)
    expected_phi = evecs @ torch.diag(evals.sqrt()) @ evecs.T  # K^(1/2) = c (I - U)^-1
    draws = grf_features(g, 4, num_draws=3000, generator=gen(100))
    _assert_unbiased(draws, expected_phi)


def test_pagerank_unbiased_with_dangling_node():
    d_nx = nx.DiGraph([(0, 1), (1, 2), (2, 0), (2, 3), (3, 4), (1, 4), (4, 4)])
    d_nx.remove_edge(4, 4)  # node 4 dangling: walkers teleport uniformly
    g = CSRGraph.from_edge_index(torch.tensor(list(d_nx.edges())).T, 5)
    exact = exact_pagerank(g, 0.8)
    for est, cp in [("visits", "per_start"), ("terminal", "per_start"), ("visits", "global")]:
        draws = pagerank_estimate(g, 4, alpha=0.8, estimator=est, coupling=cp,
                                  num_draws=3000, generator=gen(21))
        _assert_unbiased(draws, exact)


# ------------------------------------------------------------ variance reduction
def test_repelling_beats_iid_on_karate(karate):
    exact = exact_regularised_laplacian_kernel(karate, 0.5)
    err = {}
    for ens in ("iid", "repelling"):
        draws = grf_kernel_estimate(karate, 8, ensemble=ens, num_draws=100, generator=gen(0))
        err[ens] = float(relative_frobenius_error(draws, exact).mean())
    assert err["repelling"] < 0.9 * err["iid"], err
    pr = exact_pagerank(karate)
    l1 = {}
    for ens in ("iid", "repelling"):
        draws = pagerank_estimate(karate, 8, ensemble=ens, coupling="global", num_draws=100,
                                  generator=gen(0))
        l1[ens] = float((draws - pr).abs().sum(-1).mean())
    assert l1["repelling"] < 0.9 * l1["iid"], l1


# ------------------------------------------------------------------------ CUDA
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_walks_and_estimators():
    dev = torch.device("cuda")
    g = from_nx(nx.karate_club_graph()).to(dev)

    def cgen(seed):
        return torch.Generator(device=dev).manual_seed(seed)

    w = repelling_walks(g, torch.zeros(500, dtype=torch.long, device=dev), 16, 6, p_halt=0.1,
                        generator=cgen(0))
    assert w.device.type == "cuda"
    nxt = w[:, :, 1]
    srt = nxt.sort(dim=1).values  # 16 walkers on node 0 (degree 16): no two share a node
    assert bool(((srt[:, 1:] != srt[:, :-1]) | (srt[:, 1:] < 0)).all())
    w0 = repelling_walks(g, torch.zeros(500, dtype=torch.long, device=dev), 16, 1,
                         generator=cgen(3))
    assert bool((w0[:, :, 1].sort(dim=1).values == g.neighbors(0)).all())
    u, v = w[:, :, :-1].reshape(-1), w[:, :, 1:].reshape(-1)
    moved = (u >= 0) & (v >= 0)
    assert bool(g.has_edge(u[moved], v[moved]).all())
    assert torch.equal(w, repelling_walks(g, torch.zeros(500, dtype=torch.long, device=dev), 16,
                                          6, p_halt=0.1, generator=cgen(0)))
    sg = small_graph().to(dev)
    exact = exact_regularised_laplacian_kernel(sg, 0.5)
    draws = grf_kernel_estimate(sg, 4, num_draws=3000, generator=cgen(1))
    assert draws.device.type == "cuda"
    _assert_unbiased(draws, exact)
    pr = pagerank_estimate(sg, 4, coupling="global", num_draws=3000, generator=cgen(2))
    _assert_unbiased(pr, exact_pagerank(sg))
    with pytest.raises(ValueError, match="generator"):
        repelling_walks(g, 0, 2, 3, generator=torch.Generator())
