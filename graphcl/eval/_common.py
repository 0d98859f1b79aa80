"""Input conversion and checks shared by the evaluators (private)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphcl.validation import check_positive_int


def to_numpy_matrix(x: Any, name: str = "embeddings") -> np.ndarray:
    """A finite ``float64`` ``[N, D]`` NumPy copy of a tensor or array."""
    if isinstance(x, Tensor):
        arr = x.detach().to("cpu", dtype=torch.float64).numpy()
    elif isinstance(x, np.ndarray):
        arr = x
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(x).__name__}")
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape [N, D], got {list(arr.shape)}")
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = np.asarray(arr, dtype=np.float64)
    if arr.size and not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or inf")
    return arr


def to_numpy_labels(y: Any, num: int | None = None, name: str = "y") -> np.ndarray:
    """A 1-D integer NumPy copy of class labels, optionally of length ``num``."""
    if isinstance(y, Tensor):
        if y.dtype.is_floating_point or y.dtype.is_complex:
            raise TypeError(f"{name} must hold integer class labels, got dtype {y.dtype}")
        arr = y.detach().cpu().numpy()
    elif isinstance(y, (np.ndarray, list, tuple)):
        arr = np.asarray(y)
        if arr.size and arr.dtype.kind not in "iub":
            raise TypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    else:
        raise TypeError(f"{name} must be a torch.Tensor or numpy.ndarray, got {type(y).__name__}")
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {list(arr.shape)}")
    if num is not None and arr.shape[0] != num:
        raise ValueError(f"{name} has {arr.shape[0]} entries but embeddings have {num} rows")
    return arr.astype(np.int64)


def to_numpy_mask(mask: Any, num: int, name: str) -> np.ndarray:
    """A boolean ``[num, S]`` NumPy mask (a 1-D mask becomes ``S == 1``)."""
    if isinstance(mask, Tensor):
        arr = mask.detach().cpu().numpy()
    elif isinstance(mask, np.ndarray):
        arr = mask
    else:
        raise TypeError(f"{name} must be a boolean torch.Tensor or numpy.ndarray, got "
                        f"{type(mask).__name__}")
    if arr.dtype != np.bool_:
        raise TypeError(f"{name} must be a boolean mask, got dtype {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2 or arr.shape[0] != num:
        raise ValueError(f"{name} must have shape [{num}] or [{num}, num_splits], got "
                         f"{list(arr.shape)}")
    return arr


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero)."""
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-12)


def check_ratio(v: Any, name: str) -> float:
    """A number strictly between 0 and 1."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{name} must be a number in (0, 1), got {type(v).__name__}")
    v = float(v)
    if math.isnan(v) or not 0.0 < v < 1.0:
        raise ValueError(f"{name} must be in (0, 1), got {v}")
    return v


def check_grid(grid: Any, name: str) -> list[float]:
    """A non-empty sequence of positive finite numbers."""
    if isinstance(grid, (int, float)) and not isinstance(grid, bool):
        grid = (grid,)
    if not isinstance(grid, Sequence) and not isinstance(grid, np.ndarray):
        raise TypeError(f"{name} must be a sequence of positive numbers, got {type(grid).__name__}")
    values = [float(c) for c in grid]
    if not values:
        raise ValueError(f"{name} must not be empty")
    for c in values:
        if not math.isfinite(c) or c <= 0:
            raise ValueError(f"{name} must hold positive finite numbers, got {c}")
    return values


def check_seed(seed: Any) -> int:
    """A non-negative integer seed."""
    return check_positive_int(seed, "seed", minimum=0)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and population standard deviation (``ddof=0``) as Python floats."""
    arr = np.asarray(values, dtype=np.float64)
    return float(arr.mean()), float(arr.std())


@contextmanager
def limit_blas_threads(n: int | None) -> Iterator[None]:
    """Cap BLAS threads (threadpoolctl) while fitting small dense models; ``None``: no cap.

    The scikit-learn fits here work on small dense matrices where threaded BLAS
    buys nothing, and on a shared machine its spinning threads made a lbfgs fit
    ~40x slower (measured on BlogCatalog, 2 cores under load).
    """
    if n is None:
        yield
        return
    check_positive_int(n, "blas_threads")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=n, user_api="blas"):
        yield
