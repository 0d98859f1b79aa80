"""Tests for the PamC meta-node loss (graphcl.losses.pamc) and the "pamc" method."""

from __future__ import annotations

import math
import os

import pytest
import torch

from graphcl.config import load_config
from graphcl.losses import dec_soft_assignment, dec_target_distribution, meta_nodes, pamc_loss, rhop_positives


def _random_graph(n: int, m: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, n, (m,), generator=g)
    dst = torch.randint(0, n, (m,), generator=g)
    keep = src != dst
    ei = torch.stack([src[keep], dst[keep]])
    return torch.cat([ei, ei.flip(0)], 1)


def _dense_rhop(ei: torch.Tensor, n: int, r: int, cumulative: bool, self_loops: bool) -> torch.Tensor:
    a = torch.zeros(n, n, dtype=torch.float64)
    a.index_put_((ei[0], ei[1]), torch.ones(ei.size(1), dtype=torch.float64), accumulate=True)
    if self_loops:
        a = a + torch.eye(n, dtype=torch.float64)
    deg = a.sum(1, keepdim=True)
    a = torch.where(deg > 0, a / deg.clamp_min(1e-300), torch.zeros_like(a))
    total, power = torch.zeros_like(a), torch.eye(n, dtype=torch.float64)
    for _ in range(r):
        power = power @ a
        total = total + power
    return total if cumulative else power


def _dense_pamc(z, q, A, tau, hard, mask_self=True, eps=1e-10):
    """O(N^2) reference: the formula written with dense matrices."""
    zn = z / z.norm(dim=1, keepdim=True)
    S = zn @ zn.t()
    if mask_self:
        S = S * (1 - torch.eye(z.size(0), dtype=z.dtype))
    pos = (A * torch.exp(tau * S)).sum(1)
    if hard:
        M = torch.nn.functional.one_hot(q.argmax(1), q.size(1)).to(z.dtype)
    else:
        M = q
    c = M.t() @ z
    cn = c / c.norm(dim=1, keepdim=True).clamp_min(1e-12)
    C = cn @ cn.t()
    if mask_self:
        C = C * (1 - torch.eye(c.size(0), dtype=z.dtype))
    neg = torch.exp(tau * C).sum(1)
    return -torch.log(pos + eps).mean() + torch.log(neg + eps).mean()


# ---------------------------------------------------------------- DEC


@pytest.mark.parametrize("alpha", [1.0, 2.5])
def test_dec_soft_assignment_matches_student_t(alpha):
    g = torch.Generator().manual_seed(0)
    z, mu = torch.randn(13, 5, generator=g, dtype=torch.float64), torch.randn(4, 5, generator=g, dtype=torch.float64)
    q = dec_soft_assignment(z, mu, alpha)
    ref = torch.empty(13, 4, dtype=torch.float64)
    for i in range(13):
        for k in range(4):
            ref[i, k] = (1 + ((z[i] - mu[k]) ** 2).sum() / alpha) ** (-(alpha + 1) / 2)
    ref = ref / ref.sum(1, keepdim=True)
    assert torch.allclose(q, ref, atol=1e-12)


def test_dec_target_distribution_formula():
    g = torch.Generator().manual_seed(1)
    q = torch.rand(9, 3, generator=g, dtype=torch.float64)
    q = q / q.sum(1, keepdim=True)
    p = dec_target_distribution(q)
    f = q.sum(0)
    ref = torch.empty_like(q)
    for i in range(9):
        w = [q[i, k] ** 2 / f[k] for k in range(3)]
        ref[i] = torch.stack(w) / sum(w)
    assert torch.allclose(p, ref, atol=1e-12)
    # sharper than q: the largest entry of every row grows
    assert bool((p.max(1).values >= q.max(1).values - 1e-12).all())


# ---------------------------------------------------------------- r-hop positives


@pytest.mark.parametrize("r,cumulative,self_loops", [(1, True, True), (2, True, True), (3, False, True),
                                                     (3, True, True), (2, True, False)])
