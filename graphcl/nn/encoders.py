"""GNN encoders (stacks of PyG convolutions) and the projection head of GRACE-style methods.

All encoders take ``(x, edge_index)`` with a plain ``[2, E]`` ``edge_index``
(no torch-sparse / pyg-lib needed) and share the layout

    in_dim -> hidden_dim -> ... -> hidden_dim -> out_dim   (num_layers convolutions)

with ``norm`` (optional), ``activation`` after every layer (also the last one
unless ``act_last=False``, as GRACE/GCA/CSGCL do) and ``dropout`` on the input
of every layer but the first. GRACE's encoder is ``GCNEncoder(in, 2h, h)``.

Sparse first layer: when the input ``x`` has at most ``sparse_input_density``
non-zero entries (bag-of-words features; :func:`graphcl.sparse.sparse_features`),
the first convolution's input product runs as a sparse-dense product
(:func:`graphcl.sparse.sparse_linear`, O(nnz(x) * width) instead of
O(N * in_dim * width)) and the layer's propagation is applied to its result.
The product commutes with the aggregation of GCN, GraphSAGE (mean) and GIN (the
first ``Linear`` of its MLP), so the output and the parameter gradients equal the
dense layer's up to float rounding. GAT (attention on the projected features)
keeps the dense path. The dense path is also taken when ``x`` requires a gradient
(the sparse product gives none to ``x``) or ``sparse_input_density=None``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm

from graphcl.sparse import sparse_features, sparse_linear
from graphcl.validation import check_positive_int

__all__ = ["GCNEncoder", "GATEncoder", "SAGEEncoder", "GINEncoder", "ProjectionHead", "make_activation",
           "ACTIVATIONS"]

ACTIVATIONS = ("relu", "prelu", "elu", "rrelu")


def make_activation(name: str, channels: int = 1) -> nn.Module:
    """An activation module by name (``relu``, ``prelu``, ``elu``, ``rrelu``).

    ``prelu`` has one learnable slope per layer (as GRACE); ``rrelu`` samples its
    slopes from torch's global generator in training mode (seed it for
    reproducibility) and uses their mean in eval mode.

    Example:
        >>> make_activation("prelu")
        PReLU(num_parameters=1)
    """
    if not isinstance(name, str) or name.lower() not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {name!r}")
    name = name.lower()
    if name == "relu":
        return nn.ReLU()
    if name == "prelu":
        return nn.PReLU(channels)
    if name == "elu":
        return nn.ELU()
    return nn.RReLU()


def _make_norm(norm: str | None, channels: int) -> nn.Module:
    if norm is None:
        return nn.Identity()
    if norm == "batch":
        return nn.BatchNorm1d(channels)
    if norm == "layer":
        return nn.LayerNorm(channels)
    raise ValueError(f"norm must be None, 'batch' or 'layer', got {norm!r}")


def _check_density(value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise ValueError(f"sparse_input_density must be None or a number in [0, 1], got {value!r}")
    return float(value)


class _GNNEncoder(nn.Module):
    """Common layer stack; subclasses provide ``_conv(in_channels, out_channels, last)`` and, where the
    first layer's input product commutes with its aggregation, ``_sparse_conv(conv, xs, edge_index,
    edge_weight)`` (the layer on a sparse CSR ``xs``)."""

    uses_edge_weight = False
    supports_sparse_input = False

    def __init__(
        self,
        in_dim: int,
        hidden_dim: int,
        out_dim: int,
        num_layers: int = 2,
        activation: str = "relu",
        norm: str | None = None,
        dropout: float = 0.0,
        act_last: bool = True,
        *,
        sparse_input_density: float | None = 0.1,
    ) -> None:
        super().__init__()
        check_positive_int(in_dim, "in_dim")
        check_positive_int(hidden_dim, "hidden_dim")
        check_positive_int(out_dim, "out_dim")
        check_positive_int(num_layers, "num_layers")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        make_activation(activation)  # validates the name
        _make_norm(norm, 1)
        self.sparse_input_density = _check_density(sparse_input_density)
        self.in_dim, self.hidden_dim, self.out_dim = in_dim, hidden_dim, out_dim
        self.num_layers, self.act_last = num_layers, bool(act_last)
        dims = [in_dim] + [hidden_dim] * (num_layers - 1) + [out_dim]
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        self.acts = nn.ModuleList()
        for i in range(num_layers):
            last = i == num_layers - 1
            self.convs.append(self._conv(dims[i], dims[i + 1], last))
            active = not last or self.act_last
            self.norms.append(_make_norm(norm, dims[i + 1]) if active else nn.Identity())
            self.acts.append(make_activation(activation) if active else nn.Identity())
        self.dropout = nn.Dropout(float(dropout))

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:  # pragma: no cover
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Re-initialise every layer (uses torch's global generator)."""
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def _sparse_conv(self, conv: nn.Module, xs: Tensor, edge_index: Tensor,
                     edge_weight: Tensor | None) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def sparse_input(self, x: Tensor) -> Tensor:
        """``x`` as the sparse CSR matrix the first layer will use, or ``x`` itself (dense path: encoder without a
        sparse first layer, ``sparse_input_density=None``, ``x`` too dense or requiring a gradient; an ``x``
        that is already a torch sparse tensor is returned as is and used as such).

        Example:
            >>> GCNEncoder(20, 8, 4).sparse_input(torch.eye(20)).layout
            torch.sparse_csr
        """
        if (not self.supports_sparse_input or self.sparse_input_density is None or not isinstance(x, Tensor)
                or x.dim() != 2 or x.requires_grad):
            return x
        return sparse_features(x, self.sparse_input_density)

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """Node embeddings ``[N, out_dim]``; ``edge_weight`` is used by GCN only."""
        if not self.uses_edge_weight:
            edge_weight = None
        for i, (conv, norm, act) in enumerate(zip(self.convs, self.norms, self.acts)):
            if i > 0:
                x = self.dropout(x)
            xs = self.sparse_input(x) if i == 0 else x
            if i == 0 and self.supports_sparse_input and xs.layout != torch.strided:
                x = self._sparse_conv(conv, xs, edge_index, edge_weight)
            elif edge_weight is not None:
                x = conv(x, edge_index, edge_weight)
            else:
                x = conv(x, edge_index)
            x = act(norm(x))
        return x


