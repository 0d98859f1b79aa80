"""Sparse kernels on torch sparse tensors (CPU and CUDA, same code).

* :func:`to_sparse` / :func:`normalized_adjacency` / :func:`laplacian`: build
  ``torch.sparse`` matrices (COO by default, CSR on request) from an ``edge_index``.
* :func:`normalized_bipartite`: ``D_u^-1/2 R D_i^-1/2`` of a user-item matrix.
* :func:`spmm`: sparse @ dense for COO or CSR on any device.
* :func:`randomized_svd`: rank-``q`` randomized SVD (Halko, Martinsson, Tropp 2011)
  that only ever forms ``N x (q + oversample)`` dense factors.

Conventions: duplicate edges are summed; nodes without edges get a zero row in
the normalised adjacency (their inverse degree is taken as 0).
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor

from graphcl.validation import (
    check_edge_index,
    check_edge_weight,
    check_generator,
    check_positive_int,
)

__all__ = [
    "to_sparse",
    "normalized_adjacency",
    "laplacian",
    "normalized_bipartite",
    "spmm",
    "randomized_svd",
    "sparse_features",
    "sparse_linear",
]


def _check_layout(layout: str) -> str:
    if layout not in ("coo", "csr"):
        raise ValueError(f"layout must be 'coo' or 'csr', got {layout!r}")
    return layout


def _finish(row: Tensor, col: Tensor, val: Tensor, shape: tuple[int, int], layout: str) -> Tensor:
    idx = torch.stack([row, col])
    mat = torch.sparse_coo_tensor(
        idx, val, shape, device=val.device, check_invariants=False
    ).coalesce()
    if layout == "csr":
        with warnings.catch_warnings():  # torch warns that sparse CSR support is beta
            warnings.simplefilter("ignore", UserWarning)
            mat = mat.to_sparse_csr()
    return mat


def _weights(edge_weight: Tensor | None, num_edges: int, device: torch.device) -> Tensor:
    if edge_weight is None:
        return torch.ones(num_edges, dtype=torch.get_default_dtype(), device=device)
    return edge_weight


def to_sparse(
    edge_index: Tensor,
    num_nodes: int | None = None,
    edge_weight: Tensor | None = None,
    *,
    layout: str = "coo",
) -> Tensor:
    """Adjacency matrix ``A[src, dst] = w`` as a coalesced torch sparse tensor.

    Example:
        >>> A = to_sparse(torch.tensor([[0, 1], [1, 0]]), 2)
        >>> A.to_dense().tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    n = check_edge_index(edge_index, num_nodes)
    edge_weight = check_edge_weight(edge_weight, edge_index.size(1))
    _check_layout(layout)
    w = _weights(edge_weight, edge_index.size(1), edge_index.device)
    return _finish(edge_index[0].long(), edge_index[1].long(), w, (n, n), layout)


def _inv_pow(deg: Tensor, power: float) -> Tensor:
    out = deg.pow(power)
    return torch.where(deg > 0, out, torch.zeros_like(out))


def normalized_adjacency(
    edge_index: Tensor,
    num_nodes: int | None = None,
    edge_weight: Tensor | None = None,
    add_self_loops: bool = False,
    kind: str = "sym",
    *,
    layout: str = "coo",
) -> Tensor:
    """Normalised adjacency as a torch sparse matrix.

    ``kind="sym"``: ``D^-1/2 A D^-1/2``; ``kind="rw"``: ``D^-1 A`` (rows sum to 1).
    ``D`` holds the row sums (out-degrees) of ``A`` (after adding self-loops of
    weight 1 when ``add_self_loops``; existing self-loops are kept and summed).

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> A = normalized_adjacency(ei, 3, kind="rw")
        >>> A.to_dense().sum(1).tolist()
        [1.0, 1.0, 1.0]
    """
    if kind not in ("sym", "rw"):
        raise ValueError(f"kind must be 'sym' or 'rw', got {kind!r}")
    n = check_edge_index(edge_index, num_nodes)
    edge_weight = check_edge_weight(edge_weight, edge_index.size(1))
    _check_layout(layout)
    device = edge_index.device
    row, col = edge_index[0].long(), edge_index[1].long()
    w = _weights(edge_weight, row.numel(), device)
    if add_self_loops:
        loop = torch.arange(n, device=device)
        row, col = torch.cat([row, loop]), torch.cat([col, loop])
        w = torch.cat([w, torch.ones(n, dtype=w.dtype, device=device)])
    deg = torch.zeros(n, dtype=w.dtype, device=device).index_add_(0, row, w)
    if kind == "sym":
        dis = _inv_pow(deg, -0.5)
        val = dis[row] * w * dis[col]
    else:
        val = _inv_pow(deg, -1.0)[row] * w
    return _finish(row, col, val, (n, n), layout)


