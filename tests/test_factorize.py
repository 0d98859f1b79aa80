"""Rao-Blackwellised co-occurrence counts, the dense shifted PPMI and their use in ppmi_embedding."""

from __future__ import annotations

import pytest
import torch

import graphcl.embed.skipgram as skipgram
from graphcl.embed import DeepWalk, Node2Vec, cooccurrence_counts, unigram_distribution
from graphcl.embed.factorize import ppmi_embedding, shifted_ppmi, shifted_ppmi_matrix
from graphcl.embed.skipgram import cooccurrence_matrix
from graphcl.sparse import normalized_adjacency, randomized_svd
from graphcl.walks import walks_per_node


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _graph() -> tuple[torch.Tensor, int]:
    # 6 nodes: a triangle 0-1-2, a path 2-3-4, 4-5 and 5-0 (undirected, unequal degrees)
    und = [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4), (4, 5), (5, 0)]
    src = [a for a, b in und] + [b for a, b in und]
    dst = [b for a, b in und] + [a for a, b in und]
    return torch.tensor([src, dst]), 6


def _walks(num: int = 3, length: int = 6, seed: int = 0) -> torch.Tensor:
    ei, n = _graph()
    from graphcl.graph import CSRGraph

    return walks_per_node(CSRGraph.from_edge_index(ei, n), num, length, generator=_gen(seed))


def _brute_force(walks: torch.Tensor, n: int, window: int, shrink: bool,
                 P: torch.Tensor | None) -> torch.Tensor:
    """Loop reference: forward pair (w[t], w[t+o]) -> weight * (e_{w[t+o]} or P[w[t+o-1]])."""
    F = torch.zeros(n, n, dtype=torch.float64)
    for w in walks.tolist():
        for t in range(len(w)):
            for o in range(1, window + 1):
                if t + o >= len(w) or w[t] < 0 or w[t + o] < 0:
                    continue
                wt = (window - o + 1) / window if shrink else 1.0
                if P is None:
                    F[w[t], w[t + o]] += wt
                else:
                    F[w[t]] += wt * P[w[t + o - 1]]
    return F + F.t()


@pytest.mark.parametrize("shrink", [True, False])
def test_dense_counts_equal_sparse_counts_and_loop(shrink):
    walks = _walks()
    walks[1, 4:] = -1  # a walker that stopped
    n = 6
    C = cooccurrence_matrix(walks, n, 3, shrink_window=shrink)
    c, o, w = cooccurrence_counts(walks, n, 3, shrink_window=shrink)
    ref = torch.zeros(n, n, dtype=torch.float64)
    ref[c, o] = w
    assert torch.equal(C, ref)
    assert torch.allclose(C, _brute_force(walks, n, 3, shrink, None), atol=1e-12)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta")
@pytest.mark.parametrize("shrink", [True, False])
@pytest.mark.parametrize("layout", ["csr", "coo", "dense"])
def test_rao_blackwell_counts_equal_loop_reference(shrink, layout):
    ei, n = _graph()
    walks = _walks(num=4, length=7, seed=1)
    walks[2, 5:] = -1
    P = normalized_adjacency(ei, n, kind="rw", layout="coo").to(torch.float64)
    Pd = P.to_dense()
    Pin = {"coo": P, "csr": P.to_sparse_csr(), "dense": Pd}[layout]
    C = cooccurrence_matrix(walks, n, 4, shrink_window=shrink, transition=Pin)
    assert torch.allclose(C, _brute_force(walks, n, 4, shrink, Pd), atol=1e-12)
    # the total weight is that of the sampled counts (every pair spread over a P row)
    assert torch.allclose(C.sum(), cooccurrence_matrix(walks, n, 4, shrink_window=shrink).sum())


def test_rao_blackwell_equals_sampled_for_a_deterministic_walk():
    # directed cycle 0 -> 1 -> 2 -> 3 -> 0: the next node is known, so RB changes nothing
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 0]])
    from graphcl.graph import CSRGraph

    walks = walks_per_node(CSRGraph.from_edge_index(ei, 4), 2, 9, generator=_gen(0))
    P = normalized_adjacency(ei, 4, kind="rw", layout="csr").to(torch.float64)
    assert torch.allclose(cooccurrence_matrix(walks, 4, 5, transition=P),
                          cooccurrence_matrix(walks, 4, 5), atol=1e-12)


