"""InfoNCE benchmark: blockwise (custom autograd, recomputation) vs dense N x N.

For every N (dim 128, tau 0.5, GRACE's symmetric loss with intra-view
negatives) one forward + backward pass is timed in a FRESH subprocess per run,
so that peak memory is that run's alone: on CPU the peak RSS
(resource.getrusage) and its increase over the RSS just before the loss call
("delta", what the loss itself needs); on CUDA torch.cuda.max_memory_allocated
and its increase over the memory allocated before the call. Dense and
blockwise runs alternate (``--repeats`` pairs) and the median ratio is
reported. The dense path is skipped where its estimated footprint (about 8 N^2
numbers) would not fit in the available memory.

Targets: same loss (|diff| <= 1e-4 relative), blockwise time <= 1.2 x dense,
blockwise peak memory (delta) <= 0.2 x dense from N = 10k on.

Usage:
    python benchmarks/infonce.py                       # CPU: N = 10k, 50k
    python benchmarks/infonce.py --device cuda         # N = 10k, 50k, 200k
    python benchmarks/infonce.py --quick               # N = 1k, 3k (< 1 minute)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

import torch

from graphcl.losses import default_block_size, infonce, infonce_dense
from graphcl.utils import atomic_write_json, machine_info

DIM, TAU = 128, 0.5


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def worker(impl: str, n: int, device: str, block: int | None, threads: int | None) -> dict:
    """One forward + backward in this process; returns time and memory."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    g = torch.Generator(device=dev).manual_seed(0)
    z1 = torch.randn(n, DIM, device=dev, generator=g)
    z2 = (z1 + 0.5 * torch.randn(n, DIM, device=dev, generator=g)).requires_grad_()
    z1.requires_grad_()
    if dev.type == "cuda":
        # warm-up on a small problem (kernels, cuBLAS handles), then measure
        infonce(z1[:512], z2[:512], TAU, block_size=128).backward()
        z1.grad = z2.grad = None
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev) / 2**20
    else:
        base = _rss_mb()
    t0 = time.perf_counter()
    if impl == "dense":
        loss = infonce_dense(z1, z2, TAU)
    else:
        loss = infonce(z1, z2, TAU, block_size=block)
    loss.backward()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - t0
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"loss": loss.item(), "seconds": seconds, "peak_mb": peak, "delta_mb": peak - base,
            "grad_norm": float(z1.grad.norm()), "block": block}


def available_mb(device: str) -> float:
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return free / 2**20
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable"):
                return int(line.split()[1]) / 1024
    return float("inf")


