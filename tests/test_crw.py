"""Contrastive random walk loss, CRW-GCL method, node-correspondence metrics."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from graphcl.eval import correspondence_hits
from graphcl.eval.matching import perturbed_copy, structural_features, swap_feature_rows
from graphcl.losses import crw, crw_bipartite
from graphcl.losses.crw import crw_return_probabilities, crw_transition, neighbor_candidates


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _dense_reference(zs, tau, masks=None):
    """Straightforward float64 CRW: explicit matrices, optional candidate masks per transition (fwd, bwd)."""
    zs = [F.normalize(z.double(), dim=1) for z in zs]
    T = len(zs) - 1
    fwd, bwd = [], []
    for t in range(T):
        s = zs[t] @ zs[t + 1].t() / tau
        sb = s.t().clone()
        if masks is not None:
            s = s.masked_fill(~masks[t][0], float("-inf"))
            sb = sb.masked_fill(~masks[t][1], float("-inf"))
        fwd.append(torch.softmax(s, 1))
        bwd.append(torch.softmax(sb, 1))
    losses = []
    for k in range(1, T + 1):
        p = torch.eye(zs[0].size(0), dtype=torch.float64)
        for t in range(k):
            p = p @ fwd[t]
        for t in reversed(range(k)):
            p = p @ bwd[t]
        losses.append(-(p.diagonal() + 1e-20).log().mean())
    return torch.stack(losses).mean()


def _mask_from(cand, rows, cols):
    m = torch.zeros(rows, cols, dtype=torch.bool)
    r = torch.arange(rows).unsqueeze(1).expand_as(cand)
    ok = cand >= 0
    m[r[ok], cand[ok]] = True
    return m


# ---------------------------------------------------------------------------- loss values
@pytest.mark.parametrize("sizes", [(6, 6), (5, 7, 4), (4, 6, 5, 3)])
def test_crw_equals_dense_reference(sizes):
    g = _gen(1)
    zs = [torch.randn(n, 5, generator=g) for n in sizes]
    ref = _dense_reference(zs, 0.3)
    assert torch.allclose(crw(zs, 0.3).double(), ref, atol=1e-5)


def test_crw_single_cycle_length_and_hand_value():
    # two sets, T = 1: loss = -mean_i log sum_j A[i, j] B[j, i], computed by hand
    za = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    zb = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    tau = 0.5
    a = torch.softmax(F.normalize(za) @ F.normalize(zb).t() / tau, 1)
    b = torch.softmax(F.normalize(zb) @ F.normalize(za).t() / tau, 1)
    hand = -sum(math.log(sum(a[i, j].item() * b[j, i].item() for j in range(3))) for i in range(2)) / 2
    assert crw([za, zb], tau).item() == pytest.approx(hand, rel=1e-5)
    zs = [torch.randn(4, 3, generator=_gen(k)) for k in range(3)]
    only2 = crw(zs, 0.2, cycle_lengths=[2])
    ret = crw_return_probabilities(zs, 0.2)
    assert only2.item() == pytest.approx(-(ret[1] + 1e-20).log().mean().item(), rel=1e-5)


@pytest.mark.parametrize("sizes", [(8, 8), (7, 9, 6)])
def test_crw_candidates_match_dense_with_masked_softmax(sizes):
    g = _gen(2)
    zs = [torch.randn(n, 4, generator=g) for n in sizes]
    pairs, masks = [], []
    for t in range(len(sizes) - 1):
        f = torch.stack([torch.randperm(sizes[t + 1], generator=g)[:3] for _ in range(sizes[t])])
        b = torch.stack([torch.randperm(sizes[t], generator=g)[:4] for _ in range(sizes[t + 1])])
        b[0, 3] = -1  # padding entry
        pairs.append((f, b))
        masks.append((_mask_from(f, sizes[t], sizes[t + 1]), _mask_from(b, sizes[t + 1], sizes[t])))
    ref = _dense_reference(zs, 0.4, masks)
    assert torch.allclose(crw(zs, 0.4, candidates=pairs).double(), ref, atol=1e-5)


def test_crw_knn_candidates_with_all_nodes_equal_dense():
    zs = [torch.randn(6, 3, generator=_gen(k)) for k in range(3)]
    assert torch.allclose(crw(zs, 0.3, candidates=6), crw(zs, 0.3), atol=1e-6)
    # k < N: every walker steps only to its k most cosine-similar nodes of the next / previous set
    masks = []
    for t in range(2):
        s = F.normalize(zs[t]) @ F.normalize(zs[t + 1]).t()
        masks.append((_mask_from(s.topk(2, 1).indices, 6, 6), _mask_from(s.t().topk(2, 1).indices, 6, 6)))
    assert torch.allclose(crw(zs, 0.3, candidates=2).double(), _dense_reference(zs, 0.3, masks), atol=1e-5)
    # k-nearest candidates: every walker's candidates are its k most similar nodes
    t = crw_transition(zs[0], zs[1], 0.3, candidates=torch.tensor([[0, 1]] * 6))
    assert torch.allclose(t.sum(1), torch.ones(6))


def test_identical_views_small_tau_gives_zero_loss():
    z = torch.randn(40, 8, generator=_gen(3))
    losses = [crw([z, z], tau).item() for tau in (1.0, 0.1, 0.01, 0.002)]
    assert losses == sorted(losses, reverse=True)
    assert losses[-1] < 1e-6
    assert crw([z, z, z], 0.002).item() < 1e-6
    assert crw([z, z], 0.002, candidates=5).item() < 1e-6


# ---------------------------------------------------------------------------- edge dropout
@pytest.mark.parametrize("p", [0.1, 0.3])
def test_edge_dropout_rate_is_honoured(p):
    a, b = torch.randn(300, 4, generator=_gen(4)), torch.randn(200, 4, generator=_gen(5))
    t = crw_transition(a, b, 1.0, p, generator=_gen(6))
    frac = (t == 0).double().mean().item()  # at tau = 1 no kept entry underflows
    sd = math.sqrt(p * (1 - p) / t.numel())
    assert abs(frac - p) < 5 * sd
    assert torch.allclose(t.sum(1), torch.ones(300))
    cand = torch.stack([torch.randperm(200, generator=_gen(i))[:50] for i in range(300)])
    tc = crw_transition(a, b, 1.0, p, candidates=cand, generator=_gen(7))
    sd = math.sqrt(p * (1 - p) / tc.numel())
    assert abs((tc == 0).double().mean().item() - p) < 5 * sd


def test_edge_dropout_deterministic_and_never_empties_a_row():
    a, b = torch.randn(20, 4, generator=_gen(8)), torch.randn(20, 4, generator=_gen(9))
    l1 = crw([a, b], 0.1, 0.5, generator=_gen(1))
    l2 = crw([a, b], 0.1, 0.5, generator=_gen(1))
    assert l1.item() == l2.item()
    assert l1.item() != crw([a, b], 0.1, 0.5, generator=_gen(2)).item()
    full = crw_transition(a, b, 0.5, 1.0, generator=_gen(0))  # every entry drawn: rows are kept whole
    assert torch.allclose(full, crw_transition(a, b, 0.5))


def test_gradients_finite_at_small_tau():
    zs = [torch.randn(30, 6, generator=_gen(k), requires_grad=True) for k in range(3)]
    for cand in (None, 5):
        loss = crw(zs, 0.01, 0.1, candidates=cand, generator=_gen(0))
        grads = torch.autograd.grad(loss, zs)
        assert torch.isfinite(loss)
        assert all(torch.isfinite(gr).all() for gr in grads)
        assert any(gr.abs().sum() > 0 for gr in grads)


# ---------------------------------------------------------------------------- bipartite
def test_bipartite_cycle():
    za, zb = torch.randn(5, 3, generator=_gen(10)), torch.randn(8, 3, generator=_gen(11))
    a = torch.softmax(F.normalize(za) @ F.normalize(zb).t() / 0.2, 1)
    b = torch.softmax(F.normalize(zb) @ F.normalize(za).t() / 0.2, 1)
    ab = -(a @ b).diagonal().log().mean()
    ba = -(b @ a).diagonal().log().mean()
    assert crw_bipartite(za, zb, 0.2, symmetric=False).item() == pytest.approx(ab.item(), rel=1e-5)
    assert crw_bipartite(za, zb, 0.2).item() == pytest.approx(0.5 * (ab + ba).item(), rel=1e-5)
    cand = (torch.arange(8).repeat(5, 1), torch.arange(5).repeat(8, 1))
    assert crw_bipartite(za, zb, 0.2, candidates=cand).item() == pytest.approx(0.5 * (ab + ba).item(), rel=1e-5)


# ---------------------------------------------------------------------------- candidates
def test_neighbor_candidates():
    ei = torch.tensor([[0, 1, 1, 2, 2, 2], [1, 0, 2, 1, 2, 1]])  # duplicate 2->1 and a self-loop
    assert neighbor_candidates(ei).tolist() == [[0, 1, -1], [0, 1, 2], [1, 2, -1]]
    assert neighbor_candidates(ei, self_loops=False).tolist() == [[1, -1], [0, 2], [1, -1]]
    ring = torch.tensor([[i for i in range(10)] * 2, [(i + 1) % 10 for i in range(10)] + [(i - 1) % 10
                                                                                         for i in range(10)]])
    c = neighbor_candidates(ring, max_degree=1, generator=_gen(0))
    assert c.shape == (10, 2)
    assert all(int(c[i, 1 if c[i, 0] == i else 0]) in ((i + 1) % 10, (i - 1) % 10) for i in range(10))
    z = torch.randn(10, 4, generator=_gen(1))
    nb = neighbor_candidates(ring)
    assert torch.isfinite(crw([z, z], 0.1, candidates=[(nb, nb)]))


# ---------------------------------------------------------------------------- errors
def test_crw_errors():
    z = torch.randn(4, 3)
    with pytest.raises(ValueError, match="tau"):
        crw([z, z], 0.0)
    with pytest.raises(ValueError, match="edge_dropout"):
        crw([z, z], 0.1, 1.5)
    with pytest.raises(ValueError, match="at least 2"):
        crw([z], 0.1)
    with pytest.raises(TypeError, match="sequence"):
        crw(z, 0.1)
    with pytest.raises(ValueError, match=r"embeddings\[1\]"):
        crw([z, torch.randn(4, 5)], 0.1)
    with pytest.raises(ValueError, match="cycle_lengths"):
        crw([z, z], 0.1, cycle_lengths=[2])
    with pytest.raises(ValueError, match="candidates"):
        crw([z, z], 0.1, candidates=[(torch.zeros(3, 2, dtype=torch.long), torch.zeros(4, 2, dtype=torch.long))])
    with pytest.raises(ValueError, match="candidates"):
        crw([z, z], 0.1, candidates=[(torch.full((4, 2), 9), torch.zeros(4, 2, dtype=torch.long))])
    with pytest.raises(ValueError, match="candidates"):
        crw([z, z], 0.1, candidates=0)


# ---------------------------------------------------------------------------- matching
def test_correspondence_hits_vs_bruteforce():
    g = _gen(12)
    za, zb = torch.randn(30, 4, generator=g), torch.randn(25, 4, generator=g)
    truth = torch.randint(0, 25, (30,), generator=g)
    truth[3] = -1
    out = correspondence_hits(za, zb, truth, ks=(1, 5), block_size=7)
    s = F.normalize(za) @ F.normalize(zb).t()
    ranks = [int((s[i] > s[i, truth[i]]).sum()) for i in range(30) if truth[i] >= 0]
    assert out["num_queries"] == 29
    assert out["hits@1"] == pytest.approx(sum(r < 1 for r in ranks) / 29)
    assert out["hits@5"] == pytest.approx(sum(r < 5 for r in ranks) / 29)
    assert out["mean_rank"] == pytest.approx(sum(r + 1 for r in ranks) / 29)


def test_correspondence_hits_ties_and_errors():
    z = torch.ones(4, 2)  # all tied: the counterpart is at a uniformly random position among 4
    out = correspondence_hits(z, z, torch.arange(4), ks=(1, 2, 4))
    assert (out["hits@1"], out["hits@2"], out["hits@4"], out["mean_rank"]) == (0.25, 0.5, 1.0, 2.5)
    with pytest.raises(ValueError, match="truth"):
        correspondence_hits(z, z, torch.arange(3))
    with pytest.raises(ValueError, match="truth"):
        correspondence_hits(z, z, torch.tensor([0, 1, 2, 4]))
    with pytest.raises(TypeError, match="truth"):
        correspondence_hits(z, z, torch.zeros(4))
    with pytest.raises(ValueError, match="ks"):
        correspondence_hits(z, z, torch.arange(4), ks=(0,))


def test_perturbed_copy_counts_and_permutation():
    g = _gen(13)
    n = 60
    u = torch.randint(0, n, (300,), generator=g)
    v = torch.randint(0, n, (300,), generator=g)
    keep = u != v
    pairs = torch.unique(torch.minimum(u, v)[keep] * n + torch.maximum(u, v)[keep])
    und = torch.stack([pairs // n, pairs % n])
    ei = torch.cat([und, und.flip(0)], 1)
    x = (torch.rand(n, 20, generator=g) < 0.2).float()
    x2, ei2, truth = perturbed_copy(x, ei, 0.2, generator=_gen(0))
    assert sorted(truth.tolist()) == list(range(n))
    e_u = pairs.numel()
    m = round(0.2 * e_u)
    assert ei2.size(1) == 2 * e_u  # as many added as dropped
    inv = torch.empty_like(truth)
    inv[truth] = torch.arange(n)
    back = inv[ei2]  # copy edges in original ids
    bkeys = set((back[0] * n + back[1]).tolist())
    okeys = set((ei[0] * n + ei[1]).tolist())
    assert len(bkeys) == 2 * e_u
    assert len(bkeys & okeys) == 2 * (e_u - m)
    assert all((b % n) * n + b // n in bkeys for b in bkeys)  # symmetric
    xb = x2[truth]
    assert xb.sum() == x.sum()
    assert int(((xb == 0) & (x == 1)).sum()) == round(0.2 * int(x.sum()))
    xg = torch.randn(n, 3, generator=g)
    xg2, _, t2 = perturbed_copy(xg, ei, 0.1, generator=_gen(1))
    assert 0 < (xg2[t2] - xg).abs().max() < 1.0
    with pytest.raises(ValueError, match="p"):
        perturbed_copy(x, ei, 1.5)


def _random_graph(n: int, m: int, seed: int) -> torch.Tensor:
    g = _gen(seed)
    u = torch.randint(0, n, (m,), generator=g)
    v = torch.randint(0, n, (m,), generator=g)
    keep = u != v
    pairs = torch.unique(torch.minimum(u, v)[keep] * n + torch.maximum(u, v)[keep])
    und = torch.stack([pairs // n, pairs % n])
    return torch.cat([und, und.flip(0)], 1)


def test_swap_feature_rows_moves_exactly_p_of_the_rows_none_in_place():
    n = 50
    x = torch.eye(n)  # distinct rows: every moved row is visibly moved
    xs, chosen = swap_feature_rows(x, 0.2, generator=_gen(3))
    assert chosen.numel() == 10
    changed = (xs != x).any(1)
    assert int(changed.sum()) == 10 and set(changed.nonzero().flatten().tolist()) == set(chosen.tolist())
    # the chosen rows are permuted among themselves: same multiset of rows, none kept in place
    assert torch.equal(xs[chosen].argmax(1).sort().values, chosen.sort().values)
    again, chosen2 = swap_feature_rows(x, 0.2, generator=_gen(3))
    assert torch.equal(again, xs) and torch.equal(chosen, chosen2)
    # every pair of rows is swapped about equally often: row 0 is moved in ~p of the draws
    moved = sum(int((swap_feature_rows(x, 0.2, generator=_gen(s))[0][0] != x[0]).any()) for s in range(400))
    assert abs(moved / 400 - 0.2) < 0.06
    one, ch = swap_feature_rows(x, 0.01, generator=_gen(0))  # round(0.5) = 0 rows: nothing to swap
    assert torch.equal(one, x) and ch.numel() == 0
    with pytest.raises(ValueError, match="p"):
        swap_feature_rows(x, -0.1)
    with pytest.raises(TypeError, match="x"):
        swap_feature_rows(torch.ones(3), 0.5)


def test_perturbed_copy_row_noise_adds_node_level_swaps_on_top_of_entry_noise():
    n = 60
    ei = _random_graph(n, 300, 13)
    x = (torch.rand(n, 30, generator=_gen(2)) < 0.2).float()
    xe, eie, te = perturbed_copy(x, ei, 0.2, feature_noise="entries", generator=_gen(0))
    xr, eir, tr = perturbed_copy(x, ei, 0.2, feature_noise="entries+rows", generator=_gen(0))
    # same edges, permutation and entry noise (drawn first); then round(p * N) rows permuted among themselves
    assert torch.equal(eie, eir) and torch.equal(te, tr)
    a, b = xe[te], xr[tr]  # both in original ids
    changed = (a != b).any(1)
    assert 9 <= int(changed.sum()) <= 12  # 12 swapped rows (identical rows would hide a swap)
    rows_a = sorted(map(tuple, a[changed].tolist()))
    rows_b = sorted(map(tuple, b[changed].tolist()))
    assert rows_a == rows_b
    with pytest.raises(ValueError, match="feature_noise"):
        perturbed_copy(x, ei, 0.2, feature_noise="gaussian")


def test_structural_features_match_networkx_and_ignore_ids():
    nx = pytest.importorskip("networkx")
    n = 40
    ei = _random_graph(n, 160, 5)
    ei = torch.cat([ei, ei[:, :10], torch.tensor([[3], [3]])], 1)  # duplicates and a self-loop are ignored
    f = structural_features(ei, n)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from((int(u), int(v)) for u, v in ei.t() if u != v)
    deg = torch.tensor([g.degree(i) for i in range(n)], dtype=torch.float64)
    tri = torch.tensor([nx.triangles(g, i) for i in range(n)], dtype=torch.float64)
    clus = torch.tensor([nx.clustering(g, i) for i in range(n)], dtype=torch.float64)
    nb_max = torch.tensor([max([math.log1p(g.degree(j)) for j in g[i]], default=0.0) for i in range(n)])
    assert torch.allclose(f[:, 0].double(), deg.log1p(), atol=1e-6)
    assert torch.allclose(f[:, 3].double(), nb_max.double(), atol=1e-6)
    assert torch.allclose(f[:, 5].double(), clus, atol=1e-6)
    assert torch.allclose(f[:, 6].double(), tri.log1p(), atol=1e-6)
    perm = torch.randperm(n, generator=_gen(1))
    assert torch.allclose(structural_features(perm[ei], n)[perm], f)  # relabelling moves rows only


def test_crw_views_row_swaps_and_structural_features():
    from graphcl.methods.crw import crw_views

    n = 40
    ei = _random_graph(n, 150, 8)
    x = torch.eye(n)
    cfg = {"p_drop_edge": 0.0, "p_add_edge": 0.0, "p_drop_feature": 0.0, "p_mask_feature": 0.0,
           "p_swap_feature": 0.25, "p_zero_feature": 0.0, "view_features": "given"}
    xv, ev = crw_views(x, ei, cfg, _gen(0))
    assert torch.equal(ev, ei) and int((xv != x).any(1).sum()) == 10
    # node-level zeroing: each row zeroed with probability p (frequency over 40 x 100 rows)
    zc = dict(cfg, p_swap_feature=0.0, p_zero_feature=0.3)
    zeroed = [int((crw_views(x, ei, zc, _gen(s))[0].sum(1) == 0).sum()) for s in range(100)]
    assert abs(sum(zeroed) / (100 * n) - 0.3) < 0.03
    assert torch.equal(crw_views(x, ei, zc, _gen(4))[0], crw_views(x, ei, zc, _gen(4))[0])
    cfg = dict(cfg, p_drop_edge=0.3, view_features="structural")
    xv, ev = crw_views(structural_features(ei, n), ei, cfg, _gen(0))
    assert ev.size(1) < ei.size(1) and torch.equal(xv, structural_features(ev, n))
    with pytest.raises(ValueError, match="view_features"):
        crw_views(x, ei, dict(cfg, view_features="ids"), _gen(0))


# ---------------------------------------------------------------------------- method
def test_train_crw_deterministic_and_registered():
    from graphcl.config import load_config
    from graphcl.data import sbm
    from graphcl.methods import get_method
    from graphcl.methods.crw import train_crw

    data = sbm([15, 15], p_in=0.3, p_out=0.03, num_features=6, seed=0)
    # a trained 1-layer SAGE with a projection head (session 4's default); the hops default is tested below
    cfg = dict(load_config("crw"), epochs=3, hidden=8, encoder="sage", num_layers=1, projection=True, lr=0.001,
               clean_anchor=False, neighborhood_weight=0.0)
    a = train_crw(data, cfg, seed=1)
    b = train_crw(data, cfg, seed=1)
    assert torch.equal(a["embedding"], b["embedding"])
    assert len(a["history"]) == 3 and all(math.isfinite(h["loss"]) for h in a["history"])
    knn = train_crw(data, dict(cfg, candidates=5, num_views=3, symmetric=True), seed=1)
    assert knn["embedding"].shape == (30, 8)
    snaps = train_crw([data, data, data], cfg, seed=0)  # snapshots as frames
    assert snaps["embedding"].shape == (30, 8)
    assert get_method("crw").name == "crw"
    with pytest.raises(ValueError, match="lacks setting"):
        train_crw(data, {"epochs": 1}, seed=0)
    data.x = structural_features(data.edge_index, 30)
    st = dict(cfg, view_features="structural")
    s1, s2 = train_crw(data, st, seed=2), train_crw(data, st, seed=2)
    assert torch.equal(s1["embedding"], s2["embedding"]) and s1["embedding"].shape == (30, 8)
    sw = train_crw(data, dict(cfg, p_swap_feature=0.2), seed=2)
    assert all(math.isfinite(h["loss"]) for h in sw["history"])


# ------------------------------------------------------------------ neighbourhood cycle
def _nbh_reference(za, zb, ea, eb, tau):
    """Float64 explicit matrices: A W_b B restricted to the closed neighbourhoods of a."""
    n_a, n_b = za.size(0), zb.size(0)
    a, b = F.normalize(za.double(), dim=1), F.normalize(zb.double(), dim=1)
    fwd, bwd = torch.softmax(a @ b.t() / tau, 1), torch.softmax(b @ a.t() / tau, 1)
    adj_b = torch.eye(n_b, dtype=torch.float64)
    adj_b[eb[0], eb[1]] = 1.0
    step = adj_b / adj_b.sum(1, keepdim=True)
    closed = torch.eye(n_a, dtype=torch.float64)
    closed[ea[0], ea[1]] = 1.0
    land = fwd @ step @ bwd
    nbh = -(land * closed).sum(1).log().mean()
    ret = -(fwd @ bwd).diagonal().log().mean()
    return nbh, ret


def test_crw_neighborhood_equals_dense_reference_and_palindrome():
    from graphcl.losses.crw import crw_neighborhood

    za, zb = torch.randn(12, 5, generator=_gen(1)), torch.randn(12, 5, generator=_gen(2))
    ea, eb = _random_graph(12, 30, 3), _random_graph(12, 20, 4)
    nbh, ret = crw_neighborhood(za, zb, ea, eb, tau=0.3, with_return=True)
    ref_nbh, ref_ret = _nbh_reference(za, zb, ea, eb, 0.3)
    assert abs(float(nbh) - float(ref_nbh)) < 1e-5 and abs(float(ret) - float(ref_ret)) < 1e-5
    assert abs(float(ret) - float(crw([za, zb], tau=0.3))) < 1e-5  # the palindrome term is crw's loss
    assert float(crw_neighborhood(za, zb, ea, eb, tau=0.3)) == float(nbh)


def test_crw_neighborhood_identical_views_zero_and_penalises_a_swap():
    """Identical views with tau -> 0 return to the start's neighbourhood surely; a swapped pair that the
    palindrome cannot see (its return loss stays ~0) is penalised by the neighbourhood cycle."""
    from graphcl.losses.crw import crw_neighborhood

    n = 6
    path = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4, 4, 5], [1, 0, 2, 1, 3, 2, 4, 3, 5, 4]])
    z = torch.eye(n)
    assert float(crw_neighborhood(z, z, path, path, tau=0.01)) < 1e-6
    zb = z[[5, 1, 2, 3, 4, 0]]  # nodes 0 and 5 (far apart) carry each other's embedding in b
    nbh, ret = crw_neighborhood(z, zb, path, path, tau=0.01, with_return=True)
    # 0 and 5 land in their neighbourhood w.p. 1/2, their neighbours 1 and 4 w.p. 2/3, nodes 2 and 3 surely
    assert float(ret) < 1e-6 and abs(float(nbh) - (2 * math.log(2) + 2 * math.log(1.5)) / 6) < 1e-5
    # non-lazy step: 0 and 5 never land in their neighbourhood (-log eps), 1 and 4 w.p. 1/2
    assert float(crw_neighborhood(z, z, path, path, tau=0.01, lazy=False)) < 1e-6
    strict = crw_neighborhood(z, zb, path, path, tau=0.01, lazy=False)
    assert abs(float(strict) - (2 * -math.log(1e-20) + 2 * math.log(2)) / 6) < 1e-4
    # an isolated node of b stays put in the non-lazy walk (its row still sums to 1)
    iso = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    assert float(crw_neighborhood(z[:4], z[:4], iso, iso, tau=0.01, lazy=False)) < 1e-6


def test_crw_neighborhood_gradients_dropout_and_errors():
    from graphcl.losses.crw import crw_neighborhood

    za = torch.randn(10, 4, generator=_gen(0), requires_grad=True)
    zb = torch.randn(10, 4, generator=_gen(1))
    ei = _random_graph(10, 20, 2)
    loss = crw_neighborhood(za, zb, ei, ei, tau=0.01, edge_dropout=0.3, generator=_gen(5))
    loss.backward()
    assert torch.isfinite(za.grad).all() and float(za.grad.norm()) > 0
    again = crw_neighborhood(za, zb, ei, ei, tau=0.01, edge_dropout=0.3, generator=_gen(5))
    assert float(again.detach()) == float(loss.detach())
    with pytest.raises(ValueError, match="edge_index_b"):
        crw_neighborhood(za, zb, ei, torch.tensor([[0], [12]]), tau=0.1)
    with pytest.raises(ValueError, match="tau"):
        crw_neighborhood(za, zb, ei, ei, tau=0.0)


def test_hop_encoder_blocks_and_scales():
    from graphcl.methods.crw import CRWModel, HopEncoder

    n = 8
    ei = _random_graph(n, 14, 6)
    x = torch.randn(n, 5, generator=_gen(3))
    enc = HopEncoder(5, 4, hops=2)
    out = enc(x, ei)
    assert out.shape == (n, 12)
    # block k = normalize(P^k x W_k) with P the row-normalised adjacency (dense reference)
    adj = torch.zeros(n, n)
    adj[ei[0], ei[1]] = 1.0
    prop = adj / adj.sum(1, keepdim=True).clamp_min(1)
    for k in range(3):
        ref = F.normalize(torch.linalg.matrix_power(prop, k) @ x @ enc.lins[k].weight.t(), dim=1)
        assert torch.allclose(out[:, 4 * k:4 * (k + 1)], ref, atol=1e-5)
    with torch.no_grad():
        enc.log_scale.copy_(torch.log(torch.tensor([1.0, 2.0, 0.5])))
    scaled = enc(x, ei)
    hub = int(adj.sum(1).argmax())  # a node with neighbours (an isolated node's hop blocks are zero)
    assert torch.allclose(scaled.view(n, 3, 4).norm(dim=2)[hub], torch.tensor([1.0, 2.0, 0.5]), atol=1e-5)
    xs = (torch.rand(n, 50, generator=_gen(4)) < 0.05).float()  # sparse path = dense path
    enc2 = HopEncoder(50, 4, hops=1)
    dense = torch.cat([F.normalize(xs @ enc2.lins[0].weight.t(), dim=1),
                       F.normalize(prop @ xs @ enc2.lins[1].weight.t(), dim=1)], 1)
    assert torch.allclose(enc2(xs, ei), dense, atol=1e-5)
    assert CRWModel(5, hidden=4, encoder="hops", num_layers=1, projection=False)(x, ei).shape == (n, 8)
    with pytest.raises(ValueError, match="encoder"):
        CRWModel(5, hidden=4, encoder="mlp")


def test_train_crw_neighborhood_cycle_and_clean_anchor():
    from graphcl.config import load_config
    from graphcl.data import sbm
    from graphcl.methods.crw import train_crw

    data = sbm([15, 15], p_in=0.3, p_out=0.03, num_features=6, seed=0)
    cfg = dict(load_config("crw"), epochs=3, hidden=8, lr=0.001, lazy_step=True)
    assert cfg["encoder"] == "hops" and cfg["clean_anchor"] and cfg["neighborhood_weight"] > 0
    a, b = train_crw(data, cfg, seed=3), train_crw(data, cfg, seed=3)
    assert torch.equal(a["embedding"], b["embedding"]) and a["embedding"].shape == (30, 24)
    # lr 0 (the default): the projections keep their initialisation, only the block scales move
    frozen = train_crw(data, dict(cfg, lr=0.0, lazy_step=False), seed=3)["model"].encoder
    from graphcl.methods.crw import CRWModel
    from graphcl.utils import seed_everything

    seed_everything(3)
    init = CRWModel(6, 8, "hops", 2, "prelu", False).encoder
    assert all(torch.equal(p, q) for p, q in zip(frozen.lins.parameters(), init.lins.parameters()))
    assert not torch.equal(frozen.log_scale, init.log_scale)
    h = a["history"][0]
    assert abs(h["loss"] - h["return"] - h["neighborhood"]) < 1e-4 and h["grad_norm"] > 0
    three = train_crw(data, dict(cfg, num_views=3), seed=3)  # separate (non-shared) terms
    assert all(math.isfinite(r["neighborhood"]) for r in three["history"])
    with pytest.raises(ValueError, match="neighborhood_weight"):
        train_crw(data, dict(cfg, neighborhood_weight=-1.0), seed=0)


def test_flip_feature_entries_moves_exactly_p_of_the_non_zeros():
    from graphcl.eval.matching import flip_feature_entries
    from graphcl.methods.crw import crw_views

    x = (torch.rand(30, 40, generator=_gen(0)) < 0.2).float()
    nnz = int(x.sum())
    y = flip_feature_entries(x, 0.25, generator=_gen(1))
    assert int(y.sum()) == nnz and int((x * (1 - y)).sum()) == round(0.25 * nnz)
    assert torch.equal(y, flip_feature_entries(x, 0.25, generator=_gen(1)))
    with pytest.raises(ValueError, match="binary"):
        flip_feature_entries(x * 0.5, 0.1)
    ei = _random_graph(30, 60, 1)
    cfg = {"p_drop_edge": 0.0, "p_add_edge": 0.0, "p_drop_feature": 0.0, "p_mask_feature": 0.0, "p_flip_feature": 0.25,
           "p_swap_feature": 0.0, "p_zero_feature": 0.0, "view_features": "given"}
    xv, _ = crw_views(x, ei, cfg, _gen(1))
    assert torch.equal(xv, y)


def test_palindrome_prefers_own_features_and_a_sharper_cycle_prefers_the_neighbourhood():
    """Issue 8's diagnosis on a hand-made case: view b has 20 % of the feature rows swapped (same edges).
    Embeddings are [own features, sqrt(w) * 1-hop mean] (both L2-normalised). Following the features is a
    consistent matching, so the palindrome is lowest at w = 0 for every tau; the strict neighbourhood cycle
    penalises it, and the sharper the walk, the more neighbourhood weight its minimum has (w = 0 at tau 0.3,
    2 at 0.07, 4 at 0.03 on this grid)."""
    from graphcl.losses.crw import crw_neighborhood
    from graphcl.sparse import normalized_adjacency, spmm

    n = 80
    ei = _random_graph(n, 200, 0)
    x = (torch.rand(n, 40, generator=_gen(1)) < 0.15).float()
    xb, _ = swap_feature_rows(x, 0.2, generator=_gen(2))
    prop = normalized_adjacency(ei, n, kind="rw")
    ws = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0]

    def emb(feat: torch.Tensor, w: float) -> torch.Tensor:
        return torch.cat([F.normalize(feat, dim=1), w ** 0.5 * F.normalize(spmm(prop, feat), dim=1)], 1)

    best = {}
    for tau in (0.3, 0.07, 0.03):
        pal = [float(crw([emb(x, w), emb(xb, w)], tau)) for w in ws]
        cyc = [float(crw_neighborhood(emb(x, w), emb(xb, w), ei, ei, tau, lazy=False)) for w in ws]
        assert pal.index(min(pal)) == 0
        best[tau] = ws[cyc.index(min(cyc))]
    assert best == {0.3: 0.0, 0.07: 2.0, 0.03: 4.0}