class GCNEncoder(_GNNEncoder):
    """Stack of ``GCNConv`` (symmetric normalisation, self loops, ``cached=False``).

    Example:
        >>> enc = GCNEncoder(8, 32, 16)  # GRACE: in -> 2h -> h
        >>> enc(torch.randn(4, 8), torch.tensor([[0, 1, 2], [1, 2, 3]])).shape
        torch.Size([4, 16])
    """

    uses_edge_weight = True
    supports_sparse_input = True

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        return GCNConv(in_channels, out_channels, cached=False)

    def _sparse_conv(self, conv: nn.Module, xs: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        # GCNConv.forward (cached=False) with its linear product on the sparse input
        if conv.normalize:
            edge_index, edge_weight = gcn_norm(edge_index, edge_weight, xs.size(0), conv.improved,
                                               conv.add_self_loops, conv.flow, xs.dtype)
        out = conv.propagate(edge_index, x=sparse_linear(xs, conv.lin), edge_weight=edge_weight)
        return out if conv.bias is None else out + conv.bias


class SAGEEncoder(_GNNEncoder):
    """Stack of ``SAGEConv`` (mean aggregation).

    Example:
        >>> SAGEEncoder(8, 32, 16)(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([4, 16])
    """

    supports_sparse_input = True

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        return SAGEConv(in_channels, out_channels, aggr="mean")

    def _sparse_conv(self, conv: nn.Module, xs: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        # lin_l(mean_j x_j) + lin_r(x) = mean_j (x_j W_l^T) + b_l + x W_r^T: one sparse product for both weights
        width = conv.lin_l.weight.size(0)
        h = torch.sparse.mm(xs, torch.cat([conv.lin_l.weight, conv.lin_r.weight]).t())
        h_l, h_r = h[:, :width], h[:, width:]
        out = conv.propagate(edge_index, x=(h_l, h_l), size=None)
        if conv.lin_l.bias is not None:
            out = out + conv.lin_l.bias
        return out + h_r


class GINEncoder(_GNNEncoder):
    """Stack of ``GINConv`` whose MLP is ``Linear -> ReLU -> Linear`` (``eps`` learnable).

    Example:
        >>> GINEncoder(8, 32, 16)(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([4, 16])
    """

    supports_sparse_input = True

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        mlp = nn.Sequential(nn.Linear(in_channels, out_channels), nn.ReLU(), nn.Linear(out_channels, out_channels))
        return GINConv(mlp, train_eps=True)

    def _sparse_conv(self, conv: nn.Module, xs: Tensor, edge_index: Tensor, edge_weight: Tensor | None) -> Tensor:
        # Linear(sum_j x_j + (1 + eps) x) = sum_j x_j W^T + (1 + eps) x W^T + b, then the rest of the MLP
        first = conv.nn[0]
        h = torch.sparse.mm(xs, first.weight.t())
        out = conv.propagate(edge_index, x=(h, h), size=None) + (1 + conv.eps) * h
        if first.bias is not None:
            out = out + first.bias
        return conv.nn[1:](out)


class GATEncoder(_GNNEncoder):
    """Stack of ``GATConv``: hidden layers with ``heads`` concatenated heads of
    ``hidden_dim // heads`` channels, the last layer one head of ``out_dim``.

    Example:
        >>> GATEncoder(8, 32, 16, heads=4)(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([4, 16])
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2, activation: str = "relu",
                 norm: str | None = None, dropout: float = 0.0, act_last: bool = True, heads: int = 4,
                 attn_dropout: float = 0.0, *, sparse_input_density: float | None = 0.1) -> None:
        check_positive_int(heads, "heads")
        if num_layers > 1 and hidden_dim % heads:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be divisible by heads ({heads})")
        self.heads, self.attn_dropout = heads, float(attn_dropout)
        super().__init__(in_dim, hidden_dim, out_dim, num_layers, activation, norm, dropout, act_last,
                         sparse_input_density=sparse_input_density)

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        if last:
            return GATConv(in_channels, out_channels, heads=1, dropout=self.attn_dropout)
        return GATConv(in_channels, out_channels // self.heads, heads=self.heads, concat=True,
                       dropout=self.attn_dropout)


class ProjectionHead(nn.Module):
    """Projection ``g``: ``Linear(in, hidden) -> activation -> Linear(hidden, out)``.

    ``activation="elu"`` is GRACE's head; GraphCL/SEGA use ``"relu"``.

    Example:
        >>> ProjectionHead(16, 16, 16)(torch.randn(3, 16)).shape
        torch.Size([3, 16])
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, activation: str = "elu") -> None:
        super().__init__()
        check_positive_int(in_dim, "in_dim")
        check_positive_int(hidden_dim, "hidden_dim")
        check_positive_int(out_dim, "out_dim")
        self.fc1 = nn.Linear(in_dim, hidden_dim)
        self.act = make_activation(activation, hidden_dim)
        self.fc2 = nn.Linear(hidden_dim, out_dim)

    def reset_parameters(self) -> None:
        self.fc1.reset_parameters()
        self.fc2.reset_parameters()

    def forward(self, z: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(z)))
