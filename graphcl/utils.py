"""Small shared utilities: seeding, devices, atomic file writes, resource figures."""

from __future__ import annotations

import json
import os
import platform
import random
import resource
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "seed_everything",
    "make_generator",
    "resolve_device",
    "atomic_write",
    "atomic_write_json",
    "atomic_torch_save",
    "peak_memory_mb",
    "machine_info",
]


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) global generators."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def make_generator(seed: int | None = None, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device``, seeded when ``seed`` is given.

    Example:
        >>> g = make_generator(0)
        >>> torch.rand(1, generator=g).item() == torch.rand(1, generator=make_generator(0)).item()
        True
    """
    g = torch.Generator(device=torch.device(device))
    if seed is None:
        g.seed()
    else:
        g.manual_seed(int(seed))
    return g


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"``/``None`` picks CUDA when available, else CPU; ``"cuda"`` without a GPU is an error."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' was requested but no CUDA device is available")
    return dev


def atomic_write(path: str | os.PathLike, writer: Callable[[Any], None], mode: str = "w") -> Path:
    """Write a file atomically: ``writer(fh)`` fills a temporary file in the same
    directory, which then replaces ``path`` in one step. Nothing half-written is
    ever left at ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, mode) as fh:
            writer(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"Object of type {type(o).__name__} is not JSON serialisable")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as indented JSON, atomically."""
    return atomic_write(path, lambda fh: json.dump(obj, fh, indent=2, default=_json_default))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` atomically."""
    return atomic_write(path, lambda fh: torch.save(obj, fh), mode="wb")


def peak_memory_mb(device: torch.device | str | None = None) -> float:
    """Peak memory in MiB: ``torch.cuda.max_memory_allocated`` on CUDA, peak RSS on CPU."""
    if device is not None and torch.device(device).type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024 if sys.platform != "darwin" else rss / 2**20


def rss_status() -> dict[str, float]:
    """Current (``VmRSS``) and peak (``VmHWM``) resident memory of this process in MiB (Linux
    ``/proc/self/status``; empty dict elsewhere).

    Example:
        >>> sorted(rss_status()) in ([], ["VmHWM", "VmRSS"])
        True
    """
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    out[line.split(":")[0]] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


def reset_peak_rss() -> bool:
    """Return freed heap pages to the OS (glibc ``malloc_trim``) and reset the peak RSS
    (``/proc/self/clear_refs``), so a following ``rss_status()["VmHWM"]`` minus the current RSS is
    the peak of the work in between. Returns False where the reset is not supported.

    Benchmarks that compare peak memory use this in a fresh subprocess per case, with a fixed
    ``MALLOC_MMAP_THRESHOLD_`` so large buffers are mmapped and returned on free.

    Example:
        >>> if reset_peak_rss():
        ...     before = rss_status()["VmRSS"]
        ...     buf = bytes(range(256)) * 2**18  # 64 MiB written
        ...     assert rss_status()["VmHWM"] - before >= 60
    """
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def machine_info() -> dict[str, Any]:
    """CPU, core count, GPU and torch version, for benchmark and result records."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "gpu": gpu,
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
