#!/usr/bin/env python3
"""Tandem's chat engine beside llama-bench: pp512 and tg128, same model, same threads.

Runs `llama-bench -m MODEL -p 512 -n 128 -t T -r R -o json` and `tandem_engine_bench
--benchmark_format=json` alternately (the order flips every round, so a drift in background load
hits both alike), computes Tandem/llama-bench per round and reports the median ratio over rounds.
Optionally (--concurrency) the same Tandem runs include BM_ConcurrentGeneration, giving the
aggregate throughput of 4 concurrent streams over 1 stream in each round.

    python3 bench/compare_llama_bench.py --threads 2 --rounds 5 --out bench/results/compare

writes OUT.json (every raw figure) and OUT.md (the table). Standard library only.

Both sides are measured as tokens / total time of their timed runs:
  llama-bench  pp: 512 * runs / sum(samples_ns); tg: 128 * runs / sum(samples_ns)
  Tandem       pp: processed prompt tokens / sum(prompt_ms)  (includes sampling the first token)
               tg: (completion_tokens - 1) / sum(generation_ms)
"""

import argparse
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
from bench_common import first_existing, median, run_measured, wait_for_quiet

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_MODEL = pathlib.Path.home() / ".cache/tandem/models/gemma-3-270m-q4_k_m.gguf"


