"""Random-walk speed and memory: graphcl.walks against PecanPy and fastnode2vec.

Every measurement runs in a fresh subprocess (so peak RSS belongs to one
implementation), and the implementations alternate over the repeats; ratios are
medians of the per-repeat ratios graphcl/peer.

Cases (DeepWalk/node2vec corpus: every node as a start, ``--walks-per-node``
passes, ``--length`` steps):

* ``uniform``: graphcl ``walks_per_node(p=q=1)`` vs PecanPy ``FirstOrderUnweighted``
  and fastnode2vec's walker (numba, run in a thread pool over all cores).
* ``node2vec p=..,q=..``: graphcl vs PecanPy ``SparseOTF`` and ``PreComp``.

What is timed: graphcl from a ``CSRGraph`` to the ``[walks, length + 1]`` long
tensor (start shuffling and the set-up of its index and adjacency bitmap or hash
set included). PecanPy: its numba walk kernel only (``_random_walks``, the uint32
walk matrix), not the conversion of walks to lists of strings that
``simulate_walks`` adds, and PreComp's
transition-table preprocessing is reported separately (``preprocess_s``) and in
``total_s``. numba compilation is excluded from the timings by a warm-up call on
the same graph object (PecanPy compiles per graph) and reported as ``warmup_s``.

Peers are optional benchmark extras (``pip install pecanpy fastnode2vec``, numba),
run with ``--peer-python`` (default: this interpreter); missing peers are skipped.
PecanPy's dependency nptyping reads numpy 1.x type aliases: under numpy 2 the
workers restore those aliases, and where gensim is absent they stand in an empty
``gensim`` module (gensim is only used for embedding, not for walks). A separate
virtual environment also works (``python -m venv /tmp/peers && /tmp/peers/bin/pip
install "numpy<2" scipy pecanpy fastnode2vec``).

On a machine shared with other busy processes, torch's intra-op threads stall
(every small op waits for a descheduled worker thread): compare with
``--threads 1`` there, or run on an idle machine.

Usage:
    python benchmarks/walks.py --quick
    python benchmarks/walks.py --device cuda --peer-python /tmp/peers/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

NODE2VEC_PQ = [(1.0, 1.0), (0.25, 0.25), (4.0, 1.0), (1.0, 4.0)]
PEERS_UNIFORM = ["pecanpy-FirstOrderUnweighted", "fastnode2vec"]
PEERS_N2V = ["pecanpy-SparseOTF", "pecanpy-PreComp"]


# ----------------------------------------------------------------------- helpers
def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


_NUMPY1_ALIASES = {
    "bool8": "bool_", "object0": "object_", "int0": "intp", "uint0": "uintp",
    "str0": "str_", "bytes0": "bytes_", "void0": "void", "float_": "float64",
    "complex_": "complex128", "longfloat": "longdouble", "singlecomplex": "complex64",
    "cfloat": "complex128", "longcomplex": "clongdouble", "clongfloat": "clongdouble",
    "string_": "bytes_", "unicode_": "str_",
}


def _numpy1_aliases() -> None:
    """nptyping (PecanPy's dependency) reads numpy 1.x type aliases removed in numpy 2."""
    import numpy as np

    for old, new in _NUMPY1_ALIASES.items():
        if not hasattr(np, old):
            setattr(np, old, getattr(np, new))


def _stub_gensim() -> None:
    """PecanPy and fastnode2vec import gensim's Word2Vec only for embedding, which is
    not benchmarked: stand in an empty module where gensim is not installed."""
    try:
        import gensim  # noqa: F401
    except ImportError:
        import types

        gs, models = types.ModuleType("gensim"), types.ModuleType("gensim.models")
        models.Word2Vec = type("Word2Vec", (), {})
        gs.models, gs.__version__ = models, "0-stub"
        sys.modules["gensim"], sys.modules["gensim.models"] = gs, models


def _load_csr(dataset: str, data_root: str):
    import numpy as np
    import scipy.io as sio
    import scipy.sparse as sp

    if dataset != "blogcatalog":
        raise SystemExit(f"unknown dataset {dataset!r} (only blogcatalog)")
    path = Path(data_root) / "BlogCatalog" / "blogcatalog.mat"
    if not path.exists():
        raise SystemExit(f"{path} not found: set GRAPHCL_DATA or --data-root")
    m = sp.csr_matrix(sio.loadmat(str(path))["network"])
    m = ((m + m.T) > 0).astype(np.float32).tocsr()  # undirected, unweighted
    m.sort_indices()
    return m


# ------------------------------------------------------------------------ workers
def _worker_graphcl(a) -> dict:
    import torch

    from graphcl.graph import CSRGraph
    from graphcl.walks import walks_per_node

    torch.set_num_threads(a.threads)
    dev = torch.device(a.device)
    m = _load_csr(a.dataset, a.data_root)
    # straight from the CSR arrays, as the peers take them (no edge list, no sort)
    g = CSRGraph.from_scipy(m, weighted=False).to(dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    gen = torch.Generator(device=dev).manual_seed(a.seed)
    base = _rss_mb()
    t0 = time.perf_counter()
    walks_per_node(g, 1, 2, a.p, a.q, generator=gen)
    sync()
    warm = time.perf_counter() - t0
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    t0 = time.perf_counter()
    w = walks_per_node(g, a.walks_per_node, a.length, a.p, a.q, generator=gen)
    sync()
    dt = time.perf_counter() - t0
    out = {"time_s": dt, "walks": int(w.size(0)), "warmup_s": warm, "base_rss_mb": base}
    if dev.type == "cuda":
        out["peak_gpu_mb"] = torch.cuda.max_memory_allocated(dev) / 2**20
    return out


def _worker_pecanpy(a, mode: str) -> dict:
    import numba
    import numpy as np

    _numpy1_aliases()
    _stub_gensim()
    from numba_progress import ProgressBar
    from pecanpy import pecanpy as pp

    numba.set_num_threads(a.threads)
    m = _load_csr(a.dataset, a.data_root)
    cls = getattr(pp, mode)
    g = cls(p=a.p, q=a.q, workers=a.threads, random_state=a.seed)
    g.indptr = m.indptr.astype(np.uint32)
    g.indices = m.indices.astype(np.uint32)
    g.data = m.data.astype(np.float32)
    g.set_node_ids(None, implicit_ids=True, num_nodes=m.shape[0])
    n = m.shape[0]
    base = _rss_mb()

    t0 = time.perf_counter()
    g._preprocess_transition_probs()
    pre = time.perf_counter() - t0
    # One closure per graph object: numba compiles the walk kernel for it once
    # (``simulate_walks`` builds a new closure, hence recompiles, on every call).
    move_forward, has_nbrs = g.get_move_forward(), g.get_has_nbrs()

    def walk(num_walks: int, length: int):
        starts = np.concatenate([np.arange(n, dtype=np.uint32)] * num_walks)
        np.random.shuffle(starts)
        with ProgressBar(total=starts.size, disable=True) as prog:
            return g._random_walks(
                starts.size, length, a.seed, starts, has_nbrs, move_forward, prog
            )

    t0 = time.perf_counter()
    walk(1, 3)  # compiles the kernels for this graph object
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    w = walk(a.walks_per_node, a.length)
    dt = time.perf_counter() - t0
    return {"time_s": dt, "walks": int(w.shape[0]), "warmup_s": warm, "preprocess_s": pre,
            "base_rss_mb": base}


def _worker_fastnode2vec(a) -> dict:
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np

    _stub_gensim()
    from fastnode2vec.graph import _random_walk

    m = _load_csr(a.dataset, a.data_root)
    indptr, indices = m.indptr.astype(np.int64), m.indices.astype(np.int32)
    n = m.shape[0]
    base = _rss_mb()

    def run(num_walks: int, length: int):
        rng = np.random.default_rng(a.seed)
        starts = np.concatenate([rng.permutation(n) for _ in range(num_walks)])
        chunks = np.array_split(starts, a.threads * 8)

        def job(ch):
            # fastnode2vec's walk_length counts nodes: length + 1 for `length` steps
            return [_random_walk(indptr, indices, length + 1, a.p, a.q, int(s)) for s in ch]

        with ThreadPoolExecutor(a.threads) as ex:
            return [w for part in ex.map(job, chunks) for w in part]

    t0 = time.perf_counter()
    run(1, 2)
    warm = time.perf_counter() - t0
    t0 = time.perf_counter()
    w = run(a.walks_per_node, a.length)
    dt = time.perf_counter() - t0
    return {"time_s": dt, "walks": len(w), "warmup_s": warm, "base_rss_mb": base}


def _worker(a) -> None:
    if a.impl == "graphcl":
        res = _worker_graphcl(a)
    elif a.impl.startswith("pecanpy-"):
        res = _worker_pecanpy(a, a.impl.split("-", 1)[1])
    elif a.impl == "fastnode2vec":
        res = _worker_fastnode2vec(a)
    else:
        raise SystemExit(f"unknown impl {a.impl}")
    res["peak_rss_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(res), flush=True)


# ------------------------------------------------------------------------- driver
def _peer_available(python: str, impl: str) -> bool:
    mod = "fastnode2vec" if impl == "fastnode2vec" else "pecanpy"
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import walks\n"
        "walks._numpy1_aliases(); walks._stub_gensim()\n"
        f"import {mod}, numba, numba_progress"
    )
    here = str(Path(__file__).resolve().parent)
    r = subprocess.run([python, "-c", code, here], capture_output=True, text=True)
    if r.returncode != 0:
        print(f"peer {impl} not importable: {r.stderr.strip().splitlines()[-1:]}")
    return r.returncode == 0


def _run_one(a, impl: str, p: float, q: float, python: str) -> dict | None:
    cmd = [
        python, os.path.abspath(__file__), "--worker", impl,
        "--p", str(p), "--q", str(q), "--walks-per-node", str(a.walks_per_node),
        "--length", str(a.length), "--threads", str(a.threads), "--seed", str(a.seed),
        "--dataset", a.dataset, "--data-root", a.data_root,
        "--device", a.device if impl == "graphcl" else "cpu",
    ]
    env = dict(os.environ)
    repo = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=a.timeout)
    for line in r.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    print(f"  {impl} p={p} q={q} failed:\n{r.stderr[-2000:]}", file=sys.stderr)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 walk/node, length 20, 1 repeat")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--dataset", default="blogcatalog")
    ap.add_argument("--data-root", default=os.environ.get("GRAPHCL_DATA", ""))
    ap.add_argument("--walks-per-node", type=int, default=10)
    ap.add_argument("--length", type=int, default=80)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--peer-python", default=sys.executable)
    ap.add_argument("--peers", default="all", help="'all', 'none' or a comma list of impls")
    ap.add_argument("--cases", default="all", help="'all', 'uniform' or 'node2vec'")
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--settle", type=float, default=5.0,
                    help="seconds to wait before each timed process: right after a peer with a large "
                         "heap (PreComp, 3.2 GB) exits, the kernel's reclaim takes CPU for a few seconds "
                         "and a 2-thread run that starts then was measured 40%% slower")
    ap.add_argument("--out", default=None)
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--impl", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--p", type=float, default=1.0, help=argparse.SUPPRESS)
    ap.add_argument("--q", type=float, default=1.0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        a.impl = a.worker
        _worker(a)
        return
    if a.quick:
        a.walks_per_node, a.length, a.repeats = 1, 20, 1
    import torch

    from graphcl.utils import atomic_write_json, machine_info

    if a.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    cases: list[tuple[str, float, float, list[str]]] = []
    if a.cases in ("all", "uniform"):
        cases.append(("uniform", 1.0, 1.0, PEERS_UNIFORM))
    if a.cases in ("all", "node2vec"):
        pqs = [(0.25, 0.25)] if a.quick else NODE2VEC_PQ
        # PreComp's O(sum deg^2) preprocessing alone takes minutes: not in quick mode.
        peers = ["pecanpy-SparseOTF"] if a.quick else PEERS_N2V
        for p, q in pqs:
            cases.append((f"node2vec p={p:g},q={q:g}", p, q, peers))
    wanted = None if a.peers == "all" else set() if a.peers == "none" else set(a.peers.split(","))
    avail = {}
    for impl in PEERS_UNIFORM + PEERS_N2V:
        ok = (wanted is None or impl in wanted) and _peer_available(a.peer_python, impl)
        avail[impl] = ok
        if not ok:
            print(f"peer {impl}: skipped (not requested or not importable with {a.peer_python})")

    rows, ratios, raw = [], {}, []
    for case, p, q, peers in cases:
        impls = ["graphcl"] + [x for x in peers if avail.get(x)]
        per_rep: dict[str, list[dict]] = {i: [] for i in impls}
        for rep in range(a.repeats):
            order = impls[rep % len(impls):] + impls[: rep % len(impls)]  # alternate
            for impl in order:
                python = sys.executable if impl == "graphcl" else a.peer_python
                time.sleep(a.settle)
                res = _run_one(a, impl, p, q, python)
                if res is None:
                    continue
                res.update(case=case, impl=impl, repeat=rep)
                steps = res["walks"] * a.length
                res["walks_per_s"] = res["walks"] / res["time_s"]
                res["steps_per_s"] = steps / res["time_s"]
                res["total_s"] = res["time_s"] + res.get("preprocess_s", 0.0)
                per_rep[impl].append(res)
                raw.append(res)
                print(f"{case:24s} {impl:30s} rep {rep}: {res['time_s']:8.3f} s "
                      f"{res['steps_per_s'] / 1e6:8.2f} Msteps/s  peak RSS "
                      f"{res['peak_rss_mb']:7.0f} MB (+{res['peak_rss_mb'] - res['base_rss_mb']:.0f})",
                      flush=True)
        for impl, lst in per_rep.items():
            if not lst:
                continue
            med = lambda k, lst=lst: statistics.median(r[k] for r in lst)  # noqa: E731
            dev = a.device if impl == "graphcl" else "cpu"
            for metric, unit in [("walks_per_s", "walks/s"), ("steps_per_s", "steps/s"),
                                 ("time_s", "s"), ("total_s", "s"), ("warmup_s", "s"),
                                 ("peak_rss_mb", "MB"), ("base_rss_mb", "MB")]:
                rows.append({"case": case, "impl": impl, "device": dev, "metric": metric,
                             "value": med(metric), "unit": unit})
            rows.append({"case": case, "impl": impl, "device": dev, "metric": "extra_rss_mb",
                         "value": statistics.median(r["peak_rss_mb"] - r["base_rss_mb"]
                                                    for r in lst), "unit": "MB"})
            for k in ("preprocess_s", "peak_gpu_mb"):
                if k in lst[0]:
                    rows.append({"case": case, "impl": impl, "device": dev, "metric": k,
                                 "value": med(k), "unit": "MB" if k.endswith("mb") else "s"})
        ours = {r["repeat"]: r for r in per_rep["graphcl"]}
        for impl in impls[1:]:
            paired = [(ours[r["repeat"]], r) for r in per_rep[impl] if r["repeat"] in ours]
            if not paired:
                continue
            ratios[f"walks_per_s graphcl/{impl} [{case}]"] = statistics.median(
                g["walks_per_s"] / o["walks_per_s"] for g, o in paired)
            ratios[f"total_speed graphcl/{impl} [{case}]"] = statistics.median(
                o["total_s"] / g["total_s"] for g, o in paired)
            ratios[f"peak_rss_mb graphcl/{impl} [{case}]"] = statistics.median(
                g["peak_rss_mb"] / o["peak_rss_mb"] for g, o in paired)
            ratios[f"extra_rss_mb graphcl/{impl} [{case}]"] = statistics.median(
                (g["peak_rss_mb"] - g["base_rss_mb"]) / max(o["peak_rss_mb"] - o["base_rss_mb"], 1e-9)
                for g, o in paired)

    print("\nmedian ratios graphcl/peer (speed: > 1 means graphcl faster; memory: < 1 means less)")
    for k, v in ratios.items():
        print(f"  {k:75s} {v:8.2f}")
    info = machine_info()
    info["threads"] = a.threads
    out = {
        "benchmark": "walks",
        "machine": info,
        "settings": {"dataset": a.dataset, "walks_per_node": a.walks_per_node,
                     "length": a.length, "repeats": a.repeats, "device": a.device, "settle_s": a.settle,
                     "quick": a.quick, "threads": a.threads,
                     "peers_timed": "PecanPy numba kernel only (no id-to-string mapping); "
                                    "PreComp preprocessing in total_s; JIT excluded (warmup_s)"},
        "rows": rows,
        "ratios": ratios,
        "runs": raw,
    }
    default = "walks.json" if a.device == "cpu" else "walks_cuda.json"
    if a.quick:
        default = default.replace(".json", "_quick.json")
    path = a.out or str(Path(__file__).resolve().parent / "results" / default)
    atomic_write_json(path, out)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
