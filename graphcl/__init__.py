"""graphcl: graph contrastive learning toolkit on PyTorch and PyTorch Geometric."""

from graphcl.graph import CSRGraph

__version__ = "0.1.0"
__all__ = ["CSRGraph", "__version__"]
