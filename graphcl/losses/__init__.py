"""graphcl.losses: contrastive objectives and representation-quality metrics.

Example:
    >>> import torch
    >>> from graphcl.losses import infonce, alignment, uniformity
    >>> z1, z2 = torch.randn(20, 4), torch.randn(20, 4)
    >>> infonce(z1, z2, tau=0.5).shape
    torch.Size([])
"""

from graphcl.losses.crw import crw, crw_bipartite, crw_neighborhood
from graphcl.losses.infonce import BLOCK_ELEMENTS, MAX_BLOCK, default_block_size, infonce, infonce_dense
from graphcl.losses.metrics import alignment, uniformity
from graphcl.losses.pamc import dec_soft_assignment, dec_target_distribution, meta_nodes, pamc_loss, rhop_positives

__all__ = [
    "infonce",
    "infonce_dense",
    "default_block_size",
    "MAX_BLOCK",
    "BLOCK_ELEMENTS",
    "alignment",
    "uniformity",
    "crw",
    "crw_bipartite",
    "crw_neighborhood",
    "dec_soft_assignment",
    "dec_target_distribution",
    "rhop_positives",
    "meta_nodes",
    "pamc_loss",
]
