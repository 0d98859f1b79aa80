"""Basic stochastic views: edge dropout/adding, feature masking/dropout, node dropping,
random-walk subgraphs.

Functional ops take tensors and return tensors on the input's device together
with the mask or ids they used; the classes apply them to a PyG ``Data``/``Batch``
(see :mod:`graphcl.augment.base`). With ``training=False`` every op is the identity.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from graphcl.augment.base import (
    Augmentor,
    _num_nodes,
    append_edges,
    apply_edge_mask,
    keep_nodes,
)
from graphcl.graph import CSRGraph
from graphcl.validation import (
    check_edge_index,
    check_edge_weight,
    check_features,
    check_generator,
    check_node_ids,
    check_positive_int,
    check_probability,
)

__all__ = [
    "drop_edge",
    "add_edge",
    "mask_feature",
    "dropout_feature",
    "drop_node",
    "subgraph_random_walk",
    "induced_subgraph",
    "swap_feature_rows",
    "DropEdge",
    "AddEdge",
    "MaskFeature",
    "DropoutFeature",
    "DropNode",
    "RandomWalkSubgraph",
]


def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> Tensor:
    return torch.rand(n, generator=generator, device=device)


# ------------------------------------------------------------------ edge dropout
def drop_edge(
    edge_index: Tensor,
    p: float = 0.5,
    *,
    undirected: bool = False,
    edge_weight: Tensor | None = None,
    generator: torch.Generator | None = None,
    training: bool = True,
):
    """Drop every edge with probability ``p``.

    ``undirected=False``: each stored direction is dropped independently (GRACE).
    ``undirected=True``: ``u -> v`` and ``v -> u`` share one draw, so both
    directions are dropped together (the edge order of the input is kept).

    Returns ``(edge_index, edge_mask)``, or ``(edge_index, edge_weight, edge_mask)``
    when ``edge_weight`` is given; ``edge_mask[e]`` is ``True`` for kept input edges.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> out, mask = drop_edge(ei, 0.5, undirected=True,
        ...                       generator=torch.Generator().manual_seed(0))
        >>> bool(mask[0] == mask[1]) and bool(mask[2] == mask[3])
        True
    """
    n = check_edge_index(edge_index)
    p = check_probability(p, "p")
    edge_weight = check_edge_weight(edge_weight, edge_index.size(1))
    check_generator(generator, edge_index.device)
    E = edge_index.size(1)
    device = edge_index.device
    if not training or p == 0.0 or E == 0:
        mask = torch.ones(E, dtype=torch.bool, device=device)
    elif undirected:
        u, v = edge_index[0].long(), edge_index[1].long()
        key = torch.minimum(u, v) * max(n, 1) + torch.maximum(u, v)
        uniq, inv = torch.unique(key, return_inverse=True)
        mask = (_rand(uniq.numel(), generator, device) >= p)[inv]
    else:
        mask = _rand(E, generator, device) >= p
    out = edge_index[:, mask]
    if edge_weight is None:
        return out, mask
    return out, edge_weight[mask], mask


# ------------------------------------------------------------------- edge adding
def _sample_non_edges(
    graph: CSRGraph,
    m: int,
    undirected: bool,
    generator: torch.Generator | None,
    device: torch.device,
    batch: Tensor | None = None,
) -> Tensor:
    """``m`` distinct uniformly random non-edges (no self-loops); ``u < v`` when undirected.

    With ``batch``, both ends lie in the same graph.
    """
    n = graph.num_nodes
    if m <= 0 or n < 2:
        return torch.empty(2, 0, dtype=torch.long, device=device)
    keys = graph.keys
    if n * n <= 4_000_000:
        # small graph: enumerate every candidate pair, remove edges, draw without replacement
        cand = torch.arange(n * n, device=device)
        u, v = cand // n, cand % n
        ok = u != v
        if undirected:
            ok &= u < v
        if batch is not None:
            ok &= batch[u] == batch[v]
        cand = cand[ok]
        hit = torch.isin(cand, keys)
        if undirected:
            rev = (cand % n) * n + cand // n
            hit |= torch.isin(rev, keys)
        cand = cand[~hit]
        order = torch.randperm(cand.numel(), generator=generator, device=device)[:m]
        pick = cand[order]
        return torch.stack([pick // n, pick % n])
    # large graph: rejection sampling, a few vectorised rounds
    found = torch.empty(0, dtype=torch.long, device=device)
    if batch is not None:
        counts = torch.bincount(batch)
        firsts = torch.cumsum(counts, 0) - counts
    for _ in range(20):
        need = m - found.numel()
        if need <= 0:
            break
        k = int(need * 1.2) + 16
        u = torch.randint(0, n, (k,), generator=generator, device=device)
        if batch is None:
            v = torch.randint(0, n, (k,), generator=generator, device=device)
        else:  # partner drawn uniformly inside u's graph
            b = batch[u]
            r = torch.rand(k, generator=generator, device=device)
            v = firsts[b] + torch.minimum((r * counts[b]).long(), counts[b] - 1)
        if undirected:
            u, v = torch.minimum(u, v), torch.maximum(u, v)
        ok = (u != v) & ~graph.has_edge(u, v)
        if undirected:
            ok &= ~graph.has_edge(v, u)
        cand = (u * n + v)[ok]
        cand = cand[~torch.isin(cand, found)]
        # keep first occurrences only, in draw order
        uniq, inv = torch.unique(cand, return_inverse=True)
        first = torch.full((uniq.numel(),), cand.numel(), dtype=torch.long, device=device)
        first.scatter_reduce_(0, inv, torch.arange(cand.numel(), device=device), "amin")
        cand = cand[first.sort().values]
        found = torch.cat([found, cand])
    found = found[:m]
    return torch.stack([found // n, found % n])


def add_edge(
    edge_index: Tensor,
    num_nodes: int | None = None,
    p: float = 0.1,
    *,
    undirected: bool = False,
    edge_weight: Tensor | None = None,
    fill_value: float = 1.0,
    batch: Tensor | None = None,
    generator: torch.Generator | None = None,
    training: bool = True,
):
    """Add ``round(p * E)`` uniformly random non-edges (never self-loops or existing edges).

    ``undirected=True`` adds ``round(p * E / 2)`` pairs, each in both directions,
    avoiding pairs present in either direction. New edges are appended after the
    input's (so the first ``E`` columns are the input); new weights are ``fill_value``.
    Fewer edges are added when the graph has fewer non-edges. With a PyG
    ``batch`` vector both ends of every new edge lie in the same graph.

    Returns ``(edge_index, added_edges)`` or ``(edge_index, edge_weight, added_edges)``
    when ``edge_weight`` is given; ``added_edges`` is ``[2, M]``.

    Example:
        >>> ei = torch.tensor([[0, 1], [1, 0]])
        >>> out, added = add_edge(ei, 4, p=1.0, undirected=True,
        ...                       generator=torch.Generator().manual_seed(0))
        >>> added.shape
        torch.Size([2, 2])
    """
    n = check_edge_index(edge_index, num_nodes)
    p = check_probability(p, "p")
    edge_weight = check_edge_weight(edge_weight, edge_index.size(1))
    check_generator(generator, edge_index.device)
    device = edge_index.device
    E = edge_index.size(1)
    m = int(round(p * E / 2)) if undirected else int(round(p * E))
    if not training:
        m = 0
    if batch is not None:
        if not isinstance(batch, Tensor) or batch.shape != (n,) or batch.dtype.is_floating_point:
            raise ValueError(f"batch must be an integer tensor of shape [{n}] (graph id per node)")
        batch = batch.long().to(device)
    graph = CSRGraph.from_edge_index(edge_index, n)
    pairs = _sample_non_edges(graph, m, undirected, generator, device, batch)
    added = torch.cat([pairs, pairs.flip(0)], 1) if undirected else pairs
    out = torch.cat([edge_index.long(), added], 1)
    if edge_weight is None:
        return out, added
    fill = torch.full((added.size(1),), fill_value, dtype=edge_weight.dtype, device=device)
    return out, torch.cat([edge_weight, fill]), added


# ---------------------------------------------------------------------- features
def mask_feature(
    x: Tensor,
    p: float = 0.5,
    *,
    generator: torch.Generator | None = None,
    training: bool = True,
) -> tuple[Tensor, Tensor]:
    """Mask feature COLUMNS: one Bernoulli(``p``) draw per column, shared by all nodes.

    A masked column is set to 0 in every row; ``p`` is the MASKING probability
    (``p=0.3`` zeroes about 30 % of the columns). Returns ``(x, keep)`` with
    ``keep[f]`` ``True`` for the kept columns.

    Example:
        >>> x = torch.ones(4, 10)
        >>> out, keep = mask_feature(x, 0.3, generator=torch.Generator().manual_seed(0))
        >>> bool((out[:, ~keep] == 0).all()) and bool((out[:, keep] == 1).all())
        True
    """
    x = check_features(x)
    p = check_probability(p, "p")
    check_generator(generator, x.device)
    F = x.size(1)
    if not training or p == 0.0:
        return x, torch.ones(F, dtype=torch.bool, device=x.device)
    keep = _rand(F, generator, x.device) >= p
    return x * keep.to(x.dtype), keep


def dropout_feature(
    x: Tensor,
    p: float = 0.5,
    *,
    rescale: bool = False,
    generator: torch.Generator | None = None,
    training: bool = True,
) -> tuple[Tensor, Tensor]:
    """Element-wise feature dropout: each entry is zeroed with probability ``p``.

    ``rescale=True`` multiplies kept entries by ``1 / (1 - p)`` (classic dropout);
    the default keeps them unchanged (an augmentation, not a regulariser).
    Returns ``(x, keep)`` with ``keep`` the ``[N, F]`` boolean mask of kept entries.

    Example:
        >>> out, keep = dropout_feature(torch.ones(3, 4), 0.5,
        ...                             generator=torch.Generator().manual_seed(0))
        >>> bool((out == keep.float()).all())
        True
    """
    x = check_features(x)
    p = check_probability(p, "p")
    check_generator(generator, x.device)
    if not training or p == 0.0:
        return x, torch.ones_like(x, dtype=torch.bool)
    keep = torch.rand(x.shape, generator=generator, device=x.device) >= p
    out = x * keep.to(x.dtype)
    if rescale and p < 1.0:
        out = out / (1.0 - p)
    return out, keep


# ------------------------------------------------------------------ node subsets
def induced_subgraph(
    edge_index: Tensor,
    node_mask: Tensor,
    *,
    relabel: bool = False,
) -> tuple[Tensor, Tensor, Tensor]:
    """Edges with both endpoints in ``node_mask``.

    Returns ``(edge_index, edge_mask, node_mask)``; with ``relabel=True`` the
    kept nodes are renumbered ``0..K-1`` in id order and the last item is the
    sorted kept ids instead of the mask.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> out, emask, ids = induced_subgraph(ei, torch.tensor([False, True, True]), relabel=True)
        >>> out.tolist(), ids.tolist()
        ([[0, 1], [1, 0]], [1, 2])
    """
    node_mask = node_mask.bool()
    emask = node_mask[edge_index[0]] & node_mask[edge_index[1]]
    out = edge_index[:, emask]
    if not relabel:
        return out, emask, node_mask
    ids = node_mask.nonzero().view(-1)
    new_id = torch.cumsum(node_mask.long(), 0) - 1
    return new_id[out], emask, ids


def drop_node(
    edge_index: Tensor,
    num_nodes: int | None = None,
    p: float = 0.5,
    *,
    relabel: bool = False,
    generator: torch.Generator | None = None,
    training: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Drop each node with probability ``p`` together with all its incident edges.

    Returns ``(edge_index, edge_mask, node_mask)`` (``node_mask[i]`` ``True`` for
    kept nodes; dropped nodes stay as isolated ids). With ``relabel=True`` the
    kept nodes are renumbered ``0..K-1`` and the last item is their sorted ids.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> out, emask, nmask = drop_node(ei, 3, 0.5, generator=torch.Generator().manual_seed(1))
        >>> bool(nmask[out].all())
        True
    """
    n = check_edge_index(edge_index, num_nodes)
    p = check_probability(p, "p")
    check_generator(generator, edge_index.device)
    device = edge_index.device
    if not training or p == 0.0:
        node_mask = torch.ones(n, dtype=torch.bool, device=device)
    else:
        node_mask = _rand(n, generator, device) >= p
    return induced_subgraph(edge_index, node_mask, relabel=relabel)


