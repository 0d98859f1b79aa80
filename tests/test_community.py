"""Tests for graphcl.augment.community: communities, strengths, CED and CAV (CSGCL)."""

from __future__ import annotations

import importlib.util
import itertools
import math

import networkx as nx
import pytest
import torch
from torch_geometric.data import Data

from graphcl.augment.community import (
    CommunalAttributeVoting,
    CommunalEdgeDrop,
    CommunityStrength,
    attach_community_strength,
    communal_attribute_drop_prob,
    communal_attribute_mask,
    communal_edge_drop,
    communal_edge_keep_prob,
    communal_edge_weights,
    community_strength,
    detect_communities,
)


def _sym(pairs: list[tuple[int, int]]) -> torch.Tensor:
    ei = torch.tensor(pairs, dtype=torch.long).t()
    return torch.cat([ei, ei.flip(0)], dim=1)


def _karate() -> tuple[nx.Graph, torch.Tensor]:
    g = nx.Graph(list(nx.karate_club_graph().edges()))  # unweighted copy
    return g, _sym(list(g.edges()))


def _two_cliques(k: int = 5) -> tuple[torch.Tensor, int]:
    pairs = [(i, j) for i, j in itertools.combinations(range(k), 2)]
    pairs += [(k + i, k + j) for i, j in itertools.combinations(range(k), 2)]
    pairs.append((k - 1, k))
    return _sym(pairs), 2 * k


# --------------------------------------------------------------- communities
def test_detect_communities_two_cliques_isolated_and_contiguous() -> None:
    ei, n = _two_cliques()
    comm = detect_communities(ei, n + 2, method="louvain", seed=0)
    assert comm.dtype == torch.long and comm.shape == (n + 2,)
    assert comm.tolist() == [0] * 5 + [1] * 5 + [2, 3]  # isolated nodes: own communities
    ei_k = _karate()[1]
    a = detect_communities(ei_k, 34, method="louvain", seed=3)
    b = detect_communities(ei_k, 34, method="louvain", seed=3)
    assert torch.equal(a, b)
    assert sorted(a.unique().tolist()) == list(range(int(a.max()) + 1))
    assert detect_communities(torch.zeros(2, 0, dtype=torch.long), 3).tolist() == [0, 1, 2]


def test_detect_communities_auto_and_leiden() -> None:
    ei, n = _two_cliques()
    if importlib.util.find_spec("leidenalg") is None or importlib.util.find_spec("igraph") is None:
        with pytest.raises(ImportError, match="leidenalg"):
            detect_communities(ei, n, method="leiden")
        auto = detect_communities(ei, n, method="auto")
        assert torch.equal(auto, detect_communities(ei, n, method="louvain"))
    else:
        comm = detect_communities(ei, n, method="leiden", seed=0)
        assert comm.tolist() == [0] * 5 + [1] * 5


def test_detect_communities_errors() -> None:
    ei, n = _two_cliques()
    with pytest.raises(ValueError, match="method must be"):
        detect_communities(ei, n, method="girvan")
    with pytest.raises(ValueError, match="resolution"):
        detect_communities(ei, n, resolution=0.0)
    with pytest.raises(ValueError, match="num_nodes"):
        detect_communities(ei, 3)


# ------------------------------------------------------------------ strength
def test_strength_sums_to_networkx_modularity() -> None:
    g, ei = _karate()
    comm = detect_communities(ei, 34, method="louvain", seed=0)
    s, s_node = community_strength(ei, 34, comm)
    groups = [set((comm == c).nonzero().flatten().tolist()) for c in range(int(comm.max()) + 1)]
    assert float(s.sum()) == pytest.approx(nx.community.modularity(g, groups), abs=1e-6)
    assert torch.equal(s_node, s[comm])
    # an arbitrary (bad) partition too, with a negative modularity
    bad = torch.arange(34) % 3
    s_bad, _ = community_strength(ei, 34, bad)
    groups = [set(range(c, 34, 3)) for c in range(3)]
    assert float(s_bad.sum()) == pytest.approx(nx.community.modularity(g, groups), abs=1e-6)