def test_rao_blackwell_has_the_sampled_expectation_and_less_variance():
    ei, n = _graph()
    from graphcl.graph import CSRGraph

    g = CSRGraph.from_edge_index(ei, n)
    P = normalized_adjacency(ei, n, kind="rw", layout="csr").to(torch.float64)
    sampled, rb = [], []
    for seed in range(200):
        w = walks_per_node(g, 2, 5, generator=_gen(seed))
        sampled.append(cooccurrence_matrix(w, n, 3))
        rb.append(cooccurrence_matrix(w, n, 3, transition=P))
    s, r = torch.stack(sampled), torch.stack(rb)
    # same mean (within 4 standard errors of the difference), smaller total variance
    se = ((s - r).var(0) / s.size(0)).sqrt().clamp(min=1e-9)
    assert bool(((s.mean(0) - r.mean(0)).abs() <= 4 * se + 1e-9).all())
    assert float(r.var(0).sum()) < 0.7 * float(s.var(0).sum())


def test_dense_shifted_ppmi_equals_sparse_version():
    walks = _walks(num=5, length=8)
    n = 6
    noise = unigram_distribution(walks, n)
    c, o, w = cooccurrence_counts(walks, n, 3)
    for b in (1, 2):
        ref = shifted_ppmi(c, o, w, n, noise, b, dtype=torch.float64).to_dense()
        L = shifted_ppmi_matrix(cooccurrence_matrix(walks, n, 3), noise, b, dtype=torch.float64)
        assert L.layout == torch.sparse_csr
        assert torch.allclose(L.to_dense(), ref, atol=1e-12)


def test_dense_shifted_ppmi_hand_computed_and_row_blocks(monkeypatch):
    C = torch.tensor([[0.0, 3.0, 1.0], [3.0, 0.0, 0.0], [1.0, 0.0, 2.0]])
    noise = torch.tensor([1.0, 2.0, 1.0])
    expect = torch.zeros(3, 3, dtype=torch.float64)
    rs, pn = C.double().sum(1), noise.double() / 4
    for i in range(3):
        for j in range(3):
            if C[i, j] > 0:
                expect[i, j] = max(torch.log(C[i, j].double() / (rs[i] * pn[j])).item(), 0.0)
    monkeypatch.setattr("graphcl.embed.factorize._PMI_BLOCK", 2)  # one row per block
    L = shifted_ppmi_matrix(C, noise, 1, dtype=torch.float64)
    assert torch.allclose(L.to_dense(), expect, atol=1e-12)


def test_ppmi_embedding_rao_blackwell_is_the_svd_of_its_matrix_and_deterministic():
    ei, n = _graph()
    walks = _walks(num=6, length=8)
    P = normalized_adjacency(ei, n, kind="rw", layout="csr")
    z = ppmi_embedding(walks, n, dim=3, window=3, negative=1, counts="rao_blackwell",
                       transition=P, dtype=torch.float64, generator=_gen(0))
    L = shifted_ppmi_matrix(cooccurrence_matrix(walks, n, 3, transition=P, dtype=torch.float64),
                            unigram_distribution(walks, n), 1, dtype=torch.float64)
    U, S, _ = randomized_svd(L, 3, niter=5, generator=_gen(0), oversample=10)
    assert torch.allclose(z, U * S.sqrt(), atol=1e-10)
    z2 = ppmi_embedding(walks, n, dim=3, window=3, negative=1, counts="rao_blackwell",
                        transition=P, dtype=torch.float64, generator=_gen(0))
    assert torch.equal(z, z2)
    zn = ppmi_embedding(walks, n, dim=3, window=3, negative=1, counts="rao_blackwell",
                        transition=P, dtype=torch.float64, generator=_gen(0), normalize=True)
    assert torch.allclose(zn, torch.nn.functional.normalize(z, dim=1), atol=1e-12)
    assert torch.allclose(zn.norm(dim=1), torch.ones(n, dtype=torch.float64), atol=1e-10)


def test_estimator_rao_blackwell_uses_the_walkers_transition():
    ei, n = _graph()
    kw = dict(dim=3, walks_per_node=4, walk_length=6, window=3, negative=1, trainer="ppmi",
              progress=False, seed=2)
    m = DeepWalk(**kw, ppmi_counts="rao_blackwell", ppmi_ns_exponent=1.0).fit(ei, num_nodes=n,
                                                                             keep_walks=True)
    P = normalized_adjacency(ei, n, kind="rw", layout="csr")
    z = ppmi_embedding(m.walks_, n, dim=3, window=3, negative=1, counts="rao_blackwell",
                       transition=P, ns_exponent=1.0, generator=_gen(3))
    assert torch.allclose(m.embedding_, z, atol=1e-6)
    # defaults unchanged: the sampled path
    d = DeepWalk(**kw).fit(ei, num_nodes=n, keep_walks=True)
    assert torch.equal(d.embedding_, ppmi_embedding(d.walks_, n, dim=3, window=3, negative=1,
                                                    generator=_gen(3)))


