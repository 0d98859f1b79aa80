"""One full GRACE epoch on a 200k-node synthetic graph on CPU: wall time and peak RSS.

Graph: planted partition (``graphcl.data.synthetic.planted_partition``; the O(E)
generator of ``benchmarks/pamc_scaling.py`` where that module is absent), 10
blocks, average degree 10, 80 % intra-block edges, 128 Gaussian block-mean
features. Epoch: :func:`graphcl.methods.grace.train_grace` with ``epochs=1`` and
the default GRACE config (two views by edge dropout 0.2/0.4 + feature masking
0.3/0.4, 2-layer GCN ``128 -> 256 -> 128``, projection head, blockwise
:func:`graphcl.losses.infonce` with tau 0.4 and intra-view negatives, backward,
Adam step) -- graphcl's own GRACE, not a re-implementation.

The epoch runs in a FRESH subprocess (1 thread, ``OMP_NUM_THREADS=1``, fixed
glibc mmap threshold as in ``benchmarks/pamc_scaling.py``), so its peak RSS
(``ru_maxrss``) is that epoch's process alone: graph generation, both views,
encoder activations, the loss, backward, the optimizer step and the final
embedding pass of ``train_grace`` included. A monitor thread writes elapsed time
and peak RSS to the JSON every 30 s, so a stopped run leaves its figures
(``completed: false``); every 10 s it also reads, off the main thread's Python
stack, which row block the blockwise InfoNCE is at (forward or backward) and
records the fraction of the loss's work done and the projected loss time
(``loss_progress``: ``elapsed in the loss / fraction``; first-seen times are
exact to the 10-s sampling).

Before the epoch the worker times one InfoNCE forward + backward on random
``[n_cal, 128]`` views (``--calibrate``, default 10k nodes) and writes the
projection ``t_cal * (N / n_cal)^2`` of the loss time at N (the loss is
O(N^2 d)), so that a run stopped before the end still has an honest estimate
next to its partial figure.

``--probe-encoder`` (a memory probe, NOT a GRACE epoch, written to
``grace_200k_encoder_probe.json``): the same epoch with the InfoNCE call replaced
by the O(N d) alignment metric, so that the peak RSS of everything around the
loss (views, encoder, projection, their backward, Adam) is measured at 200k in
minutes; the loss's own extra memory is measured by ``benchmarks/infonce.py``.

Usage:
    python benchmarks/grace_200k.py                 # N = 200k (tens of minutes on one core)
    python benchmarks/grace_200k.py --quick         # N = 5k, hidden 32 (< 1 minute)
    python benchmarks/grace_200k.py --probe-encoder # memory probe at 200k (minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import threading
import time

import torch

from graphcl.utils import atomic_write_json, machine_info, rss_status

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
TARGET_MB = 24 * 1024


def make_graph(n: int, features: int, degree: float, seed: int = 0):
    """The planted-partition graph with block-mean features (``Data`` with x, edge_index, y)."""
    from graphcl.data import planted_partition

    return planted_partition(n, 10, avg_degree=degree, p_intra=0.8, num_features=features, seed=seed), \
        "graphcl.data.planted_partition"


_LOSS_FUNCS = {"_fixed_forward": "loss forward", "_fixed_backward": "loss backward",
               "_online_forward": "loss forward (fallback)", "_online_backward": "loss backward (fallback)"}


def loss_progress(thread_id: int) -> dict | None:
    """Where the thread ``thread_id`` is inside the blockwise InfoNCE, read off its Python stack.

    Returns ``{"phase", "rows_done", "n", "fraction"}`` or None outside the loss. ``fraction`` is
    the share of the loss's multiply work done: row ``i`` costs ``n + 2 (n - i)`` tile entries
    (inter-view row, upper-triangle strips of both intra-view matrices), once in the forward
    and three times in the backward (recomputation + two products), ``8 n^2`` in all.
    """
    frame = sys._current_frames().get(thread_id)
    while frame is not None:
        phase = _LOSS_FUNCS.get(frame.f_code.co_name)
        if phase is not None:
            loc = frame.f_locals
            n = int(loc.get("n", 0))
            r = int(loc.get("r0", loc.get("start", 0)))
            if not n:
                return None
            done = 3 * n * r - r * r  # forward work of rows < r, in tile entries
            total = 8 * n * n
            frac = done / total if "forward" in phase else (2 * n * n + 3 * done) / total
            return {"phase": phase, "rows_done": r, "n": n, "fraction": frac}
        frame = frame.f_back
    return None


def calibrate(n_cal: int, dim: int, tau: float) -> float:
    """Seconds of one blockwise InfoNCE forward + backward at ``n_cal`` nodes, ``dim`` features."""
    from graphcl.losses import infonce

    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(n_cal, dim, generator=g).requires_grad_()
    z2 = (z1.detach() + 0.5 * torch.randn(n_cal, dim, generator=g)).requires_grad_()
    t0 = time.perf_counter()
    infonce(z1, z2, tau).backward()
    return time.perf_counter() - t0


def worker(n: int, hidden: int, features: int, degree: float, n_cal: int, out_path: str, command: str,
           probe: bool = False) -> dict:
    from graphcl.config import load_config
    from graphcl.methods import grace
    from graphcl.methods.grace import train_grace

    torch.set_num_threads(1)
    if probe:
        # memory probe: the same epoch with the InfoNCE call replaced by an O(N d) stand-in (alignment),
        # i.e. everything but the loss's own working memory (measured by benchmarks/infonce.py)
        from graphcl.losses import alignment

        grace.infonce = lambda z1, z2, tau, **kw: alignment(z1, z2)
    t_start = time.perf_counter()
    data, generator = make_graph(n, features, degree)
    t_graph = time.perf_counter() - t_start
    cfg = dict(load_config("grace"), epochs=1, hidden=hidden, proj_hidden=hidden)
    record = {"benchmark": "grace_200k_encoder_probe" if probe else "grace_200k", "machine": machine_info(),
              "device": "cpu", "command": command,
              "setting": {"num_nodes": n, "num_edges": int(data.edge_index.size(1)), "features": features,
                          "avg_degree": degree, "graph": f"planted partition ({generator}), 10 blocks, "
                                                        "p_intra 0.8, Gaussian block-mean features",
                          "config": cfg, "threads": torch.get_num_threads(),
                          "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_")},
              "graph_s": t_graph, "rss_after_graph_mb": rss_status()["VmRSS"], "completed": False}
    if probe:
        record["probe"] = ("NOT a GRACE epoch: graphcl.methods.grace.infonce replaced by graphcl.losses.alignment "
                           "(O(N d)); measures the peak RSS of views, encoder, projection, backward and Adam at this N")
    if n_cal:
        t_cal = calibrate(n_cal, hidden, float(cfg["tau"]))
        record["calibration"] = {"n": n_cal, "dim": hidden, "infonce_fwd_bwd_s": t_cal,
                                 "projected_infonce_s_at_n": t_cal * (n / n_cal) ** 2,
                                 "note": "same process, before the epoch; O(N^2 d) extrapolation"}
    atomic_write_json(out_path, record)
    t0 = time.perf_counter()
    stop = threading.Event()

    main_id = threading.main_thread().ident
    progress: dict = {"phase_first_seen_s": {}}
    record["loss_progress"] = progress

    def monitor() -> None:
        tick = 0
        while not stop.wait(10):
            tick += 1
            now = time.perf_counter() - t0
            where = loss_progress(main_id)
            if where is not None:
                progress["phase_first_seen_s"].setdefault(where["phase"], now)
                progress.update(where)
                start = min(progress["phase_first_seen_s"].values())
                progress["loss_first_seen_s"] = start
                if where["fraction"] > 0.02:
                    progress["projected_loss_s"] = (now - start) / where["fraction"]
                    progress["projected_epoch_s_without_gnn_backward"] = start + progress["projected_loss_s"]
                progress["sampled_at_s"] = now
            if tick % 3 == 0:
                record["elapsed_epoch_s"] = now
                record["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
                record["cpu_s"] = time.process_time()
                atomic_write_json(out_path, record)

    threading.Thread(target=monitor, daemon=True).start()
    out = train_grace(data, cfg, seed=0)
    total = time.perf_counter() - t0
    stop.set()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    hist = out["history"][0]
    record.update(
        completed=True, elapsed_epoch_s=total, peak_rss_mb=peak, within_24gb=peak < TARGET_MB,
        loss=hist["loss"], epoch_step_s=hist["step_s"], epoch_step_cpu_s=hist["step_cpu_s"],
        rows=[{"case": f"N={n}", "impl": "graphcl", "metric": "GRACE epoch time (step)", "unit": "s",
               "value": hist["step_s"]},
              {"case": f"N={n}", "impl": "graphcl", "metric": "GRACE epoch CPU time (step)", "unit": "s",
               "value": hist["step_cpu_s"]},
              {"case": f"N={n}", "impl": "graphcl", "metric": "peak RSS", "unit": "MiB", "value": peak}],
        ratios={"peak RSS / 24 GiB": peak / TARGET_MB},
        notes=("epoch_step_s: the training step (views, encoder, projection, blockwise InfoNCE, backward, Adam); "
               "elapsed_epoch_s adds train_grace's set-up and final embedding pass; peak RSS is the whole "
               "worker process's (graph generation and calibration included). Shared 2-core machine: the "
               "wall time is inflated by other processes (compare step_cpu_s)."))
    atomic_write_json(out_path, record)
    return record


def finalize_stopped(path: str, note: str) -> dict:
    """Mark the JSON of a stopped (killed) run: the note, the process's CPU share and the projections.

    ``cpu_share`` is the worker's CPU time over its wall time (graph, calibration and epoch so far);
    ``projected_epoch_cpu_s`` = the wall projection of the loss progress times that share, i.e. the
    projected epoch time on one dedicated core (approximate: it assumes the share stays constant).
    """
    with open(path) as fh:
        record = json.load(fh)
    if record.get("completed"):
        raise SystemExit(f"{path} holds a completed run; nothing to finalize")
    wall = record.get("graph_s", 0.0) + record.get("calibration", {}).get("infonce_fwd_bwd_s", 0.0) \
        + record.get("elapsed_epoch_s", 0.0)
    share = record.get("cpu_s", 0.0) / wall if wall else None
    record["stopped"] = note
    record["cpu_share"] = share
    prog = record.get("loss_progress", {})
    if share and "projected_epoch_s_without_gnn_backward" in prog:
        record["projected_epoch_cpu_s"] = prog["projected_epoch_s_without_gnn_backward"] * share
    if share and "calibration" in record:
        cal = record["calibration"]
        cal["projected_infonce_cpu_s_at_n"] = cal["projected_infonce_s_at_n"] * share
    record["within_24gb_so_far"] = record.get("peak_rss_mb", 0.0) < TARGET_MB
    atomic_write_json(path, record)
    return record


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--features", type=int, default=128)
    ap.add_argument("--degree", type=float, default=10.0)
    ap.add_argument("--calibrate", type=int, default=10_000, help="nodes of the InfoNCE timing (0: none)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--probe-encoder", action="store_true",
                    help="memory probe: InfoNCE replaced by an O(N d) stand-in (not a GRACE epoch)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--finalize-stopped", default=None, metavar="NOTE",
                    help="annotate the --out JSON of a run that was stopped (no new measurement)")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--command", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.n, a.hidden, a.features, a.degree, a.calibrate, a.out, a.command,
                                a.probe_encoder), default=str))
        return
    if a.quick:
        a.n, a.hidden, a.features, a.calibrate = 5000, 32, 32, 1000
    if a.probe_encoder:
        a.calibrate = 0
    name = "grace_200k" + ("_encoder_probe" if a.probe_encoder else "") + ("_quick" if a.quick else "")
    out = a.out or os.path.join(RESULTS, name + ".json")
    if a.finalize_stopped:
        rec = finalize_stopped(out, a.finalize_stopped)
        print(json.dumps({k: rec.get(k) for k in ("elapsed_epoch_s", "cpu_s", "cpu_share", "peak_rss_mb",
                                                  "loss_progress", "projected_epoch_cpu_s")}, indent=1))
        return
    command = "python benchmarks/grace_200k.py " + " ".join(sys.argv[1:])
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="131072")
    args = [sys.executable, os.path.abspath(__file__), "--worker", "--n", str(a.n), "--hidden", str(a.hidden),
            "--features", str(a.features), "--degree", str(a.degree), "--calibrate", str(a.calibrate),
            "--out", out, "--command", command] + (["--probe-encoder"] if a.probe_encoder else [])
    res = subprocess.run(args, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        print(res.stderr[-3000:], file=sys.stderr)
        raise SystemExit(f"worker failed (exit {res.returncode}); partial figures, if any, are in {out}")
    rec = json.loads(res.stdout.strip().splitlines()[-1])
    print(f"{'N':>8} {'edges':>9} {'step s':>9} {'step cpu s':>11} {'peak RSS MiB':>13} {'< 24 GiB':>9}")
    print(f"{a.n:>8} {rec['setting']['num_edges']:>9} {rec['epoch_step_s']:>9.1f} {rec['epoch_step_cpu_s']:>11.1f} "
          f"{rec['peak_rss_mb']:>13.0f} {str(rec['within_24gb']):>9}")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
