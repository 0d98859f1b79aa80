"""Readers for the file formats of the staged datasets (node, multi-label, clustering, TU).

Each reader takes the manifest entry and the data root and returns a ``Data``
(or a :class:`TUGraphs`); none writes to disk.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data, InMemoryDataset

__all__ = [
    "undirected_edge_index",
    "load_planetoid",
    "load_npz",
    "load_mat_multilabel",
    "load_sdcn",
    "load_tu",
    "read_tu",
    "TUGraphs",
    "node_stats",
    "tu_stats",
]


def undirected_edge_index(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Drop self loops, add reverse edges, remove duplicates and sort by (row, col).

    Example:
        >>> undirected_edge_index(torch.tensor([[0, 1, 1], [1, 0, 1]]), 2).tolist()
        [[0, 1], [1, 0]]
    """
    row, col = edge_index[0].long(), edge_index[1].long()
    keep = row != col
    row, col = row[keep], col[keep]
    keys = torch.cat([row * num_nodes + col, col * num_nodes + row])
    keys = torch.unique(keys)  # sorted
    return torch.stack([keys // num_nodes, keys % num_nodes])


def _binary_dense(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, shape) -> Tensor:
    """Dense float32 0/1 matrix from CSR parts (entries > 0 become 1), without a float64 copy."""
    n, f = int(shape[0]), int(shape[1])
    counts = np.diff(indptr)
    rows = torch.from_numpy(np.repeat(np.arange(n, dtype=np.int64), counts))
    cols = torch.from_numpy(indices.astype(np.int64, copy=False))
    pos = torch.from_numpy(np.asarray(data) > 0)
    x = torch.zeros(n, f, dtype=torch.float32)
    x[rows[pos], cols[pos]] = 1.0
    return x


def load_planetoid(entry: dict[str, Any], root: Path, **_: Any) -> Data:
    """Cora / CiteSeer via ``torch_geometric.io.read_planetoid_data`` (reads ``raw/`` only)."""
    from torch_geometric.io import read_planetoid_data

    raw = root / entry["path"] / "raw"
    data = read_planetoid_data(str(raw), entry["planetoid_name"])
    n = data.num_nodes
    return Data(
        x=data.x.float(),
        edge_index=undirected_edge_index(data.edge_index, n),
        y=data.y.long(),
        train_mask=data.train_mask,
        val_mask=data.val_mask,
        test_mask=data.test_mask,
        num_nodes=n,
    )


def load_npz(entry: dict[str, Any], root: Path, **_: Any) -> Data:
    """Amazon / Coauthor gnn-benchmark npz (as ``torch_geometric.io.read_npz``: binary features)."""
    path = root / entry["files"][0]
    with np.load(path, allow_pickle=False) as f:
        x = _binary_dense(f["attr_indptr"], f["attr_indices"], f["attr_data"], f["attr_shape"])
        n = int(f["adj_shape"][0])
        counts = np.diff(f["adj_indptr"])
        row = np.repeat(np.arange(n, dtype=np.int64), counts)
        col = f["adj_indices"].astype(np.int64)
        y = torch.from_numpy(f["labels"].astype(np.int64))
    ei = undirected_edge_index(torch.from_numpy(np.stack([row, col])), n)
    return Data(x=x, edge_index=ei, y=y, num_nodes=n)


def load_mat_multilabel(entry: dict[str, Any], root: Path, **_: Any) -> Data:
    """BlogCatalog / PPI .mat (``network``, ``group``): x=None, y float multi-hot [N, C]."""
    import scipy.io
    import scipy.sparse as sp

    mat = scipy.io.loadmat(str(root / entry["files"][0]))
    adj = sp.coo_matrix(mat["network"])
    n = adj.shape[0]
    ei = torch.from_numpy(np.stack([adj.row, adj.col]).astype(np.int64))
    group = sp.coo_matrix(mat["group"])
    y = torch.zeros(group.shape, dtype=torch.float32)
    y[torch.from_numpy(group.row.astype(np.int64)), torch.from_numpy(group.col.astype(np.int64))] = 1.0
    return Data(x=None, edge_index=undirected_edge_index(ei, n), y=y, num_nodes=n)


def _read_pairs(path: Path) -> Tensor:
    arr = np.loadtxt(path, dtype=np.int64, ndmin=2)
    return torch.from_numpy(arr[:, :2].T.copy())


def load_sdcn(entry: dict[str, Any], root: Path, **_: Any) -> Data:
    """ACM / DBLP: SDCN graph and label files; features from ACM3025.mat / dblp.zip."""
    files = {Path(rel).name: root / rel for rel in entry["files"]}
    y = torch.from_numpy(np.loadtxt(files[entry["label_file"]], dtype=np.int64).reshape(-1))
    n = y.numel()
    feat_file = files[entry["feature_file"]]
    if feat_file.suffix == ".mat":
        import scipy.io

        feat = scipy.io.loadmat(str(feat_file), variable_names=["feature"])["feature"]
    else:
        with zipfile.ZipFile(feat_file) as zf:
            member = entry["feature_member"]
            feat = np.load(io.BytesIO(zf.read(member)), allow_pickle=False)
    x = torch.from_numpy(np.asarray(feat, dtype=np.float32))
    ei = undirected_edge_index(_read_pairs(files[entry["graph_file"]]), n)
    return Data(x=x, edge_index=ei, y=y, num_nodes=n)


class _OneHotDegree:
    """Transform: ``x`` = one-hot degree (capped at ``max_degree``) for graphs without features."""

    def __init__(self, max_degree: int) -> None:
        self.max_degree = max_degree

    def __call__(self, data: Data) -> Data:
        n = data.num_nodes
        deg = torch.bincount(data.edge_index[0], minlength=n).clamp_(max=self.max_degree)
        x = torch.zeros(n, self.max_degree + 1, dtype=torch.float32, device=deg.device)
        x[torch.arange(n, device=deg.device), deg] = 1.0
        data = data.clone()
        data.x = x
        return data

    def __repr__(self) -> str:
        return f"OneHotDegree(max_degree={self.max_degree})"


def _read_tu_array(path: Path, dtype: torch.dtype) -> Tensor:
    """A comma/space separated TU text file as a ``[rows]`` or ``[rows, cols]`` tensor (numpy parse)."""
    text = path.read_text()
    first = next((line for line in text.splitlines() if line.strip()), "")
    cols = len(first.replace(",", " ").split())
    flat = np.array(text.replace(",", " ").split(), dtype=np.float64)
    arr = torch.from_numpy(flat.reshape(-1, cols) if cols > 1 else flat)
    return arr.to(dtype)


def _one_hot_columns(labels: Tensor) -> Tensor:
    """One-hot encode each column of integer labels (shifted to start at 0) and concatenate."""
    if labels.dim() == 1:
        labels = labels.unsqueeze(-1)
    labels = labels - labels.min(dim=0).values
    parts = [torch.nn.functional.one_hot(c, int(c.max()) + 1).float() for c in labels.unbind(-1)]
    return torch.cat(parts, dim=-1)


def _cat_columns(parts: list[Tensor | None]) -> Tensor | None:
    parts = [p.unsqueeze(-1) if p.dim() == 1 else p for p in parts if p is not None and p.numel()]
    return torch.cat(parts, dim=-1) if parts else None


def read_tu(folder: Path, prefix: str) -> tuple[Data, dict[str, Tensor], dict[str, int]]:
    """Read the TU text format into collated ``(data, slices, sizes)`` as PyG's ``TUDataset``.

    Same result as ``torch_geometric.io.read_tu_data`` (one-hot node/edge labels
    after attributes, self loops removed, edges coalesced per graph), but parsed
    with numpy so that large files (IMDB, NCI1) read in well under a second.
    """
    from torch_geometric.io.tu import split
    from torch_geometric.utils import coalesce, remove_self_loops

    def path(part: str) -> Path:
        return folder / f"{prefix}_{part}.txt"

    edge_index = _read_tu_array(path("A"), torch.long).reshape(-1, 2).t().contiguous() - 1
    batch = _read_tu_array(path("graph_indicator"), torch.long).reshape(-1) - 1
    n = batch.numel()
    node_attr = _read_tu_array(path("node_attributes"), torch.float) if path(
        "node_attributes").is_file() else torch.empty(n, 0)
    node_attr = node_attr.unsqueeze(-1) if node_attr.dim() == 1 else node_attr
    node_label = _one_hot_columns(_read_tu_array(path("node_labels"), torch.long)) if path(
        "node_labels").is_file() else torch.empty(n, 0)
    e = edge_index.size(1)
    edge_attr = _read_tu_array(path("edge_attributes"), torch.float) if path(
        "edge_attributes").is_file() else torch.empty(e, 0)
    edge_attr = edge_attr.unsqueeze(-1) if edge_attr.dim() == 1 else edge_attr
    edge_label = _one_hot_columns(_read_tu_array(path("edge_labels"), torch.long)) if path(
        "edge_labels").is_file() else torch.empty(e, 0)
    x = _cat_columns([node_attr, node_label])
    eattr = _cat_columns([edge_attr, edge_label])
    y = None
    if path("graph_attributes").is_file():
        y = _read_tu_array(path("graph_attributes"), torch.float)
    elif path("graph_labels").is_file():
        y = torch.unique(_read_tu_array(path("graph_labels"), torch.long), return_inverse=True)[1]
    edge_index, eattr = remove_self_loops(edge_index, eattr)
    edge_index, eattr = coalesce(edge_index, eattr, n)
    data, slices = split(Data(x=x, edge_index=edge_index, edge_attr=eattr, y=y), batch)
    sizes = {
        "num_node_attributes": node_attr.size(-1),
        "num_node_labels": node_label.size(-1),
        "num_edge_attributes": edge_attr.size(-1),
        "num_edge_labels": edge_label.size(-1),
    }
    return data, slices, sizes


class TUGraphs(InMemoryDataset):
    """A TU graph-classification dataset held in memory (list-like of ``Data`` graphs).

    Behaves like PyG's ``TUDataset`` (indexing, slicing, ``num_classes``,
    ``num_features``, ``DataLoader``) but is built straight from the raw files, so
    nothing is written to disk. ``name`` is the TU name, ``sizes`` the attribute
    and label counts.
    """

    def __init__(
        self,
        name: str,
        data: Data,
        slices: dict[str, Tensor],
        sizes: dict[str, int],
        transform=None,
    ) -> None:
        super().__init__(None, transform)
        self.name = name
        self._data = data
        self.slices = slices
        self.sizes = sizes

    @property
    def num_node_labels(self) -> int:
        return self.sizes["num_node_labels"]

    @property
    def num_node_attributes(self) -> int:
        return self.sizes["num_node_attributes"]

    @property
    def num_edge_labels(self) -> int:
        return self.sizes["num_edge_labels"]

    @property
    def num_edge_attributes(self) -> int:
        return self.sizes["num_edge_attributes"]

    def __repr__(self) -> str:
        return f"{self.name}({len(self)})"


def load_tu(
    entry: dict[str, Any],
    root: Path,
    degree_features: bool = True,
    use_node_attr: bool = False,
    **_: Any,
) -> TUGraphs:
    """A :class:`TUGraphs` dataset read from ``root/TU/<NAME>/raw`` (nothing is written).

    As PyG's ``TUDataset``: ``x`` is the one-hot node labels, with the node
    attributes in front when ``use_node_attr=True``; edge labels one-hot in
    ``edge_attr``. Graphs without node labels/attributes (IMDB-*) get one-hot
    degree features (``degree_features=True``, the default; ``max_degree`` = the
    dataset's largest degree) through ``dataset.transform``, so every
    ``dataset[i].x`` exists; ``degree_features=False`` leaves ``x=None``.
    """
    for arg, value in (("degree_features", degree_features), ("use_node_attr", use_node_attr)):
        if not isinstance(value, bool):
            raise TypeError(f"{arg} must be a bool, got {type(value).__name__}")
    name = entry["tu_name"]
    data, slices, sizes = read_tu(root / entry["path"] / "raw", name)
    if data.x is not None and not use_node_attr:
        data.x = data.x[:, sizes["num_node_attributes"]:]
        if data.x.size(1) == 0:  # attributes only: no x, as for label-free datasets
            counts = slices.pop("x").diff()
            data.x = None
            data._num_nodes = counts.tolist()
            data.num_nodes = int(counts.sum())
    if data.edge_attr is not None:
        data.edge_attr = data.edge_attr[:, sizes["num_edge_attributes"]:]
    ds = TUGraphs(name, data, slices, sizes)
    if ds._data.x is None and degree_features:
        ds.transform = _OneHotDegree(_tu_max_degree(ds))
    return ds


def _tu_max_degree(ds) -> int:
    """Largest node degree over all graphs of a collated TUDataset (vectorised)."""
    ei = ds._data.edge_index
    if ei.numel() == 0:
        return 0
    sl = ds.slices["edge_index"]
    graph = torch.repeat_interleave(torch.arange(sl.numel() - 1), sl.diff())
    keys = graph * (int(ei.max()) + 1) + ei[0]
    return int(torch.unique(keys, return_counts=True)[1].max())


def node_stats(data: Data) -> dict[str, Any]:
    """num_nodes, num_edges (stored, directed), num_features (0 without x), num_classes."""
    y = data.y
    if y is None:
        classes = 0
    elif y.dim() == 2:
        classes = int(y.size(1))
    else:
        classes = int(y.max()) + 1 if y.numel() else 0
    return {
        "num_nodes": int(data.num_nodes),
        "num_edges": int(data.edge_index.size(1)),
        "num_features": 0 if data.x is None else int(data.x.size(1)),
        "num_classes": classes,
    }


def tu_stats(ds) -> dict[str, Any]:
    """num_graphs, num_nodes (total), num_edges (total stored), num_features, num_classes."""
    sl = ds.slices
    if "x" in sl:
        total_nodes = int(sl["x"][-1])
    else:  # no x: the collated data stores the total node count
        n = ds._data.num_nodes
        total_nodes = int(n.sum()) if torch.is_tensor(n) else int(n)
    return {
        "num_graphs": len(ds),
        "num_nodes": total_nodes,
        "num_edges": int(ds._data.edge_index.size(1)),
        "num_features": int(ds.num_features),
        # from the collated labels: ds.num_classes would run the transform on every graph
        "num_classes": int(ds._data.y.max()) + 1 if ds._data.y is not None else 0,
    }