def test_bad_arguments(monkeypatch):
    ei, n = _graph()
    walks = _walks()
    P = normalized_adjacency(ei, n, kind="rw", layout="csr")
    with pytest.raises(ValueError, match="needs transition"):
        ppmi_embedding(walks, n, dim=2, counts="rao_blackwell")
    with pytest.raises(ValueError, match="sample=0"):
        ppmi_embedding(walks, n, dim=2, counts="rao_blackwell", transition=P, sample=1e-3)
    with pytest.raises(ValueError, match="only with counts='rao_blackwell'"):
        ppmi_embedding(walks, n, dim=2, transition=P)
    with pytest.raises(ValueError, match="counts must be one of"):
        ppmi_embedding(walks, n, dim=2, counts="exact")
    with pytest.raises(TypeError, match="normalize must be a bool"):
        ppmi_embedding(walks, n, dim=2, normalize=1)
    with pytest.raises(ValueError, match=r"transition must be a floating \[6, 6\]"):
        cooccurrence_matrix(walks, n, 2, transition=torch.ones(5, 5))
    with pytest.raises(TypeError, match="transition must be a torch.Tensor"):
        cooccurrence_matrix(walks, n, 2, transition=[[1.0]])
    with pytest.raises(TypeError, match="dtype must be a floating"):
        cooccurrence_matrix(walks, n, 2, dtype=torch.int64)
    monkeypatch.setattr(skipgram, "_DENSE_MATRIX_LIMIT", 30)
    with pytest.raises(ValueError, match="num_nodes=6: a dense"):
        cooccurrence_matrix(walks, n, 2)
    with pytest.raises(ValueError, match="counts must be non-negative"):
        shifted_ppmi_matrix(-torch.ones(2, 2), torch.ones(2), 1)
    with pytest.raises(ValueError, match="dense square matrix"):
        shifted_ppmi_matrix(torch.ones(2, 3), torch.ones(2), 1)
    with pytest.raises(ValueError, match="noise is zero at a context node"):
        shifted_ppmi_matrix(torch.ones(2, 2), torch.tensor([1.0, 0.0]), 1)
    with pytest.raises(ValueError, match="negative must be a finite number > 0"):
        shifted_ppmi_matrix(torch.ones(2, 2), torch.ones(2), 0)
    with pytest.raises(ValueError, match="needs q = 1"):
        Node2Vec(trainer="ppmi", p=0.5, q=2.0, ppmi_counts="rao_blackwell", progress=False)
    with pytest.raises(ValueError, match="ppmi_counts must be"):
        DeepWalk(trainer="ppmi", ppmi_counts="dense", progress=False)
    with pytest.raises(ValueError, match="ppmi_ns_exponent must be"):
        DeepWalk(trainer="ppmi", ppmi_ns_exponent=-1, progress=False)
    with pytest.raises(TypeError, match="ppmi_normalize must be a bool"):
        DeepWalk(trainer="ppmi", ppmi_normalize="yes", progress=False)


# --- second-order (node2vec, q = 1) Rao-Blackwellisation ------------------------------------


def _n2v_graph(weighted: bool, directed_dead_end: bool = False):
    """5 nodes: triangle 0-1-2, path 2-3-4 (node 4 has degree 1); optionally a node 5 reached
    by the directed edge 3 -> 5 only (a dead end). Returns (edge_index, weights, n)."""
    und = [(0, 1), (1, 2), (0, 2), (2, 3), (3, 4)]
    wts = [1.0, 2.0, 0.5, 3.0, 1.5] if weighted else [1.0] * len(und)
    src = [a for a, b in und] + [b for a, b in und]
    dst = [b for a, b in und] + [a for a, b in und]
    w = wts + wts
    n = 5
    if directed_dead_end:
        src, dst, w, n = src + [3], dst + [5], w + [2.0], 6
    return torch.tensor([src, dst]), torch.tensor(w, dtype=torch.float64), n


