#!/usr/bin/env python3
"""What relearning (router.relearn_every) is worth: the intent classifier's accuracy and the share
of requests it has to ask the large model about, as it learns from the large model's answers.

    python3 bench/relearning.py      # ~50 min on 2 cores; bench/results/relearning.{json,md,svg}
    python3 bench/relearning.py --ask-below 0.8 --windows 4 --name relearning-ask-0.8

The loop is the server's, step by step: a classifier trained on a seed set serves a stream of
requests; a request whose confidence is below router.ask_cloud_below (0.5) is classified by the
large model and kept; after each window of the stream the classifier is trained again, with the
options its model.json records (what IntentRelearner does), on the seed plus everything kept.
The large model is an oracle here, the gold label: this measures what the small model can learn
from a large model that is right, an upper bound for a real one.

Data: CLINC150 train (the seed: the first `--seed-per-intent` examples of each intent and of
out-of-scope; the stream: the rest, shuffled with a fixed seed) and CLINC150 validation to score
each round (eval-intents). Tuning data only: the test split is not in ../shared/data. For
comparison, each round also trains on the seed plus every request of the stream so far, as if the
large model had labelled them all ("all labelled").
"""

import argparse
import json
import math
import pathlib
import random
import subprocess
import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
from bench_common import run, run_json

ROOT = pathlib.Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for text, label in rows:
            f.write(json.dumps({"text": text, "label": label}, ensure_ascii=False) + "\n")


def classify(tandem, model, texts):
    """The confidence of each text under `model` (router classify prints one JSON object per text)."""
    out = subprocess.run([str(tandem), "router", "classify", "--model", str(model)] + texts,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True, text=True).stdout
    return [json.loads(line)["confidence"] for line in out.splitlines()]


def svg_plot(rounds, path):
    """Accuracy (left axis) and the share asked (right axis) over requests seen."""
    w, h, left, right, top, bottom = 640, 360, 60, 60, 20, 50
    xs = [r["requests_seen"] for r in rounds]
    x_max = max(xs) or 1
    px = lambda x: left + (w - left - right) * x / x_max
    py = lambda y, lo, hi: top + (h - top - bottom) * (1 - (y - lo) / (hi - lo))
    acc = [100 * r["relearned"]["in_scope_accuracy"] for r in rounds]
    full = [100 * r["all_labelled"]["in_scope_accuracy"] for r in rounds]
    asked = [100 * r["asked_share_next"] for r in rounds if r["asked_share_next"] is not None]
    lo, hi = min(acc + full) - 1, max(acc + full) + 1
    asked_hi = 10 * math.ceil(max(asked) / 5)  # twice the largest share, in steps of 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" '
             f'font-size="12"><rect width="{w}" height="{h}" fill="white"/>']

    def line(values, color, scale, dash=""):
        points = " ".join(f"{px(x):.1f},{scale(v):.1f}" for x, v in zip(xs, values))
        parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2" {dash}/>')

    line(acc, "#1f77b4", lambda v: py(v, lo, hi))
    line(full, "#1f77b4", lambda v: py(v, lo, hi), 'stroke-dasharray="5,4"')
    line(asked, "#d62728", lambda v: py(v, 0, asked_hi))
    parts.append(f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="black"/>')
    parts.append(f'<text x="{w / 2}" y="{h - 15}" text-anchor="middle">requests seen</text>')
    parts.append(f'<text x="10" y="{top + 10}" fill="#1f77b4">in-scope accuracy {lo:.0f}-{hi:.0f}%</text>')
    parts.append(f'<text x="{w - 10}" y="{top + 10}" fill="#d62728" text-anchor="end">asked the large model '
                 f'0-{asked_hi}%</text>')
    parts.append(f'<text x="{left + 10}" y="{top + 28}">solid blue: relearned from the asked; dashed: all '
                 f'labelled; red: asked in the next window</text>')
    for x in xs:
        parts.append(f'<text x="{px(x):.1f}" y="{h - bottom + 15}" text-anchor="middle">{x}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tandem", default=ROOT / "build/bin/tandem")
    ap.add_argument("--work", type=pathlib.Path, default=ROOT / "build/bench-relearning")
    ap.add_argument("--results", type=pathlib.Path, default=ROOT / "bench/results")
    ap.add_argument("--seed-per-intent", type=int, default=10)
    ap.add_argument("--window", type=int, default=500, help="requests between retrainings")
    ap.add_argument("--windows", type=int, default=6)
    ap.add_argument("--ask-below", type=float, default=0.5, help="router.ask_cloud_below")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--name", default="relearning", help="of the results files")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    args.results.mkdir(parents=True, exist_ok=True)

    clinc = json.loads((DATA / "clinc150" / "clinc150_train_val.json").read_text())
    seed, rest, taken = [], [], {}
    for text, label in clinc["train"] + clinc["oos_train"]:
        taken[label] = taken.get(label, 0) + 1
        (seed if taken[label] <= args.seed_per_intent else rest).append((text, label))
    random.Random(7).shuffle(rest)
    stream = rest[: args.window * args.windows]
    val = args.work / "val.jsonl"
    write_jsonl(val, clinc["val"] + clinc["oos_val"])

    def train(name, rows):
        data = args.work / f"{name}.jsonl"
        write_jsonl(data, rows)
        model = args.work / name
        run([args.tandem, "router", "train-intents", "--data", data, "--out", model, "--threads", args.threads])
        return model

    def evaluate(model):
        return run_json([args.tandem, "router", "eval-intents", "--model", model, "--data", val,
                         "--threads", args.threads, "--json"])

    learned, rounds = [], []
    model = train("round-0", seed)
    for k in range(args.windows + 1):
        seen = k * args.window
        result = {"requests_seen": seen, "learned": len(learned), "relearned": evaluate(model)}
        result["all_labelled"] = result["relearned"] if k == 0 else evaluate(
            train(f"all-{k}", seed + stream[:seen]))
        result["asked_share_next"] = None
        if k < args.windows:
            window = stream[seen: seen + args.window]
            confidences = classify(args.tandem, model, [t for t, _ in window])
            asked = [row for row, c in zip(window, confidences) if c < args.ask_below]
            result["asked_share_next"] = len(asked) / len(window)
            learned += asked  # the large model's answers: the gold labels
            model = train(f"round-{k + 1}", seed + learned)
        rounds.append(result)
        print(json.dumps(result), file=sys.stderr, flush=True)

    summary = {"seed_examples": len(seed), "window": args.window, "ask_below": args.ask_below, "rounds": rounds,
               "command": "python3 bench/relearning.py " + " ".join(sys.argv[1:])}
    (args.results / f"{args.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    lines = [f"Seed: {len(seed)} CLINC150 training examples ({args.seed_per_intent} per intent and out-of-scope); "
             f"a retraining every {args.window} requests; asked below confidence {args.ask_below}.", "",
             "| requests seen | learned (asked) | in-scope accuracy | OOS recall | asked in the next window | "
             "all labelled: in-scope | OOS recall |", "|---|---|---|---|---|---|---|"]
    for r in rounds:
        asked = "" if r["asked_share_next"] is None else f"{100 * r['asked_share_next']:.1f}%"
        lines.append(f"| {r['requests_seen']} | {r['learned']} | {100 * r['relearned']['in_scope_accuracy']:.2f}% | "
                     f"{100 * r['relearned']['oos_recall']:.1f}% | {asked} | "
                     f"{100 * r['all_labelled']['in_scope_accuracy']:.2f}% | "
                     f"{100 * r['all_labelled']['oos_recall']:.1f}% |")
    (args.results / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    svg_plot(rounds, args.results / f"{args.name}.svg")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
