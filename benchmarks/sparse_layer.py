"""Sparse first GNN layer on bag-of-words features: GRACE / rLap epochs with the sparse vs the dense first layer.

The encoders of graphcl.nn run their first layer's input product as a sparse-dense
product when the input has at most 10 % non-zeros (CiteSeer: 0.85 %). The dense
build is the same code with the switch off (``supports_sparse_input = False`` on
the encoder classes: the first layer is PyG's ``conv(x, edge_index)`` as before the
change). Both are timed interleaved in one process, one thread: each round trains
a fresh GRACE model (settings of graphcl/configs/grace.yaml for the dataset, seed
0) for ``--epochs`` epochs with one build, then the other (the order alternates
between rounds); the per-epoch ``step_s`` / ``step_cpu_s`` of the training history
are compared (median over rounds of the ratio of per-round medians).

Reproduction check: with the same seed both builds must give the same per-epoch
losses (to 1e-5 relative); for the real dataset the first-epoch losses of seeds
``--check-seeds`` for GRACE and rLap are also compared with the ``first_loss``
stored by the dense-build run in ``--stored`` (node_cl_citeseer_2seeds.json), and
rLap seed 0 is run for ``--epochs`` epochs with both builds.

A micro timing of the first layer alone (forward + backward of GCNConv on a
column-masked view, dense vs sparse, interleaved) shows its share.

Usage:
    GRAPHCL_DATA=/work/shared/datasets python benchmarks/sparse_layer.py --dataset citeseer --rounds 3 --epochs 5
    python benchmarks/sparse_layer.py --quick       # synthetic bag-of-words SBM, < 1 minute
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Iterator

import torch

from graphcl.config import load_config
from graphcl.nn import GCNEncoder, GINEncoder, SAGEEncoder
from graphcl.utils import atomic_write_json, machine_info, resolve_device

SPARSE_CLASSES = (GCNEncoder, SAGEEncoder, GINEncoder)


@contextlib.contextmanager
def dense_first_layer() -> Iterator[None]:
    """The dense build: every encoder's first layer runs PyG's dense ``conv(x, edge_index)``."""
    saved = [(cls, cls.__dict__.get("supports_sparse_input")) for cls in SPARSE_CLASSES]
    try:
        for cls in SPARSE_CLASSES:
            cls.supports_sparse_input = False
        yield
    finally:
        for cls, value in saved:
            cls.supports_sparse_input = value


def train(method: str, data, cfg: dict, dense: bool, seed: int, device: torch.device) -> dict:
    from graphcl.methods.grace import train_grace
    from graphcl.methods.rlap import train_rlap

    fn = {"grace": train_grace, "rlap": train_rlap}[method]
    with dense_first_layer() if dense else contextlib.nullcontext():
        out = fn(data, cfg, device=device, seed=seed)
    return {"loss": [h["loss"] for h in out["history"]], "step_s": [h["step_s"] for h in out["history"]],
            "step_cpu_s": [h["step_cpu_s"] for h in out["history"]]}


def compare_losses(a: list[float], b: list[float]) -> dict:
    diffs = [abs(x - y) for x, y in zip(a, b)]
    rel = [d / max(abs(y), 1e-12) for d, y in zip(diffs, b)]
    return {"max_abs_diff": max(diffs), "max_rel_diff": max(rel), "equal_1e-5": max(rel) <= 1e-5}


def first_layer_micro(data, hidden: int, p_f: float, reps: int, device: torch.device) -> dict:
    """Forward + backward of the first GCNConv on a column-masked view: dense vs sparse, interleaved."""
    from graphcl.augment import mask_feature

    x = data.x.to(device=device, dtype=torch.float32)
    ei = data.edge_index.to(device)
    torch.manual_seed(0)
    enc = GCNEncoder(x.size(1), 2 * hidden, hidden, num_layers=1, act_last=False).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    times: dict = {"sparse": [], "dense": []}
    for r in range(reps):
        xv, _ = mask_feature(x, p_f, generator=gen)
        for kind in (("sparse", "dense") if r % 2 == 0 else ("dense", "sparse")):
            enc.sparse_input_density = 0.1 if kind == "sparse" else None
            enc.zero_grad(set_to_none=True)
            c0 = time.process_time()
            enc(xv, ei).sum().backward()
            times[kind].append(time.process_time() - c0)
    sp, de = statistics.median(times["sparse"]), statistics.median(times["dense"])
    return {"sparse_cpu_s": sp, "dense_cpu_s": de, "ratio_sparse/dense": sp / de, "reps": reps,
            "what": f"first GCNConv({x.size(1)}, {2 * hidden}) forward + backward on a view masked with "
                    f"p_f={p_f}, includes the dense->CSR conversion of the view; process CPU time, median"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="citeseer")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (one run of each build per round)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs per run")
    ap.add_argument("--check-seeds", default="0,1", help="seeds whose first-epoch loss is compared with --stored")
    ap.add_argument("--stored", default="benchmarks/results/node_cl_citeseer_2seeds.json")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    if args.quick:
        from graphcl.data import sbm

        data = sbm([200, 200, 200], p_in=0.05, p_out=0.005, num_features=8, seed=0)
        g = torch.Generator().manual_seed(0)
        data.x = (torch.rand(data.num_nodes, 1500, generator=g) < 0.01).float()  # bag-of-words-like
        name = "sbm-bow"
        cfgs = {m: dict(load_config(m), hidden=64, proj_hidden=64) for m in ("grace", "rlap")}
        args.rounds, args.epochs = min(args.rounds, 2), min(args.epochs, 3)
        stored = None
        out = args.out or "benchmarks/results/sparse_layer_quick.json"
    else:
        from graphcl.data import load

        data, name = load(args.dataset), args.dataset
        cfgs = {m: load_config(m, name) for m in ("grace", "rlap")}
        stored = json.load(open(args.stored)) if args.stored and os.path.exists(args.stored) else None
        out = args.out or "benchmarks/results/grace_sparse_first_layer.json"
    density = float(torch.count_nonzero(data.x)) / data.x.numel()
    print(f"{name}: N={data.num_nodes}, F={data.x.size(1)}, feature density {density:.4f}", flush=True)
    report: dict = {
        "benchmark": "sparse_layer", "machine": machine_info(), "device": str(device), "command": " ".join(sys.argv),
        "threads": torch.get_num_threads(), "dataset": name, "feature_density": density,
        "protocol": (f"GRACE (graphcl/configs/grace.yaml, {name}) trained {args.epochs} epochs per run, seed 0, "
                     f"fresh model per run; sparse and dense first-layer builds interleaved in one process, "
                     f"{args.rounds} rounds, order alternating; per-epoch step time (views + forward + loss + "
                     "backward + Adam) from the training history; ratio = median over rounds of "
                     "median(sparse)/median(dense); machine shared with other jobs, so absolute times are noisy"),
    }
    micro = first_layer_micro(data, int(cfgs["grace"]["hidden"]), float(cfgs["grace"]["p_f1"]), 2 * args.rounds + 1,
                              device)
    report["first_layer_micro"] = micro
    print(f"first layer alone: sparse {micro['sparse_cpu_s'] * 1e3:.1f} ms, dense {micro['dense_cpu_s'] * 1e3:.1f} ms "
          f"(CPU, fwd+bwd)", flush=True)
    cfg = dict(cfgs["grace"], epochs=args.epochs)
    rounds = []
    for r in range(args.rounds):
        runs = {}
        for kind in (("sparse", "dense") if r % 2 == 0 else ("dense", "sparse")):
            runs[kind] = train("grace", data, cfg, kind == "dense", 0, device)
        rnd = {k: runs[k] for k in ("sparse", "dense")}
        rnd["ratio"] = statistics.median(runs["sparse"]["step_s"]) / statistics.median(runs["dense"]["step_s"])
        rnd["cpu_ratio"] = (statistics.median(runs["sparse"]["step_cpu_s"])
                            / statistics.median(runs["dense"]["step_cpu_s"]))
        rnd["losses"] = compare_losses(runs["sparse"]["loss"], runs["dense"]["loss"])
        rounds.append(rnd)
        print(f"round {r}: sparse {statistics.median(runs['sparse']['step_s']):.3f} s/epoch, dense "
              f"{statistics.median(runs['dense']['step_s']):.3f} s/epoch, ratio {rnd['ratio']:.3f} "
              f"(CPU {rnd['cpu_ratio']:.3f}); losses max rel diff {rnd['losses']['max_rel_diff']:.2e}", flush=True)
    t_sp = statistics.median(t for x in rounds for t in x["sparse"]["step_s"])
    t_de = statistics.median(t for x in rounds for t in x["dense"]["step_s"])
    c_sp = statistics.median(t for x in rounds for t in x["sparse"]["step_cpu_s"])
    c_de = statistics.median(t for x in rounds for t in x["dense"]["step_cpu_s"])
    case = f"{name} GRACE epoch (N={data.num_nodes}, F={data.x.size(1)}, hidden={cfg['hidden']})"
    report["rows"] = [
        {"case": case, "impl": "graphcl sparse first layer", "metric": "epoch_time", "value": round(t_sp, 4),
         "unit": "s"},
        {"case": case, "impl": "graphcl dense first layer", "metric": "epoch_time", "value": round(t_de, 4),
         "unit": "s"},
        {"case": case, "impl": "graphcl sparse first layer", "metric": "epoch_cpu_time", "value": round(c_sp, 4),
         "unit": "s"},
        {"case": case, "impl": "graphcl dense first layer", "metric": "epoch_cpu_time", "value": round(c_de, 4),
         "unit": "s"},
    ]
    report["ratios"] = {"epoch_time sparse/dense": round(statistics.median(x["ratio"] for x in rounds), 4),
                        "epoch_cpu_time sparse/dense": round(statistics.median(x["cpu_ratio"] for x in rounds), 4),
                        "first_layer_cpu_time sparse/dense": round(micro["ratio_sparse/dense"], 4)}
    report["rounds"] = rounds
    atomic_write_json(out, report)
    # reproduction: rLap seed 0 with both builds; first-epoch losses of the check seeds vs the stored dense-build run
    repro: dict = {"grace seed 0": [x["losses"] for x in rounds]}
    rl = {k: train("rlap", data, dict(cfgs["rlap"], epochs=args.epochs), k == "dense", 0, device)
          for k in ("sparse", "dense")}
    repro["rlap seed 0"] = dict(compare_losses(rl["sparse"]["loss"], rl["dense"]["loss"]),
                                sparse=rl["sparse"]["loss"], dense=rl["dense"]["loss"])
    print(f"rlap seed 0, {args.epochs} epochs: losses max rel diff {repro['rlap seed 0']['max_rel_diff']:.2e}",
          flush=True)
    if stored is not None:
        first = {}
        for method in ("grace", "rlap"):
            runs = {r["seed"]: r for r in stored["datasets"][f"{method} {name}"]["runs"]}
            for seed in (int(s) for s in args.check_seeds.split(",")):
                if seed not in runs:
                    continue
                if seed == 0:
                    ours = rounds[0]["sparse"]["loss"][0] if method == "grace" else rl["sparse"]["loss"][0]
                else:
                    ours = train(method, data, dict(cfgs[method], epochs=1), False, seed, device)["loss"][0]
                ref = runs[seed]["first_loss"]
                first[f"{method} seed {seed}"] = {"sparse_build": ours, "stored_dense_build": ref,
                                                  "rel_diff": abs(ours - ref) / abs(ref)}
                print(f"{method} seed {seed}: first-epoch loss {ours:.6f} (sparse build) vs {ref:.6f} stored "
                      f"(dense build), rel diff {first[f'{method} seed {seed}']['rel_diff']:.2e}", flush=True)
        repro["first_epoch_vs_stored"] = {"stored": args.stored, **first}
    report["reproduction"] = repro
    report["peak_rss_mib_process"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    atomic_write_json(out, report)
    print(f"{'impl':<30}{'metric':>16}{'value':>10}")
    for row in report["rows"]:
        print(f"{row['impl']:<30}{row['metric']:>16}{row['value']:>10.3f}")
    print(f"ratios: {report['ratios']}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
