"""Evaluation of frozen embeddings, honest by construction.

Every evaluator chooses its hyper-parameters (regularisation, thresholds,
k-means run, SVM C) on training/validation data only; test labels are read once
to score the final predictions. Each result dict carries a ``protocol`` string
that says exactly what was done.

- :func:`linear_probe`: node classification, logistic regression, C on validation.
- :func:`multilabel_f1`: one-vs-rest multi-label Micro/Macro-F1 (top-k or threshold).
- :func:`cluster_metrics`, :func:`kmeans_eval`: ACC (Hungarian), NMI, ARI, F1.
- :func:`link_prediction_scores`, :func:`link_prediction_eval`: AUC, AP.
- :func:`graph_classification_svm`: SVM with nested stratified cross-validation.
- :func:`ranking_metrics`: Recall@K / NDCG@K with full ranking, training items masked.
"""

from graphcl.eval.classification import (
    DEFAULT_C_GRID,
    DEFAULT_TRAIN_RATIOS,
    linear_probe,
    multilabel_f1,
)
from graphcl.eval.clustering import cluster_metrics, hungarian_match, kmeans_eval
from graphcl.eval.graph_classification import DEFAULT_SVM_C_GRID, graph_classification_svm
from graphcl.eval.link import link_prediction_eval, link_prediction_scores
from graphcl.eval.matching import correspondence_hits
from graphcl.eval.ranking import ranking_metrics

__all__ = [
    "linear_probe",
    "multilabel_f1",
    "cluster_metrics",
    "hungarian_match",
    "kmeans_eval",
    "link_prediction_scores",
    "link_prediction_eval",
    "graph_classification_svm",
    "ranking_metrics",
    "correspondence_hits",
    "DEFAULT_C_GRID",
    "DEFAULT_TRAIN_RATIOS",
    "DEFAULT_SVM_C_GRID",
]
