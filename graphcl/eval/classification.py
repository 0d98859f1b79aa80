"""Node classification on frozen embeddings: linear probe and multi-label F1.

Both evaluators are honest by construction: the regularisation strength, the
decision threshold or any other choice is made on training/validation nodes
only; test labels are read once, to score the final predictions.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from torch import Tensor

from graphcl.eval._common import (
    check_grid,
    check_ratio,
    check_seed,
    l2_normalize,
    limit_blas_threads,
    mean_std,
    to_numpy_labels,
    to_numpy_mask,
    to_numpy_matrix,
)
from graphcl.validation import check_positive_float, check_positive_int

__all__ = ["linear_probe", "multilabel_f1", "DEFAULT_C_GRID", "DEFAULT_TRAIN_RATIOS"]

#: Regularisation grid of the linear probe (inverse L2 strength of LogisticRegression).
DEFAULT_C_GRID: tuple[float, ...] = (1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
#: Training ratios of the DeepWalk/node2vec multi-label protocol.
DEFAULT_TRAIN_RATIOS: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


# --------------------------------------------------------------------------- linear probe


def _fixed_splits(
    n: int, train_mask: Any, val_mask: Any, test_mask: Any, need_val: bool
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if train_mask is None or test_mask is None:
        raise ValueError("train_mask and test_mask must both be given (or no mask at all for "
                         "random splits)")
    if val_mask is None and need_val:
        raise ValueError("val_mask is required to choose C on validation nodes when C_grid has "
                         "more than one value (C is never chosen on test nodes)")
    masks = {"train_mask": to_numpy_mask(train_mask, n, "train_mask"),
             "test_mask": to_numpy_mask(test_mask, n, "test_mask")}
    if val_mask is not None:
        masks["val_mask"] = to_numpy_mask(val_mask, n, "val_mask")
    widths = {m.shape[1] for m in masks.values()} - {1}
    if len(widths) > 1:
        raise ValueError(f"masks have different numbers of splits: "
                         f"{ {k: v.shape[1] for k, v in masks.items()} }")
    num_splits = widths.pop() if widths else 1
    splits = []
    for s in range(num_splits):
        cols = {k: v[:, s if v.shape[1] > 1 else 0] for k, v in masks.items()}
        for a, b in (("train_mask", "val_mask"), ("train_mask", "test_mask"),
                     ("val_mask", "test_mask")):
            if a in cols and b in cols and bool((cols[a] & cols[b]).any()):
                raise ValueError(f"{a} and {b} overlap in split {s} "
                                 f"({int((cols[a] & cols[b]).sum())} shared nodes)")
        for k, v in cols.items():
            if not v.any():
                raise ValueError(f"{k} selects no node in split {s}")
        val = np.flatnonzero(cols["val_mask"]) if "val_mask" in cols else np.zeros(0, np.int64)
        splits.append((np.flatnonzero(cols["train_mask"]), val, np.flatnonzero(cols["test_mask"])))
    return splits


def _random_splits(
    n: int, num_seeds: int, train_ratio: float, val_ratio: float, seed: int, need_val: bool
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    if train_ratio + val_ratio >= 1.0:
        raise ValueError(f"train_ratio + val_ratio must be < 1, got {train_ratio} + {val_ratio}")
    n_train = max(1, int(round(train_ratio * n)))
    n_val = max(1 if need_val else 0, int(round(val_ratio * n)))
    if n_train + n_val >= n:
        raise ValueError(f"{n} nodes are too few for train_ratio={train_ratio}, "
                         f"val_ratio={val_ratio}: no test node is left")
    splits = []
    for s in range(num_seeds):
        perm = np.random.default_rng([seed, s]).permutation(n)
        splits.append((perm[:n_train], perm[n_train:n_train + n_val], perm[n_train + n_val:]))
    return splits


def linear_probe(
    embeddings: Tensor | np.ndarray,
    y: Tensor | np.ndarray,
    *,
    train_mask: Tensor | np.ndarray | None = None,
    val_mask: Tensor | np.ndarray | None = None,
    test_mask: Tensor | np.ndarray | None = None,
    num_seeds: int = 5,
    train_ratio: float = 0.1,
    val_ratio: float = 0.1,
    C_grid: Sequence[float] = DEFAULT_C_GRID,
    seed: int = 0,
    normalize: bool = True,
    max_iter: int = 1000,
    blas_threads: int | None = 1,
) -> dict[str, Any]:
    """Linear-probe accuracy of frozen node embeddings, C chosen on validation nodes.

    Protocol (GRACE/GCA style): rows are L2-normalised (``normalize=True``), a
    multinomial scikit-learn ``LogisticRegression`` (lbfgs, L2 penalty) is fit
    on the training nodes for every ``C`` in ``C_grid``; the ``C`` with the best
    validation accuracy is kept (ties: the smallest ``C``, i.e. the strongest
    regularisation) and that same model (trained on the training nodes only,
    no refit on train+val) is scored once on the test nodes. Test labels never
    influence any choice.

    Splits: without masks, ``num_seeds`` random splits (``train_ratio`` /
    ``val_ratio`` / rest, 10/10/80 by default; split ``s`` uses
    ``numpy.random.default_rng([seed, s])``). With masks (for example the public
    Planetoid split), the given split is evaluated once: the lbfgs fit is
    deterministic, so repeating it with other seeds would only repeat the same
    number; ``num_seeds`` is then ignored. Masks of shape ``[N, S]`` (e.g.
    WikiCS) give ``S`` splits; a 1-D mask is shared by all of them.

    Returns a dict with ``accuracy`` (mean test accuracy), ``std`` (population
    std over splits), ``macro_f1`` / ``macro_f1_std``, ``per_seed`` (test
    accuracy of every split), ``per_seed_macro_f1``, ``chosen_C``,
    ``val_accuracy`` (validation accuracy at the chosen C), ``num_splits`` and
    a readable ``protocol`` string. ``blas_threads`` caps BLAS threads during
    the fits (``None``: no cap).

    Example:
        >>> import torch
        >>> z = torch.cat([torch.randn(50, 8) + 4, torch.randn(50, 8) - 4])
        >>> y = torch.cat([torch.zeros(50), torch.ones(50)]).long()
        >>> linear_probe(z, y, num_seeds=2)["accuracy"]
        1.0
    """
    x = to_numpy_matrix(embeddings, "embeddings")
    n = x.shape[0]
    labels = to_numpy_labels(y, n, "y")
    grid = sorted(check_grid(C_grid, "C_grid"))
    seed = check_seed(seed)
    check_positive_int(max_iter, "max_iter")
    if normalize:
        x = l2_normalize(x)
    need_val = len(grid) > 1
    use_masks = any(m is not None for m in (train_mask, val_mask, test_mask))
    if use_masks:
        splits = _fixed_splits(n, train_mask, val_mask, test_mask, need_val)
    else:
        check_positive_int(num_seeds, "num_seeds")
        splits = _random_splits(n, num_seeds, check_ratio(train_ratio, "train_ratio"),
                                check_ratio(val_ratio, "val_ratio"), seed, need_val)

    accs, f1s, chosen, val_accs = [], [], [], []
    for train, val, test in splits:
        if np.unique(labels[train]).size < 2:
            raise ValueError("the training nodes hold fewer than 2 classes; use a larger "
                             "train_ratio or another split")
        best = None
        for c in grid:
            with limit_blas_threads(blas_threads):
                clf = LogisticRegression(C=c, max_iter=max_iter).fit(x[train], labels[train])
            score = float((clf.predict(x[val]) == labels[val]).mean()) if val.size else 0.0
            if best is None or score > best[0]:  # strict: ties keep the smaller C
                best = (score, c, clf)
        score, c, clf = best
        pred = clf.predict(x[test])
        accs.append(float((pred == labels[test]).mean()))
        f1s.append(float(f1_score(labels[test], pred, average="macro", zero_division=0)))
        chosen.append(c)
        val_accs.append(score if val.size else float("nan"))

    acc, acc_std = mean_std(accs)
    f1, f1_std = mean_std(f1s)
    if use_masks:
        split_txt = (f"given masks ({len(splits)} split(s), each evaluated once: the lbfgs fit is "
                     f"deterministic, so seeds would not change it)")
    else:
        split_txt = (f"{len(splits)} random splits {train_ratio:g}/{val_ratio:g}/"
                     f"{1 - train_ratio - val_ratio:g} train/val/test (seed={seed})")
    protocol = (f"linear probe: {split_txt}; "
                f"{'L2-normalised' if normalize else 'raw (not normalised)'} frozen embeddings; "
                f"multinomial LogisticRegression(lbfgs, L2, max_iter={max_iter}); "
                f"C chosen by validation accuracy from {grid} (ties -> smaller C), "
                f"model trained on train nodes only; test accuracy at the chosen C, "
                f"mean +- population std over splits")
    return {
        "accuracy": acc,
        "std": acc_std,
        "macro_f1": f1,
        "macro_f1_std": f1_std,
        "per_seed": accs,
        "per_seed_macro_f1": f1s,
        "chosen_C": chosen,
        "val_accuracy": val_accs,
        "num_splits": len(splits),
        "protocol": protocol,
    }


# --------------------------------------------------------------------------- multi-label


def _to_numpy_multilabel(Y: Any, num: int) -> np.ndarray:
    if sp.issparse(Y):
        arr = Y.toarray()
    elif isinstance(Y, Tensor):
        arr = Y.detach().cpu().numpy()
    elif isinstance(Y, np.ndarray):
        arr = Y
    else:
        raise TypeError(f"Y must be a [N, L] 0/1 torch.Tensor, numpy.ndarray or scipy sparse "
                        f"matrix, got {type(Y).__name__}")
    if arr.ndim != 2:
        raise ValueError(f"Y must have shape [N, num_labels], got {list(arr.shape)}")
    if arr.shape[0] != num:
        raise ValueError(f"Y has {arr.shape[0]} rows but embeddings have {num} rows")
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise ValueError("Y must be a 0/1 indicator matrix")
    return arr.astype(np.int64)


def _topk_predict(proba: np.ndarray, k: np.ndarray) -> np.ndarray:
    """Indicator of the ``k[i]`` most probable labels of each row (ties: lower label id)."""
    order = np.argsort(-proba, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(proba.shape[1])[None, :].repeat(len(proba), 0), 1)
    return (rank < k[:, None]).astype(np.int64)


def _threshold_predict(proba: np.ndarray, t: float) -> np.ndarray:
    """Labels with probability ``>= t``, plus the most probable label of every row."""
    pred = proba >= t
    pred[np.arange(len(proba)), proba.argmax(axis=1)] = True
    return pred.astype(np.int64)


def _micro_f1(y_true: np.ndarray, pred: np.ndarray) -> float:
    tp = float((y_true & pred).sum())
    denom = float(y_true.sum() + pred.sum())
    return 2.0 * tp / denom if denom > 0 else 0.0


def _fit_ovr(x: np.ndarray, Y: np.ndarray, C: float, solver: str, max_iter: int,
             n_jobs: int | None, blas_threads: int | None) -> OneVsRestClassifier:
    clf = OneVsRestClassifier(LogisticRegression(C=C, solver=solver, max_iter=max_iter),
                              n_jobs=n_jobs)
    with warnings.catch_warnings(), limit_blas_threads(blas_threads):
        # A label with no positive training node gets a constant (all-negative) predictor.
        warnings.filterwarnings("ignore", message=r"Label .* is present in all training")
        clf.fit(x, Y)
    return clf


def multilabel_f1(
    embeddings: Tensor | np.ndarray,
    Y: Any,
    *,
    train_ratios: Sequence[float] = DEFAULT_TRAIN_RATIOS,
    num_shuffles: int = 10,
    protocol: str = "topk",
    seed: int = 0,
    C: float = 1.0,
    normalize: bool = False,
    val_fraction: float = 0.2,
    thresholds: Sequence[float] | None = None,
    solver: str = "lbfgs",
    max_iter: int = 100,
    n_jobs: int | None = None,
    blas_threads: int | None = 1,
) -> dict[str, Any]:
    """Micro/Macro-F1 of one-vs-rest logistic regression (DeepWalk/node2vec protocol).

    For shuffle ``s`` the nodes are permuted with
    ``numpy.random.default_rng([seed, s])``; for each ratio ``r`` the first
    ``round(r * N)`` nodes of that permutation train a
    ``OneVsRestClassifier(LogisticRegression(C, solver), n_jobs)`` and the rest
    are tested (the same permutation is shared by all ratios, as in the
    DeepWalk scorer). Embeddings are used raw unless ``normalize=True``. The
    DeepWalk scorer used liblinear (old scikit-learn default, which also
    penalises the intercept); the default here is lbfgs, which gave the same
    F1 to 1e-3 on BlogCatalog and fits ~8x faster. ``blas_threads`` caps BLAS
    threads during the fits (``None``: no cap).

    ``protocol="topk"`` (DeepWalk's scorer): each test node gets its ``k``
    most probable labels where ``k`` is its TRUE number of labels; this leaks
    the test label counts and inflates the scores.

    ``protocol="threshold"`` never reads test labels: the training nodes are
    split once more (the last ``ceil(val_fraction * n_train)`` of them, in
    shuffled order, form a validation part); a model fit on the remaining
    training nodes scores the validation part, and one global probability
    threshold ``t`` is chosen from ``thresholds`` (default 0.01..0.99, step
    0.01) to maximise validation micro-F1 (ties: the smallest ``t``). The
    model is then refit on all training nodes and each test node is given
    every label with probability ``>= t`` and always at least its most
    probable label.

    F1 values are fractions in ``[0, 1]`` (scikit-learn ``f1_score``,
    ``zero_division=0``; macro averages over all labels).

    Returns ``{"train_ratios", "micro_f1", "micro_f1_std", "macro_f1",
    "macro_f1_std"`` (lists, one entry per ratio), ``"results"`` (one dict per
    ratio with the per-shuffle values and, for "threshold", the chosen
    thresholds) and ``"protocol"}``.

    Example:
        >>> import torch
        >>> z = torch.eye(4).repeat_interleave(10, 0) + 0.01 * torch.randn(40, 4)
        >>> Y = torch.eye(4, dtype=torch.long).repeat_interleave(10, 0)
        >>> out = multilabel_f1(z, Y, train_ratios=(0.5,), num_shuffles=2, C=100.0)
        >>> out["micro_f1"][0]
        1.0
    """
    x = to_numpy_matrix(embeddings, "embeddings")
    n = x.shape[0]
    labels = _to_numpy_multilabel(Y, n)
    if protocol not in ("topk", "threshold"):
        raise ValueError(f"protocol must be 'topk' or 'threshold', got {protocol!r}")
    if isinstance(train_ratios, (int, float)):
        train_ratios = (train_ratios,)
    ratios = [check_ratio(r, "train_ratios") for r in train_ratios]
    if not ratios:
        raise ValueError("train_ratios must not be empty")
    check_positive_int(num_shuffles, "num_shuffles")
    seed = check_seed(seed)
    C = check_positive_float(C, "C")
    val_fraction = check_ratio(val_fraction, "val_fraction")
    check_positive_int(max_iter, "max_iter")
    grid = (np.round(np.arange(1, 100) * 0.01, 2) if thresholds is None
            else np.asarray(check_grid(thresholds, "thresholds")))
    if normalize:
        x = l2_normalize(x)

    perms = [np.random.default_rng([seed, s]).permutation(n) for s in range(num_shuffles)]
    results = []
    for r in ratios:
        n_train = int(round(r * n))
        if n_train < 2 or n_train >= n:
            raise ValueError(f"train ratio {r} leaves no training or no test node for N={n}")
        micro, macro, chosen_t = [], [], []
        for perm in perms:
            train, test = perm[:n_train], perm[n_train:]
            if protocol == "threshold":
                n_val = int(np.ceil(val_fraction * n_train))
                if n_val >= n_train:
                    raise ValueError(f"val_fraction={val_fraction} leaves no node to fit on "
                                     f"at train ratio {r}")
                fit, val = train[:-n_val], train[-n_val:]
                proba_val = _fit_ovr(x[fit], labels[fit], C, solver, max_iter, n_jobs,
                                     blas_threads).predict_proba(x[val])
                scores = [_micro_f1(labels[val], _threshold_predict(proba_val, t)) for t in grid]
                t = float(grid[int(np.argmax(scores))])
                chosen_t.append(t)
            proba = _fit_ovr(x[train], labels[train], C, solver, max_iter, n_jobs,
                             blas_threads).predict_proba(x[test])
            if protocol == "topk":
                pred = _topk_predict(proba, labels[test].sum(axis=1))
            else:
                pred = _threshold_predict(proba, t)
            micro.append(float(f1_score(labels[test], pred, average="micro", zero_division=0)))
            macro.append(float(f1_score(labels[test], pred, average="macro", zero_division=0)))
        mi, mi_s = mean_std(micro)
        ma, ma_s = mean_std(macro)
        entry = {"train_ratio": r, "micro_f1": mi, "micro_f1_std": mi_s, "macro_f1": ma,
                 "macro_f1_std": ma_s, "per_shuffle_micro_f1": micro,
                 "per_shuffle_macro_f1": macro}
        if protocol == "threshold":
            entry["thresholds"] = chosen_t
        results.append(entry)

    clf_txt = f"OneVsRest LogisticRegression(C={C:g}, solver={solver}, max_iter={max_iter})"
    emb_txt = "L2-normalised" if normalize else "raw"
    if protocol == "topk":
        rule = ("top-k rule: each test node gets its k most probable labels with k = its TRUE "
                "label count (DeepWalk scorer; leaks test label counts, optimistic)")
    else:
        rule = (f"threshold rule: one global probability threshold chosen on a validation part "
                f"({val_fraction:g} of the training nodes, model fit on the rest) to maximise "
                f"micro-F1, model refit on all training nodes; a test node gets the labels with "
                f"probability >= threshold and at least its most probable label (no test label "
                f"is read)")
    protocol_txt = (f"multi-label: {clf_txt} on {emb_txt} embeddings; train ratios {ratios}, "
                    f"{num_shuffles} shuffles (seed={seed}), rest is test; {rule}; "
                    f"micro/macro-F1 as fractions, mean +- population std over shuffles")
    return {
        "train_ratios": ratios,
        "micro_f1": [e["micro_f1"] for e in results],
        "micro_f1_std": [e["micro_f1_std"] for e in results],
        "macro_f1": [e["macro_f1"] for e in results],
        "macro_f1_std": [e["macro_f1_std"] for e in results],
        "results": results,
        "protocol": protocol_txt,
    }
