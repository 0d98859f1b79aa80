import pytest
import torch

from graphcl.nn import ENCODERS, GATEncoder, GCNEncoder, GINEncoder, ProjectionHead, SAGEEncoder, make_activation


def small_graph(n=12, f=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, f, generator=g)
    src = torch.arange(n)
    dst = (src + 1) % n
    edge_index = torch.cat([torch.stack([src, dst]), torch.stack([dst, src])], 1)
    return x, edge_index


@pytest.mark.parametrize("cls", [GCNEncoder, GATEncoder, SAGEEncoder, GINEncoder])
@pytest.mark.parametrize("num_layers", [1, 2, 3])
def test_encoder_output_shape_and_dtype(cls, num_layers):
    x, ei = small_graph()
    enc = cls(5, 16, 8, num_layers=num_layers)
    out = enc(x, ei)
    assert out.shape == (12, 8) and out.dtype == torch.float32
    assert len(enc.convs) == num_layers
    out.sum().backward()
    assert all(p.grad is not None for p in enc.parameters() if p.requires_grad)


def test_grace_encoder_layout_and_activation_after_every_layer():
    x, ei = small_graph()
    enc = GCNEncoder(5, 2 * 8, 8)  # GRACE: in -> 2h -> h
    assert [c.in_channels for c in enc.convs] == [5, 16] and [c.out_channels for c in enc.convs] == [16, 8]
    assert (enc(x, ei) >= 0).all()  # ReLU after the last layer too
    torch.manual_seed(0)
    no_last = GCNEncoder(5, 16, 8, act_last=False)
    assert (no_last(x, ei) < 0).any()


def test_gcn_encoder_matches_hand_computed_propagation():
    # one GCN layer, no activation: D^-1/2 (A + I) D^-1/2 X W^T + b
    x, ei = small_graph(6, 3)
    enc = GCNEncoder(3, 4, 4, num_layers=1, act_last=False)
    conv = enc.convs[0]
    a = torch.zeros(6, 6)
    a[ei[0], ei[1]] = 1
    a += torch.eye(6)
    d = a.sum(1).pow(-0.5)
    expected = (d[:, None] * a * d[None, :]) @ (x @ conv.lin.weight.t()) + conv.bias
    torch.testing.assert_close(enc(x, ei), expected, atol=1e-5, rtol=1e-5)
    # edge weights are used by GCN
    w = torch.full((ei.size(1),), 2.0)
    assert not torch.allclose(enc(x, ei, w), enc(x, ei))


@pytest.mark.parametrize("name", ["relu", "prelu", "elu", "rrelu"])
@pytest.mark.parametrize("norm", [None, "batch", "layer"])
def test_activations_and_norms(name, norm):
    x, ei = small_graph()
    enc = GCNEncoder(5, 16, 8, activation=name, norm=norm, dropout=0.2)
    enc.eval()
    out = enc(x, ei)
    assert out.shape == (12, 8) and torch.isfinite(out).all()
    torch.testing.assert_close(enc(x, ei), out)  # eval mode: deterministic (no dropout, RReLU fixed slope)


def test_determinism_same_seed_same_output():
    x, ei = small_graph()
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        outs.append(GATEncoder(5, 16, 8, heads=4)(x, ei))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)
    torch.manual_seed(4)
    assert not torch.allclose(GATEncoder(5, 16, 8, heads=4)(x, ei), outs[0])


def test_projection_head():
    head = ProjectionHead(8, 32, 8)
    z = torch.randn(4, 8)
    expected = head.fc2(torch.nn.functional.elu(head.fc1(z)))
    torch.testing.assert_close(head(z), expected)
    assert head.fc1.out_features == 32 and head.fc2.out_features == 8


def test_errors():
    with pytest.raises(ValueError, match="activation"):
        GCNEncoder(5, 16, 8, activation="tanh")
    with pytest.raises(ValueError, match="norm"):
        GCNEncoder(5, 16, 8, norm="group")
    with pytest.raises(ValueError, match="num_layers"):
        GCNEncoder(5, 16, 8, num_layers=0)
    with pytest.raises(ValueError, match="dropout"):
        SAGEEncoder(5, 16, 8, dropout=1.0)
    with pytest.raises(ValueError, match="divisible"):
        GATEncoder(5, 10, 8, heads=4)
    with pytest.raises((ValueError, TypeError), match="in_dim"):
        ProjectionHead(0, 4, 4)
    assert make_activation("PReLU").num_parameters == 1
    assert set(ENCODERS) == {"gcn", "gat", "sage", "gin"}


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("cls", [GCNEncoder, GATEncoder, SAGEEncoder, GINEncoder])
def test_encoders_on_cuda(cls):
    x, ei = small_graph()
    enc = cls(5, 16, 8).cuda()
    out = enc(x.cuda(), ei.cuda())
    assert out.device.type == "cuda" and out.shape == (12, 8)


def test_gin_graph_encoder_readout_and_invariance():
    from graphcl.nn import GINGraphEncoder, readout

    torch.manual_seed(0)
    enc = GINGraphEncoder(3, 8, num_layers=2, batch_norm=False).eval()
    x = torch.randn(5, 3)
    ei = torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    batch = torch.tensor([0, 0, 0, 1, 1])
    h, g = enc(x, ei, batch)
    assert h.shape == (5, 16) and g.shape == (2, 16) and enc.out_dim == 16
    torch.testing.assert_close(g[0], h[:3].sum(0))
    torch.testing.assert_close(g[1], h[3:].sum(0))
    # relabelling the nodes of a graph leaves its graph embedding unchanged
    perm = torch.tensor([2, 0, 1, 4, 3])
    inv = torch.empty_like(perm)
    inv[perm] = torch.arange(5)
    _, g2 = enc(x[perm], inv[ei], batch[perm])
    torch.testing.assert_close(g2, g)
    _, gm = GINGraphEncoder(3, 8, 2, readout="mean", concat=False, batch_norm=False).eval()(x, ei, batch)
    assert gm.shape == (2, 8)
    torch.testing.assert_close(readout(torch.ones(3, 2), None, "mean"), torch.ones(1, 2))


def test_gin_graph_encoder_errors():
    from graphcl.nn import GINGraphEncoder, readout

    with pytest.raises(ValueError, match="readout"):
        GINGraphEncoder(3, 8, readout="median")
    with pytest.raises(ValueError, match=r"x must have shape \[N, 3\]"):
        GINGraphEncoder(3, 8)(torch.randn(4, 2), torch.tensor([[0], [1]]))
    with pytest.raises(ValueError, match="batch must have shape"):
        readout(torch.ones(3, 2), torch.zeros(2, dtype=torch.long))
