"""Dataset manifest, name resolution, data root / cache directories and file checks.

The manifest (``graphcl/data/manifest.json``, copied to ``datasets/manifest.json``)
lists every dataset with its aliases, kind, file list, source, sha256 of each raw
file and the statistics the loader must reproduce. This module only reads it; the
statistics are checked by :func:`graphcl.data.load` after loading.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = [
    "DatasetNotFoundError",
    "manifest",
    "known_names",
    "resolve_name",
    "data_root",
    "cache_root",
    "missing_files",
    "require_files",
    "sha256_file",
    "verify_checksums",
    "check_statistics",
    "fingerprint",
    "tu_dirs",
]

_MANIFEST_PATH = Path(__file__).with_name("manifest.json")


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's raw files are not under the data root.

    The message lists each missing file with its full expected path and where
    the file comes from.
    """


@lru_cache(maxsize=1)
def _load_manifest() -> dict[str, Any]:
    with open(_MANIFEST_PATH, encoding="utf-8") as fh:
        return json.load(fh)


def manifest() -> dict[str, dict[str, Any]]:
    """The package manifest as ``{canonical name: entry}`` (entries are shared; do not mutate).

    Example:
        >>> manifest()["cora"]["stats"]["num_nodes"]
        2708
    """
    return {entry["name"]: entry for entry in _load_manifest()["datasets"]}


def _norm(name: str) -> str:
    return re.sub(r"[\s_]+", "-", name.strip().lower())


@lru_cache(maxsize=1)
def _alias_table() -> dict[str, str]:
    table: dict[str, str] = {}
    for entry in _load_manifest()["datasets"]:
        for alias in [entry["name"], *entry.get("aliases", [])]:
            table[_norm(alias)] = entry["name"]
    return table


def known_names() -> list[str]:
    """Canonical names of every dataset in the manifest.

    Example:
        >>> "cora" in known_names()
        True
    """
    return [entry["name"] for entry in _load_manifest()["datasets"]]


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else env ``GRAPHCL_DATA``, else ``./datasets``.

    Example:
        >>> str(data_root("/data"))
        '/data'
    """
    if root is None:
        root = os.environ.get("GRAPHCL_DATA") or "datasets"
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"root must be a path (str or os.PathLike), got {type(root).__name__}")
    return Path(root).expanduser().absolute()


def cache_root(cache_dir: str | os.PathLike | None = None) -> Path:
    """The writable cache: ``cache_dir`` if given, else env ``GRAPHCL_CACHE``, else ``~/.cache/graphcl``.

    Example:
        >>> str(cache_root("/tmp/c"))
        '/tmp/c'
    """
    if cache_dir is None:
        cache_dir = os.environ.get("GRAPHCL_CACHE") or Path.home() / ".cache" / "graphcl"
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise TypeError(
            f"cache_dir must be a path (str or os.PathLike), got {type(cache_dir).__name__}"
        )
    return Path(cache_dir).expanduser().absolute()


def tu_dirs(root: Path) -> dict[str, str]:
    """TU dataset folders present under ``root/TU`` as ``{normalised name: folder name}``.

    A folder counts when ``root/TU/<NAME>/raw/<NAME>_A.txt`` exists.
    """
    tu = root / "TU"
    found: dict[str, str] = {}
    if tu.is_dir():
        for sub in sorted(tu.iterdir()):
            if (sub / "raw" / f"{sub.name}_A.txt").is_file():
                found[_norm(sub.name)] = sub.name
    return found


def tu_entry(folder_name: str) -> dict[str, Any]:
    """A manifest-like entry for a TU dataset that is present but not in the manifest."""
    raw = f"TU/{folder_name}/raw"
    return {
        "name": _norm(folder_name),
        "display_name": folder_name,
        "aliases": [],
        "kind": "tu",
        "format": "tu",
        "path": f"TU/{folder_name}",
        "files": [f"{raw}/{folder_name}_{part}.txt" for part in ("A", "graph_indicator")],
        "source": "TU Dortmund graph kernel collection, https://chrsmrrs.github.io/datasets/",
        "sha256": {},
        "stats": {},
        "tu_name": folder_name,
    }


def resolve_name(name: str, root: Path | None = None) -> dict[str, Any]:
    """The manifest entry for ``name`` (case-insensitive, aliases allowed).

    Names not in the manifest are looked up as TU folders under ``root/TU``.
    Raises ``ValueError`` listing the known names otherwise.

    Example:
        >>> resolve_name("Photo")["name"]
        'amazon-photo'
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = _norm(name)
    canonical = _alias_table().get(key)
    if canonical is not None:
        return manifest()[canonical]
    if root is not None:
        folder = tu_dirs(root).get(key)
        if folder is not None:
            return tu_entry(folder)
    raise ValueError(
        f"unknown dataset name {name!r}; known names: {', '.join(known_names())} "
        "(plus any TU dataset whose raw files are under <root>/TU/<NAME>/raw)"
    )


def missing_files(entry: dict[str, Any], root: Path) -> list[Path]:
    """Full paths of the entry's raw files that are not present under ``root``."""
    return [root / rel for rel in entry.get("files", []) if not (root / rel).is_file()]


def require_files(entry: dict[str, Any], root: Path) -> None:
    """Raise :class:`DatasetNotFoundError` naming every missing file, where it goes and its source."""
    missing = missing_files(entry, root)
    if not missing:
        return
    lines = [
        f"dataset {entry['name']!r} is missing {len(missing)} of {len(entry['files'])} raw file(s) "
        f"under the data root {root}:",
        *[f"  missing: {p}" for p in missing],
        f"Put the files at exactly these paths (folder: {root / entry['path']}).",
        f"Source: {entry.get('source', 'unknown')}",
        "The data root is the `root` argument, else $GRAPHCL_DATA, else ./datasets; "
        "datasets/README.md explains how to obtain each dataset.",
    ]
    raise DatasetNotFoundError("\n".join(lines))


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def verify_checksums(entry: dict[str, Any], root: Path) -> None:
    """Compare each raw file's sha256 with the manifest; ``ValueError`` on any mismatch."""
    bad = []
    for rel, expected in entry.get("sha256", {}).items():
        got = sha256_file(root / rel)
        if got != expected:
            bad.append(f"  {root / rel}: sha256 {got}, manifest says {expected}")
    if bad:
        raise ValueError(
            f"dataset {entry['name']!r}: checksum mismatch (corrupt or different version of the "
            "raw files):\n" + "\n".join(bad) + f"\nSource: {entry.get('source', 'unknown')}"
        )


def check_statistics(entry: dict[str, Any], stats: dict[str, Any], skip: tuple[str, ...] = ()) -> None:
    """``ValueError`` if a loaded statistic differs from the manifest (keys in ``skip`` ignored)."""
    expected = entry.get("stats") or {}
    diffs = [
        f"{key}: expected {value}, got {stats.get(key)}"
        for key, value in expected.items()
        if key not in skip and key in stats and stats[key] != value
    ]
    if diffs:
        raise ValueError(
            f"dataset {entry['name']!r} does not match its manifest statistics ("
            + "; ".join(diffs)
            + "). The raw files may be corrupt or a different version; "
            "try load(..., verify=True) to check their sha256."
        )


def fingerprint(paths: list[Path], extra: Any = None) -> str:
    """Short hash of the files' absolute paths, sizes and mtimes plus ``extra`` (cache key)."""
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns};".encode())
    h.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]
