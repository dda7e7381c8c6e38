#!/usr/bin/env bash
# The engine benchmarks on a lent GPU machine, prepared so that it needs nothing but this tree:
# configures with TANDEM_CUDA=ON, builds only what the benchmarks need, runs llama-bench and
# tandem_engine_bench on CUDA and on the CPU side by side, then `tandem devices` and
# `tandem plan` (with the throughput just measured), and writes everything to one folder.
#
#   bench/gpu/run.sh [OUT_DIR]     # default: $OUT, else bench/results/gpu-<UTC time>
#
# Inputs (no network needed): the llama.cpp source in .deps/llama.cpp or .gpu-carry/llama.cpp
# (bench/gpu/pack.sh makes the trimmed copy), a GGUF model ($TANDEM_BENCH_MODEL, else the first of
# .gpu-carry/models/*.gguf, else ~/.cache/tandem/models/gemma-3-270m-q4_k_m.gguf), nvcc (PATH or
# /usr/local/cuda/bin), cmake and a C++20 compiler. Without Tandem's Debian packages the Tandem
# configure fails and only llama.cpp is built (llama-bench, and the report says so).
# Knobs: CMAKE_CUDA_ARCHITECTURES (90: H100/H200), TANDEM_JOBS (all cores), TANDEM_GPU_BUILD_S
# (build time limit, 480 s), TANDEM_GPU_BUILD_DIR (build-gpu).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
OUT_DIR="${1:-${OUT:-$ROOT/bench/results/gpu-$(date -u +%Y%m%dT%H%M%SZ)}}"
BUILD="${TANDEM_GPU_BUILD_DIR:-$ROOT/build-gpu}"
JOBS="${TANDEM_JOBS:-$(nproc)}"
ARCH="${CMAKE_CUDA_ARCHITECTURES:-90}"
BUILD_LIMIT="${TANDEM_GPU_BUILD_S:-480}"
export PATH="$PATH:/usr/local/cuda/bin"
mkdir -p "$OUT_DIR"
START=$(date +%s)

