"""GCC benchmark: pre-train (MoCo and E2E), freeze, classify IMDB graphs; sampling speed.

Parts (``--part``), each writing its own JSON so a long run keeps what it finished:

* ``reference`` -> ``gcc_reference.json``: the GCC encoder frozen at random
  initialisation (no pre-training) and raw degree features (each graph's
  normalised degree histogram), same evaluation.
* ``moco`` / ``e2e`` -> ``gcc_moco.json`` / ``gcc_e2e.json``: pre-train GCC on the
  node datasets of ``pretrain_datasets`` (graphcl/configs/gcc.yaml: cora,
  citeseer, amazon-photo, amazon-computers, coauthor-cs, blogcatalog, ppi;
  none of them is an evaluation set) for ``--epochs`` x ``--steps`` optimiser
  steps (a CPU-sized schedule, far below the paper's), then embed every
  IMDB-BINARY / IMDB-MULTI graph whole (GCC's protocol: the entire graph, ego =
  highest-degree node) with the frozen encoder.
* ``speed`` -> ``gcc_speed.json``: subgraph instances per second of the sampler
  (walk + induced subgraph + eigenvector features), the share of a training
  epoch spent sampling (both modes), and the pair-test induced-subgraph
  extraction against ``graphcl.walks.rwr_subgraphs`` (same walks), timed
  interleaved in one process (median of the per-round ratios).
* ``summary`` -> ``gcc.json``: the rows of the parts above.

Evaluation: graphcl.eval.graph_classification_svm (RBF SVC, stratified
10-fold, C chosen inside the training folds, 5 fold seeds). Targets (GCC
reference tests): IMDB-BINARY >= 70.0, IMDB-MULTI >= 48.0; sampling share of an
epoch < 30 % on CPU. Everything runs on one thread.

Usage:
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/gcc.py --part moco --epochs 24 --steps 150
    python benchmarks/gcc.py --quick          # synthetic graphs, < 1 minute
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from graphcl.config import load_config
from graphcl.eval import graph_classification_svm
from graphcl.methods.gcc import (
    _load_graphs,
    build_encoder,
    degree_histogram_features,
    embed_graphs,
    make_sampler,
    pretrain_gcc,
    rwr_induced_subgraphs,
)
from graphcl.utils import atomic_write_json, machine_info, peak_memory_mb, resolve_device, seed_everything

EVAL_SETS = ("imdb-binary", "imdb-multi")
TARGETS = {"imdb-binary": 70.0, "imdb-multi": 48.0}
PAPER = {"imdb-binary": 72.0, "imdb-multi": 49.4}  # GCC paper, frozen MoCo (ALGORITHMS.md: unverified)


def _eval_sets(quick: bool, root: str | None) -> dict[str, tuple[list, torch.Tensor]]:
    if quick:
        from torch_geometric.data import Data

        from graphcl.data import sbm

        g = torch.Generator().manual_seed(0)
        graphs, ys = [], []
        for i in range(60):  # two classes: dense vs sparse random graphs
            n = int(torch.randint(8, 16, (1,), generator=g))
            p = 0.6 if i % 2 else 0.2
            a = (torch.rand(n, n, generator=g) < p).triu(1)
            ei = a.nonzero().t()
            graphs.append(Data(edge_index=torch.cat([ei, ei.flip(0)], 1), num_nodes=n))
            ys.append(i % 2)
        _ = sbm
        return {"synthetic": (graphs, torch.tensor(ys))}
    from graphcl.data import load

    out = {}
    for name in EVAL_SETS:
        ds = load(name, root=root, degree_features=False)
        out[name] = (ds, ds.y)
    return out


def _pretrain_sets(quick: bool, cfg: dict, root: str | None) -> list:
    if quick:
        from graphcl.data import sbm

        return [sbm([40, 40, 40], p_in=0.2, p_out=0.02, seed=s) for s in range(2)]
    return _load_graphs(cfg["pretrain_datasets"], root)


def _svm(emb: torch.Tensor, y: torch.Tensor, args) -> dict:
    res = graph_classification_svm(emb, y, folds=args.folds, num_seeds=args.fold_seeds, seed=0)
    return {"accuracy": 100 * res["accuracy"], "std": 100 * res["std"], "fold_std": 100 * res["fold_std"],
            "per_seed": [100 * a for a in res["per_seed"]], "chosen_C": res["chosen_C"], "protocol": res["protocol"]}


def _row(case: str, impl: str, res: dict, extra: dict | None = None) -> dict:
    row = {"case": case, "impl": impl, "metric": "accuracy", "value": res["accuracy"], "std": res["std"],
           "unit": "%"}
    if case in TARGETS:
        row["target"] = TARGETS[case]
        row["meets_target"] = res["accuracy"] >= TARGETS[case]
        row["paper"] = PAPER[case]
    row.update(extra or {})
    return row


def _config(args) -> dict:
    cfg = load_config("gcc")
    if args.quick:
        cfg.update(hidden=16, out_dim=16, pos_dim=8, queue_size=256, max_steps=64, max_nodes=32)
    return cfg


def part_reference(args, device) -> dict:
    cfg = _config(args)
    rows, details = [], {}
    for name, (graphs, y) in _eval_sets(args.quick, args.root).items():
        for impl in ("gcc-random-init", "degree-histogram"):
            t0 = time.perf_counter()
            if impl == "gcc-random-init":
                seed_everything(args.seed)
                model = build_encoder(cfg).to(device).eval()
                emb = embed_graphs(model, graphs)
            else:
                emb = degree_histogram_features(graphs, max_degree=64)
            res = _svm(emb, y, args)
            res["seconds"] = time.perf_counter() - t0
            rows.append(_row(name, impl, res))
            details[f"{name}/{impl}"] = res
            print(f"{name:12s} {impl:18s} {res['accuracy']:6.2f} +- {res['std']:.2f}", flush=True)
    return {"rows": rows, "details": details,
            "notes": "gcc-random-init: the GCC encoder (config defaults) frozen at its initialisation "
                     f"(torch seed {args.seed}), no pre-training; degree-histogram: each graph's degree "
                     "histogram (degrees clamped at 64) divided by its node count."}


def part_pretrain(args, device, mode: str) -> dict:
    cfg = _config(args)
    cfg.update(epochs=args.epochs, steps_per_epoch=args.steps)
    graphs = _pretrain_sets(args.quick, cfg, args.root)
    ckpt = None if args.quick else str(Path(args.ckpt_dir) / f"gcc_{mode}.pt")
    if ckpt:
        Path(args.ckpt_dir).mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    out = pretrain_gcc(graphs, cfg, mode=mode, device=device, seed=args.seed, progress=False, checkpoint=ckpt,
                       resume=bool(ckpt) and Path(ckpt).exists())
    pretrain_s = time.perf_counter() - t0
    print(f"{mode}: pre-trained {args.epochs} x {args.steps} steps in {pretrain_s:.0f} s; "
          f"sampling share {out['sampling']['share']:.3f}", flush=True)
    rows, details = [], {}
    for name, (eval_graphs, y) in _eval_sets(args.quick, args.root).items():
        t1 = time.perf_counter()
        emb = embed_graphs(out["model"], eval_graphs)
        res = _svm(emb, y, args)
        res["seconds"] = time.perf_counter() - t1
        rows.append(_row(name, f"gcc-{mode}", res, {"pretrain_s": pretrain_s}))
        details[name] = res
        print(f"{name:12s} gcc-{mode:5s} {res['accuracy']:6.2f} +- {res['std']:.2f}", flush=True)
    bs = cfg[f"{mode}_batch_size"]
    return {
        "rows": rows,
        "details": details,
        "pretrain": {
            "mode": mode, "datasets": cfg["pretrain_datasets"] if not args.quick else "synthetic SBM",
            "epochs": args.epochs, "steps_per_epoch": args.steps, "batch_size": bs,
            "instances": out["sampling"]["instances"], "seconds": pretrain_s, "seed": args.seed,
            "sampling": out["sampling"], "history": out["history"],
            "config": {k: v for k, v in cfg.items() if k != "datasets"},
        },
    }


def part_speed(args, device) -> dict:
    cfg = _config(args)
    graphs = _pretrain_sets(args.quick, cfg, args.root)
    sampler = make_sampler(graphs, cfg, device)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    rows = []
    # 1) sampler throughput at several pool sizes (subgraphs per second, walk + extraction + features)
    pools = (64, 512) if args.quick else (64, 512, 2048)
    thr = {}
    for n_sub in pools:
        times = []
        for _ in range(args.rounds):
            t0 = time.perf_counter()
            sampler.sample_many(1, n_sub // 2, gen)
            times.append(time.perf_counter() - t0)
        thr[n_sub] = n_sub / statistics.median(times)
        rows.append({"case": f"pool of {n_sub} subgraphs", "impl": "graphcl", "metric": "subgraphs_per_s",
                     "value": thr[n_sub], "unit": "1/s"})
        print(f"sampler, pool {n_sub:5d}: {thr[n_sub]:8.1f} subgraphs/s", flush=True)
    # 2) extraction: pair tests vs rwr_subgraphs' out-edge expansion, same walks, interleaved
    from graphcl.walks import rwr_subgraphs

    egos = sampler.sample_egos(256 if args.quick else 1024, gen)
    ratios, t_ours, t_peer = [], [], []
    for r in range(args.rounds):
        t0 = time.perf_counter()
        rwr_induced_subgraphs(sampler.graph, egos, cfg["restart_prob"], cfg["max_steps"], cfg["max_nodes"],
                              torch.Generator(device=device).manual_seed(r), symmetric=True)
        t1 = time.perf_counter()
        rwr_subgraphs(sampler.graph, egos, cfg["restart_prob"], cfg["max_steps"], cfg["max_nodes"],
                      torch.Generator(device=device).manual_seed(r))
        t2 = time.perf_counter()
        t_ours.append(t1 - t0)
        t_peer.append(t2 - t1)
        ratios.append((t2 - t1) / (t1 - t0))
    case = f"{egos.numel()} RWR subgraphs"
    rows.append({"case": case, "impl": "graphcl (rwr_induced_subgraphs)", "metric": "seconds",
                 "value": statistics.median(t_ours), "unit": "s"})
    rows.append({"case": case, "impl": "graphcl.walks.rwr_subgraphs", "metric": "seconds",
                 "value": statistics.median(t_peer), "unit": "s"})
    print(f"extraction: rwr_subgraphs / rwr_induced_subgraphs = {statistics.median(ratios):.2f}x", flush=True)
    # 3) share of an epoch spent sampling, both modes
    shares = {}
    for mode, steps in (("moco", 8 if args.quick else 64), ("e2e", 2 if args.quick else 8)):
        c = dict(cfg, epochs=1, steps_per_epoch=steps)
        out = pretrain_gcc(sampler, c, mode=mode, device=device, seed=args.seed)
        s = out["sampling"]
        shares[mode] = s
        rows.append({"case": f"{mode} epoch ({steps} steps x {c[mode + '_batch_size']})", "impl": "graphcl",
                     "metric": "sampling_share", "value": s["share"], "unit": "fraction", "target": 0.30,
                     "meets_target": s["share"] < 0.30})
        rows.append({"case": f"{mode} epoch ({steps} steps x {c[mode + '_batch_size']})", "impl": "graphcl",
                     "metric": "instances_per_s_sampling", "value": s["instances_per_s"], "unit": "1/s"})
        print(f"{mode}: sampling share {s['share']:.3f}, {s['instances_per_s']:.1f} instances/s sampled", flush=True)
    return {"rows": rows, "ratios": {"extraction rwr_subgraphs/graphcl (median, interleaved)":
                                     statistics.median(ratios)},
            "epoch_sampling": shares, "throughput_subgraphs_per_s": thr,
            "notes": "timings on a shared 2-core machine, one thread; the extraction ratio is the median of "
                     "interleaved rounds on the same walks (same generator seeds)."}


def part_summary(args) -> dict:
    rows, parts = [], {}
    for part in ("reference", "moco", "e2e", "speed"):
        p = Path(args.out_dir) / f"gcc_{part}.json"
        if p.exists():
            obj = json.loads(p.read_text())
            rows.extend(obj.get("rows", []))
            parts[part] = str(p)
    return {"rows": rows, "parts": parts}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--part", choices=("reference", "moco", "e2e", "speed", "summary", "all"), default="all")
    ap.add_argument("--quick", action="store_true", help="synthetic graphs, tiny model, < 1 minute")
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None, help="optimiser steps per epoch")
    ap.add_argument("--folds", type=int, default=10)
    ap.add_argument("--fold-seeds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5, help="timing rounds (speed part)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--root", default=None, help="data root (else env GRAPHCL_DATA)")
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument("--ckpt-dir", default="/tmp/gcc_ckpt", help="pre-training checkpoints (resumable)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    device = resolve_device(args.device)
    if args.quick:
        args.folds, args.fold_seeds, args.rounds = 3, 1, 2
        args.epochs = args.epochs if args.epochs is not None else 1
        args.steps = args.steps if args.steps is not None else 4
        args.out_dir = str(Path(args.out_dir) / "quick") if args.out_dir == "benchmarks/results" else args.out_dir
    else:
        args.epochs = args.epochs if args.epochs is not None else 20
        args.steps = args.steps if args.steps is not None else 100
    parts = ("reference", "moco", "e2e", "speed", "summary") if args.part == "all" else (args.part,)
    for part in parts:
        t0 = time.perf_counter()
        if part == "summary":
            obj = part_summary(args)
            name = "gcc"
        else:
            if part == "reference":
                obj = part_reference(args, device)
            elif part == "speed":
                obj = part_speed(args, device)
            else:
                obj = part_pretrain(args, device, part)
            name = f"gcc_{part}"
        obj = {"benchmark": name, "machine": machine_info(), "quick": args.quick, "command": " ".join(sys.argv),
               "threads": torch.get_num_threads(), "wall_s": time.perf_counter() - t0,
               "peak_memory_mb": peak_memory_mb(device), **obj}
        path = atomic_write_json(Path(args.out_dir) / f"{name}.json", obj)
        print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
