import pytest
import torch

from graphcl.graph import CSRGraph
from graphcl.validation import (
    check_edge_index,
    check_edge_weight,
    check_features,
    check_fraction,
    check_generator,
    check_node_ids,
    check_positive_int,
    check_probability,
)


def random_graph(n=30, e=120, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, n, (2, e), generator=g), n


def test_csr_matches_dense_adjacency():
    ei, n = random_graph()
    g = CSRGraph.from_edge_index(ei, n)
    dense = torch.zeros(n, n, dtype=torch.bool)
    dense[ei[0], ei[1]] = True
    assert g.num_edges == int(dense.sum())
    assert torch.equal(g.degree, dense.sum(1))
    for u in range(n):
        nb = g.neighbors(u)
        assert torch.equal(nb, dense[u].nonzero().flatten())  # sorted, duplicates merged
    # vectorised membership for all pairs at once
    uu, xx = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    assert torch.equal(g.has_edge(uu.flatten(), xx.flatten()).view(n, n), dense)
    assert torch.equal(g.to_edge_index(), dense.nonzero().t())


def test_duplicates_weights_selfloops_isolated():
    ei = torch.tensor([[0, 0, 1, 2, 2], [1, 1, 0, 2, 0]])
    w = torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0])
    g = CSRGraph.from_edge_index(ei, num_nodes=5, edge_weight=w)
    assert g.num_edges == 4  # duplicate (0,1) merged
    assert g.weight.tolist() == [3.0, 3.0, 5.0, 4.0]  # summed; self-loop (2,2) kept
    assert g.degree.tolist() == [1, 1, 2, 0, 0]  # nodes 3 and 4 isolated
    assert g.weighted_degree.tolist() == [3.0, 3.0, 9.0, 0.0, 0.0]
    unweighted = CSRGraph.from_edge_index(ei, num_nodes=5)
    assert unweighted.weight is None and unweighted.num_edges == 4


def test_directed_and_undirected():
    ei = torch.tensor([[0, 1], [1, 2]])
    g = CSRGraph.from_edge_index(ei)
    assert not g.is_symmetric()
    assert g.degree.tolist() == [1, 1, 0]
    gu = CSRGraph.from_edge_index(ei, undirected=True)
    assert gu.is_symmetric() and gu.degree.tolist() == [1, 2, 1]


def test_has_edge_padding_and_empty():
    g = CSRGraph.from_edge_index(torch.tensor([[0], [1]]), num_nodes=2)
    assert g.has_edge(torch.tensor([-1, 0]), torch.tensor([1, -1])).tolist() == [False, False]
    empty = CSRGraph.from_edge_index(torch.empty(2, 0, dtype=torch.long), num_nodes=3)
    assert empty.degree.tolist() == [0, 0, 0]
    assert not empty.has_edge(torch.tensor([0]), torch.tensor([1])).any()


def test_to_device_and_scipy():
    ei, n = random_graph()
    g = CSRGraph.from_edge_index(ei, n)
    assert g.to("cpu") is g
    m = g.to_scipy()
    assert m.nnz == g.num_edges and m.shape == (n, n)


def test_from_scipy_equals_from_edge_index():
    import numpy as np
    import scipy.sparse as sp

    ei, n = random_graph()
    w = torch.rand(ei.size(1), generator=torch.Generator().manual_seed(5)) + 0.5
    ref = CSRGraph.from_edge_index(ei, n, w)  # duplicates summed
    m = sp.coo_matrix((w.numpy(), (ei[0].numpy(), ei[1].numpy())), shape=(n, n))  # unsorted, duplicates
    g = CSRGraph.from_scipy(m)
    assert g.is_weighted and g.num_nodes == n
    assert torch.equal(g.rowptr, ref.rowptr) and torch.equal(g.col, ref.col)
    assert torch.allclose(g.weight, ref.weight)
    assert torch.equal(g.keys, ref.keys)
    # all-ones values give an unweighted graph; explicit zeros are not edges
    ones = sp.csr_matrix((np.ones(3), ([0, 1, 2], [1, 2, 0])), shape=(4, 4))
    ones.data[2] = 0.0
    u = CSRGraph.from_scipy(ones)
    assert not u.is_weighted and u.degree.tolist() == [1, 1, 0, 0]
    assert CSRGraph.from_scipy(sp.eye(3) * 2).weight.tolist() == [2.0, 2.0, 2.0]
    assert not CSRGraph.from_scipy(sp.eye(3) * 2, weighted=False).is_weighted


