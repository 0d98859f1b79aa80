"""Tests for graphcl.augment.entropy: structural entropy and greedy coding trees (SEGA)."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphcl.augment.entropy import (
    CodingTreeTransform,
    coding_tree,
    coding_tree_transform,
    coding_trees,
    precompute_coding_trees,
    structural_entropy,
    tree_level_graph,
    tree_parents,
)


def _sym(pairs: list[tuple[int, int]]) -> torch.Tensor:
    ei = torch.tensor(pairs, dtype=torch.long).t()
    return torch.cat([ei, ei.flip(0)], dim=1)


def _cliques(k: int, m: int = 2) -> tuple[torch.Tensor, int]:
    """``m`` cliques of size ``k``, consecutive cliques joined by one edge."""
    pairs = []
    for c in range(m):
        pairs += [(c * k + i, c * k + j) for i, j in itertools.combinations(range(k), 2)]
    pairs += [(c * k + k - 1, (c + 1) * k) for c in range(m - 1)]
    return _sym(pairs), k * m


def _random_graph(n: int, p: float, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    iu = torch.triu_indices(n, n, offset=1)
    keep = torch.rand(iu.size(1), generator=g) < p
    ei = iu[:, keep]
    return torch.cat([ei, ei.flip(0)], dim=1)


def _brute_entropy(pairs: list[tuple[int, int, float]], n: int, parents: list[list[int]]) -> float:
    """Reference: enumerate tree nodes as leaf sets, compute vol/cut with Python sets."""
    deg = [0.0] * n
    for u, v, w in pairs:
        deg[u] += w
        deg[v] += w
    vol_g = sum(deg)
    # leaf set of every tree node, level by level
    sets = [[{i} for i in range(n)]]
    for par in parents:
        size = max(par) + 1 if par else 0
        nxt = [set() for _ in range(size)]
        for child, p in enumerate(par):
            nxt[p] |= sets[-1][child]
        sets.append(nxt)
    h = 0.0
    for level in range(len(parents)):
        for child, p in enumerate(parents[level]):
            s, ps = sets[level][child], sets[level + 1][p]
            vol = sum(deg[i] for i in s)
            pvol = sum(deg[i] for i in ps)
            cut = sum(w for u, v, w in pairs if (u in s) != (v in s))
            if cut > 0:
                h -= cut / vol_g * math.log2(vol / pvol)
    return h


def _check_format(parents: list[torch.Tensor], n: int, height: int) -> None:
    assert len(parents) == height
    assert parents[0].numel() == n
    for l, p in enumerate(parents):
        assert p.dtype == torch.long
        size = parents[l + 1].numel() if l + 1 < height else 1
        if p.numel():
            assert int(p.min()) >= 0 and int(p.max()) < size
            # every node of the next level has at least one child (contiguous ids)
            assert bool((torch.bincount(p, minlength=size) > 0).all())
    assert bool((parents[-1] == 0).all())


# ---------------------------------------------------------------- entropy by hand
def test_triangle_flat_tree_is_log2_3() -> None:
    # Triangle: every leaf has g = d = 2, vol(G) = 6, parent (root) vol 6:
    # H = -3 * (2/6) * log2(2/6) = log2(3).
    tri = _sym([(0, 1), (1, 2), (0, 2)])
    h = structural_entropy(tri, 3, [torch.zeros(3, dtype=torch.long)])
    assert h == pytest.approx(math.log2(3), abs=1e-12)


def test_path_flat_and_two_level_by_hand() -> None:
    # Path 0-1-2: degrees 1, 2, 1, vol(G) = 4.
    # flat: -(1/4)log2(1/4) * 2 - (2/4)log2(2/4) = 1 + 0.5 = 1.5
    path = _sym([(0, 1), (1, 2)])
    assert structural_entropy(path, 3, [torch.zeros(3, dtype=torch.long)]) == pytest.approx(1.5)
    # communities {0, 1} (vol 3, cut 1) and {2} (vol 1, cut 1):
    # {0,1}: -(1/4)log2(3/4); leaf 0: -(1/4)log2(1/3); leaf 1: -(2/4)log2(2/3);
    # {2}:  -(1/4)log2(1/4); leaf 2 under {2}: log2(1/1) = 0.
    expected = -(
        0.25 * math.log2(3 / 4) + 0.25 * math.log2(1 / 3) + 0.5 * math.log2(2 / 3)
        + 0.25 * math.log2(1 / 4)
    )
    parents = [torch.tensor([0, 0, 1]), torch.tensor([0, 0])]
    assert structural_entropy(path, 3, parents) == pytest.approx(expected, abs=1e-12)


def test_triangle_two_communities_by_hand() -> None:
    # {0,1}: g = 2, vol 4 -> -(2/6)log2(4/6); leaves 0, 1: -(2/6)log2(2/4) each;
    # {2}: g = 2, vol 2 -> -(2/6)log2(2/6); leaf 2: 0.  Total ~ 1.3900 < log2(3).
    tri = _sym([(0, 1), (1, 2), (0, 2)])
    expected = -(2 / 6) * (math.log2(4 / 6) + 2 * math.log2(2 / 4) + math.log2(2 / 6))
    h = structural_entropy(tri, 3, [torch.tensor([0, 0, 1]), torch.tensor([0, 0])])
    assert h == pytest.approx(expected, abs=1e-12)
    assert h < math.log2(3)


def test_entropy_matches_bruteforce_on_random_trees() -> None:
    g = torch.Generator().manual_seed(3)
    for seed in range(6):
        n = 12
        ei = _random_graph(n, 0.3, seed)
        w = torch.rand(ei.size(1) // 2, generator=g) + 0.1
        ew = torch.cat([w, w])
        # random tree of height 3: 12 leaves -> 5 -> 2 -> root (ensure every node has a child)
        p0 = torch.cat([torch.arange(5), torch.randint(0, 5, (n - 5,), generator=g)])
        p1 = torch.tensor([0, 1, 0, 1, 1])
        parents = [p0, p1, torch.zeros(2, dtype=torch.long)]
        half = ei.size(1) // 2
        pairs = [(int(u), int(v), float(x)) for u, v, x in zip(ei[0, :half], ei[1, :half], w)]
        ref = _brute_entropy(pairs, n, [p.tolist() for p in parents])
        assert structural_entropy(ei, n, parents, ew) == pytest.approx(ref, abs=1e-9)


def test_entropy_edge_cases() -> None:
    empty = torch.zeros(2, 0, dtype=torch.long)
    assert structural_entropy(empty, 4, [torch.zeros(4, dtype=torch.long)]) == 0.0
    # isolated node 3 contributes nothing; a self-loop adds to vol but is never cut
    tri = _sym([(0, 1), (1, 2), (0, 2)])
    h = structural_entropy(tri, 4, [torch.zeros(4, dtype=torch.long)])
    assert h == pytest.approx(math.log2(3))
    loop = torch.cat([tri, torch.tensor([[0], [0]])], dim=1)
    # degrees 4, 2, 2 (self-loop counts twice), cuts 2, 2, 2, vol 8
    expected = -(2 / 8) * (math.log2(4 / 8) + 2 * math.log2(2 / 8))
    assert structural_entropy(loop, 3, [torch.zeros(3, dtype=torch.long)]) == pytest.approx(expected)
    # scale invariance under uniform weights
    ew = torch.full((tri.size(1),), 3.0)
    assert structural_entropy(tri, 3, [torch.zeros(3, dtype=torch.long)], ew) == pytest.approx(
        math.log2(3)
    )


def test_entropy_errors() -> None:
    tri = _sym([(0, 1), (1, 2), (0, 2)])
    with pytest.raises(TypeError, match="parents"):
        structural_entropy(tri, 3, [])
    with pytest.raises(ValueError, match="num_nodes=3"):
        structural_entropy(tri, 3, [torch.zeros(2, dtype=torch.long)])
    with pytest.raises(ValueError, match="root level must be all zeros"):
        structural_entropy(tri, 3, [torch.tensor([0, 1, 1])])
    with pytest.raises(ValueError, match=r"parents\[0\] has an id out of range"):
        structural_entropy(tri, 3, [torch.tensor([0, 2, 1]), torch.zeros(2, dtype=torch.long)])
    with pytest.raises(TypeError, match=r"parents\[0\] must be an integer"):
        structural_entropy(tri, 3, [torch.zeros(3)])


# ------------------------------------------------------------------ coding trees
def test_two_cliques_height_two_finds_the_cliques() -> None:
    ei, n = _cliques(12)
    parents = coding_tree(ei, n, 2)
    _check_format(parents, n, 2)
    assert parents[0].tolist() == [0] * 12 + [1] * 12
    flat = structural_entropy(ei, n, [torch.zeros(n, dtype=torch.long)])
    assert structural_entropy(ei, n, parents) < flat - 0.5


def test_small_cliques_bridge_local_minimum_still_lowers_entropy() -> None:
    # Documented limitation of greedy merging: for small cliques the two bridge
    # endpoints end up as their own community; the tree is still far below the flat one.
    ei, n = _cliques(5)
    parents = coding_tree(ei, n, 2)
    assert parents[0].tolist() == [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]
    flat = structural_entropy(ei, n, [torch.zeros(n, dtype=torch.long)])
    assert structural_entropy(ei, n, parents) < flat


def test_height_one_and_edge_cases() -> None:
    ei, n = _cliques(4)
    assert [p.tolist() for p in coding_tree(ei, n, 1)] == [[0] * n]
    empty = torch.zeros(2, 0, dtype=torch.long)
    p = coding_tree(empty, 3, 2)
    assert [x.tolist() for x in p] == [[0, 1, 2], [0, 0, 0]]
    p = coding_tree(empty, 3, 4)
    _check_format(p, 3, 4)
    assert p[0].tolist() == [0, 1, 2]
    assert coding_tree(empty, 0, 2)[0].numel() == 0


def test_disconnected_graph_with_isolated_nodes() -> None:
    # two triangles (0-2, 3-5), an edge 6-7, isolated nodes 8 and 9
    ei = _sym([(0, 1), (1, 2), (0, 2), (3, 4), (4, 5), (3, 5), (6, 7)])
    n = 10
    comp = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 3, 4])
    for height in (2, 3, 4):
        parents = coding_tree(ei, n, height)
        _check_format(parents, n, height)
        anc = torch.arange(n)
        for p in parents[:-1]:
            anc = p[anc]
            # no tree node below the root mixes two components
            for node in anc.unique():
                assert comp[anc == node].unique().numel() == 1
        p0 = parents[0]
        assert p0[8] != p0[9] and int((p0 == p0[8]).sum()) == 1  # isolated: own community


def test_format_monotone_entropy_and_tracked_entropy() -> None:
    graphs = [(_random_graph(30, 0.15, s), 30) for s in range(4)]
    prev = None
    for height in range(1, 6):
        trees, ents = coding_trees(graphs, height, return_entropy=True)
        cur = []
        for (ei, n), parents, e in zip(graphs, trees, ents):
            _check_format(parents, n, height)
            h = structural_entropy(ei, n, parents)
            assert h == pytest.approx(e, abs=1e-9)
            cur.append(h)
        if prev is not None:  # each growth step never raises the entropy
            assert all(c <= p + 1e-9 for c, p in zip(cur, prev))
        prev = cur


def test_hierarchy_of_cliques() -> None:
    # 4 cliques of 12 in a chain: height 2 finds the 4 cliques, height 3 adds a level
    ei, n = _cliques(12, 4)
    p2 = coding_tree(ei, n, 2)
    assert p2[0].tolist() == sum(([c] * 12 for c in range(4)), [])
    p3 = coding_tree(ei, n, 3)
    _check_format(p3, n, 3)
    assert structural_entropy(ei, n, p3) <= structural_entropy(ei, n, p2) + 1e-12


def test_batched_equals_single_and_deterministic() -> None:
    graphs = [(_random_graph(n, 0.2, s), n) for s, n in enumerate([5, 17, 30, 1, 24])]
    batched = coding_trees(graphs, 4)
    again = coding_trees(graphs, 4)
    for (ei, n), tb, ta in zip(graphs, batched, again):
        single = coding_tree(ei, n, 4)
        assert [x.tolist() for x in single] == [x.tolist() for x in tb]
        assert [x.tolist() for x in ta] == [x.tolist() for x in tb]


def test_weighted_uniform_weights_same_tree() -> None:
    ei = _random_graph(25, 0.2, 7)
    plain = coding_tree(ei, 25, 3)
    weighted = coding_tree(ei, 25, 3, torch.full((ei.size(1),), 2.5))
    assert [x.tolist() for x in plain] == [x.tolist() for x in weighted]


def test_coding_tree_errors() -> None:
    ei, n = _cliques(3)
    with pytest.raises(ValueError, match="height must be >= 1"):
        coding_tree(ei, n, 0)
    with pytest.raises(TypeError, match="height must be an int"):
        coding_tree(ei, n, 2.0)
    with pytest.raises(ValueError, match="num_nodes"):
        coding_tree(ei, 3, 2)
    with pytest.raises(ValueError, match="at least one graph"):
        coding_trees([], 2)


# -------------------------------------------------------------------- transforms
def test_transform_and_pyg_batching() -> None:
    ei1, n1 = _cliques(4)
    ei2, n2 = _cliques(3, 3)
    d1 = Data(edge_index=ei1, num_nodes=n1)
    d2 = Data(edge_index=ei2, num_nodes=n2)
    t = CodingTreeTransform(3)
    a, b = t(d1), t(d2)
    assert a.tree_height == 3 and not hasattr(d1, "tree_batch_0")
    assert [x.tolist() for x in tree_parents(a)] == [x.tolist() for x in coding_tree(ei1, n1, 3)]
    batch = Batch.from_data_list([a, b])
    parents = tree_parents(batch)
    # the batched levels are the per-graph levels with offsets
    pa, pb = tree_parents(a), tree_parents(b)
    for l in range(3):
        offset = pa[l + 1].numel() if l + 1 < 3 else 1
        assert parents[l].tolist() == pa[l].tolist() + (pb[l] + offset).tolist()
    level_graph = tree_level_graph(parents)
    assert level_graph[0].tolist() == batch.batch.tolist()
    assert parents[-1].tolist() == level_graph[-1].tolist()
    with pytest.raises(ValueError, match="no coding tree"):
        tree_parents(d1)


def test_precompute_chunks_match_single() -> None:
    data = [Data(edge_index=_random_graph(n, 0.25, n), num_nodes=n) for n in (8, 12, 3, 20)]
    out = precompute_coding_trees(data, 3, max_nodes=15)  # forces several chunks
    for d, o in zip(data, out):
        expect = coding_tree_transform(d, 3)
        assert [x.tolist() for x in tree_parents(o)] == [x.tolist() for x in tree_parents(expect)]


def test_cached_coarsened_build_equals_plain_build(monkeypatch: pytest.MonkeyPatch) -> None:
    # the growth-option cache and the coarsened MERGE rounds are exact shortcuts: the plain
    # build (both growth options merged every step, MERGE rounds recomputed from the items)
    # must give the same trees and entropies, weighted (dyadic weights: exact sums) or not
    import graphcl.augment.entropy as ent

    graphs = [(_random_graph(n, p, s), n) for s, (n, p) in enumerate(
        [(30, 0.12), (45, 0.08), (12, 0.3), (60, 0.05), (25, 0.2), (1, 0.5), (40, 0.1)])]
    g = torch.Generator().manual_seed(3)
    weighted = [(ei, n, torch.randint(1, 8, (ei.size(1),), generator=g).double() / 4)
                for ei, n in graphs]
    for batch in (graphs, weighted):
        for k in (3, 4, 5):
            fast, h_fast = coding_trees(batch, k, return_entropy=True)
            monkeypatch.setattr(ent, "_CACHE", False)
            monkeypatch.setattr(ent, "_COARSEN", False)
            plain, h_plain = coding_trees(batch, k, return_entropy=True)
            monkeypatch.undo()
            assert [[x.tolist() for x in t] for t in fast] == [[x.tolist() for x in t] for t in plain]
            assert h_fast == pytest.approx(h_plain, abs=1e-12)
