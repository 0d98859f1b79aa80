"""The ``graphcl`` command line.

    graphcl run METHOD --dataset NAME [--config FILE.yaml] [--set key=value ...] [--out result.json]
    graphcl datasets [--root DIR]
    graphcl demo
    graphcl plot RESULT.json [--out-dir DIR]

Unknown methods, datasets or options end with a one-line error and exit code 2
(set ``GRAPHCL_DEBUG=1`` for the full traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import torch

from graphcl import __version__

__all__ = ["main", "run_method"]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit code 2
        self.exit(2, f"graphcl: error: {message}\n")


class CLIError(Exception):
    """A user error: printed as one line, exit code 2."""


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="graphcl", description="Graph contrastive learning toolkit.")
    p.add_argument("--version", action="version", version=f"graphcl {__version__}")
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    r = sub.add_parser("run", help="run a method on a dataset and report its metrics")
    r.add_argument("method")
    r.add_argument("--dataset", default=None, help="dataset name (see `graphcl datasets`)")
    r.add_argument("--config", default=None, help="YAML file with settings")
    r.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one setting (repeatable)")
    r.add_argument("--out", default=None, help="write the JSON result here (atomically)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="auto", help="auto, cpu or cuda")
    r.add_argument("--root", default=None, help="data root (default $GRAPHCL_DATA, else ./datasets)")
    r.add_argument("--checkpoint", default=None, help="checkpoint file for resumable training")
    r.add_argument("--resume", action="store_true", help="resume from --checkpoint")
    r.add_argument("--plot", action="store_true", help="also draw PNG plots beside --out")
    r.add_argument("--quiet", action="store_true", help="no progress bars")

    d = sub.add_parser("datasets", help="list datasets, whether present, and where")
    d.add_argument("--root", default=None)

    sub.add_parser("methods", help="list the available methods")

    m = sub.add_parser("demo", help="a small end-to-end run (under a minute on CPU)")
    m.add_argument("--quiet", action="store_true")
    m.add_argument("--out", default=None, help="write the demo results as JSON")

    pl = sub.add_parser("plot", help="draw training curves and a 2-D embedding map to PNG")
    pl.add_argument("result")
    pl.add_argument("--out-dir", default=None)
    return p


def _scalar_metrics(metrics: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Flatten metric dicts into (name, value, protocol) rows for printing.

    A key ``k`` is shown with its spread ``k_std`` (or ``std`` for ``accuracy``);
    counts (``num_*``) and the spreads themselves get no row of their own.
    """
    rows = []
    for name, m in metrics.items():
        if isinstance(m, dict):
            protocol = str(m.get("protocol", ""))
            for k, v in m.items():
                if not isinstance(v, (int, float)) or isinstance(v, bool):
                    continue
                if k == "std" or k.endswith("_std") or k.startswith("num_"):
                    continue
                std = m.get(f"{k}_std", m.get("std") if k in ("accuracy", "mean") else None)
                val = f"{v:.4f}" + (f" +- {std:.4f}" if isinstance(std, (int, float)) else "")
                rows.append((f"{name}.{k}", val, protocol))
        elif isinstance(m, (int, float)):
            rows.append((name, f"{m:.4f}", ""))
    return rows


def _print_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths))
    print(line)
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


def run_method(
    method: str,
    dataset: str | None = None,
    *,
    config_path: str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    seed: int = 0,
    device: str = "auto",
    root: str | None = None,
    quiet: bool = False,
    out: str | None = None,
    checkpoint: str | None = None,
    resume: bool = False,
) -> dict[str, Any]:
    """Run ``method`` on ``dataset`` as ``graphcl run`` does and return the result record.

    Example:
        >>> rec = run_method("spectral", "karate", quiet=True)  # doctest: +SKIP
        >>> rec["metrics"]["node_classification"]["accuracy"]  # doctest: +SKIP
    """
    from graphcl.config import load_config
    from graphcl.methods import RunContext, get_method
    from graphcl.utils import (
        atomic_torch_save,
        atomic_write_json,
        machine_info,
        peak_memory_mb,
        resolve_device,
        seed_everything,
    )

    spec = get_method(method)
    dataset = dataset or spec.default_dataset
    if dataset is None:
        raise ValueError(f"method {method!r} needs --dataset")
    _check_dataset_name(dataset)
    config = load_config(spec.name, dataset, config_path, overrides)
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    seed_everything(seed)
    ctx = RunContext(device=dev, seed=seed, root=root, quiet=quiet, checkpoint=checkpoint,
                     resume=resume)
    t0 = time.perf_counter()
    out_dict = spec.fn(dataset, config, ctx)
    wall = time.perf_counter() - t0
    record: dict[str, Any] = {
        "method": spec.name,
        "dataset": dataset,
        "config": config,
        "metrics": out_dict.get("metrics", {}),
        "seeds": out_dict.get("seeds", [seed]),
        "device": str(dev),
        "wall_time_s": round(wall, 3),
        "peak_memory_mb": round(peak_memory_mb(dev), 1),
        "machine": machine_info(),
        "graphcl_version": __version__,
    }
    if "history" in out_dict:
        record["history"] = out_dict["history"]
    for key in ("embedding", "labels"):
        if key in out_dict:
            record[f"_{key}"] = out_dict[key]
    if out is not None:
        emb = out_dict.get("embedding")
        if emb is not None:
            emb_path = Path(out).with_suffix(".embedding.pt")
            labels = out_dict.get("labels")
            atomic_torch_save({"embedding": emb.detach().cpu(),
                               "labels": None if labels is None else labels.detach().cpu()},
                              emb_path)
            record["embedding_file"] = emb_path.name
        atomic_write_json(out, {k: v for k, v in record.items() if not k.startswith("_")})
    return record


