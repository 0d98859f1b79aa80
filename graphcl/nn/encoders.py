"""GNN encoders (stacks of PyG convolutions) and the projection head of GRACE-style methods.

All encoders take ``(x, edge_index)`` with a plain ``[2, E]`` ``edge_index``
(no torch-sparse / pyg-lib needed) and share the layout

    in_dim -> hidden_dim -> ... -> hidden_dim -> out_dim   (num_layers convolutions)

with ``norm`` (optional), ``activation`` after every layer (also the last one
unless ``act_last=False``, as GRACE/GCA/CSGCL do) and ``dropout`` on the input
of every layer but the first. GRACE's encoder is ``GCNEncoder(in, 2h, h)``.
"""

from __future__ import annotations

import torch  # noqa: F401  (used by the doctests)
from torch import Tensor, nn
from torch_geometric.nn import GATConv, GCNConv, GINConv, SAGEConv

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


class _GNNEncoder(nn.Module):
    """Common layer stack; subclasses provide ``_conv(in_channels, out_channels, last)``."""

    uses_edge_weight = False

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

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        """Node embeddings ``[N, out_dim]``; ``edge_weight`` is used by GCN only."""
        for i, (conv, norm, act) in enumerate(zip(self.convs, self.norms, self.acts)):
            if i > 0:
                x = self.dropout(x)
            if self.uses_edge_weight and edge_weight is not None:
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

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        return GCNConv(in_channels, out_channels, cached=False)


class SAGEEncoder(_GNNEncoder):
    """Stack of ``SAGEConv`` (mean aggregation).

    Example:
        >>> SAGEEncoder(8, 32, 16)(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([4, 16])
    """

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        return SAGEConv(in_channels, out_channels, aggr="mean")


class GINEncoder(_GNNEncoder):
    """Stack of ``GINConv`` whose MLP is ``Linear -> ReLU -> Linear`` (``eps`` learnable).

    Example:
        >>> GINEncoder(8, 32, 16)(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([4, 16])
    """

    def _conv(self, in_channels: int, out_channels: int, last: bool) -> nn.Module:
        mlp = nn.Sequential(nn.Linear(in_channels, out_channels), nn.ReLU(), nn.Linear(out_channels, out_channels))
        return GINConv(mlp, train_eps=True)


class GATEncoder(_GNNEncoder):
    """Stack of ``GATConv``: hidden layers with ``heads`` concatenated heads of
    ``hidden_dim // heads`` channels, the last layer one head of ``out_dim``.

    Example:
        >>> GATEncoder(8, 32, 16, heads=4)(torch.randn(4, 8), torch.tensor([[0, 1], [1, 2]])).shape
        torch.Size([4, 16])
    """

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_layers: int = 2, activation: str = "relu",
                 norm: str | None = None, dropout: float = 0.0, act_last: bool = True, heads: int = 4,
                 attn_dropout: float = 0.0) -> None:
        check_positive_int(heads, "heads")
        if num_layers > 1 and hidden_dim % heads:
            raise ValueError(f"hidden_dim ({hidden_dim}) must be divisible by heads ({heads})")
        self.heads, self.attn_dropout = heads, float(attn_dropout)
        super().__init__(in_dim, hidden_dim, out_dim, num_layers, activation, norm, dropout, act_last)

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
