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
    with pytest.raises(ValueError, match="negative must be a positive number"):
        shifted_ppmi_matrix(torch.ones(2, 2), torch.ones(2), 0)
    with pytest.raises(ValueError, match="first-order walks"):
        Node2Vec(trainer="ppmi", p=0.5, ppmi_counts="rao_blackwell", progress=False)
    with pytest.raises(ValueError, match="ppmi_counts must be"):
        DeepWalk(trainer="ppmi", ppmi_counts="dense", progress=False)
    with pytest.raises(ValueError, match="ppmi_ns_exponent must be"):
        DeepWalk(trainer="ppmi", ppmi_ns_exponent=-1, progress=False)
    with pytest.raises(TypeError, match="ppmi_normalize must be a bool"):
        DeepWalk(trainer="ppmi", ppmi_normalize="yes", progress=False)
