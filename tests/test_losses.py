import math
import sys

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses import (
    BLOCK_ELEMENTS,
    MAX_BLOCK,
    alignment,
    default_block_size,
    infonce,
    infonce_dense,
    uniformity,
)

infonce_mod = sys.modules["graphcl.losses.infonce"]


@pytest.fixture(autouse=True)
def one_thread():
    # the test machine's 2 cores are shared: one thread avoids oversubscription
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def pair(n, d, seed=0, dtype=torch.float64, noise=0.7):
    g = gen(seed)
    z1 = torch.randn(n, d, generator=g, dtype=dtype)
    z2 = z1 + noise * torch.randn(n, d, generator=g, dtype=dtype)
    return z1.requires_grad_(), z2.requires_grad_()


def reference(z1, z2, tau, intra=True, decoupled=False, debiased=False, tau_plus=0.1, strength=None, gamma=0.0):
    """The formulas written out with N x N matrices in exp space (no log-sum-exp tricks)."""
    u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    n = u.size(0)
    eye = torch.eye(n, dtype=torch.bool)
    shift = 0.0 if strength is None else gamma * (strength[:, None] + strength[None, :])

    def e(s):
        return torch.exp((s + shift) / tau)

    def one_side(a, b):
        refl = e(a @ a.t())
        between = e(a @ b.t())
        pos = between.diag()
        neg = between.masked_fill(eye, 0).sum(1)  # masking, not subtracting: no cancellation at small tau
        if intra:
            neg = neg + refl.masked_fill(eye, 0).sum(1)
        if debiased:
            m = 2 * n - 2 if intra else n - 1
            neg = torch.clamp((neg - tau_plus * m * pos) / (1 - tau_plus), min=m * math.exp(-1 / tau))
        den = neg if decoupled else neg + pos
        return -torch.log(pos / den)

    return 0.5 * (one_side(u, v) + one_side(v, u)).mean()


def grads(loss, *xs):
    return torch.autograd.grad(loss, xs)


# --------------------------------------------------------------------------- values and gradients


@pytest.mark.parametrize("intra", [True, False])
@pytest.mark.parametrize("block_size", [None, 64, 7, 1000])
def test_infonce_matches_dense_formula_value_and_gradient(intra, block_size):
    z1, z2 = pair(300, 16)
    ref = reference(z1, z2, 0.4, intra)
    out = infonce(z1, z2, 0.4, intra_view_negatives=intra, block_size=block_size)
    assert abs(out.item() - ref.item()) < 1e-10
    for a, b in zip(grads(ref, z1, z2), grads(out, z1, z2)):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-7)


def test_intra_view_negatives_change_the_loss():
    z1, z2 = pair(50, 4)
    assert infonce(z1, z2, 0.5, True).item() > infonce(z1, z2, 0.5, False).item()


@pytest.mark.parametrize("intra", [True, False])
@pytest.mark.parametrize(
    "opts",
    [
        {"decoupled": True},
        {"debiased": True},
        {"debiased": True, "tau_plus": 0.3},
        {"debiased": True, "decoupled": True},
    ],
)
def test_dcl_and_debiased_match_their_formulas(intra, opts):
    z1, z2 = pair(120, 8, seed=1)
    ref = reference(z1, z2, 0.5, intra, **opts)
    ref_grads = grads(ref, z1, z2)
    for bs in (None, 32):
        out = infonce(z1, z2, 0.5, intra, bs, **opts)
        assert abs(out.item() - ref.item()) < 1e-10
        for a, b in zip(ref_grads, grads(out, z1, z2)):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-7)


def test_debiased_clamp_is_exercised():
    # tau_plus large and well-aligned views: the lower clamp M e^{-1/tau} is active for some anchors
    z1, z2 = pair(60, 8, seed=3, noise=0.05)
    ref = reference(z1, z2, 0.5, True, debiased=True, tau_plus=0.9)
    out = infonce(z1, z2, 0.5, True, 16, debiased=True, tau_plus=0.9)
    assert abs(out.item() - ref.item()) < 1e-10
    # the clamp floor bounds the loss by -log(e^{s_pos} / (e^{s_pos} + M e^{-1/tau})) >= 0
    assert out.item() > 0


