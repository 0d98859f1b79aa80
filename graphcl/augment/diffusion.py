"""Graph diffusion views: personalised PageRank (PPR) and heat kernel (as in GDC / MVGRL).

``S = sum_k theta_k T^k`` for a normalised transition matrix ``T``:

* PPR: ``theta_k = alpha (1 - alpha)^k``, i.e. ``S = alpha (I - (1 - alpha) T)^-1``;
* heat: ``theta_k = exp(-t) t^k / k!``, i.e. ``S = exp(-t (I - T))``.

``T`` is ``D^-1/2 (A + I) D^-1/2`` (``kind="sym"``, default, self-loops added as
in GDC) or ``D^-1 (A + I)`` (``kind="rw"``: then row ``i`` of the PPR matrix is
the PPR vector of seed ``i``). Large graphs never form a dense ``N x N``: the
truncated series (remaining coefficient mass below 1e-9) is summed with
sparse-sparse products; entries of every scaled term below ``tol`` are pruned
(default ``threshold``, or 1e-4 with ``top_k`` only, like GDC's push eps), so each row of a term
holds at most about ``(row mass) / tol`` entries: choose ``tol`` for the memory
you have (the pruned mass is an error of at most ``tol`` per entry and step).
For ``N <= dense_max_nodes`` (default 5000) an exact dense computation (linear
solve / matrix exponential) is used instead, as an optimisation. The
result is sparsified with ``threshold`` (keep entries ``>= threshold``) and/or
``top_k`` (keep the ``k`` largest entries of every row).
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import Tensor

from graphcl.augment.base import Augmentor, _num_nodes, replace_edges
from graphcl.sparse import normalized_adjacency
from graphcl.validation import (
    check_edge_index,
    check_edge_weight,
    check_positive_float,
    check_positive_int,
    check_probability,
)

__all__ = ["ppr_diffusion", "heat_diffusion", "sparsify_rows", "PPRDiffusion", "HeatDiffusion"]


def sparsify_rows(
    row: Tensor,
    col: Tensor,
    val: Tensor,
    num_nodes: int,
    *,
    threshold: float | None = None,
    top_k: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Keep entries ``>= threshold`` and/or the ``top_k`` largest of every row.

    Returns ``(edge_index, edge_weight)`` sorted by ``(row, col)``.

    Example:
        >>> ei, w = sparsify_rows(torch.tensor([0, 0, 1]), torch.tensor([0, 1, 1]),
        ...                       torch.tensor([0.5, 0.1, 0.9]), 2, top_k=1)
        >>> ei.tolist(), w.tolist()
        ([[0, 1], [0, 1]], [0.5, 0.8999999761581421])
    """
    if threshold is not None:
        keep = val >= threshold
        row, col, val = row[keep], col[keep], val[keep]
    if top_k is not None:
        top_k = check_positive_int(top_k, "top_k")
        perm = torch.argsort(val, descending=True, stable=True)
        perm = perm[torch.argsort(row[perm], stable=True)]
        row, col, val = row[perm], col[perm], val[perm]
        counts = torch.bincount(row, minlength=num_nodes)
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(row.numel(), device=row.device) - starts[row]
        keep = rank < top_k
        row, col, val = row[keep], col[keep], val[keep]
    key = row * max(num_nodes, 1) + col
    order = torch.argsort(key)
    return torch.stack([row[order], col[order]]), val[order]


def _transition(
    edge_index: Tensor, n: int, edge_weight: Tensor | None, kind: str, add_self_loops: bool
) -> Tensor:
    T = normalized_adjacency(edge_index, n, edge_weight, add_self_loops=add_self_loops, kind=kind)
    return T.to(torch.float64).coalesce()


