import json
import subprocess
import sys

import pytest

from graphcl.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "graphcl.cli", *args], capture_output=True, text=True)


def test_unknown_method_option_dataset_exit_2(capsys):
    assert main(["run", "no-such-method", "--dataset", "karate"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("graphcl: error: unknown method 'no-such-method'") and "\n" not in err
    assert main(["run", "spectral", "--dataset", "no-such-data"]) == 2
    err = capsys.readouterr().err.strip()
    assert "unknown dataset 'no-such-data'" in err and "\n" not in err
    assert main(["run", "spectral", "--dataset", "karate", "--set", "bogus=1"]) == 2
    assert "unknown setting 'bogus'" in capsys.readouterr().err
    proc = run_cli("run", "spectral", "--no-such-flag")
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "unrecognized arguments" in proc.stderr


def test_run_writes_json_result(tmp_path, capsys):
    out = tmp_path / "res.json"
    assert main(["run", "spectral", "--dataset", "karate", "--out", str(out), "--quiet",
                 "--device", "cpu"]) == 0
    rec = json.loads(out.read_text())
    for key in ("method", "dataset", "config", "metrics", "seeds", "wall_time_s", "peak_memory_mb"):
        assert key in rec
    probe = rec["metrics"]["node_classification"]
    assert 0.0 <= probe["accuracy"] <= 1.0 and "protocol" in probe
    assert (tmp_path / "res.embedding.pt").exists()
    assert "accuracy" in capsys.readouterr().out


def test_plot_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "res.json"
    assert main(["run", "spectral", "--dataset", "karate", "--out", str(out), "--quiet", "--plot"]) == 0
    assert (tmp_path / "res.embedding.png").stat().st_size > 1000


def test_datasets_and_methods_listing(capsys):
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "karate" in out and "cora" in out.lower()
    assert main(["methods"]) == 0
    assert "spectral" in capsys.readouterr().out


def test_demo_runs(capsys):
    assert main(["demo", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "spectral" in out and "karate" in out and "accuracy" in out


def test_missing_dataset_explains_where(tmp_path, capsys):
    assert main(["run", "spectral", "--dataset", "cora", "--root", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and str(tmp_path / "Planetoid" / "Cora") in err and "Source:" in err
