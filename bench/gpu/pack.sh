#!/usr/bin/env bash
# Prepares .gpu-carry/ (ignored) for a GPU machine that receives only a copy of this tree: the
# llama.cpp source without what the CUDA build never reads (docs, vocabularies, tests, other
# backends' kernels, the web UI), and the benchmark model. Prints the size that would travel.
#
#   bench/gpu/pack.sh [MODEL.gguf]     # default model: ~/.cache/tandem/models/gemma-3-270m-q4_k_m.gguf
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="$ROOT/.deps/llama.cpp"
DEST="$ROOT/.gpu-carry"
MODEL="${1:-$HOME/.cache/tandem/models/gemma-3-270m-q4_k_m.gguf}"
[[ -f "$SRC/CMakeLists.txt" ]] || { echo "pack: run scripts/setup.sh --no-build first" >&2; exit 1; }
rm -rf "$DEST" && mkdir -p "$DEST/models"
# -L: .deps/llama.cpp may be a link into another checkout; the copy must be real files.
cp -rL "$SRC" "$DEST/llama.cpp"
(cd "$DEST/llama.cpp" && rm -rf docs models media benches examples gguf-py conversion tests \
  ggml/src/ggml-{metal,sycl,opencl,hexagon,cann,musa,webgpu,zdnn,et} && find . -name '*.gguf' -delete)
mkdir -p "$DEST/llama.cpp/tests" && touch "$DEST/llama.cpp/tests/CMakeLists.txt"
cp "$MODEL" "$DEST/models/"
du -sh "$DEST/llama.cpp" "$DEST/models" >&2
echo "carry .gpu-carry; then on the GPU machine: bench/gpu/run.sh \"\$OUT\"" >&2