@pytest.mark.parametrize(
    "m, kwargs, exc, match",
    [
        ([[0, 1], [1, 0]], {}, TypeError, "scipy.sparse"),
        ("rect", {}, ValueError, "square"),
        ("neg", {}, ValueError, "negative"),
        ("nan", {}, ValueError, "NaN"),
        ("ok", {"weighted": 1}, TypeError, "weighted"),
    ],
)
def test_from_scipy_bad_input(m, kwargs, exc, match):
    import numpy as np
    import scipy.sparse as sp

    mats = {"rect": sp.csr_matrix((2, 3)), "neg": sp.csr_matrix(np.array([[0.0, -1.0], [1.0, 0.0]])),
            "nan": sp.csr_matrix(np.array([[0.0, np.nan], [1.0, 0.0]])), "ok": sp.eye(2, format="csr")}
    with pytest.raises(exc, match=match):
        CSRGraph.from_scipy(mats.get(m, m) if isinstance(m, str) else m, **kwargs)


@pytest.mark.parametrize(
    "ei, kwargs, exc, match",
    [
        ([[0, 1], [1, 0]], {}, TypeError, "torch.Tensor"),
        (torch.tensor([[0.0, 1.0], [1.0, 0.0]]), {}, TypeError, "integer"),
        (torch.tensor([0, 1, 2]), {}, ValueError, r"shape \[2, E\]"),
        (torch.tensor([[0, -1], [1, 0]]), {}, ValueError, "negative node id -1"),
        (torch.tensor([[0, 5], [1, 0]]), {"num_nodes": 3}, ValueError, "5 >= num_nodes=3"),
    ],
)
def test_bad_edge_index(ei, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        CSRGraph.from_edge_index(ei, **kwargs)


def test_bad_weights_and_features():
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="edge_weight contains NaN"):
        CSRGraph.from_edge_index(ei, edge_weight=torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="negative weights"):
        CSRGraph.from_edge_index(ei, edge_weight=torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        check_edge_weight(torch.ones(3), 2)
    with pytest.raises(ValueError, match="x has 3 rows but the graph has num_nodes=2"):
        check_features(torch.ones(3, 4), 2)
    with pytest.raises(ValueError, match="x contains NaN or inf"):
        check_features(torch.tensor([[1.0, float("inf")]]), 1)
    with pytest.raises(ValueError, match=r"shape \[num_nodes, F\]"):
        check_features(torch.ones(3), 3)


def test_scalar_checks():
    assert check_edge_index(torch.tensor([[0, 1], [1, 2]])) == 3
    assert check_probability(0.5) == 0.5
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
            check_probability(bad)
    with pytest.raises(TypeError, match="p must be a number"):
        check_probability("0.5")
    with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
        check_fraction(1.0)
    with pytest.raises(ValueError, match="length must be >= 0"):
        check_positive_int(-1, "length", minimum=0)
    with pytest.raises(ValueError, match="start contains node id 7 >= num_nodes=5"):
        check_node_ids(torch.tensor([1, 7]), 5)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        check_generator(42)


def test_has_edge_large_query_batch_equals_dense():
    gen = torch.Generator().manual_seed(3)
    ei = torch.randint(0, 300, (2, 3000), generator=gen)
    g = CSRGraph.from_edge_index(ei, 300)
    dense = torch.zeros(300, 300, dtype=torch.bool)
    dense[ei[0], ei[1]] = True
    u = torch.randint(-1, 300, (60_000,), generator=gen)  # above the sorting threshold, with -1 padding
    x = torch.randint(0, 300, (60_000,), generator=gen)
    expect = dense[u.clamp(min=0), x] & (u >= 0)
    assert torch.equal(g.has_edge(u, x), expect)
    assert torch.equal(g.has_edge(u.view(200, 300), x.view(200, 300)), expect.view(200, 300))
