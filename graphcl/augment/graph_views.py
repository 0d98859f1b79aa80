"""Graph-level views of a mini-batch of graphs (GraphCL, You et al. NeurIPS 2020).

GraphCL's four augmentations act on every graph of a PyG mini-batch at once
(tensors ``x [N, F]``, ``edge_index [2, E]``, ``batch [N]``):

* ``dnodes``: drop each node with probability ``drop_ratio`` (with its edges);
* ``pedges``: drop each stored edge with probability ``edge_ratio``;
* ``subgraph``: keep a connected node set grown from one random node per graph
  (each step adds one node drawn uniformly from the current set's neighbours)
  until ``max(1, floor(subgraph_keep * n_g))`` nodes or no neighbour is left;
* ``mask_nodes``: replace the features of each node with probability
  ``mask_ratio`` by ``N(0.5, 0.5^2)`` noise (per entry);
* ``none``: the graph unchanged.

The reference unsupervised-TU code (github.com/Shen-Lab/GraphCL,
``unsupervised_TU/aug.py``) uses ratios 10 % / 10 % / keep 20 % / 10 % and
samples one augmentation per graph for ``random2`` = {dnodes, subgraph},
``random3`` = + pedges, ``random4`` = + mask_nodes. Differences, deliberate:
node and edge dropping are Bernoulli per node/edge (the reference drops exactly
``int(n / 10)``); the reference ``pedges`` only removes edges (the sampled
additions are unused, GraphCL issue #7), as here; the reference ``subgraph``
never grows its neighbour set past the start node's neighbours (a bug), here the
neighbour set is that of the whole current subgraph.

Dropped nodes are removed from the view (rows of ``x`` and ``batch``; edges
relabelled), so they do not reach a sum readout; a graph may keep no node, its
readout is then 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from graphcl.augment.basic import drop_edge, drop_node
from graphcl.validation import check_edge_index, check_features, check_generator, check_probability

__all__ = [
    "GRAPH_AUGMENTATIONS",
    "AUGMENTATION_SETS",
    "GraphView",
    "resolve_augmentations",
    "subgraph_mask",
    "perturb_node_features",
    "graph_view",
]

#: The single augmentations :func:`graph_view` knows.
GRAPH_AUGMENTATIONS = ("none", "dnodes", "pedges", "subgraph", "mask_nodes")

#: GraphCL's random mixtures (one augmentation drawn per graph).
AUGMENTATION_SETS = {
    "random2": ("dnodes", "subgraph"),
    "random3": ("dnodes", "subgraph", "pedges"),
    "random4": ("dnodes", "subgraph", "pedges", "mask_nodes"),
}


class GraphView(NamedTuple):
    """An augmented mini-batch: node features, edges, graph id per node, augmentation id per graph."""

    x: Tensor
    edge_index: Tensor
    batch: Tensor
    choice: Tensor


def resolve_augmentations(aug: str | Sequence[str]) -> tuple[str, ...]:
    """Names of the augmentations behind ``aug`` (a name, ``random2/3/4`` or a list of names).

    Example:
        >>> resolve_augmentations("random2")
        ('dnodes', 'subgraph')
    """
    if isinstance(aug, str):
        names = AUGMENTATION_SETS.get(aug, (aug,))
    elif isinstance(aug, Sequence) and len(aug) > 0:
        names = tuple(aug)
    else:
        raise TypeError(f"aug must be a name or a non-empty list of names, got {aug!r}")
    for name in names:
        if name not in GRAPH_AUGMENTATIONS:
            known = ", ".join([*GRAPH_AUGMENTATIONS, *AUGMENTATION_SETS])
            raise ValueError(f"aug: unknown augmentation {name!r}; known: {known}")
    return tuple(names)


def _check_batch(batch: Tensor, num_nodes: int, num_graphs: int | None) -> int:
    if not isinstance(batch, Tensor) or batch.dim() != 1 or batch.numel() != num_nodes:
        raise ValueError(f"batch must be a 1-D tensor with one graph id per node ({num_nodes})")
    if batch.dtype.is_floating_point or batch.dtype == torch.bool:
        raise TypeError(f"batch must be an integer tensor, got {batch.dtype}")
    if batch.numel() and int(batch.min()) < 0:
        raise ValueError("batch must hold non-negative graph ids")
    inferred = int(batch.max()) + 1 if batch.numel() else 0
    if num_graphs is None:
        return inferred
    if num_graphs < inferred:
        raise ValueError(f"num_graphs={num_graphs} is smaller than the largest graph id + 1 ({inferred})")
    return int(num_graphs)


def subgraph_mask(
    edge_index: Tensor,
    batch: Tensor,
    keep_ratio: float = 0.2,
    *,
    num_graphs: int | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Node mask of one connected subgraph per graph (GraphCL's ``subgraph`` view).

    Every graph starts from one uniformly drawn node; each step adds, in every
    graph still short of its target ``max(1, floor(keep_ratio * n_g))``, one node
    drawn uniformly from the neighbours (out-edges as stored) of its current
    set. A graph stops early when the set has no outside neighbour. All graphs
    grow together, one vectorised step per added node.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
        >>> m = subgraph_mask(ei, torch.tensor([0, 0, 0, 1, 1]), 0.7, generator=torch.Generator().manual_seed(0))
        >>> int(m[:3].sum()), int(m[3:].sum())
        (2, 1)
    """
    n = batch.numel() if isinstance(batch, Tensor) else 0
    check_edge_index(edge_index, n)
    b = _check_batch(batch, n, num_graphs)
    keep_ratio = check_probability(keep_ratio, "keep_ratio")
    device = edge_index.device
    check_generator(generator, device)
    batch = batch.long()
    counts = torch.bincount(batch, minlength=b)
    target = torch.clamp(torch.floor(counts.double() * keep_ratio).long(), min=1)
    target = torch.minimum(target, counts)
    mask = torch.zeros(n, dtype=torch.bool, device=device)
    if n == 0:
        return mask
    ptr = torch.cumsum(counts, 0) - counts
    has = counts > 0
    r = torch.rand(b, generator=generator, device=device)
    start = ptr + torch.minimum((r * counts).long(), (counts - 1).clamp(min=0))
    mask[start[has]] = True
    size = has.long()
    src, dst = edge_index[0].long(), edge_index[1].long()
    for _ in range(int(target.max()) - 1):
        need = size < target
        if not bool(need.any()):
            break
        reach = torch.zeros(n, dtype=torch.bool, device=device)
        reach[dst[mask[src]]] = True
        cand = reach & ~mask & need[batch]
        if not bool(cand.any()):
            break
        score = torch.rand(n, generator=generator, device=device)
        score = torch.where(cand, score, torch.full_like(score, -1.0))
        best = torch.full((b,), -1.0, dtype=score.dtype, device=device)
        best = best.scatter_reduce(0, batch, score, reduce="amax")
        pick = cand & (score == best[batch])
        mask |= pick
        size = size + torch.bincount(batch[pick], minlength=b)
    return mask


