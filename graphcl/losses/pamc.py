"""PamC: proxy-approximated meta-node contrastive loss (Kulatilleke et al. 2022).

The pairwise contrastive loss of SCGC / Graph-MLP,

    -(1/N) sum_i log( sum_j A^(r)_ij e^{tau cos(z_i, z_j)} / sum_j e^{tau cos(z_i, z_j)} ),

costs O(N^2). PamC keeps the positive (numerator) term, which only touches the
``|E_r|`` nonzeros of the r-hop adjacency ``A^(r)``, and replaces the N x N
negative term by one over ``K`` meta-nodes ``c_k`` (cluster sums of the
embeddings), so the loss is O(|E_r| d + N d + K^2 d):

    L_pc = -(1/N) sum_i log sum_j A^(r)_ij exp(tau cos(z_i, z_j))
           + (1/K) sum_k log sum_l exp(tau cos(c_k, c_l)).

``tau`` multiplies the cosine (an inverse temperature). As in the reference
code, the self-similarity of a pair ``(i, i)`` is taken as 0 (``exp(0) = 1``)
with ``mask_self=True``. Meta-nodes are formed from DEC soft assignments ``q``
(:func:`dec_soft_assignment`): hard (``c_k = sum_{i: argmax q_i = k} z_i``, as in
the reference code) or soft (``c_k = sum_i q_ik z_i``, the paper's wording).

Memory: beyond its inputs the loss keeps O(N) numbers in forward and one
``[N, d]`` gradient plus an edge chunk in backward. The positive term runs over
edge chunks with the row normalisation folded in and is recomputed in backward
(no per-edge autograd tensors, no normalised copy of ``z``); with hard
meta-nodes the whole loss is one autograd function writing a single ``[N, d]``
gradient. An int32 positive index (``rhop_positives(..., index_dtype=torch.int32)``)
is used as is and halves the largest thing PamC keeps between calls.
"""

from __future__ import annotations

import warnings

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.validation import check_edge_index, check_edge_weight, check_positive_float, check_positive_int

__all__ = [
    "dec_soft_assignment",
    "dec_target_distribution",
    "rhop_positives",
    "meta_nodes",
    "edge_dot",
    "pamc_loss",
]


