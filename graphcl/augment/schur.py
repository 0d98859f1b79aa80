"""Randomized Schur complement views (rLap; Kothapalli, ICML 2023).

Eliminating vertex ``v`` from the Laplacian ``L = D - A`` exactly adds a clique
on ``v``'s neighbours with weights ``w_vj w_vk / d_v``. The randomized version
(approximate Gaussian elimination, Kyng & Sachdeva) adds only ``deg(v) - 1``
edges: visit the neighbours ``j_1..j_d`` in random order; for every ``j_i`` but
the last, draw ``k`` among the LATER neighbours with probability ``w_vk / W_{i+1}``
(``W_{i+1}`` the weight of the later neighbours) and add ``(j_i, k)`` with weight
``f (1 - f) wdeg``, where ``f = w_{v j_i} colScale / wdeg`` and ``colScale``,
``wdeg`` start at 1 and ``d_v`` and shrink by ``(1 - f)`` and ``(1 - f)^2``.
Unrolled, ``colScale_i = W_i / d_v`` and ``wdeg_i = W_i^2 / d_v``, so the new
edge weight is simply ``w_{v j_i} W_{i+1} / d_v`` and its expectation for the
pair ``(j_i, k)`` is ``w_{v j_i} w_vk / d_v``: unbiased for one vertex.

Vectorised: every round picks an independent set of the vertices still to be
eliminated (no two adjacent in the CURRENT graph: Luby-style local minima of
random priorities, or of ``degree + noise`` for ``order="degree"``). Such
eliminations commute, so the whole set is eliminated at once with segment
operations (sort, cumulative/suffix sums, ``searchsorted`` sampling), the graph
is updated and coalesced (duplicate edges summed), and the next round starts.

For an independent eliminated set the view's Laplacian restricted to the kept
vertices equals the exact Schur complement in expectation. For general sets a
later elimination divides by a random degree, so a (small) bias remains, as in
the sequential algorithm; ``tests/test_schur.py`` and ``benchmarks/schur.py``
measure it.

Input conventions: the graph must be symmetric (both directions, equal
weights), else ``ValueError``. Self-loops are removed (they do not change the
Laplacian ``D - A``); zero-weight edges are dropped; duplicate edges are summed.
Eliminated vertices keep their ids and become isolated (``num_nodes`` is
unchanged, trailing isolated ids included). The output is coalesced
(sorted by ``row * N + col``), symmetric, non-negative, and never has more
edges than the input.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from graphcl.augment.base import Augmentor, _num_nodes, replace_edges
from graphcl.augment.basic import mask_feature
from graphcl.validation import (
    check_edge_index,
    check_edge_weight,
    check_fraction,
    check_generator,
    check_node_ids,
    check_probability,
)

__all__ = ["schur_complement", "exact_schur_complement", "SchurView"]

_ORDERS = ("random", "degree")


def _coalesce(row: Tensor, col: Tensor, w: Tensor, n: int) -> tuple[Tensor, Tensor, Tensor]:
    key = row * max(n, 1) + col
    uniq, inv = torch.unique(key, sorted=True, return_inverse=True)
    ws = torch.zeros(uniq.numel(), dtype=w.dtype, device=w.device).index_add_(0, inv, w)
    r = torch.div(uniq, max(n, 1), rounding_mode="floor")
    return r, uniq - r * max(n, 1), ws


def _prepare(
    edge_index: Tensor, edge_weight: Tensor | None, n: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Coalesced float64 symmetric edge list without self-loops; raises on asymmetric input."""
    device = edge_index.device
    row, col = edge_index[0].long(), edge_index[1].long()
    if edge_weight is None:
        w = torch.ones(row.numel(), dtype=torch.float64, device=device)
    else:
        w = edge_weight.to(torch.float64)
    keep = row != col
    row, col, w = _coalesce(row[keep], col[keep], w[keep], n)
    if row.numel():
        key = row * n + col
        rkey = col * n + row
        pos = torch.searchsorted(key, rkey).clamp(max=key.numel() - 1)
        found = key[pos] == rkey
        if not bool(found.all()):
            bad = int((~found).nonzero()[0])
            raise ValueError(
                "edge_index must be symmetric (undirected, both directions stored): edge "
                f"({int(row[bad])}, {int(col[bad])}) has no reverse; symmetrise it first, "
                "e.g. torch_geometric.utils.to_undirected"
            )
        if not torch.allclose(w[pos], w, rtol=1e-5, atol=1e-8):
            raise ValueError(
                "edge_weight must be symmetric: w(u, v) must equal w(v, u) for every edge"
            )
        w = 0.5 * (w + w[pos])  # exact symmetry from here on
        nz = w > 0
        row, col, w = row[nz], col[nz], w[nz]
    return row, col, w


