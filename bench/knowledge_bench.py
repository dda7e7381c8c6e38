#!/usr/bin/env python3
"""Knowledge-base benchmarks: retrieval quality on ../shared/data/qa (XQuAD English and Chinese,
CMRC 2018 trial, and XQuAD cross-lingual), grounded answers end to end, and scale (HNSW over
synthetic vectors, query latency at 100k chunks).

    python3 bench/knowledge_bench.py                     # retrieval on every set
    python3 bench/knowledge_bench.py --answer 200        # + grounded answers with the local model
    python3 bench/knowledge_bench.py --scale             # + 1M vectors and 100k-chunk latency

Writes bench/results/knowledge.json and knowledge.md. Every run is `tandem kb eval` or
`tandem_knowledge_bench`, so each figure can be reproduced with the command printed beside it.
Standard library only.
"""

import argparse
import json
import pathlib
import subprocess
import sys

from bench_common import wait_for_quiet, write_xquad_sentences

ROOT = pathlib.Path(__file__).resolve().parent.parent
QA = ROOT.parent / "shared" / "data" / "qa"
BIN = ROOT / "build" / "bin"

SETS = [
    ("xquad-en", ["--squad", QA / "xquad.en.json"]),
    ("xquad-zh", ["--squad", QA / "xquad.zh.json"]),
    ("cmrc2018-trial", ["--squad", QA / "cmrc2018_trial.json"]),
    ("xquad zh questions -> en paragraphs", ["--squad", QA / "xquad.en.json", "--questions", QA / "xquad.zh.json"]),
    ("xquad en questions -> zh paragraphs", ["--squad", QA / "xquad.zh.json", "--questions", QA / "xquad.en.json"]),
]


def run_json(cmd):
    wait_for_quiet(0.15, 60, cmd[1])
    print("$", " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def table(results):
    """Every question, then the held-out half alone (settings are chosen on the other half)."""
    lines = ["| set | questions | mode | recall@1 | recall@5 | recall@10 | MRR | p50 ms | p95 ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        for questions, modes in (("all", r), ("held-out", r["holdout"])):
            for mode in ("bm25", "dense", "hybrid"):
                m = modes[mode]
                lines.append(f"| {name} | {questions} | {mode} | {m['recall_at_1']:.3f} | {m['recall_at_5']:.3f} "
                             f"| {m['recall_at_10']:.3f} | {m['mrr']:.3f} | {m['latency_ms_p50']:.1f} | {m['latency_ms_p95']:.1f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--answer", type=int, default=0, help="also answer the first N questions of xquad-en and cmrc")
    parser.add_argument("--scale", action="store_true", help="also run the HNSW and 100k-chunk latency benchmarks")
    args = parser.parse_args()
    results = {"retrieval": {}, "answers": {}, "scale": {}}
    for name, flags in SETS:
        results["retrieval"][name] = run_json([BIN / "tandem", "kb", "eval", *flags, "--json"])
    if args.answer:
        for name, flags in (SETS[0], SETS[2]):
            results["answers"][name] = run_json([BIN / "tandem", "kb", "eval", *flags, "--answer", args.answer, "--json"])["answer"]
    if args.scale:
        model = pathlib.Path.home() / ".cache" / "tandem" / "models" / "all-minilm-l6-v2-bf16.gguf"
        text = ROOT / "build" / "knowledge-bench-sentences.txt"
        write_xquad_sentences(QA / "xquad.en.json", text)
        results["scale"]["vectors_1m"] = run_json([BIN / "tandem_knowledge_bench", "vectors", 1000000, 200])
        results["scale"]["query_latency_100k"] = run_json([BIN / "tandem_knowledge_bench", "query-latency", 100000, text, model, 500])
    out = ROOT / "bench" / "results"
    (out / "knowledge.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "knowledge.md").write_text(table(results["retrieval"]) + "\n")
    print(table(results["retrieval"]))


if __name__ == "__main__":
    main()
