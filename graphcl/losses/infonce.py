"""Memory-safe InfoNCE (the GRACE objective) and its variants.

For two views ``z1, z2`` of ``N`` nodes, with ``u = z1 / |z1|``, ``v = z2 / |z2|``
and ``s(a, b) = cos(a, b) / tau``, GRACE's loss is

    l(u_i, v_i) = -log( e^{s(u_i, v_i)} / ( sum_k e^{s(u_i, v_k)} + sum_{k != i} e^{s(u_i, u_k)} ) )
    J = 1/(2N) sum_i [ l(u_i, v_i) + l(v_i, u_i) ].

Every term only needs, per anchor, the log-sum-exp (LSE) of one row of the
``N x N`` similarity matrices. :func:`infonce` computes those LSEs with a custom
autograd function that walks over ``block_size x COLUMN_BLOCK`` tiles: the
forward pass keeps only ``N``-vectors of denominators, the backward pass
recomputes each tile to form the gradient with respect to the normalised
embeddings. Neither pass ever stores an ``N x N`` or ``block x N`` tensor, and
autograd keeps only ``[N, d]`` and ``[N]`` tensors: peak memory is
``O(N * d + tile)``. The gradient then flows through the L2 normalisation by
ordinary autograd.

Work (fast path). Rows are unit vectors, so ``|cos / tau| <= 1/tau`` and ONE
constant shift ``c`` puts every entry of every row and column on a safe scale:
each tile entry costs one matrix-product entry and one ``exp2``, and that one
value serves both loss directions (the row sums of ``s12`` are view 1's
inter-view denominators, its column sums view 2's: ``l(u, v)`` and ``l(v, u)``
share the block). The intra-view matrices ``s11``/``s22`` are symmetric, so only
their upper triangle is visited (each off-diagonal tile serves its rows and its
columns). With ``T = N^2`` entries: forward ``2T`` products and exponentials
(``T`` for ``s12``, ``T/2`` per triangle), backward ``2T`` recomputed products
and exponentials plus ``4T`` gradient products (``dL/ds`` of a tile is
``E_ik (a_i + b_k)`` with per-anchor ``a = g / D``, one scaling pass, then the
row-side and column-side products): ``8 T d`` multiply-adds and ``4 T``
exponentials, against ``9 T d`` and ~``8 T`` for the dense autograd path. If
some denominator falls where float rounding of tiny terms would matter (very
small ``tau``), the call falls back to an exact running-maximum path (two
exponentials per ``s12`` entry, full intra-view rows).

Variants (keyword options of :func:`infonce`):

* ``intra_view_negatives=False``: only inter-view negatives (rLap's setting).
* ``decoupled=True``: DCL (Yeh et al. 2022), the positive pair is removed
  from the denominator.
* ``debiased=True``: debiased contrastive loss (Chuang et al. 2020) with class
  prior ``tau_plus``: the negative sum ``Neg`` over ``M`` negatives becomes
  ``Ng = max((Neg - tau_plus * M * e^{s_pos}) / (1 - tau_plus), M * e^{-1/tau})``.
* ``pair_shift=(S, gamma)``: CSGCL's Team-up objective; every similarity inside
  an exponential becomes ``(cos_ij + gamma * (S_i + S_j)) / tau`` (positive
  included), with ``S`` a constant per-node strength vector (no gradient).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from graphcl.validation import check_positive_float

__all__ = ["infonce", "infonce_dense", "default_block_size", "BLOCK_ELEMENTS", "MAX_BLOCK"]

#: Largest default number of rows per tile (``block_size=None``).
MAX_BLOCK = 512
#: Entries per default tile: ``MAX_BLOCK`` rows x ``COLUMN_BLOCK`` columns (4 MiB in float32).
BLOCK_ELEMENTS = 2**20
#: Columns per tile (at least the tile's rows). Tiles do not grow with N, so peak memory of the
#: loss beyond its ``[N, d]`` inputs and gradients is O(tile), whatever N. Measured on one CPU
#: thread, d = 128, N = 8000: 512 x 2048 tiles were the fastest of 256/512/1024 rows x
#: 512..N columns (within ~10 %, a noisy shared machine); larger tiles fall out of cache.
COLUMN_BLOCK = BLOCK_ELEMENTS // MAX_BLOCK


def default_block_size(num_nodes: int) -> int:
    """Rows per tile that ``infonce(block_size=None)`` uses: ``min(num_nodes, MAX_BLOCK)``.

    Example:
        >>> default_block_size(300), default_block_size(10_000)
        (300, 512)
    """
    return int(min(num_nodes, MAX_BLOCK))


# --------------------------------------------------------------------------- validation


def _check_inputs(z1: Tensor, z2: Tensor, tau: float) -> None:
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(z).__name__}")
        if z.dim() != 2:
            raise ValueError(f"{name} must be 2-D [num_nodes, dim], got shape {tuple(z.shape)}")
        if not z.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {z.dtype}")
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if z1.device != z2.device:
        raise ValueError(f"z1 and z2 must be on the same device, got {z1.device} and {z2.device}")
    if z1.size(0) < 2:
        raise ValueError(f"z1 and z2 need at least 2 rows (nodes), got {z1.size(0)}")
    check_positive_float(tau, "tau")


def _shift_offsets(pair_shift: Sequence | None, n: int, tau: float, like: Tensor) -> Tensor | None:
    """Per-node logit offsets ``gamma * S / tau`` (constant), or ``None``."""
    if pair_shift is None:
        return None
    if not isinstance(pair_shift, (tuple, list)) or len(pair_shift) != 2:
        raise TypeError("pair_shift must be a pair (strength_vector, gamma)")
    strength, gamma = pair_shift
    if isinstance(gamma, bool) or not isinstance(gamma, (int, float)) or not math.isfinite(gamma) or gamma < 0:
        raise ValueError(f"pair_shift gamma must be a finite number >= 0, got {gamma!r}")
    s = torch.as_tensor(strength)
    if s.dim() != 1 or s.numel() != n:
        raise ValueError(f"pair_shift strength must be a vector of {n} values, got shape {tuple(s.shape)}")
    if not torch.isfinite(s).all():
        raise ValueError("pair_shift strength holds non-finite values")
    if gamma == 0:
        return None
    return s.detach().to(device=like.device, dtype=like.dtype) * (float(gamma) / tau)


# --------------------------------------------------------------------------- tiles

LOG2E = 1.4426950408889634


def _tile_sizes(n: int, block_size: int | None) -> tuple[int, int]:
    """``(rows, columns)`` of the tiles: ``block_size`` (or the default) rows and at least as many columns."""
    rows = default_block_size(n) if block_size is None else int(min(block_size, n))
    return rows, int(min(n, max(rows, COLUMN_BLOCK)))


def _diag_in_tile(t: Tensor, r0: int, c0: int) -> Tensor:
    """The entries of tile ``t`` (global rows from ``r0``, columns from ``c0``) with global row == column."""
    if c0 - r0 >= t.size(0) or r0 - c0 >= t.size(1):
        return t.new_empty(0)
    return t.diagonal(offset=r0 - c0)


class _Tiler:
    """``E = exp(s - c)`` tiles of ``s = a b^T / tau`` (unit rows, so ``|s| <= 1/tau``), by ``exp2``.

    ``c`` is one constant (0, or ``1/tau - 60`` for very small ``tau``), so that every tile
    entry of every row and column is on the same scale: one exponential per entry serves the
    row sums (anchors of the first view) and the column sums (anchors of the second view) alike,
    and no running maximum is needed. :func:`_fixed_ok` checks afterwards that no
    denominator fell into the range where float rounding of tiny terms matters.
    """

    def __init__(self, inv_tau: float) -> None:
        self.c = max(0.0, inv_tau - 60.0)
        self.scale = inv_tau * LOG2E
        self.shift = self.c * LOG2E

    def scaled(self, h: Tensor) -> Tensor:
        return h * self.scale

    def __call__(self, a_scaled: Tensor, b: Tensor) -> Tensor:
        t = torch.mm(a_scaled, b.t())
        if self.shift:
            t.sub_(self.shift)
        return t.exp2_()


def _row_sum(t: Tensor, w: Tensor | None) -> Tensor:
    return t.sum(1) if w is None else torch.mv(t, w)


def _col_sum(t: Tensor, w: Tensor | None) -> Tensor:
    return t.sum(0) if w is None else torch.mv(t.t(), w)


def _scale_tile(t: Tensor, a_rows: Tensor, b_cols: Tensor, w_rows: Tensor | None, w_cols: Tensor | None) -> Tensor:
    """``t * (a_i w_k + w_i b_k)`` in place (``w = 1`` when ``None``)."""
    if w_rows is None:
        return t.mul_(a_rows.unsqueeze(1) + b_cols.unsqueeze(0))
    return t.mul_(torch.outer(a_rows, w_cols).addr_(w_rows, b_cols))


# --------------------------------------------------------------------------- fixed-scale blockwise sums


def _fixed_forward(h1: Tensor, h2: Tensor, w: Tensor | None, inv_tau: float, rows: int, cols: int,
                   include_pos: bool, intra: bool) -> tuple[Tensor, Tensor]:
    """Scaled denominators ``(D1, D2)``: ``lse = log D + c + o_i + max(o)`` (see :class:`_BlockLSE`).

    ``s12`` is walked over all ``rows x cols`` tiles (row sums -> ``D1``, column sums ->
    ``D2``); the symmetric ``s11`` and ``s22`` only over their upper triangle (each
    off-diagonal tile gives the row sums of its rows and the column sums of its columns).
    """
    n = h1.size(0)
    tile = _Tiler(inv_tau)
    # per-tile sums are float32 (pairwise); their accumulation over up to N / tile tiles is float64
    d1 = torch.zeros(n, dtype=torch.float64, device=h1.device)
    d2 = torch.zeros(n, dtype=torch.float64, device=h1.device)
    hs1 = tile.scaled(h1)
    hs2 = tile.scaled(h2) if intra else None
    for r0 in range(0, n, rows):
        r1 = min(r0 + rows, n)
        wr = None if w is None else w[r0:r1]
        for c0 in range(0, n, cols):
            c1 = min(c0 + cols, n)
            wc = None if w is None else w[c0:c1]
            t = tile(hs1[r0:r1], h2[c0:c1])
            if not include_pos:
                _diag_in_tile(t, r0, c0).zero_()
            d1[r0:r1] += _row_sum(t, wc)
            d2[c0:c1] += _col_sum(t, wr)
            del t
        if intra:
            for hs, h, d in ((hs1, h1, d1), (hs2, h2, d2)):
                for c0 in range(r0, n, cols):
                    c1 = min(c0 + cols, n)
                    wc = None if w is None else w[c0:c1]
                    t = tile(hs[r0:r1], h[c0:c1])
                    if c0 == r0:  # the strip's first tile holds the diagonal block
                        t.diagonal().zero_()
                        k = r1 - r0
                        d[r0:r1] += _row_sum(t, wc)
                        d[r1:c1] += _col_sum(t[:, k:], wr)
                    else:
                        d[r0:r1] += _row_sum(t, wc)
                        d[c0:c1] += _col_sum(t, wr)
                    del t
    return d1.to(h1.dtype), d2.to(h1.dtype)


def _fixed_backward(h1: Tensor, h2: Tensor, w: Tensor | None, a1: Tensor, a2: Tensor, inv_tau: float, rows: int,
                    cols: int, include_pos: bool, intra: bool) -> tuple[Tensor, Tensor]:
    """Gradients w.r.t. ``h1, h2`` given ``a = g / D`` per anchor, tiles recomputed as in the forward.

    With ``E`` a tile, ``dL/ds12_ik = E_ik (a1_i w_k + w_i a2_k)``; for the symmetric
    ``s11`` the gradient is ``M h1 / tau`` with ``M_ik = E_ik (a1_i w_k + w_i a1_k)``
    symmetric, so every upper-triangle tile serves its rows (``M h``) and its columns (``M^T h``).
    """
    n = h1.size(0)
    tile = _Tiler(inv_tau)
    gh1 = torch.zeros_like(h1)
    gh2 = torch.zeros_like(h2)
    # column-side terms ``tile^T x`` are accumulated transposed (``x^T tile`` into ``[d, N]``):
    # measured ~12 % faster than ``addmm_(tile.t(), x)`` on CPU
    gc1 = torch.zeros(h1.size(1), n, dtype=h1.dtype, device=h1.device) if intra else None
    gc2 = torch.zeros(h2.size(1), n, dtype=h2.dtype, device=h2.device)
    hs1 = tile.scaled(h1)
    hs2 = tile.scaled(h2) if intra else None
    for r0 in range(0, n, rows):
        r1 = min(r0 + rows, n)
        wr = None if w is None else w[r0:r1]
        x1t, x2t = h1[r0:r1].t(), h2[r0:r1].t()
        for c0 in range(0, n, cols):
            c1 = min(c0 + cols, n)
            wc = None if w is None else w[c0:c1]
            t = tile(hs1[r0:r1], h2[c0:c1])
            if not include_pos:
                _diag_in_tile(t, r0, c0).zero_()
            _scale_tile(t, a1[r0:r1], a2[c0:c1], wr, wc)
            gh1[r0:r1].addmm_(t, h2[c0:c1], alpha=inv_tau)
            gc2[:, c0:c1].addmm_(x1t, t, alpha=inv_tau)
            del t
        if intra:
            for hs, h, xt, a, gh, gc in ((hs1, h1, x1t, a1, gh1, gc1), (hs2, h2, x2t, a2, gh2, gc2)):
                for c0 in range(r0, n, cols):
                    c1 = min(c0 + cols, n)
                    wc = None if w is None else w[c0:c1]
                    t = tile(hs[r0:r1], h[c0:c1])
                    if c0 == r0:
                        t.diagonal().zero_()
                    _scale_tile(t, a[r0:r1], a[c0:c1], wr, wc)
                    gh[r0:r1].addmm_(t, h[c0:c1], alpha=inv_tau)
                    k = r1 - r0 if c0 == r0 else 0
                    if c1 > c0 + k:
                        gc[:, c0 + k:c1].addmm_(xt, t[:, k:], alpha=inv_tau)
                    del t
    gh2.add_(gc2.t())
    if intra:
        gh1.add_(gc1.t())
    return gh1, gh2


def _fixed_ok(d: Tensor, n: int) -> bool:
    """Whether every scaled denominator is finite and far above the float underflow range.

    Terms below ``finfo.tiny`` lose their precision (or are flushed to 0); with at most ``2N``
    of them the absolute error is below ``2N * tiny``, i.e. below ``eps`` relative once
    ``D >= 2N * tiny / eps``.
    """
    fi = torch.finfo(d.dtype)
    return bool(torch.isfinite(d).all()) and float(d.min()) >= 2 * n * fi.tiny / fi.eps


# --------------------------------------------------------------------------- running-maximum fallback


def _logits(a: Tensor, b: Tensor, inv_tau: float, o_rows: Tensor | None, o_cols: Tensor | None) -> Tensor:
    """``a @ b.T / tau`` plus the pair offsets ``o_rows[:, None] + o_cols[None, :]``."""
    s = torch.mm(a, b.t()).mul_(inv_tau)
    if o_cols is not None:
        s.add_(o_cols.unsqueeze(0)).add_(o_rows.unsqueeze(1))
    return s


def _mask_diag(s: Tensor, start: int) -> Tensor:
    """Set entries ``(i, start + i)`` of a row block to ``-inf`` (in place)."""
    s.diagonal(offset=start).fill_(-math.inf)
    return s


def _finite(m: Tensor) -> Tensor:
    """Replace infinite maxima (empty rows) by 0 so that ``x - m`` never gives NaN."""
    return torch.where(torch.isfinite(m), m, torch.zeros_like(m))


def _online_rows(n: int, rows: int) -> int:
    """Rows per strip of the fallback, whose temporaries are ``rows x N``: at most ``2**23`` entries (>= 32 rows)."""
    return int(min(rows, max(32, 2**23 // n)))


def _online_forward(h1: Tensor, h2: Tensor, o: Tensor | None, inv_tau: float, block: int, include_pos: bool,
                    intra: bool) -> tuple[Tensor, Tensor]:
    """``(lse1, lse2)`` with per-row and per-column running maxima (any ``tau``, any offsets).

    The fallback of :class:`_BlockLSE` for the rare inputs where one fixed scale does not
    fit every row (very small ``tau`` or widely spread ``pair_shift`` offsets): the row and
    column LSEs of ``s12`` then need separate maxima, hence two exponentials per entry.
    """
    n = h1.size(0)
    lse1 = torch.empty(n, dtype=h1.dtype, device=h1.device)
    lse2_intra = torch.empty(n, dtype=h1.dtype, device=h1.device) if intra else None
    col_max = torch.full((n,), -math.inf, dtype=h1.dtype, device=h1.device)
    col_sum = torch.zeros(n, dtype=h1.dtype, device=h1.device)
    for start in range(0, n, block):
        end = min(start + block, n)
        orow = None if o is None else o[start:end]
        s12 = _logits(h1[start:end], h2, inv_tau, orow, o)
        if not include_pos:
            _mask_diag(s12, start)
        # inter-view term of view 2's anchors: column LSE, accumulated online
        bmax = torch.maximum(col_max, s12.amax(0))
        safe = _finite(bmax)
        e = s12 - safe.unsqueeze(0)
        col_sum.mul_(torch.exp(col_max - safe)).add_(e.exp_().sum(0))
        del e
        col_max = bmax
        # view 1's anchors: row LSE over [s12 row, s11 row without the diagonal]
        rmax = s12.amax(1)
        if intra:
            s11 = _mask_diag(_logits(h1[start:end], h1, inv_tau, orow, o), start)
            rmax = torch.maximum(rmax, s11.amax(1))
        rsafe = _finite(rmax).unsqueeze(1)
        rsum = s12.sub_(rsafe).exp_().sum(1)
        del s12
        if intra:
            rsum += s11.sub_(rsafe).exp_().sum(1)
            del s11
            s22 = _mask_diag(_logits(h2[start:end], h2, inv_tau, orow, o), start)
            m22 = _finite(s22.amax(1))
            lse2_intra[start:end] = s22.sub_(m22.unsqueeze(1)).exp_().sum(1).log_().add_(m22)
            del s22
        lse1[start:end] = rsum.log_().add_(rsafe.squeeze(1))
    lse2 = col_sum.log_().add_(_finite(col_max))
    if intra:
        lse2 = torch.logaddexp(lse2, lse2_intra)
    return lse1, lse2


def _online_backward(h1: Tensor, h2: Tensor, o: Tensor | None, lse1: Tensor, lse2: Tensor, g1: Tensor, g2: Tensor,
                     inv_tau: float, block: int, include_pos: bool, intra: bool) -> tuple[Tensor, Tensor]:
    """Gradients of ``sum(g1 * lse1 + g2 * lse2)`` for :func:`_online_forward` (exact softmax weights)."""
    n = h1.size(0)
    gh1 = torch.zeros_like(h1)
    gh2 = torch.zeros_like(h2)
    for start in range(0, n, block):
        end = min(start + block, n)
        orow = None if o is None else o[start:end]
        a1, a2 = h1[start:end], h2[start:end]
        # inter-view: W_ik = g1_i P12_ik + g2_k P21_ki, both read off the s12 block
        s12 = _logits(a1, h2, inv_tau, orow, o)
        if not include_pos:
            _mask_diag(s12, start)
        w = (s12 - lse2.unsqueeze(0)).exp_().mul_(g2.unsqueeze(0))
        w.add_(s12.sub_(lse1[start:end].unsqueeze(1)).exp_().mul_(g1[start:end].unsqueeze(1)))
        del s12
        gh1[start:end].addmm_(w, h2, alpha=inv_tau)
        gh2.addmm_(w.t(), a1, alpha=inv_tau)
        del w
        if intra:
            # intra-view: s11 is symmetric, so d/dh1 = (G + G^T) h1 / tau, read row-wise
            for a, h, g, lse, gh in ((a1, h1, g1, lse1, gh1), (a2, h2, g2, lse2, gh2)):
                s = _mask_diag(_logits(a, h, inv_tau, orow, o), start)
                w = (s - lse.unsqueeze(0)).exp_().mul_(g.unsqueeze(0))
                w.add_(s.sub_(lse[start:end].unsqueeze(1)).exp_().mul_(g[start:end].unsqueeze(1)))
                del s
                gh[start:end].addmm_(w, h, alpha=inv_tau)
                del w
    return gh1, gh2


# --------------------------------------------------------------------------- autograd function


class _BlockLSE(torch.autograd.Function):
    """Row log-sum-exps of the InfoNCE denominators, blockwise with recomputation.

    Returns ``(lse1, lse2)``: ``lse1[i]`` is the log of the denominator sum for
    anchor ``u_i`` (inter-view terms, positive included iff ``include_pos``, plus
    intra-view terms ``k != i`` iff ``intra``), ``lse2[i]`` the same for ``v_i``.

    Fast path: with ``w = exp(o - max o)``, ``e^{s_ik} = e^{c + o_i + max o} E_ik w_k`` where
    ``E = exp(cos / tau - c)`` takes one ``exp2`` per entry, so ``lse_i = c + o_i + max o +
    log D_i`` with ``D_i = sum_k E_ik w_k`` (row sums for view 1, column sums of the same
    tiles for view 2). If some ``D`` is not safely representable (:func:`_fixed_ok`) the call
    falls back to :func:`_online_forward` / :func:`_online_backward`.
    """

    @staticmethod
    def forward(ctx, h1, h2, o, inv_tau, rows, cols, include_pos, intra):
        n = h1.size(0)
        has_o = o.numel() > 0
        omax = o.max() if has_o else None
        w = torch.exp(o - omax) if has_o else None
        d1, d2 = _fixed_forward(h1, h2, w, inv_tau, rows, cols, include_pos, intra)
        fast = _fixed_ok(d1, n) and _fixed_ok(d2, n)
        if fast:
            base = _Tiler(inv_tau).c
            lse1, lse2 = d1.log().add_(base), d2.log().add_(base)
            if has_o:
                lse1.add_(o + omax)
                lse2.add_(o + omax)
            ctx.save_for_backward(h1, h2, o, d1, d2)
        else:
            lse1, lse2 = _online_forward(h1, h2, o if has_o else None, inv_tau, _online_rows(n, rows), include_pos,
                                         intra)
            ctx.save_for_backward(h1, h2, o, lse1, lse2)
        ctx.fast = fast
        ctx.inv_tau, ctx.rows, ctx.cols, ctx.include_pos, ctx.intra = inv_tau, rows, cols, include_pos, intra
        return lse1, lse2

    @staticmethod
    @once_differentiable
    def backward(ctx, g1, g2):
        h1, h2, o, v1, v2 = ctx.saved_tensors
        has_o = o.numel() > 0
        g1 = torch.zeros_like(v1) if g1 is None else g1.contiguous()
        g2 = torch.zeros_like(v2) if g2 is None else g2.contiguous()
        if ctx.fast:
            w = torch.exp(o - o.max()) if has_o else None
            gh1, gh2 = _fixed_backward(h1, h2, w, g1 / v1, g2 / v2, ctx.inv_tau, ctx.rows, ctx.cols,
                                       ctx.include_pos, ctx.intra)
        else:
            gh1, gh2 = _online_backward(h1, h2, o if has_o else None, v1, v2, g1, g2, ctx.inv_tau,
                                        _online_rows(h1.size(0), ctx.rows), ctx.include_pos, ctx.intra)
        return gh1, gh2, None, None, None, None, None, None


# --------------------------------------------------------------------------- dense LSE


def _dense_lse(h1: Tensor, h2: Tensor, o: Tensor | None, inv_tau: float, include_pos: bool, intra: bool):
    """Same as :class:`_BlockLSE` with plain autograd and ``N x N`` matrices."""
    n = h1.size(0)
    eye = torch.eye(n, dtype=torch.bool, device=h1.device)
    oo = None if o is None else o.unsqueeze(1) + o.unsqueeze(0)

    def logits(a, b):
        s = a @ b.t() * inv_tau
        return s if oo is None else s + oo

    s12 = logits(h1, h2)
    if not include_pos:
        s12 = s12.masked_fill(eye, -math.inf)
    inter1, inter2 = s12, s12.t()
    if not intra:
        return torch.logsumexp(inter1, 1), torch.logsumexp(inter2, 1)
    s11 = logits(h1, h1).masked_fill(eye, -math.inf)
    s22 = logits(h2, h2).masked_fill(eye, -math.inf)
    return (torch.logsumexp(torch.cat([inter1, s11], 1), 1),
            torch.logsumexp(torch.cat([inter2, s22], 1), 1))


# --------------------------------------------------------------------------- public API


def infonce(
    z1: Tensor,
    z2: Tensor,
    tau: float = 0.5,
    intra_view_negatives: bool = True,
    block_size: int | None = None,
    *,
    decoupled: bool = False,
    debiased: bool = False,
    tau_plus: float = 0.1,
    pair_shift: tuple[Tensor, float] | None = None,
    reduction: str = "mean",
) -> Tensor:
    """GRACE's symmetric InfoNCE loss between two views, in ``O(N * block)`` memory.

    Args:
        z1, z2: ``[N, d]`` embeddings of the same nodes in two views (row ``i``
            of each is a positive pair); they are L2-normalised here.
        tau: temperature (> 0).
        intra_view_negatives: include ``sum_{k != i} e^{s(u_i, u_k)}`` (GRACE);
            ``False`` keeps inter-view negatives only (as rLap).
        block_size: rows per tile; ``None`` picks :func:`default_block_size`
            (``min(N, 512)``); tiles have ``max(block_size, COLUMN_BLOCK)``
            columns (2048 by default), about 4 MiB per float32 tile whatever N.
            The tiled path is used for every N: on CPU it was faster than the
            dense one at every size measured. Its backward is not itself
            differentiable: for higher-order gradients use :func:`infonce_dense`.
        decoupled: DCL, drop the positive from the denominator.
        debiased: Chuang et al. (2020) debiased negatives with prior ``tau_plus``;
            ``M`` is the number of negatives per anchor (``2N - 2`` or ``N - 1``).
        tau_plus: class prior of the debiased loss, in ``[0, 1)``.
        pair_shift: ``(S, gamma)``: CSGCL Team-up, ``s_ij -> (cos_ij + gamma (S_i + S_j)) / tau``
            inside every exponential. ``S`` is a constant ``[N]`` vector.
        reduction: ``"mean"`` (the scalar ``J``) or ``"none"`` (``[N]`` per-node
            ``(l(u_i, v_i) + l(v_i, u_i)) / 2``).

    Half-precision inputs are computed in float32. Returns a tensor on the input's device.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> z1, z2 = torch.randn(50, 8, generator=g), torch.randn(50, 8, generator=g)
        >>> dense = infonce(z1, z2, tau=0.5)
        >>> blocks = infonce(z1, z2, tau=0.5, block_size=16)
        >>> bool(torch.allclose(dense, blocks, atol=1e-5))
        True
    """
    return _infonce(z1, z2, tau, intra_view_negatives, block_size, decoupled=decoupled, debiased=debiased,
                    tau_plus=tau_plus, pair_shift=pair_shift, reduction=reduction, force_dense=False)


def _infonce(z1, z2, tau, intra_view_negatives, block_size, *, decoupled, debiased, tau_plus, pair_shift,
             reduction, force_dense):
    _check_inputs(z1, z2, tau)
    if block_size is not None and (isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1):
        raise ValueError(f"block_size must be a positive int or None, got {block_size!r}")
    if isinstance(tau_plus, bool) or not isinstance(tau_plus, (int, float)) or not 0 <= tau_plus < 1:
        raise ValueError(f"tau_plus must be a number in [0, 1), got {tau_plus!r}")
    if reduction not in ("mean", "none"):
        raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    tau = float(tau)
    if z1.dtype in (torch.float16, torch.bfloat16):
        z1, z2 = z1.float(), z2.float()
    n = z1.size(0)
    h1 = F.normalize(z1, dim=1)
    h2 = F.normalize(z2, dim=1)
    o = _shift_offsets(pair_shift, n, tau, h1)
    inv_tau = 1.0 / tau
    include_pos = not (decoupled or debiased)
    intra = bool(intra_view_negatives)

    if force_dense:
        lse1, lse2 = _dense_lse(h1, h2, o, inv_tau, include_pos, intra)
    else:
        o_arg = o if o is not None else h1.new_empty(0)
        rows, cols = _tile_sizes(n, block_size)
        lse1, lse2 = _BlockLSE.apply(h1, h2, o_arg, inv_tau, rows, cols, include_pos, intra)

    pos = (h1 * h2).sum(1) * inv_tau
    if o is not None:
        pos = pos + 2 * o
    if debiased:
        m = 2 * n - 2 if intra else n - 1
        floor = math.log(m) - inv_tau

        def log_ng(lse_neg: Tensor) -> Tensor:
            ratio = tau_plus * m * torch.exp(pos - lse_neg)
            inner = lse_neg + torch.log(torch.clamp(1 - ratio, min=1e-30)) - math.log(1 - tau_plus)
            return torch.clamp(inner, min=floor)

        ng1, ng2 = log_ng(lse1), log_ng(lse2)
        den1 = ng1 if decoupled else torch.logaddexp(pos, ng1)
        den2 = ng2 if decoupled else torch.logaddexp(pos, ng2)
    else:
        den1, den2 = lse1, lse2
    per_node = 0.5 * ((den1 - pos) + (den2 - pos))
    return per_node.mean() if reduction == "mean" else per_node


def infonce_dense(
    z1: Tensor,
    z2: Tensor,
    tau: float = 0.5,
    intra_view_negatives: bool = True,
    *,
    decoupled: bool = False,
    debiased: bool = False,
    tau_plus: float = 0.1,
    pair_shift: tuple[Tensor, float] | None = None,
    reduction: str = "mean",
) -> Tensor:
    """:func:`infonce` on the dense ``N x N`` path whatever ``N`` (for comparisons and benchmarks).

    Example:
        >>> z = torch.randn(10, 4)
        >>> bool(torch.isclose(infonce_dense(z, z + 0.1), infonce(z, z + 0.1, block_size=3), atol=1e-5))
        True
    """
    return _infonce(z1, z2, tau, intra_view_negatives, None, decoupled=decoupled, debiased=debiased,
                    tau_plus=tau_plus, pair_shift=pair_shift, reduction=reduction, force_dense=True)
