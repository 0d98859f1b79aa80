"""Recommender graph pre-training: one LightGCN core and five models over it.

* :mod:`graphcl.rec.core`: normalised bipartite adjacency, propagation (with
  SimGCL noise / LightGCL dropout), BPR, the L2 convention, negative sampling.
* :mod:`graphcl.rec.models`: LightGCN, SGL-ED, SimGCL, XSimGCL, LightGCL.
* :mod:`graphcl.rec.training`: validation split, training through
  :func:`graphcl.train.fit`, full-ranking evaluation, embedding export.
"""

from graphcl.rec.core import (
    InteractionSampler,
    bipartite_edge_index,
    bpr_loss,
    drop_interactions,
    l2_reg,
    perturb,
    propagate,
    rec_adjacency,
    sample_negatives,
)
from graphcl.rec.models import (
    MODELS,
    SGL,
    LightGCL,
    LightGCN,
    RecModel,
    SimGCL,
    XSimGCL,
    build_model,
    lightgcl_contrast,
)
from graphcl.rec.training import embedding_quality, rank_eval, save_embeddings, split_for_training, train_rec

__all__ = [
    "InteractionSampler",
    "bipartite_edge_index",
    "bpr_loss",
    "drop_interactions",
    "l2_reg",
    "perturb",
    "propagate",
    "rec_adjacency",
    "sample_negatives",
    "MODELS",
    "RecModel",
    "LightGCN",
    "SGL",
    "SimGCL",
    "XSimGCL",
    "LightGCL",
    "build_model",
    "lightgcl_contrast",
    "embedding_quality",
    "rank_eval",
    "save_embeddings",
    "split_for_training",
    "train_rec",
]
