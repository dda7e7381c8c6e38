"""`tandem embed` against an independent reference: a numpy BERT forward pass over the original
model.safetensors with a from-scratch WordPiece tokenizer, mean pooling and L2 normalisation
(what sentence-transformers computes for all-MiniLM-L6-v2). Every sentence must reach cosine
>= 0.999, so both the GGUF conversion and llama.cpp's tokenizer and graph are checked.

Environment: TANDEM_BIN (the binary), TANDEM_TEST_EMBEDDING_MODEL (the converted GGUF; converted
into a temporary folder when absent), TANDEM_TEST_EMBEDDING_SOURCE (the safetensors folder).
"""

import json
import math
import os
import struct
import subprocess
import unicodedata
from pathlib import Path

import numpy as np
import pytest

MODELS = Path.home() / ".cache" / "tandem" / "models"
REPO = Path(__file__).resolve().parents[2]
TANDEM_BIN = os.environ.get("TANDEM_BIN") or str(REPO / "build" / "bin" / "tandem")
MODEL = Path(os.environ.get("TANDEM_TEST_EMBEDDING_MODEL") or MODELS / "all-minilm-l6-v2-bf16.gguf")
SOURCE = Path(os.environ.get("TANDEM_TEST_EMBEDDING_SOURCE") or MODELS / "all-MiniLM-L6-v2")

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Unbelievably, the CAFÉ reopened on Tuesday!",
    "Tokenizers split words like 'preprocessing' into word-pieces.",
    "I don't think 3.14 is exactly pi, do you?",
    "Semantic search ranks documents by meaning rather than keywords.",
    "hello",
]


# --- safetensors -------------------------------------------------------------------------------

DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or info["dtype"] not in DTYPES:
            continue
        begin, end = info["data_offsets"]
        array = np.frombuffer(data[base + begin : base + end], dtype=DTYPES[info["dtype"]])
        tensors[name.removeprefix("bert.")] = array.astype(np.float64).reshape(info["shape"])
    return tensors


# --- BERT WordPiece tokenizer (uncased) --------------------------------------------------------


def is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def is_cjk(cp):
    return (
        0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
        or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F
    )


def basic_tokenize(text):
    cleaned = []
    for ch in text:
        cp = ord(ch)
        if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
            continue
        if ch.isspace():
            cleaned.append(" ")
        elif is_cjk(cp):
            cleaned.append(f" {ch} ")
        else:
            cleaned.append(ch)
    words = []
    for word in "".join(cleaned).split():
        word = unicodedata.normalize("NFD", word.lower())
        word = "".join(ch for ch in word if unicodedata.category(ch) != "Mn")
        current = ""
        for ch in word:
            if is_punctuation(ch):
                if current:
                    words.append(current)
                words.append(ch)
                current = ""
            else:
                current += ch
        if current:
            words.append(current)
    return words


def wordpiece(word, vocab):
    if len(word) > 100:
        return ["[UNK]"]
    pieces, start = [], 0
    while start < len(word):
        end = len(word)
        while end > start:
            piece = word[start:end] if start == 0 else "##" + word[start:end]
            if piece in vocab:
                break
            end -= 1
        if end == start:
            return ["[UNK]"]
        pieces.append(piece)
        start = end
    return pieces


def tokenize(text, vocab):
    pieces = ["[CLS]"] + [p for w in basic_tokenize(text) for p in wordpiece(w, vocab)] + ["[SEP]"]
    return [vocab[p] for p in pieces]


# --- forward pass ------------------------------------------------------------------------------

erf = np.vectorize(math.erf)


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def linear(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def bert_sentence_embedding(ids, w, config):
    eps = config["layer_norm_eps"]
    heads = config["num_attention_heads"]
    n = len(ids)
    x = w["embeddings.word_embeddings.weight"][ids]
    x = x + w["embeddings.position_embeddings.weight"][:n] + w["embeddings.token_type_embeddings.weight"][0]
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    head_dim = x.shape[1] // heads
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (linear(x, w, p + "attention.self." + t).reshape(n, heads, head_dim).transpose(1, 0, 2)
                   for t in ("query", "key", "value"))
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        probs = scores / scores.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(n, -1)
        attn = linear(context, w, p + "attention.output.dense")
        x = layer_norm(x + attn, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps)
        hidden = linear(x, w, p + "intermediate.dense")
        hidden = 0.5 * hidden * (1.0 + erf(hidden / math.sqrt(2.0)))  # exact GELU, as "hidden_act": "gelu"
        out = linear(hidden, w, p + "output.dense")
        x = layer_norm(x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    pooled = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


# --- fixtures and test -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reference():
    assert (SOURCE / "model.safetensors").is_file(), f"{SOURCE} is missing: run scripts/setup.sh"
    config = json.loads((SOURCE / "config.json").read_text())
    lines = (SOURCE / "vocab.txt").read_text(encoding="utf-8").removesuffix("\n").split("\n")
    vocab = {token: index for index, token in enumerate(lines)}
    weights = read_safetensors(SOURCE / "model.safetensors")
    return [bert_sentence_embedding(tokenize(s, vocab), weights, config) for s in SENTENCES]


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    if MODEL.is_file():
        return MODEL
    converted = tmp_path_factory.mktemp("embedding") / "all-minilm-l6-v2-bf16.gguf"
    run = subprocess.run([TANDEM_BIN, "convert", "--input", str(SOURCE), "--output", str(converted)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return converted


def test_wordpiece_reference_tokenizer():
    vocab = {"[CLS]": 0, "[SEP]": 1, "[UNK]": 2, "un": 3, "##believ": 4, "##ably": 5, ",": 6, "cafe": 7}
    assert tokenize("Unbelievably, CAFÉ", vocab) == [0, 3, 4, 5, 6, 7, 1]
    assert tokenize("zebra", vocab) == [0, 2, 1]


def test_embed_matches_numpy_bert(reference, model_path):
    run = subprocess.run([TANDEM_BIN, "embed", "--model", str(model_path), *SENTENCES],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    output = json.loads(run.stdout)
    assert output["dimensions"] == 384
    assert output["model"] == model_path.stem
    assert len(output["data"]) == len(SENTENCES)
    for sentence, expected, actual in zip(SENTENCES, reference, output["data"]):
        actual = np.asarray(actual, dtype=np.float64)
        assert actual.shape == (384,)
        assert abs(np.linalg.norm(actual) - 1.0) < 1e-4
        cosine = float(actual @ expected)
        print(f"cosine {cosine:.6f}  {sentence}")
        assert cosine >= 0.999, f"{sentence!r}: cosine {cosine:.6f} against the numpy reference"


def test_embed_rejects_empty_text(model_path):
    run = subprocess.run([TANDEM_BIN, "embed", "--model", str(model_path), "fine", ""],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "empty" in run.stderr
    assert run.stdout == ""
