"""Recommendation datasets: ``RecData`` and readers for LightGCN, LastFM and RecBole formats."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..utils import atomic_torch_save, make_generator
from .registry import cache_root, fingerprint

__all__ = ["RecData", "load_lightgcn", "load_lastfm", "load_ml100k", "rec_stats"]


@dataclass
class RecData:
    """User-item interactions of a recommendation dataset (0-based ids).

    ``train``/``test``/``val`` are ``LongTensor[2, M]`` with row 0 the user ids in
    ``[0, num_users)`` and row 1 the item ids in ``[0, num_items)``; ``val`` is
    ``None`` when the dataset has no validation split (carve one with
    :func:`graphcl.data.splits.rec_split`). ``social`` holds a user-user edge list
    where the dataset has one (lastfm's trust network, as stored), else ``None``.

    Example:
        >>> d = RecData(2, 3, torch.tensor([[0, 1], [2, 0]]), torch.tensor([[1], [1]]))
        >>> d.num_train
        2
    """

    num_users: int
    num_items: int
    train: Tensor
    test: Tensor
    val: Tensor | None = None
    name: str = ""
    social: Tensor | None = None

    @property
    def num_train(self) -> int:
        return int(self.train.size(1))

    @property
    def num_test(self) -> int:
        return int(self.test.size(1))

    @property
    def num_val(self) -> int:
        return 0 if self.val is None else int(self.val.size(1))

    def to(self, device: torch.device | str) -> RecData:
        """A copy with every tensor on ``device``."""
        def mv(t: Tensor | None) -> Tensor | None:
            return None if t is None else t.to(device)

        return RecData(
            self.num_users, self.num_items, mv(self.train), mv(self.test), mv(self.val),
            self.name, mv(self.social),
        )


def _sort_pairs(pairs: Tensor, num_items: int) -> Tensor:
    """Sort (user, item) pairs by user then item."""
    keys = pairs[0] * num_items + pairs[1]
    return pairs[:, torch.argsort(keys)]


def _parse_lightgcn(path: Path) -> Tensor:
    """Parse ``user item item ...`` lines into ``LongTensor[2, M]`` (numpy, one pass)."""
    text = path.read_text()
    lines = text.splitlines()
    counts = np.fromiter((len(line.split()) for line in lines), dtype=np.int64, count=len(lines))
    flat = np.array(text.split(), dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    starts = starts[counts > 0]
    counts = counts[counts > 0]
    users = np.repeat(flat[starts], counts - 1)
    is_item = np.ones(flat.size, dtype=bool)
    is_item[starts] = False
    return torch.from_numpy(np.stack([users, flat[is_item]]))


def _cached(cache_dir: str | None, tag: str, files: list[Path], extra: Any, build) -> dict:
    """Load a dict of tensors from the cache, or ``build()`` it and save it atomically."""
    path = cache_root(cache_dir) / "rec" / f"{tag}-{fingerprint(files, extra)}.pt"
    if path.is_file():
        try:
            return torch.load(path, weights_only=True)
        except Exception:  # a corrupt cache entry is rebuilt
            pass
    obj = build()
    try:
        atomic_torch_save(obj, path)
    except OSError:  # a read-only cache only costs speed
        pass
    return obj


def load_lightgcn(
    entry: dict[str, Any], root: Path, cache_dir: str | None = None, **_: Any
) -> RecData:
    """LightGCN ``train.txt``/``test.txt`` (gowalla); parsed once, then read from the cache."""
    train_p, test_p = (root / rel for rel in entry["files"])

    def build() -> dict:
        train, test = _parse_lightgcn(train_p), _parse_lightgcn(test_p)
        num_items = int(max(train[1].max(), test[1].max())) + 1
        return {"train": _sort_pairs(train, num_items), "test": _sort_pairs(test, num_items)}

    obj = _cached(cache_dir, entry["name"], [train_p, test_p], {"v": 1}, build)
    train, test = obj["train"], obj["test"]
    num_users = int(max(train[0].max(), test[0].max())) + 1
    num_items = int(max(train[1].max(), test[1].max())) + 1
    return RecData(num_users, num_items, train, test, None, entry["name"])


def _read_tsv_pairs(path: Path, skiprows: int = 0) -> Tensor:
    arr = np.loadtxt(path, dtype=np.int64, usecols=(0, 1), skiprows=skiprows, ndmin=2)
    return torch.from_numpy(arr.T.copy())


def load_lastfm(entry: dict[str, Any], root: Path, **_: Any) -> RecData:
    """LightGCN-PyTorch lastfm: ``data1.txt`` train, ``test1.txt`` test, 1-based ids shifted to 0.

    ``num_users``/``num_items`` are the largest ids (1892 / 4489) as in LightGCN-PyTorch;
    users without interactions stay in the id space. ``social`` is ``trustnetwork.txt``.
    """
    files = {Path(rel).name: root / rel for rel in entry["files"]}
    train = _read_tsv_pairs(files["data1.txt"]) - 1
    test = _read_tsv_pairs(files["test1.txt"]) - 1
    trust = _read_tsv_pairs(files["trustnetwork.txt"]) - 1
    num_users = int(max(train[0].max(), test[0].max(), trust.max())) + 1
    num_items = int(max(train[1].max(), test[1].max())) + 1
    return RecData(
        num_users, num_items, _sort_pairs(train, num_items), _sort_pairs(test, num_items),
        None, entry["name"], trust,
    )


def load_ml100k(entry: dict[str, Any], root: Path, seed: int = 0, **_: Any) -> RecData:
    """MovieLens-100K (RecBole ``.inter``): every rating is an interaction, 8:1:1 random split.

    The split is a uniform random permutation of all 100,000 interactions drawn
    from ``seed`` (80,000 train, 10,000 val, 10,000 test); ids are shifted to 0-based.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    inter = root / entry["files"][0]
    pairs = _read_tsv_pairs(inter, skiprows=1) - 1
    num_users = int(pairs[0].max()) + 1
    num_items = int(pairs[1].max()) + 1
    pairs = _sort_pairs(pairs, num_items)  # canonical order before the seeded permutation
    m = pairs.size(1)
    perm = torch.randperm(m, generator=make_generator(seed))
    n_train, n_val = int(0.8 * m), int(0.1 * m)
    parts = perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]
    train, val, test = (_sort_pairs(pairs[:, p], num_items) for p in parts)
    return RecData(num_users, num_items, train, test, val, entry["name"])


def rec_stats(rec: RecData) -> dict[str, Any]:
    """num_users, num_items, num_train, num_val, num_test, num_interactions."""
    return {
        "num_users": rec.num_users,
        "num_items": rec.num_items,
        "num_train": rec.num_train,
        "num_val": rec.num_val,
        "num_test": rec.num_test,
        "num_interactions": rec.num_train + rec.num_val + rec.num_test,
    }
