"""Base class of the ``Data`` views, ``Compose`` / ``RandomChoice``, and shared helpers.

Every view class wraps a functional op. Calling it on a PyG ``Data`` or
``Batch`` returns a NEW object (a shallow copy whose changed attributes are
replaced; the input and its tensors are never modified). Edge-level attributes
(``edge_attr``, ``edge_weight``, ...) follow the kept edges, node-level ones
(``x``, ``y``, ``batch``, masks, ...) the kept nodes when nodes are relabelled,
and a ``Batch``'s ``ptr`` and slice bookkeeping are recomputed so that
``to_data_list()`` still works.

Randomness: pass ``generator`` (a ``torch.Generator`` on the data's device) or
``seed``. With ``seed`` the view keeps one generator per device, seeded once,
so two views built with the same seed produce the same sequence of views.
With neither, torch's global generator is used.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from graphcl.validation import check_generator, check_positive_int

__all__ = ["Augmentor", "Compose", "RandomChoice"]


class Augmentor:
    """Base of the view classes: holds the randomness source, applies to ``Data``/``Batch``.

    Subclasses implement :meth:`apply` ``(data, generator) -> Data`` on an
    object they may modify freely (a shallow copy made by :meth:`__call__`).
    """

    def __init__(self, *, generator: torch.Generator | None = None, seed: int | None = None):
        if generator is not None and seed is not None:
            raise ValueError("give either generator or seed, not both")
        check_generator(generator)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise TypeError(f"seed must be an int or None, got {type(seed).__name__}")
        self.generator = generator
        self.seed = seed
        self._generators: dict[str, torch.Generator] = {}

    def get_generator(self, device: torch.device | str) -> torch.Generator | None:
        """The generator to use for data on ``device`` (``None``: torch's global one)."""
        device = torch.device(device)
        if self.generator is not None:
            check_generator(self.generator, device)
            return self.generator
        if self.seed is None:
            return None
        key = str(device)
        g = self._generators.get(key)
        if g is None:
            g = torch.Generator(device=device)
            g.manual_seed(self.seed)
            self._generators[key] = g
        return g

    def reset(self) -> None:
        """Re-seed: the next views repeat the first ones (only with ``seed``)."""
        self._generators.clear()

    def apply(self, data: Any, generator: torch.Generator | None) -> Any:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, data: Any) -> Any:
        """Return a new augmented ``Data``/``Batch``; ``data`` is left untouched."""
        if not hasattr(data, "edge_index") and not hasattr(data, "x"):
            raise TypeError(f"expected a torch_geometric Data or Batch, got {type(data).__name__}")
        out = copy.copy(data)
        return self.apply(out, self.get_generator(_data_device(data)))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class Compose(Augmentor):
    """Apply several views one after the other.

    Example:
        >>> from graphcl.augment import DropEdge, MaskFeature
        >>> view = Compose([DropEdge(0.2), MaskFeature(0.3)])
    """

    def __init__(self, augmentors: Sequence[Augmentor]):
        super().__init__()
        self.augmentors = _check_augmentors(augmentors)

    def __call__(self, data: Any) -> Any:
        for aug in self.augmentors:
            data = aug(data)
        return data


class RandomChoice(Augmentor):
    """Apply ``num_choices`` distinct views drawn at random (in their list order).

    Example:
        >>> from graphcl.augment import DropEdge, DropNode
        >>> view = RandomChoice([DropEdge(0.2), DropNode(0.1)], num_choices=1, seed=0)
    """

    def __init__(
        self,
        augmentors: Sequence[Augmentor],
        num_choices: int = 1,
        *,
        generator: torch.Generator | None = None,
        seed: int | None = None,
    ):
        super().__init__(generator=generator, seed=seed)
        self.augmentors = _check_augmentors(augmentors)
        self.num_choices = check_positive_int(num_choices, "num_choices")
        if self.num_choices > len(self.augmentors):
            raise ValueError(
                f"num_choices={num_choices} exceeds the number of augmentors ({len(self.augmentors)})"
            )

    def __call__(self, data: Any) -> Any:
        # the choice is drawn on the CPU so that it does not depend on the data's device
        g = self.get_generator("cpu") if self.generator is None else self.generator
        dev = g.device if g is not None else "cpu"
        perm = torch.randperm(len(self.augmentors), generator=g, device=dev)
        chosen = sorted(perm[: self.num_choices].tolist())
        for i in chosen:
            data = self.augmentors[i](data)
        return data


def _check_augmentors(augmentors: Sequence[Augmentor]) -> list:
    augmentors = list(augmentors)
    if not augmentors:
        raise ValueError("augmentors must be a non-empty list")
    for a in augmentors:
        if not callable(a):
            raise TypeError(f"every augmentor must be callable, got {type(a).__name__}")
    return augmentors


# --------------------------------------------------------------------- helpers
def _data_device(data: Any) -> torch.device:
    for key in ("edge_index", "x"):
        t = getattr(data, key, None)
        if isinstance(t, Tensor):
            return t.device
    return torch.device("cpu")


