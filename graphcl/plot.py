"""Pictures of a run: training curves and a 2-D map of the embeddings.

Needs matplotlib (the ``plot`` extra: ``pip install graphcl[plot]``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

__all__ = ["plot_result", "project_2d"]


def project_2d(emb: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """2-D projection: t-SNE for up to 3,000 points, PCA beyond (named in the second value)."""
    emb = np.asarray(emb, dtype=np.float64)
    if emb.shape[1] <= 2:
        return np.pad(emb, ((0, 0), (0, 2 - emb.shape[1]))), "raw"
    if emb.shape[0] <= 3000:
        from sklearn.manifold import TSNE

        perplexity = float(min(30, max(2, (emb.shape[0] - 1) // 3)))
        xy = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(emb)
        return xy, "t-SNE"
    from sklearn.decomposition import PCA

    return PCA(2, random_state=seed).fit_transform(emb), "PCA"


def plot_result(result: str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Draw PNGs for a ``graphcl run --out`` result: training curves (when the
    result has a history) and the embedding map coloured by label (when an
    embedding file was written beside it). Returns the written paths.

    Example:
        >>> plot_result("runs/grace_cora.json")  # doctest: +SKIP
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        raise ValueError("plotting needs matplotlib: pip install 'graphcl[plot]'") from e
    from graphcl.utils import atomic_write

    result = Path(result)
    if not result.exists():
        raise FileNotFoundError(f"result file {result} does not exist")
    rec = json.loads(result.read_text())
    out_dir = Path(out_dir) if out_dir else result.parent
    stem = result.stem
    written: list[Path] = []

    def save(fig, name: str) -> None:
        path = out_dir / f"{stem}.{name}.png"
        atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=120, bbox_inches="tight"),
                     mode="wb")
        plt.close(fig)
        written.append(path)

    history = rec.get("history") or []
    keys = sorted({k for h in history for k in h if k != "epoch"})
    if history and keys:
        fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 3), squeeze=False)
        for ax, k in zip(axes[0], keys):
            pts = [(h["epoch"], h[k]) for h in history if k in h]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="." if len(pts) < 50 else None)
            ax.set_xlabel("epoch")
            ax.set_title(k)
        fig.suptitle(f"{rec.get('method')} on {rec.get('dataset')}", y=1.04)
        save(fig, "curves")

    emb_file = rec.get("embedding_file")
    if emb_file and (result.parent / emb_file).exists():
        blob = torch.load(result.parent / emb_file, map_location="cpu", weights_only=False)
        emb = blob["embedding"].float().numpy()
        labels = blob.get("labels")
        xy, how = project_2d(emb)
        fig, ax = plt.subplots(figsize=(5, 5))
        if labels is not None and labels.dim() == 1:
            c = labels.numpy()
        elif labels is not None:  # multi-label: colour by the first label
            c = labels.float().argmax(1).numpy()
        else:
            c = None
        ax.scatter(xy[:, 0], xy[:, 1], c=c, s=max(1.0, 300 / max(len(xy), 1) ** 0.5), cmap="tab10")
        ax.set_title(f"{rec.get('method')} on {rec.get('dataset')}: {how} of the embedding")
        ax.set_xticks([])
        ax.set_yticks([])
        save(fig, "embedding")
    if not written:
        raise ValueError(f"{result} has neither a training history nor an embedding file to plot")
    return written