def laplacian(
    edge_index: Tensor,
    num_nodes: int | None = None,
    edge_weight: Tensor | None = None,
    kind: str | None = None,
    *,
    layout: str = "coo",
) -> Tensor:
    """Graph Laplacian as a torch sparse matrix.

    ``kind=None``: ``L = D - A``; ``"sym"``: ``I - D^-1/2 A D^-1/2``;
    ``"rw"``: ``I - D^-1 A``. Self-loops cancel in ``D - A`` (they do not change
    the combinatorial Laplacian). The normalised forms put 1 on the diagonal of
    every node, isolated nodes included (the PyG convention).

    Example:
        >>> L = laplacian(torch.tensor([[0, 1], [1, 0]]), 2)
        >>> L.to_dense().tolist()
        [[1.0, -1.0], [-1.0, 1.0]]
    """
    if kind not in (None, "sym", "rw"):
        raise ValueError(f"kind must be None, 'sym' or 'rw', got {kind!r}")
    n = check_edge_index(edge_index, num_nodes)
    edge_weight = check_edge_weight(edge_weight, edge_index.size(1))
    _check_layout(layout)
    device = edge_index.device
    loop = torch.arange(n, device=device)
    if kind is None:
        row, col = edge_index[0].long(), edge_index[1].long()
        w = _weights(edge_weight, row.numel(), device)
        deg = torch.zeros(n, dtype=w.dtype, device=device).index_add_(0, row, w)
        rows = torch.cat([row, loop])
        cols = torch.cat([col, loop])
        vals = torch.cat([-w, deg])
    else:
        A = normalized_adjacency(edge_index, n, edge_weight, kind=kind).coalesce()
        idx, val = A.indices(), A.values()
        rows = torch.cat([idx[0], loop])
        cols = torch.cat([idx[1], loop])
        vals = torch.cat([-val, torch.ones(n, dtype=val.dtype, device=device)])
    return _finish(rows, cols, vals, (n, n), layout)


def normalized_bipartite(
    R_edge_index: Tensor,
    num_users: int,
    num_items: int,
    edge_weight: Tensor | None = None,
    *,
    layout: str = "coo",
) -> Tensor:
    """``D_u^-1/2 R D_i^-1/2`` of a user-item interaction matrix, ``[num_users, num_items]``.

    ``R_edge_index[0]`` holds user ids in ``[0, num_users)``, ``R_edge_index[1]``
    item ids in ``[0, num_items)`` (item ids are NOT offset by ``num_users``).

    Example:
        >>> R = normalized_bipartite(torch.tensor([[0, 0, 1], [0, 1, 1]]), 2, 2)
        >>> R.shape
        torch.Size([2, 2])
    """
    num_users = check_positive_int(num_users, "num_users", minimum=0)
    num_items = check_positive_int(num_items, "num_items", minimum=0)
    check_edge_index(R_edge_index, None, "R_edge_index")
    _check_layout(layout)
    if R_edge_index.numel():
        if int(R_edge_index[0].max()) >= num_users:
            raise ValueError(f"R_edge_index has a user id >= num_users={num_users}")
        if int(R_edge_index[1].max()) >= num_items:
            raise ValueError(f"R_edge_index has an item id >= num_items={num_items}")
    edge_weight = check_edge_weight(edge_weight, R_edge_index.size(1))
    device = R_edge_index.device
    u, i = R_edge_index[0].long(), R_edge_index[1].long()
    w = _weights(edge_weight, u.numel(), device)
    du = torch.zeros(num_users, dtype=w.dtype, device=device).index_add_(0, u, w)
    di = torch.zeros(num_items, dtype=w.dtype, device=device).index_add_(0, i, w)
    val = _inv_pow(du, -0.5)[u] * w * _inv_pow(di, -0.5)[i]
    return _finish(u, i, val, (num_users, num_items), layout)


def spmm(A: Tensor, X: Tensor) -> Tensor:
    """Sparse @ dense product ``A @ X`` for torch sparse COO or CSR ``A`` on CPU or CUDA.

    ``X`` may be ``[n]`` (returns ``[m]``) or ``[n, k]``; it is cast to ``A``'s dtype.

    Example:
        >>> A = to_sparse(torch.tensor([[0, 1], [1, 0]]), 2)
        >>> spmm(A, torch.tensor([[1.0], [2.0]])).tolist()
        [[2.0], [1.0]]
    """
    if not isinstance(A, Tensor) or A.layout not in (torch.sparse_coo, torch.sparse_csr):
        raise TypeError("A must be a torch sparse COO or CSR tensor")
    if not isinstance(X, Tensor):
        raise TypeError(f"X must be a torch.Tensor, got {type(X).__name__}")
    if X.dim() not in (1, 2):
        raise ValueError(f"X must be 1-D or 2-D, got shape {list(X.shape)}")
    if X.size(0) != A.size(1):
        raise ValueError(f"X has {X.size(0)} rows but A has {A.size(1)} columns")
    if X.device != A.device:
        raise ValueError(f"A is on {A.device} but X is on {X.device}")
    vec = X.dim() == 1
    Xm = X.unsqueeze(1) if vec else X
    if Xm.dtype != A.dtype:
        Xm = Xm.to(A.dtype)
    if A.layout == torch.sparse_coo:
        out = torch.sparse.mm(A, Xm)
    else:
        out = A @ Xm
    return out.squeeze(1) if vec else out