def test_rhop_positives_match_dense_matrix_power(r, cumulative, self_loops):
    n = 17
    ei = _random_graph(n, 25, seed=r)
    pos, w = rhop_positives(ei, n, r, cumulative=cumulative, add_self_loops=self_loops)
    got = torch.zeros(n, n, dtype=torch.float64)
    got.index_put_((pos[0], pos[1]), w.double(), accumulate=True)
    ref = _dense_rhop(ei, n, r, cumulative, self_loops)
    assert torch.allclose(got, ref, atol=1e-6)
    assert bool((w > 0).all())  # only nonzeros are returned
    assert pos.size(1) == int((ref.abs() > 1e-12).sum())


def test_rhop_rows_sum_to_r():
    ei = _random_graph(30, 50, seed=7)
    pos, w = rhop_positives(ei, 30, 3, cumulative=True)
    rows = torch.zeros(30).index_add(0, pos[0], w)
    assert torch.allclose(rows, torch.full((30,), 3.0), atol=1e-5)  # each power of D^-1(A+I) is row-stochastic


# ---------------------------------------------------------------- meta-nodes and loss


def test_meta_nodes_hard_and_soft():
    g = torch.Generator().manual_seed(2)
    z = torch.randn(11, 4, generator=g, dtype=torch.float64)
    q = torch.softmax(torch.randn(11, 3, generator=g, dtype=torch.float64), 1)
    onehot = torch.nn.functional.one_hot(q.argmax(1), 3).double()
    assert torch.allclose(meta_nodes(z, q, hard=True), onehot.t() @ z)
    assert torch.allclose(meta_nodes(z, q, hard=False), q.t() @ z)


@pytest.mark.parametrize("hard", [True, False])
@pytest.mark.parametrize("r,tau", [(1, 1.0), (2, 0.5), (3, 2.0)])
def test_pamc_loss_matches_dense_reference(hard, r, tau):
    n = 23
    g = torch.Generator().manual_seed(r)
    ei = _random_graph(n, 40, seed=10 + r)
    z = torch.randn(n, 6, generator=g, dtype=torch.float64)
    q = dec_soft_assignment(z, torch.randn(4, 6, generator=g, dtype=torch.float64))
    pos, w = rhop_positives(ei, n, r)
    got = pamc_loss(z, q, pos, w.double(), tau, hard=hard)
    ref = _dense_pamc(z, q, _dense_rhop(ei, n, r, True, True), tau, hard)
    assert math.isclose(got.item(), ref.item(), rel_tol=1e-6)  # A^(r) weights are float32


def test_pamc_loss_without_self_mask_and_unit_weights():
    n = 12
    ei = _random_graph(n, 20, seed=3)
    ei = torch.cat([ei, torch.arange(n).repeat(2, 1)], 1)  # every node is its own positive
    g = torch.Generator().manual_seed(3)
    z = torch.randn(n, 3, generator=g, dtype=torch.float64)
    q = torch.softmax(torch.randn(n, 3, generator=g, dtype=torch.float64), 1)
    A = torch.zeros(n, n, dtype=torch.float64)
    A.index_put_((ei[0], ei[1]), torch.ones(ei.size(1), dtype=torch.float64), accumulate=True)
    got = pamc_loss(z, q, ei, None, 0.7, mask_self=False)
    ref = _dense_pamc(z, q, A, 0.7, True, mask_self=False)
    assert math.isclose(got.item(), ref.item(), rel_tol=1e-9)


def test_pamc_gradient_finite_and_matches_dense():
    n = 20
    ei = _random_graph(n, 30, seed=4)
    g = torch.Generator().manual_seed(4)
    z0 = torch.randn(n, 5, generator=g, dtype=torch.float64)
    mu = torch.randn(3, 5, generator=g, dtype=torch.float64)
    pos, w = rhop_positives(ei, n, 2)
    A = _dense_rhop(ei, n, 2, True, True)
    for hard in (True, False):
        z1 = z0.clone().requires_grad_(True)
        pamc_loss(z1, dec_soft_assignment(z1, mu), pos, w.double(), 0.5, hard=hard).backward()
        z2 = z0.clone().requires_grad_(True)
        _dense_pamc(z2, dec_soft_assignment(z2, mu), A, 0.5, hard).backward()
        assert bool(torch.isfinite(z1.grad).all())
        assert torch.allclose(z1.grad, z2.grad, atol=1e-6)


