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
* ``speed`` -> ``gcc_speed.json``: subgraphs per second of the sampler (walk +
  induced subgraph + eigenvector features + batching) and the share of a
  training epoch spent sampling (both modes), for the current sampler and the
  sampler of ``--baseline-rev`` (extraction and features loaded from that git
  revision), interleaved in one process (medians of rounds); a check that
  both samplers give bit-identical pools for the same seeds
  (:func:`identical_to_baseline`); a cProfile breakdown of one MoCo epoch; the
  features checked against a float64 NumPy reference on real subgraphs
  (:func:`feature_check`).
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
        impls = [("gcc-random-init", args.seed + i) for i in range(args.init_seeds)]
        impls += [] if args.skip_histogram else [("degree-histogram", None)]
        for impl, init_seed in impls:
            t0 = time.perf_counter()
            if impl == "gcc-random-init":
                seed_everything(init_seed)
                model = build_encoder(cfg).to(device).eval()
                emb = embed_graphs(model, graphs)
            else:
                emb = degree_histogram_features(graphs, max_degree=64)
            res = _svm(emb, y, args)
            res["seconds"] = time.perf_counter() - t0
            label = impl if init_seed is None or args.init_seeds == 1 else f"{impl} (torch seed {init_seed})"
            rows.append(_row(name, label, res, None if init_seed is None else {"init_seed": init_seed}))
            details[f"{name}/{label}"] = res
            print(f"{name:12s} {label:32s} {res['accuracy']:6.2f} +- {res['std']:.2f}", flush=True)
    return {"rows": rows, "details": details,
            "notes": "gcc-random-init: the GCC encoder (config defaults) frozen at its initialisation "
                     f"(torch seeds {args.seed} .. {args.seed + args.init_seeds - 1}), no pre-training; "
                     "degree-histogram: each graph's degree "
                     "histogram (degrees clamped at 64) divided by its node count."}


def part_pretrain(args, device, mode: str) -> dict:
    cfg = _config(args)
    cfg.update(epochs=args.epochs, steps_per_epoch=args.steps)
    graphs = _pretrain_sets(args.quick, cfg, args.root)
    ckpt = None if args.quick else str(Path(args.ckpt_dir) / f"gcc_{mode}{'_' + args.tag if args.tag else ''}.pt")
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


# The build the speed part compares against: the session-5 base (session 4's sampler: restart walks by
# excursion depth, one-buffer feature assembly; 30.8 % of a MoCo epoch idle, gcc_speed_idle.json).
# Earlier runs compared against 227a98b (session 4, gcc_speed_idle.json) and 0d47c74 (session 3).
BASELINE_REV = "bc6976d"
_BASELINE_FILES = {"engine": "graphcl/walks/engine.py", "features": "graphcl/augment/subgraph_features.py"}


def _module_at(rev: str, path: str, name: str):
    """The module ``path`` as it was at git revision ``rev`` (imported under ``name``), or None."""
    import subprocess
    import types

    root = Path(__file__).resolve().parents[1]
    try:
        src = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=root, capture_output=True, text=True,
                             check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType(name)
    mod.__file__ = f"{rev}:{path}"
    sys.modules[name] = mod  # dataclasses look their module up
    exec(compile(src, mod.__file__, "exec"), mod.__dict__)
    return mod


def _baseline_sampler(sampler, rev: str):
    """``sampler`` with the walk extraction and features of revision ``rev`` (same graph, same settings)."""
    engine = _module_at(rev, _BASELINE_FILES["engine"], "_gcc_baseline_engine")
    feats = _module_at(rev, _BASELINE_FILES["features"], "_gcc_baseline_features")
    if engine is None or feats is None:
        return None

    class BaselineSampler(type(sampler)):
        def subgraphs(self, egos, generator=None):
            ei, ptr, _ = engine.rwr_induced_subgraphs(self.graph, egos, self.restart_prob, self.max_steps,
                                                      self.max_nodes, generator, symmetric=True)
            return feats.subgraph_batch(ei, ptr, None, self.pos_dim, group_size=self.group_size,
                                        dtype=self.eig_dtype)

    old = BaselineSampler.__new__(BaselineSampler)
    old.__dict__.update(sampler.__dict__)
    return old