@pytest.mark.parametrize("intra", [True, False])
def test_pair_shift_matches_dense_team_up(intra):
    z1, z2 = pair(150, 8, seed=2)
    strength = torch.rand(150, generator=gen(5), dtype=torch.float64)
    ref = reference(z1, z2, 0.4, intra, strength=strength, gamma=0.7)
    ref_grads = grads(ref, z1, z2)
    for bs in (None, 40):
        out = infonce(z1, z2, 0.4, intra, bs, pair_shift=(strength, 0.7))
        assert abs(out.item() - ref.item()) < 1e-10
        for a, b in zip(ref_grads, grads(out, z1, z2)):
            torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-7)
    # gamma = 0 is plain InfoNCE
    plain = infonce(z1, z2, 0.4, intra, 40)
    assert abs(infonce(z1, z2, 0.4, intra, 40, pair_shift=(strength, 0.0)).item() - plain.item()) < 1e-12


@pytest.mark.parametrize(
    "opts",
    [{}, {"intra_view_negatives": False}, {"decoupled": True}, {"debiased": True},
     {"pair_shift": (torch.tensor([0.1, 0.5, 0.2, 0.0, 0.3, 0.9], dtype=torch.float64), 0.5)}],
)
def test_gradcheck_blockwise(opts):
    z1, z2 = pair(6, 3, seed=4)
    assert torch.autograd.gradcheck(lambda a, b: infonce(a, b, 0.5, block_size=4, **opts), (z1, z2))


def test_reduction_none_and_float32_agreement():
    z1, z2 = pair(80, 8, dtype=torch.float32)
    per = infonce(z1, z2, 0.5, block_size=16, reduction="none")
    assert per.shape == (80,)
    assert abs(per.mean().item() - infonce_dense(z1, z2, 0.5).item()) < 1e-5
    assert abs(reference(z1.double(), z2.double(), 0.5).item() - per.mean().item()) < 1e-5


def test_small_temperature_is_stable():
    # exp(cos / tau) overflows float32 for tau = 0.005 without the max subtraction
    z1, z2 = pair(64, 8, dtype=torch.float32)
    for bs in (None, 16):
        loss = infonce(z1, z2, 0.005, block_size=bs)
        g1, g2 = grads(loss, z1, z2)
        assert torch.isfinite(loss) and torch.isfinite(g1).all() and torch.isfinite(g2).all()
    ref = reference(z1.double(), z2.double(), 0.005)  # float64 does not overflow at 1/tau = 200
    assert abs(loss.item() - ref.item()) / ref.item() < 1e-4


def test_default_block_size_policy():
    assert default_block_size(300) == 300
    assert default_block_size(4096) == MAX_BLOCK == 512
    assert default_block_size(10**7) == MAX_BLOCK
    # tiles: MAX_BLOCK rows x COLUMN_BLOCK columns, never more than N, never fewer columns than rows
    assert infonce_mod._tile_sizes(10**6, None) == (512, 2048)
    assert infonce_mod._tile_sizes(1000, None) == (512, 1000)
    assert infonce_mod._tile_sizes(10**6, 4096) == (4096, 4096)
    assert infonce_mod.COLUMN_BLOCK * MAX_BLOCK == BLOCK_ELEMENTS
    # block_size=None goes through the blockwise function: nothing N x N is saved
    z1, z2 = pair(400, 4, dtype=torch.float32)
    _, sizes = saved_tensor_sizes(lambda: infonce(z1, z2, 0.5))
    assert max(sizes) <= 400 * 4


# --------------------------------------------------------------------------- tiling, fixed scale and fallback


