#!/usr/bin/env python3
"""Router benchmarks: intent accuracy (CLINC150, Banking77, Tandem's own taxonomy), out-of-scope
detection, router latency on one core, and routing quality on RouteLLM's outcomes.

    python3 bench/router_bench.py                 # writes bench/results/router.{json,md} and routing SVGs
    python3 bench/router_bench.py --intents-only  # intents and short-request latency: router-intents.{json,md}
    python3 bench/router_bench.py --banking77-nested "" --banking77-nested "--hidden-units 256"
        # choices for Banking77 on a split of its 90% training part: router-banking77-nested.{json,md}
    python3 bench/router_bench.py --weight-types f32,f16,bf16 --rounds 3
        # the embedding model converted with each weight type: CLINC150 accuracy, routing APGR and
        # latency, the types interleaved in every round: router-weight-types.{json,md}

Tuning data only: CLINC150 train -> val; Banking77 train split 90/10 by a hash of the text; the
taxonomy's own test file; RouteLLM split by domain (bench/routing/prepare_routellm.py). Latency is
measured one request at a time with one thread pinned to one core (`taskset -c 0`).
Standard library only.
"""

import argparse
import csv
import hashlib
import json
import pathlib
import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
from bench_common import run, run_json

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def prepare_intent_sets(out):
    clinc = json.loads((DATA / "clinc150" / "clinc150_train_val.json").read_text())
    write_jsonl(out / "clinc_train.jsonl", [{"text": t, "label": l} for t, l in clinc["train"] + clinc["oos_train"]])
    write_jsonl(out / "clinc_val.jsonl", [{"text": t, "label": l} for t, l in clinc["val"] + clinc["oos_val"]])
    train, val = [], []
    with open(DATA / "banking77" / "train.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            bucket = int(hashlib.sha256(row["text"].encode()).hexdigest(), 16) % 10
            (val if bucket == 0 else train).append({"text": row["text"], "label": row["category"]})
    write_jsonl(out / "banking77_train.jsonl", train)
    write_jsonl(out / "banking77_val.jsonl", val)
    # Nested validation: a fifth of the training part (by another digit of the same hash) to make
    # choices on, so the held-out 10% stays a test.
    inner_fifth = [int(hashlib.sha256(row["text"].encode()).hexdigest(), 16) // 10 % 5 == 0 for row in train]
    write_jsonl(out / "banking77_inner_train.jsonl", [r for r, inner in zip(train, inner_fifth) if not inner])
    write_jsonl(out / "banking77_inner_val.jsonl", [r for r, inner in zip(train, inner_fifth) if inner])
    return {
        "clinc150": (out / "clinc_train.jsonl", out / "clinc_val.jsonl"),
        "banking77": (out / "banking77_train.jsonl", out / "banking77_val.jsonl"),
        "tandem-taxonomy": (ROOT / "data/router/intents.train.jsonl", ROOT / "data/router/intents.test.jsonl"),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tandem", default=ROOT / "build/bin/tandem")
    ap.add_argument("--work", type=pathlib.Path, default=ROOT / "build/bench-router")
    ap.add_argument("--results", type=pathlib.Path, default=ROOT / "bench/results")
    ap.add_argument("--train-threads", type=int, default=2)
    ap.add_argument("--cloud-share", type=float, default=0.3, help="the knob whose calibration is checked")
    ap.add_argument("--intents-only", action="store_true",
                    help="skip routing; time the intent model alone on CLINC150 val (no quality-gap model)")
    ap.add_argument("--banking77-nested", action="append", metavar="OPTIONS",
                    help="only: train-intents with these extra options (repeatable, '' for the defaults) on 4/5 "
                         "of Banking77's training part, evaluated on the other 1/5")
    ap.add_argument("--weight-types", help="only: compare these `tandem convert --type` values, comma-separated")
    ap.add_argument("--rounds", type=int, default=3, help="latency rounds of --weight-types")
    args = ap.parse_args()
    if not DATA.exists():
        sys.exit(f"{DATA} is missing: these benchmarks need ../shared/data")
    args.work.mkdir(parents=True, exist_ok=True)
    one_core = ["taskset", "-c", "0"]
    results = {"intents": {}, "routing": {}, "latency": []}
    if args.banking77_nested is not None:
        banking77_nested(args, results, one_core)
        return
    if args.weight_types:
        weight_types(args, one_core)
        return

    # The router embeds the first router.max_input_tokens tokens: 32 (the default) and 128 (more
    # accurate on longer requests, slower).
    for name, (train, test) in prepare_intent_sets(args.work).items():
        for tokens in (32,) if args.intents_only else (32, 128):
            model = args.work / (f"{name}-model" if tokens == 32 else f"{name}-model-{tokens}")
            setting = ["--set", f"router.max_input_tokens={tokens}"]
            run([args.tandem, "router", "train-intents", "--data", train, "--out", model,
                 "--threads", args.train_threads] + setting)
            results["intents"][f"{name}, {tokens} tokens"] = run_json(
                one_core + [args.tandem, "router", "eval-intents", "--model", model, "--data", test,
                            "--threads", 1, "--json"] + setting)

    if args.intents_only:
        intents_only(args, results, one_core)
        return

    routing_data = args.work / "routing-data"
    run([sys.executable, ROOT / "bench/routing/prepare_routellm.py", "--out", routing_data])
    curves = []

    def train_and_evaluate(model, train, splits):
        run([args.tandem, "router", "train-routing", "--data", routing_data / train, "--out", model,
             "--threads", args.train_threads])
        for split in splits:
            result = run_json(one_core + [args.tandem, "router", "eval-routing", "--model", model,
                                          "--data", routing_data / f"{split}.jsonl", "--threads", 1,
                                          "--cloud-share", args.cloud_share, "--json"])
            (args.work / f"routing-{split}.json").write_text(json.dumps(result))
            curves.append(f"{split}={args.work / f'routing-{split}.json'}")
            results["routing"][split] = {k: v for k, v in result.items() if k != "curve"}

    routing_model = args.work / "routing-model"
    train_and_evaluate(routing_model, "train.jsonl", ("val", "test_mmlu", "test_gsm8k"))
    # GSM8K learnt from its own kind: trained on one half, tested on the other.
    train_and_evaluate(args.work / "routing-model-gsm8k-own", "gsm8k_own_train.jsonl", ("gsm8k_own_test",))
    # The router as a request meets it: intent (CLINC150 head) and quality gap on one embedding.
    texts = {
        "clinc150 val": [json.loads(l)["text"] for l in open(args.work / "clinc_val.jsonl", encoding="utf-8")],
        "taxonomy test": [json.loads(l)["text"] for l in open(ROOT / "data/router/intents.test.jsonl", encoding="utf-8")],
        "mmlu held-out": [json.loads(l)["prompt"]
                          for l in open(routing_data / "test_mmlu.jsonl", encoding="utf-8")][:1000],
    }
    for name, lines in texts.items():
        path = args.work / f"latency-{name.replace(' ', '-')}.txt"
        path.write_text("\n".join(t.replace("\n", " ") for t in lines) + "\n", encoding="utf-8")
        for tokens in (16, 32, 128):
            results["latency"].append({"texts": name, **run_json(one_core + [
                args.tandem, "router", "latency", "--texts", path, "--intent-model", args.work / "clinc150-model",
                "--quality-model", routing_model, "--set", f"router.max_input_tokens={tokens}", "--json"])})

    run([sys.executable, ROOT / "bench/routing/plot_routing.py", "--out", args.results / "routing_curves.svg",
         "--title", "Tandem quality-gap router: accuracy vs cloud share"] + sum([["--curve", c] for c in curves], []))

    lines = intent_table(results) + ["", f"| routing test | n | weak acc | strong acc | APGR | CPT(50%) | CPT(80%) | share at the {args.cloud_share:.0%} "
              "knob, calibrated threshold | accuracy | share, online controller | accuracy |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["routing"].items():
        lines.append(f"| {name} | {r['n']} | {r['weak_accuracy']:.1%} | {r['strong_accuracy']:.1%} | {r['apgr']:.3f} | "
                     f"{r['cpt50']:.1f}% | {r['cpt80']:.1f}% | {r['achieved_cloud_share']:.1%} | "
                     f"{r['accuracy_at_target']:.1%} | {r['online_cloud_share']:.1%} | {r['online_accuracy']:.1%} |")
    lines += latency_table(results, "intent + quality gap")
    write_results(args.results, "router", results, lines)


def intent_table(results):
    lines = ["| data set | n | in-scope accuracy | top-1 accuracy | OOS recall | OOS precision | latency p50 | latency p95 |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["intents"].items():
        lines.append(f"| {name} | {r['n']} | {r['in_scope_accuracy']:.2%} | {r['top1_accuracy']:.2%} | "
                     + (f"{r['oos_recall']:.0%} | {r['oos_precision']:.0%}" if r["out_of_scope"] else "- | -")
                     + f" | {r['latency_ms_p50']:.2f} ms | {r['latency_ms_p95']:.2f} ms |")
    return lines


def latency_table(results, models):
    lines = ["", f"| router latency ({models}, one embedding, 1 thread on 1 core) | n | tokens embedded | p50 | p95 |",
             "|---|---:|---:|---:|---:|"]
    for r in results["latency"]:
        lines.append(f"| {r['texts']} | {r['n']} | {r['max_input_tokens']} | {r['latency_ms_p50']:.2f} ms | "
                     f"{r['latency_ms_p95']:.2f} ms |")
    return lines


def write_results(directory, name, results, lines):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.json").write_text(json.dumps(results, indent=2) + "\n")
    (directory / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def intents_only(args, results, one_core):
    """Short-request latency of the CLINC150 head alone, next to the intent results."""
    texts = [json.loads(l)["text"] for l in open(args.work / "clinc_val.jsonl", encoding="utf-8")]
    path = args.work / "latency-clinc150-val.txt"
    path.write_text("\n".join(t.replace("\n", " ") for t in texts) + "\n", encoding="utf-8")
    no_quality_model = ["--set", "router.quality_model="]
    results["latency"].append({"texts": "clinc150 val", **run_json(one_core + [
        args.tandem, "router", "latency", "--texts", path, "--intent-model", args.work / "clinc150-model",
        "--set", "router.max_input_tokens=32", "--json"] + no_quality_model)})
    write_results(args.results, "router-intents", results, intent_table(results) + latency_table(results, "intent"))


def banking77_nested(args, results, one_core):
    prepare_intent_sets(args.work)
    for number, options in enumerate(args.banking77_nested):
        model = args.work / f"banking77-nested-{number}"
        run([args.tandem, "router", "train-intents", "--data", args.work / "banking77_inner_train.jsonl", "--out", model,
             "--threads", args.train_threads] + options.split())
        results["intents"][f"banking77 inner 1/5, {options or 'defaults'}"] = run_json(
            one_core + [args.tandem, "router", "eval-intents", "--model", model,
                        "--data", args.work / "banking77_inner_val.jsonl", "--threads", 1, "--json"])
    write_results(args.results, "router-banking77-nested", results, intent_table(results))


def weight_types(args, one_core):
    """Each weight type gets its own converted model and heads (a head only reads the model it was
    trained with); the latency rounds then run every type once per round, in a rotating order, so
    that a noisy moment of the machine falls on all of them."""
    types = args.weight_types.split(",")
    clinc_train, clinc_val = prepare_intent_sets(args.work)["clinc150"]
    routing_data = args.work / "routing-data"
    run([sys.executable, ROOT / "bench/routing/prepare_routellm.py", "--out", routing_data])
    source = pathlib.Path.home() / ".cache" / "tandem" / "models" / "all-MiniLM-L6-v2"
    work = args.work / "weight-types"
    work.mkdir(parents=True, exist_ok=True)
    results = {"types": {}, "rounds": []}
    for t in types:
        model = work / f"all-minilm-l6-v2-{t}.gguf"
        run([args.tandem, "convert", "--input", source, "--output", model, "--type", t])
        use = ["--set", f"engine.embedding_model={model}"]
        run([args.tandem, "router", "train-intents", "--data", clinc_train, "--out", work / f"clinc-{t}",
             "--threads", args.train_threads] + use)
        run([args.tandem, "router", "train-routing", "--data", routing_data / "train.jsonl", "--out",
             work / f"routing-{t}", "--threads", args.train_threads] + use)
        results["types"][t] = {
            "model_bytes": model.stat().st_size,
            "clinc150_val": run_json([args.tandem, "router", "eval-intents", "--model", work / f"clinc-{t}",
                                      "--data", clinc_val, "--threads", args.train_threads, "--json"] + use),
            "routing_test_mmlu": {k: v for k, v in run_json(
                [args.tandem, "router", "eval-routing", "--model", work / f"routing-{t}", "--data",
                 routing_data / "test_mmlu.jsonl", "--threads", args.train_threads, "--json"] + use).items()
                if k != "curve"},
        }
    texts = work / "latency-clinc150-val.txt"
    texts.write_text("\n".join(json.loads(l)["text"].replace("\n", " ")
                               for l in open(clinc_val, encoding="utf-8")) + "\n", encoding="utf-8")
    for r in range(args.rounds):
        latency = {}
        for t in types[r % len(types):] + types[:r % len(types)]:
            latency[t] = run_json(one_core + [
                args.tandem, "router", "latency", "--texts", texts, "--intent-model", work / f"clinc-{t}",
                "--quality-model", work / f"routing-{t}", "--set", f"engine.embedding_model={work}/all-minilm-l6-v2-{t}.gguf",
                "--json"])
        results["rounds"].append(latency)

    def median(values):
        values = sorted(values)
        return (values[(len(values) - 1) // 2] + values[len(values) // 2]) / 2

    base = types[0]
    lines = [f"| weight type | model MB | CLINC150 val in-scope | OOS recall | routing APGR (held-out MMLU) | "
             f"latency p50 | p95 | p50 / {base}'s, per round |", "|---|---:|---:|---:|---:|---:|---:|---|"]
    for t in types:
        r = results["types"][t]
        p50 = [round_[t]["latency_ms_p50"] for round_ in results["rounds"]]
        p95 = [round_[t]["latency_ms_p95"] for round_ in results["rounds"]]
        ratios = [round_[t]["latency_ms_p50"] / round_[base]["latency_ms_p50"] for round_ in results["rounds"]]
        r["latency_ms_p50_median"], r["latency_ms_p95_median"], r["p50_ratio_median"] = median(p50), median(p95), median(ratios)
        lines.append(f"| {t} | {r['model_bytes'] / 1e6:.1f} | {r['clinc150_val']['in_scope_accuracy']:.2%} | "
                     f"{r['clinc150_val']['oos_recall']:.0%} | {r['routing_test_mmlu']['apgr']:.3f} | "
                     f"{median(p50):.2f} ms | {median(p95):.2f} ms | {median(ratios):.2f} "
                     f"({', '.join(f'{x:.2f}' for x in ratios)}) |")
    write_results(args.results, "router-weight-types", results, lines)


if __name__ == "__main__":
    main()