def test_pamc_empty_cluster_is_finite():
    # all nodes in cluster 0: the other meta-nodes are zero vectors (NaN in the reference code)
    z = torch.randn(8, 3, requires_grad=True)
    q = torch.tensor([[0.9, 0.05, 0.05]]).repeat(8, 1)
    ei = torch.tensor([[0, 1, 2, 3], [1, 0, 3, 2]])
    pos, w = rhop_positives(ei, 8)
    loss = pamc_loss(z, q, pos, w)
    loss.backward()
    assert torch.isfinite(loss) and bool(torch.isfinite(z.grad).all())


def test_pamc_loss_deterministic():
    ei = _random_graph(15, 25, seed=5)
    z = torch.randn(15, 4, generator=torch.Generator().manual_seed(5))
    q = dec_soft_assignment(z, z[:3])
    pos, w = rhop_positives(ei, 15, 2)
    assert pamc_loss(z, q, pos, w).item() == pamc_loss(z, q, pos, w).item()


def test_pamc_bad_input():
    z = torch.randn(5, 3)
    q = torch.softmax(torch.randn(5, 2), 1)
    ei = torch.tensor([[0, 1], [1, 0]])
    with pytest.raises(ValueError, match="z has dimension 3 but centers has 4"):
        dec_soft_assignment(z, torch.randn(2, 4))
    with pytest.raises(ValueError, match="alpha must be a finite number > 0"):
        dec_soft_assignment(z, torch.randn(2, 3), alpha=0.0)
    with pytest.raises(TypeError, match="z must be a torch.Tensor"):
        pamc_loss(z.tolist(), q, ei)
    with pytest.raises(ValueError, match="q has 4 rows but z has 5"):
        pamc_loss(z, q[:4], ei)
    with pytest.raises(ValueError, match="pos_edge_index contains node id 7"):
        pamc_loss(z, q, torch.tensor([[0, 7], [1, 0]]))
    with pytest.raises(ValueError, match="pos_weight contains negative"):
        pamc_loss(z, q, ei, torch.tensor([1.0, -1.0]))
    with pytest.raises(ValueError, match="tau must be a finite number > 0"):
        pamc_loss(z, q, ei, tau=-1.0)
    with pytest.raises(ValueError, match="r must be"):
        rhop_positives(ei, 2, r=0)
    with pytest.raises(ValueError, match="q must be non-negative"):
        dec_target_distribution(-q)
    with pytest.raises(ValueError, match="q has 4 rows but z has 5"):
        meta_nodes(z, q[:4])


# ---------------------------------------------------------------- method


def _small_cfg(**kw):
    cfg = dict(load_config("pamc"))
    cfg.update(epochs=30, pretrain_epochs=10, hidden_dims=[32], embed_dim=4, pretrain_batch_size=64,
               alpha=1.0, beta=1.0, tau=1.0, r=1)
    cfg.update(kw)
    return cfg


def test_train_pamc_deterministic_and_recovers_blocks():
    from graphcl.data import sbm
    from graphcl.eval import cluster_metrics
    from graphcl.methods.pamc import train_pamc

    g = sbm([40, 40, 40], p_in=0.2, p_out=0.01, num_features=16, seed=0, feature_noise=1.0)
    a = train_pamc(g, _small_cfg(), num_clusters=3, seed=3)
    b = train_pamc(g, _small_cfg(), num_clusters=3, seed=3)
    assert torch.equal(a["embedding"], b["embedding"]) and torch.equal(a["pred"], b["pred"])
    assert len(a["history"]) == 30 and all(math.isfinite(h["loss"]) for h in a["history"])
    assert cluster_metrics(g.y, a["pred"])["acc"] > 0.9
    assert torch.allclose(a["q"].sum(1), torch.ones(120), atol=1e-5)