def sparse_features(x: Tensor, max_density: float = 0.1) -> Tensor:
    """``x`` as a sparse CSR matrix when at most ``max_density`` of its entries are non-zero
    (bag-of-words features), else ``x`` itself.

    Example:
        >>> sparse_features(torch.eye(20)).layout, sparse_features(torch.ones(2, 2)).layout
        (torch.sparse_csr, torch.strided)
    """
    if x.layout != torch.strided or x.dim() != 2 or x.numel() == 0:
        return x
    if float(torch.count_nonzero(x)) > max_density * x.numel():
        return x
    # CSR from the row-major non-zero positions: ~2x faster than ``x.to_sparse_csr()`` on CPU, same tensor
    row, col = x.nonzero().unbind(1)
    crow = torch.zeros(x.size(0) + 1, dtype=torch.long, device=x.device)
    torch.cumsum(torch.bincount(row, minlength=x.size(0)), 0, out=crow[1:])
    with warnings.catch_warnings():  # torch warns that sparse CSR support is beta
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, x[row, col], x.shape)


def sparse_linear(x: Tensor, layer: torch.nn.Linear) -> Tensor:
    """``layer(x)`` for a dense or sparse ``x``: a sparse-dense product when ``x`` is sparse
    (the same function at O(nnz(x) * width) cost).

    Example:
        >>> lin = torch.nn.Linear(3, 2)
        >>> x = torch.eye(3)
        >>> torch.allclose(sparse_linear(sparse_features(x, 0.5), lin), lin(x))
        True
    """
    if x.layout == torch.strided:
        return layer(x)
    h = torch.sparse.mm(x, layer.weight.t())
    return h if layer.bias is None else h + layer.bias


def _csr_and_transpose(A: Tensor) -> tuple[Tensor, Tensor]:
    """``(A, A^T)`` both in CSR layout (CSR products are ~2x COO's; CSC -> CSR is the cheap transpose)."""
    with warnings.catch_warnings():  # torch warns that sparse CSR support is beta
        warnings.simplefilter("ignore", UserWarning)
        if A.layout == torch.sparse_coo:
            A = A.coalesce().to_sparse_csr()
        return A, A.t().to_sparse_csr()


def randomized_svd(
    A: Tensor,
    q: int = 5,
    niter: int = 2,
    generator: torch.Generator | None = None,
    *,
    oversample: int = 5,
) -> tuple[Tensor, Tensor, Tensor]:
    """Rank-``q`` randomized SVD ``A ~ U diag(S) V^T`` of a sparse ``[m, n]`` matrix.

    Halko et al. (2011), Algorithm 4.4: a Gaussian sketch of ``q + oversample``
    columns, ``niter`` power (subspace) iterations with QR re-orthonormalisation,
    then an exact SVD of the small projected matrix. Only ``m x k`` and
    ``n x k`` dense factors are formed (``k = q + oversample``); ``A`` stays
    sparse. ``oversample=0`` matches ``torch.svd_lowrank``'s sketch size.

    Returns ``U [m, q]``, ``S [q]`` (descending) and ``V [n, q]``.

    Example:
        >>> A = normalized_bipartite(torch.tensor([[0, 1, 2], [0, 1, 1]]), 3, 2)
        >>> U, S, V = randomized_svd(A, q=2, generator=torch.Generator().manual_seed(0))
        >>> U.shape, S.shape, V.shape
        (torch.Size([3, 2]), torch.Size([2]), torch.Size([2, 2]))
    """
    if not isinstance(A, Tensor) or A.layout not in (torch.sparse_coo, torch.sparse_csr):
        raise TypeError("A must be a torch sparse COO or CSR tensor")
    if A.dim() != 2:
        raise ValueError(f"A must be 2-D, got shape {list(A.shape)}")
    q = check_positive_int(q, "q")
    niter = check_positive_int(niter, "niter", minimum=0)
    oversample = check_positive_int(oversample, "oversample", minimum=0)
    check_generator(generator, A.device)
    m, n = A.shape
    if q > min(m, n):
        raise ValueError(f"q={q} exceeds min(A.shape)={min(m, n)}")
    k = min(q + oversample, min(m, n))
    dtype = A.dtype if A.dtype.is_floating_point else torch.get_default_dtype()
    if A.dtype != dtype:
        A = A.to(dtype)
    A, At = _csr_and_transpose(A)
    omega = torch.randn(n, k, generator=generator, device=A.device, dtype=dtype)
    Q = torch.linalg.qr(spmm(A, omega)).Q
    for _ in range(niter):
        Z = torch.linalg.qr(spmm(At, Q)).Q
        Q = torch.linalg.qr(spmm(A, Z)).Q
    Bt = spmm(At, Q)  # [n, k] = (Q^T A)^T
    Ub, S, Vh = torch.linalg.svd(Bt.T, full_matrices=False)
    U = Q @ Ub[:, :q]
    V = Vh[:q].T
    return U, S[:q], V