log() { echo "[gpu +$(($(date +%s) - START))s] $*" | tee -a "$OUT_DIR/run.log" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---- inputs ----
LLAMA_DIR=""
for d in "$ROOT/.deps/llama.cpp" "$ROOT/.gpu-carry/llama.cpp"; do
  [[ -f "$d/CMakeLists.txt" ]] && { LLAMA_DIR="$d"; break; }
done
[[ -n "$LLAMA_DIR" ]] || die "no llama.cpp source in .deps/llama.cpp or .gpu-carry/llama.cpp (scripts/setup.sh --no-build, or bench/gpu/pack.sh)"
MODEL="${TANDEM_BENCH_MODEL:-}"
if [[ -z "$MODEL" ]]; then
  MODEL=$(ls "$ROOT"/.gpu-carry/models/*.gguf 2>/dev/null | head -n1)
  [[ -n "$MODEL" ]] || MODEL="$HOME/.cache/tandem/models/gemma-3-270m-q4_k_m.gguf"
fi
[[ -f "$MODEL" ]] || die "no model: set TANDEM_BENCH_MODEL or put a GGUF file in .gpu-carry/models/"
command -v nvcc > /dev/null || die "nvcc not found (PATH, /usr/local/cuda/bin)"
log "llama.cpp: $LLAMA_DIR; model: $MODEL; CUDA architectures: $ARCH; $JOBS jobs"
{ nvidia-smi --query-gpu=name,memory.total,memory.free,driver_version --format=csv 2>&1; nvcc --version; } \
  > "$OUT_DIR/gpu.txt"

GENERATOR=(); command -v ninja > /dev/null && GENERATOR=(-G Ninja)
LAUNCHER=(); command -v ccache > /dev/null && LAUNCHER=(-DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)

# ---- configure: all of Tandem when its packages are here, else llama.cpp alone ----
MODE=tandem
if cmake -S "$ROOT" -B "$BUILD" "${GENERATOR[@]}" "${LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=Release \
     -DTANDEM_LLAMA_DIR="$LLAMA_DIR" -DTANDEM_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DTANDEM_BUILD_TESTS=OFF \
     > "$OUT_DIR/configure.log" 2>&1; then
  TARGETS=(llama-bench tandem_engine_bench tandem)
  BIN="$BUILD/bin"
else
  MODE=llama-only
  log "Tandem does not configure here (missing packages? see configure.log): building llama.cpp alone"
  cmake -S "$LLAMA_DIR" -B "$BUILD-llama" "${GENERATOR[@]}" "${LAUNCHER[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$ARCH" -DGGML_NATIVE=ON -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF \
    -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF \
    >> "$OUT_DIR/configure.log" 2>&1 || die "llama.cpp does not configure with CUDA either (configure.log)"
  TARGETS=(llama-bench)
  BIN="$BUILD-llama/bin"
fi
log "configured ($MODE)"

# ---- build ----
timeout "$BUILD_LIMIT" cmake --build "${BIN%/bin}" -j "$JOBS" --target "${TARGETS[@]}" > "$OUT_DIR/build.log" 2>&1
status=$?
((status == 124)) && die "the build took more than ${BUILD_LIMIT}s (build.log); run again: finished objects are kept"
((status == 0)) || die "the build failed (build.log)"
log "built ${TARGETS[*]}"

# ---- benchmarks: CUDA and the CPU side by side ----
CPU_THREADS=$(nproc)
"$BIN/llama-bench" -m "$MODEL" -p 512 -n 128 -r 3 -ngl 99 -dev CUDA0 -o json > "$OUT_DIR/llama-bench-cuda.json" \
  2> "$OUT_DIR/llama-bench-cuda.log" || log "llama-bench on CUDA failed (llama-bench-cuda.log)"
"$BIN/llama-bench" -m "$MODEL" -p 512 -n 128 -r 3 -ngl 0 -dev none -t "$CPU_THREADS" -o json \
  > "$OUT_DIR/llama-bench-cpu.json" 2> "$OUT_DIR/llama-bench-cpu.log" || log "llama-bench on the CPU failed"
log "llama-bench done"

if [[ "$MODE" == tandem ]]; then
  "$BIN/tandem" devices > "$OUT_DIR/devices.txt" 2>&1
  bench() {  # NAME FLAGS...: Tandem's engine through its public API, JSON per configuration
    local name=$1; shift
    "$BIN/tandem_engine_bench" --model="$MODEL" --threads="$CPU_THREADS" --benchmark_format=json \
      --benchmark_filter='BM_PromptProcessing|BM_Generation' "$@" > "$OUT_DIR/engine-$name.json" \
      2> "$OUT_DIR/engine-$name.log" || log "tandem_engine_bench $name failed (engine-$name.log)"
  }
  bench cuda --devices=CUDA0 --gpu-layers=-1
  bench cpu
  log "engine benchmarks done"
  # The planner with the throughput just measured (tg tokens/s of each device).
  tg() { python3 - "$1" << 'PY' 2> /dev/null
import json, sys
runs = json.load(open(sys.argv[1]))["benchmarks"]
print(round(next(r["tg_tokens_per_second"] for r in runs if r["name"].startswith("BM_Generation")), 1))
PY
  }
  THROUGHPUT="CPU=$(tg "$OUT_DIR/engine-cpu.json"),CUDA0=$(tg "$OUT_DIR/engine-cuda.json")"
  "$BIN/tandem" --set engine.model="$MODEL" --set devices.throughput="$THROUGHPUT" plan > "$OUT_DIR/plan.txt" 2>&1
  "$BIN/tandem" --set engine.model="$MODEL" --set devices.throughput="$THROUGHPUT" plan --json > "$OUT_DIR/plan.json" 2>&1
  log "tandem plan with devices.throughput=$THROUGHPUT: plan.txt"
fi

# ---- summary ----
python3 - "$OUT_DIR" << 'PY' > "$OUT_DIR/summary.md" 2>&1 || true
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
rows = []
for device in ("cuda", "cpu"):
    try:
        for r in json.load(open(out / f"llama-bench-{device}.json")):
            test = f"pp{r['n_prompt']}" if r["n_gen"] == 0 else f"tg{r['n_gen']}"
            rows.append((f"llama-bench {device}", test, r["avg_ts"]))
    except (OSError, ValueError, KeyError):
        pass
    try:
        for r in json.load(open(out / f"engine-{device}.json"))["benchmarks"]:
            for key, test in (("pp_tokens_per_second", "pp512"), ("tg_tokens_per_second", "tg128")):
                if key in r:
                    rows.append((f"tandem engine {device}", test, r[key]))
    except (OSError, ValueError, KeyError):
        pass
print("| runner | test | tokens/s |\n|---|---|---:|")
for runner, test, ts in rows:
    print(f"| {runner} | {test} | {ts:.1f} |")
PY
log "done in $(($(date +%s) - START))s: $OUT_DIR (summary.md)"
cat "$OUT_DIR/summary.md" >&2
