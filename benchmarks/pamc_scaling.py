"""PamC meta-node loss vs full pairwise InfoNCE: time and memory from 10k to 200k nodes,
plus one full GRACE epoch on a 200k-node graph.

Loss benchmark. Synthetic planted-partition graph
(:func:`graphcl.data.synthetic.planted_partition`: ``K`` equal blocks, average
degree ``--degree``, 80 % of the edges inside a block, O(E)), fixed embeddings
``z [N, d]`` (block signal + Gaussian noise). For every N one FRESH subprocess
runs, in this order and interleaved ``--repeats`` times:

* PamC: ``pamc_loss(z, q, A^(r) positives, tau=1)`` forward + backward with
  fixed assignments ``q`` (``pamc``), and with ``q = dec_soft_assignment(z, mu)``
  inside the autograd graph (``pamc+dec``); r-hop positives precomputed once
  (int32 index, as the method keeps them), timed separately as ``positives_s``;
  their resident size is reported as ``positives_mb`` (an input of the call, so
  outside its delta; a second ratio adds it to PamC's side);
* InfoNCE: ``graphcl.losses.infonce(z1, z2, tau=0.5)`` (GRACE's symmetric loss
  with intra-view negatives, blockwise, O(N * block) memory) forward + backward
  on two views of the same embeddings (``z2 = z + noise``), up to ``--infonce-max``
  nodes (its O(N^2) time makes larger N take hours on one CPU core).

Timing: the two implementations alternate inside the same process; the median
ratio over the repeats is reported (the machine is shared and noisy).
Memory (CPU): after one warm-up call of every implementation on a 300-node
problem (so that one-time costs of the first autograd/kernel use fall on no
implementation's reading), the peak RSS (VmHWM) is reset through ``/proc/self/clear_refs``
right before the first full-size call of each implementation, and the reported ``delta``
is VmHWM after the call minus VmRSS before it, i.e. what the loss call itself
needed on top of its inputs. Before each reading the freed heap is returned to
the OS (``malloc_trim``) and workers run with a fixed glibc mmap threshold, so
that buffers freed by the setup (e.g. the sparse products of the r-hop
positives) cannot be silently reused and hide the call's needs (an early
version without this read 5 MiB for PamC at 100k/200k, d = 10: an artefact).
The previous protocol had no warm-up (PamC's first call paid those costs): that
cold reading of PamC, taken first in the fresh process before the warm-up, is kept
as ``memory_cold_first_call`` and in the ratio "... cold first call". Where clear_refs is not writable
the first call's ru_maxrss increase is used instead (noted in the JSON).

The full GRACE epoch at 200k nodes (issue 5) lives in ``benchmarks/grace_200k.py``.

Usage:
    python benchmarks/pamc_scaling.py --quick                 # N = 2k, 5k (< 1 min)
    python benchmarks/pamc_scaling.py                         # N = 10k .. 200k
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

from graphcl.data.synthetic import planted_partition
from graphcl.losses import dec_soft_assignment, infonce, pamc_loss, rhop_positives
from graphcl.utils import atomic_write_json, machine_info, reset_peak_rss, rss_status

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")


def _problem(n: int, dim: int, k: int, degree: float, r: int) -> dict:
    """Graph, fixed embeddings, r-hop positives and the three loss calls for one size."""
    t0 = time.perf_counter()
    graph = planted_partition(n, k, degree, 0.8, seed=0)
    ei, block = graph.edge_index, graph.y
    g = torch.Generator().manual_seed(1)
    means = 2.0 * torch.randn(k, dim, generator=g)
    z0 = means[block] + torch.randn(n, dim, generator=g)
    noise = 0.5 * torch.randn(n, dim, generator=g)
    mu0 = means + 0.1 * torch.randn(k, dim, generator=g)
    t1 = time.perf_counter()
    pos, w = rhop_positives(ei, n, r, index_dtype=torch.int32)
    t_pos = time.perf_counter() - t1
    q0 = dec_soft_assignment(z0, mu0)

    def call_pamc() -> float:  # the loss alone: assignments q given (hard meta-nodes take no gradient from q)
        z = z0.clone().requires_grad_()
        loss = pamc_loss(z, q0, pos, w, 1.0)
        loss.backward()
        return loss.item()

    def call_pamc_dec() -> float:  # plus the DEC soft assignment q = f(z, mu) inside the autograd graph
        z = z0.clone().requires_grad_()
        mu = mu0.clone().requires_grad_()
        loss = pamc_loss(z, dec_soft_assignment(z, mu), pos, w, 1.0)
        loss.backward()
        return loss.item()

    def call_infonce() -> float:
        z1 = z0.clone().requires_grad_()
        z2 = (z0 + noise).requires_grad_()
        loss = infonce(z1, z2, 0.5)
        loss.backward()
        return loss.item()

    return {"calls": {"pamc": call_pamc, "pamc+dec": call_pamc_dec, "infonce": call_infonce},
            "num_edges": int(ei.size(1)), "num_positive_pairs": int(pos.size(1)), "setup_s": t1 - t0,
            "positives_s": t_pos,
            "positives_mb": (pos.numel() * pos.element_size() + w.numel() * w.element_size()) / 2**20}


def _measure(fn) -> tuple[float, dict, str]:
    """Run ``fn`` once; its peak memory beyond the RSS before it (see the module docstring)."""
    before = rss_status()
    ru_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    reset = reset_peak_rss()
    ts = time.perf_counter()
    loss = fn()
    seconds = time.perf_counter() - ts
    after = rss_status()
    if reset:
        method = ("VmHWM after call - VmRSS before (heap trimmed, peak reset via /proc/self/clear_refs; "
                  "MALLOC_MMAP_THRESHOLD_=131072)")
        delta = after["VmHWM"] - before["VmRSS"]
    else:
        method = "ru_maxrss increase over the call (first call only is exact)"
        delta = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - ru_before
    return seconds, {"delta_mb": delta, "peak_rss_mb": after["VmHWM"], "rss_before_mb": before["VmRSS"],
                     "loss": loss}, method


def loss_worker(n: int, dim: int, k: int, degree: float, r: int, repeats: int, run_infonce: bool) -> dict:
    torch.set_num_threads(1)
    prob = _problem(n, dim, k, degree, r)
    impls = dict(prob.pop("calls"))
    if not run_infonce:
        del impls["infonce"]
    # 1. the previous protocol's PamC reading: its first call in the fresh process (cold: it also pays the
    #    one-time costs of the first autograd/kernel use, which later calls do not)
    t_cold, cold, _ = _measure(impls["pamc"])
    # 2. warm-up: every implementation once on a 300-node problem, so each measured call below is warm
    for fn in _problem(300, dim, k, degree, r)["calls"].values():
        fn()
    # 3. interleaved timing; memory of every implementation at its first (warm) full-size call
    times: dict[str, list[float]] = {name: [] for name in impls}
    mem: dict[str, dict] = {}
    method = None
    for rep in range(repeats):
        for name, fn in impls.items():
            if rep == 0:
                seconds, mem[name], method = _measure(fn)
            else:
                ts = time.perf_counter()
                fn()
                seconds = time.perf_counter() - ts
            times[name].append(seconds)
    return dict(prob, n=n, dim=dim, k=k, times_s=times, memory=mem, memory_method=method,
                memory_cold_first_call={"pamc": dict(cold, seconds=t_cold)})


def _sha1(path: str) -> str | None:
    import hashlib

    try:
        with open(path, "rb") as fh:
            return hashlib.sha1(fh.read()).hexdigest()
    except OSError:
        return None


def _run_sub(args: list[str]) -> dict:
    # a fixed mmap threshold: large blocks are mmap-ed and unmapped on free (glibc's dynamic threshold would
    # otherwise keep freed buffers resident and let later calls reuse them unseen by the RSS delta)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", MALLOC_MMAP_THRESHOLD_="131072")
    res = subprocess.run([sys.executable, os.path.abspath(__file__), *args], capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"worker {args} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10000,20000,50000,100000,200000")
    ap.add_argument("--infonce-max", type=int, default=50000)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--degree", type=float, default=10.0)
    ap.add_argument("--r", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", choices=["loss"], default=None)
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--no-infonce", action="store_true")
    ap.add_argument("--command", default="")
    a = ap.parse_args()

    if a.worker == "loss":
        print(json.dumps(loss_worker(a.n, a.dim, a.k, a.degree, a.r, a.repeats, not a.no_infonce)))
        return

    command = "python benchmarks/pamc_scaling.py " + " ".join(sys.argv[1:])
    if a.quick:
        a.sizes, a.infonce_max, a.repeats = "2000,5000", 5000, 2

    sizes = [int(s) for s in a.sizes.split(",")]
    rows, cases, ratios = [], {}, {}
    print(f"{'N':>8} {'impl':>8} {'time s':>10} {'mem delta MiB':>14} {'pos pairs':>10}")
    for n in sizes:
        sub = ["--worker", "loss", "--n", str(n), "--dim", str(a.dim), "--k", str(a.k), "--degree", str(a.degree),
               "--r", str(a.r), "--repeats", str(a.repeats)]
        if n > a.infonce_max:
            sub.append("--no-infonce")
        res = _run_sub(sub)
        cases[str(n)] = res
        for impl, ts in res["times_s"].items():
            med = statistics.median(ts)
            mem = res["memory"][impl]["delta_mb"]
            print(f"{n:>8} {impl:>8} {med:>10.3f} {mem:>14.1f} {res['num_positive_pairs']:>10}")
            name = "graphcl-" + impl
            rows += [{"case": f"N={n}", "impl": name, "metric": "fwd+bwd time", "unit": "s", "value": med},
                     {"case": f"N={n}", "impl": name, "metric": "peak memory delta", "unit": "MiB", "value": mem}]
        if "infonce" in res["times_s"]:
            tr = [b / p for p, b in zip(res["times_s"]["pamc"], res["times_s"]["infonce"])]
            ratios[f"time N={n} infonce/pamc"] = statistics.median(tr)
            ratios[f"peak memory delta N={n} infonce/pamc"] = (res["memory"]["infonce"]["delta_mb"]
                                                                / max(res["memory"]["pamc"]["delta_mb"], 1e-3))
            ratios[f"peak memory delta N={n} infonce/(pamc + positives index)"] = (
                res["memory"]["infonce"]["delta_mb"] / (res["memory"]["pamc"]["delta_mb"] + res["positives_mb"]))
            ratios[f"peak memory delta N={n} infonce/pamc cold first call"] = (
                res["memory"]["infonce"]["delta_mb"] / res["memory_cold_first_call"]["pamc"]["delta_mb"])
            tr = [b / p for p, b in zip(res["times_s"]["pamc+dec"], res["times_s"]["infonce"])]
            ratios[f"time N={n} infonce/(pamc+dec)"] = statistics.median(tr)
            ratios[f"peak memory delta N={n} infonce/(pamc+dec)"] = (
                res["memory"]["infonce"]["delta_mb"] / max(res["memory"]["pamc+dec"]["delta_mb"], 1e-3))
    # growth exponents (log-log slope between consecutive sizes) for PamC
    ns = [n for n in sizes]
    slopes = {}
    import math

    for n1, n2 in zip(ns, ns[1:]):
        t1 = statistics.median(cases[str(n1)]["times_s"]["pamc"])
        t2 = statistics.median(cases[str(n2)]["times_s"]["pamc"])
        m1 = cases[str(n1)]["memory"]["pamc"]["delta_mb"]
        m2 = cases[str(n2)]["memory"]["pamc"]["delta_mb"]
        slopes[f"pamc {n1}->{n2}"] = {"time_exponent": math.log(t2 / t1) / math.log(n2 / n1),
                                      "memory_exponent": math.log(max(m2, 1e-3) / max(m1, 1e-3)) / math.log(n2 / n1)}
    for name, v in ratios.items():
        print(f"{name}: {v:.2f}")
    for name, v in slopes.items():
        print(f"{name}: time ~ N^{v['time_exponent']:.2f}, memory ~ N^{v['memory_exponent']:.2f}")
    out = a.out or os.path.join(RESULTS, "pamc_scaling_quick.json" if a.quick else "pamc_scaling.json")
    atomic_write_json(out, {
        "benchmark": "pamc_scaling", "machine": machine_info(), "device": "cpu", "command": command,
        "setting": {"dim": a.dim, "k": a.k, "avg_degree": a.degree, "r": a.r, "repeats": a.repeats,
                    "infonce_max": a.infonce_max, "pamc_tau": 1.0, "infonce_tau": 0.5, "threads": 1},
        "infonce_source_sha1": _sha1(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                             "graphcl", "losses", "infonce.py")),
        "rows": rows, "ratios": ratios, "growth": slopes, "cases": cases,
        "targets": {"time infonce/pamc at 50k >= 3": ratios.get("time N=50000 infonce/pamc", 0) >= 3,
                    "memory infonce/pamc at 50k >= 5": ratios.get("peak memory delta N=50000 infonce/pamc", 0) >= 5},
        "notes": "one forward+backward of each loss on fixed embeddings; 'pamc' is the loss with given assignments q, "
                 "'pamc+dec' also computes q = dec_soft_assignment(z, mu) in the graph; "
                 "both timed interleaved in the same fresh subprocess per N (shared, contended 2-core machine: "
                 "absolute times are noisy, ratios are same-process). InfoNCE is O(N^2) and is not run above "
                 "infonce_max nodes. PamC's r-hop positives use an int32 index (positives_mb, outside the call's "
                 "delta). InfoNCE is graphcl.losses.infonce as in the tree at run time (infonce_source_sha1).",
    })
    print(f"-> {out}")


if __name__ == "__main__":
    main()