@pytest.fixture
def small_columns(monkeypatch):
    """Column tiles of 37 entries, so that small tests cross many row and column tile borders."""
    monkeypatch.setattr(infonce_mod, "COLUMN_BLOCK", 37)


@pytest.fixture
def path_counter(monkeypatch):
    """Counts calls of the running-maximum fallback (forward and backward)."""
    calls = {"forward": 0, "backward": 0}
    fwd, bwd = infonce_mod._online_forward, infonce_mod._online_backward

    def count_fwd(*a, **k):
        calls["forward"] += 1
        return fwd(*a, **k)

    def count_bwd(*a, **k):
        calls["backward"] += 1
        return bwd(*a, **k)

    monkeypatch.setattr(infonce_mod, "_online_forward", count_fwd)
    monkeypatch.setattr(infonce_mod, "_online_backward", count_bwd)
    return calls


@pytest.mark.parametrize("opts", [{}, {"intra_view_negatives": False}, {"decoupled": True},
                                  {"debiased": True, "intra_view_negatives": False},
                                  {"pair_shift": "random"}])
@pytest.mark.parametrize("block_size", [16, 50, None])
def test_tiles_across_row_and_column_borders_float64(small_columns, path_counter, opts, block_size):
    # 203 nodes, 16/50-row x 37+-column tiles: diagonal blocks, ragged last tiles, diagonal inside
    # off-aligned s12 tiles; every variant equal to the formula to 1e-10 (value and gradient) in float64
    z1, z2 = pair(203, 12, seed=7)
    kw = dict(opts)
    ref_kw = {"intra": kw.get("intra_view_negatives", True), "decoupled": kw.get("decoupled", False),
              "debiased": kw.get("debiased", False)}
    if kw.get("pair_shift") == "random":
        strength = torch.rand(203, generator=gen(8), dtype=torch.float64)
        kw["pair_shift"] = (strength, 0.6)
        ref_kw.update(strength=strength, gamma=0.6)
    ref = reference(z1, z2, 0.3, **ref_kw)
    out = infonce(z1, z2, 0.3, block_size=block_size, **kw)
    assert abs(out.item() - ref.item()) < 1e-10
    for a, b in zip(grads(ref, z1, z2), grads(out, z1, z2)):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-7)
    assert path_counter == {"forward": 0, "backward": 0}  # the fixed-scale path served every case


@pytest.mark.parametrize("intra", [True, False])
def test_float32_tiles_match_dense_float32(small_columns, intra):
    # float32 accumulations over ~50 column tiles: value to 1e-5 and gradients to float32 precision
    z1, z2 = pair(1500, 32, seed=9, dtype=torch.float32)
    dense = infonce_dense(z1, z2, 0.5, intra)
    out = infonce(z1, z2, 0.5, intra, 128)
    assert abs(out.item() - dense.item()) < 1e-5
    ref64 = reference(z1.double(), z2.double(), 0.5, intra)
    assert abs(out.item() - ref64.item()) < 1e-5
    g_dense, g_out = grads(dense, z1, z2), grads(out, z1, z2)
    for a, b in zip(g_dense, g_out):
        scale = a.abs().max().item()
        assert (a - b).abs().max().item() < 1e-4 * scale


def test_fixed_scale_is_exp2_of_shifted_similarity():
    # the tile values: exp(cos / tau - c), with c = 0 up to 1/tau = 60 and 1/tau - 60 beyond
    g = gen(0)
    a = F.normalize(torch.randn(5, 3, generator=g, dtype=torch.float64), dim=1)
    b = F.normalize(torch.randn(7, 3, generator=g, dtype=torch.float64), dim=1)
    for inv_tau, c in ((2.5, 0.0), (100.0, 40.0)):
        tiler = infonce_mod._Tiler(inv_tau)
        assert tiler.c == c
        torch.testing.assert_close(tiler(tiler.scaled(a), b), torch.exp(a @ b.t() * inv_tau - c),
                                   rtol=1e-13, atol=0)


