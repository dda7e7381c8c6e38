#!/usr/bin/env python3
"""`tandem serve` beside `llama-server` over HTTP: time to first token and tokens/s, client side.

Starts both servers on 127.0.0.1 (Tandem with --port 0, llama-server on a free port), same model,
same threads, then sends the same streaming chat completion (greedy, fixed max_tokens,
stream_options.include_usage) to each in turn, alternating which goes first, N times, and reports
medians and Tandem/llama-server ratios. Both servers are always terminated at the end.

    python3 bench/http_bench.py --threads 2 --requests 20 --out bench/results/http_bench

writes OUT.json (every request) and OUT.md (the table). Standard library only.

Per request, measured by this client (time.perf_counter around one HTTP/1.1 connection):
  ttft_ms     request sent -> first SSE chunk with non-empty delta.content
  decode_tps  (completion_tokens - 1) / (last content chunk - first content chunk)
  e2e_tps     completion_tokens / (request sent -> [DONE])
Tandem's added latency: its final chunk carries the engine's own timings (`tandem.timings`), so
  added_ms = client ttft_ms - engine time_to_first_token_ms
is what HTTP, JSON parsing, the chat template, tokenisation and SSE cost in front of the engine
for that very request. The same is computed for llama-server from its `timings.prompt_ms`
(its prompt processing time, which also ends when the first token is sampled), and the plain
TTFT difference Tandem - llama-server is reported too.
"""

import argparse
import datetime
import http.client
import json
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
from bench_common import (OthersMeter, first_existing, free_port, http_json, median, start_tandem_serve, stop,
                          wait_for_quiet, wait_ready)

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_MODEL = pathlib.Path.home() / ".cache/tandem/models/gemma-3-270m-q4_k_m.gguf"
DEFAULT_PROMPT = ("Write a long, detailed essay of at least 1500 words about the history of the Roman Empire, "
                  "from its founding to its fall.")


def start_tandem(args, log):
    env = dict(os.environ, TANDEM_ENGINE_THREADS=str(args.threads), TANDEM_LOG_LEVEL="warn")
    print("  TANDEM_ENGINE_THREADS=%d" % args.threads, file=sys.stderr, flush=True)
    cmd = [args.tandem, "serve", "--host", "127.0.0.1", "--port", "0", "--single-user", "--model", args.model]
    return start_tandem_serve(cmd, env, log)