def _eliminate_round(
    row: Tensor,
    col: Tensor,
    w: Tensor,
    sel: Tensor,
    n: int,
    generator: torch.Generator | None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Eliminate the independent set ``sel`` (bool ``[N]``) from the coalesced graph."""
    device = row.device
    star = sel[row]
    sr, sc, sw = row[star], col[star], w[star]
    m = sr.numel()
    keep = ~(star | sel[col])
    row, col, w = row[keep], col[keep], w[keep]
    if m == 0:
        return row, col, w
    # random neighbour order inside every star: shuffle, then stable sort by centre
    perm = torch.argsort(torch.rand(m, generator=generator, device=device))
    perm = perm[torch.argsort(sr[perm], stable=True)]
    sr, sc, sw = sr[perm], sc[perm], sw[perm]
    idx = torch.arange(m, device=device)
    first = torch.ones(m, dtype=torch.bool, device=device)
    first[1:] = sr[1:] != sr[:-1]
    seg = torch.cumsum(first.long(), 0) - 1
    starts = idx[first]
    lasts = torch.cat([starts[1:] - 1, torch.tensor([m - 1], device=device)])
    last = lasts[seg]  # last position of every entry's star
    P = torch.cumsum(sw, 0)  # float64 inclusive prefix sums
    before = P[starts] - sw[starts]
    d = (P[lasts] - before)[seg]  # weighted degree of the centre
    later = (P[last] - P).clamp(min=0.0)  # W_{i+1}: weight of the later neighbours
    valid = idx < last
    u = torch.rand(m, generator=generator, device=device, dtype=P.dtype)
    r = P + u * later
    k = torch.searchsorted(P, r, right=True)
    k = torch.minimum(torch.maximum(k, idx + 1), last)
    nw = sw * later / d
    valid &= nw > 0
    a, b, nw = sc[valid], sc[k[valid]], nw[valid]
    row = torch.cat([row, a, b])
    col = torch.cat([col, b, a])
    w = torch.cat([w, nw, nw])
    return _coalesce(row, col, w, n)


def schur_complement(
    edge_index: Tensor,
    edge_weight: Tensor | None,
    num_nodes: int,
    fraction: float | None = None,
    eliminate: Tensor | None = None,
    order: str = "random",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Randomized Schur complement view: eliminate ``fraction`` of the vertices (or ``eliminate``).

    ``fraction`` in ``[0, 1)`` eliminates ``floor(fraction * num_nodes)`` vertices:
    a uniformly random set for ``order="random"``, or greedily the vertices of
    minimum current degree for ``order="degree"`` (batched: local minima of
    ``degree + noise`` among the lowest-degree candidates). ``eliminate`` gives
    the vertex ids explicitly instead (``order`` then only sets the elimination
    order). ``edge_weight=None`` means unit weights.

    Returns ``(edge_index, edge_weight, eliminated)``: the coalesced symmetric
    view (weights in the input's floating dtype, or the default dtype) and the
    sorted eliminated ids, which are isolated in the view. See the module notes.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 1, 3], [1, 0, 2, 1, 3, 1]])
        >>> out, w, gone = schur_complement(ei, None, 4, eliminate=torch.tensor([1]),
        ...                                 generator=torch.Generator().manual_seed(0))
        >>> gone.tolist(), out.size(1)
        ([1], 4)
    """
    n = check_edge_index(edge_index, num_nodes)
    edge_weight = check_edge_weight(edge_weight, edge_index.size(1))
    if order not in _ORDERS:
        raise ValueError(f"order must be one of {_ORDERS}, got {order!r}")
    device = edge_index.device
    check_generator(generator, device)
    if (fraction is None) == (eliminate is None):
        raise ValueError("give exactly one of fraction and eliminate")
    out_dtype = edge_weight.dtype if edge_weight is not None else torch.get_default_dtype()
    row, col, w = _prepare(edge_index, edge_weight, n)

    todo = torch.zeros(n, dtype=torch.bool, device=device)
    remaining = 0  # used by the dynamic min-degree mode
    if eliminate is not None:
        ids = check_node_ids(eliminate, n, "eliminate").to(device)
        todo[ids] = True
        dynamic = False
    else:
        fraction = check_fraction(fraction, "fraction")
        k = int(fraction * n)
        dynamic = order == "degree"
        if dynamic:
            remaining = k
        elif k:
            todo[torch.randperm(n, generator=generator, device=device)[:k]] = True
    eliminated = torch.zeros(n, dtype=torch.bool, device=device)

    inf = torch.tensor(float("inf"), dtype=torch.float64, device=device)
    while (remaining > 0) if dynamic else bool(todo.any()):
        noise = torch.rand(n, generator=generator, device=device, dtype=torch.float64)
        if order == "degree":
            prio = torch.bincount(row, minlength=n).to(torch.float64) + noise
        else:
            prio = noise
        if dynamic:
            alive_prio = torch.where(eliminated, inf, prio)
            thr = torch.kthvalue(alive_prio, remaining).values
            cand = ~eliminated & (alive_prio <= thr)
        else:
            cand = todo
        both = cand[row] & cand[col]
        nbr_min = torch.full((n,), float("inf"), dtype=torch.float64, device=device)
        nbr_min.scatter_reduce_(0, row[both], prio[col[both]], "amin")
        sel = cand & (prio < nbr_min)
        if not bool(sel.any()):  # ties only: fall back to a single vertex
            sel = torch.zeros_like(cand)
            sel[torch.argmin(torch.where(cand, prio, inf))] = True
        row, col, w = _eliminate_round(row, col, w, sel, n, generator)
        eliminated |= sel
        todo &= ~sel
        if dynamic:
            remaining -= int(sel.sum())

    out = torch.stack([row, col])
    return out, w.to(out_dtype), eliminated.nonzero().view(-1)


def exact_schur_complement(
    edge_index: Tensor,
    edge_weight: Tensor | None,
    num_nodes: int,
    eliminate: Tensor,
) -> tuple[Tensor, Tensor]:
    """Exact Schur complement (dense, float64; for tests and small graphs).

    ``S = L_KK - L_KE L_EE^+ L_EK`` on the kept vertices ``K``; returned as a
    symmetric weighted graph on the ORIGINAL ids (eliminated ids isolated).
    Components made only of eliminated vertices simply vanish (pseudo-inverse).

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> out, w = exact_schur_complement(ei, None, 3, torch.tensor([1]))
        >>> out.tolist(), w.tolist()
        ([[0, 2], [2, 0]], [0.5, 0.5])
    """
    import numpy as np

    n = check_edge_index(edge_index, num_nodes)
    edge_weight = check_edge_weight(edge_weight, edge_index.size(1))
    ids = check_node_ids(eliminate, n, "eliminate")
    row, col, w = _prepare(edge_index.cpu(), None if edge_weight is None else edge_weight.cpu(), n)
    A = np.zeros((n, n))
    np.add.at(A, (row.numpy(), col.numpy()), w.numpy())
    L = np.diag(A.sum(1)) - A
    elim = np.zeros(n, dtype=bool)
    elim[ids.cpu().numpy()] = True
    K, E = np.flatnonzero(~elim), np.flatnonzero(elim)
    S = L[np.ix_(K, K)]
    if E.size:
        S = S - L[np.ix_(K, E)] @ np.linalg.pinv(L[np.ix_(E, E)]) @ L[np.ix_(E, K)]
    Aout = np.zeros((n, n))
    Aout[np.ix_(K, K)] = -S
    np.fill_diagonal(Aout, 0.0)
    Aout = 0.5 * (Aout + Aout.T)
    tol = 1e-12 * max(1.0, float(np.abs(A).max()) if n else 1.0)
    r, c = np.nonzero(Aout > tol)
    out = torch.from_numpy(np.stack([r, c])).long().to(edge_index.device)
    return out, torch.from_numpy(Aout[r, c]).to(edge_index.device)


class SchurView(Augmentor):
    """View: randomized Schur complement of ``Data``/``Batch`` (rLap), optionally followed by
    column feature masking (``feature_mask_p``, the paper's setting is 0.3).

    The view's ``edge_weight`` holds the new weights; other edge attributes are
    removed (they are undefined on new edges). On a ``Batch`` with
    ``order="random"`` every graph loses ``floor(fraction * n_g)`` vertices.
    It also composes with any other view, e.g. ``Compose([SchurView(0.3), MaskFeature(0.3)])``.

    Example:
        >>> view = SchurView(0.3, feature_mask_p=0.3, seed=0)
    """

    def __init__(
        self,
        fraction: float = 0.3,
        order: str = "random",
        *,
        feature_mask_p: float = 0.0,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.fraction = check_fraction(fraction, "fraction")
        if order not in _ORDERS:
            raise ValueError(f"order must be one of {_ORDERS}, got {order!r}")
        self.order = order
        self.feature_mask_p = check_probability(feature_mask_p, "feature_mask_p")

    def apply(self, data, generator):
        n = _num_nodes(data)
        ei = data.edge_index
        ew = getattr(data, "edge_weight", None)
        batch = getattr(data, "batch", None)
        if isinstance(batch, Tensor) and self.order == "random" and n:
            key = torch.rand(n, generator=generator, device=ei.device)
            order = torch.argsort(key)
            order = order[torch.argsort(batch[order], stable=True)]
            counts = torch.bincount(batch)
            firsts = torch.cumsum(counts, 0) - counts
            rank = torch.arange(n, device=ei.device) - firsts[batch[order]]
            quota = (counts.to(torch.float64) * self.fraction).long()
            elim = order[rank < quota[batch[order]]]
            out, w, _ = schur_complement(
                ei, ew, n, eliminate=elim, order=self.order, generator=generator
            )
        else:
            out, w, _ = schur_complement(
                ei, ew, n, fraction=self.fraction, order=self.order, generator=generator
            )
        data = replace_edges(data, out, w)
        if self.feature_mask_p > 0 and getattr(data, "x", None) is not None:
            data.x, _ = mask_feature(data.x, self.feature_mask_p, generator=generator)
        return data