def orthogonal_half(n=40, seed=11):
    """Views where nodes n/2.. are one-hot on their own axes in BOTH views (cosine 0 with every other row)."""
    half = n // 2
    g = gen(seed)
    z1 = torch.zeros(n, 8 + 2 * half, dtype=torch.float64)
    z2 = torch.zeros_like(z1)
    z1[:half, :8] = torch.randn(half, 8, generator=g, dtype=torch.float64)
    z2[:half, :8] = z1[:half, :8] + 0.3 * torch.randn(half, 8, generator=g, dtype=torch.float64)
    idx = torch.arange(half)
    z1[half + idx, 8 + idx] = 1.0
    z2[half + idx, 8 + half + idx] = 1.0
    return z1.requires_grad_(), z2.requires_grad_()


@pytest.mark.parametrize("opts", [{}, {"intra_view_negatives": False}, {"debiased": True}, {"decoupled": True}])
def test_tiny_temperature_falls_back_to_running_maxima(path_counter, opts):
    # 1/tau = 1000, c = 940: the one-hot rows' denominators are ~2N e^-940, below the safe float64
    # range, while the other rows peak near e^60 -> no single scale fits; the exact
    # running-maximum path is used and equals the dense log-sum-exp path
    z1, z2 = orthogonal_half()
    dense = infonce_dense(z1, z2, 0.001, **opts)
    out = infonce(z1, z2, 0.001, block_size=16, **opts)
    assert path_counter["forward"] == 1
    assert abs(out.item() - dense.item()) < 1e-10 * abs(dense.item())
    for a, b in zip(grads(dense, z1, z2), grads(out, z1, z2)):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-7)
    assert path_counter["backward"] == 1


def test_widely_spread_pair_shift_stays_on_the_fixed_scale(path_counter):
    # offsets spread over 2000 nats: exp(o - max o) underflows to 0 for the weak nodes, yet every
    # denominator keeps the strong nodes' terms (the anchor's own offset is factored out), so the
    # fixed-scale path stays exact; reference: the dense log-sum-exp path (exp space would overflow)
    z1, z2 = pair(60, 5, seed=12)
    strength = torch.linspace(-1, 1, 60, dtype=torch.float64)
    dense = infonce_dense(z1, z2, 0.5, pair_shift=(strength, 500.0))
    out = infonce(z1, z2, 0.5, block_size=16, pair_shift=(strength, 500.0))
    assert path_counter["forward"] == 0
    assert abs(out.item() - dense.item()) < 1e-10 * max(1.0, abs(dense.item()))
    for a, b in zip(grads(dense, z1, z2), grads(out, z1, z2)):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-7)


def test_deterministic_and_independent_of_tiling():
    z1, z2 = pair(300, 8, seed=13, dtype=torch.float32)
    a = infonce(z1, z2, 0.5, block_size=64)
    b = infonce(z1, z2, 0.5, block_size=64)
    assert a.item() == b.item()
    c = infonce(z1, z2, 0.5, block_size=300)
    assert abs(a.item() - c.item()) < 1e-6


# --------------------------------------------------------------------------- memory property


def saved_tensor_sizes(fn):
    sizes = []

    def pack(t):
        sizes.append(t.numel())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    return out, sizes


@pytest.mark.parametrize("opts", [{}, {"intra_view_negatives": False}, {"debiased": True},
                                  {"pair_shift": (torch.rand(500), 1.0)}])
def test_blockwise_saves_no_block_by_n_tensor(opts):
    n, d, block = 500, 8, 50
    z1, z2 = pair(n, d, dtype=torch.float32)
    out, sizes = saved_tensor_sizes(lambda: infonce(z1, z2, 0.5, block_size=block, **opts))
    assert sizes, "the hook recorded nothing"
    # only [N, d] embeddings and [N] vectors are kept for backward, never a block x N one
    assert max(sizes) <= n * d < n * block
    out.backward()
    assert z1.grad is not None and torch.isfinite(z1.grad).all()
    # sanity check of the probe: the dense path does keep N x N tensors
    _, dense_sizes = saved_tensor_sizes(lambda: infonce_dense(z1, z2, 0.5))
    assert max(dense_sizes) >= n * n