def start_llama_server(args, log):
    port = free_port()
    cmd = [args.llama_server, "-m", args.model, "--host", "127.0.0.1", "--port", str(port), "-t", str(args.threads),
           "-np", "1", "-c", str(args.llama_ctx)] + args.llama_server_args
    print("  $ " + " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, text=True)
    wait_ready(proc, port, "llama-server")
    return proc, port


def stream_chat(port, model, prompt, max_tokens, timeout=600):
    body = json.dumps({
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "temperature": 0,
        "max_tokens": max_tokens,
        "stream": True,
        "stream_options": {"include_usage": True},
    })
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        t_send = time.perf_counter()
        conn.request("POST", "/v1/chat/completions", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise RuntimeError(f"HTTP {resp.status}: {resp.read()[:500]!r}")
        t_first = t_last = None
        chunks, text, usage, tandem, timings = 0, [], None, None, None
        while True:
            line = resp.readline()
            if not line:
                break
            line = line.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            event = json.loads(data)
            now = time.perf_counter()
            for choice in event.get("choices") or []:
                content = (choice.get("delta") or {}).get("content")
                if content:
                    if t_first is None:
                        t_first = now
                    t_last = now
                    chunks += 1
                    text.append(content)
            if event.get("usage"):
                usage = event["usage"]
            if event.get("tandem"):
                tandem = event["tandem"]
            if event.get("timings"):
                timings = event["timings"]
        t_done = time.perf_counter()
    finally:
        conn.close()
    if t_first is None or usage is None:
        raise RuntimeError("stream without content or usage")
    n = usage["completion_tokens"]
    r = {
        "ttft_ms": (t_first - t_send) * 1000,
        "decode_tps": (n - 1) / (t_last - t_first) if n > 1 and t_last > t_first else float("nan"),
        "e2e_tps": n / (t_done - t_send),
        "total_ms": (t_done - t_send) * 1000,
        "completion_tokens": n,
        "prompt_tokens": usage.get("prompt_tokens"),
        "chunks": chunks,
        "text": "".join(text),
    }
    if tandem:
        t = tandem["timings"]
        r["server_ttft_ms"] = t["time_to_first_token_ms"]
        r["server_prompt_ms"] = t["prompt_ms"]
        r["server_tps"] = (n - 1) / (t["generation_ms"] / 1000) if n > 1 and t["generation_ms"] > 0 else float("nan")
        r["added_ms"] = r["ttft_ms"] - t["time_to_first_token_ms"]
    elif timings:
        r["server_ttft_ms"] = timings.get("prompt_ms")
        r["server_prompt_ms"] = timings.get("prompt_ms")
        r["server_tps"] = timings.get("predicted_per_second")
        r["added_ms"] = r["ttft_ms"] - timings.get("prompt_ms", 0.0)
    return r


def model_id(port):
    status, body = http_json(port, "GET", "/v1/models")
    if status != 200:
        return ""
    data = json.loads(body).get("data") or []
    return data[0]["id"] if data else ""


def percentile(values, q):
    values = sorted(v for v in values if v == v)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--requests", type=int, default=20, help="measured requests per server")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured requests per server first")
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--prompt", default=DEFAULT_PROMPT)
    ap.add_argument("--llama-ctx", type=int, default=2048,
                    help="llama-server -c (Tandem's default is 8192 cells over 4 slots = 2048 per request)")
    ap.add_argument("--clean", type=float, default=0.10,
                    help="a pair is clean when other processes used at most this share of the CPUs during it")
    ap.add_argument("--llama-server-args", nargs=argparse.REMAINDER,
                    default=["--no-jinja", "--chat-template", "gemma", "--swa-full", "--no-kv-unified"],
                    help="extra llama-server arguments, last (default: the GGUF has no chat template, so Tandem "
                         "falls back to llama.cpp's built-in 'gemma' and llama-server is told the same; plus "
                         "Tandem's KV layout, so both see the same prompt tokens and give the same greedy text)")
    ap.add_argument("--build-dir", default=None)
    ap.add_argument("--tandem", default=None)
    ap.add_argument("--llama-server", default=None)
    ap.add_argument("--max-busy", type=float, default=0.15,
                    help="before each pair wait until other processes use at most this share of the CPUs (0: never)")
    ap.add_argument("--max-wait", type=float, default=300, help="seconds to wait for that, then measure anyway")
    ap.add_argument("--out", default=str(ROOT / "bench/results/http_bench"))
    args = ap.parse_args()

    build = pathlib.Path(args.build_dir) if args.build_dir else first_existing(ROOT / "build-bench", ROOT / "build")
    args.tandem = args.tandem or str(first_existing(build / "bin/tandem", ROOT / "build/bin/tandem"))
    args.llama_server = args.llama_server or str(first_existing(build / "bin/llama-server",
                                                                ROOT / "build/bin/llama-server"))

    logdir = pathlib.Path(tempfile.mkdtemp(prefix="tandem-http-bench-"))
    tandem_log = open(logdir / "tandem.log", "w")
    llama_log = open(logdir / "llama-server.log", "w")
    tandem_proc = llama_proc = None
    results = {"tandem": [], "llama": []}
    try:
        tandem_proc, tandem_port = start_tandem(args, tandem_log)
        llama_proc, llama_port = start_llama_server(args, llama_log)
        targets = {"tandem": (tandem_port, model_id(tandem_port)), "llama": (llama_port, model_id(llama_port))}
        for name, (port, model) in targets.items():
            for _ in range(args.warmup):
                stream_chat(port, model, args.prompt, args.max_tokens)
        meter = OthersMeter([tandem_proc.pid, llama_proc.pid])
        for i in range(args.requests):
            order = ("tandem", "llama") if i % 2 == 0 else ("llama", "tandem")
            busy = wait_for_quiet(args.max_busy, args.max_wait)
            meter.start()
            for name in order:
                port, model = targets[name]
                r = stream_chat(port, model, args.prompt, args.max_tokens)
                r["others_busy_before"] = busy
                results[name].append(r)
            others = meter.stop()
            t, l = results["tandem"][-1], results["llama"][-1]
            t["others_busy"] = l["others_busy"] = others
            t["clean"] = l["clean"] = others <= args.clean
            print(f"  {i + 1}/{args.requests}: TTFT Tandem {t['ttft_ms']:.1f} ms, llama-server {l['ttft_ms']:.1f} ms; "
                  f"decode Tandem {t['decode_tps']:.1f} t/s, llama-server {l['decode_tps']:.1f} t/s; "
                  f"tokens {t['completion_tokens']}/{l['completion_tokens']}; others busy {others:.0%}",
                  file=sys.stderr, flush=True)
    finally:
        stop(tandem_proc)
        stop(llama_proc)
        tandem_log.close()
        llama_log.close()

    def medians(pairs):
        T = [t for t, _ in pairs]
        L = [l for _, l in pairs]
        return {
            "pairs": len(pairs),
            "tandem_ttft_ms": median([r["ttft_ms"] for r in T]),
            "llama_ttft_ms": median([r["ttft_ms"] for r in L]),
            "tandem_decode_tps": median([r["decode_tps"] for r in T]),
            "llama_decode_tps": median([r["decode_tps"] for r in L]),
            "tandem_e2e_tps": median([r["e2e_tps"] for r in T]),
            "llama_e2e_tps": median([r["e2e_tps"] for r in L]),
            # Per-pair ratios (the two requests of one pair ran back to back), then the median.
            "decode_ratio": median([t["decode_tps"] / l["decode_tps"] for t, l in pairs]),
            "e2e_ratio": median([t["e2e_tps"] / l["e2e_tps"] for t, l in pairs]),
            "ttft_ratio_llama_over_tandem": median([l["ttft_ms"] / t["ttft_ms"] for t, l in pairs]),
            "ttft_diff_ms_p50": median([t["ttft_ms"] - l["ttft_ms"] for t, l in pairs]),
            "tandem_added_ms_p50": median([r["added_ms"] for r in T]),
            "tandem_added_ms_p90": percentile([r["added_ms"] for r in T], 0.9),
            "llama_added_ms_p50": median([r["added_ms"] for r in L]),
            "tandem_server_tps": median([r["server_tps"] for r in T]),
            "llama_server_tps": median([r["server_tps"] for r in L]),
        }

    T, L = results["tandem"], results["llama"]
    pairs = list(zip(T, L))
    clean = [(t, l) for t, l in pairs if t["clean"]]
    same_text = sum(1 for t, l in pairs if t["text"] == l["text"])
    summary = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": {"cpu": platform.processor(), "cores": os.cpu_count()},
        "model": args.model, "threads": args.threads, "requests": args.requests, "max_tokens": args.max_tokens,
        "prompt": args.prompt, "llama_ctx": args.llama_ctx, "llama_server_args": args.llama_server_args,
        "clean_threshold": args.clean,
        "completion_tokens": {"tandem": [r["completion_tokens"] for r in T], "llama": [r["completion_tokens"] for r in L]},
        "prompt_tokens": {"tandem": T[0]["prompt_tokens"], "llama": L[0]["prompt_tokens"]},
        "identical_text_pairs": same_text,
        "median": medians(pairs),
        "median_clean": medians(clean) if clean else None,
        "requests_detail": {k: [{kk: vv for kk, vv in r.items() if kk != "text"} for r in v] for k, v in results.items()},
        "logs": str(logdir),
    }
    lines = [
        f"`tandem serve` vs `llama-server -np 1 -c {args.llama_ctx} {' '.join(args.llama_server_args)}`, "
        f"{os.path.basename(args.model)}, {args.threads} threads, streaming, greedy, max_tokens {args.max_tokens}, "
        f"{args.requests} alternating pairs ({len(clean)} clean: other processes used <= {args.clean:.0%} of the CPUs), "
        f"medians; {summary['date']}",
        "",
        "| metric (client side) | pairs | Tandem | llama-server | Tandem / llama-server (median of per-pair ratios) |",
        "| --- | --- | ---: | ---: | ---: |",
    ]
    sets = [("all", summary["median"])] + ([("clean", summary["median_clean"])] if clean else [])
    for label, m in sets:
        lines.append(f"| decode tokens/s (first to last chunk) | {label} ({m['pairs']}) | {m['tandem_decode_tps']:.1f} | "
                     f"{m['llama_decode_tps']:.1f} | {m['decode_ratio']:.3f} |")
    for label, m in sets:
        lines.append(f"| end-to-end tokens/s (request to [DONE]) | {label} ({m['pairs']}) | {m['tandem_e2e_tps']:.1f} | "
                     f"{m['llama_e2e_tps']:.1f} | {m['e2e_ratio']:.3f} |")
    for label, m in sets:
        lines.append(f"| time to first token, ms | {label} ({m['pairs']}) | {m['tandem_ttft_ms']:.1f} | "
                     f"{m['llama_ttft_ms']:.1f} | {m['ttft_ratio_llama_over_tandem']:.3f} (llama-server TTFT / Tandem TTFT) |")
    lines.append("")
    for label, m in sets:
        lines += [
            f"- {label} pairs: Tandem added latency (client TTFT - engine time_to_first_token_ms) p50 "
            f"{m['tandem_added_ms_p50']:.2f} ms, p90 {m['tandem_added_ms_p90']:.2f} ms; llama-server (client TTFT - its "
            f"timings.prompt_ms) p50 {m['llama_added_ms_p50']:.2f} ms; TTFT Tandem - llama-server p50 "
            f"{m['ttft_diff_ms_p50']:+.2f} ms; server-reported generation t/s: Tandem {m['tandem_server_tps']:.1f}, "
            f"llama-server {m['llama_server_tps']:.1f}",
        ]
    lines.append(
        f"- prompt tokens: Tandem {T[0]['prompt_tokens']}, llama-server {L[0]['prompt_tokens']}; completion tokens "
        f"(median): Tandem {median([r['completion_tokens'] for r in T])}, "
        f"llama-server {median([r['completion_tokens'] for r in L])}; identical text in {same_text}/{len(pairs)} pairs")
    table = "\n".join(lines) + "\n"
    print(table)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    out.with_suffix(".md").write_text(table)
    print(f"wrote {out.with_suffix('.json')} and {out.with_suffix('.md')}; server logs in {logdir}", file=sys.stderr)


if __name__ == "__main__":
    main()