def test_strength_weighted_selfloop_and_edge_counting() -> None:
    # each undirected edge counted once: both directions, duplicates and one-way entries agree
    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 0], [1, 0, 2, 1, 3, 2, 0]])  # path + self-loop at 0
    w = torch.tensor([2.0, 2.0, 1.0, 1.0, 3.0, 3.0, 0.5])
    comm = torch.tensor([0, 0, 1, 1])
    s, _ = community_strength(ei, 4, comm, w)
    g = nx.Graph()
    g.add_weighted_edges_from([(0, 1, 2.0), (1, 2, 1.0), (2, 3, 3.0), (0, 0, 0.5)])
    ref = nx.community.modularity(g, [{0, 1}, {2, 3}], weight="weight")
    assert float(s.sum()) == pytest.approx(ref, abs=1e-6)
    one_way = torch.tensor([[0, 1, 2, 0], [1, 2, 3, 0]])
    s1, _ = community_strength(one_way, 4, comm, torch.tensor([2.0, 1.0, 3.0, 0.5]))
    assert torch.allclose(s, s1)
    # hand: |E| = 6.5; L_0 = 2 + 0.5, d_0 = (2*0.5 + 2) + (2 + 1) = 6 -> 2.5/6.5 - (6/13)^2
    assert float(s[0]) == pytest.approx(2.5 / 6.5 - (6 / 13) ** 2, abs=1e-6)
    # no edges: all zero
    s0, n0 = community_strength(torch.zeros(2, 0, dtype=torch.long), 3, torch.tensor([0, 1, 1]))
    assert s0.tolist() == [0.0, 0.0] and n0.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="communities must have shape"):
        community_strength(ei, 4, torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="negative community id"):
        community_strength(ei, 4, torch.tensor([0, -1, 0, 0]))


# ----------------------------------------------------------------------- CED
# Hand-made case: path 0-1-2-3-4 (stored one way), communities {0,1} {2,3} {4},
# strengths S = [0.3, 0.1, -0.2] (given, not computed).
# raw w: (0,1) same c0 -> 0.3; (1,2) -> -(0.3+0.1) = -0.4; (2,3) same c1 -> 0.1;
#        (3,4) -> -(0.1-0.2) = 0.1.  min -0.4, max 0.3, span 0.7:
# w = [1, 0, 5/7, 5/7], mean = (1 + 10/7)/4 = 17/28.
_EI = torch.tensor([[0, 1, 2, 3], [1, 2, 3, 4]])
_COMM = torch.tensor([0, 0, 1, 1, 2])
_S = torch.tensor([0.3, 0.1, -0.2])


def test_ced_weights_and_keep_prob_by_hand() -> None:
    w = communal_edge_weights(_EI, _COMM, _S)
    assert torch.allclose(w, torch.tensor([1.0, 0.0, 5 / 7, 5 / 7]), atol=1e-6)
    keep = communal_edge_keep_prob(_EI, _COMM, _S, p=0.4, threshold=0.7)
    mean = 17 / 28
    raw = [1 / mean * 0.6, 0.0, 5 / 7 / mean * 0.6, 5 / 7 / mean * 0.6]
    expected = [min(max(x, 0.3), 1.0) for x in raw]  # clip to [1 - 0.7, 1]
    assert torch.allclose(keep, torch.tensor(expected), atol=1e-6)
    assert keep[1].item() == pytest.approx(0.3)  # the minimum edge sits at 1 - threshold


def test_ced_threshold_one_trap_is_refused() -> None:
    with pytest.raises(ValueError, match="threshold must be < 1"):
        communal_edge_keep_prob(_EI, _COMM, _S, p=0.4, threshold=1.0)
    with pytest.raises(ValueError, match="always dropped"):
        communal_edge_drop(_EI, _COMM, _S, 0.4, threshold=1.0)
    with pytest.raises(ValueError, match="threshold must be < 1"):
        CommunalEdgeDrop(0.3, threshold=1.0)
    keep = communal_edge_keep_prob(_EI, _COMM, _S, p=0.4, threshold=0.99)
    assert float(keep.min()) == pytest.approx(0.01)


def test_ced_degenerate_weights_no_nan() -> None:
    # one community: every w equal -> uniform keep 1 - p, no 0/0
    ei = _sym([(0, 1), (1, 2)])
    keep = communal_edge_keep_prob(ei, torch.zeros(3, dtype=torch.long), torch.tensor([0.0]), 0.3)
    assert torch.allclose(keep, torch.full((4,), 0.7))
    empty = torch.zeros(2, 0, dtype=torch.long)
    out, mask = communal_edge_drop(empty, torch.zeros(2, dtype=torch.long), torch.tensor([0.1]), 0.3)
    assert out.shape == (2, 0) and mask.numel() == 0


def test_ced_frequencies_match_probabilities_and_determinism() -> None:
    keep = communal_edge_keep_prob(_EI, _COMM, _S, p=0.4)
    g = torch.Generator().manual_seed(0)
    trials = 4000
    counts = torch.zeros(4)
    for _ in range(trials):
        _, mask = communal_edge_drop(_EI, _COMM, _S, 0.4, generator=g)
        counts += mask.float()
    freq = counts / trials
    # binomial standard error <= 0.008; allow 4 sigma
    assert torch.allclose(freq, keep, atol=0.035)
    a = communal_edge_drop(_EI, _COMM, _S, 0.4, generator=torch.Generator().manual_seed(5))
    b = communal_edge_drop(_EI, _COMM, _S, 0.4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a[1], b[1])


def test_ced_symmetric_keeps_both_directions_together() -> None:
    ei = _sym([(0, 1), (1, 2), (2, 3), (3, 4)])
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        _, mask = communal_edge_drop(ei, _COMM, _S, 0.5, generator=g, symmetric=True)
        assert torch.equal(mask[:4], mask[4:])