def spawn(impl: str, n: int, device: str, block: int | None, threads: int | None, timeout: float) -> dict:
    cmd = [sys.executable, __file__, "--worker", impl, str(n), device, str(block or 0), str(threads or 0)]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    if res.returncode != 0:
        return {"error": (res.stderr or res.stdout).strip().splitlines()[-1:] or [f"exit {res.returncode}"]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default=None, help="comma list of N (default: 10000,50000 on CPU, +200000 on CUDA)")
    ap.add_argument("--repeats", type=int, default=None, help="alternating dense/blockwise pairs per N")
    ap.add_argument("--block-size", type=int, default=None, help="rows per block (default: infonce's policy)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", nargs=5, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        impl, n, device, block, threads = args.worker
        print(json.dumps(worker(impl, int(n), device, int(block) or None, int(threads) or None)))
        return

    cuda = args.device.startswith("cuda")
    if args.quick:
        sizes = [1000, 3000]
    elif args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [10_000, 50_000, 200_000] if cuda else [10_000, 50_000]
    repeats = args.repeats or (1 if args.quick else 3)
    out = args.out or ("benchmarks/results/infonce_quick.json" if args.quick else
                       f"benchmarks/results/infonce{'_cuda' if cuda else ''}.json")
    rows, ratios, cases = [], {}, {}
    for n in sizes:
        block = args.block_size or default_block_size(n) or 1024
        dense_mb = 8 * n * n * 4 / 2**20
        fits = dense_mb < 0.7 * available_mb(args.device)
        runs = {"dense": [], "blockwise": []}
        for r in range(repeats if fits else 1):
            order = ["dense", "blockwise"] if r % 2 == 0 else ["blockwise", "dense"]
            for impl in order:
                if impl == "dense" and not fits:
                    continue
                res = spawn(impl, n, args.device, block if impl == "blockwise" else None, args.threads, args.timeout)
                print(f"N={n} {impl}: {res}", flush=True)
                runs[impl].append(res)
        case = {"n": n, "dim": DIM, "block_size": block, "dense_skipped": not fits,
                "dense_estimate_mb": round(dense_mb), "runs": runs}
        ok = {k: [x for x in v if "error" not in x] for k, v in runs.items()}
        for impl, lst in ok.items():
            if not lst:
                continue
            name = "graphcl" if impl == "blockwise" else "graphcl-dense"
            rows += [
                {"case": f"N={n}", "impl": name, "metric": "fwd+bwd time", "unit": "s",
                 "value": round(statistics.median(x["seconds"] for x in lst), 3)},
                {"case": f"N={n}", "impl": name, "metric": "peak memory delta", "unit": "MiB",
                 "value": round(statistics.median(x["delta_mb"] for x in lst), 1)},
                {"case": f"N={n}", "impl": name, "metric": "peak memory", "unit": "MiB",
                 "value": round(statistics.median(x["peak_mb"] for x in lst), 1)},
                {"case": f"N={n}", "impl": name, "metric": "loss", "unit": "", "value": lst[0]["loss"]},
            ]
        if ok["dense"] and ok["blockwise"]:
            pairs = list(zip(ok["blockwise"], ok["dense"]))
            t_ratio = statistics.median(b["seconds"] / d["seconds"] for b, d in pairs)
            m_ratio = statistics.median(b["delta_mb"] / d["delta_mb"] for b, d in pairs)
            loss_diff = abs(ok["blockwise"][0]["loss"] - ok["dense"][0]["loss"])
            ratios[f"time N={n} graphcl/dense"] = round(t_ratio, 3)
            ratios[f"peak memory delta N={n} graphcl/dense"] = round(m_ratio, 4)
            case.update({"time_ratio": t_ratio, "memory_ratio": m_ratio, "loss_abs_diff": loss_diff,
                         "time_target_met": t_ratio <= 1.2, "memory_target_met": m_ratio <= 0.2,
                         "loss_target_met": loss_diff <= 1e-4 * abs(ok["dense"][0]["loss"])})
        cases[str(n)] = case
        report = {"benchmark": "infonce", "machine": machine_info(), "device": args.device,
                  "command": " ".join(sys.argv), "rows": rows, "ratios": ratios, "cases": cases,
                  "notes": ("one forward+backward of the symmetric GRACE loss (intra-view negatives), dim 128, "
                            "tau 0.5, float32, each run in a fresh subprocess; 'delta' = peak minus the memory "
                            "in use just before the loss call; ratios are medians over alternating pairs")}
        atomic_write_json(out, report)
    print(f"{'N':>8} {'impl':>14} {'time s':>9} {'delta MiB':>10} {'peak MiB':>9}")
    for n, case in cases.items():
        for impl, lst in case["runs"].items():
            lst = [x for x in lst if "error" not in x]
            if lst:
                print(f"{n:>8} {impl:>14} {statistics.median(x['seconds'] for x in lst):>9.2f} "
                      f"{statistics.median(x['delta_mb'] for x in lst):>10.1f} "
                      f"{statistics.median(x['peak_mb'] for x in lst):>9.1f}")
        if "time_ratio" in case:
            print(f"{n:>8} ratio time {case['time_ratio']:.3f}  memory {case['memory_ratio']:.4f}  "
                  f"|loss diff| {case['loss_abs_diff']:.2e}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
