"""graphcl.augment: stochastic graph views (functional ops on tensors + ``Data`` classes).

Basic views (:mod:`.basic`), GCA adaptive views (:mod:`.adaptive`), randomized
Schur complements (:mod:`.schur`), the LightGCL SVD view (:mod:`.svd`),
diffusion (:mod:`.diffusion`), and, when present, community-strength
(:mod:`.community`) and structural-entropy (:mod:`.entropy`) views.
"""

from graphcl.augment.adaptive import (
    AdaptiveDropEdge,
    AdaptiveMaskFeature,
    adaptive_drop_edge,
    adaptive_mask_feature,
    gca_drop_probabilities,
    gca_edge_weights,
    gca_feature_weights,
    node_centrality,
)
from graphcl.augment.base import Augmentor, Compose, RandomChoice
from graphcl.augment.basic import (
    AddEdge,
    DropEdge,
    DropNode,
    DropoutFeature,
    MaskFeature,
    RandomWalkSubgraph,
    add_edge,
    drop_edge,
    drop_node,
    dropout_feature,
    induced_subgraph,
    mask_feature,
    subgraph_random_walk,
    swap_feature_rows,
)
from graphcl.augment.diffusion import (
    HeatDiffusion,
    PPRDiffusion,
    heat_diffusion,
    ppr_diffusion,
    sparsify_rows,
)
from graphcl.augment.schur import SchurView, exact_schur_complement, schur_complement
from graphcl.augment.svd import SVDView, bipartite_svd, svd_propagate

__all__ = [
    "Augmentor",
    "Compose",
    "RandomChoice",
    "drop_edge",
    "add_edge",
    "mask_feature",
    "dropout_feature",
    "drop_node",
    "induced_subgraph",
    "subgraph_random_walk",
    "swap_feature_rows",
    "DropEdge",
    "AddEdge",
    "MaskFeature",
    "DropoutFeature",
    "DropNode",
    "RandomWalkSubgraph",
    "node_centrality",
    "gca_edge_weights",
    "gca_feature_weights",
    "gca_drop_probabilities",
    "adaptive_drop_edge",
    "adaptive_mask_feature",
    "AdaptiveDropEdge",
    "AdaptiveMaskFeature",
    "schur_complement",
    "exact_schur_complement",
    "SchurView",
    "svd_propagate",
    "bipartite_svd",
    "SVDView",
    "ppr_diffusion",
    "heat_diffusion",
    "sparsify_rows",
    "PPRDiffusion",
    "HeatDiffusion",
]

from graphcl.augment import community as _community  # noqa: E402
from graphcl.augment import entropy as _entropy  # noqa: E402
from graphcl.augment.community import *  # noqa: E402,F401,F403
from graphcl.augment.entropy import *  # noqa: E402,F401,F403
from graphcl.augment.entropy_reference import coding_tree_reference  # noqa: E402,F401

__all__ += list(_community.__all__) + list(_entropy.__all__) + ["coding_tree_reference"]
