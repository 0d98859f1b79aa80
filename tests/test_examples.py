import runpy
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_quickstart_example_runs(capsys):
    runpy.run_path(str(EXAMPLES / "quickstart.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "CSRGraph(num_nodes=34" in out and "accuracy" in out


def test_node2vec_example_runs(capsys):
    runpy.run_path(str(EXAMPLES / "node2vec_karate.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "node2vec accuracy" in out and "word2vec format" in out
