"""Seeded synthetic graphs: attributed SBM, O(E) planted partition, LFR benchmark, Zachary's karate club.

All of them return a CPU ``Data`` with ``x`` (float), ``edge_index`` (undirected,
both directions, sorted, no self loops), ``y`` (long communities/blocks),
``num_nodes`` and ``name``. The same arguments and seed give the same graph.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from ..utils import make_generator
from ..validation import check_positive_int, check_probability
from .loaders import undirected_edge_index

__all__ = ["sbm", "planted_partition", "lfr", "karate"]

_CHUNK_ENTRIES = 1 << 23  # pair probabilities drawn per chunk of rows


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return seed


def _class_features(
    y: Tensor, num_features: int, noise: float, gen: torch.Generator
) -> Tensor:
    """Gaussian features: one standard-normal mean per class plus N(0, noise^2) per node."""
    num_classes = int(y.max()) + 1
    means = torch.randn(num_classes, num_features, generator=gen)
    return means[y] + noise * torch.randn(y.numel(), num_features, generator=gen)


def sbm(
    num_nodes_per_block: int | Sequence[int] = (100, 100, 100),
    p_in: float = 0.1,
    p_out: float = 0.01,
    num_features: int = 16,
    seed: int = 0,
    feature_noise: float = 1.0,
) -> Data:
    """Attributed stochastic block model.

    Block ``b`` holds ``num_nodes_per_block[b]`` consecutive nodes (an int gives
    one block of that size). Each pair ``u < v`` is an edge with probability
    ``p_in`` inside a block and ``p_out`` across blocks. Features are informative
    of the block: ``x = mean[y] + feature_noise * N(0, I)`` with one standard-normal
    mean vector per block. ``y`` is the block id. Memory/time are O(N^2) in chunks,
    meant for graphs of up to some ten thousand nodes.

    Example:
        >>> g = sbm([20, 20], p_in=0.5, p_out=0.05, num_features=4, seed=0)
        >>> g.num_nodes, g.x.shape[1], int(g.y.max()) + 1
        (40, 4, 2)
    """
    if isinstance(num_nodes_per_block, int):
        num_nodes_per_block = [num_nodes_per_block]
    if not isinstance(num_nodes_per_block, Sequence) or len(num_nodes_per_block) == 0:
        raise TypeError("num_nodes_per_block must be an int or a non-empty sequence of ints")
    sizes = [check_positive_int(s, "num_nodes_per_block") for s in num_nodes_per_block]
    p_in = check_probability(p_in, "p_in")
    p_out = check_probability(p_out, "p_out")
    check_positive_int(num_features, "num_features")
    if isinstance(feature_noise, bool) or not isinstance(feature_noise, (int, float)):
        raise TypeError(f"feature_noise must be a number, got {type(feature_noise).__name__}")
    if feature_noise < 0:
        raise ValueError(f"feature_noise must be >= 0, got {feature_noise}")
    _check_seed(seed)
    gen = make_generator(seed)
    n = sum(sizes)
    y = torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
    rows_per_chunk = max(1, _CHUNK_ENTRIES // n)
    cols = torch.arange(n)
    parts = []
    for r0 in range(0, n, rows_per_chunk):
        r1 = min(n, r0 + rows_per_chunk)
        rows = torch.arange(r0, r1)
        same = y[rows].unsqueeze(1) == y.unsqueeze(0)
        prob = torch.where(same, p_in, p_out)
        hit = (torch.rand(r1 - r0, n, generator=gen) < prob) & (cols.unsqueeze(0) > rows.unsqueeze(1))
        r, c = hit.nonzero(as_tuple=True)
        parts.append(torch.stack([r + r0, c]))
    edge_index = undirected_edge_index(torch.cat(parts, dim=1), n)
    x = _class_features(y, num_features, float(feature_noise), gen)
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=n, name="sbm")


def planted_partition(
    num_nodes: int,
    num_blocks: int,
    avg_degree: float,
    p_intra: float,
    num_features: int = 0,
    seed: int = 0,
    feature_noise: float = 1.0,
) -> Data:
    """Sparse planted-partition graph in O(E) time and memory (for large synthetic benchmarks).

    Node ``i`` is in block ``i * num_blocks // num_nodes`` (contiguous blocks
    whose sizes differ by at most one). ``num_nodes * avg_degree / 2`` node pairs
    are drawn: the first end uniformly, the second uniformly inside the first's
    block with probability ``p_intra``, else uniformly among the nodes of the
    other blocks. Self loops and repeated pairs are dropped and both directions
    kept, so the mean degree is ``avg_degree`` up to those (rare) collisions and
    a fraction ``p_intra`` of the edges lies inside a block. Unlike :func:`sbm`
    nothing O(N^2) is formed. ``num_features > 0`` adds Gaussian block-mean
    features as in :func:`sbm`; with 0, ``x`` is None. ``y`` is the block id.

    Example:
        >>> g = planted_partition(1000, 4, avg_degree=8, p_intra=0.9, seed=0)
        >>> g.num_nodes, int(g.y.max()) + 1, g.x is None
        (1000, 4, True)
    """
    n = check_positive_int(num_nodes, "num_nodes", minimum=2)
    k = check_positive_int(num_blocks, "num_blocks")
    if k > n:
        raise ValueError(f"num_blocks must be <= num_nodes ({n}), got {k}")
    if isinstance(avg_degree, bool) or not isinstance(avg_degree, (int, float)):
        raise TypeError(f"avg_degree must be a number, got {type(avg_degree).__name__}")
    if not 0 < avg_degree <= n - 1:
        raise ValueError(f"avg_degree must be in (0, num_nodes - 1] = (0, {n - 1}], got {avg_degree}")
    p_intra = check_probability(p_intra, "p_intra")
    if k == 1 and p_intra < 1.0:
        raise ValueError(f"p_intra must be 1 with a single block (no other block to link to), got {p_intra}")
    if p_intra > 0 and n // k < 2:
        raise ValueError(f"blocks of one node cannot hold intra-block edges; lower num_blocks (got {k} for {n} nodes)")
    check_positive_int(num_features, "num_features", minimum=0)
    if isinstance(feature_noise, bool) or not isinstance(feature_noise, (int, float)) or feature_noise < 0:
        raise ValueError(f"feature_noise must be a number >= 0, got {feature_noise!r}")
    _check_seed(seed)
    gen = make_generator(seed)
    y = torch.arange(n) * k // n
    size = torch.bincount(y, minlength=k)
    start = torch.cumsum(size, 0) - size
    m = int(round(n * float(avg_degree) / 2))
    src = torch.randint(0, n, (m,), generator=gen)
    b = y[src]
    intra = torch.rand(m, generator=gen) < p_intra
    u = torch.rand(m, generator=gen)
    # inside: start_b + U[0, size_b); outside: the n - size_b nodes after the block, wrapping around
    dst_in = start[b] + (u * size[b]).long().clamp_max(size[b] - 1)
    dst_out = (start[b] + size[b] + (u * (n - size[b])).long().clamp_max(n - size[b] - 1)) % n
    dst = torch.where(intra, dst_in, dst_out)
    edge_index = undirected_edge_index(torch.stack([src, dst]), n)
    x = _class_features(y, num_features, float(feature_noise), gen) if num_features > 0 else None
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=n, name="planted_partition")


def lfr(
    num_nodes: int = 250,
    tau1: float = 3.0,
    tau2: float = 1.5,
    mu: float = 0.1,
    average_degree: float = 5.0,
    min_community: int = 20,
    max_degree: int | None = None,
    max_community: int | None = None,
    seed: int = 0,
    num_features: int | None = None,
    feature_noise: float = 1.0,
    max_iters: int = 500,
) -> Data:
    """LFR benchmark graph via ``networkx.LFR_benchmark_graph`` (seeded).

    ``y`` numbers the planted communities in order of their smallest node. ``x``
    is the identity (one-hot node id, as for karate) unless ``num_features`` is
    given, then Gaussian class-mean features as in :func:`sbm`. networkx raises
    ``ExceededMaxIterations`` when the parameters cannot be realised for a seed;
    try another seed or looser parameters.

    Example:
        >>> g = lfr(seed=0)
        >>> g.num_nodes
        250
    """
    import networkx as nx

    check_positive_int(num_nodes, "num_nodes")
    _check_seed(seed)
    graph = nx.LFR_benchmark_graph(
        num_nodes, tau1, tau2, mu, average_degree=average_degree, max_degree=max_degree,
        min_community=min_community, max_community=max_community, max_iters=max_iters, seed=seed,
    )
    # community of each node: the smallest member identifies it
    first = torch.tensor([min(graph.nodes[v]["community"]) for v in range(num_nodes)])
    _, y = torch.unique(first, return_inverse=True)
    edges = torch.tensor(list(graph.edges()), dtype=torch.long).reshape(-1, 2).t()
    edge_index = undirected_edge_index(edges, num_nodes)
    if num_features is None:
        x = torch.eye(num_nodes)
    else:
        check_positive_int(num_features, "num_features")
        x = _class_features(y, num_features, float(feature_noise), make_generator(seed))
    return Data(x=x, edge_index=edge_index, y=y, num_nodes=num_nodes, name="lfr")


def karate() -> Data:
    """Zachary's karate club (networkx): 34 nodes, 78 edges, ``y`` = club (0 Mr. Hi, 1 Officer).

    ``x`` is the 34 x 34 identity.

    Example:
        >>> g = karate()
        >>> g.num_nodes, g.edge_index.size(1), int(g.y.sum())
        (34, 156, 17)
    """
    import networkx as nx

    graph = nx.karate_club_graph()
    n = graph.number_of_nodes()
    y = torch.tensor([0 if graph.nodes[v]["club"] == "Mr. Hi" else 1 for v in range(n)])
    edges = torch.tensor(list(graph.edges()), dtype=torch.long).t()
    return Data(
        x=torch.eye(n), edge_index=undirected_edge_index(edges, n), y=y, num_nodes=n,
        name="karate",
    )
