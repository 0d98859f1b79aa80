"""graphcl.nn: GNN encoders and projection heads.

Example:
    >>> import torch
    >>> from graphcl.nn import GCNEncoder, ProjectionHead
    >>> enc, head = GCNEncoder(8, 32, 16), ProjectionHead(16, 16, 16)
    >>> head(enc(torch.randn(3, 8), torch.tensor([[0, 1], [1, 2]]))).shape
    torch.Size([3, 16])
"""

from graphcl.nn.encoders import (
    ACTIVATIONS,
    GATEncoder,
    GCNEncoder,
    GINEncoder,
    ProjectionHead,
    SAGEEncoder,
    make_activation,
)
from graphcl.nn.graph import READOUTS, GINGraphEncoder, readout

__all__ = ["GCNEncoder", "GATEncoder", "SAGEEncoder", "GINEncoder", "ProjectionHead", "make_activation",
           "ACTIVATIONS", "ENCODERS", "GINGraphEncoder", "readout", "READOUTS"]

#: Encoder classes by name, for configs (``encoder: gcn``).
ENCODERS = {"gcn": GCNEncoder, "gat": GATEncoder, "sage": SAGEEncoder, "gin": GINEncoder}