def _uniform_walk(
    graph: CSRGraph, start: Tensor, length: int, generator: torch.Generator | None
) -> Tensor:
    """Uniform random walks ``[len(start), length + 1]``, ``-1`` after a dead end."""
    device = start.device
    walks = torch.full((start.numel(), length + 1), -1, dtype=torch.long, device=device)
    walks[:, 0] = start
    if graph.num_edges == 0 or length == 0:
        return walks
    cur = start.clone()
    deg = graph.degree
    for t in range(1, length + 1):
        safe = cur.clamp(min=0)
        d = deg[safe]
        alive = (cur >= 0) & (d > 0)
        r = (_rand(cur.numel(), generator, device) * d).long()
        r = torch.minimum(r, (d - 1).clamp(min=0))
        pos = (graph.rowptr[safe] + r).clamp(max=graph.num_edges - 1)
        cur = torch.where(alive, graph.col[pos], torch.full_like(cur, -1))
        walks[:, t] = cur
    return walks


def _walk(graph: CSRGraph, start: Tensor, length: int, generator: torch.Generator | None) -> Tensor:
    try:
        from graphcl.walks import random_walk  # type: ignore[attr-defined]
    except ImportError:
        random_walk = None
    if random_walk is not None:
        return random_walk(graph, start, length, generator=generator)
    return _uniform_walk(graph, start, length, generator)


