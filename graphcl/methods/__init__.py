"""Method recipes and their registry.

A method is a function ``run(dataset, config, ctx) -> dict`` registered under a
name with :func:`register`. ``config`` is the merged YAML configuration (see
:func:`graphcl.config.load_config`); ``ctx`` is a :class:`RunContext` with the
device, seed, data root and progress flag. The returned dict holds at least
``"metrics"`` (each metric a dict carrying a ``"protocol"`` string) and may
hold ``"history"`` (training curves), ``"embedding"`` (a tensor, not written to
JSON) and ``"labels"``. The CLI adds method, dataset, config, seeds, wall time
and peak memory and writes the JSON result.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

__all__ = ["RunContext", "MethodSpec", "register", "get_method", "available_methods"]


@dataclass
class RunContext:
    """What every method run receives besides its config."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    seed: int = 0
    root: str | None = None
    quiet: bool = False
    checkpoint: str | None = None
    resume: bool = False


@dataclass
class MethodSpec:
    name: str
    fn: Callable[[str, dict, RunContext], dict]
    description: str
    default_dataset: str | None = None


_REGISTRY: dict[str, MethodSpec] = {}

# Modules whose import registers methods. A module that is missing (not built
# yet) or fails to import for lack of an optional dependency is skipped.
_METHOD_MODULES = [
    "graphcl.methods.spectral",
    "graphcl.methods.shallow",
    "graphcl.methods.grace",
    "graphcl.methods.gca",
    "graphcl.methods.csgcl",
    "graphcl.methods.rlap",
    "graphcl.methods.pamc",
    "graphcl.methods.graphcl_tu",
    "graphcl.methods.sega",
    "graphcl.methods.gcc",
    "graphcl.methods.rec",
    "graphcl.methods.crw",
]


def register(name: str, *, description: str, default_dataset: str | None = None):
    """Decorator registering ``fn(dataset, config, ctx) -> dict`` as method ``name``.

    Example:
        >>> @register("noop", description="does nothing")
        ... def run(dataset, config, ctx):
        ...     return {"metrics": {}}
    """

    def deco(fn: Callable[[str, dict, RunContext], dict]):
        _REGISTRY[name.lower()] = MethodSpec(name.lower(), fn, description, default_dataset)
        return fn

    return deco


def _load_all() -> None:
    for mod in _METHOD_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a module not built yet
            if e.name != mod:
                raise


def available_methods() -> dict[str, MethodSpec]:
    """All registered methods by name."""
    _load_all()
    return dict(sorted(_REGISTRY.items()))


def get_method(name: str) -> MethodSpec:
    """The method registered as ``name``; ``ValueError`` listing the choices otherwise."""
    methods = available_methods()
    key = name.lower()
    if key not in methods:
        raise ValueError(f"unknown method {name!r}; available: {', '.join(methods)}")
    return methods[key]