def run_json(cmd, timeout):
    """The command's JSON output, plus the share of the CPUs other processes used meanwhile."""
    print("  $ " + " ".join(str(c) for c in cmd), file=sys.stderr, flush=True)
    proc, others = run_measured(cmd, timeout)
    if proc.returncode != 0:
        sys.exit(f"command failed ({proc.returncode}): {' '.join(map(str, cmd))}\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout), others


def llama_bench_round(args):
    cmd = [args.llama_bench, "-m", args.model, "-p", "512", "-n", "128", "-t", args.threads,
           "-r", args.repetitions, "-o", "json"]
    rows, others = run_json(cmd, args.timeout)
    out = {"others_busy": others}
    for row in rows:
        n = row["n_prompt"] + row["n_gen"]
        rate = n * len(row["samples_ns"]) / (sum(row["samples_ns"]) / 1e9)
        key = "pp" if row["n_gen"] == 0 else "tg"
        out[key] = rate
        out[key + "_avg_ts"] = row["avg_ts"]
        out[key + "_stddev_ts"] = row["stddev_ts"]
        out["flash_attn"] = row.get("flash_attn")
        out["n_batch"], out["n_ubatch"] = row.get("n_batch"), row.get("n_ubatch")
        out["cpu_info"] = row.get("cpu_info")
        out["build_commit"] = row.get("build_commit")
    return out


def tandem_round(args):
    bench_filter = "BM_PromptProcessing|BM_Generation"
    if args.concurrency:
        bench_filter += "|BM_ConcurrentGeneration"
    cmd = [args.engine_bench, f"--model={args.model}", f"--threads={args.threads}",
           f"--iterations={args.iterations}", f"--benchmark_filter={bench_filter}", "--benchmark_format=json"]
    report, others = run_json(cmd, args.timeout)
    out = {"others_busy": others}
    for b in report["benchmarks"]:
        name = b["name"]
        if name.startswith("BM_PromptProcessing"):
            out["pp"] = b["pp_tokens_per_second"]
            out["pp_processed_tokens"] = b["processed_tokens"]
        elif name.startswith("BM_Generation"):
            out["tg"] = b["tg_tokens_per_second"]
            out["tg_completion_tokens"] = b["completion_tokens"]
        elif name.startswith("BM_ConcurrentGeneration/streams:"):
            streams = name.split("streams:")[1].split("/")[0]
            out[f"streams{streams}"] = b["aggregate_tokens_per_second"]
            out[f"streams{streams}_completion_tokens"] = b["completion_tokens"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--repetitions", type=int, default=1, help="llama-bench -r per round")
    ap.add_argument("--iterations", type=int, default=1, help="Tandem requests per benchmark per round")
    ap.add_argument("--clean", type=float, default=0.10,
                    help="a round is clean when other processes used at most this share of the CPUs during both runs")
    ap.add_argument("--concurrency", action="store_true", help="also run 1 vs 4 concurrent streams")
    ap.add_argument("--build-dir", default=None, help="where bin/tandem_engine_bench lives")
    ap.add_argument("--llama-bench", default=None)
    ap.add_argument("--engine-bench", default=None)
    ap.add_argument("--timeout", type=int, default=1800)
    ap.add_argument("--max-busy", type=float, default=0.15,
                    help="before each run wait until other processes use at most this share of the CPUs (0: never wait)")
    ap.add_argument("--max-wait", type=float, default=120, help="seconds to wait for that, then measure anyway")
    ap.add_argument("--out", default=str(ROOT / "bench/results/compare_llama_bench"))
    args = ap.parse_args()

    build = pathlib.Path(args.build_dir) if args.build_dir else first_existing(ROOT / "build-bench", ROOT / "build")
    args.engine_bench = args.engine_bench or str(build / "bin/tandem_engine_bench")
    args.llama_bench = args.llama_bench or str(first_existing(build / "bin/llama-bench", ROOT / "build/bin/llama-bench"))

    rounds = []
    for i in range(args.rounds):
        print(f"round {i + 1}/{args.rounds}", file=sys.stderr, flush=True)
        first, second = (llama_bench_round, tandem_round) if i % 2 == 0 else (tandem_round, llama_bench_round)
        busy = [wait_for_quiet(args.max_busy, args.max_wait)]
        a = first(args)
        busy.append(wait_for_quiet(args.max_busy, args.max_wait))
        b = second(args)
        llama, tandem = (a, b) if i % 2 == 0 else (b, a)
        r = {"llama": llama, "tandem": tandem, "busy_before_runs": busy,
             "pp_ratio": tandem["pp"] / llama["pp"], "tg_ratio": tandem["tg"] / llama["tg"]}
        if args.concurrency:
            r["streams_ratio"] = tandem["streams4"] / tandem["streams1"]
        r["clean"] = max(llama["others_busy"], tandem["others_busy"]) <= args.clean
        rounds.append(r)
        print(f"  pp512 llama-bench {llama['pp']:.1f} t/s, Tandem {tandem['pp']:.1f} t/s, ratio {r['pp_ratio']:.3f}; "
              f"tg128 llama-bench {llama['tg']:.1f} t/s, Tandem {tandem['tg']:.1f} t/s, ratio {r['tg_ratio']:.3f}"
              + (f"; 4 vs 1 streams {r['streams_ratio']:.2f}x" if args.concurrency else "")
              + f" (others busy during llama-bench {llama['others_busy']:.0%}, Tandem {tandem['others_busy']:.0%})",
              file=sys.stderr, flush=True)
        write_report(args, rounds, final=i + 1 == args.rounds)


def write_report(args, rounds, final):
    """Writes OUT.json and OUT.md (after every round, so an interrupted run keeps what it measured)."""

    def medians(rs):
        m = {k: median([r[side][key] for r in rs]) for k, side, key in (
            ("llama_pp", "llama", "pp"), ("tandem_pp", "tandem", "pp"),
            ("llama_tg", "llama", "tg"), ("tandem_tg", "tandem", "tg"))}
        m["pp_ratio"] = median([r["pp_ratio"] for r in rs])
        m["tg_ratio"] = median([r["tg_ratio"] for r in rs])
        if args.concurrency:
            m["tandem_streams1"] = median([r["tandem"]["streams1"] for r in rs])
            m["tandem_streams4"] = median([r["tandem"]["streams4"] for r in rs])
            m["streams_ratio"] = median([r["streams_ratio"] for r in rs])
        return m

    clean = [r for r in rounds if r["clean"]]
    summary = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cpu": rounds[0]["llama"].get("cpu_info") or platform.processor(), "cores": os.cpu_count()},
        "model": args.model, "threads": args.threads, "rounds": len(rounds), "clean_rounds": len(clean),
        "clean_threshold": args.clean, "llama_bench_repetitions": args.repetitions, "tandem_iterations": args.iterations,
        "llama_bench_settings": {k: rounds[0]["llama"].get(k) for k in ("flash_attn", "n_batch", "n_ubatch", "build_commit")},
        "median": medians(rounds),
        "median_clean": medians(clean) if clean else None,
        "rounds_detail": rounds,
    }
    lines = [
        f"Tandem engine vs llama-bench, {os.path.basename(args.model)}, {args.threads} threads, {args.rounds} "
        f"interleaved rounds ({len(clean)} clean: other processes used <= {args.clean:.0%} of the CPUs during both "
        f"runs); medians; {summary['date']}",
        "",
        "| test | rounds | llama-bench t/s | Tandem t/s | Tandem / llama-bench (median of per-round ratios) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    sets = [("all", rounds, summary["median"])] + ([("clean", clean, summary["median_clean"])] if clean else [])
    for test in ("pp", "tg"):
        for label, rs, m in sets:
            lines.append(f"| {test}{512 if test == 'pp' else 128} | {label} ({len(rs)}) | {m['llama_' + test]:.1f} | "
                         f"{m['tandem_' + test]:.1f} | {m[test + '_ratio']:.3f} |")
    lines += ["", "Per-round ratios pp512: " + ", ".join(f"{r['pp_ratio']:.3f}" + ("" if r["clean"] else "*") for r in rounds),
              "Per-round ratios tg128: " + ", ".join(f"{r['tg_ratio']:.3f}" + ("" if r["clean"] else "*") for r in rounds),
              "(* = not clean)"]
    if args.concurrency:
        lines += [
            "",
            "| Tandem aggregate generation, 128 tokens per stream, greedy | rounds | 1 stream t/s | 4 streams t/s | 4 / 1 |",
            "| --- | --- | ---: | ---: | ---: |",
        ]
        for label, rs, m in sets:
            lines.append(f"| | {label} ({len(rs)}) | {m['tandem_streams1']:.1f} | {m['tandem_streams4']:.1f} | "
                         f"{m['streams_ratio']:.2f}x |")
    table = "\n".join(lines) + "\n"
    if final:
        print(table)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)
    if final:
        print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}", file=sys.stderr)


if __name__ == "__main__":
    main()
