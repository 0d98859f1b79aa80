"""word2vec text format for node embeddings."""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch import Tensor

from graphcl.utils import atomic_write

__all__ = ["save_word2vec", "load_word2vec"]


def save_word2vec(embedding: Tensor, path: str | os.PathLike) -> Path:
    """Write ``embedding`` ``[N, dim]`` in word2vec text format, atomically: the first
    line ``"N dim"``, then one line ``"id v1 ... vdim"`` per node (row ``id``).

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "z.txt")
        >>> _ = save_word2vec(torch.eye(2), p)
        >>> open(p).read().splitlines()[0]
        '2 2'
    """
    if not isinstance(embedding, Tensor):
        raise TypeError(f"embedding must be a torch.Tensor, got {type(embedding).__name__}")
    if embedding.dim() != 2:
        raise ValueError(f"embedding must have shape [N, dim], got {list(embedding.shape)}")
    if not embedding.dtype.is_floating_point:
        raise TypeError(f"embedding must be floating point, got dtype {embedding.dtype}")
    rows = embedding.detach().cpu().double().tolist()
    n, d = embedding.shape

    def writer(fh) -> None:
        fh.write(f"{n} {d}\n")
        for i, row in enumerate(rows):
            fh.write(str(i) + " " + " ".join(repr(float(v)) for v in row) + "\n")

    return atomic_write(path, writer)


def load_word2vec(path: str | os.PathLike, num_nodes: int | None = None) -> Tensor:
    """Read a word2vec text file with integer tokens into a float32 ``[N, dim]`` tensor
    indexed by token (``N`` from the header, or ``num_nodes``); missing ids are zero rows.

    Example:
        >>> import tempfile, os
        >>> p = os.path.join(tempfile.mkdtemp(), "z.txt")
        >>> _ = save_word2vec(torch.eye(2), p)
        >>> load_word2vec(p).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """
    with open(path) as fh:
        header = fh.readline().split()
        if len(header) != 2:
            raise ValueError(f"{path}: first line must be 'N dim', got {' '.join(header)!r}")
        n, d = int(header[0]), int(header[1])
        ids, vals = [], []
        for lineno, line in enumerate(fh, start=2):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != d + 1:
                raise ValueError(f"{path}:{lineno}: expected {d + 1} fields, got {len(parts)}")
            ids.append(int(parts[0]))
            vals.append([float(v) for v in parts[1:]])
    size = n if num_nodes is None else num_nodes
    if ids and max(ids) >= size:
        raise ValueError(f"{path}: token id {max(ids)} >= number of nodes {size}")
    out = torch.zeros(size, d)
    if ids:
        out[torch.tensor(ids, dtype=torch.long)] = torch.tensor(vals, dtype=torch.float32)
    return out
