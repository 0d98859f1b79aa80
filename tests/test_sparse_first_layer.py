"""Sparse first layer of the GNN encoders: equal to the dense layer (outputs and gradients) to 1e-5."""

from __future__ import annotations

import pytest
import torch

from graphcl.augment import drop_edge, mask_feature
from graphcl.nn import GATEncoder, GCNEncoder, GINEncoder, SAGEEncoder
from graphcl.nn.encoders import _GNNEncoder


def _bow(n: int = 60, f: int = 50, density: float = 0.05, seed: int = 0) -> torch.Tensor:
    """Bag-of-words-like features: binary, ~``density`` non-zero, some values != 1."""
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, f, generator=g) < density).float()
    return x * torch.rand(n, f, generator=g).add(0.5)


def _graph(n: int = 60, e: int = 240, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    ei = torch.randint(0, n, (2, e), generator=g)
    ei = ei[:, ei[0] != ei[1]]  # no self loops (GCN adds them); duplicates kept (they are summed)
    return torch.cat([ei, ei.flip(0)], 1)


def _run(enc: _GNNEncoder, x: torch.Tensor, ei: torch.Tensor, ew: torch.Tensor | None, density: float | None):
    """Output and parameter gradients (of a fixed random linear functional) with the given density switch."""
    enc.zero_grad(set_to_none=True)
    enc.sparse_input_density = density
    out = enc(x, ei, ew)
    w = torch.linspace(-1, 1, out.numel()).view_as(out)
    (out * w).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in enc.named_parameters() if p.grad is not None}


def _count_sparse_calls(enc: _GNNEncoder) -> list[int]:
    calls: list[int] = []
    orig = enc._sparse_conv

    def wrapped(*args):
        calls.append(1)
        return orig(*args)

    enc._sparse_conv = wrapped
    return calls


@pytest.mark.parametrize("cls", [GCNEncoder, SAGEEncoder, GINEncoder])
@pytest.mark.parametrize("weighted", [False, True])
def test_sparse_first_layer_equals_dense_forward_and_gradients(cls, weighted):
    torch.manual_seed(0)
    enc = cls(50, 32, 16, num_layers=2, activation="prelu", act_last=False)
    x, ei = _bow(), _graph()
    ew = torch.rand(ei.size(1), generator=torch.Generator().manual_seed(2)) + 0.1 if weighted else None
    calls = _count_sparse_calls(enc)
    out_s, grad_s = _run(enc, x, ei, ew, 0.1)
    assert len(calls) == 1  # the sparse path ran, for the first layer only
    out_d, grad_d = _run(enc, x, ei, ew, None)
    assert len(calls) == 1  # ... and not with the switch off
    assert torch.allclose(out_s, out_d, atol=1e-5, rtol=1e-5)
    assert grad_s.keys() == grad_d.keys() and len(grad_s) == len(list(enc.parameters()))
    for name in grad_d:
        assert torch.allclose(grad_s[name], grad_d[name], atol=1e-5, rtol=1e-5), name


def test_sparse_first_layer_matches_plain_gcnconv_reference():
    """Against a hand-written dense GCN layer: D^-1/2 (A + I) D^-1/2 X W^T + b."""
    torch.manual_seed(0)
    enc = GCNEncoder(50, 16, 8, num_layers=1, act_last=False)
    x, ei = _bow(), _graph()
    n = x.size(0)
    A = torch.zeros(n, n).index_put_((ei[1], ei[0]), torch.ones(ei.size(1)), accumulate=True) + torch.eye(n)
    dinv = A.sum(1).pow(-0.5)
    conv = enc.convs[0]
    ref = dinv[:, None] * A * dinv[None, :] @ (x @ conv.lin.weight.t()) + conv.bias
    assert enc.sparse_input(x).layout == torch.sparse_csr
    assert torch.allclose(enc(x, ei), ref, atol=1e-5)


