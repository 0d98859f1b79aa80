"""gensim backend: the same SGNS objective trained by gensim's Word2Vec (C, CPU threads).

Walks are handed to gensim as lists of string tokens (node ids); the vectors are
put back in node-id order. Nodes that never occur in the walks get zero rows.
gensim's frequent-token downsampling is switched off (``sample=0``) so that the
objective is the one of :func:`graphcl.embed.train_skipgram`; gensim schedules the
learning rate itself (linear from ``lr`` to ``lr * 1e-4``).
"""

from __future__ import annotations

import os

import torch
from torch import Tensor

from graphcl.embed.skipgram import check_walks
from graphcl.validation import check_positive_int

__all__ = ["train_gensim", "walks_to_sentences"]


def walks_to_sentences(walks: Tensor) -> list[list[str]]:
    """``[W, L]`` walks (``-1`` padding) -> list of token lists for gensim.

    Example:
        >>> walks_to_sentences(torch.tensor([[0, 2, -1]]))
        [['0', '2']]
    """
    rows = walks.cpu().tolist()
    return [[str(v) for v in row if v >= 0] for row in rows]


def train_gensim(
    walks: Tensor,
    num_nodes: int,
    dim: int = 128,
    window: int = 10,
    negative: int = 5,
    epochs: int = 1,
    lr: float = 0.025,
    *,
    workers: int | None = None,
    seed: int = 0,
    sample: float = 0.0,
) -> Tensor:
    """Train gensim ``Word2Vec(sg=1, hs=0)`` on ``walks``; returns float32 ``[num_nodes, dim]``
    on CPU, rows in node-id order, zeros for nodes absent from the walks.

    With ``workers > 1`` gensim's result depends on thread scheduling (not bit-wise
    reproducible even with ``seed``); ``workers=1`` is reproducible.

    Example:
        >>> z = train_gensim(torch.tensor([[0, 1, 0, 1]] * 5), 3, dim=4, window=1, workers=1)
        >>> z.shape, bool((z[2] == 0).all())
        (torch.Size([3, 4]), True)
    """
    try:
        from gensim.models import Word2Vec
    except ImportError as e:  # pragma: no cover - gensim is in the environment
        raise ImportError("backend='gensim' needs the gensim package (pip install gensim)") from e
    walks = check_walks(walks, num_nodes)
    check_positive_int(dim, "dim")
    check_positive_int(window, "window")
    check_positive_int(negative, "negative", minimum=1)
    check_positive_int(epochs, "epochs")
    if workers is None:
        workers = os.cpu_count() or 1
    check_positive_int(workers, "workers")
    sentences = walks_to_sentences(walks)
    model = Word2Vec(
        sentences,
        vector_size=dim,
        window=window,
        min_count=0,
        sg=1,
        hs=0,
        negative=negative,
        alpha=float(lr),
        min_alpha=float(lr) * 1e-4,
        sample=sample,
        epochs=epochs,
        workers=workers,
        seed=int(seed),
    )
    out = torch.zeros(num_nodes, dim)
    keys = model.wv.index_to_key
    if keys:
        ids = torch.tensor([int(k) for k in keys], dtype=torch.long)
        out[ids] = torch.from_numpy(model.wv.vectors.copy()).float()
    return out
