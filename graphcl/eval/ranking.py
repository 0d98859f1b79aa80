"""Top-K recommendation metrics with full ranking over all items (LightGCN convention)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from graphcl.validation import check_features, check_pairs, check_positive_int

__all__ = ["ranking_metrics"]


def _csr(pairs: Tensor, num_users: int, num_items: int) -> tuple[Tensor, Tensor, Tensor]:
    """Deduplicated pairs as (rowptr [U+1], items sorted by user, sorted keys user*I+item)."""
    keys = torch.unique(pairs[0] * num_items + pairs[1])  # sorted
    users = torch.div(keys, num_items, rounding_mode="floor")
    rowptr = torch.zeros(num_users + 1, dtype=torch.long, device=pairs.device)
    rowptr[1:] = torch.cumsum(torch.bincount(users, minlength=num_users), 0)
    return rowptr, keys - users * num_items, keys


def _gather_rows(rowptr: Tensor, items: Tensor, users: Tensor) -> tuple[Tensor, Tensor]:
    """(local row, item) of every stored pair of ``users``, vectorised."""
    start = rowptr[users]
    count = rowptr[users + 1] - start
    rows = torch.repeat_interleave(torch.arange(users.numel(), device=users.device), count)
    offset = torch.arange(rows.numel(), device=users.device) - torch.repeat_interleave(
        torch.cumsum(count, 0) - count, count)
    return rows, items[torch.repeat_interleave(start, count) + offset]


def ranking_metrics(
    user_emb: Tensor,
    item_emb: Tensor,
    train_pairs: Tensor,
    test_pairs: Tensor,
    ks: int | Sequence[int] = (20,),
    batch_size: int = 1024,
    score_fn: Callable[[Tensor, Tensor], Tensor] | None = None,
    *,
    num_users: int | None = None,
) -> dict[str, float]:
    """Recall@K, NDCG@K and Precision@K of a full ranking over all items.

    Every test user (a user with at least one test pair) is scored against
    every item (``user_emb @ item_emb.T``, or ``score_fn(user_batch_emb,
    item_emb) -> [B, num_items]``); the user's training items get score
    ``-inf`` so they cannot be recommended; the top ``K`` items
    (``torch.topk``) are compared with the user's test items ``T_u``.
    Users without test items are skipped; metrics are averaged over test users.
    Duplicate pairs count once. A pair present in both train and test can
    never be hit (it is masked as a training item) but counts in ``|T_u|``.

    Definitions (the LightGCN convention), with ``rank`` counted from 0:

    - ``recall@K = |top-K ∩ T_u| / |T_u|``;
    - ``precision@K = |top-K ∩ T_u| / K``;
    - ``ndcg@K = DCG@K / IDCG@K`` with ``DCG@K = sum over hits 1 / log2(rank + 2)``
      and ``IDCG@K = sum_{rank < min(|T_u|, K)} 1 / log2(rank + 2)`` (ideal list).

    Users are processed ``batch_size`` at a time, so at most a
    ``batch_size x num_items`` score matrix exists (never users x items).
    Runs on the embeddings' device (CPU or CUDA); pairs are ``[2, M]`` integer
    tensors of (user, item) ids. ``num_users`` (default ``user_emb.size(0)``)
    may exceed the number of users present in the test pairs.

    Returns ``{"recall@K", "ndcg@K", "precision@K"`` for every K in ``ks``,
    ``"num_test_users"}``.

    Example:
        >>> users = torch.tensor([[1.0, 0.0]])
        >>> items = torch.tensor([[3.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
        >>> train, test = torch.tensor([[0], [0]]), torch.tensor([[0], [2]])
        >>> ranking_metrics(users, items, train, test, ks=(1, 2))["recall@2"]
        1.0
    """
    user_emb = check_features(user_emb, None, "user_emb")
    item_emb = check_features(item_emb, None, "item_emb")
    for name, t in (("user_emb", user_emb), ("item_emb", item_emb)):
        if not t.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating tensor, got dtype {t.dtype}")
    if user_emb.device != item_emb.device:
        raise ValueError(f"user_emb is on {user_emb.device} but item_emb is on {item_emb.device}")
    if score_fn is None and user_emb.size(1) != item_emb.size(1):
        raise ValueError(f"user_emb has dimension {user_emb.size(1)} but item_emb has "
                         f"{item_emb.size(1)}")
    if num_users is None:
        num_users = user_emb.size(0)
    check_positive_int(num_users, "num_users")
    if num_users > user_emb.size(0):
        raise ValueError(f"num_users={num_users} exceeds the {user_emb.size(0)} rows of user_emb")
    num_items = item_emb.size(0)
    if num_items == 0:
        raise ValueError("item_emb has no rows")
    if isinstance(ks, int) and not isinstance(ks, bool):
        ks = (ks,)
    ks = list(ks)
    if not ks:
        raise ValueError("ks must not be empty")
    for k in ks:
        check_positive_int(k, "ks")
    check_positive_int(batch_size, "batch_size")
    dev = item_emb.device
    train = check_pairs(train_pairs, num_users, num_items, "train_pairs").to(dev)
    test = check_pairs(test_pairs, num_users, num_items, "test_pairs").to(dev)
    if test.size(1) == 0:
        raise ValueError("test_pairs is empty: no user to evaluate")

    train_ptr, train_items, _ = _csr(train, num_users, num_items)
    test_ptr, _, test_keys = _csr(test, num_users, num_items)
    n_test = test_ptr[1:] - test_ptr[:-1]
    test_users = torch.nonzero(n_test > 0).flatten()

    k_max = max(ks)
    k_top = min(k_max, num_items)
    discount = 1.0 / torch.log2(torch.arange(k_max, device=dev, dtype=torch.float64) + 2.0)
    ideal = torch.cumsum(discount, 0)  # ideal[j] = IDCG with j + 1 relevant items
    sums = {f"{m}@{k}": torch.zeros((), dtype=torch.float64, device=dev)
            for k in ks for m in ("recall", "ndcg", "precision")}

    user_emb, item_emb = user_emb.detach(), item_emb.detach()
    for lo in range(0, test_users.numel(), batch_size):
        users = test_users[lo:lo + batch_size]
        if score_fn is None:
            scores = user_emb[users] @ item_emb.T
        else:
            scores = score_fn(user_emb[users], item_emb)
            if not isinstance(scores, Tensor) or tuple(scores.shape) != (users.numel(), num_items):
                raise ValueError(f"score_fn must return a [{users.numel()}, {num_items}] tensor, "
                                 f"got {getattr(scores, 'shape', type(scores).__name__)}")
            scores = scores.detach().clone()
        rows, cols = _gather_rows(train_ptr, train_items, users)
        scores[rows, cols] = float("-inf")
        top = torch.topk(scores, k_top, dim=1).indices  # [B, k_top]
        query = users[:, None] * num_items + top
        pos = torch.searchsorted(test_keys, query).clamp_(max=test_keys.numel() - 1)
        hits = (test_keys[pos] == query).to(torch.float64)
        n_rel = n_test[users].to(torch.float64)
        for k in ks:
            h = hits[:, :k]
            n_hit = h.sum(1)
            dcg = (h * discount[: h.size(1)]).sum(1)
            idcg = ideal[torch.clamp(n_test[users], max=k) - 1]
            sums[f"recall@{k}"] += (n_hit / n_rel).sum()
            sums[f"precision@{k}"] += (n_hit / k).sum()
            sums[f"ndcg@{k}"] += (dcg / idcg).sum()

    n_users = test_users.numel()
    out = {key: float(v) / n_users for key, v in sums.items()}
    out["num_test_users"] = n_users
    return out
