"""Tests of graphcl.augment.entropy_reference (SEGA's reference coding-tree algorithm)."""

from __future__ import annotations

import math

import pytest
import torch
from torch_geometric.data import Data

from graphcl.augment import coding_tree_reference, structural_entropy

# two triangles {0,1,2} and {3,4,5} joined by the edge 2-3
TWO = torch.tensor([[0, 0, 1, 3, 3, 4, 2], [1, 2, 2, 4, 5, 5, 3]])


def _random_graph(n: int, m: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, m), generator=g)
    return torch.cat([ei, ei.flip(0)], dim=1)


def _check_valid(parents: list[torch.Tensor], n: int, height: int) -> None:
    assert len(parents) == height
    size = n
    for level, p in enumerate(parents):
        assert p.dtype == torch.long and p.numel() == size, level
        nxt = int(p.max()) + 1 if p.numel() else 0
        # ids of the next level are contiguous: every next-level node has a child
        assert torch.equal(torch.unique(p), torch.arange(nxt)), level
        size = nxt
    assert size == (1 if n else 0)  # one root


@pytest.mark.parametrize("height", [1, 2, 3, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_valid_tree_of_given_height(height, seed):
    ei = _random_graph(25, 40, seed)
    parents = coding_tree_reference(ei, 25, height)
    _check_valid(parents, 25, height)
    # every leaf reaches the root through exactly `height` parents
    anc = torch.arange(25)
    for p in parents:
        anc = p[anc]
    assert anc.eq(0).all()
    assert math.isfinite(structural_entropy(ei, 25, parents))


def test_deterministic():
    ei = _random_graph(30, 60, 7)
    a = coding_tree_reference(ei, 30, 4)
    b = coding_tree_reference(ei, 30, 4)
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_two_triangles_with_bridge_hand_traced():
    # Hand trace of the reference: with +1 smoothing a leaf pair's combine-delta is
    # -2 cut log2(14 / (d1 + d2 + 2)) / 14, so (0,1) and (4,5) merge first, then the bridge (2,3)
    # (delta -0.081) before {0,1}+2 (-0.061); the full merge tree is ((01)(23))(45) and COMPRESS
    # removes (23) (compress-delta log2(11/7)) and then (01) (log2(11/5)) -> {0,1,2,3}, {4,5}.
    parents = coding_tree_reference(TWO, 6, 2)
    assert parents[0].tolist() == [0, 0, 0, 0, 1, 1]
    assert parents[1].tolist() == [0, 0]
    # structural entropy of that tree by hand: vol(G) = 14, community A = {0,1,2,3} (vol 10, cut 2),
    # B = {4,5} (vol 4, cut 2)
    deg = [2, 2, 3, 3, 2, 2]
    h = -sum(d / 14 * math.log2(d / 10) for d in deg[:4]) - sum(d / 14 * math.log2(d / 4) for d in deg[4:])
    h += -2 / 14 * math.log2(10 / 14) - 2 / 14 * math.log2(4 / 14)
    assert structural_entropy(TWO, 6, parents) == pytest.approx(h, abs=1e-12)


def test_two_components_are_the_two_communities():
    tri = torch.tensor([[0, 1, 2], [1, 2, 0]])
    ei = torch.cat([tri, tri + 3], dim=1)
    ei = torch.cat([ei, ei.flip(0)], dim=1)
    parents = coding_tree_reference(ei, 6, 2)
    assert parents[0].tolist() == [0, 0, 0, 1, 1, 1]


def test_leaf_up_keeps_top_partition_when_root_down_unavailable():
    # the height-2 root has 2 children, so root-down (needs >= 3) is unavailable and the third level
    # is added above the leaves: the level-2 grouping equals the height-2 communities
    p2 = coding_tree_reference(TWO, 6, 2)
    p3 = coding_tree_reference(TWO, 6, 3)
    assert torch.equal(p3[1][p3[0]], p2[0])
    assert p3[0].tolist() == [0, 0, 1, 1, 2, 3]  # {0,1,2,3} split into {0,1}, {2,3}; {4,5} single-child nodes


def test_degenerate_graphs():
    empty = torch.zeros(2, 0, dtype=torch.long)
    for n, height in [(4, 3), (1, 3), (3, 1)]:
        parents = coding_tree_reference(empty, n, height)
        _check_valid(parents, n, height)
    assert [p.numel() for p in coding_tree_reference(empty, 0, 2)] == [0, 0]
    # a triangle plus an isolated node and a self-loop (dropped as in the reference)
    ei = torch.tensor([[0, 1, 2, 3], [1, 2, 0, 3]])
    parents = coding_tree_reference(ei, 4, 2)
    _check_valid(parents, 4, 2)
    # merge tree (01)2 under a root joining the components; the component's root has compress-delta
    # 2 log2(7/7) = 0 < log2(7/5) of (01), so it is compressed first: communities {0,1}, {2}, {3}
    assert parents[0].tolist() == [0, 0, 1, 2]


def test_errors():
    with pytest.raises(ValueError, match="height"):
        coding_tree_reference(TWO, 6, 0)
    with pytest.raises(TypeError, match="height"):
        coding_tree_reference(TWO, 6, 2.0)
    with pytest.raises(ValueError, match="edge_index"):
        coding_tree_reference(torch.zeros(3, 2, dtype=torch.long), 6, 2)
    with pytest.raises(ValueError, match="edge_weight"):
        coding_tree_reference(TWO, 6, 2, edge_weight=torch.ones(3))


def test_prepare_trees_with_reference_builder():
    from graphcl.methods.sega import prepare_trees

    d = Data(x=torch.ones(6, 1), edge_index=torch.cat([TWO, TWO.flip(0)], dim=1), y=torch.tensor([0]))
    out, seconds = prepare_trees([d], 3, max_degree=4, builder="reference")
    expect = coding_tree_reference(d.edge_index, 6, 3)
    assert out[0].tree_height == 3 and seconds >= 0
    assert all(torch.equal(out[0][f"tree_batch_{l}"], expect[l]) for l in range(3))
    with pytest.raises(ValueError, match="builder"):
        prepare_trees([d], 3, builder="exact")