# --------------------------------------------------------------------------- errors


def test_infonce_errors():
    z = torch.randn(5, 3)
    with pytest.raises(ValueError, match="same shape"):
        infonce(z, torch.randn(5, 4))
    with pytest.raises(ValueError, match="same shape"):
        infonce(z, torch.randn(6, 3))
    with pytest.raises(ValueError, match="tau"):
        infonce(z, z, tau=0)
    with pytest.raises(ValueError, match="tau"):
        infonce(z, z, tau=-0.5)
    with pytest.raises(ValueError, match="tau"):
        infonce(z, z, tau=float("nan"))
    with pytest.raises(ValueError, match="2-D"):
        infonce(torch.randn(5), torch.randn(5))
    with pytest.raises(TypeError, match="floating"):
        infonce(torch.ones(5, 3, dtype=torch.long), torch.ones(5, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="block_size"):
        infonce(z, z, block_size=0)
    with pytest.raises(ValueError, match="at least 2"):
        infonce(z[:1], z[:1])
    with pytest.raises(ValueError, match="tau_plus"):
        infonce(z, z, debiased=True, tau_plus=1.0)
    with pytest.raises(ValueError, match="strength"):
        infonce(z, z, pair_shift=(torch.ones(4), 1.0))
    with pytest.raises(ValueError, match="gamma"):
        infonce(z, z, pair_shift=(torch.ones(5), -1.0))
    with pytest.raises(ValueError, match="reduction"):
        infonce(z, z, reduction="sum")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_infonce_cuda_matches_cpu():
    z1, z2 = pair(300, 16, dtype=torch.float32)
    cpu = infonce(z1, z2, 0.5, block_size=64)
    gpu = infonce(z1.detach().cuda(), z2.detach().cuda(), 0.5, block_size=64)
    assert gpu.device.type == "cuda"
    assert abs(cpu.item() - gpu.item()) < 1e-4


# --------------------------------------------------------------------------- alignment / uniformity


def test_alignment_matches_formula():
    z1, z2 = pair(40, 5)
    u, v = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    expected = ((u - v) ** 2).sum(1).mean()
    assert abs(alignment(z1, z2).item() - expected.item()) < 1e-12
    expected3 = (u - v).norm(dim=1).pow(3).mean()
    assert abs(alignment(z1, z2, alpha=3).item() - expected3.item()) < 1e-12
    assert alignment(z1, z1).item() < 1e-12
    with pytest.raises(ValueError, match="same shape"):
        alignment(z1, z2[:5])
    with pytest.raises(ValueError, match="alpha"):
        alignment(z1, z2, alpha=0)


@pytest.mark.parametrize("block_size", [None, 7, 1000])
def test_uniformity_matches_pdist_and_gradient(block_size):
    z, _ = pair(90, 6)
    u = F.normalize(z, dim=1)
    ref = torch.pdist(u).pow(2).mul(-2).exp().mean().log()  # Wang & Isola's definition over i < j
    out = uniformity(z, t=2, block_size=block_size)
    assert abs(out.item() - ref.item()) < 1e-10
    for a, b in zip(grads(ref, z), grads(out, z)):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-7)


def test_uniformity_orders_spread_and_collapsed_embeddings():
    g = gen(0)
    spread = torch.randn(200, 8, generator=g)
    collapsed = torch.ones(200, 8) + 0.01 * torch.randn(200, 8, generator=g)
    assert uniformity(spread).item() < uniformity(collapsed).item()
    assert abs(uniformity(collapsed).item()) < 1e-3  # all points coincide: log(e^0) = 0
    with pytest.raises(ValueError, match="t must"):
        uniformity(spread, t=-1)
    with pytest.raises(ValueError, match="at least 2"):
        uniformity(spread[:1])
