"""Sparse kernels and the SVD view against dense references."""

from __future__ import annotations

import pytest
import torch

from graphcl.augment import SVDView, bipartite_svd, svd_propagate
from graphcl.sparse import (
    laplacian,
    normalized_adjacency,
    normalized_bipartite,
    randomized_svd,
    sparse_features,
    spmm,
    to_sparse,
)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def graph(n=25, m=70, seed=0):
    g = gen(seed)
    ei = torch.randint(0, n, (2, m), generator=g)
    ei = ei[:, ei[0] != ei[1]]
    ei = torch.cat([ei, ei.flip(0)], 1)
    w = torch.rand(ei.size(1) // 2, generator=g, dtype=torch.float64) + 0.1
    return ei, torch.cat([w, w])


def dense_adj(ei, w, n):
    A = torch.zeros(n, n, dtype=torch.float64)
    A.index_put_((ei[0], ei[1]), w.double(), accumulate=True)
    return A


@pytest.mark.parametrize("layout", ["coo", "csr"])
def test_normalized_adjacency_and_laplacian(layout):
    n = 25
    ei, w = graph(n)
    A = dense_adj(ei, w, n)
    A[n - 1] = 0  # make node n-1 isolated
    A[:, n - 1] = 0
    keep = (ei[0] != n - 1) & (ei[1] != n - 1)
    ei, w = ei[:, keep], w[keep]
    d = A.sum(1)
    dis = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    sym = dis[:, None] * A * dis[None, :]
    rw = torch.where(d > 0, 1 / d, torch.zeros_like(d))[:, None] * A
    got = normalized_adjacency(ei, n, w, kind="sym", layout=layout)
    assert got.layout == (torch.sparse_csr if layout == "csr" else torch.sparse_coo)
    assert torch.allclose(got.to_dense(), sym)
    assert torch.allclose(normalized_adjacency(ei, n, w, kind="rw", layout=layout).to_dense(), rw)
    assert torch.allclose(laplacian(ei, n, w, layout=layout).to_dense(), torch.diag(d) - A)
    eye = torch.eye(n, dtype=torch.float64)
    assert torch.allclose(laplacian(ei, n, w, kind="sym").to_dense(), eye - sym)
    assert torch.allclose(laplacian(ei, n, w, kind="rw").to_dense(), eye - rw)
    # self-loops added with weight 1
    As = A + eye
    ds = As.sum(1)
    ref = As / ds.sqrt()[:, None] / ds.sqrt()[None, :]
    got = normalized_adjacency(ei, n, w, add_self_loops=True).to_dense()
    assert torch.allclose(got, ref)


def test_laplacian_ignores_self_loops_and_unweighted():
    ei = torch.tensor([[0, 1, 1, 1], [1, 0, 1, 2]])
    L = laplacian(ei, 3).to_dense()
    A = torch.tensor([[0.0, 1, 0], [1, 0, 1], [0, 0, 0]])
    assert torch.allclose(L, torch.diag(A.sum(1)) - A)
    assert to_sparse(ei, 3).to_dense()[1, 1] == 1.0


def test_spmm_layouts_and_errors():
    ei, w = graph()
    A = to_sparse(ei, 25, w)
    X = torch.rand(25, 4, dtype=torch.float64)
    ref = A.to_dense() @ X
    assert torch.allclose(spmm(A, X), ref)
    assert torch.allclose(spmm(A.to_sparse_csr(), X), ref)
    assert torch.allclose(spmm(A, X[:, 0]), ref[:, 0])
    assert spmm(A, X.float()).dtype == torch.float64
    with pytest.raises(TypeError, match="sparse"):
        spmm(A.to_dense(), X)
    with pytest.raises(ValueError, match="rows"):
        spmm(A, torch.rand(3, 2))
    with pytest.raises(ValueError, match="kind"):
        normalized_adjacency(ei, 25, kind="left")


def test_normalized_bipartite():
    R = torch.tensor([[0, 0, 1, 2, 2, 2], [0, 3, 3, 1, 2, 3]])
    got = normalized_bipartite(R, 4, 5).to_dense()
    M = torch.zeros(4, 5)
    M[R[0], R[1]] = 1
    du, di = M.sum(1), M.sum(0)
    ref = M / du.clamp(min=1).sqrt()[:, None] / di.clamp(min=1).sqrt()[None, :]
    assert got.shape == (4, 5) and torch.allclose(got, ref)
    with pytest.raises(ValueError, match="num_items"):
        normalized_bipartite(R, 4, 3)


def _lowrank_matrix(m, n, seed):
    # normalised bipartite matrix of a random interaction graph with clear low-rank structure
    g = gen(seed)
    users = torch.randint(0, 4, (m,), generator=g)
    items = torch.randint(0, 4, (n,), generator=g)
    prob = torch.where(users[:, None] == items[None, :], 0.5, 0.03)
    M = torch.rand(m, n, generator=g) < prob
    u, i = M.nonzero(as_tuple=True)
    return torch.stack([u, i])


@pytest.mark.parametrize("shape", [(120, 80), (90, 90)])
def test_randomized_svd_vs_exact(shape):
    m, n = shape
    R = _lowrank_matrix(m, n, 1)
    A = normalized_bipartite(R, m, n).to(torch.float64)
    dense = A.to_dense()
    q = 5
    U, S, V = randomized_svd(A, q=q, niter=2, generator=gen(0))
    assert U.shape == (m, q) and S.shape == (q,) and V.shape == (n, q)
    Se = torch.linalg.svdvals(dense)
    # the 4 structural singular values are recovered tightly, the 5th (noise bulk) roughly;
    # randomized estimates are lower bounds (singular values of a projection of A)
    assert torch.allclose(S[:4], Se[:4], rtol=0.01)
    assert abs(float(S[4] / Se[4]) - 1) < 0.1
    assert bool((S <= Se[:q] + 1e-9).all())
    assert torch.allclose(U.T @ U, torch.eye(q, dtype=U.dtype), atol=1e-8)
    err = torch.linalg.norm(dense - U @ torch.diag(S) @ V.T)
    opt = torch.sqrt((Se[q:] ** 2).sum())  # Eckart-Young optimum
    assert float(err) <= 1.02 * float(opt)
    # LightGCL setting without oversampling is still close
    U0, S0, V0 = randomized_svd(A, q=q, niter=2, oversample=0, generator=gen(0))
    assert float(torch.linalg.norm(dense - U0 @ torch.diag(S0) @ V0.T)) <= 1.1 * float(opt)
    # determinism
    U2, S2, V2 = randomized_svd(A, q=q, niter=2, generator=gen(0))
    assert torch.equal(S, S2) and torch.equal(U, U2)


def test_svd_propagate_and_view():
    m, n = 60, 40
    R = _lowrank_matrix(m, n, 2)
    U, S, V = bipartite_svd(R, m, n, q=4, generator=gen(0))
    Eu, Ei = torch.rand(m, 8), torch.rand(n, 8)
    dense = U @ torch.diag(S) @ V.T
    assert torch.allclose(svd_propagate(U, S, V, Ei), dense @ Ei, atol=1e-5)
    view = SVDView(q=4, seed=0).fit(R, m, n)
    Gu, Gi = view(Eu, Ei)
    assert torch.allclose(Gu, dense @ Ei, atol=1e-5)
    assert torch.allclose(Gi, dense.T @ Eu, atol=1e-5)
    with pytest.raises(ValueError, match="E must have shape"):
        svd_propagate(U, S, V, torch.rand(m + 1, 8))
    with pytest.raises(RuntimeError, match="fit"):
        SVDView()(Eu, Ei)
    with pytest.raises(ValueError, match="q="):
        randomized_svd(normalized_bipartite(R, m, n), q=100)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_sparse_kernels_cuda():
    dev = torch.device("cuda")
    ei, w = graph()
    for layout in ("coo", "csr"):
        A = normalized_adjacency(ei.to(dev), 25, w.to(dev), kind="sym", layout=layout)
        X = torch.rand(25, 3, dtype=torch.float64, device=dev)
        ref = normalized_adjacency(ei, 25, w, kind="sym").to_dense() @ X.cpu()
        assert torch.allclose(spmm(A, X).cpu(), ref)
    R = _lowrank_matrix(120, 80, 1).to(dev)
    A = normalized_bipartite(R, 120, 80).to(torch.float64)
    U, S, V = randomized_svd(A, q=4, generator=torch.Generator(device=dev).manual_seed(0))
    Se = torch.linalg.svdvals(A.to_dense())
    assert U.device.type == "cuda" and torch.allclose(S, Se[:4], rtol=0.01)


def test_sparse_features_matches_torch_csr_and_falls_back_when_dense():
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(50, 40, generator=g) < 0.05).float() * torch.rand(50, 40, generator=g)
    x[7] = 0  # an empty row
    for dtype in (torch.float32, torch.float64):
        xs, ref = sparse_features(x.to(dtype)), x.to(dtype).to_sparse_csr()
        assert xs.layout == torch.sparse_csr
        assert torch.equal(xs.crow_indices(), ref.crow_indices())
        assert torch.equal(xs.col_indices(), ref.col_indices())
        assert torch.equal(xs.values(), ref.values())
    dense = torch.rand(6, 5, generator=g) + 0.1
    assert sparse_features(dense) is dense  # too dense: returned as is
    assert sparse_features(torch.zeros(0, 3)).layout == torch.strided
    assert sparse_features(torch.zeros(3, 4)).to_dense().abs().sum() == 0  # all zero: an empty CSR