def _check_dataset_name(name: str) -> None:
    try:
        from graphcl.data import available
    except ImportError:  # data layer missing: let the method report it
        return
    names = {d["name"].lower() for d in available()}
    aliases = set()
    for d in available():
        aliases.update(a.lower() for a in d.get("aliases", []))
    if name.lower() not in names | aliases:
        raise ValueError(f"unknown dataset {name!r}; see `graphcl datasets` ({', '.join(sorted(names))})")


def _cmd_run(args: argparse.Namespace) -> int:
    rec = run_method(
        args.method,
        args.dataset,
        config_path=args.config,
        overrides=args.overrides,
        seed=args.seed,
        device=args.device,
        root=args.root,
        quiet=args.quiet,
        out=args.out,
        checkpoint=args.checkpoint,
        resume=args.resume,
    )
    print(f"{rec['method']} on {rec['dataset']} ({rec['device']}, {rec['wall_time_s']:.1f} s, "
          f"peak {rec['peak_memory_mb']:.0f} MiB)")
    rows = [(n, v, p if len(p) <= 90 else p[:87] + "...") for n, v, p in _scalar_metrics(rec["metrics"])]
    _print_table(rows, ("metric", "value", "protocol (in full in the JSON result)"))
    if args.out:
        print(f"result written to {args.out}")
        if args.plot:
            from graphcl.plot import plot_result

            for path in plot_result(args.out):
                print(f"plot written to {path}")
    elif args.plot:
        raise ValueError("--plot needs --out (the plots are written beside the result)")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from graphcl.data import available, data_root

    rows = []
    for d in available(args.root):
        present = "yes" if d["present"] else "no"
        rows.append((d["name"], d.get("kind", ""), present, str(d.get("path") or "(generated)")))
    print(f"data root: {data_root(args.root)}")
    _print_table(rows, ("dataset", "kind", "present", "path"))
    return 0


def _cmd_methods(args: argparse.Namespace) -> int:
    from graphcl.methods import available_methods

    rows = [(m.name, m.default_dataset or "", m.description) for m in available_methods().values()]
    _print_table(rows, ("method", "default dataset", "description"))
    return 0


DEMO_RUNS = [
    ("spectral", "karate", []),
    ("spectral", "sbm", []),
    ("deepwalk", "karate", ["walks_per_node=10", "walk_length=20", "dim=16", "window=5",
                            "train_ratio=0.3", "val_ratio=0.2", "num_seeds=10"]),
]


def _cmd_demo(args: argparse.Namespace) -> int:
    from graphcl.methods import available_methods
    from graphcl.utils import atomic_write_json

    methods = available_methods()
    rows, records = [], []
    t0 = time.perf_counter()
    for method, dataset, overrides in DEMO_RUNS:
        if method not in methods:
            continue
        rec = run_method(method, dataset, overrides=overrides, quiet=args.quiet, device="cpu")
        records.append({k: v for k, v in rec.items() if not k.startswith("_")})
        for name, value, protocol in _scalar_metrics(rec["metrics"]):
            rows.append((method, dataset, name, value, protocol[:60]))
    print(f"graphcl {__version__} demo: {len(records)} runs in {time.perf_counter() - t0:.1f} s on CPU\n")
    _print_table(rows, ("method", "dataset", "metric", "value", "protocol"))
    if args.out:
        atomic_write_json(args.out, {"demo": records})
    return 0


def _cmd_plot(args: argparse.Namespace) -> int:
    from graphcl.plot import plot_result

    for path in plot_result(args.result, out_dir=args.out_dir):
        print(f"plot written to {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``graphcl`` command."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handlers = {"run": _cmd_run, "datasets": _cmd_datasets, "methods": _cmd_methods,
                "demo": _cmd_demo, "plot": _cmd_plot}
    try:
        return handlers[args.command](args)
    except (ValueError, TypeError, FileNotFoundError, CLIError) as e:
        if os.environ.get("GRAPHCL_DEBUG"):
            raise
        # usage errors fit one line; a missing dataset keeps its full explanation
        msg = str(e) if isinstance(e, FileNotFoundError) else (str(e).splitlines() or [""])[0]
        msg = msg or type(e).__name__
        print(f"graphcl: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("graphcl: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