def perturb_node_features(
    x: Tensor,
    p: float = 0.1,
    *,
    mean: float = 0.5,
    std: float = 0.5,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """GraphCL attribute masking: each node's feature row is replaced, with probability
    ``p``, by Gaussian noise ``N(mean, std^2)`` (independent per entry).

    Returns ``(x, node_mask)`` with ``node_mask[i]`` ``True`` for the replaced rows.

    Example:
        >>> out, m = perturb_node_features(torch.zeros(6, 3), 1.0, generator=torch.Generator().manual_seed(0))
        >>> bool(m.all()) and bool((out != 0).all())
        True
    """
    x = check_features(x)
    p = check_probability(p, "p")
    check_generator(generator, x.device)
    m = torch.rand(x.size(0), generator=generator, device=x.device) < p
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype) * std + mean
    return torch.where(m[:, None], noise, x), m


def graph_view(
    x: Tensor,
    edge_index: Tensor,
    batch: Tensor,
    aug: str | Sequence[str] = "random2",
    *,
    num_graphs: int | None = None,
    drop_ratio: float = 0.1,
    edge_ratio: float = 0.1,
    subgraph_keep: float = 0.2,
    mask_ratio: float = 0.1,
    generator: torch.Generator | None = None,
) -> GraphView:
    """One GraphCL view of a mini-batch: each graph gets one augmentation drawn
    uniformly from ``aug`` (module notes), dropped nodes are removed and the
    kept ones renumbered in order.

    Returns a :class:`GraphView` ``(x, edge_index, batch, choice)``; ``choice[g]``
    indexes ``resolve_augmentations(aug)``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
        >>> v = graph_view(torch.ones(3, 2), ei, torch.zeros(3, dtype=torch.long), "dnodes", drop_ratio=0.0)
        >>> v.x.shape, v.edge_index.tolist()
        (torch.Size([3, 2]), [[0, 1, 1, 2], [1, 0, 2, 1]])
    """
    names = resolve_augmentations(aug)
    x = check_features(x)
    n = x.size(0)
    check_edge_index(edge_index, n)
    b = _check_batch(batch, n, num_graphs)
    ratios = {
        "drop_ratio": check_probability(drop_ratio, "drop_ratio"),
        "edge_ratio": check_probability(edge_ratio, "edge_ratio"),
        "subgraph_keep": check_probability(subgraph_keep, "subgraph_keep"),
        "mask_ratio": check_probability(mask_ratio, "mask_ratio"),
    }
    device = x.device
    check_generator(generator, device)
    batch = batch.long()
    if len(names) > 1:
        choice = torch.randint(len(names), (b,), generator=generator, device=device)
    else:
        choice = torch.zeros(b, dtype=torch.long, device=device)
    node_keep = torch.ones(n, dtype=torch.bool, device=device)
    edge_keep = torch.ones(edge_index.size(1), dtype=torch.bool, device=device)
    out_x = x
    src = edge_index[0].long()
    for k, name in enumerate(names):
        chosen = (choice == k)[batch]  # nodes whose graph uses this augmentation
        if name == "none" or not bool(chosen.any()):
            continue
        if name == "dnodes":
            _, _, kept = drop_node(edge_index, n, ratios["drop_ratio"], generator=generator)
            node_keep &= kept | ~chosen
        elif name == "subgraph":
            kept = subgraph_mask(edge_index, batch, ratios["subgraph_keep"], num_graphs=b, generator=generator)
            node_keep &= kept | ~chosen
        elif name == "pedges":
            _, kept_e = drop_edge(edge_index, ratios["edge_ratio"], generator=generator)
            edge_keep &= kept_e | ~chosen[src]
        else:  # mask_nodes
            noisy, _ = perturb_node_features(x, ratios["mask_ratio"], generator=generator)
            out_x = torch.where(chosen[:, None], noisy, out_x)
    edge_keep &= node_keep[edge_index[0]] & node_keep[edge_index[1]]
    new_id = torch.cumsum(node_keep.long(), 0) - 1
    ids = node_keep.nonzero().view(-1)
    return GraphView(out_x[ids], new_id[edge_index[:, edge_keep]], batch[ids], choice)