def _check_matrix(x: object, name: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must be 2-D, got shape {list(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
    return x


def dec_soft_assignment(z: Tensor, centers: Tensor, alpha: float = 1.0) -> Tensor:
    """DEC soft assignment (Student's t kernel), rows sum to 1.

    ``q_ik = (1 + ||z_i - mu_k||^2 / alpha)^(-(alpha + 1) / 2) / sum_l (...)``.

    Example:
        >>> q = dec_soft_assignment(torch.randn(5, 3), torch.randn(2, 3))
        >>> q.shape, bool(torch.allclose(q.sum(1), torch.ones(5)))
        (torch.Size([5, 2]), True)
    """
    _check_matrix(z, "z")
    _check_matrix(centers, "centers")
    if z.size(1) != centers.size(1):
        raise ValueError(f"z has dimension {z.size(1)} but centers has {centers.size(1)}")
    if centers.size(0) < 1:
        raise ValueError("centers must hold at least one cluster")
    alpha = check_positive_float(alpha, "alpha")
    # ||z - mu||^2 = |z|^2 - 2 z.mu + |mu|^2, O(N K d) without an N x K x d tensor
    dist2 = (z.pow(2).sum(1, keepdim=True) - (z @ centers.t()) * 2.0 + centers.pow(2).sum(1)).clamp_min(0.0)
    q = (1.0 + dist2 / alpha).pow(-(alpha + 1.0) / 2.0)
    return q / q.sum(1, keepdim=True)


def dec_target_distribution(q: Tensor) -> Tensor:
    """DEC target ``p_ik = (q_ik^2 / f_k) / sum_l (q_il^2 / f_l)`` with ``f_k = sum_i q_ik``.

    Example:
        >>> q = torch.tensor([[0.9, 0.1], [0.6, 0.4]])
        >>> p = dec_target_distribution(q)
        >>> bool(p[0, 0] > q[0, 0]), bool(torch.allclose(p.sum(1), torch.ones(2)))
        (True, True)
    """
    _check_matrix(q, "q")
    if bool((q < 0).any()):
        raise ValueError("q must be non-negative")
    w = q.pow(2) / q.sum(0).clamp_min(torch.finfo(q.dtype).tiny)
    return w / w.sum(1, keepdim=True).clamp_min(torch.finfo(q.dtype).tiny)


def rhop_positives(
    edge_index: Tensor,
    num_nodes: int | None = None,
    r: int = 1,
    *,
    cumulative: bool = True,
    add_self_loops: bool = True,
    index_dtype: torch.dtype = torch.long,
) -> tuple[Tensor, Tensor]:
    """Nonzeros of the r-hop positive matrix built from ``A^ = D^-1 (A + I)``.

    ``cumulative=True`` gives ``A^ + A^^2 + ... + A^^r`` (the reference's
    ``--influence``), else ``A^^r``. ``add_self_loops=False`` uses ``D^-1 A``.
    Computed with sparse products (no dense N x N matrix). Returns
    ``(edge_index [2, E_r], edge_weight [E_r])`` on ``edge_index``'s device;
    ``index_dtype=torch.int32`` halves the index (the largest thing PamC
    keeps: 8 instead of 16 bytes per pair), which :func:`pamc_loss` uses as is.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> pos, w = rhop_positives(ei, 3, r=2)
        >>> pos.size(1)
        9
    """
    from graphcl.sparse import normalized_adjacency

    n = check_edge_index(edge_index, num_nodes)
    r = check_positive_int(r, "r")
    if index_dtype not in (torch.int32, torch.int64):
        raise ValueError(f"index_dtype must be torch.int32 or torch.int64, got {index_dtype}")
    if index_dtype == torch.int32 and n > torch.iinfo(torch.int32).max:
        raise ValueError(f"index_dtype=torch.int32 cannot hold node ids of a graph with {n} nodes")
    a = normalized_adjacency(edge_index, n, add_self_loops=add_self_loops, kind="rw").coalesce()
    power, total = a, a
    with warnings.catch_warnings():  # torch warns that its internal sparse CSR path is beta
        warnings.simplefilter("ignore", UserWarning)
        for _ in range(r - 1):  # r - 1 sparse products, not a loop over nodes
            power = torch.sparse.mm(power, a).coalesce()
            total = (total + power).coalesce() if cumulative else power
    keep = total.values() != 0
    return total.indices()[:, keep].to(index_dtype), total.values()[keep]


_CHUNK_ELEMENTS = 1 << 16  # gathered numbers per edge chunk (256 KiB in float32)
_NORM_EPS = 1e-12  # as F.normalize


class _EdgeDot(torch.autograd.Function):
    """``out_e = <x[row_e], x[col_e]>`` in edge chunks; backward recomputes the gathers chunk by chunk,
    so memory is O(N d + E + chunk d) instead of the O(E d) that autograd through ``x[row]`` would keep."""

    @staticmethod
    def forward(ctx, x: Tensor, row: Tensor, col: Tensor, chunk: int) -> Tensor:  # type: ignore[override]
        out = x.new_empty(row.numel())
        for s in range(0, row.numel(), chunk):  # chunks of edges, not single edges
            r, c = row[s:s + chunk], col[s:s + chunk]
            out[s:s + chunk] = (x[r] * x[c]).sum(1)
        ctx.save_for_backward(x, row, col)
        ctx.chunk = chunk
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, row, col = ctx.saved_tensors
        gx = torch.zeros_like(x)
        for s in range(0, row.numel(), ctx.chunk):
            r, c, g = row[s:s + ctx.chunk], col[s:s + ctx.chunk], grad[s:s + ctx.chunk, None]
            gx.index_add_(0, r, g * x[c])
            gx.index_add_(0, c, g * x[r])
        return gx, None, None, None


def _inverse_norms(z: Tensor) -> tuple[Tensor, Tensor]:
    """``inv_i = 1 / max(|z_i|, eps)`` (F.normalize's convention) and ``dinv_i = inv_i^2`` where the norm is
    not clamped, else 0 (so that ``d inv_i / d z_i = -inv_i dinv_i z_i``)."""
    norm = torch.linalg.vector_norm(z, dim=1)
    inv = norm.clamp_min(_NORM_EPS).reciprocal_()
    return inv, inv.pow(2).masked_fill_(norm <= _NORM_EPS, 0.0)


def _pos_chunk(z: Tensor, inv: Tensor, r: Tensor, c: Tensor, w: Tensor, tau: float,
               mask_self: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    zr, zc = z[r], z[c]
    cos = (zr * zc).sum(1).mul_(inv[r]).mul_(inv[c])
    if mask_self:
        cos.masked_fill_(r == c, 0.0)
    return zr, zc, cos, torch.exp(cos * tau).mul_(w)


def _pos_forward(z: Tensor, inv: Tensor, row: Tensor, col: Tensor, w: Tensor, tau: float, mask_self: bool,
                 chunk: int) -> Tensor:
    """``pos_i = sum_{e=(i,j)} w_e exp(tau cos(z_i, z_j))`` over edge chunks (not single edges)."""
    pos = z.new_zeros(z.size(0))
    for s in range(0, row.numel(), chunk):
        r, c = row[s:s + chunk], col[s:s + chunk]
        pos.index_add_(0, r, _pos_chunk(z, inv, r, c, w[s:s + chunk], tau, mask_self)[3])
    return pos


def _pos_backward(gz: Tensor, grad: Tensor, z: Tensor, inv: Tensor, dinv: Tensor, row: Tensor, col: Tensor,
                  w: Tensor, tau: float, mask_self: bool, chunk: int) -> None:
    """Adds ``sum_i grad_i d pos_i / d z`` into ``gz``, recomputing each edge chunk."""
    for s in range(0, row.numel(), chunk):
        r, c = row[s:s + chunk], col[s:s + chunk]
        zr, zc, cos, val = _pos_chunk(z, inv, r, c, w[s:s + chunk], tau, mask_self)
        g = val.mul_(grad[r]).mul_(tau)  # d loss / d cos_e
        if mask_self:
            g.masked_fill_(r == c, 0.0)  # a masked self-pair has a constant similarity
        # d cos / d z_i = inv_i inv_j z_j - cos dinv_i z_i  (and symmetrically for j)
        gij = (g * inv[r] * inv[c]).unsqueeze(1)
        gc = g * cos
        gz.index_add_(0, r, zc.mul(gij).sub_(zr * (gc * dinv[r]).unsqueeze(1)))
        gz.index_add_(0, c, zr.mul_(gij).sub_(zc.mul_((gc * dinv[c]).unsqueeze(1))))


def _meta_negatives(c: Tensor, tau: float, mask_self: bool, eps: float) -> Tensor:
    """``(1/K) sum_k log(sum_l exp(tau cos(c_k, c_l)) + eps)`` over meta-nodes ``c [K, d]``."""
    cn = F.normalize(c, dim=1)
    csim = cn @ cn.t()
    if mask_self:
        csim = csim.masked_fill(torch.eye(c.size(0), dtype=torch.bool, device=c.device), 0.0)
    return torch.log(torch.exp(tau * csim).sum(1) + eps).mean()


class _PositiveSum(torch.autograd.Function):
    """``pos_i`` of :func:`_pos_forward` with the row normalisation folded in (no normalised ``[N, d]`` copy of
    ``z``, no autograd graph through it), recomputed chunk by chunk in backward: extra memory O(N + chunk d)
    in forward, O(N d + chunk d) in backward (the gradient). ``w`` is a constant (no gradient)."""

    @staticmethod
    def forward(ctx, z: Tensor, row: Tensor, col: Tensor, w: Tensor, tau: float, mask_self: bool,  # type: ignore[override]
                chunk: int) -> Tensor:
        inv, dinv = _inverse_norms(z)
        ctx.save_for_backward(z, row, col, w, inv, dinv)
        ctx.tau, ctx.mask_self, ctx.chunk = tau, mask_self, chunk
        return _pos_forward(z, inv, row, col, w, tau, mask_self, chunk)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        z, row, col, w, inv, dinv = ctx.saved_tensors
        gz = torch.zeros_like(z)
        _pos_backward(gz, grad, z, inv, dinv, row, col, w, ctx.tau, ctx.mask_self, ctx.chunk)
        return gz, None, None, None, None, None, None


class _HardPamC(torch.autograd.Function):
    """The whole ``L_pc`` with hard meta-nodes in one function: one ``[N, d]`` gradient buffer receives the
    positive term (edge chunks) and the meta-node term (``grad_c[assign]``, row chunks), instead of two
    ``[N, d]`` gradients that autograd would then add."""

    @staticmethod
    def forward(ctx, z: Tensor, row: Tensor, col: Tensor, w: Tensor, assign: Tensor, k: int,  # type: ignore[override]
                tau: float, mask_self: bool, eps: float, chunk: int) -> Tensor:
        inv, dinv = _inverse_norms(z)
        pos = _pos_forward(z, inv, row, col, w, tau, mask_self, chunk)
        with torch.enable_grad():  # K x d: a small autograd graph for d loss_neg / d c
            c = z.new_zeros(k, z.size(1)).index_add_(0, assign, z.detach()).requires_grad_(True)
            loss_neg = _meta_negatives(c, tau, mask_self, eps)
            grad_c, = torch.autograd.grad(loss_neg, c)
        ctx.save_for_backward(z, row, col, w, inv, dinv, pos, assign, grad_c)
        ctx.tau, ctx.mask_self, ctx.eps, ctx.chunk = tau, mask_self, eps, chunk
        return -torch.log(pos + eps).mean() + loss_neg.detach()

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        z, row, col, w, inv, dinv, pos, assign, grad_c = ctx.saved_tensors
        gz = torch.zeros_like(z)
        gpos = (pos + ctx.eps).reciprocal_().mul_(-grad / z.size(0))  # d loss / d pos_i
        _pos_backward(gz, gpos, z, inv, dinv, row, col, w, ctx.tau, ctx.mask_self, ctx.chunk)
        gc = grad_c * grad
        step = max(1, _CHUNK_ELEMENTS // max(1, z.size(1)))
        for s in range(0, z.size(0), step):  # row chunks: c_k = sum_{assign_i = k} z_i
            gz[s:s + step].add_(gc[assign[s:s + step]])
        return gz, None, None, None, None, None, None, None, None, None


def edge_dot(x: Tensor, edge_index: Tensor, chunk_elements: int = 1 << 18) -> Tensor:
    """Row dot products ``<x_i, x_j>`` for every pair ``(i, j)`` of ``edge_index``, memory-lean.

    Differentiable in ``x``; peak extra memory is ``O(E + chunk_elements)``
    numbers (edges are processed in chunks of ``chunk_elements // d``).

    Example:
        >>> x = torch.tensor([[1.0, 0.0], [1.0, 1.0]])
        >>> edge_dot(x, torch.tensor([[0, 1], [1, 1]])).tolist()
        [1.0, 2.0]
    """
    _check_matrix(x, "x")
    check_edge_index(edge_index, x.size(0), "edge_index")
    chunk = max(1, int(chunk_elements) // max(1, x.size(1)))
    return _EdgeDot.apply(x, edge_index[0].long(), edge_index[1].long(), chunk)


def meta_nodes(z: Tensor, q: Tensor, *, hard: bool = True) -> Tensor:
    """Meta-node embeddings ``[K, d]`` from assignments ``q [N, K]``.

    ``hard=True``: ``c_k = sum_{i: argmax_k q_i = k} z_i`` (the reference code;
    no gradient into ``q``); ``hard=False``: ``c_k = sum_i q_ik z_i`` (gradient
    flows into ``q`` unless it is detached by the caller).

    Example:
        >>> z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
        >>> q = torch.tensor([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3]])
        >>> meta_nodes(z, q).tolist()
        [[3.0, 0.0], [0.0, 1.0]]
    """
    _check_matrix(z, "z")
    _check_matrix(q, "q")
    if q.size(0) != z.size(0):
        raise ValueError(f"q has {q.size(0)} rows but z has {z.size(0)}")
    if hard:
        assign = q.detach().argmax(1)
        out = z.new_zeros(q.size(1), z.size(1))
        return out.index_add(0, assign, z)
    return q.to(z.dtype).t() @ z


def pamc_loss(
    z: Tensor,
    q: Tensor,
    pos_edge_index: Tensor,
    pos_weight: Tensor | None = None,
    tau: float = 1.0,
    *,
    hard: bool = True,
    mask_self: bool = True,
    eps: float = 1e-10,
) -> Tensor:
    """PamC meta-node contrastive loss ``L_pc`` (see the module docstring).

    Args:
        z: node embeddings ``[N, d]``.
        q: cluster assignments ``[N, K]`` (e.g. :func:`dec_soft_assignment`).
        pos_edge_index: positive pairs ``(i, j)`` ``[2, E_r]`` (int64 or int32), e.g. from
            :func:`rhop_positives`; every node should have at least one.
        pos_weight: ``A^(r)_ij`` of each pair (default 1); a constant (no gradient flows into it).
        tau: inverse temperature multiplying the cosine similarities.
        hard: hard (argmax) or soft meta-nodes (:func:`meta_nodes`).
        mask_self: take the similarity of a pair ``(i, i)`` (and of ``(c_k, c_k)``) as 0.
        eps: added inside both logarithms (the reference's 1e-10).

    Example:
        >>> z = torch.randn(6, 4, requires_grad=True)
        >>> q = dec_soft_assignment(z, torch.randn(2, 4))
        >>> ei = torch.tensor([[0, 1, 2, 3, 4, 5], [1, 0, 3, 2, 5, 4]])
        >>> pos, w = rhop_positives(ei, 6, r=1)
        >>> pamc_loss(z, q, pos, w, tau=0.5).backward()
    """
    _check_matrix(z, "z")
    _check_matrix(q, "q")
    n = z.size(0)
    if q.size(0) != n:
        raise ValueError(f"q has {q.size(0)} rows but z has {n}")
    check_edge_index(pos_edge_index, n, "pos_edge_index")
    pos_weight = check_edge_weight(pos_weight, pos_edge_index.size(1), "pos_weight")
    tau = check_positive_float(tau, "tau")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or eps < 0:
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")
    if pos_edge_index.device != z.device:
        raise ValueError(f"pos_edge_index is on {pos_edge_index.device} but z is on {z.device}")
    row, col = pos_edge_index[0], pos_edge_index[1]  # int64 or int32 (half the index memory): used as given
    if row.dtype not in (torch.int32, torch.int64):
        row, col = row.long(), col.long()
    if pos_weight is None:
        w = z.new_ones(row.numel())
    else:
        w = pos_weight.to(z.dtype)

    chunk = max(1, _CHUNK_ELEMENTS // max(1, z.size(1)))
    if hard:
        # one fused function (one [N, d] gradient): O(|E_r| d + N d + K^2 d) time, O(N d + chunk d) memory
        k = q.size(1)
        return _HardPamC.apply(z, row, col, w.detach(), q.detach().argmax(1), k, tau, mask_self, float(eps), chunk)
    # soft meta-nodes: the positive term fused over edge chunks (normalisation folded in, recomputed in
    # backward), the negatives through autograd (gradient into q as well)
    pos = _PositiveSum.apply(z, row, col, w.detach(), tau, mask_self, chunk)
    return -torch.log(pos + eps).mean() + _meta_negatives(meta_nodes(z, q, hard=False), tau, mask_self, eps)
