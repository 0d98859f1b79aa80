"""Vectorised random-walk engine: first order, exact node2vec, random walk with restart.

All walkers advance together, one step per loop iteration; there is no Python
loop over nodes or walkers. Walks with restart (whose restart draws do not
depend on the walk when no dead end can be met) advance by excursion depth
instead: all first moves after a restart at once, then all second moves, ...
(a handful of iterations for restart probability 0.8; same output); subgraph
extraction reads only those moves (a fifth of the steps), not the walk matrix.
Internals:

* Node ids and CSR offsets are held as ``int32`` when the graph allows it (half
  the memory traffic of ``int64``); the walks come back as ``int64``.
* Steps are written into step-major working rows (a row per step: contiguous
  gathers and writes) holding at most about 4M ids; every full block of rows is
  copied into the ``[B, L + 1]`` output. The peak is the output plus those rows,
  not the output plus a second walk-sized matrix.
* Nodes without out-neighbours (or whose out-edges all weigh zero) are redirected
  to one extra *sentinel* node that only leads to itself. Stopped walkers can thus
  keep stepping without masks or host synchronisation, and the sentinel is turned
  into ``-1`` at the end.
* Uniform steps pick ``col[rowptr[v] + floor(u * deg(v))]``; weighted steps invert
  per-row cumulative weights (one global ``float64`` cumulative sum and
  ``searchsorted``), ``O(E)`` memory.
* node2vec uses rejection sampling (KnightKing): propose ``x`` from ``v`` as a first
  order step, accept with probability ``alpha(t, x) / max(1/p, 1, 1/q)`` where
  ``alpha`` is ``1/p`` if ``x == t``, else ``1`` if ``t -> x`` is an edge, else ``1/q``
  (exclusive cases). Rejected walkers re-propose; only they are processed again, in
  rounds of a few thousand proposals on the CPU. When ``1/q`` is the smallest factor
  (unweighted graphs without repeated edges), a walker ``t -> v`` for which it is cheaper
  proposes from the mixture ``alpha = 1/q + (1 - 1/q) [x in N(t)] + (1/p - 1/q) [x == t]``
  instead (through ``N(v)``, ``N(t)`` or ``t``), which needs far fewer proposals when it
  comes from a low-degree node into a hub (see ``_second_order_step``).
  The adjacency test reads a dense ``N x N`` bitmap on small graphs (at most 32 MiB,
  or no more than the hash set) and an open-addressing hash set of the edge keys
  ``t * N + x`` otherwise.
* The per-step loops run in TorchScript kernels (:mod:`graphcl.walks._steps`): no Python
  overhead per op, and no GIL held, so CPU walks of more than ``_CPU_STREAM_WALKERS``
  walkers (first order) or ``_CPU_STREAM_WALKERS_N2V`` (node2vec) run as fixed slices with
  their own generators (seeded from the caller's) on torch's threads. The walks depend on
  the seed, not on the thread count.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from torch import Tensor

from graphcl.graph import CSRGraph
from graphcl.validation import (
    check_generator,
    check_node_ids,
    check_positive_float,
    check_positive_int,
    check_probability,
)
from graphcl.walks import _steps
from graphcl.walks._steps import StepArrays, bit_test

__all__ = [
    "random_walk",
    "walks_per_node",
    "random_walk_with_restart",
    "rwr_subgraph",
    "rwr_subgraphs",
]

# Upper bound on the random numbers drawn at once (float32 entries) by walks with restart.
_RAND_CHUNK = 1 << 24
# Adjacency tests use a dense bitmap while it needs at most this many bytes (or no
# more than the hash set would); larger graphs use the hash set.
_BITMAP_BYTES = 1 << 25
# Edges per block when the adjacency bitmap is filled.
_BITMAP_BUILD_EDGES = 1 << 16
# Walks are built in step-major working rows (one row per step, fast to gather and write)
# and copied into the [B, L + 1] output block by block: the rows hold at most about this
# many ids, so a second walk-sized buffer never coexists with the output.
_WORK_IDS = 1 << 22
# Uniform random numbers drawn at once by first-order walks (float32 entries).
_STEP_RAND = 1 << 20
# Rejected node2vec walkers re-propose in rounds of about this many proposals on the CPU
# (several proposals each once few are left): fewer wasted proposals than one round per
# walker batch, at a few more rounds. On CUDA a round covers all walkers (fewer syncs).
_ROUND_TARGET = 1 << 12
# Above this many walkers, CPU walks run as independent slices on threads: first order, and
# node2vec (larger slices: each has its own rejection tail of small rounds).
_CPU_STREAM_WALKERS = 1 << 15
_CPU_STREAM_WALKERS_N2V = 1 << 16
# Induced-subgraph pair tests between two of the highest-degree nodes read a bitmap of the
# edges among at most this many of them (``_HUB_BITMAP_NODES ** 2 / 8`` bytes: 32 MiB).
_HUB_BITMAP_NODES = 1 << 14
# Default bound on walk-matrix entries produced per batch in ``walks_per_node``.
_WALK_BATCH_ENTRIES = 1 << 26


# --------------------------------------------------------------------------- input
def _as_graph(graph: Any, num_nodes: int | None = None) -> CSRGraph:
    """Accept a ``CSRGraph``, an ``edge_index`` tensor (+ ``num_nodes``) or a PyG ``Data``."""
    if isinstance(graph, CSRGraph):
        if num_nodes is not None and num_nodes != graph.num_nodes:
            raise ValueError(
                f"num_nodes={num_nodes} disagrees with the CSRGraph's num_nodes={graph.num_nodes}"
            )
        return graph
    if isinstance(graph, Tensor):
        return CSRGraph.from_edge_index(graph, num_nodes)
    if hasattr(graph, "edge_index") and hasattr(graph, "num_nodes"):
        return CSRGraph.from_data(graph)
    raise TypeError(
        "graph must be a CSRGraph, an edge_index tensor of shape [2, E] or a PyG Data, "
        f"got {type(graph).__name__}"
    )


def _check_start(start: Any, graph: CSRGraph, name: str = "start") -> Tensor:
    if isinstance(start, int) and not isinstance(start, bool):
        start = torch.tensor([start])
    start = check_node_ids(start, graph.num_nodes, name)
    return start.to(graph.device)


# ------------------------------------------------------------------ walk structure
class _WalkIndex:
    """Per-graph arrays for stepping, with the sentinel redirect for dead ends."""

    def __init__(self, graph: CSRGraph) -> None:
        n = graph.num_nodes
        dev = graph.device
        self.graph = graph
        self.num_nodes = n
        self.device = dev
        rowptr, col, weight = graph.rowptr, graph.col, graph.weight
        deg = rowptr[1:] - rowptr[:-1]
        if weight is not None:
            wdeg = torch.zeros(n, dtype=torch.float64, device=dev)
            wdeg.index_add_(0, graph.row, weight.to(torch.float64))
            dead = wdeg <= 0
        else:
            dead = deg == 0
        # One host sync at set-up: do we need the sentinel at all?
        self.has_dead = bool(dead.any()) if n else False
        if self.has_dead:
            rowptr, col, weight = self._redirect(rowptr, col, weight, dead)
            deg = rowptr[1:] - rowptr[:-1]
        total = n + 1 if self.has_dead else n
        small = total + 1 < 2**31 and col.numel() + 1 < 2**31
        self.idx_dtype = torch.int32 if small else torch.int64
        self.sentinel = n if self.has_dead else -1
        self.rowptr = rowptr.to(self.idx_dtype)
        self.col = col.to(self.idx_dtype)
        self.deg_f = deg.to(torch.float32)
        # For u < 1 in float32, u * d < d holds for degrees below 2**24: clamp only above.
        clamp = deg.numel() > 0 and bool(deg.max() >= 2**24)
        self.weighted = weight is not None
        base = wspan = cumw = row_last = None
        if weight is not None:
            cumw = torch.cumsum(weight.to(torch.float64), 0)
            ext = torch.cat([torch.zeros(1, dtype=torch.float64, device=dev), cumw])
            base = ext[rowptr[:-1]]
            wspan = ext[rowptr[1:]] - base
            row_last = (rowptr[1:] - 1).to(self.idx_dtype)
        self._arrays = StepArrays(self.rowptr, self.col, self.deg_f, deg.to(self.idx_dtype) if clamp else None,
                                  base, wspan, cumw, row_last, None, True, 0, 0, True)
        self._simple: bool | None = None  # no repeated (u, v) entry; computed on first need
        self.edge_set: _EdgeSet | _EdgeBitmap | None = None  # built on the first adjacency test
        self.hub_edges: _HubEdges | None = None  # built on the first induced-subgraph pair test

    @staticmethod
    def _redirect(rowptr: Tensor, col: Tensor, weight: Tensor | None, dead: Tensor):
        """Give every dead node (and the new sentinel ``n``) one edge to the sentinel."""
        n = dead.numel()
        dev = col.device
        deg = rowptr[1:] - rowptr[:-1]
        new_deg = torch.where(dead, torch.ones_like(deg), deg)
        new_deg = torch.cat([new_deg, torch.ones(1, dtype=deg.dtype, device=dev)])
        new_rowptr = torch.zeros(n + 2, dtype=torch.long, device=dev)
        torch.cumsum(new_deg, 0, out=new_rowptr[1:])
        total = int(new_rowptr[-1])
        new_col = torch.full((total,), n, dtype=torch.long, device=dev)
        row = torch.repeat_interleave(torch.arange(n, device=dev), deg)
        keep = ~dead[row]
        pos = torch.arange(col.numel(), device=dev) - rowptr[row] + new_rowptr[row]
        new_col[pos[keep]] = col[keep]
        new_w = None
        if weight is not None:
            new_w = torch.ones(total, dtype=weight.dtype, device=dev)
            new_w[pos[keep]] = weight[keep]
        return new_rowptr, new_col, new_w

    # ------------------------------------------------------------ first order
    def step(self, cur: Tensor, u: Tensor, out: Tensor | None = None) -> Tensor:
        """One first-order step for every walker ``cur`` using uniforms ``u`` in ``[0, 1)``.

        ``u`` (float32) is overwritten; the next nodes go to ``out`` when given.
        """
        return _steps.step(self._arrays, cur, u, out)

    @property
    def simple(self) -> bool:
        """Unweighted, with no ``(u, v)`` entry repeated (checked once: one pass over the edges)."""
        if self._simple is None:
            same = self.col[1:] == self.col[:-1]
            ends = self.rowptr[1:-1].long() - 1  # the last entry of every row but the last
            same[ends[(ends >= 0) & (ends < same.numel())]] = False
            self._simple = not self.weighted and not bool(same.any())
        return self._simple

    # --------------------------------------------------------------- adjacency
    def _edge_set(self) -> _EdgeSet | _EdgeBitmap:
        """The adjacency test set, built on first need: a bitmap when small enough, else a hash set."""
        if self.edge_set is None:
            n = self.num_nodes
            hash_bytes = 4 * max(16, 1 << (4 * self.graph.num_edges - 1).bit_length())
            use_bitmap = (n + 1) ** 2 / 8 <= max(hash_bytes, _BITMAP_BYTES)
            self.edge_set = _EdgeBitmap(self.graph) if use_bitmap else _EdgeSet(self.graph)
        return self.edge_set

    def arrays(self, adjacency: bool = False) -> StepArrays:
        """What the step kernels read; with ``adjacency`` the edge test set is included (built if needed)."""
        if not adjacency or self._arrays.adj is not None:
            return self._arrays
        es = self._edge_set()
        if isinstance(es, _EdgeSet):
            adj = dict(adj=es.table, adj_bitmap=False, adj_n=es.n, adj_mask=es.mask, adj_key32=es.key32)
        else:
            adj = dict(adj=es.words, adj_bitmap=True, adj_n=es.n, adj_mask=0, adj_key32=es.key32)
        self._arrays = self._arrays._replace(**adj)
        return self._arrays

    def adjacent(self, t: Tensor, x: Tensor) -> Tensor:
        """Whether ``t -> x`` is an edge of the original graph.

        Answers for sentinel ids are meaningless (callers accept those walkers anyway).
        """
        return _steps.adjacent(self.arrays(adjacency=True), t, x)


def _set_bits(words: Tensor, keys: Tensor) -> Tensor:
    """Set the bits ``keys`` (distinct) of the all-zero ``int32`` bitmap ``words`` (in place)."""
    one = torch.ones(1, dtype=torch.int32, device=keys.device).expand(keys.numel())
    # distinct keys set distinct bits, so adding the bit values is an OR (bit 31 wraps to the sign bit)
    return words.index_add_(0, keys >> 5, one << (keys & 31).to(torch.int32))


class _EdgeBitmap:
    """Dense adjacency bitmap (``N^2`` bits in int32 words), for graphs small enough.

    One gather and no probing per query. Sized for ids up to ``N`` (the sentinel).
    """

    def __init__(self, graph: CSRGraph) -> None:
        dev = graph.device
        self.n = max(graph.num_nodes, 1)
        words = ((self.n + 1) ** 2 + 31) // 32
        self.words = torch.zeros(words, dtype=torch.int32, device=dev)
        # edge keys in row blocks of about _BITMAP_BUILD_EDGES: the temporaries stay small
        rowptr, col, deg = graph.rowptr, graph.col, graph.degree
        u = 0
        while u < graph.num_nodes:
            lo = int(rowptr[u])
            v = int(torch.searchsorted(rowptr, lo + _BITMAP_BUILD_EDGES, right=True)) - 1
            v = min(max(v, u + 1), graph.num_nodes)
            hi = int(rowptr[v])
            rows = torch.arange(u, v, device=dev).repeat_interleave(deg[u:v])
            _set_bits(self.words, rows * self.n + col[lo:hi])
            u = v
        self.key32 = (self.n + 1) ** 2 < 2**31  # 32-bit key arithmetic when it fits
        self.key_dtype = torch.int32 if self.key32 else torch.long

    def contains(self, t: Tensor, x: Tensor) -> Tensor:
        return _steps.bitmap_contains(self.words, self.n, self.key32, t, x)


class _EdgeSet:
    """Open-addressing hash set of the edge keys ``t * N + x`` (linear probing).

    One or two random reads per query instead of the ~log2(E) dependent reads of a
    binary search. The table has a power-of-two size of at least twice the edge count.
    """

    def __init__(self, graph: CSRGraph) -> None:
        dev = graph.device
        self.n = max(graph.num_nodes, 1)
        e = graph.num_edges
        self.size = 1 << max(4, (4 * e - 1).bit_length())  # load factor <= 1/4
        self.mask = self.size - 1
        # int32 keys (half the cache footprint) while N * N fits.
        self.key32 = self.n * self.n < 2**31
        self.key_dtype = torch.int32 if self.key32 else torch.long
        self.table = torch.full((self.size,), _steps.EMPTY, dtype=self.key_dtype, device=dev)
        row, col = graph.row, graph.col
        keys = (row * self.n + col).to(self.key_dtype)
        slot = _steps.hash_slots(row, col, self.mask)
        pend = torch.arange(e, device=dev)
        # Insert in rounds: every pending key claims its slot if empty (one claimant wins),
        # the losers move one slot on. Keys are distinct, so each round places >= 1 key.
        while pend.numel():
            s = slot[pend]
            empty = self.table[s] == _steps.EMPTY
            self.table[s[empty]] = keys[pend[empty]]
            won = self.table[s] == keys[pend]
            pend = pend[~won]
            slot[pend] = (slot[pend] + 1) & self.mask

    def contains(self, t: Tensor, x: Tensor) -> Tensor:
        return _steps.hash_contains(self.table, self.n, self.mask, self.key32, t, x)


class _HubEdges:
    """Exact edge test ``u -> x`` (as :meth:`CSRGraph.has_edge`) that reads a dense bitmap when both
    nodes are among the ``max_hubs`` highest-degree nodes, and binary-searches otherwise.

    Induced-subgraph extraction tests pairs of high-degree nodes (low-degree ones are expanded):
    one gather in a small bitmap instead of a sort and a binary search over all edge keys.
    """

    def __init__(self, graph: CSRGraph, max_hubs: int | None = None) -> None:
        self.graph = graph
        n = graph.num_nodes
        max_hubs = _HUB_BITMAP_NODES if max_hubs is None else max_hubs
        deg = graph.degree
        if n > max_hubs:  # hubs: degree above the (n - max_hubs)-th smallest (ties leave some out)
            is_hub = deg > torch.kthvalue(deg.cpu(), n - max_hubs).values.to(deg.device)
        else:
            is_hub = torch.ones(n, dtype=torch.bool, device=deg.device)
        hubs = is_hub.nonzero().squeeze(1)
        self.hub_id = torch.full((n,), -1, dtype=torch.long, device=deg.device)
        self.hub_id[hubs] = torch.arange(hubs.numel(), device=deg.device)
        row, col = graph.row, graph.col
        self.self_loops = bool((row == col).any())
        inner = is_hub[row] & is_hub[col]
        sub = CSRGraph.from_edge_index(torch.stack([self.hub_id[row[inner]], self.hub_id[col[inner]]]),
                                       num_nodes=hubs.numel())
        self.bits = _EdgeBitmap(sub)

    def contains(self, nodes: Tensor, i: Tensor, j: Tensor, hub: Tensor | None = None) -> Tensor:
        """Whether ``nodes[i] -> nodes[j]`` is an edge (``hub``: ``hub_id[nodes]`` when already at hand)."""
        hub = self.hub_id.index_select(0, nodes) if hub is None else hub
        return self.contains_ids(hub.index_select(0, i), hub.index_select(0, j),
                                 lambda r: (nodes[i[r]], nodes[j[r]]))

    def contains_ids(self, hi: Tensor, hj: Tensor, rest_nodes) -> Tensor:
        """Edge test of pairs given by hub ids ``hi -> hj`` (``-1``: not a hub); ``rest_nodes(r)`` returns
        the node ids ``(u, x)`` of the pairs ``r`` that are not both hubs (binary-searched)."""
        both = (hi >= 0) & (hj >= 0)
        out = self.bits.contains(hi.clamp(min=0), hj.clamp(min=0)) & both
        rest = (~both).nonzero().squeeze(1)
        if rest.numel():
            out[rest] = self.graph.has_edge(*rest_nodes(rest))
        return out


def _walk_index(graph: CSRGraph) -> _WalkIndex:
    """The graph's walk index, built once and cached on the graph object.

    The cache is tied to the identity of the graph's ``rowptr``/``col``/``weight``
    tensors, so replacing any of them rebuilds it. Repeated calls on one graph
    (GCC batches, node2vec epochs) reuse the adjacency test set as well.
    """
    key = (graph.rowptr, graph.col, graph.weight)
    cached = graph.__dict__.get("_walk_index_cache")
    if cached is not None and all(a is b for a, b in zip(cached[0], key)):
        return cached[1]
    index = _WalkIndex(graph)
    graph.__dict__["_walk_index_cache"] = (key, index)
    return index


def _first_order(index: _WalkIndex, start: Tensor, length: int, generator, out: Tensor,
                 work_ids: int | None = None) -> Tensor:
    """First-order walks into ``out``, with working rows of about ``work_ids`` ids (default ``_WORK_IDS``)."""
    work_ids = _WORK_IDS if work_ids is None else work_ids
    _steps.kernel("first_order_walks")(index.arrays(), start, length, work_ids,
                                       work_ids * _STEP_RAND // _WORK_IDS, generator, out)
    return out


def _node2vec_setup(index: _WalkIndex, p: float, q: float) -> tuple[bool, StepArrays]:
    """Whether the mixture proposals apply, and the kernel arrays (adjacency test built when needed)."""
    a_back, a_in, a_out = 1.0 / p, 1.0, 1.0 / q
    mixture = a_out < max(a_back, a_in) and a_out <= min(a_in, a_back) and index.simple
    return mixture, index.arrays(adjacency=mixture or a_in != a_out)


def _second_order(index: _WalkIndex, start: Tensor, length: int, p: float, q: float, generator, out: Tensor,
                  work_ids: int | None = None, max_proposals: int = 32) -> int:
    """node2vec walks into ``out`` (see :func:`graphcl.walks._steps.second_order_step`).

    Returns the number of proposals drawn. Rejected walkers propose again in rounds of about
    ``_ROUND_TARGET`` proposals on the CPU, of all pending walkers on CUDA (fewer syncs).
    """
    mixture, arrays = _node2vec_setup(index, p, q)
    work_ids = _WORK_IDS if work_ids is None else work_ids
    target = start.numel() if index.device.type == "cuda" else _ROUND_TARGET
    return _steps.kernel("second_order_walks")(arrays, start, length, p, q, mixture, index.sentinel, target,
                                               max_proposals, work_ids, work_ids * _STEP_RAND // _WORK_IDS,
                                               generator, out)


def _finish(out: Tensor, index: _WalkIndex) -> Tensor:
    """``-1`` after a dead end (the sentinel's id) in the ``[B, L + 1]`` long walks."""
    if index.has_dead:
        out[out == index.sentinel] = -1
    return out


# --------------------------------------------------------------------- public API
def random_walk(
    graph: CSRGraph | Tensor | Any,
    start: Tensor,
    length: int,
    *,
    p: float = 1.0,
    q: float = 1.0,
    generator: torch.Generator | None = None,
    num_nodes: int | None = None,
) -> Tensor:
    """Random walks from every node in ``start``: first order, or exact node2vec.

    With ``p == q == 1`` each step goes to a uniform out-neighbour (or one drawn
    proportionally to the edge weight on a weighted graph). Otherwise, having come
    from ``t`` to ``v``, the walk moves to ``x`` with probability proportional to
    ``alpha(t, x) * w(v, x)``, ``alpha = 1/p`` if ``x == t``, ``1`` if ``t -> x`` is an
    edge, ``1/q`` otherwise (the first step is first order). A walker on a node
    without out-neighbours stops: the rest of its row is ``-1``. On the CPU, more than
    32k first-order (64k node2vec) walkers run in fixed slices on ``torch.get_num_threads()``
    threads; the walks depend on the generator's seed, not on the thread count.

    Args:
        graph: a :class:`~graphcl.graph.CSRGraph` (convert once and reuse it), or an
            ``edge_index`` ``[2, E]`` (with ``num_nodes``), or a PyG ``Data``.
        start: 1-D integer tensor of start nodes.
        length: number of steps (``>= 0``).
        p: return parameter, ``> 0``.
        q: in-out parameter, ``> 0``.
        generator: ``torch.Generator`` on the graph's device.
        num_nodes: number of nodes when ``graph`` is an ``edge_index``.

    Returns:
        ``LongTensor [len(start), length + 1]`` on the graph's device, column 0 = ``start``.

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
        >>> w = random_walk(g, torch.tensor([0, 2]), 4, p=0.5, q=2.0,
        ...                 generator=torch.Generator().manual_seed(0))
        >>> w.shape
        torch.Size([2, 5])
    """
    graph = _as_graph(graph, num_nodes)
    p = check_positive_float(p, "p")
    q = check_positive_float(q, "q")
    length = check_positive_int(length, "length", minimum=0)
    start = _check_start(start, graph)
    generator = check_generator(generator, graph.device)
    index = _walk_index(graph)
    return _run_walks(index, start, length, p, q, generator)


def _run_walks(index: _WalkIndex, start: Tensor, length: int, p: float, q: float, generator,
               out: Tensor | None = None) -> Tensor:
    """Walks from ``start`` into ``out`` (a contiguous ``[B, L + 1]`` long block; allocated when None)."""
    start = start.to(index.idx_dtype)
    if out is None:
        out = torch.empty((start.numel(), length + 1), dtype=torch.long, device=index.device)
    if (p == 1.0 and q == 1.0) or length < 2:  # no second-order step
        _sliced(index, start, generator, out, _CPU_STREAM_WALKERS,
                lambda s, g, o, w: _first_order(index, s, length, g, o, work_ids=w))
    else:
        _node2vec_setup(index, p, q)  # build the lazy parts once, before any thread starts
        _sliced(index, start, generator, out, _CPU_STREAM_WALKERS_N2V,
                lambda s, g, o, w: _second_order(index, s, length, p, q, g, o, work_ids=w))
    return _finish(out, index)


def _sliced(index: _WalkIndex, start: Tensor, generator, out: Tensor, slice_walkers: int, run) -> None:
    """``run(start, generator, out, work_ids)`` on the walkers; on the CPU, thread-parallel over fixed slices.

    More than ``slice_walkers`` walkers are split into slices of at most that many,
    each with its own generator seeded from ``generator``, run on ``torch.get_num_threads()``
    threads (torch's intra-op thread count is 1 while they run). The step kernels run under
    TorchScript, which holds no GIL (see :mod:`graphcl.walks._steps`). The slicing depends
    only on the number of walkers, so the walks do not depend on the thread count.
    """
    b = start.numel()
    slices = -(-b // slice_walkers)
    if index.device.type != "cpu" or slices <= 1:
        run(start, generator, out, None)
        return
    size = -(-b // slices)
    seeds = torch.randint(0, 2**62, (slices,), generator=generator).tolist()
    intra = torch.get_num_threads()
    threads = min(intra, slices)
    # Threads' working rows share a smaller budget: their temporaries and malloc arenas add
    # to the peak (the block size does not change the walks).
    work_ids = None if threads <= 1 else _WORK_IDS // (2 * threads)

    def job(i: int) -> None:
        rows = slice(i * size, min(b, (i + 1) * size))
        run(start[rows], torch.Generator().manual_seed(seeds[i]), out[rows], work_ids)

    pending = iter(range(slices))
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                i = next(pending, None)
            if i is None:
                return
            job(i)

    if threads <= 1:
        worker()
        return
    # The calling thread works too: one thread (and malloc arena) fewer to start. Each slice is
    # one thread's work: torch's intra-op threads are set to 1 meanwhile (restored after), else
    # every op above torch's grain size would fork a team per slice and oversubscribe the cores.
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(threads - 1) as pool:
            helpers = [pool.submit(worker) for _ in range(threads - 1)]
            worker()
            for f in helpers:
                f.result()
    finally:
        torch.set_num_threads(intra)


def walks_per_node(
    graph: CSRGraph | Tensor | Any,
    walks_per_node: int,
    length: int,
    p: float = 1.0,
    q: float = 1.0,
    generator: torch.Generator | None = None,
    shuffle: bool = True,
    batch_size: int | None = None,
    *,
    num_nodes: int | None = None,
) -> Tensor:
    """DeepWalk/node2vec corpus: ``walks_per_node`` passes over all nodes.

    Each pass starts one walk from every node, in a fresh random order when
    ``shuffle`` (as in DeepWalk). Walks are generated ``batch_size`` at a time to
    bound the temporary memory (default: about 64M walk entries per batch).

    Returns:
        ``LongTensor [walks_per_node * N, length + 1]``; pass ``i`` fills rows
        ``i * N`` to ``(i + 1) * N``.

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
        >>> walks_per_node(g, 2, 3, generator=torch.Generator().manual_seed(0)).shape
        torch.Size([6, 4])
    """
    graph = _as_graph(graph, num_nodes)
    walks_per_node = check_positive_int(walks_per_node, "walks_per_node", minimum=0)
    length = check_positive_int(length, "length", minimum=0)
    p = check_positive_float(p, "p")
    q = check_positive_float(q, "q")
    generator = check_generator(generator, graph.device)
    if batch_size is not None:
        batch_size = check_positive_int(batch_size, "batch_size")
    else:
        batch_size = max(1, _WALK_BATCH_ENTRIES // (length + 1))
    n = graph.num_nodes
    dev = graph.device
    if shuffle:
        starts = [torch.randperm(n, generator=generator, device=dev) for _ in range(walks_per_node)]
        starts = torch.cat(starts) if starts else torch.empty(0, dtype=torch.long, device=dev)
    else:
        starts = torch.arange(n, device=dev).repeat(walks_per_node)
    index = _walk_index(graph)
    if starts.numel() <= batch_size:
        return _run_walks(index, starts, length, p, q, generator)
    out = torch.empty((starts.numel(), length + 1), dtype=torch.long, device=dev)
    for s in range(0, starts.numel(), batch_size):
        # each batch is written straight into its rows (no per-batch long temporary)
        _run_walks(index, starts[s : s + batch_size], length, p, q, generator, out=out[s : s + batch_size])
    return out


# ------------------------------------------------------------ walk with restart
def _rwr_excursions(index: _WalkIndex, walks: Tensor, ego: Tensor, rand: Tensor, restart_prob: float,
                    moves_out: list[tuple[Tensor, Tensor]] | None = None) -> None:
    """Rows ``1 .. s`` of ``walks`` (``[s + 1, B]``, row 0 given) from one chunk ``rand`` (``[s, 2, B]``).

    The restart decisions do not depend on the walk (no dead ends here), so they are all known up
    front: a walker restarts at the ego, or moves with ``index.step`` from its previous node. The
    moves are done by depth inside their excursion (1st move after a restart, 2nd, ...): one batched
    step per depth instead of one per walk step, with the same uniform for every move as a step-by-step
    walk (identical output). ``moves_out`` (a list) receives, per depth, the flat positions
    ``i * B + w`` in ``walks`` of the moves and the nodes they reach.
    """
    s, _, b = rand.shape
    back = rand[:, 1] < restart_prob  # row i + 1 is the ego
    walks[1:] = ego
    moves = ~back
    first = moves.clone()
    first[1:] &= back[:-1]  # first move of an excursion (or a move from row 0)
    sel = first.view(-1).nonzero().squeeze(1)  # flat positions i * B + w: row i + 1 = step(row i)
    moves = moves.view(-1)
    flat = walks.view(-1)
    u = rand[:, 0].reshape(-1)
    end = s * b
    while sel.numel():
        nxt = index.step(flat.index_select(0, sel), u.index_select(0, sel))
        sel = sel + b
        flat.index_copy_(0, sel, nxt)
        if moves_out is not None:
            moves_out.append((sel, nxt))
        sel = sel[sel < end]
        sel = sel[moves.index_select(0, sel)]  # the excursion goes on


def _rwr(index: _WalkIndex, ego: Tensor, length: int, restart_prob: float, generator,
         dead_ends: bool = True, moves: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """Walks with restart ``[B, length + 1]`` (int64). With ``moves=True`` (only without a dead-end test)
    the walks are not returned but their moves: ``(position, node)`` of every step that did not restart,
    ``position = w * (length + 1) + i`` (walk ``w``, step ``i``), in no particular order."""
    b = ego.numel()
    dev = index.device
    ego = ego.to(index.idx_dtype)
    walks = torch.empty((length + 1, b), dtype=index.idx_dtype, device=dev)
    walks[0] = ego
    steps_per_chunk = max(1, _RAND_CHUNK // max(2 * b, 1))
    check_dead = index.has_dead and dead_ends
    if moves and check_dead:
        raise ValueError("moves=True needs walks without the dead-end test")
    found: list[tuple[Tensor, Tensor]] | None = [] if moves else None
    for j0 in range(0, length, steps_per_chunk):
        rand = _steps.rand([min(steps_per_chunk, length - j0), 2, b], generator, dev)
        if not check_dead:
            n_before = len(found) if moves else 0
            _rwr_excursions(index, walks[j0:j0 + rand.size(0) + 1], ego, rand, restart_prob, found)
            if moves and j0:  # chunk rows -> rows of the whole walk
                found[n_before:] = [(pos + j0 * b, node) for pos, node in found[n_before:]]
            continue
        # a walker that steps into a dead end restarts too: step by step
        backs = rand[:, 1] < restart_prob  # the restart decisions of the whole chunk at once
        for k in range(rand.size(0)):
            j = j0 + k
            nxt = index.step(walks[j], rand[k, 0])
            torch.where(backs[k] | (nxt == index.sentinel), ego, nxt, out=walks[j + 1])
    if moves:
        if not found:
            return torch.zeros(0, dtype=torch.long, device=dev), torch.zeros(0, dtype=torch.long, device=dev)
        pos = torch.cat([p for p, _ in found])
        node = torch.cat([x for _, x in found]).to(torch.long)
        return torch.remainder(pos, b) * (length + 1) + torch.div(pos, b, rounding_mode="floor"), node
    return walks.t().contiguous().to(torch.long)  # transpose in 32 bits, then widen: ~9x faster on CPU


def random_walk_with_restart(
    graph: CSRGraph | Tensor | Any,
    start: Tensor,
    length: int,
    restart_prob: float = 0.8,
    generator: torch.Generator | None = None,
    *,
    num_nodes: int | None = None,
) -> Tensor:
    """Random walks with restart: each step returns to the ego with ``restart_prob``.

    A restart sends the walker back to its start node (its ego) and the walk goes
    on; it does not end the walk. A walker on a node without out-neighbours
    restarts. Otherwise it moves to a uniform (or weight-proportional) out-neighbour.

    Returns:
        ``LongTensor [len(start), length + 1]``, column 0 = ``start``, never ``-1``.

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
        >>> w = random_walk_with_restart(g, torch.tensor([2]), 6, 0.5,
        ...                              torch.Generator().manual_seed(0))
        >>> int(w[0, 0])
        2
    """
    graph = _as_graph(graph, num_nodes)
    length = check_positive_int(length, "length", minimum=0)
    restart_prob = check_probability(restart_prob, "restart_prob")
    start = _check_start(start, graph)
    generator = check_generator(generator, graph.device)
    return _rwr(_walk_index(graph), start, length, restart_prob, generator)


def rwr_subgraphs(
    graph: CSRGraph | Tensor | Any,
    egos: Tensor,
    restart_prob: float = 0.8,
    max_steps: int = 256,
    max_nodes: int | None = None,
    generator: torch.Generator | None = None,
    *,
    num_nodes: int | None = None,
) -> list[tuple[Tensor, Tensor]]:
    """GCC-style subgraphs for many egos at once, from one batched walk with restart.

    For every ego, a walk with restart of ``max_steps`` steps; its distinct visited
    nodes in order of first visit (ego first), at most ``max_nodes`` of them, and the
    subgraph they induce (every stored edge between two kept nodes).

    Returns:
        One ``(nodes, edge_index)`` per ego: ``nodes[0] == ego``; ``edge_index``
        relabelled to ``0 .. len(nodes) - 1`` (local id = position in ``nodes``).

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
        >>> subs = rwr_subgraphs(g, torch.tensor([0, 2]), generator=torch.Generator().manual_seed(0))
        >>> [int(nodes[0]) for nodes, _ in subs]
        [0, 2]
    """
    ei, ptr, nodes = rwr_induced_subgraphs(graph, egos, restart_prob, max_steps, max_nodes, generator,
                                           num_nodes=num_nodes)
    if ptr.numel() == 1:
        return []
    counts = ptr.diff()
    e_counts = torch.bincount(torch.searchsorted(ptr, ei[0], right=True) - 1, minlength=counts.numel())
    local = ei - torch.repeat_interleave(ptr[:-1], e_counts)
    return list(zip(torch.split(nodes, counts.tolist()), torch.split(local, e_counts.tolist(), dim=1)))


def _member_scratch(index: _WalkIndex, words: int) -> tuple[Tensor, Tensor]:
    """Two ``int32`` buffers of ``words`` entries cached on the walk index (re-allocated only to grow):
    a bitmap that callers leave all zero, and a scratch array with any content. Reusing them saves
    zeroing (and faulting in) a fresh bitmap of ``B * N`` bits per call."""
    cached = getattr(index, "member_scratch", None)
    if cached is None or cached[0].numel() < words:
        cached = index.member_scratch = (torch.zeros(words, dtype=torch.int32, device=index.device),
                                         torch.empty(words, dtype=torch.int32, device=index.device))
    return cached[0][:words], cached[1][:words]


def _csr32(index: _WalkIndex) -> tuple[Tensor, Tensor]:
    """The graph's own ``rowptr`` and ``col`` (no dead-end redirect) in ``int32`` when ids and offsets fit
    (``int64`` otherwise), cached on the walk index."""
    cached = getattr(index, "csr32", None)
    if cached is None:
        g = index.graph
        dt = torch.int32 if g.num_edges < 2**31 and g.num_nodes < 2**31 else torch.long
        cached = index.csr32 = (g.rowptr.to(dt), g.col.to(dt))
    return cached


def _popcount31(x: Tensor) -> Tensor:
    """Set bits of every entry of a non-negative ``int32`` tensor (bit 31 clear), int32 shifts and adds only."""
    x = x - ((x >> 1) & 0x55555555)
    x = (x & 0x33333333) + ((x >> 2) & 0x33333333)
    x = (x + (x >> 4)) & 0x0F0F0F0F
    x = x + (x >> 8)
    return (x + (x >> 16)) & 0x3F


def _hub_pairs(hub_edges: _HubEdges, u_node: Tensor, u_walk: Tensor, pr: Tensor, kept_hub: Tensor,
               b: int) -> tuple[Tensor, Tensor]:
    """The edges among the tested (hub) kept nodes ``pr`` of every walk, each unordered pair once.

    Pairs of two nodes of the hub bitmap (nearly all) read it directly; the few pairs with another node
    (not among the bitmap's highest-degree nodes) are listed from that node's side and binary-searched.
    Returns ``(i, j)`` kept-node positions of the edges found (``i == j`` only for self-loops)."""
    dev = pr.device
    loops = int(hub_edges.self_loops)  # a node is tested against itself only if the graph has self-loops
    pr_hub = kept_hub.index_select(0, pr)
    in_bits = pr_hub >= 0
    bm = pr.masked_select(in_bits)  # kept nodes in the bitmap, walk by walk
    bm_hub = pr_hub.masked_select(in_bits).to(hub_edges.bits.key_dtype)
    bm_walk = u_walk.index_select(0, bm)
    counts = torch.bincount(bm_walk, minlength=b)
    rank = torch.arange(bm.numel(), device=dev) - (torch.cumsum(counts, 0) - counts).index_select(0, bm_walk)
    rep = counts.index_select(0, bm_walk) - rank - 1 + loops  # partners after it (and itself)
    # pair q of node a (a's partners are the next rep[a] nodes of its walk) is (a, a + 1 - loops + q - first_q(a))
    rep_end = torch.cumsum(rep, 0)
    small = bm.numel() + (int(rep_end[-1]) if bm.numel() else 0) < 2**31
    pos_dtype = torch.int32 if small else torch.long  # 32-bit pair positions: half the memory traffic
    ar = torch.arange(bm.numel(), device=dev, dtype=pos_dtype)
    p_i = torch.repeat_interleave(ar, rep)
    shift = ar + (1 - loops) - (rep_end - rep).to(pos_dtype)
    p_j = shift.index_select(0, p_i) + torch.arange(p_i.numel(), device=dev, dtype=pos_dtype)
    key = (bm_hub * hub_edges.bits.n).index_select(0, p_i) + bm_hub.index_select(0, p_j)
    hit = bit_test(hub_edges.bits.words, key).nonzero().squeeze(1)
    src, dst = bm.index_select(0, p_i.index_select(0, hit)), bm.index_select(0, p_j.index_select(0, hit))
    rest = (~in_bits).nonzero().squeeze(1)  # positions in pr of the other nodes
    if rest.numel():
        pr_walk = u_walk.index_select(0, pr)
        all_counts = torch.bincount(pr_walk, minlength=b)
        all_start = torch.cumsum(all_counts, 0) - all_counts
        r_walk = pr_walk.index_select(0, rest)
        r_rep = all_counts.index_select(0, r_walk)  # every tested node of its walk is a candidate partner
        a = torch.repeat_interleave(rest, r_rep)
        c = torch.arange(a.numel(), device=dev) - torch.repeat_interleave(torch.cumsum(r_rep, 0) - r_rep, r_rep)
        c += torch.repeat_interleave(all_start.index_select(0, r_walk), r_rep)
        # a pair of two such nodes is listed from its earlier node only (a node with itself: self-loops only)
        keep = in_bits.index_select(0, c) | (c > a) | ((c == a) & bool(loops))
        a, c = pr.index_select(0, a.masked_select(keep)), pr.index_select(0, c.masked_select(keep))
        found = hub_edges.graph.has_edge(u_node.index_select(0, a), u_node.index_select(0, c)).nonzero().squeeze(1)
        src = torch.cat([src, a.index_select(0, found)])
        dst = torch.cat([dst, c.index_select(0, found)])
    return src, dst


def rwr_induced_subgraphs(
    graph: CSRGraph | Tensor | Any,
    egos: Tensor,
    restart_prob: float = 0.8,
    max_steps: int = 256,
    max_nodes: int | None = None,
    generator: torch.Generator | None = None,
    *,
    symmetric: bool = False,
    num_nodes: int | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """The subgraphs of :func:`rwr_subgraphs` as one disjoint union (the engine behind it).

    Same walks (same generator use), same nodes in the same order (ego first,
    then by first visit, at most ``max_nodes``), same induced edges; but the
    edges are found, for every kept node ``u`` of a subgraph of ``n_i`` nodes, by
    the cheaper exact test: expanding its out-edges (cost ``deg(u)``) or testing
    it against the ``n_i`` kept nodes (cost ``n_i``; a bitmap of the edges among
    the graph's highest-degree nodes, cached on the graph, answers most tests,
    :meth:`CSRGraph.has_edge` the rest). Always expanding would cost the sum of
    the kept nodes' degrees: large when walks touch hubs, as GCC's deg^0.75 egos do.
    An expanded target is looked up in a bitmap of the (walk, node) keys (its
    position: a popcount rank; binary search when the bitmap would pass
    ``8 * _BITMAP_BYTES`` bits); the bitmap is a buffer cached on the graph's
    walk index and cleared after use, so concurrent calls on one graph object
    from several threads are not supported (processes are fine). Edges come
    sorted by (source, target) position. With ``symmetric=True`` (promise: every edge has its reverse) a hub's edges
    to expanded nodes are read off their expansions, only hub-hub pairs are
    tested (each pair once), and walks skip the per-step dead-end test when no
    ego is isolated. Without that test the walks return their moves only (no
    ``[B, max_steps + 1]`` walk matrix): the first visits are found among them.

    Returns:
        ``(edge_index [2, E], ptr [B + 1], nodes [N])``: edges relabelled to union
        positions; subgraph ``i`` holds union nodes ``ptr[i] .. ptr[i+1]-1``,
        whose graph ids are ``nodes[ptr[i]:ptr[i+1]]``.

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
        >>> ei, ptr, nodes = rwr_induced_subgraphs(g, torch.tensor([0, 2]), generator=torch.Generator().manual_seed(0))
        >>> int(nodes[ptr[0]]), int(nodes[ptr[1]])
        (0, 2)
    """
    graph = _as_graph(graph, num_nodes)
    restart_prob = check_probability(restart_prob, "restart_prob")
    max_steps = check_positive_int(max_steps, "max_steps", minimum=0)
    if max_nodes is not None:
        max_nodes = check_positive_int(max_nodes, "max_nodes")
    egos = _check_start(egos, graph, "egos")
    generator = check_generator(generator, graph.device)
    index = _walk_index(graph)
    # In a symmetric unweighted graph every node reached by a step has a way out: walkers meet a
    # dead end only if they start on one, so the per-step dead-end test can be left out.
    dead_ends = not (symmetric and not index.weighted and bool((graph.degree[egos] > 0).all()))
    dev = graph.device
    b, t = egos.numel(), max_steps + 1
    n = max(graph.num_nodes, 1)
    # First visits. The ego (step 0) is every walk's first node; the others are found among the
    # entries away from the ego (a walk with restart is mostly at its ego): one stable sort of their
    # keys (walk, node), in order of (walk, step), puts each node's visits in a walk together, earliest first.
    if not (index.has_dead and dead_ends):  # the walk's moves, without the [B, T] walk matrix
        pos, node = _rwr(index, egos, max_steps, restart_prob, generator, dead_ends, moves=True)
        away = (node != egos.index_select(0, torch.div(pos, t, rounding_mode="floor"))).nonzero().squeeze(1)
        pos = torch.cat([torch.arange(b, device=dev) * t, pos.index_select(0, away)])
        node = torch.cat([egos.long(), node.index_select(0, away)])
        if b * t < 2**31:
            pos = pos.to(torch.int32)  # 32-bit keys sort faster
        pos, by_pos = torch.sort(pos)  # (walk, step) order; positions are distinct
        node = node.index_select(0, by_pos)
    else:
        trace = _rwr(index, egos, max_steps, restart_prob, generator, dead_ends)  # [B, T]
        away = trace != trace[:, :1]
        away[:, 0] = True
        pos = away.view(-1).nonzero().squeeze(1)  # flat positions w * t + i
        node = trace.view(-1).index_select(0, pos)
    walk = torch.div(pos, t, rounding_mode="floor")
    key = node + walk.long() * n
    if b * n < 2**31:
        key = key.to(torch.int32)  # 32-bit keys sort faster
    srt, at = torch.sort(key, stable=True)
    new = torch.ones_like(srt, dtype=torch.bool)
    torch.ne(srt[1:], srt[:-1], out=new[1:])
    is_first = torch.zeros(pos.numel(), dtype=torch.bool, device=dev)
    is_first.index_fill_(0, at.masked_select(new), True)
    u_node = node.masked_select(is_first)  # walk by walk, in order of first visit (ego first)
    u_walk = walk.masked_select(is_first).long()
    counts = torch.bincount(u_walk, minlength=b)
    if max_nodes is not None and b and int(counts.max()) > max_nodes:
        rank = torch.arange(u_node.numel(), device=dev) - (torch.cumsum(counts, 0) - counts).index_select(0, u_walk)
        keep = rank < max_nodes
        u_node, u_walk = u_node.masked_select(keep), u_walk.masked_select(keep)
        counts = counts.clamp(max=max_nodes)
    starts = torch.cumsum(counts, 0) - counts
    ptr = torch.zeros(b + 1, dtype=torch.long, device=dev)
    ptr[1:] = torch.cumsum(counts, 0)
    # Per kept node u of walk w, the cheaper of two exact tests: expand u's out-edges and look
    # their targets up among w's kept nodes (cost deg(u)), or test u against each of w's kept
    # nodes with has_edge (cost counts[w]). (index_select: a plain gather, cheaper than x[idx] on CPU.)
    num_kept = u_node.numel()
    deg = graph.degree.index_select(0, u_node)
    hub_edges = getattr(index, "hub_edges", None)
    if hub_edges is None:
        hub_edges = index.hub_edges = _HubEdges(graph)
    kept_hub = hub_edges.hub_id.index_select(0, u_node)
    expand = deg <= counts.index_select(0, u_walk)
    # (a) expansion
    ex = expand.nonzero().squeeze(1)
    ex_deg = deg.index_select(0, ex)
    # edge e of the expansion reads col[rowptr[u] + (e - first edge of u)]: one per-node offset, gathered
    # (in 32 bits when the graph allows it: the graph's CSR in int32, cached on the walk index)
    rowptr, col = _csr32(index)
    pos_dtype = col.dtype
    e_src = torch.repeat_interleave(ex.to(pos_dtype), ex_deg)
    ex_base = torch.zeros(num_kept, dtype=pos_dtype, device=dev)
    ex_base[ex] = rowptr.index_select(0, u_node.index_select(0, ex)) - (torch.cumsum(ex_deg, 0) - ex_deg).to(pos_dtype)
    e_tgt = col.index_select(0, ex_base.index_select(0, e_src) + torch.arange(e_src.numel(), device=dev,
                                                                             dtype=pos_dtype))
    key_dtype = torch.int32 if b * n < 2**31 else torch.long  # 32-bit keys search faster
    walk_key = (u_walk * n).to(key_dtype)
    member = walk_key + u_node.to(key_dtype)
    m_sorted, m_order = torch.sort(member)
    qkey = walk_key.index_select(0, e_src) + e_tgt.to(key_dtype)
    if num_kept and b * n <= 8 * _BITMAP_BYTES:
        # A bitmap of the (walk, node) keys tells which targets are kept nodes of the walk (the reads of
        # one walk stay in its n / 8 bytes); a target's rank among the sorted keys (its position in
        # m_sorted) is the rank of the first key of its 32-bit word plus the set bits below it in the word.
        words, first_rank = _member_scratch(index, (b * n + 31) // 32)  # first_rank: read only where written
        try:
            _set_bits(words, member)
            e_found = bit_test(words, qkey).nonzero().squeeze(1)
            q = qkey.index_select(0, e_found)
            word_of = m_sorted >> 5
            new_word = torch.ones_like(word_of, dtype=torch.bool)
            torch.ne(word_of[1:], word_of[:-1], out=new_word[1:])
            first_rank.index_copy_(0, word_of.masked_select(new_word).long(),
                                   new_word.nonzero().squeeze(1).to(words.dtype))
            below = words.index_select(0, q >> 5) & ((1 << (q & 31).to(torch.int32)) - 1)  # bit 31 never below
            e_dst = m_order.index_select(0, first_rank.index_select(0, q >> 5) + _popcount31(below))
        finally:
            words.index_fill_(0, (member >> 5).long(), 0)  # all zero again for the next call
    elif num_kept:
        hit = torch.searchsorted(m_sorted, qkey).clamp_(max=num_kept - 1)
        e_found = (m_sorted.index_select(0, hit) == qkey).nonzero().squeeze(1)
        e_dst = m_order.index_select(0, hit.index_select(0, e_found))
    else:
        e_found = qkey[:0].long()
        e_dst = qkey[:0].long()
    e_src = e_src.index_select(0, e_found).long()
    # (b) pair tests for the hub nodes
    pr = (~expand).nonzero().squeeze(1)

    def has_edge(i: Tensor, j: Tensor) -> Tensor:  # is u_node[i] -> u_node[j] an edge
        return hub_edges.contains(u_node, i, j, kept_hub)
    if symmetric:
        # u -> v with v expanded is the reverse of the found v -> u: only hub-hub pairs remain, and
        # of those only one direction, mirrored afterwards.
        e_dst_hub = (~expand.index_select(0, e_dst)).nonzero().squeeze(1)
        rev_src, rev_dst = e_dst.index_select(0, e_dst_hub), e_src.index_select(0, e_dst_hub)
        p_src, p_dst = _hub_pairs(hub_edges, u_node, u_walk, pr, kept_hub, b)
        off_diag = (p_src != p_dst).nonzero().squeeze(1)
        p_src, p_dst = (torch.cat([p_src, p_dst.index_select(0, off_diag)]),
                        torch.cat([p_dst, p_src.index_select(0, off_diag)]))
    else:
        rev_src = rev_dst = e_src[:0]
        rep = counts.index_select(0, u_walk.index_select(0, pr))
        p_src = torch.repeat_interleave(pr, rep)
        within = torch.arange(p_src.numel(), device=dev) - torch.repeat_interleave(torch.cumsum(rep, 0) - rep, rep)
        p_dst = starts.index_select(0, u_walk.index_select(0, p_src)) + within
        hit = has_edge(p_src, p_dst).nonzero().squeeze(1)
        p_src, p_dst = p_src.index_select(0, hit), p_dst.index_select(0, hit)
    src = torch.cat([e_src, rev_src, p_src])
    dst = torch.cat([e_dst, rev_dst, p_dst])
    # sort by (source, target): the target's position inside its walk keeps the key small (int32 when it fits)
    width = int(counts.max()) if b else 1
    local = torch.arange(num_kept, device=dev) - starts.index_select(0, u_walk)  # position inside its walk
    key = src * width + local.index_select(0, dst)
    if num_kept * width < 2**31:
        key = key.to(torch.int32)  # a 32-bit key sorts ~3x faster on CPU
    order = torch.argsort(key)
    out = torch.empty((2, order.numel()), dtype=torch.long, device=dev)  # gathered in place (no stack copy)
    torch.index_select(src, 0, order, out=out[0])
    torch.index_select(dst, 0, order, out=out[1])
    return out, ptr, u_node


def rwr_subgraph(
    graph: CSRGraph | Tensor | Any,
    ego: int | Tensor,
    restart_prob: float = 0.8,
    max_steps: int = 256,
    max_nodes: int | None = None,
    generator: torch.Generator | None = None,
    *,
    num_nodes: int | None = None,
) -> tuple[Tensor, Tensor]:
    """Subgraph induced by the nodes a walk with restart from ``ego`` visits.

    See :func:`rwr_subgraphs` (this is its one-ego case).

    Returns:
        ``(nodes, edge_index)`` with ``nodes[0] == ego`` and ``edge_index`` relabelled
        to positions in ``nodes``.

    Example:
        >>> g = CSRGraph.from_edge_index(torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]))
        >>> nodes, ei = rwr_subgraph(g, 1, generator=torch.Generator().manual_seed(0))
        >>> int(nodes[0])
        1
    """
    graph = _as_graph(graph, num_nodes)
    if isinstance(ego, Tensor):
        if ego.numel() != 1:
            raise ValueError(f"ego must be a single node id, got shape {list(ego.shape)}")
        ego = ego.reshape(1)
    elif isinstance(ego, int) and not isinstance(ego, bool):
        ego = torch.tensor([ego], device=graph.device)
    else:
        raise TypeError(f"ego must be an int or a one-element tensor, got {type(ego).__name__}")
    check_node_ids(ego, graph.num_nodes, "ego")
    return rwr_subgraphs(graph, ego, restart_prob, max_steps, max_nodes, generator)[0]
