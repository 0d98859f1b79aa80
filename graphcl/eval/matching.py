"""Node correspondence: how well nearest-neighbour matching recovers known node pairs.

Given embeddings ``za`` of graph A, ``zb`` of graph B and the true counterpart
``truth[i]`` in B of every node ``i`` of A, every A node ranks all B nodes by
similarity (blockwise, :func:`graphcl.similarity.similarity_blocks`). Hits@k is
the fraction of A nodes whose counterpart is among the ``k`` most similar B
nodes. Ties are broken uniformly at random in expectation: with ``g`` B nodes
strictly more similar than the counterpart and ``e`` others exactly as similar,
the node scores ``clamp(k - g, 0, e + 1) / (e + 1)`` (exact duplicates are
neither rewarded nor punished beyond chance).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from graphcl.augment.basic import swap_feature_rows
from graphcl.similarity import similarity_blocks
from graphcl.validation import (
    check_edge_index,
    check_features,
    check_generator,
    check_positive_int,
    check_probability,
)

__all__ = ["correspondence_hits", "flip_feature_entries", "perturbed_copy", "structural_features",
           "swap_feature_rows"]

FEATURE_NOISE = ("entries", "entries+rows")


def correspondence_hits(
    za: Tensor,
    zb: Tensor,
    truth: Tensor,
    ks: Sequence[int] = (1, 10),
    *,
    metric: str = "cosine",
    block_size: int | None = None,
) -> dict[str, Any]:
    """Hits@k of matching A nodes to B nodes by similarity, for every ``k`` in ``ks``.

    ``truth``: ``[len(za)]`` integer tensor, the index in ``zb`` of each A
    node's counterpart (``-1``: no counterpart, the node is skipped). Returns
    ``{"hits@k": fraction, ..., "mean_rank": expected 1-based rank, "num_queries": n,
    "protocol": str}``.

    Example:
        >>> z = torch.eye(4)
        >>> correspondence_hits(z, z[[2, 0, 1, 3]], torch.tensor([1, 2, 0, 3]), ks=(1,))["hits@1"]
        1.0
    """
    if not isinstance(truth, Tensor) or truth.dtype.is_floating_point or truth.dtype == torch.bool:
        raise TypeError("truth must be an integer tensor")
    if not isinstance(za, Tensor) or not isinstance(zb, Tensor):
        raise TypeError("za and zb must be torch.Tensors")
    if truth.shape != (za.size(0),):
        raise ValueError(f"truth must have shape [{za.size(0)}] (one entry per row of za), got {list(truth.shape)}")
    if truth.numel() and (int(truth.min()) < -1 or int(truth.max()) >= zb.size(0)):
        raise ValueError(f"truth entries must lie in [0, {zb.size(0)}) or be -1")
    ks = [check_positive_int(k, "ks") for k in ks]
    if not ks:
        raise ValueError("ks must hold at least one k")
    truth = truth.to(za.device).long()
    greater = torch.zeros(za.size(0), dtype=torch.long, device=za.device)
    equal = torch.zeros_like(greater)
    for start, s in similarity_blocks(za.detach(), zb.detach(), metric=metric, block_size=block_size):
        t = truth[start:start + s.size(0)]
        rows = torch.arange(s.size(0), device=s.device)
        own = s[rows, t.clamp_min(0)].unsqueeze(1)
        greater[start:start + s.size(0)] = (s > own).sum(1)
        equal[start:start + s.size(0)] = (s == own).sum(1) - 1
    query = truth >= 0
    g, e = greater[query].double(), equal[query].double()
    n = int(query.sum())
    out: dict[str, Any] = {}
    for k in ks:
        score = (k - g).clamp(min=0).minimum(e + 1) / (e + 1)
        out[f"hits@{k}"] = float(score.mean()) if n else float("nan")
    out["mean_rank"] = float((g + e / 2 + 1).mean()) if n else float("nan")
    out["num_queries"] = n
    out["protocol"] = (f"every node of A ranks all {zb.size(0)} nodes of B by {metric} similarity; Hits@k = fraction "
                       "whose true counterpart is in the top k (ties broken uniformly at random, in expectation)")
    return out


def flip_feature_entries(x: Tensor, p: float, *, generator: torch.Generator | None = None) -> Tensor:
    """Binary ``x``: ``round(p * nnz)`` random non-zero entries set to 0 and as many random zero entries set to 1.

    The entry noise of :func:`perturbed_copy` (the number of non-zeros is kept).

    Example:
        >>> x = torch.eye(4)
        >>> y = flip_feature_entries(x, 0.5, generator=torch.Generator().manual_seed(0))
        >>> int(y.sum()), int((y * x).sum())
        (4, 2)
    """
    if not isinstance(x, Tensor) or x.dim() != 2:
        raise TypeError("x must be a [N, F] tensor")
    p = check_probability(p, "p")
    check_generator(generator, x.device)
    if not bool(((x == 0) | (x == 1)).all()):
        raise ValueError("x must be binary (0/1 entries) for entry flips")
    return _flip_entries(x, p, generator)


def _flip_entries(x: Tensor, p: float, generator: torch.Generator | None) -> Tensor:
    """Binary ``x``: zero ``round(p * nnz)`` random non-zeros and set as many random zeros to 1."""
    flat = x.reshape(-1).clone()
    ones = (flat != 0).nonzero().flatten()
    zeros = (flat == 0).nonzero().flatten()
    m = min(int(round(p * ones.numel())), zeros.numel())
    off = ones[torch.randperm(ones.numel(), generator=generator, device=x.device)[:m]]
    on = zeros[torch.randperm(zeros.numel(), generator=generator, device=x.device)[:m]]
    flat[off] = 0
    flat[on] = 1
    return flat.view_as(x)


def structural_features(edge_index: Tensor, num_nodes: int) -> Tensor:
    """7 structural features per node, from the graph's own edges (for graphs without node features).

    Columns: log(1 + degree), mean / min / max / std of the neighbours' log(1 + degree),
    local clustering coefficient, log(1 + triangles). Self-loops and duplicate edges are
    ignored; ``edge_index`` should hold both directions. They depend only on the
    graph up to node relabelling (never on node ids), so two copies of a graph get
    the same features up to the permutation.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])
        >>> structural_features(ei, 3)[:, 5].tolist()  # a triangle: clustering 1
        [1.0, 1.0, 1.0]
    """
    from torch_geometric.utils import scatter

    n = check_edge_index(edge_index, num_nodes, "edge_index")
    ei = edge_index[:, edge_index[0] != edge_index[1]].long()
    keys = torch.unique(ei[0] * n + ei[1])
    ei = torch.stack([keys // n, keys % n])
    deg = torch.bincount(ei[0], minlength=n).double()
    ld = torch.log1p(deg)
    nb = ld[ei[1]]
    mean = scatter(nb, ei[0], 0, dim_size=n, reduce="mean")
    mx = scatter(nb, ei[0], 0, dim_size=n, reduce="max")
    mn = scatter(nb, ei[0], 0, dim_size=n, reduce="min")
    sq = scatter(nb * nb, ei[0], 0, dim_size=n, reduce="mean")
    std = (sq - mean * mean).clamp_min(0).sqrt()
    a = torch.sparse_coo_tensor(ei, torch.ones(ei.size(1), dtype=torch.float64, device=ei.device), (n, n),
                                is_coalesced=True, check_invariants=False)  # keys are unique and sorted
    with warnings.catch_warnings():  # torch's COO product goes through CSR and warns that it is beta
        warnings.simplefilter("ignore", UserWarning)
        paths2 = torch.sparse.mm(a, a).coalesce()  # common-neighbour counts
    i, j = paths2.indices()
    on_edge = torch.isin(i * n + j, keys)
    tri = torch.zeros(n, dtype=torch.float64, device=ei.device).index_add(0, i[on_edge], paths2.values()[on_edge]) / 2
    clus = torch.where(deg > 1, 2 * tri / (deg * (deg - 1)).clamp_min(1), torch.zeros_like(deg))
    return torch.stack([ld, mean, mn, mx, std, clus, torch.log1p(tri)], 1).float()


def perturbed_copy(
    x: Tensor | None,
    edge_index: Tensor,
    p: float,
    *,
    num_nodes: int | None = None,
    feature_noise: str = "entries",
    generator: torch.Generator | None = None,
) -> tuple[Tensor | None, Tensor, Tensor]:
    """A noisy copy of an undirected graph with permuted node ids, for correspondence benchmarks.

    Self-loops are removed; ``round(p * E_u)`` of the ``E_u`` undirected edges are
    dropped and as many uniformly random non-edges of the original graph are
    added (both directions). Features: if ``x`` is binary, ``round(p * nnz)``
    random non-zero entries are zeroed and as many random zero entries set to 1;
    otherwise Gaussian noise with standard deviation ``p`` times each column's
    standard deviation is added. With ``feature_noise="entries+rows"`` in addition
    ``round(p * N)`` random nodes then lose their feature row entirely: the rows of
    those nodes are permuted among themselves (:func:`swap_feature_rows`).
    Finally node ``i`` becomes node ``truth[i]``.

    Returns ``(x_copy, edge_index_copy, truth)``.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
        >>> x2, ei2, truth = perturbed_copy(torch.eye(4), ei, 0.0, generator=torch.Generator().manual_seed(0))
        >>> bool((x2[truth] == torch.eye(4)).all()) and ei2.size(1) == 6
        True
    """
    from graphcl.augment import add_edge

    n = check_edge_index(edge_index, num_nodes if x is None else x.size(0) if num_nodes is None else num_nodes)
    p = check_probability(p, "p")
    if feature_noise not in FEATURE_NOISE:
        raise ValueError(f"feature_noise must be one of {FEATURE_NOISE}, got {feature_noise!r}")
    check_generator(generator, edge_index.device)
    device = edge_index.device
    ei = edge_index[:, edge_index[0] != edge_index[1]].long()
    u, v = torch.minimum(ei[0], ei[1]), torch.maximum(ei[0], ei[1])
    pairs = torch.unique(u * n + v)  # undirected edges, u < v
    m = int(round(p * pairs.numel()))
    order = torch.randperm(pairs.numel(), generator=generator, device=device)
    kept = pairs[order[m:]]
    und = torch.stack([pairs // n, pairs % n])
    full = torch.cat([und, und.flip(0)], 1)
    _, added = add_edge(full, n, p=(2 * m / max(full.size(1), 1)), undirected=True, generator=generator)
    added = added[:, added[0] < added[1]]
    src = torch.cat([kept // n, added[0]])
    dst = torch.cat([kept % n, added[1]])
    truth = torch.randperm(n, generator=generator, device=device)
    new = torch.stack([torch.cat([src, dst]), torch.cat([dst, src])])
    new = truth[new]
    x_copy = None
    if x is not None:
        x = check_features(x, n)
        if bool(((x == 0) | (x == 1)).all()):
            noisy = _flip_entries(x, p, generator)
        else:
            std = x.std(0, keepdim=True) if n > 1 else torch.zeros_like(x[:1])
            noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
            noisy = x + p * std * noise
        if feature_noise == "entries+rows":
            noisy, _ = swap_feature_rows(noisy, p, generator=generator)
        x_copy = torch.empty_like(noisy)
        x_copy[truth] = noisy
    return x_copy, new, truth
