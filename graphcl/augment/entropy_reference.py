"""Coding trees built the way SEGA's reference code builds them (plain, per graph).

:func:`coding_tree_reference` follows the algorithm of the reference builder
(``unsupervised_TU/codingTree.py`` of Wu-Junran/SEGA, ``PartitionTreeV2`` in
mode ``v2``), written here from its description; it returns the same
``parents`` format as :func:`graphcl.augment.coding_tree` (see
:mod:`graphcl.augment.entropy`), so SEGA can use either builder
(``tree_builder: reference`` in ``graphcl/configs/sega.yaml``).

How it differs from :func:`graphcl.augment.coding_tree` (``greedy``): the
reference MERGEs the pair of neighbouring communities with the smallest
combine-delta *even when the entropy rises*, until every connected component is
one node (components are then joined under one root), i.e. it builds a full
binary merge tree; it then COMPRESSes (removes the internal node with the
smallest compress-delta, its children move to its parent) until the tree has
height 2. Heights above 2 are grown one level at a time: *leaf-up* rebuilds
every level-1 community with >= 3 leaves as its own height-2 tree on the
community's subgraph (new level above the leaves; communities with <= 2
leaves get single-child nodes), *root-down* does the same on the root's
children when there are >= 3 of them (new level below the root), and the
candidate with the larger (normalised) entropy decrease is applied.

Faithful details (all from the reference): the deltas use ``vol + 1`` and
``g + 1`` smoothing; merge candidates sit in a heap ordered by
``(delta, id1, id2)`` with ids given by one counter (leaves are ``0..N-1``);
leaf-up's decrease is divided by ``N``, root-down's by the number of root
children, and leaf-up wins ties; after a level the option not taken is reused
for the next level. Self-loops are dropped (the reference zeroes the diagonal).

Deviations, which only matter in corner cases: sets the reference iterates in
CPython set order are iterated in sorted id order here (this can change which
ids new nodes get, hence tie-breaking between equal deltas); root-down is never
chosen when it is unavailable (< 3 root children), where the reference would
fail if leaf-up's decrease were negative; a single-node graph gets a chain of
single-child nodes. Ids of each output level are assigned in order of the
smallest leaf below each node.

Pure Python + numpy on a dense adjacency: meant for small graphs (TU datasets,
tens of nodes), ``O(N^3)`` work per level at worst.
"""

from __future__ import annotations

import heapq
import math
from itertools import count
from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphcl.augment.community import undirected_edges

__all__ = ["coding_tree_reference"]


class _Node:
    """One tree node: its leaf set, volume, cut (``g``) and links."""

    __slots__ = ("leaves", "vol", "g", "children", "parent", "child_h", "child_cut", "merged")

    def __init__(self, leaves: list[int], vol: float, g: float, children: list[int] | None = None,
                 child_h: int = 0, child_cut: float = 0.0) -> None:
        self.leaves = leaves
        self.vol = vol
        self.g = g
        self.children = children  # None for a leaf
        self.parent: int | None = None
        self.child_h = child_h  # height of the subtree below this node
        self.child_cut = child_cut  # weight between the two halves joined by the merge that made the node
        self.merged = False


def _combine_delta(a: _Node, b: _Node, cut: float, g_vol: float) -> float:
    """Reference combine-delta of merging ``a`` and ``b`` (smaller is merged first; may be positive)."""
    v1, v2 = a.vol + 1.0, b.vol + 1.0
    g1, g2 = a.g + 1.0, b.g + 1.0
    v12 = v1 + v2
    return ((v1 - g1) * math.log2(v12 / v1) + (v2 - g2) * math.log2(v12 / v2)
            - 2.0 * cut * math.log2(g_vol / v12)) / g_vol


def _term(g: float, total: float, vol: float, parent_vol: float) -> float:
    """Entropy term ``-(g / total) log2(vol / parent_vol)``; 0 when ``g = 0`` (edgeless parts)."""
    return -g / total * math.log2(vol / parent_vol) if g != 0 else 0.0


def _compress_delta(node: _Node, parent: _Node) -> float:
    """Reference compress-delta of removing ``node`` (its children move to ``parent``)."""
    return node.child_cut * math.log2((parent.vol + 1.0) / (node.vol + 1.0))


