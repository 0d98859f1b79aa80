"""Link prediction: ROC-AUC and average precision of edge scores."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import Tensor

from graphcl.eval._common import limit_blas_threads
from graphcl.validation import check_edge_index, check_features, check_positive_float, check_positive_int

__all__ = ["link_prediction_scores", "link_prediction_eval"]

_SCORES = ("dot", "cosine", "hadamard-lr")


def _as_1d_tensor(v: Any, name: str) -> Tensor:
    if isinstance(v, np.ndarray):
        v = torch.from_numpy(v)
    if not isinstance(v, Tensor):
        raise TypeError(f"{name} must be a 1-D torch.Tensor or numpy.ndarray, got "
                        f"{type(v).__name__}")
    if v.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {list(v.shape)}")
    return v


def link_prediction_scores(scores: Any, labels: Any) -> dict[str, float]:
    """ROC-AUC and average precision of scores against 0/1 labels.

    AUC is the Mann-Whitney statistic: the probability that a random positive
    scores above a random negative, ties counting one half (equal to
    ``sklearn.metrics.roc_auc_score``). AP is
    ``sum_n (R_n - R_{n-1}) P_n`` over the distinct score thresholds in
    decreasing order (equal to ``sklearn.metrics.average_precision_score``).
    Computed in torch on the scores' device (float64).

    Example:
        >>> link_prediction_scores(torch.tensor([0.9, 0.8, 0.3, 0.1]), torch.tensor([1, 0, 1, 0]))
        {'auc': 0.75, 'ap': 0.8333333333333333}
    """
    s = _as_1d_tensor(scores, "scores")
    y = _as_1d_tensor(labels, "labels")
    if s.numel() != y.numel():
        raise ValueError(f"scores has {s.numel()} entries but labels has {y.numel()}")
    if s.dtype == torch.bool or s.is_complex():
        raise TypeError(f"scores must be real numbers, got dtype {s.dtype}")
    s = s.detach().to(torch.float64)
    if not bool(torch.isfinite(s).all()):
        raise ValueError("scores contains NaN or inf")
    y = y.detach().to(s.device)
    if not bool(((y == 0) | (y == 1)).all()):
        raise ValueError("labels must be 0/1")
    y = y.to(torch.bool)
    n_pos = int(y.sum())
    n_neg = y.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"labels must contain both classes, got {n_pos} positives and "
                         f"{n_neg} negatives")

    # AUC via average ranks (ties share the mean of their ranks).
    sorted_s, order = torch.sort(s)
    _, inverse, counts = torch.unique_consecutive(sorted_s, return_inverse=True,
                                                  return_counts=True)
    ends = torch.cumsum(counts, 0).to(torch.float64)
    avg_rank = ends - (counts.to(torch.float64) - 1) / 2  # 1-based mean rank of each tie group
    ranks = torch.empty_like(s)
    ranks[order] = avg_rank[inverse]
    auc = (float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)

    # AP: precision/recall at the last position of every tie group, scores descending.
    desc_s, desc_order = torch.sort(s, descending=True)
    tp = torch.cumsum(y[desc_order].to(torch.float64), 0)
    _, group_counts = torch.unique_consecutive(desc_s, return_counts=True)
    last = torch.cumsum(group_counts, 0) - 1
    tp_g = tp[last]
    precision = tp_g / (last + 1).to(torch.float64)
    recall = tp_g / n_pos
    prev_recall = torch.cat([recall.new_zeros(1), recall[:-1]])
    ap = float(((recall - prev_recall) * precision).sum())
    return {"auc": float(auc), "ap": ap}


def _pair_features(z: Tensor, pairs: Tensor) -> Tensor:
    return z[pairs[0]] * z[pairs[1]]


def link_prediction_eval(
    embeddings: Tensor,
    pos_edges: Tensor,
    neg_edges: Tensor,
    *,
    score: str = "dot",
    train_pos: Tensor | None = None,
    train_neg: Tensor | None = None,
    C: float = 1.0,
    max_iter: int = 1000,
    blas_threads: int | None = 1,
) -> dict[str, Any]:
    """AUC/AP of held-out positive vs negative node pairs scored from frozen embeddings.

    ``score``:

    - ``"dot"``: ``<z_u, z_v>``;
    - ``"cosine"``: cosine similarity;
    - ``"hadamard-lr"`` (node2vec): a scikit-learn ``LogisticRegression(C)``
      is trained on Hadamard features ``z_u * z_v`` of the given ``train_pos``
      (label 1) and ``train_neg`` (label 0) pairs, and its decision function
      scores the test pairs. ``C`` is fixed (no selection on test pairs);
      ``blas_threads`` caps BLAS threads during the fit.

    Pairs are ``[2, E]`` integer tensors of node ids. The test pairs are only
    scored; nothing is chosen on them.

    Example:
        >>> z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> pos, neg = torch.tensor([[0], [1]]), torch.tensor([[0], [2]])
        >>> link_prediction_eval(z, pos, neg)["auc"]
        1.0
    """
    if score not in _SCORES:
        raise ValueError(f"score must be one of {_SCORES}, got {score!r}")
    z = check_features(embeddings, None, "embeddings")
    if not z.dtype.is_floating_point:
        raise TypeError(f"embeddings must be a floating tensor, got dtype {z.dtype}")
    n = z.size(0)
    check_edge_index(pos_edges, n, "pos_edges")
    check_edge_index(neg_edges, n, "neg_edges")
    if pos_edges.size(1) == 0 or neg_edges.size(1) == 0:
        raise ValueError("pos_edges and neg_edges must each hold at least one pair")
    z = z.detach()
    pos_edges, neg_edges = pos_edges.to(z.device), neg_edges.to(z.device)
    test_pairs = torch.cat([pos_edges, neg_edges], dim=1)
    labels = torch.cat([torch.ones(pos_edges.size(1), device=z.device),
                        torch.zeros(neg_edges.size(1), device=z.device)])
    if score == "dot":
        s = _pair_features(z, test_pairs).sum(-1)
        desc = "dot product <z_u, z_v>"
    elif score == "cosine":
        zn = torch.nn.functional.normalize(z, dim=-1)
        s = _pair_features(zn, test_pairs).sum(-1)
        desc = "cosine similarity"
    else:
        if train_pos is None or train_neg is None:
            raise ValueError("score='hadamard-lr' needs train_pos and train_neg pairs to train "
                             "the classifier")
        check_edge_index(train_pos, n, "train_pos")
        check_edge_index(train_neg, n, "train_neg")
        if train_pos.size(1) == 0 or train_neg.size(1) == 0:
            raise ValueError("train_pos and train_neg must each hold at least one pair")
        c = check_positive_float(C, "C")
        check_positive_int(max_iter, "max_iter")
        train_pairs = torch.cat([train_pos, train_neg], dim=1).to(z.device)
        feats = _pair_features(z, train_pairs).to("cpu", torch.float64).numpy()
        y_train = np.r_[np.ones(train_pos.size(1)), np.zeros(train_neg.size(1))]
        with limit_blas_threads(blas_threads):
            clf = LogisticRegression(C=c, max_iter=max_iter).fit(feats, y_train)
        test_feats = _pair_features(z, test_pairs).to("cpu", torch.float64).numpy()
        s = torch.from_numpy(clf.decision_function(test_feats))
        labels = labels.cpu()
        desc = (f"LogisticRegression(C={c:g}) on Hadamard features z_u*z_v, trained on "
                f"{train_pos.size(1)} positive / {train_neg.size(1)} negative training pairs")
    out: dict[str, Any] = link_prediction_scores(s, labels)
    out["num_pos"] = int(pos_edges.size(1))
    out["num_neg"] = int(neg_edges.size(1))
    out["protocol"] = (f"link prediction: {pos_edges.size(1)} held-out positive vs "
                       f"{neg_edges.size(1)} negative pairs scored by {desc}; ROC-AUC and "
                       f"average precision (scikit-learn definitions)")
    return out
