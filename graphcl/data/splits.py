"""Seeded node, link and recommendation splits (vectorised torch, on the input's device).

The public Planetoid split comes with the data (``train_mask``/``val_mask``/
``test_mask`` of ``load("cora")``); the functions here draw random splits.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..utils import make_generator
from ..validation import check_edge_index, check_fraction, check_positive_int

__all__ = ["random_split", "link_split", "rec_split"]

_ENUMERATE_LIMIT = 5_000_000  # enumerate all node pairs instead of rejection sampling below this


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return seed


def random_split(
    num_nodes: int,
    train_ratio: float = 0.1,
    val_ratio: float = 0.1,
    seed: int = 0,
    device: torch.device | str | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Random node split into disjoint boolean masks that cover all nodes.

    ``floor(train_ratio * N)`` nodes go to train, ``floor(val_ratio * N)`` to
    validation, the rest to test (not stratified). Same seed, same masks.

    Example:
        >>> tr, va, te = random_split(10, 0.2, 0.3, seed=0)
        >>> int(tr.sum()), int(va.sum()), int(te.sum())
        (2, 3, 5)
    """
    check_positive_int(num_nodes, "num_nodes")
    train_ratio = check_fraction(train_ratio, "train_ratio")
    val_ratio = check_fraction(val_ratio, "val_ratio")
    if train_ratio + val_ratio > 1.0:
        raise ValueError(
            f"train_ratio + val_ratio must be <= 1, got {train_ratio} + {val_ratio}"
        )
    _check_seed(seed)
    device = torch.device(device) if device is not None else torch.device("cpu")
    gen = make_generator(seed, device)
    perm = torch.randperm(num_nodes, generator=gen, device=device)
    n_train = int(train_ratio * num_nodes)
    n_val = min(int(val_ratio * num_nodes), num_nodes - n_train)
    masks = []
    for idx in (perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]):
        mask = torch.zeros(num_nodes, dtype=torch.bool, device=device)
        mask[idx] = True
        masks.append(mask)
    return masks[0], masks[1], masks[2]