def _num_nodes(data: Any) -> int:
    n = data.num_nodes
    if n is None:
        raise ValueError("data has no num_nodes (and no x/edge_index to infer it from)")
    return int(n)


def _edge_keys(data: Any) -> list[str]:
    """Edge-level attribute names other than ``edge_index``."""
    E = data.edge_index.size(1)
    out = []
    for key, val in data.items():
        if key == "edge_index" or not isinstance(val, Tensor):
            continue
        if data.is_edge_attr(key) or (val.dim() >= 1 and key.startswith("edge_") and val.size(0) == E):
            out.append(key)
    return out


def _node_keys(data: Any) -> list[str]:
    N = data.num_nodes
    out = []
    for key, val in data.items():
        if key in ("edge_index", "ptr") or not isinstance(val, Tensor) or key in _edge_keys(data):
            continue
        if data.is_node_attr(key) and val.dim() >= 1 and val.size(0) == N:
            out.append(key)
    return out


def apply_edge_mask(data: Any, edge_index: Tensor, edge_mask: Tensor) -> Any:
    """Set the new ``edge_index`` and filter every edge-level attribute by ``edge_mask``."""
    keys = _edge_keys(data)
    for key in keys:
        data[key] = data[key][edge_mask]
    data.edge_index = edge_index
    fix_batch(data)
    return data


def replace_edges(data: Any, edge_index: Tensor, edge_weight: Tensor | None) -> Any:
    """Replace the edges wholesale: other edge-level attributes are dropped (no longer defined)."""
    for key in _edge_keys(data):
        del data[key]
    data.edge_index = edge_index
    if edge_weight is not None:
        data.edge_weight = edge_weight
    fix_batch(data)
    return data


def append_edges(data: Any, edge_index: Tensor, num_added: int, fill_value: float) -> Any:
    """New edges were appended at the end: pad edge-level attributes with ``fill_value``."""
    for key in _edge_keys(data):
        val = data[key]
        pad = torch.full((num_added, *val.shape[1:]), fill_value, dtype=val.dtype, device=val.device)
        data[key] = torch.cat([val, pad])
    data.edge_index = edge_index
    fix_batch(data)
    return data


def keep_nodes(data: Any, node_ids: Tensor, edge_index: Tensor, edge_mask: Tensor) -> Any:
    """Keep only ``node_ids`` (sorted); ``edge_index`` is already relabelled."""
    node_keys = _node_keys(data)
    edge_keys = _edge_keys(data)
    for key in node_keys:
        data[key] = data[key][node_ids]
    for key in edge_keys:
        data[key] = data[key][edge_mask]
    data.edge_index = edge_index
    if "num_nodes" in data._store or not node_keys:
        data.num_nodes = int(node_ids.numel())
    fix_batch(data)
    return data


def fix_batch(data: Any) -> None:
    """Recompute ``ptr`` and the ``Batch`` slice bookkeeping after nodes/edges changed."""
    batch = getattr(data, "batch", None)
    if not isinstance(batch, Tensor):
        return
    num_graphs = getattr(data, "num_graphs", None)
    if num_graphs is None:
        num_graphs = int(batch.max()) + 1 if batch.numel() else 0
    device = batch.device
    ncount = torch.bincount(batch, minlength=num_graphs)
    ptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
    torch.cumsum(ncount, 0, out=ptr[1:])
    if "ptr" in data:
        data.ptr = ptr
    slices = getattr(data, "_slice_dict", None)
    if not isinstance(slices, dict):
        return
    # the dicts are shared with the input after copy.copy: never mutate them in place
    slices = dict(slices)
    data._slice_dict = slices
    data._inc_dict = dict(getattr(data, "_inc_dict", {}) or {})
    ei = data.edge_index
    if ei.numel():
        eb = batch[ei[0]]
        if bool((eb[1:] < eb[:-1]).any()):  # keep edges grouped by graph (Batch slicing)
            perm = torch.argsort(eb, stable=True)
            for key in _edge_keys(data):
                data[key] = data[key][perm]
            data.edge_index = ei = ei[:, perm]
    ecount = torch.bincount(batch[ei[0]], minlength=num_graphs) if ei.numel() else torch.zeros(
        num_graphs, dtype=torch.long, device=device
    )
    eptr = torch.zeros(num_graphs + 1, dtype=torch.long, device=device)
    torch.cumsum(ecount, 0, out=eptr[1:])
    node_keys = set(_node_keys(data))
    edge_keys = set(_edge_keys(data)) | {"edge_index"}
    for key in list(slices):
        if key not in data:
            del slices[key]
            if key in data._inc_dict:
                del data._inc_dict[key]
        elif key in edge_keys:
            slices[key] = eptr.cpu()
        elif key in node_keys:
            slices[key] = ptr.cpu()
    for key in edge_keys:
        if key in data and key not in slices:
            slices[key] = eptr.cpu()
            data._inc_dict[key] = ptr[:-1].cpu() if key == "edge_index" else torch.zeros(
                num_graphs, dtype=torch.long
            )
    if "edge_index" in slices:
        data._inc_dict["edge_index"] = ptr[:-1].cpu()
