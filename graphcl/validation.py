"""Shared input validation with clear error messages.

Every public function of graphcl checks its tensors through these helpers, so a
bad argument fails early with a ``ValueError``/``TypeError`` that names the
argument and the problem instead of a deep stack trace or a silent wrong answer.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "check_pairs",
    "check_edge_index",
    "check_edge_weight",
    "check_features",
    "check_probability",
    "check_fraction",
    "check_positive_int",
    "check_node_ids",
    "check_generator",
]


def _is_int_dtype(t: Tensor) -> bool:
    return not t.dtype.is_floating_point and not t.dtype.is_complex and t.dtype != torch.bool


def check_edge_index(
    edge_index: Any, num_nodes: int | None = None, name: str = "edge_index"
) -> int:
    """Validate an ``edge_index`` and return the number of nodes.

    ``edge_index`` must be an integer tensor of shape ``[2, E]`` with ids in
    ``[0, num_nodes)``. When ``num_nodes`` is ``None`` it is inferred as
    ``max id + 1`` (``0`` for an empty graph).

    Example:
        >>> check_edge_index(torch.tensor([[0, 1], [1, 2]]))
        3
    """
    if not isinstance(edge_index, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [2, E], got {type(edge_index).__name__}")
    if not _is_int_dtype(edge_index):
        raise TypeError(f"{name} must be an integer tensor (torch.long), got dtype {edge_index.dtype}")
    if edge_index.dim() != 2 or edge_index.size(0) != 2:
        raise ValueError(f"{name} must have shape [2, E], got {list(edge_index.shape)}")
    if num_nodes is not None:
        if isinstance(num_nodes, bool) or not isinstance(num_nodes, int):
            raise TypeError(f"num_nodes must be an int, got {type(num_nodes).__name__}")
        if num_nodes < 0:
            raise ValueError(f"num_nodes must be >= 0, got {num_nodes}")
    if edge_index.numel() == 0:
        return 0 if num_nodes is None else num_nodes
    lo = int(edge_index.min())
    hi = int(edge_index.max())
    if lo < 0:
        raise ValueError(f"{name} contains negative node id {lo}")
    if num_nodes is None:
        return hi + 1
    if hi >= num_nodes:
        raise ValueError(f"{name} contains node id {hi} >= num_nodes={num_nodes}")
    return num_nodes


def check_edge_weight(edge_weight: Any, num_edges: int, name: str = "edge_weight") -> Tensor | None:
    """Validate optional edge weights: floating ``[E]``, finite, non-negative."""
    if edge_weight is None:
        return None
    if not isinstance(edge_weight, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [E], got {type(edge_weight).__name__}")
    if edge_weight.dim() != 1 or edge_weight.numel() != num_edges:
        raise ValueError(f"{name} must have shape [{num_edges}] (one weight per edge), got {list(edge_weight.shape)}")
    if not edge_weight.dtype.is_floating_point:
        edge_weight = edge_weight.float()
    if edge_weight.numel():
        if not bool(torch.isfinite(edge_weight).all()):
            raise ValueError(f"{name} contains NaN or inf")
        if bool((edge_weight < 0).any()):
            raise ValueError(f"{name} contains negative weights (min {float(edge_weight.min()):g})")
    return edge_weight


def check_features(x: Any, num_nodes: int | None = None, name: str = "x") -> Tensor:
    """Validate a node feature matrix: floating ``[N, F]``, finite, ``N == num_nodes``."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape [num_nodes, F], got {type(x).__name__}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape [num_nodes, F], got {list(x.shape)}")
    if num_nodes is not None and x.size(0) != num_nodes:
        raise ValueError(f"{name} has {x.size(0)} rows but the graph has num_nodes={num_nodes}")
    if x.dtype.is_floating_point and x.numel() and not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def check_probability(p: Any, name: str = "p") -> float:
    """Validate a probability in ``[0, 1]`` and return it as float."""
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1], got {type(p).__name__}")
    p = float(p)
    if math.isnan(p) or p < 0.0 or p > 1.0:
        raise ValueError(f"{name} must be a probability in [0, 1], got {p}")
    return p


