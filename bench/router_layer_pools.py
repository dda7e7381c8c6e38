#!/usr/bin/env python3
"""Would the router's intent head read more from the embedding model than its last layer? A side
experiment on Banking77's nested split (validation data only), outside Tandem's C++ head.

    pip install numpy scipy scikit-learn   # in a virtual environment
    python3 bench/router_layer_pools.py    # ~5 min on 2 cores; bench/results/router-layer-pools.{json,md}

Every request's first 32 tokens (what the router embeds) go through a numpy forward pass of
all-MiniLM-L6-v2 (tests/e2e/test_embedding_reference.py's tokenizer and weights, in float32), and
the mean pool of every layer's output is kept (layer 0 is the embedding layer, 6 the last: the
sentence embedding Tandem uses). A scikit-learn logistic regression then reads the L2-normalised
pools of some layers, each times a weight, next to TF-IDF word 1-2-grams (the C++ head's kind of
features), trained on 4/5 of Banking77's training part and scored on the other 1/5, as
bench/router_bench.py's --banking77-nested splits them.

Two questions: do earlier layers added to the last one help (a frozen encoder's features read at
several depths), and how much is lost by a shorter encoder (the last layers dropped, which would
cut the router's time on long requests in proportion)?
"""

import argparse
import json
import math
import pathlib
import sys
import tempfile
import types

import numpy as np
import scipy.sparse as sparse
from scipy.special import erf
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.dont_write_bytecode = True
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
sys.modules.setdefault("pytest", types.SimpleNamespace(fixture=lambda **_: (lambda f: f)))  # reference module's fixtures
import test_embedding_reference as reference  # noqa: E402
from router_bench import prepare_intent_sets, write_results  # noqa: E402

# (layers, weights): the last layer at weight 2 is what the C++ head reads (--embedding-weight 2).
CONFIGS = [
    ((6,), (2,)), ((6, 5), (2, 1)), ((6, 4), (2, 1)), ((6, 3), (2, 1)), ((6, 5, 4), (2, 1, 1)),
    ((6, 4, 2), (2, 1, 1)), ((6, 5, 4, 3, 2, 1), (2, 1, 1, 1, 1, 1)), ((6, 4), (2, 2)),
    ((5,), (2,)), ((4,), (2,)), ((3,), (2,)),
]


class LayerPools:
    """A batched float32 BERT forward pass that keeps every layer's masked mean pool."""

    def __init__(self, source, max_tokens):
        self.config = json.loads((source / "config.json").read_text())
        words = (source / "vocab.txt").read_text(encoding="utf-8").removesuffix("\n").split("\n")
        self.vocab = {token: index for index, token in enumerate(words)}
        self.w = {k: v.astype(np.float32) for k, v in reference.read_safetensors(source / "model.safetensors").items()}
        self.max_tokens = max_tokens

    def token_ids(self, text):
        ids = reference.tokenize(text, self.vocab)
        # As Tandem's embedder truncates: the first max_tokens - 1, then [SEP].
        return ids if len(ids) <= self.max_tokens else ids[: self.max_tokens - 1] + [ids[-1]]

    def linear(self, x, prefix):
        return x @ self.w[prefix + ".weight"].T + self.w[prefix + ".bias"]

    def layer_norm(self, x, prefix):
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + self.config["layer_norm_eps"]) * self.w[prefix + ".weight"] + self.w[prefix + ".bias"]

    def forward(self, batch):
        heads = self.config["num_attention_heads"]
        b, t = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((b, t), dtype=np.int64)
        mask = np.zeros((b, t), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1
        w = self.w
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:t]
        x = self.layer_norm(x + w["embeddings.token_type_embeddings.weight"][0], "embeddings.LayerNorm")
        d = x.shape[-1]
        hd = d // heads
        pools = [(x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)]
        for layer in range(self.config["num_hidden_layers"]):
            p = f"encoder.layer.{layer}."
            q, k, v = (self.linear(x, p + "attention.self." + n).reshape(b, t, heads, hd).transpose(0, 2, 1, 3)
                       for n in ("query", "key", "value"))
            scores = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + (1 - mask)[:, None, None, :] * -1e9
            scores = np.exp(scores - scores.max(-1, keepdims=True))
            scores /= scores.sum(-1, keepdims=True)
            context = (scores @ v).transpose(0, 2, 1, 3).reshape(b, t, d)
            x = self.layer_norm(x + self.linear(context, p + "attention.output.dense"), p + "attention.output.LayerNorm")
            hidden = self.linear(x, p + "intermediate.dense")
            hidden = 0.5 * hidden * (1 + erf(hidden / math.sqrt(2)))
            x = self.layer_norm(x + self.linear(hidden, p + "output.dense"), p + "output.LayerNorm")
            pools.append((x * mask[..., None]).sum(1) / mask.sum(1, keepdims=True))
        return np.stack(pools, 1)

    def __call__(self, texts, batch_size=64):
        all_ids = [self.token_ids(t) for t in texts]
        order = np.argsort([len(ids) for ids in all_ids])  # similar lengths together: less padding
        out = np.zeros((len(texts), self.config["num_hidden_layers"] + 1, self.config["hidden_size"]), np.float32)
        for start in range(0, len(texts), batch_size):
            chosen = order[start : start + batch_size]
            out[chosen] = self.forward([all_ids[i] for i in chosen])
        return out


def normalised(a):
    return a / np.linalg.norm(a, axis=-1, keepdims=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--source", type=pathlib.Path, default=reference.SOURCE, help="sentence-transformers folder")
    ap.add_argument("--max-tokens", type=int, default=32, help="router.max_input_tokens")
    ap.add_argument("--c", type=float, default=30.0, help="inverse L2 strength of the regression")
    ap.add_argument("--results", type=pathlib.Path, default=ROOT / "bench" / "results")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as work:
        prepare_intent_sets(pathlib.Path(work))
        train, val = ([json.loads(line) for line in open(pathlib.Path(work) / f"banking77_inner_{split}.jsonl", encoding="utf-8")]
                      for split in ("train", "val"))
    pools = LayerPools(args.source, args.max_tokens)
    train_pools, val_pools = pools([r["text"] for r in train]), pools([r["text"] for r in val])
    tfidf = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
    train_words = tfidf.fit_transform([r["text"] for r in train])
    val_words = tfidf.transform([r["text"] for r in val])
    labels = np.array([r["label"] for r in val])

    def features(layer_pools, words, layers, weights):
        dense = np.concatenate([normalised(layer_pools[:, l]) * wt for l, wt in zip(layers, weights)], 1)
        return sparse.hstack([sparse.csr_matrix(dense), words]).tocsr()

    rows = []
    for layers, weights in CONFIGS:
        model = LogisticRegression(C=args.c, max_iter=3000)
        model.fit(features(train_pools, train_words, layers, weights), [r["label"] for r in train])
        accuracy = float((model.predict(features(val_pools, val_words, layers, weights)) == labels).mean())
        rows.append({"layers": list(layers), "weights": list(weights), "accuracy": accuracy})
        print(f"layers {layers} weights {weights}: {accuracy:.2%}", flush=True)

    lines = [f"| layers read (weights) | Banking77 nested 1/5 (n = {len(val)}), accuracy |", "|---|---:|"]
    lines += [f"| {', '.join(f'{l} ({w})' for l, w in zip(r['layers'], r['weights']))} | {r['accuracy']:.2%} |" for r in rows]
    write_results(args.results, "router-layer-pools",
                  {"max_tokens": args.max_tokens, "c": args.c, "n_train": len(train), "n_val": len(val), "rows": rows}, lines)


if __name__ == "__main__":
    main()