class _Builder:
    def __init__(self, adj: np.ndarray) -> None:
        self.adj = adj
        self.n = adj.shape[0]
        self.deg = adj.sum(axis=1)
        self.total = float(self.deg.sum())  # vol(G)
        self.ids = count()
        self.tree: dict[int, _Node] = {}
        for v in range(self.n):
            i = next(self.ids)
            self.tree[i] = _Node([v], float(self.deg[v]), float(self.deg[v]))
        self.root: int | None = None

    # -- helpers ---------------------------------------------------------------------------
    def _cut(self, a: _Node, b: _Node) -> float:
        return float(self.adj[np.ix_(a.leaves, b.leaves)].sum())

    @staticmethod
    def _depth(nodes: dict[int, _Node], i: int) -> int:
        """Number of ancestors of ``i`` plus the height of its subtree."""
        d, p = nodes[i].child_h, nodes[i].parent
        while p is not None:
            d, p = d + 1, nodes[p].parent
        return d

    def _entropy(self, nodes: dict[int, _Node]) -> float:
        """Smoothed entropy of the nodes of ``nodes`` that have a parent (reference formula)."""
        h = 0.0
        for node in nodes.values():
            if node.parent is not None:
                h += _term(node.g, self.total, node.vol + 1.0, nodes[node.parent].vol + 1.0)
        return h

    # -- the height-2 builder (merge to one root, compress to height k) --------------------
    def _build_k(self, nodes: dict[int, _Node], g_vol: float, k: int) -> int:
        heap: list[tuple[float, int, int, float]] = []
        keys = sorted(nodes)
        member = np.zeros((len(keys), self.n))
        for a, i in enumerate(keys):
            member[a, nodes[i].leaves] = 1.0
        cuts = member @ self.adj @ member.T  # weight between every two items
        for a, b in zip(*np.nonzero(np.triu(cuts, 1))):
            i, j, cut = keys[a], keys[b], float(cuts[a, b])
            heap.append((_combine_delta(nodes[i], nodes[j], cut, g_vol), i, j, cut))
        heapq.heapify(heap)
        cmp_heap: list[list[Any]] = []
        alive = set(keys)  # items not merged yet
        root: int | None = None
        while len(alive) > 1 and heap:
            _, i, j, cut = heapq.heappop(heap)
            if nodes[i].merged or nodes[j].merged:
                continue
            a, b = nodes[i], nodes[j]
            a.merged = b.merged = True
            alive -= {i, j}
            new = next(self.ids)
            nodes[new] = _Node(a.leaves + b.leaves, a.vol + b.vol, a.g + b.g - 2.0 * cut, [i, j],
                               max(a.child_h, b.child_h) + 1, cut)
            a.parent = b.parent = new
            for c in (i, j):
                if nodes[c].child_h > 0:
                    heapq.heappush(cmp_heap, [_compress_delta(nodes[c], nodes[new]), c, new])
            root = new
            to_new = self.adj[:, nodes[new].leaves].sum(axis=1)  # weight from every vertex to the new item
            for other in sorted(alive):
                c2 = float(to_new[nodes[other].leaves].sum())
                if c2 != 0:
                    heapq.heappush(heap, (_combine_delta(nodes[other], nodes[new], c2, g_vol), other, new, c2))
            alive.add(new)
        if len(alive) > 1:  # several components: one root above their roots
            rest = sorted(alive)
            new = next(self.ids)
            leaves = [v for i in rest for v in nodes[i].leaves]
            nodes[new] = _Node(leaves, g_vol, 0.0, rest, max(nodes[i].child_h for i in rest) + 1)
            for i in rest:
                nodes[i].merged = True
                nodes[i].parent = new
                if nodes[i].child_h > 0:
                    heapq.heappush(cmp_heap, [_compress_delta(nodes[i], nodes[new]), i, new])
            root = new
        if root is None:  # a single node: a root above it
            (only,) = nodes
            root = next(self.ids)
            nodes[root] = _Node(list(nodes[only].leaves), nodes[only].vol, nodes[only].g, [only], 1)
            nodes[only].parent = root
        while nodes[root].child_h > k and cmp_heap:
            _, i, p = heapq.heappop(cmp_heap)
            if self._depth(nodes, i) <= k:
                continue
            moved = list(nodes[i].children or [])
            self._compress(nodes, i, p)
            if nodes[root].child_h == k:
                break
            for e in cmp_heap:
                if e[1] == p and self._depth(nodes, p) > k:
                    e[0] = _compress_delta(nodes[p], nodes[e[2]])
                if e[1] in moved and nodes[e[1]].child_h > 0 and self._depth(nodes, e[1]) > k:
                    e[2] = p
                    e[0] = _compress_delta(nodes[e[1]], nodes[p])
            heapq.heapify(cmp_heap)
        return root

    @staticmethod
    def _compress(nodes: dict[int, _Node], i: int, p: int) -> None:
        node, par = nodes[i], nodes[p]
        par.child_cut += node.child_cut
        par.children = [c for c in par.children if c != i] + list(node.children or [])
        for c in node.children or []:
            nodes[c].parent = p
        del nodes[i]
        cur: int | None = p
        while cur is not None:  # heights above may shrink
            h = max(nodes[c].child_h for c in nodes[cur].children) + 1
            if h == nodes[cur].child_h:
                break
            nodes[cur].child_h = h
            cur = nodes[cur].parent

    def _single_up(self, nodes: dict[int, _Node], i: int) -> None:
        """Insert a single-child node between ``i`` and its parent."""
        new = next(self.ids)
        p = nodes[i].parent
        up = _Node(nodes[i].leaves, nodes[i].vol, nodes[i].g, [i], nodes[i].child_h + 1)
        up.parent = p
        nodes[p].children = [new if c == i else c for c in nodes[p].children]
        nodes[i].parent = new
        nodes[new] = up

    def _balance(self, nodes: dict[int, _Node], root: int) -> None:
        for c in sorted(nodes[root].children):
            if nodes[c].child_h == 0:
                self._single_up(nodes, c)

    # -- growing one level -----------------------------------------------------------------
    def _leaf_up(self) -> tuple[float, dict[int, dict[int, _Node] | None]]:
        """Candidate new level above the leaves: per level-1 node its height-2 subtree (or None)."""
        h1 = sorted({self.tree[v].parent for v in range(self.n)})
        delta, plans = 0.0, {}
        for c in h1:
            com = self.tree[c]
            if len(com.leaves) < 3:
                plans[c] = None
                continue
            sub: dict[int, _Node] = {}
            before = 0.0
            for v in com.leaves:
                leaf = self.tree[v]
                before += _term(leaf.g, self.total, leaf.vol + 1.0, com.vol + 1.0)
                inner = float(self.adj[v, com.leaves].sum())
                sub[v] = _Node([v], inner, inner)
            sub_root = self._build_k(sub, com.vol - com.g, 2)
            self._balance(sub, sub_root)
            # entropy of the new subtree with the volumes and cuts of the whole graph
            after = 0.0
            sub[sub_root].vol, sub[sub_root].g = com.vol, com.g
            for i in sub[sub_root].children:
                mid = sub[i]
                inner_vol = mid.vol - mid.g
                mid.vol = float(sum(self.tree[v].vol for v in mid.leaves))
                mid.g = mid.vol - inner_vol
                after += _term(mid.g, self.total, mid.vol + 1.0, com.vol + 1.0)
                for v in mid.children:
                    leaf = self.tree[v]
                    after += _term(leaf.g, self.total, leaf.vol + 1.0, mid.vol + 1.0)
            delta += before - after
            plans[c] = {i: sub[i] for i in sub[sub_root].children}
        return delta / self.n, plans

    def _apply_leaf_up(self, plans: dict[int, dict[int, _Node] | None]) -> None:
        for c, plan in plans.items():
            if plan is None:
                for v in sorted(self.tree[c].children):
                    self._single_up(self.tree, v)
                continue
            self.tree[c].children = sorted(plan)
            for i, mid in plan.items():
                mid.parent = c
                self.tree[i] = mid
                for v in mid.children:
                    self.tree[v].parent = i

    def _root_down(self) -> tuple[float, dict[int, _Node] | None]:
        """Candidate new level below the root: new nodes grouping the root's children (None if < 3 children)."""
        root = self.tree[self.root]
        kids = sorted(root.children)
        if len(kids) < 3:
            return 0.0, None
        g_vol = root.vol
        sub: dict[int, _Node] = {}
        before = 0.0
        for i in kids:
            node = self.tree[i]
            before += _term(node.g, g_vol, node.vol + 1.0, g_vol)  # the reference's normalisation here
            sub[i] = _Node(node.leaves, node.vol, node.g)
        new_root = self._build_k(sub, g_vol, 2)
        self._balance(sub, new_root)
        after = self._entropy(sub)
        return (before - after) / len(kids), {i: sub[i] for i in sub[new_root].children}

    def _apply_root_down(self, mids: dict[int, _Node]) -> None:
        self.tree[self.root].children = sorted(mids)
        for i, mid in mids.items():
            mid.parent = self.root
            self.tree[i] = mid
            for c in mid.children:
                self.tree[c].parent = i

    def build(self, k: int) -> None:
        self.root = self._build_k(self.tree, self.total, 2)
        self._balance(self.tree, self.root)
        height = 2
        leaf_up = root_down = None
        while height < k:
            if leaf_up is None:
                leaf_up = self._leaf_up()
            if root_down is None:
                root_down = self._root_down()
            (lu_delta, plans), (rd_delta, groups) = leaf_up, root_down
            if groups is not None and lu_delta < rd_delta:
                self._apply_root_down(groups)
                root_down = None  # leaf-up option stays valid (levels 0-1 unchanged)
            else:
                self._apply_leaf_up(plans)
                leaf_up = None  # root-down option stays valid (the root's children unchanged)
            height += 1

    def parents(self, k: int, device: torch.device) -> list[Tensor]:
        level = list(range(self.n))  # node ids of the current level, in output order
        out: list[Tensor] = []
        for _ in range(k):
            ups: list[int] = []
            pos: dict[int, int] = {}
            index = []
            for i in level:
                p = self.tree[i].parent
                if p is None:
                    raise RuntimeError("coding tree is shorter than the requested height")
                if p not in pos:
                    pos[p] = len(ups)
                    ups.append(p)
                index.append(pos[p])
            out.append(torch.tensor(index, dtype=torch.long, device=device))
            level = ups
        if len(level) != 1 or self.tree[level[0]].parent is not None:
            raise RuntimeError("coding tree is not balanced at the requested height")
        return out