def _enumerate_n2v_walks(ei, w, n, length, p, q):
    """Every node2vec walk of ``length`` steps from every start node with its exact probability,
    from the definition Pr(x | u, v) ~ alpha(u, x) w(v, x) (not from the counting formula)."""
    out = {i: {} for i in range(n)}
    for a, b, c in zip(ei[0].tolist(), ei[1].tolist(), w.tolist()):
        out[a][b] = out[a].get(b, 0.0) + c
    walks, probs = [], []

    def extend(walk, prob):
        if len(walk) == length + 1:
            walks.append(walk)
            probs.append(prob)
            return
        v = walk[-1]
        if v < 0 or not out[v]:  # dead end: the walk stops, padded with -1
            extend(walk + [-1], prob)
            return
        if len(walk) == 1:
            alpha = {x: 1.0 for x in out[v]}
        else:
            u = walk[-2]
            alpha = {x: 1.0 / p if x == u else (1.0 if x in out[u] else 1.0 / q) for x in out[v]}
        z = sum(alpha[x] * out[v][x] for x in out[v])
        for x in out[v]:
            extend(walk + [x], prob * alpha[x] * out[v][x] / z)

    for s0 in range(n):
        extend([s0], 1.0)
    return torch.tensor(walks), torch.tensor(probs, dtype=torch.float64)


def _transition(ei, w, n):
    return normalized_adjacency(ei, n, w, kind="rw", layout="csr").to(torch.float64)


