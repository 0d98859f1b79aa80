"""Blockwise pairwise similarity: the one place where two embedding sets are compared all-to-all.

Rows of ``a`` are processed ``block_size`` at a time, so peak memory is
``O(block_size * len(b))`` instead of ``len(a) * len(b)``. Similarities:

- ``"dot"``: ``a_i . b_j``
- ``"cosine"``: ``a_i . b_j / (|a_i| |b_j|)`` (zero rows give 0)
- ``"euclidean"``: ``-|a_i - b_j|^2`` (larger is more similar, so top-k is nearest)

Example:
    >>> import torch
    >>> a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> topk_similar(a, a, k=1).indices.flatten().tolist()
    [0, 1]
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

import torch
from torch import Tensor

from graphcl.validation import check_positive_int

__all__ = ["METRICS", "TopK", "pairwise_similarity", "similarity_blocks", "topk_similar", "default_row_block"]

METRICS = ("dot", "cosine", "euclidean")

#: Elements of one similarity block (rows * columns); 2**24 floats = 64 MiB.
BLOCK_ELEMENTS = 2**24


class TopK(NamedTuple):
    values: Tensor
    indices: Tensor


def default_row_block(num_columns: int) -> int:
    """Rows per block so that a block holds about ``BLOCK_ELEMENTS`` entries (at least 1)."""
    return max(1, BLOCK_ELEMENTS // max(1, int(num_columns)))


def _check(a: Tensor, b: Tensor, metric: str) -> None:
    for name, t in (("a", a), ("b", b)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.dim() != 2:
            raise ValueError(f"{name} must have shape [n, d], got {list(t.shape)}")
        if not t.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating-point tensor, got dtype {t.dtype}")
    if a.size(1) != b.size(1):
        raise ValueError(f"a and b must have the same width, got {a.size(1)} and {b.size(1)}")
    if a.device != b.device:
        raise ValueError(f"a and b must be on the same device, got {a.device} and {b.device}")
    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}, got {metric!r}")


def _prepare(a: Tensor, b: Tensor, metric: str) -> tuple[Tensor, Tensor, Tensor | None]:
    if metric == "cosine":
        return torch.nn.functional.normalize(a, dim=1), torch.nn.functional.normalize(b, dim=1), None
    if metric == "euclidean":
        return a, b, (b * b).sum(1)
    return a, b, None


def similarity_blocks(a: Tensor, b: Tensor, *, metric: str = "cosine",
                      block_size: int | None = None) -> Iterator[tuple[int, Tensor]]:
    """Yield ``(start, S)`` with ``S = sim(a[start:start + rows], b)`` block by block.

    Example:
        >>> a = torch.eye(3)
        >>> [(s, blk.shape[0]) for s, blk in similarity_blocks(a, a, block_size=2)]
        [(0, 2), (2, 1)]
    """
    _check(a, b, metric)
    rows = default_row_block(b.size(0)) if block_size is None else check_positive_int(block_size, "block_size")
    a, b, b_sq = _prepare(a, b, metric)
    bt = b.t()
    for start in range(0, a.size(0), rows):
        blk = a[start:start + rows]
        s = blk @ bt
        if b_sq is not None:
            s = 2 * s - (blk * blk).sum(1, keepdim=True) - b_sq
        yield start, s


def pairwise_similarity(a: Tensor, b: Tensor | None = None, *, metric: str = "cosine") -> Tensor:
    """The full ``[len(a), len(b)]`` similarity matrix (for small inputs and references).

    Example:
        >>> pairwise_similarity(torch.tensor([[3.0, 4.0]]), metric="dot").tolist()
        [[25.0]]
    """
    b = a if b is None else b
    return torch.cat([s for _, s in similarity_blocks(a, b, metric=metric)], 0) if a.size(0) else \
        a.new_zeros(0, b.size(0))


def topk_similar(a: Tensor, b: Tensor | None = None, k: int = 10, *, metric: str = "cosine",
                 block_size: int | None = None, exclude_self: bool = False) -> TopK:
    """The ``k`` most similar rows of ``b`` for every row of ``a``, blockwise.

    ``exclude_self`` (only when ``b`` is ``a`` or omitted) drops the pair
    ``(i, i)``. Returns ``TopK(values [len(a), k], indices [len(a), k])``
    sorted by decreasing similarity (the order among exact ties is unspecified).

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [3.0]])
        >>> topk_similar(x, k=1, metric="euclidean", exclude_self=True).indices.flatten().tolist()
        [1, 0, 1]
    """
    same = b is None or b is a
    b = a if b is None else b
    check_positive_int(k, "k")
    if exclude_self and not same:
        raise ValueError("exclude_self needs b to be a (or omitted)")
    limit = b.size(0) - (1 if exclude_self else 0)
    if k > limit:
        raise ValueError(f"k={k} exceeds the number of candidates ({limit})")
    values, indices = [], []
    for start, s in similarity_blocks(a, b, metric=metric, block_size=block_size):
        if exclude_self:
            r = torch.arange(s.size(0), device=s.device)
            s[r, r + start] = float("-inf")
        v, i = torch.topk(s, k, dim=1, sorted=True)
        values.append(v)
        indices.append(i)
    if not values:
        return TopK(a.new_zeros(0, k), torch.zeros(0, k, dtype=torch.long, device=a.device))
    return TopK(torch.cat(values), torch.cat(indices))
