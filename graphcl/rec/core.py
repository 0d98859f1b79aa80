"""LightGCN propagation core, BPR, negative sampling and the L2 convention.

All five recommenders of :mod:`graphcl.rec.models` are small variants over the
functions here:

* :func:`rec_adjacency` builds ``A^ = D^-1/2 A D^-1/2`` of the user-item
  bipartite graph on ``U + I`` nodes (users first, item ``i`` is node
  ``U + i``), a torch sparse CSR matrix (CPU or CUDA, no torch-sparse needed).
* :func:`propagate` runs ``E^l = A^ E^{l-1}`` for ``L`` layers, optionally with
  SimGCL's noise ``E^l <- E^l + eps * sign(E^l) * normalize(U(0, 1)^d)`` or
  LightGCL's dropout of the stored entries of ``A^``, and combines the layers
  (mean or sum, with or without layer 0).
* :func:`bpr_loss` is ``mean softplus(s(u, j) - s(u, i))`` (= ``-log sigmoid``
  of the score gap), one uniformly sampled negative ``j`` per interaction
  (:class:`InteractionSampler`).
* :func:`l2_reg` is THE L2 convention of every model: ``0.5 * (|e_u^0|^2 +
  |e_i^0|^2 + |e_j^0|^2)`` summed over the batch and divided by the batch
  size, on the layer-0 (free) embeddings of the batch's users, positives and
  negatives (LightGCN's convention), times the model's ``reg`` coefficient.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor

from graphcl.sparse import normalized_adjacency
from graphcl.validation import check_fraction, check_generator, check_pairs, check_positive_int

__all__ = [
    "check_interactions",
    "bipartite_edge_index",
    "rec_adjacency",
    "drop_interactions",
    "perturb",
    "propagate",
    "transpose_perm",
    "bpr_loss",
    "l2_reg",
    "sample_negatives",
    "InteractionSampler",
]


def check_interactions(pairs: object, num_users: int, num_items: int, name: str = "train") -> Tensor:
    """Validate a ``[2, M]`` integer tensor of (user, item) ids and return it as ``long``.

    Example:
        >>> check_interactions(torch.tensor([[0, 1], [2, 0]]), 2, 3).dtype
        torch.int64
    """
    return check_pairs(pairs, num_users, num_items, name)


def bipartite_edge_index(train: Tensor, num_users: int, num_items: int) -> Tensor:
    """Both directions of every interaction on ``U + I`` nodes (item ``i`` is node ``U + i``).

    Example:
        >>> bipartite_edge_index(torch.tensor([[0], [1]]), 1, 2).tolist()
        [[0, 2], [2, 0]]
    """
    train = check_interactions(train, num_users, num_items)
    u, i = train[0], train[1] + num_users
    return torch.stack([torch.cat([u, i]), torch.cat([i, u])])


def rec_adjacency(train: Tensor, num_users: int, num_items: int) -> Tensor:
    """``D^-1/2 A D^-1/2`` of the user-item graph, sparse CSR ``[U + I, U + I]`` on ``train``'s device.

    Duplicate interactions are counted once. Isolated users/items get zero rows.

    Example:
        >>> A = rec_adjacency(torch.tensor([[0, 0], [0, 1]]), 1, 2)
        >>> [round(v, 4) for v in A.to_dense()[0].tolist()]
        [0.0, 0.7071, 0.7071]
    """
    train = check_interactions(train, num_users, num_items)
    train = torch.unique(train, dim=1) if train.numel() else train
    ei = bipartite_edge_index(train, num_users, num_items)
    return normalized_adjacency(ei, num_users + num_items, layout="csr")


def drop_interactions(train: Tensor, p: float, generator: torch.Generator | None = None) -> Tensor:
    """Keep every interaction (both directions together) with probability ``1 - p`` (SGL-ED).

    Example:
        >>> tr = torch.tensor([[0, 1, 2], [0, 1, 2]])
        >>> drop_interactions(tr, 0.0).shape
        torch.Size([2, 3])
    """
    p = check_fraction(p, "p")
    check_generator(generator, train.device)
    keep = torch.rand(train.size(1), generator=generator, device=train.device) >= p
    return train[:, keep]


def perturb(e: Tensor, eps: float, generator: torch.Generator | None = None) -> Tensor:
    """SimGCL's noise: ``e + eps * sign(e) * normalize_row(U(0, 1)^d)``.

    Every row of the added noise has L2 norm ``eps`` (where ``e``'s row has no
    zero entry) and each entry has the sign of ``e``'s entry, so the noise
    keeps ``e`` in its hyper-octant.

    Example:
        >>> e = torch.tensor([[1.0, -2.0]])
        >>> d = perturb(e, 0.1, torch.Generator().manual_seed(0)) - e
        >>> round(float(d.norm()), 4), bool((d * e >= 0).all())
        (0.1, True)
    """
    noise = torch.rand(e.shape, generator=generator, device=e.device, dtype=e.dtype)
    return e + eps * torch.sign(e) * F.normalize(noise, dim=-1)


class _SpMM(torch.autograd.Function):
    """``a @ x`` whose backward is ``a_t @ grad`` with a given transpose.

    torch's own CSR backward re-derives the transpose (a sort of all stored
    entries) at every call, about 30x the cost of the product itself.
    """

    @staticmethod
    def forward(ctx, a: Tensor, a_t: Tensor, x: Tensor) -> Tensor:
        ctx.a_t = a_t
        return a @ x

    @staticmethod
    def backward(ctx, grad: Tensor):
        return None, None, ctx.a_t @ grad


def transpose_perm(adj: Tensor) -> Tensor:
    """Permutation ``p`` with ``adj.T``'s CSR values ``= adj.values()[p]`` (adj square CSR with symmetric pattern).

    Example:
        >>> A = torch.tensor([[0.0, 2.0], [3.0, 0.0]]).to_sparse_csr()
        >>> A.values()[transpose_perm(A)].tolist()
        [3.0, 2.0]
    """
    if not isinstance(adj, Tensor) or adj.layout != torch.sparse_csr:
        raise TypeError("adj must be a torch sparse CSR tensor")
    crow, col = adj.crow_indices(), adj.col_indices()
    n = adj.size(0)
    row = torch.repeat_interleave(torch.arange(n, device=col.device), crow[1:] - crow[:-1])
    # entry k of adj.T in CSR order is (col, row) sorted by (col, row): its source index in adj
    return torch.argsort(col * n + row)


def _transposed(adj: Tensor, vals: Tensor, perm: Tensor) -> Tensor:
    """CSR of ``adj.T`` when ``adj`` has a symmetric sparsity pattern and values ``vals``."""
    return torch.sparse_csr_tensor(adj.crow_indices(), adj.col_indices(), vals[perm], adj.shape,
                                   check_invariants=False)


def _drop_values(adj: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """Dropout on the stored entries of a CSR matrix, survivors scaled by ``1 / (1 - p)`` (LightGCL)."""
    vals = adj.values()
    keep = torch.rand(vals.shape, generator=generator, device=vals.device) >= p
    return torch.where(keep, vals / (1.0 - p), torch.zeros_like(vals))


def propagate(
    adj: Tensor,
    emb: Tensor,
    num_layers: int,
    *,
    include_input: bool = True,
    combine: str = "mean",
    eps: float = 0.0,
    dropout: float = 0.0,
    generator: torch.Generator | None = None,
    return_layers: bool = False,
    perm: Tensor | None = None,
) -> Tensor | tuple[Tensor, list[Tensor]]:
    """LightGCN propagation ``E^l = A^ E^{l-1}`` and layer combination.

    Args:
        adj: sparse ``[N, N]`` (COO or CSR) normalised adjacency (:func:`rec_adjacency`).
        emb: ``[N, d]`` layer-0 embeddings (users then items).
        num_layers: ``L >= 0``.
        include_input: whether layer 0 enters the combination (LightGCN, SGL,
            LightGCL: yes; SimGCL/XSimGCL: no).
        combine: ``"mean"`` (LightGCN) or ``"sum"`` (LightGCL) of the used layers.
        eps: SimGCL noise magnitude, added after every propagation (:func:`perturb`).
        dropout: LightGCL's dropout of ``A^``'s stored entries, redrawn at every layer.
        generator: randomness for ``eps``/``dropout``.
        return_layers: also return ``[E^0, ..., E^L]``.
        perm: :func:`transpose_perm` of ``adj`` (computed when ``dropout > 0`` and not given).

    ``adj`` must be symmetric (as :func:`rec_adjacency`): the backward pass
    multiplies by ``adj`` itself (by the transpose of each dropped matrix).

    Example:
        >>> A = rec_adjacency(torch.tensor([[0, 1], [0, 1]]), 2, 2)
        >>> propagate(A, torch.randn(4, 8), 3).shape
        torch.Size([4, 8])
    """
    if not isinstance(adj, Tensor) or adj.layout not in (torch.sparse_coo, torch.sparse_csr):
        raise TypeError("adj must be a torch sparse COO or CSR tensor (see rec_adjacency)")
    if not isinstance(emb, Tensor) or emb.dim() != 2 or not emb.is_floating_point():
        raise TypeError("emb must be a 2-D floating torch.Tensor [num_nodes, dim]")
    if emb.size(0) != adj.size(1):
        raise ValueError(f"emb has {emb.size(0)} rows but adj has {adj.size(1)} columns")
    check_positive_int(num_layers, "num_layers", minimum=0)
    if combine not in ("mean", "sum"):
        raise ValueError(f"combine must be 'mean' or 'sum', got {combine!r}")
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
        raise ValueError(f"eps must be a number >= 0, got {eps!r}")
    dropout = check_fraction(dropout, "dropout")
    check_generator(generator, emb.device)
    if not include_input and num_layers == 0:
        raise ValueError("include_input=False needs num_layers >= 1")
    if adj.layout != torch.sparse_csr:
        adj = adj.to_sparse_csr()
    if dropout > 0 and perm is None:
        perm = transpose_perm(adj)
    layers = [emb]
    e = emb
    for _ in range(num_layers):
        if dropout > 0:
            vals = _drop_values(adj, dropout, generator)
            a = torch.sparse_csr_tensor(adj.crow_indices(), adj.col_indices(), vals, adj.shape,
                                        check_invariants=False)
            e = _SpMM.apply(a, _transposed(adj, vals, perm), e)
        else:
            e = _SpMM.apply(adj, adj, e)
        if eps > 0:
            e = perturb(e, eps, generator)
        layers.append(e)
    used = layers if include_input else layers[1:]
    out = torch.stack(used).sum(0)
    if combine == "mean":
        out = out / len(used)
    return (out, layers) if return_layers else out


def bpr_loss(user: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
    """Bayesian personalised ranking: ``mean softplus(<u, j> - <u, i>)`` over rows.

    Example:
        >>> u, i, j = torch.ones(1, 2), torch.ones(1, 2), torch.zeros(1, 2)
        >>> round(float(bpr_loss(u, i, j)), 4)  # -log sigmoid(2)
        0.1269
    """
    if not (user.shape == pos.shape == neg.shape) or user.dim() != 2:
        raise ValueError(f"user, pos and neg must be [B, d] of one shape, got {list(user.shape)}, "
                         f"{list(pos.shape)}, {list(neg.shape)}")
    gap = (user * neg).sum(-1) - (user * pos).sum(-1)
    return F.softplus(gap).mean()


def l2_reg(*embs: Tensor, batch_size: int) -> Tensor:
    """The L2 convention of every model: ``0.5 * sum_e |e|_F^2 / batch_size``.

    Pass the layer-0 embeddings of the batch's users, positives and negatives;
    multiply by the model's ``reg`` coefficient.

    Example:
        >>> float(l2_reg(torch.ones(2, 2), torch.ones(2, 2), batch_size=2))
        2.0
    """
    check_positive_int(batch_size, "batch_size")
    if not embs:
        raise ValueError("l2_reg needs at least one tensor")
    return 0.5 * sum(e.pow(2).sum() for e in embs) / batch_size


def _is_member(keys: Tensor, sorted_keys: Tensor) -> Tensor:
    if sorted_keys.numel() == 0:
        return torch.zeros_like(keys, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, keys).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[pos] == keys


def sample_negatives(
    users: Tensor,
    positive_keys: Tensor,
    num_items: int,
    generator: torch.Generator | None = None,
    max_rounds: int = 1000,
) -> Tensor:
    """One negative item per entry of ``users``, uniform over the user's non-interacted items.

    ``positive_keys`` is the sorted tensor of ``user * num_items + item`` of
    every known positive. Vectorised rejection sampling: all draws are made at
    once, the ones hitting a positive are redrawn; a returned negative is never
    a positive. Raises ``ValueError`` if ``max_rounds`` rounds leave a hit (a
    user who interacted with (almost) every item).

    Example:
        >>> keys = torch.tensor([0, 1])  # user 0 likes items 0 and 1 of 3
        >>> sample_negatives(torch.zeros(4, dtype=torch.long), keys, 3, torch.Generator().manual_seed(0)).tolist()
        [2, 2, 2, 2]
    """
    check_positive_int(num_items, "num_items")
    check_generator(generator, users.device)
    neg = torch.randint(num_items, users.shape, generator=generator, device=users.device)
    bad = torch.nonzero(_is_member(users * num_items + neg, positive_keys)).flatten()
    for _ in range(max_rounds):
        if bad.numel() == 0:
            return neg
        draw = torch.randint(num_items, bad.shape, generator=generator, device=users.device)
        neg[bad] = draw
        bad = bad[_is_member(users[bad] * num_items + draw, positive_keys)]
    if bad.numel():
        raise ValueError(f"could not sample a negative in {max_rounds} rounds: user(s) "
                         f"{users[bad[:5]].tolist()} interacted with (almost) every item")
    return neg


class InteractionSampler:
    """Shuffled mini-batches of training interactions with one uniform negative each.

    Every epoch visits every training interaction once in a random order
    (SELFRec / LightGCL style); each ``(user, pos)`` pair gets one negative
    drawn uniformly among the items the user has no training interaction with.

    Example:
        >>> s = InteractionSampler(torch.tensor([[0, 0, 1], [0, 1, 2]]), 2, 4)
        >>> [b[0].numel() for b in s.batches(2, torch.Generator().manual_seed(0))]
        [2, 1]
    """

    def __init__(self, train: Tensor, num_users: int, num_items: int) -> None:
        train = check_interactions(train, num_users, num_items)
        if train.size(1) == 0:
            raise ValueError("train has no interactions")
        self.train = train
        self.num_users, self.num_items = num_users, num_items
        self.keys = torch.unique(train[0] * num_items + train[1])
        deg = torch.bincount(torch.div(self.keys, num_items, rounding_mode="floor"), minlength=num_users)
        if int(deg.max()) >= num_items:
            raise ValueError(f"user {int(deg.argmax())} interacted with every item: no negative exists")

    def __len__(self) -> int:
        return int(self.train.size(1))

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // check_positive_int(batch_size, "batch_size"))

    def batches(self, batch_size: int, generator: torch.Generator | None = None
                ) -> Iterator[tuple[Tensor, Tensor, Tensor]]:
        """Yield ``(users, pos_items, neg_items)`` for one epoch."""
        check_positive_int(batch_size, "batch_size")
        check_generator(generator, self.train.device)
        perm = torch.randperm(len(self), generator=generator, device=self.train.device)
        for lo in range(0, len(self), batch_size):
            idx = perm[lo:lo + batch_size]
            users, pos = self.train[0, idx], self.train[1, idx]
            yield users, pos, sample_negatives(users, self.keys, self.num_items, generator)