@pytest.mark.parametrize("weighted,dead_end", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("p", [0.25, 4.0])
def test_second_order_rao_blackwell_has_the_exact_expectation(weighted, dead_end, p):
    ei, w, n = _n2v_graph(weighted, dead_end)
    walks, prob = _enumerate_n2v_walks(ei, w, n, 4, p, 1.0)
    assert abs(float(prob.sum()) - n) < 1e-12  # one unit of probability per start node
    P = _transition(ei, w, n)
    for window, shrink in ((2, True), (3, False)):
        sampled = torch.zeros(n, n, dtype=torch.float64)
        rb = torch.zeros(n, n, dtype=torch.float64)
        for walk, pr in zip(walks, prob):
            sampled += pr * cooccurrence_matrix(walk[None], n, window, shrink_window=shrink)
            rb += pr * cooccurrence_matrix(walk[None], n, window, shrink_window=shrink,
                                           transition=P, p=p)
        assert torch.allclose(rb, sampled, atol=1e-10, rtol=0)
        # the first-order counts (p ignored) have a different expectation for these walks
        fo = sum(pr * cooccurrence_matrix(walk[None], n, window, shrink_window=shrink,
                                          transition=P) for walk, pr in zip(walks, prob))
        assert float((fo - sampled).abs().max()) > 1e-3


def test_second_order_dense_and_sparse_transition_agree_and_batch_equals_sum():
    ei, w, n = _n2v_graph(True, True)
    walks, _ = _enumerate_n2v_walks(ei, w, n, 4, 0.5, 1.0)
    P = _transition(ei, w, n)
    sparse = cooccurrence_matrix(walks, n, 3, transition=P, p=0.5)
    dense = cooccurrence_matrix(walks, n, 3, transition=P.to_dense(), p=0.5)
    coo = cooccurrence_matrix(walks, n, 3, transition=P.to_sparse_coo(), p=0.5)
    one_by_one = sum(cooccurrence_matrix(x[None], n, 3, transition=P, p=0.5) for x in walks)
    assert torch.allclose(sparse, dense, atol=1e-12)
    assert torch.allclose(coo, dense, atol=1e-12)
    assert torch.allclose(sparse, one_by_one, atol=1e-10)
    # float32 output: same values to float32 precision
    f32 = cooccurrence_matrix(walks, n, 3, transition=P.float(), p=0.5, dtype=torch.float32)
    assert f32.dtype == torch.float32 and torch.allclose(f32.double(), dense, rtol=1e-5)


def test_second_order_with_p_one_is_the_first_order_path():
    ei, w, n = _n2v_graph(True)
    P = _transition(ei, w, n)
    walks = _walks(3, 6)[:, :5] % n
    first = cooccurrence_matrix(walks, n, 3, transition=P)
    assert torch.equal(cooccurrence_matrix(walks, n, 3, transition=P, p=1.0, q=1.0), first)
    # the second-order code itself reduces to the first-order counts at p = 1 (point mass 0)
    fwd = skipgram._second_order_counts(walks, n, 3, True, P, 1.0, torch.float64)
    second = (fwd + fwd.t()) / 3  # symmetrised and shrink-window scaled, as cooccurrence_matrix does
    assert torch.allclose(second, first, atol=1e-12)


def test_second_order_mean_of_real_walks_matches_sampled_and_has_less_variance():
    from graphcl.graph import CSRGraph

    ei, w, n = _n2v_graph(False)
    g = CSRGraph.from_edge_index(ei, n)
    P = _transition(ei, w, n)
    sampled, rb = [], []
    for seed in range(200):
        wk = walks_per_node(g, 2, 5, p=0.25, q=1.0, generator=_gen(seed))
        sampled.append(cooccurrence_matrix(wk, n, 3))
        rb.append(cooccurrence_matrix(wk, n, 3, transition=P, p=0.25))
    s, r = torch.stack(sampled), torch.stack(rb)
    se = ((s - r).var(0) / s.size(0)).sqrt().clamp(min=1e-9)
    assert bool(((s.mean(0) - r.mean(0)).abs() <= 4 * se + 1e-9).all())
    assert float(r.var(0).sum()) < 0.7 * float(s.var(0).sum())
    # and both agree with the exact expectation of the enumerated walks (2 walks per node)
    walks, prob = _enumerate_n2v_walks(ei, w, n, 5, 0.25, 1.0)
    exact = 2 * sum(pr * cooccurrence_matrix(x[None], n, 3) for x, pr in zip(walks, prob))
    se_r = (r.var(0) / r.size(0)).sqrt().clamp(min=1e-9)
    assert bool(((r.mean(0) - exact).abs() <= 4 * se_r + 1e-9).all())


def test_second_order_deterministic_and_estimator_passes_p():
    ei, w, n = _n2v_graph(False)
    P = _transition(ei, w, n)
    walks = _walks(3, 6)[:, :5] % n
    a = cooccurrence_matrix(walks, n, 3, transition=P, p=0.25)
    assert torch.equal(a, cooccurrence_matrix(walks, n, 3, transition=P, p=0.25))
    kw = dict(dim=3, walks_per_node=4, walk_length=6, window=3, negative=1, trainer="ppmi",
              progress=False, seed=2, p=0.25, q=1.0, ppmi_counts="rao_blackwell")
    m = Node2Vec(**kw).fit(ei, num_nodes=n, keep_walks=True)
    Pf = normalized_adjacency(ei, n, kind="rw", layout="csr")
    z = ppmi_embedding(m.walks_, n, dim=3, window=3, negative=1, counts="rao_blackwell",
                       transition=Pf, p=0.25, generator=_gen(3))
    assert torch.allclose(m.embedding_, z, atol=1e-6)
    assert torch.equal(m.embedding_, Node2Vec(**kw).fit(ei, num_nodes=n).embedding_)
    z1 = ppmi_embedding(m.walks_, n, dim=3, window=3, negative=1, counts="rao_blackwell",
                        transition=Pf, generator=_gen(3))
    assert not torch.allclose(z1.abs(), z.abs(), atol=1e-3)  # p changes the matrix


def test_second_order_bad_arguments():
    ei, w, n = _n2v_graph(False)
    P = _transition(ei, w, n)
    walks = _walks(3, 6)[:, :5] % n
    with pytest.raises(ValueError, match="q must be 1 for Rao-Blackwellised counts"):
        cooccurrence_matrix(walks, n, 2, transition=P, p=0.5, q=2.0)
    with pytest.raises(ValueError, match="p and q are used only with transition"):
        cooccurrence_matrix(walks, n, 2, p=0.5)
    with pytest.raises(ValueError, match="p and q are used only with transition"):
        cooccurrence_matrix(walks, n, 2, q=0.5)
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="p must be a finite number > 0"):
            cooccurrence_matrix(walks, n, 2, transition=P, p=bad)
    for bad in (True, "1"):
        with pytest.raises(TypeError, match="p must be a number"):
            cooccurrence_matrix(walks, n, 2, transition=P, p=bad)
    with pytest.raises(ValueError, match="p and q are used only with counts='rao_blackwell'"):
        ppmi_embedding(walks, n, dim=2, p=0.5)
    with pytest.raises(ValueError, match="q must be 1"):
        ppmi_embedding(walks, n, dim=2, counts="rao_blackwell", transition=P.float(), q=4.0)
