"""SVD view of LightGCL (Cai et al., ICLR 2023).

The normalised user-item matrix ``A~ = D_u^-1/2 R D_i^-1/2`` is approximated by
a rank-``q`` randomized SVD ``U diag(S) V^T`` (``q=5``, 2 power iterations,
Halko et al.). The view propagates ``G_u = U S (V^T E_i)`` and
``G_i = V S (U^T E_u)``; the dense ``U S V^T`` is never formed.
"""

from __future__ import annotations

import torch
from torch import Tensor

from graphcl.sparse import normalized_bipartite, randomized_svd
from graphcl.validation import check_generator, check_positive_int

__all__ = ["svd_propagate", "bipartite_svd", "SVDView"]


def svd_propagate(U: Tensor, S: Tensor, V: Tensor, E: Tensor) -> Tensor:
    """``U @ (S[:, None] * (V.T @ E))``: apply ``U diag(S) V^T`` to ``E`` without forming it.

    Example:
        >>> U, S, V = torch.eye(3)[:, :2], torch.tensor([2.0, 1.0]), torch.eye(4)[:, :2]
        >>> svd_propagate(U, S, V, torch.ones(4, 8)).shape
        torch.Size([3, 8])
    """
    if U.dim() != 2 or V.dim() != 2 or S.dim() != 1:
        raise ValueError("U and V must be 2-D and S 1-D")
    if not (U.size(1) == S.numel() == V.size(1)):
        raise ValueError(
            f"rank mismatch: U has {U.size(1)} columns, S {S.numel()} values, V {V.size(1)} columns"
        )
    if E.dim() != 2 or E.size(0) != V.size(0):
        raise ValueError(f"E must have shape [{V.size(0)}, d], got {list(E.shape)}")
    return U @ (S[:, None] * (V.T @ E))


def bipartite_svd(
    R_edge_index: Tensor,
    num_users: int,
    num_items: int,
    q: int = 5,
    niter: int = 2,
    *,
    edge_weight: Tensor | None = None,
    oversample: int = 5,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Rank-``q`` randomized SVD of ``D_u^-1/2 R D_i^-1/2``: ``U [users, q], S [q], V [items, q]``.

    Example:
        >>> R = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]])
        >>> U, S, V = bipartite_svd(R, 3, 3, q=2, generator=torch.Generator().manual_seed(0))
        >>> U.shape, V.shape
        (torch.Size([3, 2]), torch.Size([3, 2]))
    """
    A = normalized_bipartite(R_edge_index, num_users, num_items, edge_weight)
    return randomized_svd(A, q, niter, generator, oversample=oversample)


class SVDView:
    """LightGCL's SVD view: ``fit`` once on the interactions, then map embeddings.

    Example:
        >>> R = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]])
        >>> view = SVDView(q=2, seed=0).fit(R, 3, 3)
        >>> G_u, G_i = view(torch.randn(3, 8), torch.randn(3, 8))
        >>> G_u.shape, G_i.shape
        (torch.Size([3, 8]), torch.Size([3, 8]))
    """

    def __init__(
        self,
        q: int = 5,
        niter: int = 2,
        *,
        oversample: int = 5,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ):
        self.q = check_positive_int(q, "q")
        self.niter = check_positive_int(niter, "niter", minimum=0)
        self.oversample = check_positive_int(oversample, "oversample", minimum=0)
        self.generator = check_generator(generator)
        self.seed = seed
        self.U: Tensor | None = None
        self.S: Tensor | None = None
        self.V: Tensor | None = None

    def fit(
        self,
        R_edge_index: Tensor,
        num_users: int,
        num_items: int,
        edge_weight: Tensor | None = None,
    ) -> SVDView:
        g = self.generator
        if g is None and self.seed is not None:
            g = torch.Generator(device=R_edge_index.device)
            g.manual_seed(int(self.seed))
        self.U, self.S, self.V = bipartite_svd(
            R_edge_index, num_users, num_items, self.q, self.niter,
            edge_weight=edge_weight, oversample=self.oversample, generator=g,
        )
        return self

    def __call__(self, E_u: Tensor, E_i: Tensor) -> tuple[Tensor, Tensor]:
        """``(G_u, G_i) = (U S V^T E_i, V S U^T E_u)``."""
        if self.U is None:
            raise RuntimeError("call fit(...) before using the SVD view")
        U = self.U.to(device=E_i.device, dtype=E_i.dtype)
        S = self.S.to(device=E_i.device, dtype=E_i.dtype)
        V = self.V.to(device=E_i.device, dtype=E_i.dtype)
        return svd_propagate(U, S, V, E_i), svd_propagate(V, S, U, E_u)
