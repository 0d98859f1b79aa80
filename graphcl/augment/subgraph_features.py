"""Structural node features of small graphs (GCC's subgraph featurisation).

GCC (Qiu et al. KDD 2020) describes every node of a sampled subgraph by

* the top-``k`` eigenvectors of the subgraph's normalised adjacency
  ``D^-1/2 A D^-1/2`` (largest eigenvalues first, ``k = min(n - 2, k)``, rows
  L2-normalised, zero padded to ``k`` columns), a "positional embedding";
* its degree inside the subgraph (GCC embeds it with a learned table);
* a flag marking the ego node.

Eigenvectors are only defined up to sign. :func:`fix_eigenvector_signs` picks
one sign per eigenvector deterministically: the sign that makes the sum of its
entries positive; when that sum is (numerically) zero, the sign that makes its
largest-magnitude entry positive (first such entry on ties). The first rule
does not depend on the order of the nodes, so for an eigenvalue of
multiplicity one the features of a node do not change when the other nodes of
its subgraph are relabelled (a repeated eigenvalue has no canonical basis: no
rule can make those columns relabelling invariant).

:func:`subgraph_positional_features` works on a whole batch of graphs given as
one disjoint union (``edge_index`` plus node offsets ``ptr``): graphs are
sorted by size and the graphs of one size (at most ``group_size`` at a time)
are solved with one batched ``torch.linalg.eigh``. Nothing is padded, so a
graph is the same eigenproblem whatever else is in its batch (features equal up
to LAPACK rounding). The matrices are filled into one flat buffer, the
eigenvectors copied into one row block per size group, and the sign rule, the
column order and the row normalisation are applied to all graphs at once
(no per-graph or per-group work besides the ``eigh`` call and one copy); the
sign rule's fallback reads only the (graph, column) pairs that need it. Input
built by the walk engine can skip the checks (``validate=False``) and, when
undirected, hand ``eigh`` its matrices already column-major (``symmetric=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from graphcl.validation import check_edge_index, check_positive_int

__all__ = [
    "fix_eigenvector_signs",
    "subgraph_positional_features",
    "SubgraphBatch",
    "collate_subgraphs",
    "subgraph_batch",
]



def fix_eigenvector_signs(vectors: Tensor, mask: Tensor | None = None, eps: float = 1e-6) -> Tensor:
    """Flip eigenvector columns to a deterministic sign.

    Args:
        vectors: ``[..., n, k]`` eigenvectors in the columns.
        mask: optional ``[..., n]`` boolean, the rows that are real nodes
            (padding rows are ignored by the rule).
        eps: a column whose entry sum is below ``eps`` in magnitude falls back to
            the largest-magnitude-entry rule.

    Returns:
        A tensor of the same shape: every column multiplied by ``+1`` or ``-1`` so
        that its entry sum is positive (or, when that sum is ~0, its
        largest-magnitude entry is positive).

    Example:
        >>> v = torch.tensor([[-0.6, 0.8], [-0.8, -0.6]])
        >>> fix_eigenvector_signs(v).tolist()
        [[0.6000000238418579, 0.800000011920929], [0.800000011920929, -0.6000000238418579]]
    """
    if not isinstance(vectors, Tensor):
        raise TypeError(f"vectors must be a torch.Tensor, got {type(vectors).__name__}")
    if vectors.dim() < 2:
        raise ValueError(f"vectors must have shape [..., n, k], got {list(vectors.shape)}")
    if not vectors.is_floating_point():
        raise TypeError(f"vectors must be a floating-point tensor, got {vectors.dtype}")
    v = vectors
    if mask is not None:
        if mask.shape != vectors.shape[:-1]:
            raise ValueError(f"mask must have shape {list(vectors.shape[:-1])}, got {list(mask.shape)}")
        v = vectors * mask.unsqueeze(-1).to(vectors.dtype)
    total = v.sum(dim=-2)  # [..., k]
    idx = v.abs().argmax(dim=-2, keepdim=True)  # first index of the largest magnitude
    peak = torch.gather(v, -2, idx).squeeze(-2)
    sign = torch.where(total.abs() > eps, total, peak).sign_()
    return vectors * sign.masked_fill_(sign == 0, 1.0).unsqueeze(-2)


def _check_ptr(ptr: Tensor, num_nodes: int | None) -> Tensor:
    if not isinstance(ptr, Tensor):
        raise TypeError(f"ptr must be a torch.Tensor, got {type(ptr).__name__}")
    if ptr.dim() != 1 or ptr.numel() < 1 or ptr.dtype not in (torch.int32, torch.int64):
        raise ValueError(f"ptr must be a non-empty 1-D integer tensor of node offsets, got shape {list(ptr.shape)} "
                         f"and dtype {ptr.dtype}")
    ptr = ptr.long()
    if int(ptr[0]) != 0 or bool((ptr.diff() < 0).any()):
        raise ValueError("ptr must start at 0 and be non-decreasing")
    if num_nodes is not None and int(ptr[-1]) != num_nodes:
        raise ValueError(f"ptr[-1] must equal the number of nodes {num_nodes}, got {int(ptr[-1])}")
    return ptr


def subgraph_positional_features(
    edge_index: Tensor,
    ptr: Tensor,
    k: int = 32,
    *,
    group_size: int = 32,
    dtype: torch.dtype = torch.float64,
) -> Tensor:
    """GCC positional features of every node of a batch of graphs.

    For each graph (nodes ``ptr[g] .. ptr[g+1]-1`` of the disjoint union), the
    eigenvectors of its ``D^-1/2 A D^-1/2`` (``A`` counts stored edges, ``D``
    its row sums clamped at 1) with the ``min(n - 2, k)`` largest eigenvalues,
    largest first, signs fixed by the rule of :func:`fix_eigenvector_signs`
    (``eps = 1e-6``; in float32 an exactly zero entry sum carries ~1e-7..1e-6 of
    rounding, so such a column can get the sign of that rounding), rows
    L2-normalised, zero padded to ``k`` columns. Edges must not cross graphs.
    When the ``take``-th and ``(take+1)``-th eigenvalues tie, which vectors of
    that eigenspace are kept is LAPACK's choice (no canonical answer; the row
    norms then depend on it too); every eigenvector is computed (full ``eigh``).

    Args:
        edge_index: ``[2, E]`` edges of the union (store both directions for an
            undirected graph).
        ptr: ``[B + 1]`` node offsets, ``ptr[0] = 0``, ``ptr[-1] = N``.
        k: number of eigenvectors (feature width).
        group_size: at most this many graphs (all of one size) per batched eigendecomposition.
        dtype: precision of the eigendecomposition.

    Returns:
        ``float32 [N, k]`` on ``edge_index``'s device.

    Example:
        >>> ei = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
        >>> subgraph_positional_features(ei, torch.tensor([0, 3, 5]), k=4).shape
        torch.Size([5, 4])
    """
    ptr = _check_ptr(ptr, None)
    check_edge_index(edge_index, int(ptr[-1]), "edge_index")
    k = check_positive_int(k, "k")
    group_size = check_positive_int(group_size, "group_size")
    _check_dtype(dtype)
    return _positional_features(edge_index, ptr.to(edge_index.device), k, group_size, dtype)


def _check_dtype(dtype: torch.dtype) -> None:
    if dtype not in (torch.float32, torch.float64):
        raise ValueError(f"dtype must be torch.float32 or torch.float64, got {dtype}")


def _positional_features(edge_index: Tensor, ptr: Tensor, k: int, group_size: int, dtype: torch.dtype,
                         degree: Tensor | None = None, validate: bool = True, symmetric: bool = False) -> Tensor:
    """:func:`subgraph_positional_features` on checked input (``ptr`` on ``edge_index``'s device;
    ``degree``: the out-degrees ``bincount(edge_index[0])`` when already at hand; ``validate=False``:
    edges are known not to cross graphs; ``symmetric``: every edge is known to have its reverse)."""
    dev = edge_index.device
    num_nodes = int(ptr[-1])
    num_graphs = ptr.numel() - 1
    if num_graphs == 0 or num_nodes == 0:
        return torch.zeros(num_nodes, k, dtype=torch.float32, device=dev)
    sizes = ptr.diff()
    arange_g = torch.arange(num_graphs, device=dev)
    # Graphs sorted by size; a group is a run of graphs of one size (at most `group_size` of them),
    # solved as one [count, n, n] batch: no padding, so a graph is the same eigenproblem whatever
    # else is in the batch. All matrices live in one flat buffer in sorted order (filled without a
    # loop over groups); eigenvectors go to `rows`, one row per node in sorted order.
    order = torch.argsort(sizes, stable=True)
    rank = torch.empty_like(order)
    rank[order] = arange_g
    sorted_sizes = sizes[order]
    mat_len = sorted_sizes * sorted_sizes
    mat_start = torch.cumsum(mat_len, 0) - mat_len
    row_start = torch.cumsum(sorted_sizes, 0) - sorted_sizes
    new_size = torch.ones(num_graphs, dtype=torch.bool, device=dev)
    new_size[1:] = sorted_sizes[1:] != sorted_sizes[:-1]
    run_first = new_size.nonzero().squeeze(1)
    in_run = arange_g - run_first[torch.cumsum(new_size, 0) - 1]
    group_first = (in_run % group_size == 0).nonzero().squeeze(1)
    group_count = torch.diff(group_first, append=group_first.new_tensor([num_graphs]))
    # Per node (input order): its graph's first node, its graph's size, where its matrix row starts in
    # `flat` and its row in `rows`; an edge then needs a few gathers only.
    graph_of = torch.repeat_interleave(arange_g, sizes)
    node_lo = ptr[:-1].index_select(0, graph_of)
    node_size = sizes.index_select(0, graph_of)
    local = torch.arange(num_nodes, device=dev) - node_lo
    node_mat = mat_start[rank].index_select(0, graph_of) + local * node_size
    node_row = row_start[rank].index_select(0, graph_of) + local
    src, dst = edge_index[0], edge_index[1]
    off = dst - node_lo.index_select(0, src)  # the target's local id in the source's graph
    if validate and bool(((off < 0) | (off >= node_size.index_select(0, src))).any()):
        raise ValueError("edge_index has edges between different graphs of ptr")
    deg = (torch.bincount(src, minlength=num_nodes) if degree is None else degree).to(dtype)
    dinv = deg.clamp(min=1).pow(-0.5)
    flat = torch.zeros(int(mat_len.sum()), dtype=dtype, device=dev)
    # an entry's duplicates (repeated edges) all add the same value: the sum does not depend on the order
    flat.scatter_add_(0, node_mat.index_select(0, src) + off, dinv.index_select(0, src) * dinv.index_select(0, dst))
    # Eigenvectors (ascending eigenvalues) of graph g go to the last take_g columns of its rows; one
    # flip of all columns at the end puts them largest first into columns 0 .. take_g - 1.
    rows = torch.zeros(num_nodes, k, dtype=dtype, device=dev)
    groups = zip(*(t.tolist() for t in (sorted_sizes[group_first], group_count, mat_start[group_first],
                                       row_start[group_first])))
    for n, count, mat0, row0 in groups:
        take = min(k, n - 2)
        if take <= 0:
            continue
        mats = flat[mat0:mat0 + count * n * n].view(count, n, n)
        # eigh copies its input into column-major order: a symmetric matrix is its own transpose, and its
        # transposed view is column-major already (a plain copy instead of a transposing one; same bits)
        vecs = torch.linalg.eigh(mats.mT if symmetric else mats).eigenvectors
        rows[row0:row0 + count * n, k - take:].view(count, n, take).copy_(vecs[..., n - take:])
    # Sign rule (as fix_eigenvector_signs) for every graph and column at once, on the sorted rows.
    row_graph = torch.repeat_interleave(arange_g, sorted_sizes)  # sorted graph of every row
    total = torch.zeros(num_graphs, k, dtype=dtype, device=dev).index_add_(0, row_graph, rows)
    take_g = (sorted_sizes - 2).clamp(min=0, max=k)
    used = torch.arange(k, device=dev) >= (k - take_g).unsqueeze(1)
    sign = total
    tied = used & (total.abs() <= _SIGN_EPS)
    if bool(tied.any()):  # entry sum ~0: the sign of the column's first largest-magnitude entry
        sign = torch.where(tied, _segment_peak(rows, row_start, sorted_sizes, tied), total)
    sign = sign.sign_().masked_fill_(sign == 0, 1.0)
    out = rows.mul_(sign.index_select(0, row_graph)).index_select(0, node_row).flip(-1)
    return torch.nn.functional.normalize(out, p=2, dim=-1).to(torch.float32)


# Entry sums at most this large count as zero in the sign rule (fix_eigenvector_signs' default). A larger
# float32 threshold (1e-5) was tried: it fixes exactly-zero sums with a clear largest entry (none in the
# benchmark's subgraphs: their zero-sum columns come from symmetries, with tied largest entries) but moves
# columns whose true sum is 2e-6..1e-5 to the other rule, so 1e-6 is kept for both precisions.
_SIGN_EPS = 1e-6


def _segment_peak(rows: Tensor, row_start: Tensor, sizes: Tensor, wanted: Tensor) -> Tensor:
    """``[G, k]``: per graph ``g`` (rows ``row_start[g] ..`` ``+ sizes[g]``) and ``wanted`` column ``c``,
    the first largest-magnitude entry of that column (0 where not wanted).

    Only the wanted (graph, column) pairs are read (a few hundred of ``G * k`` in a GCC pool): their
    entries in one flat gather, a segment max, then the first entry that reaches it."""
    dev = rows.device
    k = rows.size(1)
    pair_g, pair_c = wanted.nonzero().unbind(1)
    size = sizes.index_select(0, pair_g)
    pair = torch.repeat_interleave(torch.arange(pair_g.numel(), device=dev), size)  # pair of every entry
    within = torch.arange(pair.numel(), device=dev) - (torch.cumsum(size, 0) - size).index_select(0, pair)
    base = row_start.index_select(0, pair_g) * k + pair_c  # flat index of the pair's entry in row 0
    val = rows.view(-1).index_select(0, base.index_select(0, pair) + within * k)
    mag = val.abs()
    top = torch.zeros(pair_g.numel(), dtype=rows.dtype, device=dev).scatter_reduce_(0, pair, mag, "amax",
                                                                                    include_self=False)
    cand = torch.where(mag == top.index_select(0, pair), within, size.index_select(0, pair))
    first = torch.zeros_like(size).scatter_reduce_(0, pair, cand, "amin", include_self=False)
    peak = torch.zeros(wanted.shape, dtype=rows.dtype, device=dev)
    peak[pair_g, pair_c] = rows.view(-1).index_select(0, base + first * k)
    return peak


@dataclass
class SubgraphBatch:
    """A batch of small graphs with GCC input features.

    ``edge_index`` (union, local ids offset by ``ptr``), ``batch`` (graph of every
    node), ``ptr`` ``[B + 1]``, ``pos`` ``[N, k]`` positional features, ``degree``
    ``[N]`` degree inside the graph, ``ego`` ``[N]`` bool flag, ``num_graphs``.
    """

    edge_index: Tensor
    batch: Tensor
    ptr: Tensor
    pos: Tensor
    degree: Tensor
    ego: Tensor
    num_graphs: int

    def to(self, device: torch.device | str) -> SubgraphBatch:
        return SubgraphBatch(self.edge_index.to(device), self.batch.to(device), self.ptr.to(device),
                             self.pos.to(device), self.degree.to(device), self.ego.to(device), self.num_graphs)


def collate_subgraphs(
    graphs: list[tuple[int, Tensor]],
    k: int = 32,
    egos: Tensor | None = None,
    *,
    group_size: int = 32,
    dtype: torch.dtype = torch.float64,
) -> SubgraphBatch:
    """Collate ``(num_nodes, edge_index)`` graphs into a :class:`SubgraphBatch` with GCC features.

    ``egos`` gives each graph's ego as a local node id (default 0, the ego of
    :func:`graphcl.walks.rwr_subgraphs`).

    Example:
        >>> b = collate_subgraphs([(3, torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])), (1, torch.zeros(2, 0).long())])
        >>> b.pos.shape, b.degree.tolist(), b.ego.tolist()
        (torch.Size([4, 32]), [1, 2, 1, 0], [True, False, False, True])
    """
    if not isinstance(graphs, (list, tuple)):
        raise TypeError(f"graphs must be a list of (num_nodes, edge_index), got {type(graphs).__name__}")
    if len(graphs) == 0:
        raise ValueError("graphs must not be empty")
    sizes = []
    for i, item in enumerate(graphs):
        if not (isinstance(item, (tuple, list)) and len(item) == 2):
            raise TypeError(f"graphs[{i}] must be a (num_nodes, edge_index) pair")
        n, ei = item
        n = int(n)
        if n < 1:
            raise ValueError(f"graphs[{i}] must have at least one node, got {n}")
        if not isinstance(ei, Tensor) or ei.dim() != 2 or ei.size(0) != 2:
            raise ValueError(f"graphs[{i}] edge_index must be a [2, E] tensor")
        if ei.numel() and (int(ei.min()) < 0 or int(ei.max()) >= n):
            raise ValueError(f"graphs[{i}] edge_index has node ids outside [0, {n})")
        sizes.append(n)
    dev = graphs[0][1].device
    size_t = torch.tensor(sizes, dtype=torch.long, device=dev)
    ptr = torch.zeros(len(sizes) + 1, dtype=torch.long, device=dev)
    ptr[1:] = torch.cumsum(size_t, 0)
    counts = torch.tensor([int(g[1].size(1)) for g in graphs], dtype=torch.long, device=dev)
    shift = torch.repeat_interleave(ptr[:-1], counts)
    edge_index = torch.cat([g[1].to(dev).long() for g in graphs], dim=1) + shift
    return subgraph_batch(edge_index, ptr, egos, k, group_size=group_size, dtype=dtype)


def subgraph_batch(
    edge_index: Tensor,
    ptr: Tensor,
    egos: Tensor | None = None,
    k: int = 32,
    *,
    group_size: int = 32,
    dtype: torch.dtype = torch.float64,
    validate: bool = True,
    symmetric: bool = False,
) -> SubgraphBatch:
    """A :class:`SubgraphBatch` with GCC features from a disjoint union (``edge_index``, node offsets ``ptr``).

    ``egos``: each graph's ego as a local id (default 0). ``validate=False`` skips the checks of
    ``edge_index``, ``ptr`` and ``egos`` (no edge between graphs, every graph non-empty, ids in range):
    for input that holds them by construction, such as :func:`graphcl.walks.engine.rwr_induced_subgraphs`'
    output (the features are the same; invalid input gives wrong features or an indexing error).
    ``symmetric=True`` promises that every edge has its reverse (undirected graphs), which saves a
    transposing copy per eigendecomposition (same features; a directed graph would get different ones).

    Example:
        >>> b = subgraph_batch(torch.tensor([[0, 1], [1, 0]]), torch.tensor([0, 2, 3]), k=4)
        >>> b.num_graphs, b.batch.tolist(), b.ego.tolist()
        (2, [0, 0, 1], [True, False, True])
    """
    k = check_positive_int(k, "k")
    group_size = check_positive_int(group_size, "group_size")
    _check_dtype(dtype)
    if validate:
        ptr = _check_ptr(ptr, None)
        check_edge_index(edge_index, int(ptr[-1]), "edge_index")
    dev = edge_index.device
    ptr = ptr.to(dev).long()
    num_nodes = int(ptr[-1])
    size_t = ptr.diff()
    if validate and bool((size_t < 1).any()):
        raise ValueError("every graph of ptr must have at least one node")
    num_graphs = size_t.numel()
    edge_index = edge_index.long()
    batch = torch.repeat_interleave(torch.arange(num_graphs, device=dev), size_t)
    ego = torch.zeros(num_nodes, dtype=torch.bool, device=dev)
    if egos is None:
        ego[ptr[:-1]] = True
    else:
        if not isinstance(egos, Tensor) or egos.shape != (num_graphs,):
            raise ValueError(f"egos must be a tensor of shape [{num_graphs}]")
        ego_local = egos.to(dev).long()
        if validate and bool(((ego_local < 0) | (ego_local >= size_t)).any()):
            raise ValueError("egos must be local node ids inside their graphs")
        ego[ptr[:-1] + ego_local] = True
    degree = torch.bincount(edge_index[0], minlength=num_nodes)
    pos = _positional_features(edge_index, ptr, k, group_size, dtype, degree, validate, symmetric)
    return SubgraphBatch(edge_index, batch, ptr, pos, degree, ego, num_graphs)