def test_train_pamc_bad_config():
    from graphcl.data import sbm
    from graphcl.methods.pamc import train_pamc

    g = sbm([10, 10], p_in=0.3, p_out=0.05, num_features=4, seed=0)
    with pytest.raises(ValueError, match="num_clusters must be given"):
        train_pamc(g, _small_cfg())
    with pytest.raises(ValueError, match="num_clusters=30 exceeds"):
        train_pamc(g, _small_cfg(), num_clusters=30)
    cfg = _small_cfg()
    del cfg["tau"]
    with pytest.raises(ValueError, match="lacks setting 'tau'"):
        train_pamc(g, cfg, num_clusters=2)


def test_pamc_config_blocks():
    for name, r in [("acm", 1), ("dblp", 1), ("citeseer", 3), ("cora", 3)]:
        cfg = load_config("pamc", name)
        assert cfg["r"] == r and cfg["epochs"] == 200 and cfg["hidden_dims"] == [500, 500, 2000]


@pytest.mark.skipif(not os.environ.get("GRAPHCL_DATA") or not os.path.isdir(os.path.join(
    os.environ.get("GRAPHCL_DATA", ""), "ACM")), reason="GRAPHCL_DATA does not point at the shared datasets (ACM)")
def test_pamc_method_runs_on_acm():
    from graphcl.methods import RunContext, get_method

    cfg = dict(load_config("pamc", "acm"), epochs=2, pretrain_epochs=1, hidden_dims=[16], embed_dim=4,
               eval_kmeans_seeds=1, eval_kmeans_n_init=1, kmeans_init_n_init=1)
    out = get_method("pamc").fn("acm", cfg, RunContext(quiet=True))
    m = out["metrics"]["clustering"]
    assert set(m) >= {"acc", "nmi", "ari", "f1", "protocol"} and 0 <= m["acc"] <= 1
    assert out["embedding"].shape == (3025, 4)


def test_edge_dot_chunked_matches_gather_autograd():
    from graphcl.losses.pamc import edge_dot

    g = torch.Generator().manual_seed(6)
    x0 = torch.randn(10, 3, generator=g, dtype=torch.float64)
    ei = _random_graph(10, 30, seed=6)
    w = torch.randn(ei.size(1), generator=g, dtype=torch.float64)
    x1 = x0.clone().requires_grad_(True)
    out = edge_dot(x1, ei, chunk_elements=7)  # chunks of 2 edges: many chunks
    (out * w).sum().backward()
    x2 = x0.clone().requires_grad_(True)
    ref = (x2[ei[0]] * x2[ei[1]]).sum(1)
    (ref * w).sum().backward()
    assert torch.allclose(out, ref.detach()) and torch.allclose(x1.grad, x2.grad)
    with pytest.raises(ValueError, match="edge_index contains node id 10"):
        edge_dot(x0, torch.tensor([[0], [10]]))


def _dense_pamc_normalize(z, q, A, tau):
    """Dense reference written with F.normalize (defined for zero rows: z / max(|z|, 1e-12))."""
    zn = torch.nn.functional.normalize(z, dim=1)
    S = (zn @ zn.t()) * (1 - torch.eye(z.size(0), dtype=z.dtype))
    pos = (A * torch.exp(tau * S)).sum(1)
    M = torch.nn.functional.one_hot(q.argmax(1), q.size(1)).to(z.dtype)
    cn = torch.nn.functional.normalize(M.t() @ z, dim=1)
    C = (cn @ cn.t()) * (1 - torch.eye(q.size(1), dtype=z.dtype))
    return -torch.log(pos + 1e-10).mean() + torch.log(torch.exp(tau * C).sum(1) + 1e-10).mean()