def _undirected_keys(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Sorted unique keys ``u * N + v`` (u < v) of the undirected edges, self loops dropped."""
    row, col = edge_index[0].long(), edge_index[1].long()
    keep = row != col
    u = torch.minimum(row[keep], col[keep])
    v = torch.maximum(row[keep], col[keep])
    return torch.unique(u * num_nodes + v)


def _keys_to_pairs(keys: Tensor, num_nodes: int) -> Tensor:
    return torch.stack([keys // num_nodes, keys % num_nodes])


def _both_directions(pairs: Tensor, num_nodes: int) -> Tensor:
    keys = torch.cat([pairs[0] * num_nodes + pairs[1], pairs[1] * num_nodes + pairs[0]])
    return _keys_to_pairs(torch.sort(keys).values, num_nodes)


def _is_member(keys: Tensor, sorted_keys: Tensor) -> Tensor:
    if sorted_keys.numel() == 0:
        return torch.zeros_like(keys, dtype=torch.bool)
    pos = torch.searchsorted(sorted_keys, keys).clamp_(max=sorted_keys.numel() - 1)
    return sorted_keys[pos] == keys


def _sample_non_edges(
    edge_keys: Tensor, num_nodes: int, k: int, gen: torch.Generator
) -> Tensor:
    """``k`` distinct random non-edge keys ``u * N + v`` with u < v (in random order)."""
    device = edge_keys.device
    n = num_nodes
    total = n * (n - 1) // 2
    if k > total - edge_keys.numel():
        raise ValueError(
            f"cannot draw {k} negative pairs: the graph has only "
            f"{total - edge_keys.numel()} non-edges"
        )
    if k == 0:
        return torch.empty(0, dtype=torch.long, device=device)
    if total <= _ENUMERATE_LIMIT:
        # small graph: enumerate all pairs u < v, keep the non-edges
        iu = torch.triu_indices(n, n, offset=1, device=device)
        keys = iu[0] * n + iu[1]
        cand = keys[~_is_member(keys, edge_keys)]
    else:
        cand = torch.empty(0, dtype=torch.long, device=device)
        while cand.numel() < k:
            m = 2 * (k - cand.numel()) + 1024
            a = torch.randint(n, (m,), generator=gen, device=device)
            b = torch.randint(n, (m,), generator=gen, device=device)
            keep = a != b
            a, b = a[keep], b[keep]
            keys = torch.minimum(a, b) * n + torch.maximum(a, b)
            keys = keys[~_is_member(keys, edge_keys)]
            cand = torch.unique(torch.cat([cand, keys]))
    pick = torch.randperm(cand.numel(), generator=gen, device=device)[:k]
    return cand[pick]


def link_split(
    edge_index: Tensor,
    num_nodes: int | None = None,
    val_ratio: float = 0.05,
    test_ratio: float = 0.1,
    seed: int = 0,
) -> dict[str, Tensor]:
    """Random link-prediction split of an undirected graph.

    Each undirected edge ``{u, v}`` (self loops dropped) is held out as one pair:
    ``floor(val_ratio * E)`` go to validation, ``floor(test_ratio * E)`` to test,
    the rest to ``train_edge_index`` (both directions, sorted). Negatives are as
    many distinct node pairs ``u < v`` that are not edges of the full graph and
    not self loops, disjoint between validation and test.

    Returns a dict with ``train_edge_index`` ``[2, 2 * E_train]`` and ``val_pos``,
    ``val_neg``, ``test_pos``, ``test_neg`` (``[2, k]`` each, row 0 < row 1).

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 0], [1, 0, 2, 1, 3, 2, 0, 3]])
        >>> s = link_split(ei, 4, val_ratio=0.25, test_ratio=0.25, seed=0)
        >>> s["train_edge_index"].size(1), s["val_pos"].size(1), s["test_neg"].size(1)
        (4, 1, 1)
    """
    num_nodes = check_edge_index(edge_index, num_nodes)
    val_ratio = check_fraction(val_ratio, "val_ratio")
    test_ratio = check_fraction(test_ratio, "test_ratio")
    if val_ratio + test_ratio >= 1.0:
        raise ValueError(f"val_ratio + test_ratio must be < 1, got {val_ratio} + {test_ratio}")
    _check_seed(seed)
    device = edge_index.device
    gen = make_generator(seed, device)
    keys = _undirected_keys(edge_index, num_nodes)
    e = keys.numel()
    n_val, n_test = int(val_ratio * e), int(test_ratio * e)
    perm = torch.randperm(e, generator=gen, device=device)
    val_keys = torch.sort(keys[perm[:n_val]]).values
    test_keys = torch.sort(keys[perm[n_val:n_val + n_test]]).values
    train_keys = torch.sort(keys[perm[n_val + n_test:]]).values
    neg = _sample_non_edges(keys, num_nodes, n_val + n_test, gen)
    return {
        "train_edge_index": _both_directions(_keys_to_pairs(train_keys, num_nodes), num_nodes),
        "val_pos": _keys_to_pairs(val_keys, num_nodes),
        "val_neg": _keys_to_pairs(neg[:n_val], num_nodes),
        "test_pos": _keys_to_pairs(test_keys, num_nodes),
        "test_neg": _keys_to_pairs(neg[n_val:], num_nodes),
    }


def rec_split(train: Tensor, val_ratio: float = 0.1, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Carve validation interactions out of training ones, per user.

    A user with ``n >= 2`` training interactions gives
    ``clamp(round(val_ratio * n), 1, n - 1)`` random ones to validation (none when
    ``val_ratio == 0``); a user with a single interaction keeps it in train.
    Returns ``(train, val)`` as ``LongTensor[2, *]`` sorted by (user, item).

    Example:
        >>> tr = torch.tensor([[0, 0, 0, 0, 1], [0, 1, 2, 3, 0]])
        >>> new_train, val = rec_split(tr, val_ratio=0.25, seed=0)
        >>> new_train.size(1), val.size(1)
        (4, 1)
    """
    if not isinstance(train, Tensor):
        raise TypeError(f"train must be a LongTensor[2, M], got {type(train).__name__}")
    check_edge_index(train, None, name="train")
    val_ratio = check_fraction(val_ratio, "val_ratio")
    _check_seed(seed)
    device = train.device
    train = train.long()
    m = train.size(1)
    if m == 0:
        return train.clone(), train.new_empty(2, 0)
    gen = make_generator(seed, device)
    users, items = train[0], train[1]
    shuffle = torch.argsort(torch.rand(m, generator=gen, device=device))
    order = shuffle[torch.sort(users[shuffle], stable=True).indices]
    u_sorted = users[order]
    _, inverse, counts = torch.unique_consecutive(u_sorted, return_inverse=True, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(m, device=device) - starts[inverse]
    n_u = counts[inverse]
    k_u = torch.floor(val_ratio * n_u.double() + 0.5).long()
    if val_ratio > 0:
        k_u = torch.maximum(k_u, torch.ones_like(k_u))
    k_u = torch.minimum(k_u, n_u - 1)
    is_val = rank < k_u
    num_items = int(items.max()) + 1

    def sorted_pairs(idx: Tensor) -> Tensor:
        pairs = train[:, idx]
        return pairs[:, torch.argsort(pairs[0] * num_items + pairs[1])]

    return sorted_pairs(order[~is_val]), sorted_pairs(order[is_val])