def check_fraction(f: Any, name: str = "fraction") -> float:
    """Validate a fraction in ``[0, 1)`` (for example the share of nodes to remove)."""
    if isinstance(f, bool) or not isinstance(f, (int, float)):
        raise TypeError(f"{name} must be a number in [0, 1), got {type(f).__name__}")
    f = float(f)
    if math.isnan(f) or f < 0.0 or f >= 1.0:
        raise ValueError(f"{name} must be in [0, 1), got {f}")
    return f


def check_positive_float(v: Any, name: str) -> float:
    """Validate a finite real number ``> 0`` (a temperature, a scale, a node2vec ``p``; numpy
    scalars too) and return it as float.

    Example:
        >>> check_positive_float(0.5, "tau")
        0.5
    """
    if isinstance(v, bool) or not isinstance(v, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(v).__name__}")
    v = float(v)
    if not math.isfinite(v) or v <= 0.0:
        raise ValueError(f"{name} must be a finite number > 0, got {v}")
    return v


def check_positive_int(v: Any, name: str, minimum: int = 1) -> int:
    """Validate an integer ``>= minimum``."""
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{name} must be an int, got {type(v).__name__}")
    if v < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {v}")
    return v


def check_node_ids(ids: Any, num_nodes: int, name: str = "start") -> Tensor:
    """Validate a 1-D integer tensor of node ids in ``[0, num_nodes)``."""
    if not isinstance(ids, Tensor):
        raise TypeError(f"{name} must be a 1-D torch.Tensor of node ids, got {type(ids).__name__}")
    if not _is_int_dtype(ids):
        raise TypeError(f"{name} must be an integer tensor, got dtype {ids.dtype}")
    if ids.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {list(ids.shape)}")
    if ids.numel():
        lo, hi = int(ids.min()), int(ids.max())
        if lo < 0:
            raise ValueError(f"{name} contains negative node id {lo}")
        if hi >= num_nodes:
            raise ValueError(f"{name} contains node id {hi} >= num_nodes={num_nodes}")
    return ids.long()


def check_generator(generator: Any, device: torch.device | str | None = None) -> torch.Generator | None:
    """Validate an optional ``torch.Generator`` (and that it lives on ``device``)."""
    if generator is None:
        return None
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if device is not None and torch.device(generator.device).type != torch.device(device).type:
        raise ValueError(
            f"generator is on {generator.device} but the data is on {device}; "
            "create it with torch.Generator(device=...)"
        )
    return generator


def check_pairs(pairs: Any, num_users: int, num_items: int, name: str = "pairs") -> Tensor:
    """Validate a ``[2, M]`` integer tensor of (user, item) ids and return it as ``long``.

    Example:
        >>> check_pairs(torch.tensor([[0, 1], [2, 0]]), 2, 3).dtype
        torch.int64
    """
    check_positive_int(num_users, "num_users")
    check_positive_int(num_items, "num_items")
    if not isinstance(pairs, Tensor):
        raise TypeError(f"{name} must be a [2, M] integer torch.Tensor of (user, item) ids, got "
                        f"{type(pairs).__name__}")
    if not _is_int_dtype(pairs):
        raise TypeError(f"{name} must be an integer tensor, got dtype {pairs.dtype}")
    if pairs.dim() != 2 or pairs.size(0) != 2:
        raise ValueError(f"{name} must have shape [2, M] (users; items), got {list(pairs.shape)}")
    if pairs.numel():
        if int(pairs.min()) < 0:
            raise ValueError(f"{name} contains a negative id")
        if int(pairs[0].max()) >= num_users:
            raise ValueError(f"{name} contains user id {int(pairs[0].max())} >= num_users={num_users}")
        if int(pairs[1].max()) >= num_items:
            raise ValueError(f"{name} contains item id {int(pairs[1].max())} >= num_items={num_items}")
    return pairs.long()