def test_pamc_many_chunks_int32_index_and_zero_row(monkeypatch):
    import graphcl.losses.pamc as pamc_mod

    n = 25
    ei = _random_graph(n, 45, seed=8)
    g = torch.Generator().manual_seed(8)
    z0 = torch.randn(n, 4, generator=g, dtype=torch.float64)
    z0[3] = 0.0  # a zero embedding: its norm is clamped as in F.normalize
    q = torch.softmax(torch.randn(n, 3, generator=g, dtype=torch.float64), 1)
    pos, w = rhop_positives(ei, n, 2)
    pos32, w32 = rhop_positives(ei, n, 2, index_dtype=torch.int32)
    assert pos32.dtype == torch.int32 and torch.equal(pos32.long(), pos) and torch.equal(w32, w)
    A = _dense_rhop(ei, n, 2, True, True)
    z_ref = z0.clone().requires_grad_(True)
    ref = _dense_pamc_normalize(z_ref, q, A, 0.8)
    ref.backward()
    results = []
    for chunk_elements in (1 << 16, 9):  # one chunk; chunks of 2 edges
        monkeypatch.setattr(pamc_mod, "_CHUNK_ELEMENTS", chunk_elements)
        for index in (pos, pos32):
            z = z0.clone().requires_grad_(True)
            loss = pamc_loss(z, q, index, w.double(), 0.8)
            loss.backward()
            assert math.isclose(loss.item(), ref.item(), rel_tol=1e-6)
            assert torch.allclose(z.grad, z_ref.grad, atol=1e-6)
            results.append((loss.item(), z.grad))
    # int32 and int64 indices: bit-identical results
    assert results[0][0] == results[1][0] and torch.equal(results[0][1], results[1][1])
    with pytest.raises(ValueError, match="index_dtype must be torch.int32 or torch.int64"):
        rhop_positives(ei, n, 1, index_dtype=torch.int16)


@pytest.mark.parametrize("mask_self", [True, False])
def test_pamc_positive_term_gradcheck(mask_self):
    n = 9
    ei = torch.cat([_random_graph(n, 12, seed=9), torch.arange(n).repeat(2, 1)], 1)  # self pairs included
    g = torch.Generator().manual_seed(9)
    z = torch.randn(n, 3, generator=g, dtype=torch.float64, requires_grad=True)
    q = torch.softmax(torch.randn(n, 2, generator=g, dtype=torch.float64), 1)
    w = torch.rand(ei.size(1), generator=g, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda t: pamc_loss(t, q, ei, w, 1.3, mask_self=mask_self), (z,))


def test_train_pamc_reuses_pretrained_autoencoder_and_sparse_features():
    from graphcl.data import sbm
    from graphcl.methods.pamc import train_pamc

    g = sbm([20, 20], p_in=0.3, p_out=0.02, num_features=12, seed=1)
    dense = g.clone()
    g.x = (g.x > 2.0).float()  # mostly zeros: the sparse first-layer path (density <= 0.1)
    dense.x = g.x.clone()
    assert float((g.x != 0).float().mean()) <= 0.1
    cfg = _small_cfg(epochs=5, pretrain_epochs=3)
    a = train_pamc(g, cfg, num_clusters=2, seed=2)
    b = train_pamc(g, cfg, num_clusters=2, seed=2, pretrained=a["pretrained"])  # skips pre-training
    assert b["pretrain_history"] == [] and torch.equal(a["pred"], b["pred"])
    assert torch.allclose(a["embedding"], b["embedding"], atol=1e-6)
    import graphcl.methods.pamc as method

    old = method.SPARSE_DENSITY
    try:
        method.SPARSE_DENSITY = 0.0  # force the dense product: the same function
        c = train_pamc(dense, cfg, num_clusters=2, seed=2)
    finally:
        method.SPARSE_DENSITY = old
    assert torch.allclose(a["embedding"], c["embedding"], atol=1e-4)
    with pytest.raises(ValueError, match="pretrained must be the 'pretrained' entry"):
        train_pamc(g, cfg, num_clusters=2, pretrained={"encoder.0.weight": torch.zeros(1)})
