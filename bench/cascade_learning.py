#!/usr/bin/env python3
"""tandem/cascade's verdicts as training data for the quality-gap model (router.cascade_outcomes).

    python3 bench/cascade_learning.py      # ~32 min on 2 cores; bench/results/cascade_learning.{json,md}

A cascade answers locally first and escalates when the answer's mean token log-probability is
below router.cascade_min_mean_logprob; every verdict is kept as a routing example
({"prompt", "weak_correct": kept, "strong_correct": true}). If the prompt alone predicts the
verdict, the quality-gap model trained on those examples can route straight to the cloud what the
cascade would escalate, and the wasted local attempt is saved.

What it does: RouteLLM's MMLU prompts (bench/routing/prepare_routellm.py's domain split) go to
`tandem serve` as tandem/cascade requests, one at a time (default chat model, max_tokens 16,
temperature 0), one server per split so that each split's verdicts land in their own file. The
cloud is a loopback port nobody listens on: the verdict is kept before the cloud is asked, so
every escalation falls back to the local answer at once. Then `tandem router train-routing` on
the training domains' verdicts and `eval-routing` on the validation questions of the same domains
and on the held-out domains. With strong_correct always true, APGR reads as "how well the prompt
ranks the cascade's escalations" (0.5: not at all, 1: perfectly), and the accuracy at a cloud
share as "requests that get an answer the cascade accepts in one attempt".
"""

import argparse
import json
import os
import pathlib
import random
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
from bench_common import free_port, http_json, run, run_json, start_tandem_serve, stop

ROOT = pathlib.Path(__file__).resolve().parent.parent


def cascade_verdicts(args, prompts, outcomes, data_dir, log):
    """Sends each prompt as tandem/cascade to a fresh server that keeps its verdicts in `outcomes`.
    A request the privacy policy keeps on the device (a sensitive intent, a blocked type) is
    answered locally without a cascade, and leaves no verdict."""
    env = dict(os.environ, TANDEM_DATA=str(data_dir), TANDEM_ENGINE_THREADS=str(args.threads), TANDEM_LOG_LEVEL="warn")
    settings = {"router.cascade_outcomes": outcomes, "security.encryption": "off",
                "cloud.base_url": f"http://127.0.0.1:{free_port()}/v1", "cloud.model": "none",
                "cloud.max_retries": 0, "cloud.circuit_failures": 0, "knowledge.rerank": 0}
    cmd = [args.tandem] + sum([["--set", f"{k}={v}"] for k, v in settings.items()], []) + [
        "serve", "--host", "127.0.0.1", "--port", "0", "--single-user"]
    proc, port = start_tandem_serve(cmd, env, log)
    try:
        for i, prompt in enumerate(prompts):
            status, body = http_json(port, "POST", "/v1/chat/completions", {
                "model": "tandem/cascade", "messages": [{"role": "user", "content": prompt}],
                "max_tokens": args.max_tokens, "temperature": 0}, timeout=300)
            if status != 200:
                raise RuntimeError(f"cascade request {i} answered {status}: {body[:300]!r}")
            if (i + 1) % 100 == 0:
                print(f"  {outcomes.name}: {i + 1}/{len(prompts)}", file=sys.stderr, flush=True)
    finally:
        stop(proc)


