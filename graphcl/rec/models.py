"""LightGCN, SGL-ED, SimGCL, XSimGCL and LightGCL as small variants over :mod:`graphcl.rec.core`.

Every model holds free layer-0 embeddings ``E^0`` (users then items; entries
``N(0, 0.1^2)`` as LightGCN-PyTorch, or Xavier-uniform with ``init_std=None``;
Xavier's tiny entries on large tables make the scale-free InfoNCE gradients
swamp BPR's, which stalled SGL on ml-100k), the normalised bipartite adjacency ``A^`` of the training
interactions, and defines

* ``encode()``: the clean final embeddings used for ranking (no noise, no dropout);
* ``loss(users, pos, neg, generator)``: ``BPR + reg * l2_reg(E^0 rows) [+ cl_weight * L_cl]``,
  the L2 term being the one convention of :func:`graphcl.rec.core.l2_reg`;
* ``start_epoch(generator)``: per-epoch work (SGL redraws its two views).

Contrastive terms: SGL, SimGCL and XSimGCL use :func:`graphcl.losses.infonce`
(cosine, inter-view negatives only, symmetrised over the two directions) over
the batch's unique users and, separately, its unique positive items. LightGCL's
own objective (:func:`lightgcl_contrast`) is a different loss (dot products,
clamped positive, negatives over every user/item, SVD view as anchor).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from graphcl.augment.svd import SVDView
from graphcl.losses import infonce
from graphcl.rec.core import (
    bpr_loss,
    check_interactions,
    drop_interactions,
    l2_reg,
    propagate,
    rec_adjacency,
    transpose_perm,
)
from graphcl.validation import check_fraction, check_generator, check_positive_float, check_positive_int

__all__ = ["RecModel", "LightGCN", "SGL", "SimGCL", "XSimGCL", "LightGCL", "MODELS", "build_model",
           "lightgcl_contrast"]


def _nonnegative(v: float, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {v!r}")
    return float(v)


def _parts(**terms: Tensor) -> dict[str, Tensor]:
    """The loss parts of a batch, detached (read back once per epoch by the trainer, not per batch)."""
    return {k: v.detach() for k, v in terms.items()}


def _init(rows: int, dim: int, std: float | None, generator: torch.Generator | None, device: torch.device) -> Tensor:
    """``N(0, std^2)`` entries (LightGCN-PyTorch, std 0.1), or Xavier-uniform (SELFRec) when ``std`` is None."""
    if std is None:
        bound = math.sqrt(6.0 / (rows + dim))
        return (torch.rand(rows, dim, generator=generator, device=device) * 2 - 1) * bound
    return torch.randn(rows, dim, generator=generator, device=device) * std


class RecModel(nn.Module):
    """LightGCN: ``E = mean(E^0, ..., E^L)``, ``L = num_layers``; loss ``BPR + reg * l2``.

    Example:
        >>> tr = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]])
        >>> m = LightGCN(tr, 3, 3, dim=8, generator=torch.Generator().manual_seed(0))
        >>> u, i = m.encode()
        >>> u.shape, i.shape
        (torch.Size([3, 8]), torch.Size([3, 8]))
    """

    include_input = True
    combine = "mean"

    def __init__(self, train: Tensor, num_users: int, num_items: int, *, dim: int = 64, num_layers: int = 3,
                 reg: float = 1e-4, init_std: float | None = 0.1, generator: torch.Generator | None = None) -> None:
        super().__init__()
        train = check_interactions(train, num_users, num_items)
        check_positive_int(dim, "dim")
        self.num_layers = check_positive_int(num_layers, "num_layers", minimum=0 if self.include_input else 1)
        self.reg = _nonnegative(reg, "reg")
        check_generator(generator, train.device)
        self.num_users, self.num_items = num_users, num_items
        self.train_pairs = train
        self.adj = rec_adjacency(train, num_users, num_items)  # not a parameter nor a buffer
        dev = train.device
        if init_std is not None:
            init_std = check_positive_float(init_std, "init_std")
        self.user_emb = nn.Parameter(_init(num_users, dim, init_std, generator, dev))
        self.item_emb = nn.Parameter(_init(num_items, dim, init_std, generator, dev))

    # ---------------------------------------------------------------- helpers
    def ego(self) -> Tensor:
        """Layer-0 embeddings ``[U + I, d]``."""
        return torch.cat([self.user_emb, self.item_emb])

    def split(self, e: Tensor) -> tuple[Tensor, Tensor]:
        return e[: self.num_users], e[self.num_users:]

    def propagate(self, **kw) -> Tensor | tuple[Tensor, list[Tensor]]:
        return propagate(self.adj, self.ego(), self.num_layers, include_input=self.include_input,
                         combine=self.combine, **kw)

    def encode(self) -> tuple[Tensor, Tensor]:
        """Clean final ``(user [U, d], item [I, d])`` embeddings for ranking."""
        return self.split(self.propagate())

    def start_epoch(self, generator: torch.Generator | None = None) -> None:
        """Per-epoch work (none for LightGCN)."""

    def rec_terms(self, e: Tensor, users: Tensor, pos: Tensor, neg: Tensor) -> tuple[Tensor, Tensor]:
        """``(BPR on final embeddings e, reg * l2 of the batch's layer-0 rows)``."""
        eu, ei = self.split(e)
        bpr = bpr_loss(eu[users], ei[pos], ei[neg])
        reg = self.reg * l2_reg(self.user_emb[users], self.item_emb[pos], self.item_emb[neg],
                                batch_size=users.numel())
        return bpr, reg

    def loss(self, users: Tensor, pos: Tensor, neg: Tensor,
             generator: torch.Generator | None = None) -> tuple[Tensor, dict[str, Tensor]]:
        """Training loss of one batch and its parts (detached 0-dim tensors: no device sync per batch)."""
        bpr, reg = self.rec_terms(self.propagate(), users, pos, neg)
        return bpr + reg, _parts(bpr=bpr, reg=reg)

    def _pair_infonce(self, a: Tensor, b: Tensor, users: Tensor, pos: Tensor, tau: float) -> Tensor:
        """InfoNCE between views ``a`` and ``b`` over the batch's unique users plus its unique items."""
        total = a.new_zeros(())
        for ids, offset in ((torch.unique(users), 0), (torch.unique(pos), self.num_users)):
            if ids.numel() >= 2:
                idx = ids + offset
                total = total + infonce(a[idx], b[idx], tau, intra_view_negatives=False)
        return total


class LightGCN(RecModel):
    __doc__ = RecModel.__doc__


class SGL(RecModel):
    """SGL-ED (Wu et al. SIGIR 2021): LightGCN + InfoNCE between two edge-dropout views.

    At every epoch two sub-graphs keep each interaction with probability
    ``1 - drop_ratio``; loss ``BPR(clean) + reg * l2 + cl_weight * (L_cl^user + L_cl^item)``.

    Example:
        >>> tr = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]])
        >>> m = SGL(tr, 3, 3, dim=8, generator=torch.Generator().manual_seed(0))
        >>> m.start_epoch(torch.Generator().manual_seed(1))
        >>> loss, parts = m.loss(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 2]))
        >>> sorted(parts)
        ['bpr', 'cl', 'reg']
    """

    def __init__(self, train: Tensor, num_users: int, num_items: int, *, drop_ratio: float = 0.1,
                 cl_weight: float = 0.1, tau: float = 0.2, **kw) -> None:
        super().__init__(train, num_users, num_items, **kw)
        self.drop_ratio = check_fraction(drop_ratio, "drop_ratio")
        self.cl_weight = _nonnegative(cl_weight, "cl_weight")
        self.tau = check_positive_float(tau, "tau")
        self.views: list[Tensor] | None = None

    def start_epoch(self, generator: torch.Generator | None = None) -> None:
        self.views = [rec_adjacency(drop_interactions(self.train_pairs, self.drop_ratio, generator),
                                    self.num_users, self.num_items) for _ in range(2)]

    def loss(self, users, pos, neg, generator=None):
        if self.views is None:
            self.start_epoch(generator)
        bpr, reg = self.rec_terms(self.propagate(), users, pos, neg)
        ego = self.ego()
        z1, z2 = (propagate(a, ego, self.num_layers, include_input=True, combine="mean") for a in self.views)
        cl = self._pair_infonce(z1, z2, users, pos, self.tau)
        return bpr + reg + self.cl_weight * cl, _parts(bpr=bpr, reg=reg, cl=cl)


class SimGCL(RecModel):
    """SimGCL (Yu et al. SIGIR 2022): two noise-perturbed passes are the views.

    Layer 0 is left out of the final mean. Loss ``BPR(clean pass) + reg * l2 +
    cl_weight * InfoNCE(perturbed pass 1, perturbed pass 2)``; noise magnitude ``eps``.

    Example:
        >>> tr = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]])
        >>> m = SimGCL(tr, 3, 3, dim=8, generator=torch.Generator().manual_seed(0))
        >>> loss, parts = m.loss(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 2]))
        >>> bool(loss > 0)
        True
    """

    include_input = False

    def __init__(self, train: Tensor, num_users: int, num_items: int, *, eps: float = 0.1,
                 cl_weight: float = 0.5, tau: float = 0.2, num_layers: int = 2, **kw) -> None:
        super().__init__(train, num_users, num_items, num_layers=num_layers, **kw)
        self.eps = _nonnegative(eps, "eps")
        self.cl_weight = _nonnegative(cl_weight, "cl_weight")
        self.tau = check_positive_float(tau, "tau")

    def loss(self, users, pos, neg, generator=None):
        bpr, reg = self.rec_terms(self.propagate(), users, pos, neg)
        z1 = self.propagate(eps=self.eps, generator=generator)
        z2 = self.propagate(eps=self.eps, generator=generator)
        cl = self._pair_infonce(z1, z2, users, pos, self.tau)
        return bpr + reg + self.cl_weight * cl, _parts(bpr=bpr, reg=reg, cl=cl)


class XSimGCL(RecModel):
    """XSimGCL (Yu et al. TKDE 2023): ONE perturbed pass, cross-layer contrast.

    BPR on the perturbed final mean (layers 1..L); InfoNCE between the final
    embedding and layer ``cl_layer`` (``l*``, 1-based) of the same pass.

    Example:
        >>> tr = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]])
        >>> m = XSimGCL(tr, 3, 3, dim=8, generator=torch.Generator().manual_seed(0))
        >>> loss, parts = m.loss(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 2]))
        >>> sorted(parts)
        ['bpr', 'cl', 'reg']
    """

    include_input = False

    def __init__(self, train: Tensor, num_users: int, num_items: int, *, eps: float = 0.2,
                 cl_weight: float = 0.2, tau: float = 0.15, cl_layer: int = 1, num_layers: int = 2, **kw) -> None:
        super().__init__(train, num_users, num_items, num_layers=num_layers, **kw)
        self.eps = _nonnegative(eps, "eps")
        self.cl_weight = _nonnegative(cl_weight, "cl_weight")
        self.tau = check_positive_float(tau, "tau")
        self.cl_layer = check_positive_int(cl_layer, "cl_layer")
        if cl_layer > self.num_layers:
            raise ValueError(f"cl_layer={cl_layer} exceeds num_layers={self.num_layers}")

    def loss(self, users, pos, neg, generator=None):
        final, layers = self.propagate(eps=self.eps, generator=generator, return_layers=True)
        bpr, reg = self.rec_terms(final, users, pos, neg)
        cl = self._pair_infonce(final, layers[self.cl_layer], users, pos, self.tau)
        return bpr + reg + self.cl_weight * cl, _parts(bpr=bpr, reg=reg, cl=cl)


def lightgcl_contrast(g: Tensor, e: Tensor, idx: Tensor, tau: float) -> Tensor:
    """LightGCL's contrastive term for anchors ``idx``:
    ``mean_u [ logsumexp_{u'} (g_u . e_u' / tau) - clamp(g_u . e_u / tau, -5, 5) ]``, ``u'`` over all rows of ``e``.

    Example:
        >>> g = e = torch.eye(3)
        >>> round(float(lightgcl_contrast(g, e, torch.tensor([0]), 1.0)), 4)  # log(e + 2) - 1
        0.5514
    """
    if g.shape != e.shape or g.dim() != 2:
        raise ValueError(f"g and e must be [N, d] of one shape, got {list(g.shape)} and {list(e.shape)}")
    check_positive_float(tau, "tau")
    ga = g[idx]
    neg = torch.logsumexp(ga @ e.T / tau, dim=1)
    pos = ((ga * e[idx]).sum(1) / tau).clamp(-5.0, 5.0)
    return (neg - pos).mean()


class LightGCL(RecModel):
    """LightGCL (Cai et al. ICLR 2023): main view with edge dropout vs. a rank-``q`` SVD view.

    Main view ``E^l = Dropout(A^) E^{l-1}``, ``E = sum_l E^l``; SVD view
    ``G^l = [U S V^T E_i^{l-1}; V S U^T E_u^{l-1}]``, ``G = E^0 + sum_{l>=1} G^l``
    (:class:`graphcl.augment.svd.SVDView`, fitted once on the training
    interactions). Loss ``BPR(E) + reg * l2 + cl_weight * (contrast_users + contrast_items)``
    (:func:`lightgcl_contrast` over the batch's unique users and positive items).

    Example:
        >>> tr = torch.tensor([[0, 0, 1, 2], [0, 1, 1, 2]])
        >>> m = LightGCL(tr, 3, 3, dim=8, q=2, generator=torch.Generator().manual_seed(0))
        >>> loss, parts = m.loss(torch.tensor([0, 1]), torch.tensor([0, 1]), torch.tensor([2, 2]))
        >>> sorted(parts)
        ['bpr', 'cl', 'reg']
    """

    combine = "sum"

    def __init__(self, train: Tensor, num_users: int, num_items: int, *, q: int = 5, niter: int = 2,
                 dropout: float = 0.0, cl_weight: float = 0.2, tau: float = 0.2, num_layers: int = 2,
                 generator: torch.Generator | None = None, **kw) -> None:
        super().__init__(train, num_users, num_items, num_layers=num_layers, generator=generator, **kw)
        self.dropout = check_fraction(dropout, "dropout")
        self.cl_weight = _nonnegative(cl_weight, "cl_weight")
        self.tau = check_positive_float(tau, "tau")
        self.svd = SVDView(q=q, niter=niter, generator=generator).fit(self.train_pairs, num_users, num_items)
        self.perm = transpose_perm(self.adj) if self.dropout > 0 else None

    def svd_view(self, layers: list[Tensor]) -> Tensor:
        """``G = E^0 + sum_{l=1..L} SVD(E^{l-1})`` from the main view's layers."""
        g = layers[0]
        for e_prev in layers[:-1]:
            gu, gi = self.svd(*self.split(e_prev))
            g = g + torch.cat([gu, gi])
        return g

    def loss(self, users, pos, neg, generator=None):
        final, layers = self.propagate(dropout=self.dropout, generator=generator, return_layers=True,
                                       perm=self.perm)
        bpr, reg = self.rec_terms(final, users, pos, neg)
        g = self.svd_view(layers)
        gu, gi = self.split(g)
        eu, ei = self.split(final)
        cl = (lightgcl_contrast(gu, eu, torch.unique(users), self.tau)
              + lightgcl_contrast(gi, ei, torch.unique(pos), self.tau))
        return bpr + reg + self.cl_weight * cl, _parts(bpr=bpr, reg=reg, cl=cl)


MODELS: dict[str, type[RecModel]] = {
    "lightgcn": LightGCN,
    "sgl": SGL,
    "simgcl": SimGCL,
    "xsimgcl": XSimGCL,
    "lightgcl": LightGCL,
}

# config keys each model reads besides the shared dim / num_layers / reg
_MODEL_KEYS = {
    "lightgcn": (),
    "sgl": ("drop_ratio", "cl_weight", "tau"),
    "simgcl": ("eps", "cl_weight", "tau"),
    "xsimgcl": ("eps", "cl_weight", "tau", "cl_layer"),
    "lightgcl": ("q", "niter", "dropout", "cl_weight", "tau"),
}


def build_model(name: str, train: Tensor, num_users: int, num_items: int, config: dict,
                generator: torch.Generator | None = None) -> RecModel:
    """Model ``name`` with the settings of ``config`` (dim, num_layers, reg, init_std + its own keys).

    Example:
        >>> tr = torch.tensor([[0, 1], [1, 0]])
        >>> build_model("xsimgcl", tr, 2, 2, {"dim": 4, "num_layers": 2, "reg": 1e-4}).num_layers
        2
    """
    key = str(name).lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS)}")
    kw = {k: config[k] for k in ("dim", "num_layers", "reg", "init_std") if k in config}
    kw.update({k: config[k] for k in _MODEL_KEYS[key] if k in config})
    return MODELS[key](train, num_users, num_items, generator=generator, **kw)