def coding_tree_reference(
    edge_index: Tensor,
    num_nodes: int | None,
    height: int,
    edge_weight: Tensor | None = None,
) -> list[Tensor]:
    """Coding tree of the given ``height`` built as SEGA's reference code does (module notes).

    Same output as :func:`graphcl.augment.coding_tree`: ``parents``, ``height``
    LongTensors on the input's device.

    Example:
        >>> two = torch.tensor([[0, 0, 1, 3, 3, 4, 2], [1, 2, 2, 4, 5, 5, 3]])  # triangles + bridge
        >>> coding_tree_reference(two, 6, 2)[0].tolist()  # the bridge pair merges early (tests: hand trace)
        [0, 0, 0, 0, 1, 1]
    """
    if isinstance(height, bool) or not isinstance(height, int):
        raise TypeError(f"height must be an int >= 1, got {type(height).__name__}")
    if height < 1:
        raise ValueError(f"height must be >= 1, got {height}")
    u, v, w, n = undirected_edges(edge_index, num_nodes, edge_weight)
    device = edge_index.device
    if height == 1 or n <= 1:
        return [torch.zeros(n if l == 0 else min(n, 1), dtype=torch.long, device=device) for l in range(height)]
    adj = np.zeros((n, n), dtype=np.float64)
    keep = (u != v) & (w != 0)
    uu, vv, ww = (t[keep].cpu().numpy() for t in (u, v, w))
    adj[uu, vv] = ww
    adj[vv, uu] = ww
    builder = _Builder(adj)
    builder.build(height)
    return builder.parents(height, device)