def subgraph_random_walk(
    edge_index: Tensor,
    num_nodes: int | None = None,
    num_seeds: int = 1,
    walk_length: int = 10,
    *,
    start: Tensor | None = None,
    walks_per_seed: int = 1,
    relabel: bool = False,
    generator: torch.Generator | None = None,
    training: bool = True,
) -> tuple[Tensor, Tensor, Tensor]:
    """Subgraph induced by the nodes visited by uniform random walks.

    ``num_seeds`` distinct start nodes are drawn uniformly (or ``start`` gives
    them); from each, ``walks_per_seed`` uniform walks of ``walk_length`` steps
    follow the out-edges as stored (symmetrise ``edge_index`` for an undirected
    graph). Returns ``(edge_index, edge_mask, node_mask)`` of the induced
    subgraph, or ``(edge_index, edge_mask, kept_ids)`` with ``relabel=True``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
        >>> out, emask, nmask = subgraph_random_walk(ei, 4, 1, 2, start=torch.tensor([0]))
        >>> bool(nmask[0]) and bool(nmask[1]) and not bool(nmask[3])
        True
    """
    n = check_edge_index(edge_index, num_nodes)
    check_generator(generator, edge_index.device)
    walk_length = check_positive_int(walk_length, "walk_length", minimum=0)
    walks_per_seed = check_positive_int(walks_per_seed, "walks_per_seed")
    device = edge_index.device
    if not training:
        return induced_subgraph(
            edge_index, torch.ones(n, dtype=torch.bool, device=device), relabel=relabel
        )
    if start is None:
        num_seeds = check_positive_int(num_seeds, "num_seeds")
        start = torch.randperm(n, generator=generator, device=device)[: min(num_seeds, n)]
    else:
        start = check_node_ids(start, n, "start").to(device)
    graph = CSRGraph.from_edge_index(edge_index, n)
    node_mask = torch.zeros(n, dtype=torch.bool, device=device)
    if start.numel():
        walks = _walk(graph, start.repeat_interleave(walks_per_seed), walk_length, generator)
        visited = walks[walks >= 0]
        node_mask[visited] = True
    return induced_subgraph(edge_index, node_mask, relabel=relabel)