@pytest.mark.parametrize("cls", [GCNEncoder, SAGEEncoder, GINEncoder])
def test_sparse_first_layer_on_grace_views(cls):
    """The views GRACE feeds the encoder: column-masked features on edge-dropped graphs, several draws."""
    torch.manual_seed(3)
    enc = cls(50, 32, 16, activation="prelu")
    x, ei = _bow(density=0.08), _graph()
    gen = torch.Generator().manual_seed(0)
    for p_f, p_e in [(0.3, 0.2), (0.2, 0.4), (0.0, 0.0)]:
        xv, _ = mask_feature(x, p_f, generator=gen)
        ev, _ = drop_edge(ei, p_e, generator=gen)
        enc.sparse_input_density = 0.1
        assert enc.sparse_input(xv).layout == torch.sparse_csr
        out_s, grad_s = _run(enc, xv, ev, None, 0.1)
        out_d, grad_d = _run(enc, xv, ev, None, None)
        assert torch.allclose(out_s, out_d, atol=1e-5, rtol=1e-5)
        for name in grad_d:
            assert torch.allclose(grad_s[name], grad_d[name], atol=1e-5, rtol=1e-5), name


def test_dense_input_fallback_and_switches():
    torch.manual_seed(0)
    enc = GCNEncoder(50, 16, 8)
    calls = _count_sparse_calls(enc)
    ei = _graph()
    dense_x = torch.randn(60, 50)  # all entries non-zero: dense path
    assert enc.sparse_input(dense_x) is dense_x
    enc(dense_x, ei)
    assert calls == []
    x = _bow()
    enc.sparse_input_density = 0.01  # below the 5 % density of x: dense path
    assert enc.sparse_input(x) is x
    enc(x, ei)
    assert calls == []
    enc.sparse_input_density = 0.1
    xg = x.clone().requires_grad_(True)  # the sparse product gives no gradient to x: dense path
    assert enc.sparse_input(xg) is xg
    enc(xg, ei).sum().backward()
    assert calls == [] and xg.grad is not None
    enc(x, ei)
    assert calls == [1]


def test_gat_keeps_dense_path():
    torch.manual_seed(0)
    enc = GATEncoder(50, 32, 16, heads=4)
    x = _bow()
    assert enc.sparse_input(x) is x
    assert enc(x, _graph()).shape == (60, 16)


def test_eval_mode_and_float64_equal_dense():
    torch.manual_seed(0)
    enc = GCNEncoder(50, 32, 16, activation="prelu").double().eval()
    x, ei = _bow().double(), _graph()
    with torch.no_grad():
        enc.sparse_input_density = 0.1
        a = enc(x, ei)
        enc.sparse_input_density = None
        b = enc(x, ei)
    assert a.dtype == torch.float64
    assert torch.allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.1", True])
def test_bad_density_raises(bad):
    with pytest.raises(ValueError, match="sparse_input_density"):
        GCNEncoder(4, 8, 4, sparse_input_density=bad)


def test_grace_training_steps_equal_dense_on_citeseer(data_root, monkeypatch):
    """Three GRACE epochs on CiteSeer (small encoder): per-epoch losses of the sparse and dense builds agree."""
    from graphcl.config import load_config
    from graphcl.data import load
    from graphcl.methods.grace import train_grace

    data = load("citeseer", root=data_root)
    cfg = dict(load_config("grace", "citeseer"), epochs=3, hidden=32, proj_hidden=32)
    out_s = train_grace(data, cfg, seed=0)
    assert out_s["model"].encoder.sparse_input(data.x).layout == torch.sparse_csr
    monkeypatch.setattr(GCNEncoder, "supports_sparse_input", False)  # the dense build
    assert out_s["model"].encoder.sparse_input(data.x) is data.x
    out_d = train_grace(data, cfg, seed=0)
    losses_s = [h["loss"] for h in out_s["history"]]
    losses_d = [h["loss"] for h in out_d["history"]]
    assert losses_s == pytest.approx(losses_d, rel=1e-5, abs=1e-5)
    assert torch.allclose(out_s["embedding"], out_d["embedding"], atol=1e-4)
