import math

import pytest
import torch
import torch.nn.functional as F

from graphcl.losses import alignment, default_block_size, infonce, infonce_dense, uniformity


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
    assert default_block_size(4096) == 1024
    assert default_block_size(10_000) == 2**23 // 10_000
    assert default_block_size(10**7) == 32
    # block_size=None goes through the blockwise function: nothing N x N is saved
    z1, z2 = pair(400, 4, dtype=torch.float32)
    _, sizes = saved_tensor_sizes(lambda: infonce(z1, z2, 0.5))
    assert max(sizes) <= 400 * 4


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
