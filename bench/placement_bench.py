#!/usr/bin/env python3
"""Two devices vs one for the same model, and the placement planner's choice vs manual choices.

Starts ggml-rpc-server on a free loopback port (the second device), then runs
`tandem_engine_bench` (pp512 and tg128 through the public engine API) in three placements,
interleaved round by round (the order rotates, so drifting background load hits all alike):

    cpu     the CPU alone                                   (one device)
    split   the last N/2 layers on the RPC device, the rest on the CPU   (two devices)
    rpc     every layer on the RPC device                   (one remote device)

Then it asks `tandem plan --json` where the chat model should go, given the tg128 figures just
measured (`devices.throughput`), and compares the planner's choice with the best of the manual
ones (the target: within 10%).

    python3 bench/placement_bench.py --rounds 3 --out bench/results/placement

writes OUT.json (every figure) and OUT.md (the table). Standard library only.
"""

import argparse
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
from bench_common import first_existing, free_port, median, process_cpu_seconds, run_measured, wait_for_quiet

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_MODEL = pathlib.Path.home() / ".cache/tandem/models/gemma-3-270m-q4_k_m.gguf"


def wait_listening(port, seconds=30):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    sys.exit(f"ggml-rpc-server did not listen on {port}")


def engine_run(args, flags, server_pid):
    cmd = [args.engine_bench, f"--model={args.model}", f"--threads={args.threads}", "--slots=1", "--context=2048",
           f"--iterations={args.iterations}", "--benchmark_filter=BM_PromptProcessing|BM_Generation",
           "--benchmark_format=json"] + flags
    print("  $ " + " ".join(cmd), file=sys.stderr, flush=True)
    # The RPC server works for the benchmark but is no child it waits for: its CPU time is taken
    # out of what run_measured counts as other processes.
    server0, t0 = process_cpu_seconds(server_pid), time.monotonic()
    proc, others = run_measured(cmd, args.timeout)
    server_share = (process_cpu_seconds(server_pid) - server0) / ((time.monotonic() - t0) * os.cpu_count())
    others = max(0.0, others - server_share)
    if proc.returncode != 0:
        sys.exit(f"tandem_engine_bench failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    out = {"others_busy": others}
    for b in json.loads(proc.stdout)["benchmarks"]:
        if b["name"].startswith("BM_PromptProcessing"):
            out["pp"] = b["pp_tokens_per_second"]
        elif b["name"].startswith("BM_Generation"):
            out["tg"] = b["tg_tokens_per_second"]
    return out


def plan(args, endpoint, throughput):
    cmd = [args.tandem, "--set", f"engine.model={args.model}", "--set", f"devices.rpc_servers={endpoint}",
           "--set", f"devices.throughput={throughput}", "plan", "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        sys.exit(f"tandem plan failed: {proc.stderr}")
    return next(m for m in json.loads(proc.stdout)["models"] if m["model"] == "chat")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="engine threads (CPU side)")
    ap.add_argument("--rpc-threads", type=int, default=os.cpu_count(), help="ggml-rpc-server -t")
    ap.add_argument("--layers", type=int, default=19, help="the model's layers, output included (Gemma 3 270M: 19)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=2, help="requests per benchmark per run")
    ap.add_argument("--build-dir", default=None)
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--max-busy", type=float, default=0.15)
    ap.add_argument("--max-wait", type=float, default=60)
    ap.add_argument("--clean", type=float, default=0.10,
                    help="a run is clean when other processes used at most this share of the CPUs; medians use clean runs")
    ap.add_argument("--out", default=str(ROOT / "bench/results/placement"))
    args = ap.parse_args()

    build = pathlib.Path(args.build_dir) if args.build_dir else first_existing(ROOT / "build-bench", ROOT / "build")
    args.engine_bench = str(build / "bin/tandem_engine_bench")
    args.tandem = str(build / "bin/tandem")
    port = free_port()
    endpoint = f"127.0.0.1:{port}"
    server = subprocess.Popen([str(build / "bin/ggml-rpc-server"), "-H", "127.0.0.1", "-p", str(port),
                               "-t", str(args.rpc_threads)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_listening(port)
        half = args.layers // 2 + 1
        placements = {
            "cpu": [],
            "split": [f"--rpc={endpoint}", "--devices=RPC0", f"--gpu-layers={half}"],
            "rpc": [f"--rpc={endpoint}", "--devices=RPC0", "--gpu-layers=-1"],
        }
        names = list(placements)
        rounds = []
        for i in range(args.rounds):
            print(f"round {i + 1}/{args.rounds}", file=sys.stderr, flush=True)
            order = names[i % len(names):] + names[:i % len(names)]
            r = {}
            for name in order:
                wait_for_quiet(args.max_busy, args.max_wait)
                r[name] = engine_run(args, placements[name], server.pid)
                print(f"  {name}: pp512 {r[name]['pp']:.1f} t/s, tg128 {r[name]['tg']:.1f} t/s "
                      f"(others busy {r[name]['others_busy']:.0%})", file=sys.stderr, flush=True)
            rounds.append(r)
        def runs_of(n):  # the clean runs, or every run when none was clean
            clean = [r[n] for r in rounds if r[n]["others_busy"] <= args.clean]
            return clean or [r[n] for r in rounds]

        med = {n: {k: median([r[k] for r in runs_of(n)]) for k in ("pp", "tg")} for n in names}
        clean_runs = {n: sum(r[n]["others_busy"] <= args.clean for r in rounds) for n in names}
        throughput = f"CPU={med['cpu']['tg']:.2f},RPC0={med['rpc']['tg']:.2f}"
        chat = plan(args, endpoint, throughput)
        layers = chat["gpu_layers"]
        chosen = "cpu" if layers == 0 else ("rpc" if layers >= args.layers else "split")
        if chosen == "split" and layers != half:
            chosen = None  # a split the manual set did not measure
    finally:
        server.terminate()
        server.wait(10)

    best = max(names, key=lambda n: med[n]["tg"])
    report = {
        "model": args.model, "threads": args.threads, "rpc_threads": args.rpc_threads, "rounds": rounds,
        "medians": med, "clean_runs": clean_runs, "two_vs_one_device": {k: med["split"][k] / med["cpu"][k] for k in ("pp", "tg")},
        "planner": {"throughput": throughput, "gpu_layers": layers, "devices": chat["devices"],
                    "reasons": chat["reasons"], "choice": chosen, "best_manual": best,
                    "ratio_to_best_tg": (med[chosen]["tg"] / med[best]["tg"]) if chosen else None},
    }
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2))
    lines = ["| placement | pp512 t/s | tg128 t/s | clean runs |", "|---|---:|---:|---:|"]
    lines += [f"| {n} | {med[n]['pp']:.1f} | {med[n]['tg']:.1f} | {clean_runs[n]}/{len(rounds)} |" for n in names]
    lines += ["", f"two devices (split) / one (cpu): pp {report['two_vs_one_device']['pp']:.2f}, "
                  f"tg {report['two_vs_one_device']['tg']:.2f}",
              f"planner (devices.throughput={throughput}): {chosen or layers} "
              f"(gpu_layers {layers}); best manual: {best}; planner / best tg128: "
              + (f"{report['planner']['ratio_to_best_tg']:.2f}" if chosen else "not measured")]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