def identical_to_baseline(sampler, old, seeds, num_batches: int = 16, batch_size: int = 32) -> dict:
    """Whether ``sampler`` and the baseline sampler ``old`` give bit-identical pools (every field of every
    query and key batch of :meth:`GCCSampler.sample_many`) for the same generator seeds."""
    fields = ("edge_index", "batch", "ptr", "pos", "degree", "ego")
    mismatches = []
    for seed in seeds:
        a = sampler.sample_many(num_batches, batch_size, torch.Generator().manual_seed(seed))
        b = old.sample_many(num_batches, batch_size, torch.Generator().manual_seed(seed))
        for i, (pa, pb) in enumerate(zip(a, b)):
            for j, (x, y) in enumerate(zip(pa, pb)):
                bad = [f for f in fields if not torch.equal(getattr(x, f), getattr(y, f))]
                if bad or x.num_graphs != y.num_graphs:
                    mismatches.append({"seed": seed, "batch": i, "view": ("query", "key")[j], "fields": bad})
    return {"seeds": list(seeds), "pools": len(seeds), "num_batches": num_batches, "batch_size": batch_size,
            "identical": not mismatches, "mismatches": mismatches[:10]}


def feature_check(sampler, num_graphs: int, seed: int, gap: float = 1e-3) -> dict:
    """Sampler features (its ``eig_dtype``, batched) against a float64 NumPy reference, graph by graph.

    Eigenvectors are compared where they are defined: a column whose eigenvalue is at least ``gap``
    from every other eigenvalue of its graph and whose sign rule is decided by a margin (|entry sum|
    or the gap between the two largest |entries| above ``gap``) is compared entry by entry; a
    cluster of eigenvalues closer than ``gap`` (a repeated eigenvalue: no canonical basis) is
    compared through its projector ``F_c F_c^T`` (basis free; row norms are basis free too).
    Graphs whose cut at ``min(n - 2, k)`` splits a cluster are counted and skipped.
    """
    import numpy as np

    from graphcl.augment.subgraph_features import fix_eigenvector_signs

    gen = torch.Generator().manual_seed(seed)
    egos = sampler.sample_egos(num_graphs, gen)
    b = sampler.subgraphs(egos, gen)
    k = b.pos.size(1)
    stats = {"graphs": 0, "skipped_cluster_cut": 0, "columns_compared": 0, "columns_sign_ambiguous": 0,
             "clusters_compared": 0, "max_abs_diff_columns": 0.0, "max_abs_diff_sign_ambiguous": 0.0,
             "max_abs_diff_projectors": 0.0}
    ptr = b.ptr.tolist()
    e_bounds = torch.searchsorted(b.edge_index[0], b.ptr).tolist()
    for i in range(b.num_graphs):
        n = ptr[i + 1] - ptr[i]
        take = min(k, n - 2)
        if take <= 0:
            continue
        ei = b.edge_index[:, e_bounds[i]:e_bounds[i + 1]] - ptr[i]
        a = np.zeros((n, n))
        np.add.at(a, (ei[0].numpy(), ei[1].numpy()), 1.0)
        d = np.clip(a.sum(1), 1, None) ** -0.5
        w, v = np.linalg.eigh(d[:, None] * a * d[None, :])
        w, v = w[::-1][:take], v[:, ::-1][:, :take]
        ref = fix_eigenvector_signs(torch.from_numpy(v.copy())).numpy()
        ref = ref / np.maximum(np.linalg.norm(ref, axis=1, keepdims=True), 1e-12)
        got = b.pos[ptr[i]:ptr[i + 1], :take].double().numpy()
        w_all = np.linalg.eigvalsh(d[:, None] * a * d[None, :])[::-1]
        near = np.abs(w_all[:take, None] - w_all[None, :]) < gap
        np.fill_diagonal(near[:, :take], False)
        if take < n and np.abs(w_all[take - 1] - w_all[take]) < gap:
            stats["skipped_cluster_cut"] += 1
            continue
        stats["graphs"] += 1
        c = 0
        while c < take:
            e = c + 1
            while e < take and w_all[e - 1] - w_all[e] < gap:
                e += 1
            if e - c == 1 and not near[c].any():
                col = v[:, c]
                top2 = np.sort(np.abs(col))[-2:] if n > 1 else np.array([0.0, 1.0])
                decided = abs(col.sum()) > gap or (top2[1] - top2[0]) > gap
                diff = float(np.abs(got[:, c] - ref[:, c]).max())
                if decided:
                    stats["columns_compared"] += 1
                    stats["max_abs_diff_columns"] = max(stats["max_abs_diff_columns"], diff)
                else:
                    stats["columns_sign_ambiguous"] += 1
                    diff = min(diff, float(np.abs(got[:, c] + ref[:, c]).max()))
                    stats["max_abs_diff_sign_ambiguous"] = max(stats["max_abs_diff_sign_ambiguous"], diff)
            else:
                pg, pr = got[:, c:e] @ got[:, c:e].T, ref[:, c:e] @ ref[:, c:e].T
                stats["clusters_compared"] += 1
                stats["max_abs_diff_projectors"] = max(stats["max_abs_diff_projectors"], float(np.abs(pg - pr).max()))
            c = e
    return stats


