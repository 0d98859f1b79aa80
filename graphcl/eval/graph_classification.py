"""Graph classification on frozen graph embeddings: SVM with nested cross-validation."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from torch import Tensor

from graphcl.eval._common import check_grid, check_seed, mean_std, to_numpy_labels, to_numpy_matrix
from graphcl.validation import check_positive_int

__all__ = ["graph_classification_svm", "DEFAULT_SVM_C_GRID"]

#: The C grid of the InfoGraph/GraphCL unsupervised TU protocol.
DEFAULT_SVM_C_GRID: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)


def graph_classification_svm(
    X: Tensor | np.ndarray | Mapping[str, Tensor | np.ndarray],
    y: Any,
    *,
    folds: int = 10,
    num_seeds: int = 5,
    C_grid: Sequence[float] = DEFAULT_SVM_C_GRID,
    seed: int = 0,
    inner_folds: int = 5,
    kernel: str = "rbf",
    standardize: bool = False,
    n_jobs: int | None = None,
    precompute_kernel: bool = False,
) -> dict[str, Any]:
    """Nested-CV SVM accuracy of graph embeddings (InfoGraph/GraphCL TU protocol).

    For each seed ``s`` (``random_state = seed + s``) the graphs are split by
    a shuffled ``StratifiedKFold(folds)``. Inside each outer training part a
    ``GridSearchCV`` (stratified ``inner_folds``-fold, accuracy) picks ``C``
    from ``C_grid``, refits on the whole outer training part and is scored on
    the held-out fold: the test fold never influences ``C``. ``kernel`` is
    passed to ``sklearn.svm.SVC`` (``"rbf"`` is ``SVC()``'s default, used by
    the InfoGraph/GraphCL evaluation; ``"linear"`` is also common). With
    ``standardize=True`` a ``StandardScaler`` is fit inside every training
    part (pipeline), never on test graphs.

    ``precompute_kernel=True`` (``kernel="rbf"``, ``standardize=False`` only) computes the
    same protocol from one squared-distance matrix shared by every fit: each fit uses
    ``SVC(kernel="precomputed")`` on ``exp(-gamma * D2)`` with ``gamma = 1 / (D * var(X_fit))``,
    which is what ``gamma="scale"`` computes on that fit set, so one kernel matrix serves the
    whole C grid (C ties go to the smaller C, as ``GridSearchCV``). Same splits, fold
    accuracies and chosen C as the default path up to solver tolerance; about 2x faster on
    PROTEINS-sized sets (``benchmarks/graph_cl.py --svm-speed``).

    ``X`` may also be a mapping ``{name: embedding}`` of candidate embeddings of the same graphs
    (e.g. several epochs or embedding types of one model). The inner CV of each outer training
    part then picks the pair (candidate, C) of best mean inner accuracy (ties: the earlier
    candidate in the mapping's order, then the smaller C), refits it on the training part and
    scores it on the held-out fold: the candidate, like C, is chosen without the test fold.
    The result then also holds ``candidates`` (the names) and ``chosen_candidate`` (list per
    seed of the name chosen in every fold).

    Returns ``accuracy`` (mean over seeds of the mean fold accuracy), ``std``
    (population std over seeds), ``fold_std`` (mean over seeds of the std
    over folds), ``per_seed``, ``per_fold`` (list per seed), ``chosen_C``
    (list per seed of the C of every fold) and ``protocol``.

    Example:
        >>> import torch
        >>> X = torch.cat([torch.randn(20, 3) + 3, torch.randn(20, 3) - 3])
        >>> y = torch.arange(40) // 20
        >>> graph_classification_svm(X, y, folds=4, num_seeds=1, inner_folds=3)["accuracy"]
        1.0
    """
    cands = _candidate_matrices(X)
    names = list(cands)
    x = cands[names[0]]
    labels = to_numpy_labels(y, x.shape[0], "y")
    check_positive_int(folds, "folds", minimum=2)
    check_positive_int(inner_folds, "inner_folds", minimum=2)
    check_positive_int(num_seeds, "num_seeds")
    grid = sorted(check_grid(C_grid, "C_grid"))
    seed = check_seed(seed)
    if kernel not in ("rbf", "linear", "poly", "sigmoid"):
        raise ValueError(f"kernel must be 'rbf', 'linear', 'poly' or 'sigmoid', got {kernel!r}")
    if precompute_kernel and (kernel != "rbf" or standardize):
        raise ValueError("precompute_kernel=True needs kernel='rbf' and standardize=False")
    classes, counts = np.unique(labels, return_counts=True)
    if classes.size < 2:
        raise ValueError("y must contain at least 2 classes")
    if counts.max() < folds:
        raise ValueError(f"folds={folds} exceeds the size of every class (largest class has "
                         f"{counts.max()} graphs)")

    steps = [("scale", StandardScaler())] if standardize else []
    pipe = Pipeline([*steps, ("svc", SVC(kernel=kernel))])
    fit_predicts = [_precomputed_rbf(cands[n], labels) for n in names] if precompute_kernel else None
    per_seed, per_fold, chosen, chosen_cand = [], [], [], []
    for s in range(num_seeds):
        outer = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed + s)
        accs, cs, picks = [], [], []
        with warnings.catch_warnings():
            # Small classes: sklearn warns when a class has fewer members than n_splits.
            warnings.filterwarnings("ignore", message=r"The least populated class")
            for train, test in outer.split(x, labels):
                inner = StratifiedKFold(n_splits=inner_folds, shuffle=True, random_state=seed + s)
                scores = np.zeros((len(names), len(grid)))  # mean inner-CV accuracy per (candidate, C)
                for k, name in enumerate(names):
                    if fit_predicts is None:
                        search = GridSearchCV(pipe, {"svc__C": grid}, cv=inner, scoring="accuracy",
                                              n_jobs=n_jobs, refit=False)
                        search.fit(cands[name][train], labels[train])
                        scores[k] = search.cv_results_["mean_test_score"]
                    else:
                        for fit, val in inner.split(x[train], labels[train]):
                            preds = fit_predicts[k](train[fit], train[val], grid)
                            scores[k] += [float((p == labels[train[val]]).mean()) for p in preds]
                        scores[k] /= inner_folds
                k, c = np.unravel_index(int(np.argmax(scores)), scores.shape)  # ties: earlier candidate, smaller C
                best = grid[int(c)]
                if fit_predicts is None:
                    xk = cands[names[k]]
                    pred = clone(pipe).set_params(svc__C=best).fit(xk[train], labels[train]).predict(xk[test])
                else:
                    pred = fit_predicts[k](train, test, [best])[0]
                accs.append(float((pred == labels[test]).mean()))
                cs.append(best)
                picks.append(names[k])
        per_fold.append(accs)
        chosen.append(cs)
        chosen_cand.append(picks)
        per_seed.append(float(np.mean(accs)))
    acc, std = mean_std(per_seed)
    fold_std = float(np.mean([np.std(a) for a in per_fold]))
    kern = f"{kernel}; precomputed kernel" if precompute_kernel else kernel
    protocol = (f"graph classification: SVC(kernel={kern}) on "
                f"{'standardised (fit on training folds) ' if standardize else ''}frozen graph "
                f"embeddings; {folds}-fold stratified CV x {num_seeds} seeds (seed={seed}); C from "
                f"{grid} chosen by {inner_folds}-fold inner CV on each training part only; "
                f"accuracy = mean over folds, mean +- population std over seeds")
    out = {"accuracy": acc, "std": std, "fold_std": fold_std, "per_seed": per_seed,
           "per_fold": per_fold, "chosen_C": chosen, "protocol": protocol}
    if isinstance(X, Mapping):
        out["protocol"] += (f"; embedding chosen with C by the same inner CV among {len(names)} "
                            f"candidates {names}")
        out["candidates"] = names
        out["chosen_candidate"] = chosen_cand
    return out


def _candidate_matrices(X: Any) -> dict[str, np.ndarray]:
    """``{name: float64 matrix}`` of one embedding (name ``"X"``) or a mapping of candidates."""
    if not isinstance(X, Mapping):
        return {"X": to_numpy_matrix(X, "X")}
    if not X:
        raise ValueError("X must hold at least one candidate embedding")
    out: dict[str, np.ndarray] = {}
    for name, emb in X.items():
        if not isinstance(name, str):
            raise TypeError(f"X's candidate names must be strings, got {type(name).__name__}")
        out[name] = to_numpy_matrix(emb, f"X[{name!r}]")
        first = next(iter(out.values()))
        if out[name].shape[0] != first.shape[0]:
            raise ValueError(f"X[{name!r}] has {out[name].shape[0]} rows, the first candidate "
                             f"{first.shape[0]}: candidates must embed the same graphs")
    return out


def _precomputed_rbf(x: np.ndarray, labels: np.ndarray):
    """``fit_predict(fit_idx, pred_idx, Cs)``: RBF SVMs (``gamma="scale"`` on the fit rows) from one
    shared squared-distance matrix, one prediction array per C."""
    sq = (x * x).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * (x @ x.T), 0.0)
    dim = x.shape[1]

    def fit_predict(fit: np.ndarray, pred: np.ndarray, cs: Sequence[float]) -> list[np.ndarray]:
        var = x[fit].var()
        gamma = 1.0 / (dim * var) if var != 0 else 1.0
        k_fit = np.exp(-gamma * d2[np.ix_(fit, fit)])
        k_pred = np.exp(-gamma * d2[np.ix_(pred, fit)])
        return [SVC(kernel="precomputed", C=c).fit(k_fit, labels[fit]).predict(k_pred) for c in cs]

    return fit_predict