def learn_at(args, threshold, kept):
    """The verdicts a cascade at `threshold` would have given, written per split; train-routing on
    the training split's, eval-routing on the others' at the training escalation rate."""
    scores = {}
    for name, verdicts in kept.items():
        relabelled = [dict(v, weak_correct=v["mean_logprob"] >= threshold) for v in verdicts]
        with open(args.work / f"cascade-{name}-at{threshold}.jsonl", "w", encoding="utf-8") as f:
            f.writelines(json.dumps(v, ensure_ascii=False) + "\n" for v in relabelled)
        scores[name] = {"escalated": sum(not v["weak_correct"] for v in relabelled) / len(relabelled)}
    model = args.work / f"routing-model-at{threshold}"
    run([args.tandem, "router", "train-routing", "--data", args.work / f"cascade-train-at{threshold}.jsonl",
         "--out", model, "--threads", args.threads])
    for name in ("val", "test_mmlu"):
        evaluation = run_json([args.tandem, "router", "eval-routing", "--model", model, "--data",
                               args.work / f"cascade-{name}-at{threshold}.jsonl", "--threads", 1,
                               "--cloud-share", round(scores["train"]["escalated"], 3), "--json"])
        scores[name].update({k: v for k, v in evaluation.items() if k != "curve"})
    return scores


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tandem", default=ROOT / "build/bin/tandem")
    ap.add_argument("--work", type=pathlib.Path, default=ROOT / "build/bench-cascade")
    ap.add_argument("--results", type=pathlib.Path, default=ROOT / "bench/results")
    ap.add_argument("--train", type=int, default=1500, help="training-domain prompts (a seeded sample)")
    ap.add_argument("--val", type=int, default=0, help="validation prompts of the training domains (0: all 577)")
    ap.add_argument("--held-out", type=int, default=600, help="held-out-domain prompts (a seeded sample)")
    ap.add_argument("--max-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reuse-verdicts", action="store_true",
                    help="train and evaluate on the verdicts an earlier run left in --work, without requests")
    ap.add_argument("--thresholds", default="-1.0",
                    help="comma-separated cascade thresholds to learn (the verdicts keep each local answer's mean "
                         "log-probability, so any threshold's verdicts follow without new requests; -1.0 is the "
                         "server's default, the one the requests ran at)")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    routing_data = args.work / "routing-data"
    subprocess.run([sys.executable, ROOT / "bench/routing/prepare_routellm.py", "--out", routing_data], check=True,
                   stdout=subprocess.DEVNULL)

    def prompts(name, count=None):
        lines = [json.loads(l)["prompt"] for l in open(routing_data / f"{name}.jsonl", encoding="utf-8")]
        return random.Random(7).sample(lines, count) if count and count < len(lines) else lines

    splits = {"train": prompts("train", args.train), "val": prompts("val", args.val),
              "test_mmlu": prompts("test_mmlu", args.held_out)}
    results = {"max_tokens": args.max_tokens, "splits": {}}
    if not args.reuse_verdicts:
        with tempfile.TemporaryDirectory() as data_dir, open(args.work / "serve.log", "w") as log:
            for name, texts in splits.items():
                outcomes = args.work / f"cascade-{name}.jsonl"
                outcomes.unlink(missing_ok=True)
                cascade_verdicts(args, texts, outcomes, data_dir, log)
    kept = {name: [json.loads(line) for line in open(args.work / f"cascade-{name}.jsonl", encoding="utf-8")]
            for name in splits}
    results["splits"] = {name: {"requests": len(texts), "n": len(kept[name])} for name, texts in splits.items()}
    results["thresholds"] = {}
    for threshold in [float(t) for t in args.thresholds.split(",")]:
        results["thresholds"][str(threshold)] = learn_at(args, threshold, kept)
    args.results.mkdir(parents=True, exist_ok=True)
    (args.results / "cascade_learning.json").write_text(json.dumps(results, indent=1) + "\n")
    # Routing by chance at the same cloud share gains the escalated share of what it sends.
    lines = ["| threshold | verdicts of | requests | cascaded | escalated | APGR | CPT(50%) | CPT(80%) | cloud share "
             "at the training escalation rate | accepted in one attempt there | random router there | all local |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for threshold, scores in results["thresholds"].items():
        for name, r in scores.items():
            counts = results["splits"][name]
            head = f"| {threshold} | {name} | {counts['requests']} | {counts['n']} | {r['escalated']:.1%} |"
            if "apgr" not in r:
                lines.append(head[:head.index(name) + len(name)] + " (trained on)" + head[head.index(name) + len(name):]
                             + " | | | | | | |")
                continue
            weak, share = r["weak_accuracy"], r["achieved_cloud_share"]
            lines.append(f"{head} {r['apgr']:.3f} | {r['cpt50']:.1f}% | {r['cpt80']:.1f}% | {share:.1%} | "
                         f"{r['accuracy_at_target']:.1%} | {weak + share * (1 - weak):.1%} | {weak:.1%} |")
    (args.results / "cascade_learning.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
