"""Shared pytest fixtures."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def data_root() -> str:
    """The real-dataset root from env GRAPHCL_DATA; skips the test when it is not set."""
    root = os.environ.get("GRAPHCL_DATA")
    if not root:
        pytest.skip("GRAPHCL_DATA is not set (e.g. GRAPHCL_DATA=/work/shared/datasets)")
    return root


@pytest.fixture(scope="session")
def load_benchmark():
    """Import a script of ``benchmarks/`` by name (``load_benchmark("rec")``) as a module, for tests of its helpers."""
    import importlib.util
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod

    return load


@pytest.fixture(scope="session", autouse=True)
def _graphcl_cache(tmp_path_factory: pytest.TempPathFactory):
    """Point GRAPHCL_CACHE into pytest's temporary directory unless the caller set it."""
    if os.environ.get("GRAPHCL_CACHE"):
        yield os.environ["GRAPHCL_CACHE"]
        return
    mp = pytest.MonkeyPatch()
    path = str(tmp_path_factory.mktemp("graphcl-cache"))
    mp.setenv("GRAPHCL_CACHE", path)
    yield path
    mp.undo()


@pytest.fixture(scope="session", autouse=True)
def _one_torch_thread():
    """Tests use small tensors: one intra-op thread avoids the heavy oversubscription
    that torch's default thread pool causes on small shared CI machines (restored after)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
