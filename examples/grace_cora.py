"""GRACE on Cora with the paper's settings, evaluated by the linear probe.

Run: GRAPHCL_DATA=/path/to/datasets python examples/grace_cora.py   (about 1-2 min on CPU)
Same as: graphcl run grace --dataset cora
"""

from graphcl.config import load_config
from graphcl.data import load
from graphcl.eval import linear_probe
from graphcl.methods.grace import train_grace
from graphcl.utils import resolve_device

data = load("cora")
config = load_config("grace", "cora")
out = train_grace(data, config, device=resolve_device("auto"), seed=0, progress=True)
result = linear_probe(out["embedding"], data.y, num_seeds=5)
print(f"GRACE on Cora: {100 * result['accuracy']:.2f} +- {100 * result['std']:.2f}")
print(result["protocol"])
