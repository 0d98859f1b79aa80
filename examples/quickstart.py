"""Quick start: load a graph, build the CSR structure, embed it, score the embedding.

Run: python examples/quickstart.py
"""

from graphcl.data import load
from graphcl.eval import linear_probe
from graphcl.graph import CSRGraph
from graphcl.methods.spectral import spectral_embedding

data = load("karate")
graph = CSRGraph.from_data(data)
print(graph)

emb = spectral_embedding(data.edge_index, data.num_nodes, dim=2)
result = linear_probe(emb, data.y, train_ratio=0.3, val_ratio=0.2, num_seeds=10)
print(f"accuracy {result['accuracy']:.3f} +- {result['std']:.3f}  ({result['protocol']})")
