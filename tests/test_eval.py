"""Tests of graphcl.eval against scikit-learn, brute force and hand-computed cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    adjusted_rand_score,
    average_precision_score,
    f1_score,
    normalized_mutual_info_score,
    roc_auc_score,
)
from sklearn.multiclass import OneVsRestClassifier

from graphcl.eval import (
    cluster_metrics,
    graph_classification_svm,
    hungarian_match,
    kmeans_eval,
    linear_probe,
    link_prediction_eval,
    link_prediction_scores,
    multilabel_f1,
    ranking_metrics,
)
from graphcl.eval.classification import _threshold_predict, _topk_predict

# ----------------------------------------------------------------------------- helpers


def _blobs(n_per: int, k: int, dim: int, spread: float, seed: int) -> tuple[torch.Tensor,
                                                                              torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(k, dim, generator=g) * spread
    y = torch.arange(k).repeat_interleave(n_per)
    z = centers[y] + torch.randn(k * n_per, dim, generator=g)
    return z, y


def _masks(n: int, train: int, val: int, seed: int) -> tuple[torch.Tensor, ...]:
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    masks = [torch.zeros(n, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:train]] = True
    masks[1][perm[train:train + val]] = True
    masks[2][perm[train + val:]] = True
    return tuple(masks)


# ----------------------------------------------------------------------------- clustering


def test_cluster_metrics_permuted_labelling_is_perfect():
    y = np.array([0, 0, 1, 1, 1, 2, 2, 3])
    perm = np.array([7, 4, 9, 1])  # arbitrary new cluster ids
    assert cluster_metrics(y, perm[y]) == {"acc": 1.0, "nmi": 1.0, "ari": 1.0, "f1": 1.0}
    assert hungarian_match(y, perm[y]) == {7: 0, 4: 1, 9: 2, 1: 3}


def test_cluster_metrics_hand_example():
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [1, 1, 0, 0, 0, 2]
    m = cluster_metrics(torch.tensor(y_true), torch.tensor(y_pred))
    # Best matching 1->0 (2 nodes), 0->1 (2 nodes), 2->2 (1 node): 5 of 6.
    assert m["acc"] == pytest.approx(5 / 6)
    # Mapped prediction [0,0,1,1,1,2]: F1 class0 = 0.8, class1 = 0.8, class2 = 1.
    assert m["f1"] == pytest.approx((0.8 + 0.8 + 1.0) / 3)
    assert m["f1"] == pytest.approx(f1_score(y_true, [0, 0, 1, 1, 1, 2], average="macro"))


def test_cluster_metrics_unequal_numbers_of_clusters_and_classes():
    # More clusters than classes: cluster 2 -> class 1 (2 nodes), one of 0/1 -> class 0.
    m = cluster_metrics([0, 0, 1, 1], [0, 1, 2, 2])
    assert m["acc"] == pytest.approx(0.75)
    # Unmatched cluster's node is a miss of class 0: F1 class0 = 2*1/(2+1), class1 = 1.
    assert m["f1"] == pytest.approx((2 / 3 + 1.0) / 2)
    # Fewer clusters than classes.
    m = cluster_metrics([0, 1, 2, 2], [0, 0, 1, 1])
    assert m["acc"] == pytest.approx(0.75)


def _brute_force_acc(t: np.ndarray, p: np.ndarray) -> float:
    clusters, classes = np.unique(p), np.unique(t)
    best = 0
    # Every injective partial assignment cluster -> class (pad classes with None).
    targets = list(classes) + [None] * len(clusters)
    for assign in itertools.permutations(targets, len(clusters)):
        hits = sum(int(((p == c) & (t == a)).sum()) for c, a in zip(clusters, assign)
                   if a is not None)
        best = max(best, hits)
    return best / len(t)


def test_cluster_acc_matches_brute_force_and_nmi_ari_match_sklearn():
    rng = np.random.default_rng(0)
    for trial in range(25):
        n = int(rng.integers(5, 40))
        t = rng.integers(0, int(rng.integers(1, 5)), n)
        p = rng.integers(0, int(rng.integers(1, 5)), n) + 10 * (trial % 2)
        m = cluster_metrics(t, p)
        assert m["acc"] == pytest.approx(_brute_force_acc(t, p))
        assert m["nmi"] == pytest.approx(normalized_mutual_info_score(t, p), abs=1e-12)
        assert m["ari"] == pytest.approx(adjusted_rand_score(t, p), abs=1e-12)


@pytest.mark.parametrize(
    "t,p",
    [([0, 0, 0], [1, 1, 1]), ([0, 0, 0, 0], [0, 1, 2, 3]), ([0, 1, 2, 3], [0, 1, 2, 3]),
     ([0, 1, 2, 3], [5, 5, 5, 5]), ([3], [4])],
)
def test_nmi_ari_edge_cases_match_sklearn(t, p):
    m = cluster_metrics(t, p)
    assert m["nmi"] == pytest.approx(normalized_mutual_info_score(t, p))
    assert m["ari"] == pytest.approx(adjusted_rand_score(t, p))


def test_cluster_metrics_bad_input():
    with pytest.raises(ValueError, match="y_pred has 2 entries"):
        cluster_metrics([0, 1, 1], [0, 1])
    with pytest.raises(TypeError, match="y_true must hold integer"):
        cluster_metrics(np.array([0.5, 1.0]), [0, 1])


def test_kmeans_eval_blobs_and_determinism():
    z, y = _blobs(30, 3, 8, 10.0, seed=1)
    out = kmeans_eval(z, y, num_seeds=2, n_init=3, seed=5)
    assert out["acc"] == 1.0 and out["nmi"] == pytest.approx(1.0) and out["acc_std"] == 0.0
    assert len(out["per_seed"]) == 2 and "Hungarian" in out["protocol"]
    again = kmeans_eval(z, y, num_seeds=2, n_init=3, seed=5)
    assert again["per_seed"] == out["per_seed"]
    with pytest.raises(ValueError, match="n_clusters=100 exceeds"):
        kmeans_eval(z, y, n_clusters=100)
    z[3, 1] = float("nan")
    with pytest.raises(ValueError, match="embeddings contains NaN"):
        kmeans_eval(z, y)


# ----------------------------------------------------------------------------- link prediction


def test_link_scores_hand_case():
    out = link_prediction_scores(torch.tensor([0.9, 0.8, 0.3, 0.1]), torch.tensor([1, 0, 1, 0]))
    assert out["auc"] == pytest.approx(0.75)
    assert out["ap"] == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))


def test_link_scores_match_sklearn_with_ties():
    rng = np.random.default_rng(3)
    for _ in range(20):
        n = int(rng.integers(4, 60))
        labels = rng.integers(0, 2, n)
        labels[:2] = [0, 1]
        scores = np.round(rng.normal(size=n), 1)  # rounding creates ties
        out = link_prediction_scores(torch.from_numpy(scores), torch.from_numpy(labels))
        assert out["auc"] == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        assert out["ap"] == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


def test_link_scores_bad_input():
    with pytest.raises(ValueError, match="both classes"):
        link_prediction_scores(torch.rand(4), torch.ones(4))
    with pytest.raises(ValueError, match="scores has 3 entries but labels has 4"):
        link_prediction_scores(torch.rand(3), torch.tensor([0, 1, 0, 1]))
    with pytest.raises(ValueError, match="scores contains NaN"):
        link_prediction_scores(torch.tensor([0.1, float("nan")]), torch.tensor([0, 1]))


def test_link_eval_dot_cosine_and_hadamard_lr():
    g = torch.Generator().manual_seed(0)
    z = torch.randn(20, 4, generator=g)
    pos = torch.randint(0, 20, (2, 15), generator=g)
    neg = torch.randint(0, 20, (2, 15), generator=g)
    labels = np.r_[np.ones(15), np.zeros(15)]
    pairs = torch.cat([pos, neg], 1)
    dot = (z[pairs[0]] * z[pairs[1]]).sum(1).numpy()
    out = link_prediction_eval(z, pos, neg, score="dot")
    assert out["auc"] == pytest.approx(roc_auc_score(labels, dot))
    assert out["ap"] == pytest.approx(average_precision_score(labels, dot))
    zn = z / z.norm(dim=1, keepdim=True)
    cos = (zn[pairs[0]] * zn[pairs[1]]).sum(1).numpy()
    out = link_prediction_eval(z, pos, neg, score="cosine")
    assert out["auc"] == pytest.approx(roc_auc_score(labels, cos))

    tr_pos = torch.randint(0, 20, (2, 25), generator=g)
    tr_neg = torch.randint(0, 20, (2, 25), generator=g)
    out = link_prediction_eval(z, pos, neg, score="hadamard-lr", train_pos=tr_pos,
                               train_neg=tr_neg, C=0.5)
    tr = torch.cat([tr_pos, tr_neg], 1)
    clf = LogisticRegression(C=0.5, max_iter=1000).fit(
        (z[tr[0]] * z[tr[1]]).double().numpy(), np.r_[np.ones(25), np.zeros(25)])
    ref = clf.decision_function((z[pairs[0]] * z[pairs[1]]).double().numpy())
    assert out["auc"] == pytest.approx(roc_auc_score(labels, ref))
    assert out["ap"] == pytest.approx(average_precision_score(labels, ref))
    assert out["num_pos"] == 15 and "Hadamard" in out["protocol"]


def test_link_eval_bad_input():
    z = torch.randn(5, 3)
    e = torch.tensor([[0, 1], [2, 3]])
    with pytest.raises(ValueError, match="needs train_pos and train_neg"):
        link_prediction_eval(z, e, e, score="hadamard-lr")
    with pytest.raises(ValueError, match="score must be one of"):
        link_prediction_eval(z, e, e, score="l2")
    with pytest.raises(ValueError, match="neg_edges contains node id 7"):
        link_prediction_eval(z, e, torch.tensor([[0], [7]]))
    z[0, 0] = float("nan")
    with pytest.raises(ValueError, match="embeddings contains NaN"):
        link_prediction_eval(z, e, e)


# ----------------------------------------------------------------------------- linear probe


def test_linear_probe_separable_and_deterministic():
    z, y = _blobs(40, 3, 6, 8.0, seed=2)
    out = linear_probe(z, y, num_seeds=2, seed=7)
    assert out["accuracy"] == 1.0 and out["std"] == 0.0 and out["macro_f1"] == 1.0
    assert len(out["per_seed"]) == 2 and len(out["chosen_C"]) == 2
    assert "validation" in out["protocol"] and "L2-normalised" in out["protocol"]
    z, y = _blobs(30, 3, 4, 1.0, seed=2)  # overlapping classes: accuracies depend on the split
    a = linear_probe(z, y, num_seeds=2, seed=7, C_grid=(0.1, 10.0))
    assert linear_probe(z.numpy(), y.numpy(), num_seeds=2, seed=7, C_grid=(0.1, 10.0),
                        blas_threads=None) == a
    b = linear_probe(z, y, num_seeds=2, seed=8, C_grid=(0.1, 10.0))
    assert a["per_seed"] != b["per_seed"]  # another seed, other random splits
    assert 0.0 < a["accuracy"] < 1.0


def test_linear_probe_matches_manual_selection_on_validation():
    z, y = _blobs(40, 4, 5, 1.2, seed=3)  # overlapping classes: C matters
    train, val, test = _masks(160, 40, 40, seed=0)
    grid = (0.01, 0.1, 1.0, 10.0, 100.0)
    out = linear_probe(z, y, train_mask=train, val_mask=val, test_mask=test, C_grid=grid)
    x = (z / z.norm(dim=1, keepdim=True)).double().numpy()
    yn = y.numpy()
    tr, va, te = (m.numpy() for m in (train, val, test))
    fits = [LogisticRegression(C=c, max_iter=1000).fit(x[tr], yn[tr]) for c in grid]
    val_acc = [float((f.predict(x[va]) == yn[va]).mean()) for f in fits]
    best = int(np.argmax(val_acc))  # first maximum = smallest C among ties
    assert out["chosen_C"] == [grid[best]]
    assert out["val_accuracy"] == [pytest.approx(val_acc[best])]
    assert out["accuracy"] == pytest.approx(float((fits[best].predict(x[te]) == yn[te]).mean()))
    assert out["num_splits"] == 1 and out["std"] == 0.0 and "evaluated once" in out["protocol"]


def test_linear_probe_choice_ignores_test_labels():
    z, y = _blobs(40, 4, 5, 1.2, seed=4)
    train, val, test = _masks(160, 40, 40, seed=1)
    ref = linear_probe(z, y, train_mask=train, val_mask=val, test_mask=test)
    # On these data, choosing C by test accuracy would pick a different C for every
    # permutation below (checked when writing the test), so the assertion has teeth.
    test_accs = set()
    for s in range(3):
        y2 = y.clone()
        idx = test.nonzero().flatten()
        y2[idx] = y[idx][torch.randperm(idx.numel(), generator=torch.Generator().manual_seed(s))]
        y2[idx[:10]] = (y2[idx[:10]] + 1) % 4  # also change the label mix of the test set
        out = linear_probe(z, y2, train_mask=train, val_mask=val, test_mask=test)
        assert out["chosen_C"] == ref["chosen_C"]
        assert out["val_accuracy"] == ref["val_accuracy"]
        test_accs.add(out["accuracy"])
    assert ref["accuracy"] not in test_accs  # the test labels did change the score


def test_linear_probe_multi_split_masks():
    z, y = _blobs(20, 2, 4, 6.0, seed=5)
    splits = [_masks(40, 10, 10, seed=s) for s in range(3)]
    train = torch.stack([s[0] for s in splits], 1)
    val = torch.stack([s[1] for s in splits], 1)
    test = torch.stack([s[2] for s in splits], 1)
    out = linear_probe(z, y, train_mask=train, val_mask=val, test_mask=test)
    assert out["num_splits"] == 3 and len(out["per_seed"]) == 3


def test_linear_probe_bad_input():
    z, y = _blobs(10, 2, 4, 6.0, seed=6)
    train, val, test = _masks(20, 5, 5, seed=0)
    with pytest.raises(ValueError, match="train_mask and val_mask overlap"):
        linear_probe(z, y, train_mask=train, val_mask=train | val, test_mask=test)
    with pytest.raises(ValueError, match="val_mask is required"):
        linear_probe(z, y, train_mask=train, test_mask=test)
    with pytest.raises(ValueError, match=r"test_mask must have shape \[20\]"):
        linear_probe(z, y, train_mask=train, val_mask=val, test_mask=test[:5])
    with pytest.raises(ValueError, match="y has 19 entries"):
        linear_probe(z, y[:19])
    with pytest.raises(ValueError, match="train_ratio \\+ val_ratio must be < 1"):
        linear_probe(z, y, train_ratio=0.5, val_ratio=0.5)
    with pytest.raises(ValueError, match="C_grid must hold positive"):
        linear_probe(z, y, C_grid=(1.0, -1.0))
    z[2, 2] = float("inf")
    with pytest.raises(ValueError, match="embeddings contains NaN or inf"):
        linear_probe(z, y)


# ----------------------------------------------------------------------------- multi-label


def test_topk_rule_hand_example():
    proba = np.array([[0.9, 0.1, 0.5], [0.2, 0.3, 0.1], [0.4, 0.4, 0.1]])
    pred = _topk_predict(proba, np.array([2, 1, 1]))
    # Ties are broken towards the lower label id.
    np.testing.assert_array_equal(pred, [[1, 0, 1], [0, 1, 0], [1, 0, 0]])
    pred = _threshold_predict(np.array([[0.1, 0.2], [0.7, 0.6]]), 0.5)
    np.testing.assert_array_equal(pred, [[0, 1], [1, 1]])  # argmax always predicted


def _multilabel_data(seed: int) -> tuple[torch.Tensor, np.ndarray]:
    rng = np.random.default_rng(seed)
    Y = (rng.random((120, 5)) < 0.3).astype(np.int64)
    Y[np.arange(120), rng.integers(0, 5, 120)] = 1  # every node has a label
    z = torch.from_numpy(Y * 1.0 + 0.8 * rng.normal(size=(120, 5))).float()
    return z, Y


def test_multilabel_topk_matches_manual_reference():
    z, Y = _multilabel_data(0)
    out = multilabel_f1(z, Y, train_ratios=(0.5,), num_shuffles=2, seed=3, solver="liblinear")
    micro, macro = [], []
    x = z.double().numpy()
    for s in range(2):
        perm = np.random.default_rng([3, s]).permutation(120)
        tr, te = perm[:60], perm[60:]
        clf = OneVsRestClassifier(LogisticRegression(solver="liblinear")).fit(x[tr], Y[tr])
        proba = clf.predict_proba(x[te])
        pred = np.zeros_like(Y[te])
        for i, row in enumerate(proba):  # per-node loop: the naive reference
            k = int(Y[te][i].sum())
            pred[i, np.argsort(-row, kind="stable")[:k]] = 1
        micro.append(f1_score(Y[te], pred, average="micro"))
        macro.append(f1_score(Y[te], pred, average="macro", zero_division=0))
    assert out["micro_f1"][0] == pytest.approx(np.mean(micro))
    assert out["macro_f1"][0] == pytest.approx(np.mean(macro))
    assert out["micro_f1_std"][0] == pytest.approx(np.std(micro))
    assert "TRUE label count" in out["protocol"]


def test_multilabel_threshold_ignores_test_labels():
    z, Y = _multilabel_data(1)
    out = multilabel_f1(z, Y, train_ratios=(0.3, 0.6), num_shuffles=2, protocol="threshold")
    perm = np.random.default_rng([0, 0]).permutation(120)
    Y2 = Y.copy()
    Y2[perm[84:]] = 1 - Y2[perm[84:]]  # flip every test label of ratio 0.3 and 0.6, shuffle 0
    out2 = multilabel_f1(z, Y2, train_ratios=(0.3, 0.6), num_shuffles=2, protocol="threshold")
    for a, b in zip(out["results"], out2["results"]):
        assert a["thresholds"][0] == b["thresholds"][0]
    assert all(0.0 <= v <= 1.0 for v in out["micro_f1"] + out["macro_f1"])
    assert "no test label is read" in out["protocol"]


def test_multilabel_perfect_embeddings():
    Y = np.eye(4, dtype=np.int64).repeat(15, 0)
    z = torch.from_numpy(Y * 5.0).float()
    for protocol in ("topk", "threshold"):
        out = multilabel_f1(z, Y, train_ratios=(0.5,), num_shuffles=1, protocol=protocol, C=10.0)
        assert out["micro_f1"][0] == 1.0 and out["macro_f1"][0] == 1.0
    # scipy sparse labels (as loaded from BlogCatalog's .mat) and tensors give the same result.
    dense = multilabel_f1(z, Y, train_ratios=(0.3, 0.7), num_shuffles=2, C=0.01)
    sparse = multilabel_f1(z, sp.csc_matrix(Y), train_ratios=(0.3, 0.7), num_shuffles=2, C=0.01)
    tensor = multilabel_f1(z, torch.from_numpy(Y), train_ratios=(0.3, 0.7), num_shuffles=2,
                           C=0.01)
    assert dense == sparse == tensor and len(dense["micro_f1"]) == 2


def test_multilabel_bad_input():
    z, Y = _multilabel_data(2)
    with pytest.raises(ValueError, match="Y must be a 0/1"):
        multilabel_f1(z, Y * 2)
    with pytest.raises(ValueError, match="protocol must be"):
        multilabel_f1(z, Y, protocol="oracle")
    with pytest.raises(ValueError, match="Y has 100 rows"):
        multilabel_f1(z, Y[:100])
    with pytest.raises(ValueError, match="train_ratios must be in"):
        multilabel_f1(z, Y, train_ratios=(1.0,))
    with pytest.raises(ValueError, match="C must be a finite number > 0"):
        multilabel_f1(z, Y, C=0.0)
    with pytest.raises(TypeError, match="C must be a number"):
        multilabel_f1(z, Y, C=(1.0, 2.0))


# ----------------------------------------------------------------------------- graph classification


def test_svm_separable_toy_set():
    X, y = _blobs(20, 2, 3, 6.0, seed=7)
    out = graph_classification_svm(X, y, folds=5, num_seeds=2, inner_folds=3)
    assert out["accuracy"] == 1.0 and out["std"] == 0.0
    assert len(out["per_fold"]) == 2 and len(out["per_fold"][0]) == 5
    assert all(c in (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0) for c in out["chosen_C"][0])
    assert "inner CV on each training part only" in out["protocol"]
    lin = graph_classification_svm(X.numpy(), y.numpy(), folds=5, num_seeds=1, inner_folds=3,
                                   kernel="linear", standardize=True, C_grid=(0.1, 1.0))
    assert lin["accuracy"] == 1.0


def test_svm_is_deterministic_and_validates():
    X, y = _blobs(15, 3, 4, 1.0, seed=8)
    a = graph_classification_svm(X, y, folds=3, num_seeds=1, inner_folds=3, seed=4)
    b = graph_classification_svm(X, y, folds=3, num_seeds=1, inner_folds=3, seed=4)
    assert a == b
    with pytest.raises(ValueError, match="folds=20 exceeds"):
        graph_classification_svm(X, y, folds=20)
    with pytest.raises(ValueError, match="y has 10 entries"):
        graph_classification_svm(X, y[:10])
    with pytest.raises(ValueError, match="at least 2 classes"):
        graph_classification_svm(X, torch.zeros(45, dtype=torch.long))


# ----------------------------------------------------------------------------- ranking


def _naive_ranking(user, item, train, test, ks):
    """Per-user numpy loop: the reference."""
    scores = user @ item.T
    train_sets = {}
    for u, i in train.T:
        train_sets.setdefault(int(u), set()).add(int(i))
    test_sets = {}
    for u, i in test.T:
        test_sets.setdefault(int(u), set()).add(int(i))
    sums = {f"{m}@{k}": 0.0 for k in ks for m in ("recall", "ndcg", "precision")}
    for u, items in test_sets.items():
        s = scores[u].copy()
        for i in train_sets.get(u, ()):
            s[i] = -np.inf
        order = np.argsort(-s, kind="stable")
        for k in ks:
            top = order[:k]
            hits = [r for r, i in enumerate(top) if int(i) in items]
            sums[f"recall@{k}"] += len(hits) / len(items)
            sums[f"precision@{k}"] += len(hits) / k
            dcg = sum(1 / math.log2(r + 2) for r in hits)
            idcg = sum(1 / math.log2(r + 2) for r in range(min(len(items), k)))
            sums[f"ndcg@{k}"] += dcg / idcg
    return {key: v / len(test_sets) for key, v in sums.items()}, len(test_sets)


def test_ranking_hand_case():
    user = torch.tensor([[1.0, 0.0], [0.5, 0.5], [-1.0, 0.0]])
    item = torch.tensor([[4.0, 0.0], [3.0, 0.0], [2.0, 0.0], [1.0, 0.0]])
    train = torch.tensor([[0, 1, 1], [0, 2, 3]])  # user 0 trained on item 0 (masked)
    test = torch.tensor([[0, 0, 2], [2, 3, 0]])  # user 1 has no test item: skipped
    out = ranking_metrics(user, item, train, test, ks=(2,))
    # user 0 ranks [1, 2, 3] (item 0 masked): top-2 = [1, 2], hit item 2 at rank 1.
    # user 2 ranks [3, 2, 1, 0]: top-2 = [3, 2], no hit (test item 0).
    l3 = 1 / math.log2(3)
    assert out["recall@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert out["precision@2"] == pytest.approx((1 / 2 + 0) / 2)
    assert out["ndcg@2"] == pytest.approx((l3 / (1 + l3) + 0) / 2)
    assert out["num_test_users"] == 2
    # Without the mask, item 0 would take a top slot of user 0: recall@1 would be 0.
    assert ranking_metrics(user, item, train, test, ks=1)["recall@1"] == 0.0
    assert ranking_metrics(user, item, train[:, 1:], test, ks=3)["recall@3"] == pytest.approx(
        (1 / 2 + 0) / 2)


def test_ranking_matches_naive_reference_and_is_batch_invariant():
    g = torch.Generator().manual_seed(0)
    n_users, n_items = 40, 30
    user = torch.randn(n_users, 6, generator=g, dtype=torch.float64)
    item = torch.randn(n_items, 6, generator=g, dtype=torch.float64)
    train = torch.stack([torch.randint(0, n_users, (200,), generator=g),
                         torch.randint(0, n_items, (200,), generator=g)])
    test = torch.stack([torch.randint(0, 25, (60,), generator=g),  # users 25.. never tested
                        torch.randint(0, n_items, (60,), generator=g)])
    # Keep test disjoint from train, as in real splits.
    train_keys = set((train[0] * n_items + train[1]).tolist())
    keep = torch.tensor([int(k) not in train_keys for k in (test[0] * n_items + test[1])])
    test = test[:, keep]
    ks = (1, 5, 10, 40)  # 40 > number of items
    ref, n_ref = _naive_ranking(user.numpy(), item.numpy(), train.numpy(), test.numpy(), ks)
    big = ranking_metrics(user, item, train, test, ks=ks, batch_size=1000)
    one = ranking_metrics(user, item, train, test, ks=ks, batch_size=1)
    mid = ranking_metrics(user, item, train, test, ks=ks, batch_size=7,
                          score_fn=lambda u, i: u @ i.T)
    assert big["num_test_users"] == n_ref
    for key, v in ref.items():
        assert big[key] == pytest.approx(v, abs=1e-12), key
        assert one[key] == pytest.approx(big[key], abs=1e-12), key
        assert mid[key] == pytest.approx(big[key], abs=1e-12), key
    # Duplicated pairs count once.
    dup = ranking_metrics(user, item, torch.cat([train, train], 1), torch.cat([test, test], 1),
                          ks=ks)
    for key in ref:
        assert dup[key] == pytest.approx(big[key], abs=1e-12)


def test_ranking_never_builds_full_score_matrix(monkeypatch):
    user, item = torch.randn(50, 4), torch.randn(20, 4)
    test = torch.stack([torch.arange(50), torch.arange(50) % 20])
    seen = []
    real_topk = torch.topk

    def spy(x, *args, **kwargs):
        seen.append(tuple(x.shape))
        return real_topk(x, *args, **kwargs)

    monkeypatch.setattr(torch, "topk", spy)
    ranking_metrics(user, item, torch.zeros(2, 0, dtype=torch.long), test, batch_size=8)
    assert seen and max(s[0] for s in seen) <= 8 and len(seen) == math.ceil(50 / 8)


def test_ranking_num_users_larger_than_tested():
    user, item = torch.randn(100, 4), torch.randn(10, 4)
    test = torch.tensor([[3, 3, 50, 99], [0, 1, 2, 3]])
    out = ranking_metrics(user, item, torch.zeros(2, 0, dtype=torch.long), test, ks=(10,),
                          num_users=100)
    assert out["num_test_users"] == 3
    assert out["recall@10"] == pytest.approx(1.0)  # every item is in the top 10 of 10 items
    assert out["ndcg@10"] <= 1.0 + 1e-12


def test_ranking_bad_input():
    user, item = torch.randn(4, 3), torch.randn(5, 3)
    train = torch.tensor([[0, 1], [1, 2]])
    test = torch.tensor([[2], [3]])
    with pytest.raises(ValueError, match="ks must be >= 1"):
        ranking_metrics(user, item, train, test, ks=(0,))
    with pytest.raises(ValueError, match="ks must not be empty"):
        ranking_metrics(user, item, train, test, ks=())
    with pytest.raises(ValueError, match=r"test_pairs must have shape \[2, M\]"):
        ranking_metrics(user, item, train, test.T.reshape(1, 2))
    with pytest.raises(ValueError, match="train_pairs contains item id 9"):
        ranking_metrics(user, item, torch.tensor([[0], [9]]), test)
    with pytest.raises(ValueError, match="test_pairs is empty"):
        ranking_metrics(user, item, train, torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="user_emb has dimension 3 but item_emb has 2"):
        ranking_metrics(user, item[:, :2], train, test)
    user[1, 1] = float("nan")
    with pytest.raises(ValueError, match="user_emb contains NaN"):
        ranking_metrics(user, item, train, test)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_ranking_and_link_cuda_match_cpu():
    g = torch.Generator().manual_seed(1)
    user, item = torch.randn(30, 5, generator=g), torch.randn(25, 5, generator=g)
    train = torch.stack([torch.randint(0, 30, (80,), generator=g),
                         torch.randint(0, 25, (80,), generator=g)])
    test = torch.stack([torch.randint(0, 30, (40,), generator=g),
                        torch.randint(0, 25, (40,), generator=g)])
    cpu = ranking_metrics(user, item, train, test, ks=(5, 10), batch_size=4)
    gpu = ranking_metrics(user.cuda(), item.cuda(), train.cuda(), test, ks=(5, 10), batch_size=4)
    for key in cpu:
        assert gpu[key] == pytest.approx(cpu[key], abs=1e-5)
    scores, labels = torch.rand(50, generator=g), torch.arange(50) % 2
    a = link_prediction_scores(scores, labels)
    b = link_prediction_scores(scores.cuda(), labels.cuda())
    assert a["auc"] == pytest.approx(b["auc"]) and a["ap"] == pytest.approx(b["ap"])
