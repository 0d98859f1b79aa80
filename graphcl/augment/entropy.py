"""Structural entropy and greedy coding trees (SEGA, Wu et al., ICML 2023).

A *coding tree* of height ``h`` over a graph's ``N`` nodes is stored as
``parents``, a list of ``h`` LongTensors: ``parents[0][i]`` is the level-1 tree
node (community) of leaf ``i``, ``parents[l][c]`` the level-``l+2`` parent of
level-``l+1`` node ``c``, and ``parents[-1]`` is all zeros (one root). Ids of
every level are contiguous and every internal node has at least one child.

Structural entropy (Li & Pan 2016):
``H^T(G) = - sum_{a != root} (g_a / vol(G)) log2(vol(a) / vol(parent(a)))``
with ``vol`` the sum of degrees of a node's leaf set and ``g_a`` the weight of
the edges leaving it. Terms with ``g_a = 0`` are 0 (isolated nodes, whole
components); a graph without edges has entropy 0.

How an ``edge_index`` is read: as an undirected graph, the same way as
:mod:`graphcl.augment.community` (each unordered pair once, the two PyG
directions are one edge; with ``edge_weight`` the pair's weight is the mean of
its stored weights). A self-loop adds twice its weight to the degree and never
leaves any leaf set, so for a graph without self-loops a leaf's ``g`` is its
degree. Zero-weight edges are ignored.

Building the tree (what :func:`coding_tree` does):

* ``height = 1``: the flat tree, every leaf under the root.
* ``height = 2``: every leaf starts as its own community under the root; sibling
  communities joined by an edge are MERGEd while a merge lowers the entropy.
  The entropy change of merging ``A`` and ``B`` (same parent ``P``) depends only
  on their volumes, cuts, the summed cuts of their children and the weight
  between them, so all candidate pairs are scored in one vectorised pass over
  the community graph. Each round merges every pair that is the best partner of
  both its ends (mutual best: non-conflicting, always includes the single best
  pair, ties broken by smaller id) and repeats until no merge helps. Then MOVE
  rounds (our addition, Louvain-style refinement) move single items to a
  neighbouring sibling community when that lowers the entropy (moves accepted
  only when they are the best move at both communities they touch, so their
  changes add up exactly); merges and moves alternate until neither helps.
  Every accepted step lowers the entropy. The classical greedy merges the
  single best pair per step and has no MOVE step; ``benchmarks/coding_tree.py``
  compares the two (ours is lower on average, not on every graph).
  Known limitation shared with the classical greedy: two *small* cliques
  (fewer than ~12 nodes) joined by one edge end with the two bridge endpoints
  as a community of their own (a local minimum: no single merge or move helps).
* ``height > 2``: grown one level at a time as in SEGA's reference builder
  (``PartitionTree.build_coding_tree``, mode ``v2``): two candidates are built
  with the same merge routine, *leaf-up* (split every level-1 community into
  sub-communities of its leaves: a new level above the leaves) and *root-down*
  (group the root's children: a new level below the root), and the one with
  the larger entropy decrease is kept. Differences from the reference, which
  are deliberate: the reference builds each height-2 tree by binary merging
  followed by COMPRESS (removing the internal node whose removal costs least)
  and scores leaf-up on the community's own subgraph, normalising the two
  decreases differently (per leaf / per root child); here both candidates are
  scored by the exact change of the *global* structural entropy and compared
  directly. When neither helps an identity level (single-child nodes) is
  inserted, which leaves the entropy unchanged, so the tree always has exactly
  ``height`` levels.
  The option a graph did not take is cached for the next level: after root-down
  the next leaf-up option is the same partition (levels 0-1 unchanged), after
  leaf-up the next root-down option is the same (top level unchanged), so from
  the third level on each graph runs one merge per level instead of two.
  MERGE rounds after the first work on the coarsened community graph (merged
  stats and pair weights), which gives the same decisions as recomputing them
  from the items.

Many graphs are built at once (:func:`coding_trees`, :func:`precompute_coding_trees`)
by running the same vectorised rounds on their disjoint union; a graph's tree
does not depend on the other graphs in the batch.

PyG storage (:class:`CodingTreeTransform`): ``data.tree_batch_{l}`` holds
``parents[l]`` (``l = 0..h-1``) and ``data.tree_height = h``. The ``batch`` in
the name makes PyG's ``Batch`` offset each level by its number of nodes, so in
a mini-batch ``tree_batch_{l}`` still maps level-``l`` nodes (level 0 = the
batch's nodes) to level-``l+1`` nodes and the top level maps to the graph
index. A tree encoder reads it bottom-up::

    h = node_embeddings                      # [N, d]
    for l in range(height):
        idx = batch[f"tree_batch_{l}"]
        h = mlp[l](scatter(h, idx, dim=0, dim_size=int(idx.max()) + 1, reduce="sum"))
        # level-(l+1) embeddings; tree_level_graph(...) gives their graph ids

A graph with no nodes cannot be batched this way (PyG takes ``max() + 1`` of
an empty level). Work is on the device of ``edge_index`` (CPU and CUDA give the
same trees: candidate scores are compared on a 1e-12 grid, so last-bit
differences of ``log2`` cannot flip a tie); every round is vectorised over all
candidate pairs of all graphs, with a few host syncs per round.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from graphcl.augment.community import undirected_edges
from graphcl.validation import check_edge_index, check_positive_int

__all__ = [
    "structural_entropy",
    "coding_tree",
    "coding_trees",
    "coding_tree_transform",
    "attach_tree",
    "CodingTreeTransform",
    "precompute_coding_trees",
    "tree_parents",
    "tree_level_graph",
]

_MOVES = True
_CACHE = True  # reuse the growth option a graph did not take (same trees, fewer merges)
_COARSEN = True  # MERGE rounds on the community graph (same decisions as round-by-round)
_TOL = 1e-12  # merges must lower vol(G) * H by more than _TOL * vol(G)


# --------------------------------------------------------------------- inputs
def _check_parents(parents: Any, num_nodes: int) -> list[Tensor]:
    if not isinstance(parents, (list, tuple)) or len(parents) == 0:
        raise TypeError("parents must be a non-empty list of LongTensors (one per tree level)")
    out = []
    for l, p in enumerate(parents):
        if not isinstance(p, Tensor) or p.dtype.is_floating_point or p.dtype == torch.bool:
            raise TypeError(f"parents[{l}] must be an integer tensor")
        if p.dim() != 1:
            raise ValueError(f"parents[{l}] must be 1-D, got shape {list(p.shape)}")
        out.append(p.long())
    if out[0].numel() != num_nodes:
        raise ValueError(f"parents[0] must have num_nodes={num_nodes} entries, got {out[0].numel()}")
    for l, p in enumerate(out):
        size = out[l + 1].numel() if l + 1 < len(out) else 1
        if p.numel() and (int(p.min()) < 0 or int(p.max()) >= size):
            what = "the root level must be all zeros" if l + 1 == len(out) else (
                f"ids must be in [0, {size}) (the size of parents[{l + 1}])"
            )
            raise ValueError(f"parents[{l}] has an id out of range: {what}")
    return out


class _Graphs:
    """Disjoint union of graphs in float64 form (leaf degrees, cuts, symmetric edges)."""

    def __init__(self, u: Tensor, v: Tensor, w: Tensor, gid: Tensor, num_graphs: int) -> None:
        n = gid.numel()
        device = gid.device
        keep = w > 0
        u, v, w = u[keep], v[keep], w[keep]
        loop = u == v
        self.deg = torch.zeros(n, dtype=torch.float64, device=device)
        self.deg.index_add_(0, u, w).index_add_(0, v, w)
        u, v, w = u[~loop], v[~loop], w[~loop]
        self.cut = torch.zeros(n, dtype=torch.float64, device=device)
        self.cut.index_add_(0, u, w).index_add_(0, v, w)
        self.u, self.v, self.w = u, v, w  # each undirected non-loop edge once, u < v
        self.gid = gid
        self.num_graphs = num_graphs
        self.vol = torch.zeros(num_graphs, dtype=torch.float64, device=device)
        self.vol.index_add_(0, gid, self.deg)

    @property
    def n(self) -> int:
        return self.gid.numel()


def _union(graphs: list[tuple[Tensor, int, Tensor | None]]) -> _Graphs:
    """Disjoint union of ``(edge_index, num_nodes, edge_weight)`` triples."""
    if not graphs:
        raise ValueError("graphs must contain at least one graph")
    device = graphs[0][0].device
    weighted = any(g[2] is not None for g in graphs)
    sizes, eis, ews = [], [], []
    for i, (ei, n, ew) in enumerate(graphs):
        name = f"edge_index of graph {i}"
        if not isinstance(ei, Tensor) or ei.dim() != 2 or ei.size(0) != 2:
            raise ValueError(f"{name} must be a tensor of shape [2, E]")
        if ei.dtype.is_floating_point or ei.dtype == torch.bool:
            raise TypeError(f"{name} must be an integer tensor")
        if n is None:
            n = check_edge_index(ei, None, name=name)
        elif isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"num_nodes of graph {i} must be an int >= 0, got {n!r}")
        eis.append(ei.to(device).long())
        if weighted:
            ews.append(torch.ones(ei.size(1), device=device) if ew is None else ew.to(device))
        sizes.append(n)
    counts = torch.tensor(sizes, dtype=torch.long, device=device)
    offsets = torch.cumsum(counts, 0) - counts
    ecount = torch.tensor([e.size(1) for e in eis], dtype=torch.long, device=device)
    egraph = torch.repeat_interleave(torch.arange(len(graphs), device=device), ecount)
    ei = torch.cat(eis, dim=1)
    if ei.numel():
        bad = (ei < 0).any(0) | (ei >= counts[egraph]).any(0)
        if bool(bad.any()):
            g = int(egraph[bad][0])
            raise ValueError(f"edge_index of graph {g} has a node id outside [0, {sizes[g]})")
    ei = ei + offsets[egraph]
    total = int(counts.sum())
    gid = torch.repeat_interleave(torch.arange(len(graphs), device=device), counts)
    ew = torch.cat(ews).double() if weighted else None
    u, v, w, _ = undirected_edges(ei, total, ew)
    return _Graphs(u, v, w, gid, len(graphs))


# ------------------------------------------------------------------- entropy
def _entropy_terms(
    graphs: _Graphs, parents: list[Tensor]
) -> Tensor:
    """Structural entropy per graph of the union, ``[num_graphs]`` (float64)."""
    device = graphs.gid.device
    h = torch.zeros(graphs.num_graphs, dtype=torch.float64, device=device)
    anc = torch.arange(graphs.n, device=device)
    su, sv, sw = graphs.u, graphs.v, graphs.w
    for l, par in enumerate(parents):
        size = par.numel()
        if l == 0:
            vol_l, cut_l = graphs.deg, graphs.cut
        else:
            vol_l = torch.zeros(size, dtype=torch.float64, device=device).index_add_(0, anc, graphs.deg)
            au, av = anc[su], anc[sv]
            cross = au != av
            cut_l = torch.zeros(size, dtype=torch.float64, device=device)
            cut_l.index_add_(0, au[cross], sw[cross]).index_add_(0, av[cross], sw[cross])
        nxt = parents[l + 1].numel() if l + 1 < len(parents) else None
        node_graph = torch.zeros(size, dtype=torch.long, device=device)
        node_graph[anc] = graphs.gid  # nodes without leaves keep 0 (their term is 0)
        if nxt is None:  # parent is the root of each graph
            pvol = graphs.vol[node_graph]
        else:
            pv = torch.zeros(nxt, dtype=torch.float64, device=device).index_add_(0, par, vol_l)
            pvol = pv[par]
        pos = cut_l > 0
        safe = torch.where(pos, vol_l / torch.where(pos, pvol, torch.ones_like(pvol)),
                           torch.ones_like(vol_l))
        term = torch.where(pos, cut_l * torch.log2(safe), torch.zeros_like(cut_l))
        h.index_add_(0, node_graph, -term)
        anc = par[anc]
    vol = graphs.vol
    return torch.where(vol > 0, h / torch.where(vol > 0, vol, torch.ones_like(vol)),
                       torch.zeros_like(h))


def structural_entropy(
    edge_index: Tensor,
    num_nodes: int | None,
    parents: list[Tensor],
    edge_weight: Tensor | None = None,
) -> float:
    """Structural entropy ``H^T(G)`` (bits) of the coding tree ``parents`` (module notes).

    Vectorised: one scatter per level. Leaves are tree nodes too (their ``g`` is
    their degree minus self-loops).

    Example:
        >>> tri = torch.tensor([[0, 1, 1, 2, 2, 0], [1, 0, 2, 1, 0, 2]])
        >>> round(structural_entropy(tri, 3, [torch.zeros(3, dtype=torch.long)]), 6)  # log2(3)
        1.584963
    """
    u, v, w, n = undirected_edges(edge_index, num_nodes, edge_weight)
    parents = [p.to(edge_index.device) for p in _check_parents(parents, n)]
    graphs = _Graphs(u, v, w, torch.zeros(n, dtype=torch.long, device=edge_index.device), 1)
    return float(_entropy_terms(graphs, parents)[0])


# ------------------------------------------------------------- merge routine
def _nz(mask: Tensor) -> Tensor:
    """Indices of the true entries (boolean indexing repeats this ``nonzero`` per tensor)."""
    return mask.nonzero().view(-1)


def _at(t: Tensor, idx: Tensor) -> Tensor:
    """``t[idx]`` for a 1-D index (``index_select``, cheaper than advanced indexing)."""
    return t.index_select(0, idx)


class _Items:
    """Items (tree nodes) being grouped into new communities under their current parents."""

    def __init__(self, vol: Tensor, cut: Tensor, par: Tensor, pvol: Tensor, gid: Tensor,
                 graph_vol: Tensor, ea: Tensor, eb: Tensor, ew: Tensor) -> None:
        same = _nz(_at(par, ea) == _at(par, eb))  # only siblings can share a community
        self.ea, self.eb, self.ew = _at(ea, same), _at(eb, same), _at(ew, same)
        self.vol, self.cut, self.par, self.gid, self.pvol = vol, cut, par, gid, pvol
        self.graph_vol = graph_vol
        self.egid = _at(gid, self.ea)
        present = torch.zeros(graph_vol.numel(), dtype=torch.bool, device=gid.device)
        self.num_graphs = int(present.index_fill_(0, gid, True).sum())

    def subset(self, keep: Tensor) -> _Items:
        """The items of the flagged graphs, renumbered (edges never cross graphs)."""
        idx = torch.cumsum(keep.long(), 0) - 1
        ek = _nz(_at(keep, self.ea))
        k = _nz(keep)
        return _Items(_at(self.vol, k), _at(self.cut, k), _at(self.par, k), _at(self.pvol, k),
                      _at(self.gid, k), self.graph_vol, _at(idx, _at(self.ea, ek)),
                      _at(idx, _at(self.eb, ek)), _at(self.ew, ek))

    def stats(self, comm: Tensor, nc: int) -> tuple[Tensor, ...]:
        """Volume, cut, children-cut sum, parent volume and graph id of every community."""
        dev = comm.device
        vol = torch.zeros(nc, dtype=torch.float64, device=dev).index_add_(0, comm, self.vol)
        csum = torch.zeros(nc, dtype=torch.float64, device=dev).index_add_(0, comm, self.cut)
        ca, cb = _at(comm, self.ea), _at(comm, self.eb)
        inner = _nz(ca == cb)
        cut = csum.clone().index_add_(0, _at(ca, inner), -2.0 * _at(self.ew, inner)).clamp_(min=0.0)
        # index_copy_: duplicate indices carry equal values (same community)
        pvol = torch.zeros(nc, dtype=torch.float64, device=dev).index_copy_(0, comm, self.pvol)
        gid = torch.zeros(nc, dtype=torch.long, device=dev).index_copy_(0, comm, self.gid)
        return vol, cut, csum, pvol, gid


def _compact(labels: Tensor, size: int) -> Tensor:
    """Renumber ``labels`` (values in ``[0, size)``) to ``0..K-1``, keeping their order (no sort)."""
    used = torch.zeros(size, dtype=torch.bool, device=labels.device).index_fill_(0, labels, True)
    return _at(torch.cumsum(used.long(), 0) - 1, labels)


def _f(vol: Tensor, cut: Tensor, csum: Tensor, pvol: Tensor) -> Tensor:
    """``vol(G) *`` (entropy terms of a community and of its children, up to a constant)."""
    pos = vol > 0
    v = torch.where(pos, vol, torch.ones_like(vol))
    return torch.where(pos, -cut * torch.log2(v / pvol) + csum * torch.log2(v), torch.zeros_like(v))


def _pick(score: Tensor, ends: list[Tensor], size: int) -> Tensor:
    """Candidates that are the best (lowest score, then lowest index) at every one of their ends.

    Scores are compared on a 1e-12 grid so that last-bit differences (CPU vs CUDA
    ``log2``, summation order) do not decide between tied candidates.
    """
    dev = score.device
    score = torch.round(score * 1e12)
    idx = torch.arange(score.numel(), device=dev)
    allends = torch.cat(ends)
    vals = score.repeat(len(ends))
    best = torch.full((size,), math.inf, dtype=torch.float64, device=dev)
    best.scatter_reduce_(0, allends, vals, reduce="amin")
    tie = _nz(vals == _at(best, allends))
    first = torch.full((size,), score.numel(), dtype=torch.long, device=dev)
    first.scatter_reduce_(0, _at(allends, tie), _at(idx.repeat(len(ends)), tie), reduce="amin")
    ok = torch.ones_like(idx, dtype=torch.bool)
    for e in ends:
        ok &= _at(first, e) == idx
    return ok


def _merge_round(items: _Items, comm: Tensor, delta: Tensor) -> tuple[Tensor, Tensor]:
    """One MERGE round: every mutual-best improving pair of sibling communities merges.

    Returns the new ``comm`` and the graphs that had an improving merge.
    """
    dev = comm.device
    hit = torch.zeros(items.graph_vol.numel(), dtype=torch.bool, device=dev)
    nc = int(comm.max()) + 1 if comm.numel() else 0
    vol, cut, csum, pvol, gid = items.stats(comm, nc)
    ca, cb = comm[items.ea], comm[items.eb]
    cross = ca != cb
    if not bool(cross.any()):
        return comm, hit
    a = torch.minimum(ca, cb)[cross]
    b = torch.maximum(ca, cb)[cross]
    key, inv = torch.unique(a * nc + b, return_inverse=True)
    w = torch.zeros(key.numel(), dtype=torch.float64, device=dev).index_add_(0, inv, items.ew[cross])
    a = torch.div(key, nc, rounding_mode="floor")
    b = key - a * nc
    va, vb = vol[a], vol[b]
    merged = _f(va + vb, cut[a] + cut[b] - 2.0 * w, csum[a] + csum[b], pvol[a])
    raw = merged - _f(va, cut[a], csum[a], pvol[a]) - _f(vb, cut[b], csum[b], pvol[b])
    gv = items.graph_vol[gid[a]]
    cand = raw < -_TOL * gv
    if not bool(cand.any()):
        return comm, hit
    a, b, score = a[cand], b[cand], raw[cand] / gv[cand]
    hit[gid[a]] = True
    ok = _pick(score, [a, b], nc)
    delta.index_add_(0, gid[a[ok]], score[ok])
    label = torch.arange(nc, device=dev)
    label[b[ok]] = a[ok]
    return _compact(label, nc)[comm], hit


def _move_round(items: _Items, comm: Tensor, delta: Tensor) -> tuple[Tensor, Tensor]:
    """One MOVE round: single items move to a neighbouring sibling community when that helps.

    Moves are accepted when they are the best move at both communities they touch,
    so accepted moves never interact. Returns the new ``comm`` and the graphs
    that had an improving move.
    """
    dev = comm.device
    hit = torch.zeros(items.graph_vol.numel(), dtype=torch.bool, device=dev)
    if items.ea.numel() == 0:
        return comm, hit
    n = comm.numel()
    src = torch.cat([items.ea, items.eb])
    nbr = torch.cat([items.eb, items.ea])
    nc = int(comm.max()) + 1
    vol, cut, csum, pvol, gid = items.stats(comm, nc)
    key, inv = torch.unique(src * nc + comm[nbr], return_inverse=True)
    w = torch.zeros(key.numel(), dtype=torch.float64, device=dev)
    w.index_add_(0, inv, torch.cat([items.ew, items.ew]))
    i = torch.div(key, nc, rounding_mode="floor")
    d = key - i * nc
    c = _at(comm, i)
    own = d == c
    ow = _nz(own)
    w_own = torch.zeros(n, dtype=torch.float64, device=dev).index_add_(0, _at(i, ow), _at(w, ow))
    ot = _nz(~own)
    i, d, c, w = _at(i, ot), _at(d, ot), _at(c, ot), _at(w, ot)
    vi, gi = _at(items.vol, i), _at(items.cut, i)
    pv = _at(pvol, c)
    fc = _f(vol, cut, csum, pvol)  # per community
    vc, vd, kc, kd, sc, sd = _at(vol, c), _at(vol, d), _at(cut, c), _at(cut, d), _at(csum, c), _at(csum, d)
    raw = (
        _f(vc - vi, kc - gi + 2.0 * _at(w_own, i), sc - gi, pv)
        + _f(vd + vi, kd + gi - 2.0 * w, sd + gi, pv)
        - _at(fc, c)
        - _at(fc, d)
    )
    gc = _at(gid, c)
    gv = _at(items.graph_vol, gc)
    cand = raw < -_TOL * gv
    if not bool(cand.any()):
        return comm, hit
    cx = _nz(cand)
    i, d, c, gc, score = _at(i, cx), _at(d, cx), _at(c, cx), _at(gc, cx), _at(raw, cx) / _at(gv, cx)
    hit.index_fill_(0, gc, True)
    ok = _nz(_pick(score, [c, d], nc))
    delta.index_add_(0, _at(gc, ok), _at(score, ok))
    comm = comm.clone()
    comm.index_copy_(0, _at(i, ok), _at(d, ok))
    return _compact(comm, nc), hit


def _phase(step, items: _Items, comm: Tensor, delta: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
    """Repeat ``step`` rounds until no active graph improves.

    Graphs drop out as soon as a round finds nothing for them; when fewer than
    half of the graphs in the working set are still active, the working set is
    cut down to their items (the decisions do not change, the rounds get cheaper).
    Returns the final ``comm`` and the graphs that changed.
    """
    changed = torch.zeros_like(active)
    stack: list[tuple[Tensor, _Items, Tensor]] = []
    cur, cc, present = items, comm, items.num_graphs
    while True:
        n_active = int(active.sum())
        if n_active == 0:
            break
        if n_active < present // 2:
            keep = active[cur.gid]
            stack.append((keep, cur, cc))
            cur = cur.subset(keep)
            cc = _compact(cc[keep], int(cc.max()) + 1)
            present = n_active
        cc, active = step(cur, cc, delta)
        changed |= active
    while stack:  # write the working set back into the full problem
        keep, parent, pc = stack.pop()
        pc = pc.clone()
        base = int(pc.max()) + 1
        pc[keep] = cc + base
        cc = _compact(pc, base + (int(cc.max()) + 1 if cc.numel() else 0))
    return cc, changed


def _merge_phase(items: _Items, comm: Tensor, delta: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
    """MERGE rounds (:func:`_merge_round`) until no active graph improves, on the coarsened graph.

    Same decisions as repeating :func:`_merge_round`, but after the first round
    the rounds work on the community graph (community stats and community-pair
    weights are merged, not recomputed from the items), and a graph's pairs are
    dropped as soon as a round finds no improving merge for it. Returns the
    final ``comm`` and the graphs that changed.
    """
    dev = comm.device
    changed = torch.zeros_like(active)
    if comm.numel() == 0 or items.ea.numel() == 0:
        return comm, changed
    nc = int(comm.max()) + 1
    vol, cut, csum, pvol, gid = items.stats(comm, nc)
    ca, cb = _at(comm, items.ea), _at(comm, items.eb)
    sel = _nz((ca != cb) & _at(active, items.egid))
    ca, cb = _at(ca, sel), _at(cb, sel)
    a, b, w = torch.minimum(ca, cb), torch.maximum(ca, cb), _at(items.ew, sel)
    cmap = torch.arange(nc, device=dev)
    while a.numel():
        key, inv = torch.unique(a * nc + b, return_inverse=True)
        w = torch.zeros(key.numel(), dtype=torch.float64, device=dev).index_add_(0, inv, w)
        a = torch.div(key, nc, rounding_mode="floor")
        b = key - a * nc
        fc = _f(vol, cut, csum, pvol)  # per community, shared by all its pairs
        merged = _f(_at(vol, a) + _at(vol, b), _at(cut, a) + _at(cut, b) - 2.0 * w,
                    _at(csum, a) + _at(csum, b), _at(pvol, a))
        raw = merged - _at(fc, a) - _at(fc, b)
        ga = _at(gid, a)
        gv = _at(items.graph_vol, ga)
        cand = raw < -_TOL * gv
        if not bool(cand.any()):
            break
        cx = _nz(cand)
        ca, cb, cw, cg = _at(a, cx), _at(b, cx), _at(w, cx), _at(ga, cx)
        score = _at(raw, cx) / _at(gv, cx)
        hit = torch.zeros_like(active)
        hit.index_fill_(0, cg, True)
        changed |= hit
        ok = _nz(_pick(score, [ca, cb], nc))
        am, bm = _at(ca, ok), _at(cb, ok)
        delta.index_add_(0, _at(cg, ok), _at(score, ok))
        label = torch.arange(nc, device=dev)
        label.index_copy_(0, bm, am)
        label, nc2 = _relabel(label, nc)
        cut = cut.index_add(0, am, -2.0 * _at(cw, ok))
        vol = torch.zeros(nc2, dtype=torch.float64, device=dev).index_add_(0, label, vol)
        cut = torch.zeros(nc2, dtype=torch.float64, device=dev).index_add_(0, label, cut).clamp_(min=0.0)
        csum = torch.zeros(nc2, dtype=torch.float64, device=dev).index_add_(0, label, csum)
        pvol = torch.zeros(nc2, dtype=torch.float64, device=dev).index_copy_(0, label, pvol)
        gid = torch.zeros(nc2, dtype=torch.long, device=dev).index_copy_(0, label, gid)
        cmap = _at(label, cmap)
        keep = _nz(_at(hit, ga))
        la, lb, w = _at(label, _at(a, keep)), _at(label, _at(b, keep)), _at(w, keep)
        sel = _nz(la != lb)
        la, lb = _at(la, sel), _at(lb, sel)
        a, b, w = torch.minimum(la, lb), torch.maximum(la, lb), _at(w, sel)
        nc = nc2
    return cmap[comm], changed


def _round_merge_phase(items: _Items, comm: Tensor, delta: Tensor, active: Tensor) -> tuple[Tensor, Tensor]:
    """:func:`_merge_round` repeated on the items (the uncoarsened form of :func:`_merge_phase`)."""
    return _phase(_merge_round, items, comm, delta, active)


def _merge(
    item_vol: Tensor,
    item_cut: Tensor,
    item_par: Tensor,
    par_vol: Tensor,
    item_gid: Tensor,
    graph_vol: Tensor,
    ea: Tensor,
    eb: Tensor,
    ew: Tensor,
) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    """Group sibling items into communities (one new tree level) by MERGE and MOVE rounds.

    Items ``i`` (tree nodes with volume / cut ``item_vol`` / ``item_cut``) start
    as singleton communities under their parent ``item_par`` (volume
    ``par_vol``); only items with the same parent share a community and only
    pairs joined by an edge ``(ea, eb, ew)`` are scored. MERGE rounds run until
    no merge helps, then MOVE rounds (one item to a neighbouring community);
    repeated while moves help. Every accepted change lowers the structural
    entropy. Returns ``(community of each item, community vol, cut, parent,
    graph id, entropy change per graph)``.
    """
    items = _Items(item_vol, item_cut, item_par, par_vol[item_par], item_gid, graph_vol,
                   ea, eb, ew)
    dev = item_vol.device
    comm = torch.arange(item_vol.numel(), device=dev)
    delta = torch.zeros(graph_vol.numel(), dtype=torch.float64, device=dev)
    if comm.numel():
        active = torch.zeros(graph_vol.numel(), dtype=torch.bool, device=dev)
        active[item_gid] = True
        merge_phase = _merge_phase if _COARSEN else _round_merge_phase
        comm, _ = merge_phase(items, comm, delta, active)
        while _MOVES and bool(active.any()):
            comm, active = _phase(_move_round, items, comm, delta, active)
            if not bool(active.any()):
                break
            comm, active = merge_phase(items, comm, delta, active)
    nc = int(comm.max()) + 1 if comm.numel() else 0
    vol, cut, _, _, gid = items.stats(comm, nc)
    par = torch.zeros(nc, dtype=torch.long, device=dev)
    par[comm] = item_par
    return comm, vol, cut, par, gid, delta


# ------------------------------------------------------------- tree building
class _Level:
    """Nodes of one tree level: parent id (next level, or graph id at the top), stats."""

    __slots__ = ("par", "vol", "cut", "gid")

    def __init__(self, par: Tensor, vol: Tensor, cut: Tensor, gid: Tensor) -> None:
        self.par, self.vol, self.cut, self.gid = par, vol, cut, gid


def _relabel(labels: Tensor, size: int) -> tuple[Tensor, int]:
    """:func:`_compact` that also returns the number of distinct labels."""
    used = torch.zeros(size, dtype=torch.bool, device=labels.device).index_fill_(0, labels, True)
    ids = torch.cumsum(used.long(), 0)
    count = int(ids[-1]) if size else 0
    return _at(ids - 1, labels), count


def _level_stats(graphs: _Graphs, anc: Tensor, size: int) -> tuple[Tensor, Tensor, Tensor]:
    """Volume, cut and graph id of the level whose node of leaf ``i`` is ``anc[i]``."""
    dev = anc.device
    vol = torch.zeros(size, dtype=torch.float64, device=dev).index_add_(0, anc, graphs.deg)
    au, av = _at(anc, graphs.u), _at(anc, graphs.v)
    cross = _nz(au != av)
    cw = _at(graphs.w, cross)
    cut = torch.zeros(size, dtype=torch.float64, device=dev)
    cut.index_add_(0, _at(au, cross), cw).index_add_(0, _at(av, cross), cw)
    gid = torch.zeros(size, dtype=torch.long, device=dev).index_copy_(0, anc, graphs.gid)
    return vol, cut, gid


def _sub_merge(
    keep_graph: Tensor, vol: Tensor, cut: Tensor, par: Tensor, par_vol: Tensor, gid: Tensor,
    graph_vol: Tensor, ea: Tensor, eb: Tensor, ew: Tensor, egid: Tensor,
) -> tuple[Tensor, Tensor]:
    """:func:`_merge` restricted to the items of the graphs flagged in ``keep_graph``.

    Returns the community of every item (new ids, only meaningful for flagged
    graphs) and the entropy change per graph (0 for the others).
    """
    if bool(keep_graph.all()):
        comm, _, _, _, _, delta = _merge(vol, cut, par, par_vol, gid, graph_vol, ea, eb, ew)
        return comm, delta
    keep = keep_graph[gid]
    idx = torch.cumsum(keep.long(), 0) - 1
    ek = keep_graph[egid]
    comm, _, _, _, _, delta = _merge(
        vol[keep], cut[keep], par[keep], par_vol, gid[keep], graph_vol,
        idx[ea[ek]], idx[eb[ek]], ew[ek],
    )
    full = torch.zeros_like(gid)
    full[keep] = comm
    return full, delta


def _build(graphs: _Graphs, height: int) -> tuple[list[_Level], Tensor]:
    """Coding trees of every graph of the union; returns levels and entropy per graph.

    The tree is kept as ``anc[l]``: the level-``l`` node of every leaf (contiguous
    ids, a graph's nodes keep their relative order). Growth options are cached:
    when a graph takes root-down, its leaf-up option of the next step is the same
    partition of the same leaves (levels 0-1 did not change), and when it takes
    leaf-up its next root-down option is the same (the top level did not change),
    so each step after the second runs only one merge per graph.
    """
    device = graphs.gid.device
    n = graphs.n
    gid = graphs.gid
    num_graphs = graphs.num_graphs
    gv = graphs.vol
    ent = _entropy_terms(graphs, [torch.zeros(n, dtype=torch.long, device=device)])
    anc = [torch.arange(n, device=device)]
    sizes = [n]
    egid = gid[graphs.u]
    zeros_g = torch.zeros(num_graphs, dtype=torch.bool, device=device)
    rd_ok, lu_ok = zeros_g, zeros_g  # cached option still valid for the graph
    rd_lab = torch.zeros(n, dtype=torch.long, device=device)  # per leaf: node of the new level
    lu_lab = torch.zeros(n, dtype=torch.long, device=device)
    d_rd = torch.zeros(num_graphs, dtype=torch.float64, device=device)
    d_lu = torch.zeros(num_graphs, dtype=torch.float64, device=device)
    for h in range(1, height):
        top = anc[-1]
        if n and not bool(rd_ok.all()):  # root-down: group the top level's nodes
            tvol, tcut, tgid = _level_stats(graphs, top, sizes[-1])
            ea, eb = top[graphs.u], top[graphs.v]
            cross = ea != eb
            need = ~rd_ok
            comm, delta = _sub_merge(
                need, tvol, tcut, tgid, gv, tgid, gv, ea[cross], eb[cross], graphs.w[cross],
                egid[cross],
            )
            fresh = need[gid]
            rd_lab, _ = _relabel(torch.where(fresh, comm[top] + n, rd_lab), 2 * n)
            d_rd = torch.where(need, delta, d_rd)
        if h == 1:  # leaf-up and root-down coincide on the flat tree
            use_rd = ~zeros_g
        else:
            if not bool(lu_ok.all()):  # leaf-up: split every level-1 node's leaves
                l1vol, _, _ = _level_stats(graphs, anc[1], sizes[1])
                need = ~lu_ok
                comm, delta = _sub_merge(
                    need, graphs.deg, graphs.cut, anc[1], l1vol, gid, gv,
                    graphs.u, graphs.v, graphs.w, egid,
                )
                fresh = need[gid]
                lu_lab, _ = _relabel(torch.where(fresh, comm + n, lu_lab), 2 * n)
                d_lu = torch.where(need, delta, d_lu)
            use_rd = d_rd < d_lu  # larger decrease wins, ties go to leaf-up
        ent = ent + torch.where(use_rd, d_rd, d_lu)
        opt_rd = [*anc, rd_lab]
        if h == 1:
            opt_lu = opt_rd
        else:
            opt_lu = [anc[0], lu_lab, *anc[1:]]
        all_rd = bool(use_rd.all())
        none_rd = not all_rd and not bool(use_rd.any())
        new_anc, new_sizes = [anc[0]], [n]
        leaf_rd = use_rd[gid]
        for j in range(1, h + 1):
            if all_rd:
                lab = opt_rd[j]
            elif none_rd:
                lab = opt_lu[j]
            else:
                lab = torch.where(leaf_rd, opt_rd[j], opt_lu[j] + n)
            lab, count = _relabel(lab, 2 * n)
            new_anc.append(lab)
            new_sizes.append(count)
        anc, sizes = new_anc, new_sizes
        rd_ok, lu_ok = ~use_rd, use_rd
        if h == 1 or not _CACHE:
            rd_ok, lu_ok = zeros_g, zeros_g
    levels = []
    for l, a in enumerate(anc):
        if l == 0:
            vol, cut, lgid = graphs.deg, graphs.cut, gid
        else:
            vol, cut, lgid = _level_stats(graphs, a, sizes[l])
        if l + 1 < len(anc):
            par = torch.zeros(sizes[l], dtype=torch.long, device=device)
            par[a] = anc[l + 1]
        else:
            par = lgid.clone()
        levels.append(_Level(par, vol, cut, lgid))
    return levels, ent


def _split(levels: list[_Level], num_graphs: int) -> list[list[Tensor]]:
    """Per-graph ``parents`` lists with local, contiguous ids."""
    h = len(levels)
    device = levels[0].gid.device
    local, perms, counts = [], [], []
    for lv in levels:
        perm = torch.sort(lv.gid, stable=True).indices
        cnt = torch.bincount(lv.gid, minlength=num_graphs)
        start = torch.cumsum(cnt, 0) - cnt
        loc = torch.empty_like(perm)
        loc[perm] = torch.arange(perm.numel(), device=device) - start[lv.gid[perm]]
        local.append(loc)
        perms.append(perm)
        counts.append(cnt.tolist())
    per_level = []
    for l, lv in enumerate(levels):
        if l + 1 < h:
            par = local[l + 1][lv.par]
        else:
            par = torch.zeros_like(lv.par)
        per_level.append([t.clone() for t in torch.split(par[perms[l]], counts[l])])
    return [[per_level[l][g] for l in range(h)] for g in range(num_graphs)]


# ------------------------------------------------------------------ public API
def _check_height(height: Any) -> int:
    if isinstance(height, bool) or not isinstance(height, int):
        raise TypeError(f"height must be an int >= 1, got {type(height).__name__}")
    if height < 1:
        raise ValueError(f"height must be >= 1, got {height}")
    return height


def coding_tree(
    edge_index: Tensor,
    num_nodes: int | None,
    height: int,
    edge_weight: Tensor | None = None,
) -> list[Tensor]:
    """Greedy minimum-structural-entropy coding tree of the given ``height`` (module notes).

    Returns ``parents`` (``height`` LongTensors on the input's device).

    Example:
        >>> two = torch.tensor([[0, 0, 1, 3, 3, 4, 2], [1, 2, 2, 4, 5, 5, 3]])  # triangles + bridge
        >>> coding_tree(two, 6, 2)[0].tolist()  # small cliques: bridge pair, see module notes
        [0, 0, 1, 1, 2, 2]
    """
    height = _check_height(height)
    u, v, w, n = undirected_edges(edge_index, num_nodes, edge_weight)
    device = edge_index.device
    graphs = _Graphs(u, v, w, torch.zeros(n, dtype=torch.long, device=device), 1)
    levels, _ = _build(graphs, height)
    return _split(levels, 1)[0]


def _as_triple(item: Any, i: int) -> tuple[Tensor, int, Tensor | None]:
    if isinstance(item, (tuple, list)):
        if len(item) == 2:
            return item[0], item[1], None
        if len(item) == 3:
            return item[0], item[1], item[2]
        raise ValueError(f"graphs[{i}] must be (edge_index, num_nodes[, edge_weight])")
    if hasattr(item, "edge_index"):
        return item.edge_index, item.num_nodes, getattr(item, "edge_weight", None)
    raise TypeError(f"graphs[{i}] must be a PyG Data or an (edge_index, num_nodes) tuple")


def coding_trees(
    graphs: list[Any], height: int, *, return_entropy: bool = False
) -> list[list[Tensor]] | tuple[list[list[Tensor]], list[float]]:
    """:func:`coding_tree` for many graphs at once (vectorised over their disjoint union).

    ``graphs``: PyG ``Data`` objects or ``(edge_index, num_nodes[, edge_weight])``
    tuples. With ``return_entropy`` also the structural entropy of each tree.

    Example:
        >>> tri = torch.tensor([[0, 1, 2], [1, 2, 0]])
        >>> trees = coding_trees([(tri, 3), (tri, 4)], 2)
        >>> [t[0].tolist() for t in trees]  # node 3 of the second graph is isolated
        [[0, 0, 1], [0, 0, 1, 2]]
    """
    height = _check_height(height)
    if not isinstance(graphs, (list, tuple)):
        graphs = list(graphs)
    union = _union([_as_triple(g, i) for i, g in enumerate(graphs)])
    levels, ent = _build(union, height)
    trees = _split(levels, union.num_graphs)
    if return_entropy:
        return trees, ent.tolist()
    return trees


def tree_parents(data: Any) -> list[Tensor]:
    """Read the ``parents`` list stored by :class:`CodingTreeTransform` (``tree_batch_{l}``).

    Example:
        >>> from torch_geometric.data import Data
        >>> d = CodingTreeTransform(1)(Data(edge_index=torch.tensor([[0], [1]]), num_nodes=2))
        >>> tree_parents(d)
        [tensor([0, 0])]
    """
    out, l = [], 0
    while getattr(data, f"tree_batch_{l}", None) is not None:
        out.append(data[f"tree_batch_{l}"])
        l += 1
    if not out:
        raise ValueError("data has no coding tree (tree_batch_0 missing); apply CodingTreeTransform")
    return out


def tree_level_graph(parents: list[Tensor]) -> list[Tensor]:
    """Root (graph) id of every node of levels ``0..h-1`` (for per-level pooling).

    In a PyG mini-batch the top level maps to the graph index, so these are the
    ``batch`` vectors of every tree level.

    Example:
        >>> tree_level_graph([torch.tensor([0, 0, 1]), torch.tensor([0, 1])])
        [tensor([0, 0, 1]), tensor([0, 1])]
    """
    out = [parents[-1]]
    for p in reversed(parents[:-1]):
        out.append(out[-1][p])
    return out[::-1]


def attach_tree(data: Any, parents: list[Tensor]) -> Any:
    """Copy of ``data`` carrying the coding tree ``parents`` as ``tree_batch_0..h-1`` and ``tree_height``.

    Example:
        >>> from torch_geometric.data import Data
        >>> d = Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)
        >>> attach_tree(d, coding_tree(d.edge_index, 2, 2)).tree_height
        2
    """
    out = data.clone()
    for l, p in enumerate(parents):
        out[f"tree_batch_{l}"] = p
    out.tree_height = len(parents)
    return out


def coding_tree_transform(data: Any, height: int) -> Any:
    """Copy of ``data`` with its coding tree stored as ``tree_batch_0..h-1`` and ``tree_height``.

    Example:
        >>> from torch_geometric.data import Data
        >>> d = coding_tree_transform(Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2), 2)
        >>> d.tree_height, d.tree_batch_0.tolist(), d.tree_batch_1.tolist()
        (2, [0, 1], [0, 0])
    """
    ew = getattr(data, "edge_weight", None)
    return attach_tree(data, coding_tree(data.edge_index, data.num_nodes, height, ew))


class CodingTreeTransform:
    """Transform form of :func:`coding_tree_transform` (use as a pre-transform).

    Example:
        >>> from torch_geometric.data import Data
        >>> t = CodingTreeTransform(3)
        >>> t(Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)).tree_height
        3
    """

    def __init__(self, height: int = 5) -> None:
        self.height = _check_height(height)

    def __call__(self, data: Any) -> Any:
        return coding_tree_transform(data, self.height)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(height={self.height})"


def precompute_coding_trees(
    dataset: Any, height: int = 5, *, max_nodes: int = 200_000
) -> list[Any]:
    """Coding trees for a whole dataset: new ``Data`` objects as from :class:`CodingTreeTransform`.

    Graphs are processed in chunks of about ``max_nodes`` nodes, each chunk in
    one vectorised run (:func:`coding_trees`).

    Example:
        >>> from torch_geometric.data import Data
        >>> ds = [Data(edge_index=torch.tensor([[0, 1], [1, 0]]), num_nodes=2)] * 3
        >>> [d.tree_height for d in precompute_coding_trees(ds, 2)]
        [2, 2, 2]
    """
    height = _check_height(height)
    check_positive_int(max_nodes, "max_nodes")
    data_list = [dataset[i] for i in range(len(dataset))]
    out: list[Any] = []
    start = 0
    while start < len(data_list):
        stop, total = start, 0
        while stop < len(data_list) and (stop == start or total + data_list[stop].num_nodes
                                          <= max_nodes):
            total += data_list[stop].num_nodes
            stop += 1
        chunk = data_list[start:stop]
        trees = coding_trees(chunk, height)
        out.extend(attach_tree(d, t) for d, t in zip(chunk, trees))
        start = stop
    return out