# ----------------------------------------------------------------------- CAV
def test_cav_probabilities_by_hand() -> None:
    # 3 nodes with strengths [0.5, 0.25, 0.1]; features:
    x = torch.tensor([[1.0, 0.0, 2.0], [1.0, 4.0, 0.0], [0.0, 0.0, -1.0]])
    s = torch.tensor([0.5, 0.25, 0.1])
    # s_f = sum_i |x_if| S_i = [0.75, 1.0, 1.1]; w = log s_f; normalised (max - w)/(max - min)
    sf = [0.75, 1.0, 1.1]
    lw = [math.log(v) for v in sf]
    wn = [(max(lw) - v) / (max(lw) - min(lw)) for v in lw]
    mean = sum(wn) / 3
    expected = [min(max(v / mean * 0.3, 0.0), 0.7) for v in wn]
    prob = communal_attribute_drop_prob(x, s, 0.3, 0.7)
    assert torch.allclose(prob, torch.tensor(expected), atol=1e-6)
    assert prob[2].item() == 0.0  # the best-supported column is never masked


def test_cav_negative_and_zero_sums_are_clamped_no_nan() -> None:
    # column 0 used only by a node of negative strength, column 3 all zero
    x = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 2.0, 1.0, 0.0]])
    s = torch.tensor([-0.2, 0.4])
    prob = communal_attribute_drop_prob(x, s, 0.2, threshold=1.0)
    assert bool(torch.isfinite(prob).all())
    # s_f = [-0.2, 0.8, 0.2, 0] -> clamped to the smallest positive sum 0.2: [0.2, 0.8, 0.2, 0.2]
    # normalised w = [1, 0, 1, 1], mean 0.75 -> p = w / 0.75 * 0.2
    assert torch.allclose(prob, torch.tensor([0.2 / 0.75, 0.0, 0.2 / 0.75, 0.2 / 0.75]))
    # all strengths <= 0: uniform p, still finite
    prob = communal_attribute_drop_prob(x, torch.tensor([-0.1, -0.3]), 0.25)
    assert torch.allclose(prob, torch.full((4,), 0.25))
    # threshold caps the probability
    prob = communal_attribute_drop_prob(x, s, 0.6, threshold=0.5)
    assert float(prob.max()) == pytest.approx(0.5)


def test_cav_mask_frequencies_and_columns() -> None:
    x = torch.tensor([[1.0, 0.0, 2.0], [1.0, 4.0, 0.0], [0.0, 0.0, -1.0]])
    s = torch.tensor([0.5, 0.25, 0.1])
    prob = communal_attribute_drop_prob(x, s, 0.3)
    g = torch.Generator().manual_seed(0)
    trials = 4000
    counts = torch.zeros(3)
    for _ in range(trials):
        out, mask = communal_attribute_mask(x, s, 0.3, generator=g)
        assert torch.equal(out[:, mask], torch.zeros(3, int(mask.sum())))
        assert torch.equal(out[:, ~mask], x[:, ~mask])
        counts += mask.float()
    assert torch.allclose(counts / trials, prob, atol=0.035)
    with pytest.raises(ValueError, match="node_strength"):
        communal_attribute_mask(x, torch.tensor([0.1, 0.2]), 0.3)
    with pytest.raises(ValueError, match="p must be a probability"):
        communal_attribute_mask(x, s, 1.5)


# ---------------------------------------------------------------- transforms
def test_transforms_seeded_and_edge_attributes_follow() -> None:
    ei, n = _two_cliques()
    data = Data(
        x=torch.rand(n, 6, generator=torch.Generator().manual_seed(0)),
        edge_index=ei,
        edge_attr=torch.arange(ei.size(1)).float().unsqueeze(1),
        num_nodes=n,
    )
    pre = CommunityStrength(method="louvain")(data)
    assert pre.community.tolist() == [0] * 5 + [1] * 5
    t1, t2 = CommunalEdgeDrop(0.4, seed=3), CommunalEdgeDrop(0.4, seed=3)
    v1, v2 = t1(pre), t2(pre)
    assert torch.equal(v1.edge_index, v2.edge_index)
    # edge attributes are filtered with the same mask
    kept = v1.edge_attr.squeeze(1).long()
    assert torch.equal(ei[:, kept], v1.edge_index)
    assert torch.equal(pre.edge_index, ei)  # input untouched
    c1 = CommunalAttributeVoting(0.5, seed=1)(pre)
    c2 = CommunalAttributeVoting(0.5, seed=1)(pre)
    assert torch.equal(c1.x, c2.x)
    direct = attach_community_strength(data, method="louvain")
    assert torch.equal(direct.node_strength, pre.node_strength)
    with pytest.raises(ValueError, match="not both"):
        CommunalEdgeDrop(0.3, seed=1, generator=torch.Generator())
