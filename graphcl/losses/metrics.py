"""Alignment and uniformity of embeddings on the hypersphere (Wang & Isola, ICML 2020).

``alignment(z1, z2) = E_i |u_i - v_i|^alpha`` (lower: positives closer) and
``uniformity(z) = log E_{i != j} exp(-t |u_i - u_j|^2)`` (lower: more uniform),
with ``u = z / |z|`` unless ``normalize=False``. :func:`uniformity` runs over row
blocks with activation checkpointing, so neither pass holds an ``N x N`` matrix.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from graphcl.validation import check_positive_float

__all__ = ["alignment", "uniformity"]


def _check_matrix(z: Tensor, name: str) -> None:
    if not isinstance(z, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(z).__name__}")
    if z.dim() != 2:
        raise ValueError(f"{name} must be 2-D [num_nodes, dim], got shape {tuple(z.shape)}")
    if not z.is_floating_point():
        raise TypeError(f"{name} must be a floating-point tensor, got {z.dtype}")


def alignment(z1: Tensor, z2: Tensor, alpha: float = 2, *, normalize: bool = True) -> Tensor:
    """Mean ``|u_i - v_i|^alpha`` over positive pairs (rows of ``z1``, ``z2``).

    Example:
        >>> z = torch.randn(5, 3)
        >>> float(alignment(z, 2 * z))
        0.0
    """
    _check_matrix(z1, "z1")
    _check_matrix(z2, "z2")
    if z1.shape != z2.shape:
        raise ValueError(f"z1 and z2 must have the same shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    check_positive_float(alpha, "alpha")
    if normalize:
        z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    return (z1 - z2).norm(dim=1).pow(alpha).mean()


def _block_lse(rows: Tensor, z: Tensor, sq_rows: Tensor, sq: Tensor, start: int, t: float) -> Tensor:
    """Row LSE of ``-t |rows_i - z_k|^2`` over ``k != start + i``."""
    d2 = (sq_rows.unsqueeze(1) + sq.unsqueeze(0) - 2 * rows @ z.t()).clamp_min(0)
    logits = -t * d2
    logits = logits.diagonal_scatter(torch.full_like(logits.diagonal(int(start)), -math.inf), int(start))
    return torch.logsumexp(logits, dim=1)


def uniformity(z: Tensor, t: float = 2, block_size: int | None = 1024, *, normalize: bool = True) -> Tensor:
    """``log`` of the mean Gaussian potential ``exp(-t |u_i - u_j|^2)`` over pairs ``i != j``.

    ``block_size`` rows are processed at a time (``None``: all at once); each
    block is checkpointed, so the backward pass recomputes it instead of storing
    it. Memory is ``O(N * block_size)``.

    Example:
        >>> z = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
        >>> round(float(uniformity(z, t=1)), 4)  # |u_1 - u_2|^2 = 4
        -4.0
    """
    _check_matrix(z, "z")
    check_positive_float(t, "t")
    n = z.size(0)
    if n < 2:
        raise ValueError(f"z needs at least 2 rows, got {n}")
    if block_size is not None and (isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1):
        raise ValueError(f"block_size must be a positive int or None, got {block_size!r}")
    if normalize:
        z = F.normalize(z, dim=1)
    block = n if block_size is None else min(block_size, n)
    sq = (z * z).sum(1)
    parts = []
    for start in range(0, n, block):
        end = min(start + block, n)
        args = (z[start:end], z, sq[start:end], sq, start, float(t))
        if z.requires_grad and block < n:
            parts.append(checkpoint(_block_lse, *args, use_reentrant=False))
        else:
            parts.append(_block_lse(*args))
    return torch.logsumexp(torch.cat(parts), dim=0) - math.log(n * (n - 1))
