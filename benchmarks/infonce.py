"""InfoNCE benchmark: blockwise (custom autograd, recomputation) vs dense N x N (and the previous blockwise).

For every N (dim 128, tau 0.5, GRACE's symmetric loss with intra-view
negatives, float32) one forward + backward pass is timed in a FRESH subprocess
per run (1 thread unless ``--threads``), so that every memory figure is that
run's alone. Implementations: ``blockwise`` (:func:`graphcl.losses.infonce`),
``dense`` (:func:`graphcl.losses.infonce_dense`, plain autograd over N x N
matrices) and, with ``--previous COMMIT``, ``previous``: the blockwise
``graphcl/losses/infonce.py`` of that git commit, loaded from ``git show`` (the
implementation this one replaced). Runs alternate (``--repeats`` rounds, the
order flipped every round) and the median per-round ratio is reported.

Memory on CPU (the method of ``benchmarks/pamc_scaling.py``, whose helpers are
imported): workers run with a fixed glibc mmap threshold
(``MALLOC_MMAP_THRESHOLD_=131072``, so freed large buffers go back to the OS),
the heap is trimmed and the peak RSS (VmHWM) reset through
``/proc/self/clear_refs`` right before the call; ``delta`` = VmHWM after the
call minus VmRSS before it (what the loss itself needs on top of its inputs);
``peak`` = the whole process's ru_maxrss. On CUDA: max_memory_allocated and its
increase over the memory allocated before the call. The dense path is skipped
where its footprint would not fit (estimated as ``8 N^2`` float32 numbers, and,
once a dense run was measured, its measured delta scaled by ``N^2``).

Targets: same loss (|diff| <= 1e-4 relative), blockwise time <= 1.2 x dense,
blockwise peak memory (delta) <= 0.2 x dense from N = 10k on.

Usage:
    python benchmarks/infonce.py --previous 0d47c74    # CPU: N = 10k, 50k
    python benchmarks/infonce.py --device cuda         # N = 10k, 50k, 200k
    python benchmarks/infonce.py --quick               # N = 1k, 2k (about a minute)
    python benchmarks/infonce.py --floor 5000          # fwd+bwd vs its bare products + exponentials
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

from graphcl.losses import default_block_size, infonce, infonce_dense
from graphcl.utils import atomic_write_json, machine_info, reset_peak_rss, rss_status

HERE = os.path.dirname(os.path.abspath(__file__))

DIM, TAU = 128, 0.5
MMAP_THRESHOLD = "131072"


def load_previous(commit: str):
    """The ``infonce`` function of ``graphcl/losses/infonce.py`` at git ``commit`` (a private copy)."""
    src = subprocess.run(["git", "-C", HERE, "show", f"{commit}:graphcl/losses/infonce.py"], capture_output=True,
                         text=True, check=True).stdout
    path = os.path.join(tempfile.mkdtemp(), "infonce_previous.py")
    with open(path, "w") as fh:
        fh.write(src)
    spec = importlib.util.spec_from_file_location("infonce_previous", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.infonce


def worker(impl: str, n: int, device: str, block: int | None, threads: int | None, previous: str) -> dict:
    """One forward + backward in this process; returns time and memory."""
    if threads:
        torch.set_num_threads(threads)
    dev = torch.device(device)
    fn = {"dense": lambda a, b: infonce_dense(a, b, TAU),
          "blockwise": lambda a, b: infonce(a, b, TAU, block_size=block)}.get(impl)
    if impl == "previous":
        prev = load_previous(previous)
        fn = lambda a, b: prev(a, b, TAU)  # noqa: E731
    g = torch.Generator(device=dev).manual_seed(0)
    z1 = torch.randn(n, DIM, device=dev, generator=g)
    z2 = (z1 + 0.5 * torch.randn(n, DIM, device=dev, generator=g)).requires_grad_()
    z1.requires_grad_()
    method = None
    if dev.type == "cuda":
        # warm-up on a small problem (kernels, cuBLAS handles), then measure
        fn(z1[:512], z2[:512]).backward()
        z1.grad = z2.grad = None
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        base = torch.cuda.memory_allocated(dev) / 2**20
    else:
        reset = reset_peak_rss()
        base = rss_status()["VmRSS"]
        ru_base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t0 = time.perf_counter()
    loss = fn(z1, z2)
    loss.backward()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    seconds = time.perf_counter() - t0
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev) / 2**20
        delta = peak - base
        method = "torch.cuda.max_memory_allocated minus memory allocated before the call"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if reset:
            delta = rss_status()["VmHWM"] - base
            method = ("VmHWM after the call - VmRSS before (heap trimmed, peak reset via /proc/self/clear_refs, "
                      f"MALLOC_MMAP_THRESHOLD_={os.environ.get('MALLOC_MMAP_THRESHOLD_')})")
        else:
            delta = peak - max(ru_base, base)
            method = "ru_maxrss increase over the call (clear_refs not writable)"
    return {"loss": loss.item(), "seconds": seconds, "peak_mb": peak, "delta_mb": delta, "memory_method": method,
            "grad_norm": float(z1.grad.norm()), "block": block}


def work_floor(n: int, rounds: int, threads: int) -> dict:
    """Blockwise fwd+bwd against the bare work it cannot avoid, timed interleaved in this process.

    The floor is ``8 T d`` multiply-adds and ``4 T`` exponentials (``T = N^2``; see
    :mod:`graphcl.losses.infonce`), run as the same default tiles do them: ``4 T`` as tile
    products ``[512, d] x [d, 2048]`` (forward and backward recomputation), ``2 T`` as row-side
    gradient products ``tile x [2048, d]``, ``2 T`` as column-side ones ``[d, 512] x tile`` (with a
    fixed stand-in tile), and ``4 T`` ``exp2`` over tiles -- without the sums, scalings, masking,
    triangle bookkeeping and Python loop of the loss.
    """
    from graphcl.losses.infonce import COLUMN_BLOCK, MAX_BLOCK

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(n, DIM, generator=g)
    z2 = z1 + 0.5 * torch.randn(n, DIM, generator=g)
    h = torch.nn.functional.normalize(z1, dim=1)
    r, c = MAX_BLOCK, COLUMN_BLOCK
    tiles = [(i, j) for i in range(0, n, r) for j in range(0, n, c)]
    acc_rows = torch.zeros(n, DIM)
    acc_cols = torch.zeros(DIM, n)
    w = torch.rand(r, c, generator=g)  # a stand-in gradient tile (product cost does not depend on values)

    def floor() -> float:
        t0 = time.perf_counter()
        for _ in range(4):  # forward s12 + two half triangles; backward recomputation of the same
            for i, j in tiles:
                torch.mm(h[i:i + r], h[j:j + c].t()).exp2_()
        for _ in range(2):  # gradient products: s12 (1 T) + two half triangles (1 T), row side and column side
            for i, j in tiles:
                t = w[:min(r, n - i), :min(c, n - j)]
                acc_rows[i:i + r].addmm_(t, h[j:j + c])
                acc_cols[:, j:j + c].addmm_(h[i:i + r].t(), t)
        return time.perf_counter() - t0

    def loss() -> float:
        a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
        t0 = time.perf_counter()
        infonce(a, b, TAU).backward()
        return time.perf_counter() - t0

    out = {"floor_s": [], "loss_s": []}
    for k in range(rounds):
        order = [("floor_s", floor), ("loss_s", loss)]
        for key, fn in (order if k % 2 == 0 else order[::-1]):
            out[key].append(fn())
    ratios = [lo / fl for lo, fl in zip(out["loss_s"], out["floor_s"])]
    return {"n": n, "dim": DIM, "tile": [r, c], "rounds": rounds, **out,
            "loss_over_floor": ratios, "median_loss_over_floor": statistics.median(ratios)}


def available_mb(device: str) -> float:
    if device.startswith("cuda"):
        free, _ = torch.cuda.mem_get_info(torch.device(device))
        return free / 2**20
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemAvailable"):
                return int(line.split()[1]) / 1024
    return float("inf")


def spawn(impl: str, n: int, device: str, block: int | None, threads: int | None, timeout: float,
          previous: str) -> dict:
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", impl, str(n), device, str(block or 0),
           str(threads or 0), previous or "-"]
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_=MMAP_THRESHOLD)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f}s"}
    if res.returncode != 0:
        return {"error": (res.stderr or res.stdout).strip().splitlines()[-1:] or [f"exit {res.returncode}"]}
    return json.loads(res.stdout.strip().splitlines()[-1])


def _median(runs: list[dict], key: str) -> float:
    return statistics.median(x[key] for x in runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sizes", default=None, help="comma list of N (default: 10000,50000 on CPU, +200000 on CUDA)")
    ap.add_argument("--repeats", type=int, default=None, help="alternating rounds per N (default 3, quick 1)")
    ap.add_argument("--big-repeats", type=int, default=1, help="rounds for N where dense does not fit")
    ap.add_argument("--block-size", type=int, default=None, help="rows per tile (default: infonce's policy)")
    ap.add_argument("--previous", default=None, help="git commit whose blockwise infonce is timed as a peer")
    ap.add_argument("--previous-max", type=int, default=10_000, help="largest N at which --previous runs")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per subprocess")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--floor", type=int, default=None, metavar="N",
                    help="instead: time fwd+bwd at N against its bare products and exponentials (same process)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", nargs=6, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        impl, n, device, block, threads, previous = args.worker
        print(json.dumps(worker(impl, int(n), device, int(block) or None, int(threads) or None, previous)))
        return

    if args.floor:
        res = work_floor(args.floor, args.repeats or 3, args.threads)
        out = args.out or "benchmarks/results/infonce_floor.json"
        atomic_write_json(out, {
            "benchmark": "infonce_floor", "machine": machine_info(), "device": "cpu", "threads": args.threads,
            "command": "python benchmarks/infonce.py " + " ".join(sys.argv[1:]), "case": res,
            "rows": [{"case": f"N={args.floor}", "impl": "graphcl", "metric": "fwd+bwd time", "unit": "s",
                      "value": statistics.median(res["loss_s"])},
                     {"case": f"N={args.floor}", "impl": "work floor", "metric": "products + exp2 time", "unit": "s",
                      "value": statistics.median(res["floor_s"])}],
            "ratios": {f"time N={args.floor} graphcl/floor": res["median_loss_over_floor"]},
            "notes": work_floor.__doc__.strip() + " Interleaved rounds in one process; median per-round ratio."})
        print(f"N={args.floor}: fwd+bwd {statistics.median(res['loss_s']):.2f} s, floor "
              f"{statistics.median(res['floor_s']):.2f} s, ratio {res['median_loss_over_floor']:.3f} -> {out}")
        return
    cuda = args.device.startswith("cuda")
    if args.quick:
        sizes = [1000, 2000]
    elif args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    else:
        sizes = [10_000, 50_000, 200_000] if cuda else [10_000, 50_000]
    repeats = args.repeats or (1 if args.quick else 3)
    out = args.out or ("benchmarks/results/infonce_quick.json" if args.quick else
                       f"benchmarks/results/infonce{'_cuda' if cuda else ''}.json")
    impls = ["dense", "blockwise"] + (["previous"] if args.previous else [])
    rows, ratios, cases = [], {}, {}
    dense_measured: tuple[int, float] | None = None  # (N, delta MiB) of the largest dense run so far
    for n in sizes:
        block = args.block_size or default_block_size(n)
        est_mb = 8 * n * n * 4 / 2**20
        if dense_measured is not None:
            est_mb = max(est_mb, dense_measured[1] * (n / dense_measured[0]) ** 2)
        fits = est_mb < 0.7 * available_mb(args.device)
        here = [k for k in impls if k != "previous" or n <= args.previous_max]
        runs: dict[str, list[dict]] = {k: [] for k in here}
        rounds = repeats if fits else args.big_repeats
        for r in range(rounds):
            order = here if r % 2 == 0 else here[::-1]
            for impl in order:
                if impl == "dense" and not fits:
                    continue
                res = spawn(impl, n, args.device, block if impl == "blockwise" else None, args.threads,
                            args.timeout, args.previous)
                print(f"N={n} {impl}: {res}", flush=True)
                runs[impl].append(res)
        case = {"n": n, "dim": DIM, "block_size": block, "dense_skipped": not fits,
                "dense_estimate_mb": round(est_mb), "rounds": rounds, "runs": runs}
        ok = {k: [x for x in v if "error" not in x] for k, v in runs.items()}
        if ok.get("dense"):
            dense_measured = (n, _median(ok["dense"], "delta_mb"))
        for impl, lst in ok.items():
            if not lst:
                continue
            name = {"blockwise": "graphcl", "dense": "graphcl-dense", "previous": "graphcl-previous"}[impl]
            rows += [
                {"case": f"N={n}", "impl": name, "metric": "fwd+bwd time", "unit": "s",
                 "value": round(_median(lst, "seconds"), 3)},
                {"case": f"N={n}", "impl": name, "metric": "peak memory delta", "unit": "MiB",
                 "value": round(_median(lst, "delta_mb"), 1)},
                {"case": f"N={n}", "impl": name, "metric": "peak memory", "unit": "MiB",
                 "value": round(_median(lst, "peak_mb"), 1)},
                {"case": f"N={n}", "impl": name, "metric": "loss", "unit": "", "value": lst[0]["loss"]},
            ]
        if ok["blockwise"] and ok.get("previous"):
            pairs = list(zip(ok["blockwise"], ok["previous"]))
            t_prev = statistics.median(b["seconds"] / p["seconds"] for b, p in pairs)
            ratios[f"time N={n} graphcl/graphcl-previous"] = round(t_prev, 3)
            case["time_ratio_vs_previous"] = t_prev
            case["loss_abs_diff_vs_previous"] = abs(ok["blockwise"][0]["loss"] - ok["previous"][0]["loss"])
        if ok.get("dense") and ok["blockwise"]:
            pairs = list(zip(ok["blockwise"], ok["dense"]))
            t_ratio = statistics.median(b["seconds"] / d["seconds"] for b, d in pairs)
            m_ratio = statistics.median(b["delta_mb"] / d["delta_mb"] for b, d in pairs)
            loss_diff = abs(ok["blockwise"][0]["loss"] - ok["dense"][0]["loss"])
            ratios[f"time N={n} graphcl/dense"] = round(t_ratio, 3)
            ratios[f"peak memory delta N={n} graphcl/dense"] = round(m_ratio, 4)
            case.update({"time_ratio": t_ratio, "memory_ratio": m_ratio, "loss_abs_diff": loss_diff,
                         "time_target_met": t_ratio <= 1.2, "memory_target_met": m_ratio <= 0.2,
                         "loss_target_met": loss_diff <= 1e-4 * abs(ok["dense"][0]["loss"])})
        elif ok["blockwise"] and not fits:
            # dense cannot run: compare with its estimated footprint (say so)
            m_est = _median(ok["blockwise"], "delta_mb") / est_mb
            ratios[f"peak memory delta N={n} graphcl/dense-estimate"] = round(m_est, 5)
            case.update({"memory_ratio_vs_estimate": m_est, "memory_target_met_vs_estimate": m_est <= 0.2,
                         "dense_estimate_method": ("max(8 N^2 float32, the largest measured dense delta scaled "
                                                   "by N^2)")})
        cases[str(n)] = case
        report = {"benchmark": "infonce", "machine": machine_info(), "device": args.device,
                  "command": "python benchmarks/infonce.py " + " ".join(sys.argv[1:]), "threads": args.threads,
                  "rows": rows, "ratios": ratios, "cases": cases,
                  "notes": ("one forward+backward of the symmetric GRACE loss (intra-view negatives), dim 128, "
                            "tau 0.5, float32, each run in a fresh subprocess; 'delta' = peak minus the memory "
                            "in use just before the loss call (see the module docstring for the method); ratios "
                            "are medians of per-round ratios over alternating rounds; shared, contended 2-core "
                            "machine: absolute times are noisy, the ratios are the figures to read")}
        atomic_write_json(out, report)
    print(f"{'N':>8} {'impl':>10} {'time s':>9} {'delta MiB':>10} {'peak MiB':>9}")
    for n, case in cases.items():
        for impl, lst in case["runs"].items():
            lst = [x for x in lst if "error" not in x]
            if lst:
                print(f"{n:>8} {impl:>10} {_median(lst, 'seconds'):>9.2f} {_median(lst, 'delta_mb'):>10.1f} "
                      f"{_median(lst, 'peak_mb'):>9.1f}")
        if "time_ratio" in case:
            print(f"{n:>8} blockwise/dense: time {case['time_ratio']:.3f}  memory {case['memory_ratio']:.4f}  "
                  f"|loss diff| {case['loss_abs_diff']:.2e}")
        if "time_ratio_vs_previous" in case:
            print(f"{n:>8} blockwise/previous: time {case['time_ratio_vs_previous']:.3f}")
        if "memory_ratio_vs_estimate" in case:
            print(f"{n:>8} blockwise/dense-estimate ({case['dense_estimate_mb']} MiB): memory "
                  f"{case['memory_ratio_vs_estimate']:.5f}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
