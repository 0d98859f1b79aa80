"""DeepWalk and node2vec estimators: random walks (:mod:`graphcl.walks`) + skip-gram, or
(``trainer="ppmi"``) + the shifted PPMI factorisation of :mod:`graphcl.embed.factorize`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from graphcl.embed.factorize import _COUNTS as PPMI_COUNTS
from graphcl.embed.factorize import ppmi_embedding
from graphcl.embed.gensim_backend import train_gensim
from graphcl.embed.io import save_word2vec
from graphcl.embed.skipgram import train_skipgram
from graphcl.graph import CSRGraph
from graphcl.sparse import normalized_adjacency
from graphcl.utils import make_generator, resolve_device
from graphcl.validation import check_edge_index, check_positive_float, check_positive_int

__all__ = ["DeepWalk", "Node2Vec", "as_csr_graph"]

_BACKENDS = ("torch", "gensim")
_TRAINERS = ("sgns", "ppmi")


def as_csr_graph(graph: Any, num_nodes: int | None = None) -> CSRGraph:
    """A :class:`CSRGraph` from a ``CSRGraph``, a PyG ``Data`` or an ``edge_index`` (+ ``num_nodes``).

    The edges are used as given (a PyG undirected graph stores both directions).

    Example:
        >>> as_csr_graph(torch.tensor([[0, 1], [1, 0]]), num_nodes=3).num_nodes
        3
    """
    if isinstance(graph, CSRGraph):
        return graph
    if isinstance(graph, Tensor):
        n = check_edge_index(graph, num_nodes, "graph")
        return CSRGraph.from_edge_index(graph, n)
    if hasattr(graph, "edge_index"):
        n = graph.num_nodes if num_nodes is None else num_nodes
        check_edge_index(graph.edge_index, n, "graph.edge_index")
        return CSRGraph.from_data(graph)
    raise TypeError(
        "graph must be a CSRGraph, a torch_geometric Data or an edge_index tensor, "
        f"got {type(graph).__name__}"
    )


class _WalkEmbedding:
    """Shared machinery: walks -> skip-gram. Subclasses fix the walk type."""

    def __init__(
        self,
        *,
        dim: int,
        walk_length: int,
        walks_per_node: int,
        window: int,
        negative: int,
        epochs: int,
        p: float,
        q: float,
        lr: float,
        backend: str,
        batch_size: int | None,
        workers: int | None,
        device: str | torch.device | None,
        seed: int,
        progress: bool,
        aggregate: bool = False,
        shared_negatives: int | None = None,
        sample: float = 0.0,
        pair_fraction: float = 1.0,
        mode: str = "pairs",
        max_row_updates: int | None | str = "auto",
        trainer: str = "sgns",
        svd_niter: int = 5,
        eig_power: float = 0.5,
        ppmi_counts: str = "sampled",
        ppmi_ns_exponent: float = 0.75,
        ppmi_normalize: bool = False,
    ) -> None:
        self.dim = check_positive_int(dim, "dim")
        self.walk_length = check_positive_int(walk_length, "walk_length")
        self.walks_per_node = check_positive_int(walks_per_node, "walks_per_node")
        self.window = check_positive_int(window, "window")
        self.negative = check_positive_int(negative, "negative", minimum=0)
        self.epochs = check_positive_int(epochs, "epochs")
        self.p = check_positive_float(p, "p")
        self.q = check_positive_float(q, "q")
        self.lr = check_positive_float(lr, "lr")
        if backend not in _BACKENDS:
            raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
        if backend == "gensim" and negative < 1:
            raise ValueError("backend='gensim' needs negative >= 1")
        self.backend = backend
        if batch_size is not None:
            check_positive_int(batch_size, "batch_size")
        self.batch_size = batch_size
        if workers is not None:
            check_positive_int(workers, "workers")
        self.workers = workers
        self.device = None if device is None else resolve_device(device)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise TypeError(f"seed must be an int, got {type(seed).__name__}")
        self.seed = seed
        self.progress = bool(progress)
        if not isinstance(aggregate, bool):
            raise TypeError(f"aggregate must be a bool, got {type(aggregate).__name__}")
        self.aggregate = aggregate
        if shared_negatives is not None:
            check_positive_int(shared_negatives, "shared_negatives")
        self.shared_negatives = shared_negatives
        if isinstance(sample, bool) or not isinstance(sample, (int, float)) or not sample >= 0:
            raise ValueError(f"sample must be a number >= 0, got {sample!r}")
        self.sample = float(sample)
        if (isinstance(pair_fraction, bool) or not isinstance(pair_fraction, (int, float))
                or not 0 < pair_fraction <= 1):
            raise ValueError(f"pair_fraction must be a number in (0, 1], got {pair_fraction!r}")
        if backend == "gensim" and (shared_negatives is not None or pair_fraction != 1):
            raise ValueError("shared_negatives and pair_fraction apply to backend='torch' only")
        self.pair_fraction = float(pair_fraction)
        if mode not in ("pairs", "walks"):
            raise ValueError(f"mode must be 'pairs' or 'walks', got {mode!r}")
        self.mode = mode
        if max_row_updates not in ("auto", None):
            check_positive_int(max_row_updates, "max_row_updates")
        self.max_row_updates = max_row_updates
        if trainer not in _TRAINERS:
            raise ValueError(f"trainer must be one of {_TRAINERS}, got {trainer!r}")
        if trainer == "ppmi" and backend != "torch":
            raise ValueError("trainer='ppmi' runs in torch: it needs backend='torch'")
        if trainer == "ppmi" and negative < 1:
            raise ValueError("trainer='ppmi' needs negative >= 1 (the PMI shift is log(negative))")
        self.trainer = trainer
        self.svd_niter = check_positive_int(svd_niter, "svd_niter", minimum=0)
        if isinstance(eig_power, bool) or not isinstance(eig_power, (int, float)) or not eig_power >= 0:
            raise ValueError(f"eig_power must be a number >= 0, got {eig_power!r}")
        self.eig_power = float(eig_power)
        if ppmi_counts not in PPMI_COUNTS:
            raise ValueError(f"ppmi_counts must be one of {PPMI_COUNTS}, got {ppmi_counts!r}")
        if ppmi_counts == "rao_blackwell" and self.q != 1:
            raise ValueError(f"ppmi_counts='rao_blackwell' needs q = 1 (any p), got q={self.q!r}: "
                             "with q != 1 the node2vec step depends on common neighbours (not "
                             "implemented)")
        self.ppmi_counts = ppmi_counts
        if (isinstance(ppmi_ns_exponent, bool) or not isinstance(ppmi_ns_exponent, (int, float))
                or not ppmi_ns_exponent >= 0):
            raise ValueError(f"ppmi_ns_exponent must be a number >= 0, got {ppmi_ns_exponent!r}")
        self.ppmi_ns_exponent = float(ppmi_ns_exponent)
        if not isinstance(ppmi_normalize, bool):
            raise TypeError(f"ppmi_normalize must be a bool, got {type(ppmi_normalize).__name__}")
        self.ppmi_normalize = ppmi_normalize
        self.embedding_: Tensor | None = None
        self.walks_: Tensor | None = None

    def walks(self, graph: Any, num_nodes: int | None = None) -> Tensor:
        """The walk corpus ``[walks_per_node * N, walk_length + 1]`` for ``graph``."""
        from graphcl.walks import walks_per_node

        g = as_csr_graph(graph, num_nodes)
        dev = self.device if self.device is not None else g.device
        gen = make_generator(self.seed, dev)
        return walks_per_node(g.to(dev), self.walks_per_node, self.walk_length,
                              p=self.p, q=self.q, generator=gen, shuffle=True)

    def fit(self, graph: Any, num_nodes: int | None = None, *, keep_walks: bool = False):
        """Generate the walks and train the skip-gram model; sets ``embedding_`` ``[N, dim]``
        (on the input's device) and returns ``self``. ``keep_walks`` stores ``walks_``."""
        g = as_csr_graph(graph, num_nodes)
        in_device = g.device
        dev = self.device if self.device is not None else in_device
        if g.num_nodes == 0:
            raise ValueError("graph has no nodes")
        walks = self.walks(g)
        if self.trainer == "ppmi":
            transition = None
            if self.ppmi_counts == "rao_blackwell":  # the walker's step distribution D^-1 W
                gd = g.to(dev)
                transition = normalized_adjacency(gd.to_edge_index(), gd.num_nodes, gd.weight,
                                                  kind="rw", layout="csr")
            z = ppmi_embedding(
                walks, g.num_nodes, dim=self.dim, window=self.window, negative=self.negative,
                sample=self.sample, niter=self.svd_niter, eig_power=self.eig_power, device=dev,
                generator=make_generator(self.seed + 1, dev), ns_exponent=self.ppmi_ns_exponent,
                counts=self.ppmi_counts, transition=transition, normalize=self.ppmi_normalize,
                **(dict(p=self.p, q=self.q) if self.ppmi_counts == "rao_blackwell" else {}),
            )
        elif self.backend == "torch":
            z = train_skipgram(
                walks, g.num_nodes, dim=self.dim, window=self.window, negative=self.negative,
                epochs=self.epochs, lr=self.lr, batch_size=self.batch_size, device=dev,
                generator=make_generator(self.seed + 1, dev), progress=self.progress,
                aggregate=self.aggregate, shared_negatives=self.shared_negatives,
                sample=self.sample, pair_fraction=self.pair_fraction, mode=self.mode,
                max_row_updates=self.max_row_updates,
            )
        else:
            z = train_gensim(
                walks, g.num_nodes, dim=self.dim, window=self.window, negative=self.negative,
                epochs=self.epochs, lr=self.lr, workers=self.workers, seed=self.seed,
                sample=self.sample,
            )
        self.walks_ = walks if keep_walks else None
        self.embedding_ = z.to(in_device)
        return self

    def save_word2vec(self, path: str | os.PathLike) -> Path:
        """Write ``embedding_`` in word2vec text format (atomic)."""
        if self.embedding_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted; call fit(graph) first")
        return save_word2vec(self.embedding_, path)

    def __repr__(self) -> str:
        keys = ("dim", "walk_length", "walks_per_node", "window", "negative", "epochs", "p",
                "q", "backend", "trainer")
        args = ", ".join(f"{k}={getattr(self, k)!r}" for k in keys)
        return f"{type(self).__name__}({args})"


class DeepWalk(_WalkEmbedding):
    """DeepWalk (Perozzi et al. 2014): uniform walks + skip-gram with negative sampling.

    Paper settings by default (80 walks of length 40 per node, window 10, dim 128);
    the reference used hierarchical softmax, this uses negative sampling (5).
    ``backend="torch"`` runs :func:`~graphcl.embed.train_skipgram` on ``device``
    (default: the graph's); ``backend="gensim"`` runs gensim's Word2Vec on CPU.
    ``aggregate=True`` (torch backend) trains on pairs drawn from the walks' counted
    co-occurrences (same expected objective; see :mod:`graphcl.embed.skipgram`).
    ``shared_negatives``, ``sample`` (word2vec downsampling, both backends) and
    ``pair_fraction``, ``mode`` ("pairs" | "walks") and ``max_row_updates`` are passed to
    :func:`~graphcl.embed.train_skipgram`.

    ``trainer="ppmi"`` replaces skip-gram by the factorisation of the matrix SGNS
    factorises implicitly (:func:`~graphcl.embed.factorize.ppmi_embedding`, Levy & Goldberg
    2014; NetMF, Qiu et al. 2018): the same walks' expected window co-occurrences, shifted
    positive PMI with shift ``log(negative)`` and unigram^0.75 negatives, rank-``dim``
    randomized SVD with ``svd_niter`` power iterations, embedding ``U S**eig_power`` (default
    ``U sqrt(S)``, NetMF). It is not
    SGNS ("walks + PPMI factorisation"); ``lr``, ``epochs``, ``batch_size`` and the SGNS
    fast-path options do not apply to it, ``sample`` does (downsampling before counting).
    ``ppmi_counts="rao_blackwell"`` (q = 1, any p, ``sample=0``; O(N^2) memory) counts each
    context by its exact step distribution from the walk's previous node(s),
    ``ppmi_ns_exponent`` is the negatives' unigram exponent, ``ppmi_normalize=True``
    L2-normalises the rows (:func:`~graphcl.embed.factorize.ppmi_embedding` ``counts``,
    ``ns_exponent``, ``normalize``).

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> m = DeepWalk(dim=8, walks_per_node=2, walk_length=5, progress=False).fit(ei)
        >>> m.embedding_.shape
        torch.Size([3, 8])
    """

    def __init__(
        self,
        dim: int = 128,
        walk_length: int = 40,
        walks_per_node: int = 80,
        window: int = 10,
        negative: int = 5,
        epochs: int = 1,
        *,
        lr: float = 0.025,
        backend: str = "torch",
        batch_size: int | None = None,
        workers: int | None = None,
        device: str | torch.device | None = None,
        seed: int = 0,
        progress: bool = True,
        aggregate: bool = False,
        shared_negatives: int | None = None,
        sample: float = 0.0,
        pair_fraction: float = 1.0,
        mode: str = "pairs",
        max_row_updates: int | None | str = "auto",
        trainer: str = "sgns",
        svd_niter: int = 5,
        eig_power: float = 0.5,
        ppmi_counts: str = "sampled",
        ppmi_ns_exponent: float = 0.75,
        ppmi_normalize: bool = False,
    ) -> None:
        super().__init__(dim=dim, walk_length=walk_length, walks_per_node=walks_per_node,
                         window=window, negative=negative, epochs=epochs, p=1.0, q=1.0, lr=lr,
                         backend=backend, batch_size=batch_size, workers=workers,
                         device=device, seed=seed, progress=progress,
                         aggregate=aggregate, shared_negatives=shared_negatives,
                         sample=sample, pair_fraction=pair_fraction, mode=mode,
                         max_row_updates=max_row_updates, trainer=trainer, svd_niter=svd_niter,
                         eig_power=eig_power, ppmi_counts=ppmi_counts,
                         ppmi_ns_exponent=ppmi_ns_exponent, ppmi_normalize=ppmi_normalize)


class Node2Vec(_WalkEmbedding):
    """node2vec (Grover & Leskovec 2016): second-order (p, q) walks + skip-gram.

    Defaults from the paper: 10 walks of length 80 per node, window 10, dim 128,
    ``p = q = 1``. Keywords as :class:`DeepWalk`, plus ``p`` (return) and ``q`` (in-out).

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> m = Node2Vec(dim=8, walk_length=5, p=0.5, q=2.0, progress=False).fit(ei)
        >>> m.embedding_.shape
        torch.Size([3, 8])
    """

    def __init__(
        self,
        dim: int = 128,
        walk_length: int = 80,
        walks_per_node: int = 10,
        window: int = 10,
        negative: int = 5,
        epochs: int = 1,
        *,
        p: float = 1.0,
        q: float = 1.0,
        lr: float = 0.025,
        backend: str = "torch",
        batch_size: int | None = None,
        workers: int | None = None,
        device: str | torch.device | None = None,
        seed: int = 0,
        progress: bool = True,
        aggregate: bool = False,
        shared_negatives: int | None = None,
        sample: float = 0.0,
        pair_fraction: float = 1.0,
        mode: str = "pairs",
        max_row_updates: int | None | str = "auto",
        trainer: str = "sgns",
        svd_niter: int = 5,
        eig_power: float = 0.5,
        ppmi_counts: str = "sampled",
        ppmi_ns_exponent: float = 0.75,
        ppmi_normalize: bool = False,
    ) -> None:
        super().__init__(dim=dim, walk_length=walk_length, walks_per_node=walks_per_node,
                         window=window, negative=negative, epochs=epochs, p=p, q=q, lr=lr,
                         backend=backend, batch_size=batch_size, workers=workers,
                         device=device, seed=seed, progress=progress,
                         aggregate=aggregate, shared_negatives=shared_negatives,
                         sample=sample, pair_fraction=pair_fraction, mode=mode,
                         max_row_updates=max_row_updates, trainer=trainer, svd_niter=svd_niter,
                         eig_power=eig_power, ppmi_counts=ppmi_counts,
                         ppmi_ns_exponent=ppmi_ns_exponent, ppmi_normalize=ppmi_normalize)
