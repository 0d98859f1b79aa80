"""Clustering metrics (ACC with Hungarian matching, NMI, ARI, macro-F1) and k-means."""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from torch import Tensor

from graphcl.eval._common import (
    check_seed,
    l2_normalize,
    mean_std,
    to_numpy_labels,
    to_numpy_matrix,
)
from graphcl.validation import check_positive_int

__all__ = ["cluster_metrics", "kmeans_eval", "hungarian_match"]

_METRICS = ("acc", "nmi", "ari", "f1")


def _contingency(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray,
                                                                   np.ndarray, np.ndarray]:
    classes, t_idx = np.unique(y_true, return_inverse=True)
    clusters, p_idx = np.unique(y_pred, return_inverse=True)
    table = np.zeros((clusters.size, classes.size), dtype=np.int64)
    np.add.at(table, (p_idx, t_idx), 1)
    return table, classes, clusters, p_idx


def hungarian_match(y_true: Any, y_pred: Any) -> dict[int, int]:
    """One-to-one map cluster id -> class id maximising the number of matched nodes.

    Clusters left over when there are more clusters than classes are absent
    from the map. Example:
        >>> hungarian_match([0, 0, 1, 1], [1, 1, 0, 0])
        {0: 1, 1: 0}
    """
    t = to_numpy_labels(y_true, None, "y_true")
    p = to_numpy_labels(y_pred, t.shape[0], "y_pred")
    table, classes, clusters, _ = _contingency(t, p)
    rows, cols = linear_sum_assignment(table, maximize=True)
    return {int(clusters[r]): int(classes[c]) for r, c in zip(rows, cols)}


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def _nmi(table: np.ndarray) -> float:
    """NMI with the arithmetic mean of the entropies (scikit-learn's default)."""
    n = table.sum()
    if table.shape[0] == table.shape[1] == 1:
        return 1.0  # both labelings put everything in one group: identical
    nz = table > 0
    pij = table[nz] / n
    pi = table.sum(axis=1, keepdims=True) / n
    pj = table.sum(axis=0, keepdims=True) / n
    outer = (pi @ pj)[nz]
    mi = float((pij * np.log(pij / outer)).sum())
    h = 0.5 * (_entropy(table.sum(axis=1)) + _entropy(table.sum(axis=0)))
    if mi <= 0.0 or h <= 0.0:
        return 0.0
    return float(min(1.0, mi / h))


def _ari(table: np.ndarray) -> float:
    """Adjusted Rand index (Hubert & Arabie) from the contingency table."""
    n = int(table.sum())

    def comb2(v: np.ndarray) -> float:
        v = v.astype(np.float64)
        return float((v * (v - 1) / 2).sum())

    sum_ij = comb2(table)
    sum_a = comb2(table.sum(axis=1))
    sum_b = comb2(table.sum(axis=0))
    total = n * (n - 1) / 2
    expected = sum_a * sum_b / total if total > 0 else 0.0
    max_index = 0.5 * (sum_a + sum_b)
    if max_index == expected:  # both trivial (all singletons or all one group): same partition
        return 1.0
    return float((sum_ij - expected) / (max_index - expected))


