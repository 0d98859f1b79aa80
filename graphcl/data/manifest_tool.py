"""Maintainer tool: fill the manifest's sha256 and statistics from a data root.

Usage::

    python -m graphcl.data.manifest_tool --root /path/to/datasets [--check]

For every dataset whose files are present under ``--root`` it hashes the raw
files and loads the dataset (without the statistics check) to record its
statistics, then writes ``graphcl/data/manifest.json`` and the repository's
``datasets/manifest.json`` (atomically). ``--check`` only reports differences.
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

from ..utils import atomic_write
from . import _FILE_READERS, loaders, rec
from .registry import _MANIFEST_PATH, _load_manifest, data_root, missing_files, sha256_file

_REPO_MANIFEST = Path(__file__).resolve().parents[2] / "datasets" / "manifest.json"


def compute(entry: dict[str, Any], root: Path, cache_dir: str | None) -> dict[str, Any]:
    """sha256 of each raw file and the loaded statistics of one file-based dataset."""
    shas = {rel: sha256_file(root / rel) for rel in entry["files"]}
    reader, _ = _FILE_READERS[entry["format"]]
    result = reader(entry, root, cache_dir=cache_dir)
    if entry["kind"] == "tu":
        stats = loaders.tu_stats(result)
    elif entry["kind"] == "rec":
        stats = rec.rec_stats(result)
    else:
        stats = loaders.node_stats(result)
    return {"sha256": shas, "stats": stats}


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="data root (default: $GRAPHCL_DATA or ./datasets)")
    parser.add_argument("--cache-dir", default=None, help="writable cache for TU copies")
    parser.add_argument("--check", action="store_true", help="report differences, write nothing")
    args = parser.parse_args(argv)
    root = data_root(args.root)
    doc = copy.deepcopy(_load_manifest())
    changed = 0
    for entry in doc["datasets"]:
        if entry["format"] in ("karate", "sbm", "lfr"):
            if entry["format"] == "karate":
                from .synthetic import karate

                new = {"sha256": {}, "stats": loaders.node_stats(karate())}
            else:
                continue
        elif missing_files(entry, root):
            print(f"{entry['name']}: files missing under {root}, left unchanged")
            continue
        else:
            new = compute(entry, root, args.cache_dir)
        for key in ("sha256", "stats"):
            if entry.get(key) != new[key]:
                changed += 1
                print(f"{entry['name']}: {key} {entry.get(key)} -> {new[key]}")
                entry[key] = new[key]
    if args.check:
        return 1 if changed else 0
    text = _dump(doc)
    for path in (_MANIFEST_PATH, _REPO_MANIFEST):
        atomic_write(path, lambda fh: fh.write(text))
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