# ----------------------------------------------------------------- Data classes
class DropEdge(Augmentor):
    """View: :func:`drop_edge` on ``data.edge_index``; edge attributes follow the kept edges.

    Example:
        >>> view = DropEdge(0.3, undirected=True, seed=0)
    """

    def __init__(self, p: float = 0.5, *, undirected: bool = False, **kw: Any):
        super().__init__(**kw)
        self.p = check_probability(p, "p")
        self.undirected = bool(undirected)

    def apply(self, data, generator):
        ei, mask = drop_edge(data.edge_index, self.p, undirected=self.undirected, generator=generator)
        return apply_edge_mask(data, ei, mask)


class AddEdge(Augmentor):
    """View: :func:`add_edge`; edge attributes of the new edges are ``fill_value``.

    Example:
        >>> view = AddEdge(0.1, undirected=True, seed=0)
    """

    def __init__(
        self, p: float = 0.1, *, undirected: bool = False, fill_value: float = 1.0, **kw: Any
    ):
        super().__init__(**kw)
        self.p = check_probability(p, "p")
        self.undirected = bool(undirected)
        self.fill_value = float(fill_value)

    def apply(self, data, generator):
        n = _num_nodes(data)
        batch = getattr(data, "batch", None)
        ei, added = add_edge(
            data.edge_index,
            n,
            self.p,
            undirected=self.undirected,
            batch=batch if isinstance(batch, torch.Tensor) else None,
            generator=generator,
        )
        return append_edges(data, ei, added.size(1), self.fill_value)


class MaskFeature(Augmentor):
    """View: :func:`mask_feature` on ``data.x`` (column masking, ``p`` = masking rate).

    Example:
        >>> view = MaskFeature(0.3, seed=0)
    """

    def __init__(self, p: float = 0.5, **kw: Any):
        super().__init__(**kw)
        self.p = check_probability(p, "p")

    def apply(self, data, generator):
        data.x, _ = mask_feature(data.x, self.p, generator=generator)
        return data


