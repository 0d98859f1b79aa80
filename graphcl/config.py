"""Method settings in YAML.

Each method has ``graphcl/configs/<method>.yaml`` with two top-level keys:
``default`` (every setting the method reads, with the paper's values) and
``datasets`` (per-dataset overrides, keys lower-case dataset names). A user file
(``--config FILE.yaml``) and ``--set key=value`` overrides are applied on top.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CONFIG_DIR", "load_config", "parse_override", "setting"]

CONFIG_DIR = Path(__file__).parent / "configs"


def _merge(base: dict, extra: dict, *, strict: bool, where: str) -> dict:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if strict and k not in out:
            known = ", ".join(sorted(out)) or "none"
            raise ValueError(f"unknown setting {k!r} in {where}; known settings: {known}")
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v, strict=strict, where=where)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_override(item: str) -> tuple[list[str], Any]:
    """Parse ``"a.b=value"`` into (``["a", "b"]``, YAML-parsed value).

    Example:
        >>> parse_override("lr=1e-3")
        (['lr'], 0.001)
    """
    if "=" not in item:
        raise ValueError(f"--set expects key=value, got {item!r}")
    key, _, raw = item.partition("=")
    key = key.strip()
    if not key:
        raise ValueError(f"--set expects key=value, got {item!r}")
    value = yaml.safe_load(raw) if raw.strip() else None
    if isinstance(value, str):  # YAML reads 1e-3 as a string
        try:
            value = float(value)
        except ValueError:
            pass
    return key.split("."), value


def _read_yaml(path: Path) -> dict:
    if not path.exists():
        raise ValueError(f"config file {path} does not exist")
    with open(path) as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"config file {path} must hold a mapping, got {type(data).__name__}")
    return data


def load_config(
    method: str,
    dataset: str | None = None,
    path: str | Path | None = None,
    overrides: Iterable[str] = (),
) -> dict[str, Any]:
    """The merged settings of ``method`` for ``dataset``.

    Order: the method's ``default`` block, its ``datasets[dataset]`` block, the
    user file at ``path`` (either flat settings or the same two-key layout),
    then ``overrides`` (``"key=value"`` strings). Settings unknown to the
    method's defaults are rejected with a ``ValueError`` listing the known ones.

    Example:
        >>> cfg = load_config("spectral", "karate", overrides=["dim=8"])
        >>> cfg["dim"]
        8
    """
    builtin = CONFIG_DIR / f"{method.lower()}.yaml"
    base = _read_yaml(builtin) if builtin.exists() else {"default": {}}
    cfg = copy.deepcopy(base.get("default") or {})
    ds = (base.get("datasets") or {}).get((dataset or "").lower())
    if ds:
        cfg = _merge(cfg, ds, strict=False, where=str(builtin))
    if path is not None:
        user = _read_yaml(Path(path))
        if "default" in user or "datasets" in user:
            block = copy.deepcopy(user.get("default") or {})
            block = _merge(block, (user.get("datasets") or {}).get((dataset or "").lower()) or {},
                           strict=False, where=str(path))
        else:
            block = user
        cfg = _merge(cfg, block, strict=bool(cfg), where=str(path))
    for item in overrides:
        keys, value = parse_override(item)
        node = cfg
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                raise ValueError(f"unknown setting {'.'.join(keys)!r} for method {method!r}")
            node = node[k]
        if cfg and keys[-1] not in node:
            known = ", ".join(sorted(node))
            raise ValueError(f"unknown setting {'.'.join(keys)!r} for method {method!r}; known: {known}")
        node[keys[-1]] = value
    return cfg


def setting(config: dict, key: str, method: str = "method") -> Any:
    """``config[key]``, or a ``ValueError`` naming the method and the missing setting.

    Example:
        >>> setting({"lr": 0.01}, "lr", "GRACE")
        0.01
    """
    if key not in config:
        raise ValueError(f"{method} config lacks setting {key!r}")
    return config[key]