def _time(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def part_speed(args, device) -> dict:
    import os

    load_start = os.getloadavg()  # the share moves with machine load (the model step slows more than sampling)
    cfg = _config(args)
    graphs = _pretrain_sets(args.quick, cfg, args.root)
    sampler = make_sampler(graphs, cfg, device)
    old = None if args.baseline_rev in ("", "none") else _baseline_sampler(sampler, args.baseline_rev)
    impls = {"graphcl": sampler} if old is None else {"baseline": old, "graphcl": sampler}
    rows = []
    sampler.sample_many(1, 8, torch.Generator(device=device).manual_seed(0))  # caches: walk index, hub bitmap
    # 1) sampler throughput (walk + extraction + features + batching), implementations interleaved
    pools = (64, 512) if args.quick else (64, 512, 2048)
    thr: dict[str, dict[int, float]] = {name: {} for name in impls}
    speedup: dict[int, float] = {}
    for n_sub in pools:
        times: dict[str, list[float]] = {name: [] for name in impls}
        for r in range(args.rounds):
            names = list(impls) if r % 2 == 0 else list(impls)[::-1]
            for name in names:
                gen = torch.Generator(device=device).manual_seed(args.seed + r)
                times[name].append(_time(lambda s=impls[name], g=gen, h=n_sub // 2: s.sample_many(1, h, g)))
        for name in impls:
            thr[name][n_sub] = n_sub / statistics.median(times[name])
            rows.append({"case": f"pool of {n_sub} subgraphs", "impl": name, "metric": "subgraphs_per_s",
                         "value": thr[name][n_sub], "unit": "1/s"})
        line = "  ".join(f"{name} {thr[name][n_sub]:8.1f}" for name in impls)
        if old is not None:
            speedup[n_sub] = statistics.median([a / b for a, b in zip(times["baseline"], times["graphcl"])])
            line += f"  speed-up {speedup[n_sub]:.2f}x"
        print(f"sampler, pool {n_sub:5d} subgraphs/s: {line}", flush=True)
    # 2) share of an epoch spent sampling, both modes, implementations interleaved (same seeds)
    shares: dict[str, dict[str, list[dict]]] = {name: {} for name in impls}
    for r in range(args.rounds):
        for mode, steps in (("moco", 8 if args.quick else 64), ("e2e", 2 if args.quick else 8)):
            c = dict(cfg, epochs=1, steps_per_epoch=steps)
            names = list(impls) if r % 2 == 0 else list(impls)[::-1]
            for name in names:
                out = pretrain_gcc(impls[name], c, mode=mode, device=device, seed=args.seed + r)
                shares[name].setdefault(mode, []).append(out["sampling"])
    epoch = {}
    ratios = {}
    if old is not None:  # sampling seconds of the current sampler / the baseline's, same round and seed
        for mode in shares["graphcl"]:
            ratios[mode] = statistics.median(a["sample_s"] / b["sample_s"] for a, b in
                                             zip(shares["graphcl"][mode], shares["baseline"][mode]))
            print(f"{mode}: sampling seconds, current / baseline (median of rounds) {ratios[mode]:.3f}", flush=True)
    for name in impls:
        for mode, runs in shares[name].items():
            steps = 8 if args.quick else 64
            steps = steps if mode == "moco" else (2 if args.quick else 8)
            case = f"{mode} epoch ({steps} steps x {cfg[mode + '_batch_size']})"
            share = statistics.median(s["share"] for s in runs)
            ips = statistics.median(s["instances_per_s"] for s in runs)
            epoch[f"{name}/{mode}"] = {"share_median": share, "instances_per_s_median": ips, "rounds": runs}
            row = {"case": case, "impl": name, "metric": "sampling_share", "value": share, "unit": "fraction",
                   "per_round": [s["share"] for s in runs]}
            if name == "graphcl":
                row.update(target=0.30, meets_target=share < 0.30)
            rows.append(row)
            rows.append({"case": case, "impl": name, "metric": "instances_per_s_sampling", "value": ips,
                         "unit": "1/s", "per_round": [s["instances_per_s"] for s in runs]})
            print(f"{name:8s} {mode}: sampling share {share:.3f} (rounds {[round(s['share'], 3) for s in runs]}), "
                  f"{ips:.1f} instances/s sampled", flush=True)
    # 3) where the sampling time goes (cProfile of one MoCo epoch of the current sampler)
    import cProfile
    import pstats

    prof = cProfile.Profile()
    c = dict(cfg, epochs=1, steps_per_epoch=8 if args.quick else 64)
    prof.enable()
    pretrain_gcc(sampler, c, mode="moco", device=device, seed=args.seed)
    prof.disable()
    wanted = {"_rwr": "walk with restart", "rwr_induced_subgraphs": "walk + induced subgraph",
              "_hub_pairs": "hub pair tests", "_positional_features": "positional features (all)",
              "linalg_eigh": "eigh", "fix_eigenvector_signs": "sign rule", "subgraph_batch": "features + batch",
              "_slice_batch": "slicing into batches", "sample_many": "sampling (all)", "one_step": "model step"}
    profile = {}
    for (_, _, func), st in pstats.Stats(prof).stats.items():
        name = "linalg_eigh" if func.endswith("linalg_eigh>") else func
        if name in wanted:
            profile[wanted[name]] = profile.get(wanted[name], 0.0) + st[3]  # cumulative seconds
    print("profile (cProfile, cumulative s): " + ", ".join(f"{k} {v:.2f}" for k, v in profile.items()), flush=True)
    # 4) bit-identical instances: current and baseline samplers on the same seeds (MoCo-sized pools)
    identical = None
    if old is not None:
        identical = identical_to_baseline(sampler, old, range(4), cfg["moco_pool_batches"], cfg["moco_batch_size"])
        print(f"bit-identical to the baseline on {identical['pools']} pools: {identical['identical']}", flush=True)
    # 5) features vs a float64 reference on real subgraphs
    check = feature_check(sampler, 64 if args.quick else 512, args.seed)
    print(f"features ({cfg['eig_dtype']}) vs float64 reference: {check}", flush=True)
    b1 = sampler.subgraphs(torch.arange(min(16, sampler.num_nodes)), torch.Generator().manual_seed(1))
    b2 = sampler.subgraphs(torch.arange(min(16, sampler.num_nodes)), torch.Generator().manual_seed(1))
    deterministic = bool(torch.equal(b1.pos, b2.pos) and torch.equal(b1.edge_index, b2.edge_index))
    return {"rows": rows, "throughput_subgraphs_per_s": thr, "speedup_vs_baseline_median": speedup,
            "epoch_sampling": epoch, "sampling_seconds_ratio_vs_baseline": ratios,
            "profile_moco_epoch_s": profile, "feature_check": check,
            "deterministic_same_seed": deterministic, "bit_identical_to_baseline": identical,
            "load_average_1_5_15": {"start": load_start, "end": os.getloadavg()},
            "baseline": None if old is None else {"rev": args.baseline_rev, "files": list(_BASELINE_FILES.values())},
            "notes": "share = seconds sampling / seconds of the epoch (sampling + optimiser steps), one thread, no "
                     "loader workers, pools of {mode}_pool_batches batches (the definition of sessions 2 and 3, "
                     "unchanged). "
                     "'baseline' is the same GCCSampler with graphcl/walks/engine.py and "
                     "graphcl/augment/subgraph_features.py loaded from git revision "
                     f"{args.baseline_rev}; both implementations run in the same process, alternating order "
                     "per round, on a shared 2-core machine (timings noisy; medians of rounds). The profile is "
                     "cProfile (cumulative seconds, adds a little per-call overhead)."}


def part_summary(args) -> dict:
    rows, parts = [], {}
    for p in sorted(Path(args.out_dir).glob("gcc_*.json")):  # every part, tagged runs included
        obj = json.loads(p.read_text())
        for row in obj.get("rows", []):
            rows.append(dict(row, source=p.name))
        parts[p.stem.removeprefix("gcc_")] = str(p)
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
    ap.add_argument("--baseline-rev", default=BASELINE_REV,
                    help="git revision whose sampler is timed beside the current one ('none': skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--root", default=None, help="data root (else env GRAPHCL_DATA)")
    ap.add_argument("--out-dir", default="benchmarks/results")
    ap.add_argument("--ckpt-dir", default="/tmp/gcc_ckpt", help="pre-training checkpoints (resumable)")
    ap.add_argument("--tag", default="", help="suffix of the JSON names (gcc_<part>_<tag>.json), e.g. for a "
                    "longer schedule beside the default one")
    ap.add_argument("--init-seeds", type=int, default=1,
                    help="reference part: random-init encoders evaluated (torch seeds seed .. seed + n - 1)")
    ap.add_argument("--skip-histogram", action="store_true", help="reference part: leave out degree histograms")
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
        if args.tag:
            name = f"{name}_{args.tag}"
        obj = {"benchmark": name, "machine": machine_info(), "quick": args.quick, "command": " ".join(sys.argv),
               "threads": torch.get_num_threads(), "wall_s": time.perf_counter() - t0,
               "peak_memory_mb": peak_memory_mb(device), **obj}
        path = atomic_write_json(Path(args.out_dir) / f"{name}.json", obj)
        print(f"wrote {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
