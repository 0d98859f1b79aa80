"""node2vec on karate club: exact (p, q) walks, skip-gram, linear probe, word2vec export.

Run: python examples/node2vec_karate.py
"""

import tempfile
from pathlib import Path

from graphcl.data import load
from graphcl.embed import Node2Vec, load_word2vec
from graphcl.eval import linear_probe

data = load("karate")
model = Node2Vec(dim=16, walk_length=20, walks_per_node=10, window=5, p=0.5, q=2.0,
                 seed=0, progress=False).fit(data)
emb = model.embedding_
result = linear_probe(emb, data.y, train_ratio=0.3, val_ratio=0.2, num_seeds=10)
print(f"node2vec accuracy {result['accuracy']:.3f} +- {result['std']:.3f}")

with tempfile.TemporaryDirectory() as tmp:
    path = Path(tmp) / "karate.emb"
    model.save_word2vec(path)
    assert load_word2vec(path).shape == emb.shape
    print(f"saved {emb.shape[0]} x {emb.shape[1]} embedding in word2vec format")