def _series_sparse(T: Tensor, coeffs: list[float], prune: float) -> tuple[Tensor, Tensor, Tensor]:
    """``sum_k coeffs[k] T^k`` with sparse CSR products; entries of every scaled term
    ``coeffs[k] T^k`` below ``prune`` are dropped (bounds the fill-in).

    Returns the coalesced ``(row, col, value)`` of the sum.
    """
    n = T.size(0)
    device = T.device
    with warnings.catch_warnings():  # torch warns that sparse CSR support is beta
        warnings.simplefilter("ignore", UserWarning)
        Tc = T.to_sparse_csr()
        ids = torch.arange(n, device=device)
        crow = torch.arange(n + 1, device=device)
        col = ids.clone()
        val = torch.full((n,), coeffs[0], dtype=torch.float64, device=device)
        rows, cols, vals = [ids], [col], [val]
        for c_prev, c in zip(coeffs[:-1], coeffs[1:]):
            term = torch.sparse_csr_tensor(crow, col, val, (n, n)) @ Tc
            crow, col = term.crow_indices(), term.col_indices()
            val = term.values() * (c / c_prev)
            row = torch.repeat_interleave(ids, crow[1:] - crow[:-1])
            keep = val.abs() >= prune
            row, col, val = row[keep], col[keep], val[keep]
            if val.numel() == 0:
                break
            crow = torch.zeros(n + 1, dtype=torch.long, device=device)
            torch.cumsum(torch.bincount(row, minlength=n), 0, out=crow[1:])
            rows.append(row)
            cols.append(col)
            vals.append(val)
    row, col, val = torch.cat(rows), torch.cat(cols), torch.cat(vals)
    key, inv = torch.unique(row * n + col, return_inverse=True)
    total = torch.zeros(key.numel(), dtype=val.dtype, device=device).index_add_(0, inv, val)
    return torch.div(key, n, rounding_mode="floor"), key % n, total


def _diffuse(
    edge_index: Tensor,
    num_nodes: int | None,
    edge_weight: Tensor | None,
    coeffs: list[float],
    exact_dense,
    *,
    kind: str,
    add_self_loops: bool,
    threshold: float | None,
    top_k: int | None,
    tol: float | None,
    dense_max_nodes: int,
) -> tuple[Tensor, Tensor]:
    n = check_edge_index(edge_index, num_nodes)
    if tol is None:
        tol = threshold if threshold else 1e-4
    tol = check_positive_float(tol, "tol")
    edge_weight = check_edge_weight(edge_weight, edge_index.size(1))
    if kind not in ("sym", "rw"):
        raise ValueError(f"kind must be 'sym' or 'rw', got {kind!r}")
    if threshold is not None and (not isinstance(threshold, (int, float)) or threshold < 0):
        raise ValueError(f"threshold must be a non-negative number or None, got {threshold!r}")
    if threshold is None and top_k is None and n > dense_max_nodes:
        raise ValueError("give threshold and/or top_k: the full diffusion matrix is dense")
    out_dtype = edge_weight.dtype if edge_weight is not None else torch.get_default_dtype()
    device = edge_index.device
    if n == 0:
        return torch.empty(2, 0, dtype=torch.long, device=device), torch.empty(
            0, dtype=out_dtype, device=device
        )
    T = _transition(edge_index, n, edge_weight, kind, add_self_loops)
    if n <= dense_max_nodes:
        S = exact_dense(T.to_dense())
        row, col = torch.nonzero(S != 0, as_tuple=True)
        val = S[row, col]
    else:
        row, col, val = _series_sparse(T, coeffs, tol)
    ei, w = sparsify_rows(row, col, val, n, threshold=threshold, top_k=top_k)
    return ei, w.to(out_dtype)