class DropoutFeature(Augmentor):
    """View: :func:`dropout_feature` on ``data.x`` (element-wise).

    Example:
        >>> view = DropoutFeature(0.2, seed=0)
    """

    def __init__(self, p: float = 0.5, *, rescale: bool = False, **kw: Any):
        super().__init__(**kw)
        self.p = check_probability(p, "p")
        self.rescale = bool(rescale)

    def apply(self, data, generator):
        data.x, _ = dropout_feature(data.x, self.p, rescale=self.rescale, generator=generator)
        return data


class DropNode(Augmentor):
    """View: :func:`drop_node`. ``relabel=True`` removes the dropped nodes (node attributes,
    ``batch`` and ``ptr`` follow); otherwise they stay as isolated nodes.

    Example:
        >>> view = DropNode(0.1, relabel=True, seed=0)
    """

    def __init__(self, p: float = 0.5, *, relabel: bool = False, **kw: Any):
        super().__init__(**kw)
        self.p = check_probability(p, "p")
        self.relabel = bool(relabel)

    def apply(self, data, generator):
        n = _num_nodes(data)
        ei, emask, ids = drop_node(
            data.edge_index, n, self.p, relabel=self.relabel, generator=generator
        )
        if self.relabel:
            return keep_nodes(data, ids, ei, emask)
        return apply_edge_mask(data, ei, emask)


class RandomWalkSubgraph(Augmentor):
    """View: :func:`subgraph_random_walk`; on a ``Batch`` ``num_seeds`` seeds per graph.

    Example:
        >>> view = RandomWalkSubgraph(num_seeds=2, walk_length=10, relabel=True, seed=0)
    """

    def __init__(
        self,
        num_seeds: int = 1,
        walk_length: int = 10,
        *,
        walks_per_seed: int = 1,
        relabel: bool = False,
        **kw: Any,
    ):
        super().__init__(**kw)
        self.num_seeds = check_positive_int(num_seeds, "num_seeds")
        self.walk_length = check_positive_int(walk_length, "walk_length", minimum=0)
        self.walks_per_seed = check_positive_int(walks_per_seed, "walks_per_seed")
        self.relabel = bool(relabel)

    def apply(self, data, generator):
        n = _num_nodes(data)
        device = data.edge_index.device
        batch = getattr(data, "batch", None)
        start = None
        if isinstance(batch, torch.Tensor) and n:
            # num_seeds random nodes of every graph: sort by (graph, random key)
            key = torch.rand(n, generator=generator, device=device)
            order = torch.argsort(key)
            order = order[torch.argsort(batch[order], stable=True)]
            counts = torch.bincount(batch)
            first = torch.cumsum(counts, 0) - counts
            rank = torch.arange(n, device=device) - first[batch[order]]
            start = order[rank < self.num_seeds]
        ei, emask, ids = subgraph_random_walk(
            data.edge_index,
            n,
            self.num_seeds,
            self.walk_length,
            start=start,
            walks_per_seed=self.walks_per_seed,
            relabel=self.relabel,
            generator=generator,
        )
        if self.relabel:
            return keep_nodes(data, ids, ei, emask)
        return apply_edge_mask(data, ei, emask)


def swap_feature_rows(x: Tensor, p: float, *, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Copy of ``x`` in which ``round(p * N)`` random rows are permuted among themselves, none kept in place.

    The chosen rows are put in a random order and each takes the row of the next
    one (a cyclic shift), so every chosen node carries another node's features
    (a node-level attribute corruption: its own features are lost entirely).
    Returns ``(x_swapped, chosen)`` (``chosen``: the indices of the swapped rows).

    Example:
        >>> xs, chosen = swap_feature_rows(torch.eye(4), 0.5, generator=torch.Generator().manual_seed(0))
        >>> chosen.numel(), bool((xs[chosen] != torch.eye(4)[chosen]).any(1).all())
        (2, True)
    """
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise TypeError("x must be a [N, F] tensor")
    p = check_probability(p, "p")
    check_generator(generator, x.device)
    n = x.size(0)
    m = int(round(p * n))
    chosen = torch.randperm(n, generator=generator, device=x.device)[:m]
    out = x.clone()
    if m >= 2:
        out[chosen] = x[chosen.roll(1)]
    else:
        chosen = chosen[:0]
    return out, chosen