def cluster_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """ACC, NMI, ARI and macro-F1 of a clustering against class labels.

    - ``acc``: accuracy after the best one-to-one cluster -> class matching
      (Hungarian algorithm, ``scipy.optimize.linear_sum_assignment`` on the
      contingency table); works when the numbers of clusters and classes
      differ: nodes of unmatched clusters count as wrong.
    - ``nmi``: normalised mutual information, arithmetic mean of the two
      entropies (scikit-learn's default ``average_method``).
    - ``ari``: adjusted Rand index.
    - ``f1``: macro-F1 over the true classes after the same matching (nodes of
      unmatched clusters are misses of their class).

    Labels are any integers (tensors, arrays or lists). Example:
        >>> cluster_metrics([0, 0, 1, 1], [5, 5, 3, 3])
        {'acc': 1.0, 'nmi': 1.0, 'ari': 1.0, 'f1': 1.0}
    """
    t = to_numpy_labels(y_true, None, "y_true")
    p = to_numpy_labels(y_pred, t.shape[0], "y_pred")
    if t.size == 0:
        raise ValueError("y_true is empty")
    table, classes, _, p_idx = _contingency(t, p)
    rows, cols = linear_sum_assignment(table, maximize=True)
    acc = float(table[rows, cols].sum() / t.size)
    # Map each cluster to its matched class index; unmatched clusters -> -1 (never right).
    mapping = np.full(table.shape[0], -1, dtype=np.int64)
    mapping[rows] = cols
    mapped = mapping[p_idx]
    t_idx = np.searchsorted(classes, t)
    k = classes.size
    tp = np.bincount(t_idx[mapped == t_idx], minlength=k).astype(np.float64)
    support = np.bincount(t_idx, minlength=k).astype(np.float64)
    predicted = np.bincount(mapped[mapped >= 0], minlength=k).astype(np.float64)
    denom = support + predicted
    f1 = float(np.where(denom > 0, 2 * tp / np.maximum(denom, 1), 0.0).mean())
    return {"acc": acc, "nmi": _nmi(table), "ari": _ari(table), "f1": f1}


def kmeans_eval(
    embeddings: Tensor | np.ndarray,
    y: Any,
    *,
    n_clusters: int | None = None,
    n_init: int = 10,
    num_seeds: int = 5,
    seed: int = 0,
    normalize: bool = True,
) -> dict[str, Any]:
    """k-means on frozen embeddings, scored with :func:`cluster_metrics`.

    ``KMeans(n_clusters, n_init, random_state=seed + s)`` for ``s`` in
    ``range(num_seeds)``, on L2-normalised rows when ``normalize``;
    ``n_clusters`` defaults to the number of classes in ``y``. The labels are
    used only to score the final clustering, never to pick a run.

    Returns ``acc``, ``nmi``, ``ari``, ``f1`` (means over seeds), the matching
    ``*_std`` (population std), ``per_seed`` (one metric dict per seed) and
    ``protocol``.

    Example:
        >>> import torch
        >>> z = torch.cat([torch.randn(30, 4) + 5, torch.randn(30, 4) - 5])
        >>> y = torch.arange(60) // 30
        >>> kmeans_eval(z, y, num_seeds=2, normalize=False)["acc"]
        1.0
    """
    x = to_numpy_matrix(embeddings, "embeddings")
    labels = to_numpy_labels(y, x.shape[0], "y")
    if n_clusters is None:
        n_clusters = int(np.unique(labels).size)
    check_positive_int(n_clusters, "n_clusters")
    if n_clusters > x.shape[0]:
        raise ValueError(f"n_clusters={n_clusters} exceeds the number of rows {x.shape[0]}")
    check_positive_int(n_init, "n_init")
    check_positive_int(num_seeds, "num_seeds")
    seed = check_seed(seed)
    if normalize:
        x = l2_normalize(x)
    per_seed = []
    for s in range(num_seeds):
        pred = KMeans(n_clusters=n_clusters, n_init=n_init, random_state=seed + s).fit_predict(x)
        per_seed.append(cluster_metrics(labels, pred))
    out: dict[str, Any] = {}
    for m in _METRICS:
        out[m], out[f"{m}_std"] = mean_std([d[m] for d in per_seed])
    out["per_seed"] = per_seed
    out["protocol"] = (f"k-means (scikit-learn KMeans, k={n_clusters}, n_init={n_init}, "
                       f"random_state=seed+s for {num_seeds} seeds from {seed}) on "
                       f"{'L2-normalised' if normalize else 'raw'} frozen embeddings; "
                       f"ACC/F1 after Hungarian matching, NMI (arithmetic), ARI; "
                       f"mean +- population std over seeds, no run selected by labels")
    return out