def ppr_diffusion(
    edge_index: Tensor,
    num_nodes: int | None = None,
    alpha: float = 0.15,
    *,
    edge_weight: Tensor | None = None,
    kind: str = "sym",
    add_self_loops: bool = True,
    threshold: float | None = 1e-4,
    top_k: int | None = None,
    tol: float | None = None,
    dense_max_nodes: int = 5000,
) -> tuple[Tensor, Tensor]:
    """Sparse PPR diffusion ``S = alpha (I - (1 - alpha) T)^-1`` as ``(edge_index, edge_weight)``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> out, w = ppr_diffusion(ei, 3, alpha=0.2, threshold=0.01)
        >>> out.size(1)
        9
    """
    alpha = check_probability(alpha, "alpha")
    if alpha == 0.0:
        raise ValueError("alpha must be in (0, 1]")
    K = 1 if alpha == 1.0 else max(1, math.ceil(math.log(1e-9) / math.log(1.0 - alpha)))
    coeffs = [alpha * (1.0 - alpha) ** k for k in range(K + 1)]

    def exact(Td: Tensor) -> Tensor:
        eye = torch.eye(Td.size(0), dtype=Td.dtype, device=Td.device)
        return alpha * torch.linalg.solve(eye - (1.0 - alpha) * Td, eye)

    return _diffuse(
        edge_index, num_nodes, edge_weight, coeffs, exact, kind=kind,
        add_self_loops=add_self_loops, threshold=threshold, top_k=top_k, tol=tol,
        dense_max_nodes=dense_max_nodes,
    )


def heat_diffusion(
    edge_index: Tensor,
    num_nodes: int | None = None,
    t: float = 5.0,
    *,
    edge_weight: Tensor | None = None,
    kind: str = "sym",
    add_self_loops: bool = True,
    threshold: float | None = 1e-4,
    top_k: int | None = None,
    tol: float | None = None,
    dense_max_nodes: int = 5000,
) -> tuple[Tensor, Tensor]:
    """Sparse heat-kernel diffusion ``S = exp(-t (I - T))`` as ``(edge_index, edge_weight)``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> out, w = heat_diffusion(ei, 3, t=1.0, threshold=0.01)
        >>> out.size(1)
        9
    """
    t = check_positive_float(t, "t")
    coeffs = [math.exp(-t)]
    k = 0
    # truncate once the remaining Poisson mass is below tol
    while 1.0 - sum(coeffs) > 1e-9 and k < 10_000:
        k += 1
        coeffs.append(coeffs[-1] * t / k)

    def exact(Td: Tensor) -> Tensor:
        eye = torch.eye(Td.size(0), dtype=Td.dtype, device=Td.device)
        return torch.linalg.matrix_exp(-t * (eye - Td))

    return _diffuse(
        edge_index, num_nodes, edge_weight, coeffs, exact, kind=kind,
        add_self_loops=add_self_loops, threshold=threshold, top_k=top_k, tol=tol,
        dense_max_nodes=dense_max_nodes,
    )


class _DiffusionView(Augmentor):
    def __init__(self, *, threshold=1e-4, top_k=None, kind="sym", add_self_loops=True, **kw: Any):
        super().__init__(**kw)
        self.threshold = threshold
        self.top_k = top_k
        self.kind = kind
        self.add_self_loops = add_self_loops

    def _opts(self) -> dict:
        return {
            "threshold": self.threshold,
            "top_k": self.top_k,
            "kind": self.kind,
            "add_self_loops": self.add_self_loops,
        }


class PPRDiffusion(_DiffusionView):
    """View: replace the edges by the sparsified PPR diffusion (weights in ``edge_weight``;
    other edge attributes are removed). Deterministic.

    Example:
        >>> view = PPRDiffusion(alpha=0.2, top_k=64)
    """

    def __init__(self, alpha: float = 0.15, **kw: Any):
        super().__init__(**kw)
        self.alpha = check_probability(alpha, "alpha")

    def apply(self, data, generator):
        n = _num_nodes(data)
        ew = getattr(data, "edge_weight", None)
        ei, w = ppr_diffusion(data.edge_index, n, self.alpha, edge_weight=ew, **self._opts())
        return replace_edges(data, ei, w)


class HeatDiffusion(_DiffusionView):
    """View: replace the edges by the sparsified heat-kernel diffusion. Deterministic.

    Example:
        >>> view = HeatDiffusion(t=5.0, top_k=64)
    """

    def __init__(self, t: float = 5.0, **kw: Any):
        super().__init__(**kw)
        self.t = float(t)

    def apply(self, data, generator):
        n = _num_nodes(data)
        ew = getattr(data, "edge_weight", None)
        ei, w = heat_diffusion(data.edge_index, n, self.t, edge_weight=ew, **self._opts())
        return replace_edges(data, ei, w)
