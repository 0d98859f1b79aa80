"""Graph-level encoder: a GIN stack with a readout after every layer.

GraphCL, SEGA and GCC all encode a batch of graphs with GIN layers and read
each layer's node states out into one vector per graph; the graph embedding is
the concatenation of the per-layer readouts (``concat=True``, GraphCL/InfoGraph
style) or the last layer's readout only.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch_geometric.nn import GINConv, global_add_pool, global_max_pool, global_mean_pool

from graphcl.validation import check_positive_int

__all__ = ["GINGraphEncoder", "READOUTS", "readout"]

READOUTS = {"sum": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}


def readout(x: Tensor, batch: Tensor | None, kind: str = "sum", num_graphs: int | None = None) -> Tensor:
    """Pool node states ``x [N, d]`` into ``[num_graphs, d]`` by ``batch`` (sum, mean or max).

    Example:
        >>> readout(torch.ones(3, 2), torch.tensor([0, 0, 1])).tolist()
        [[2.0, 2.0], [1.0, 1.0]]
    """
    if kind not in READOUTS:
        raise ValueError(f"readout must be one of {sorted(READOUTS)}, got {kind!r}")
    if batch is None:
        batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
    if batch.dim() != 1 or batch.numel() != x.size(0):
        raise ValueError(f"batch must have shape [{x.size(0)}], got {list(batch.shape)}")
    return READOUTS[kind](x, batch, size=num_graphs)


class GINGraphEncoder(nn.Module):
    """GIN layers (``Linear -> ReLU -> Linear`` MLPs), each followed by ReLU and
    optional batch norm, with a readout of every layer.

    ``forward(x, edge_index, batch=None, num_graphs=None)`` returns
    ``(node_emb, graph_emb)``: node states of every layer concatenated
    ``[N, L * hidden]`` (or the last layer's ``[N, hidden]`` when
    ``concat=False``) and their readout ``[B, L * hidden]`` (or ``[B, hidden]``).

    Example:
        >>> enc = GINGraphEncoder(4, 8, num_layers=3)
        >>> h, g = enc(torch.randn(5, 4), torch.tensor([[0, 1, 3], [1, 2, 4]]), torch.tensor([0, 0, 0, 1, 1]))
        >>> h.shape, g.shape
        (torch.Size([5, 24]), torch.Size([2, 24]))
    """

    def __init__(self, in_dim: int, hidden_dim: int = 32, num_layers: int = 3, *, readout: str = "sum",
                 concat: bool = True, batch_norm: bool = True, train_eps: bool = False) -> None:
        super().__init__()
        check_positive_int(in_dim, "in_dim")
        check_positive_int(hidden_dim, "hidden_dim")
        check_positive_int(num_layers, "num_layers")
        if readout not in READOUTS:
            raise ValueError(f"readout must be one of {sorted(READOUTS)}, got {readout!r}")
        self.in_dim, self.hidden_dim, self.num_layers = in_dim, hidden_dim, num_layers
        self.readout_kind, self.concat = readout, bool(concat)
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for i in range(num_layers):
            d_in = in_dim if i == 0 else hidden_dim
            mlp = nn.Sequential(nn.Linear(d_in, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, hidden_dim))
            self.convs.append(GINConv(mlp, train_eps=train_eps))
            self.norms.append(nn.BatchNorm1d(hidden_dim) if batch_norm else nn.Identity())

    @property
    def out_dim(self) -> int:
        """Width of the node and graph embeddings."""
        return self.hidden_dim * (self.num_layers if self.concat else 1)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, x: Tensor, edge_index: Tensor, batch: Tensor | None = None,
                num_graphs: int | None = None) -> tuple[Tensor, Tensor]:
        if x.dim() != 2 or x.size(1) != self.in_dim:
            raise ValueError(f"x must have shape [N, {self.in_dim}], got {list(x.shape)}")
        if batch is None:
            batch = torch.zeros(x.size(0), dtype=torch.long, device=x.device)
        if num_graphs is None:
            num_graphs = int(batch.max()) + 1 if batch.numel() else 0
        layers = []
        for conv, norm in zip(self.convs, self.norms):
            x = norm(torch.relu(conv(x, edge_index)))
            layers.append(x)
        h = torch.cat(layers, dim=1) if self.concat else layers[-1]
        g = torch.cat([readout(t, batch, self.readout_kind, num_graphs) for t in layers], dim=1) if self.concat \
            else readout(layers[-1], batch, self.readout_kind, num_graphs)
        return h, g
