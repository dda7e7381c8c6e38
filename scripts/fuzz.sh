#!/usr/bin/env bash
# Builds the libFuzzer targets in tests/fuzz with clang (AddressSanitizer + UBSan) and runs each
# for a bounded time on its corpus (tests/fuzz/corpus/<target>, copied: new inputs stay out of the
# repository). A crash fails the script and leaves the input in build-fuzz/.
#   scripts/fuzz.sh [seconds per target, default 60]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SECONDS_PER_TARGET="${1:-60}"
OUT="${TANDEM_BUILD_DIR:-$ROOT/build}-fuzz"
mkdir -p "$OUT"
CXX="clang++"
command -v ccache > /dev/null && CXX="ccache clang++"
FLAGS=(-std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I"$ROOT/src")
DEPS=$(pkg-config --cflags --libs poppler-cpp gumbo libzip libxml-2.0 icu-uc re2)

# target name -> the sources it needs besides its own file
declare -A SOURCES=(
  [document]="$(ls "$ROOT"/src/knowledge/document.cpp "$ROOT"/src/knowledge/parse_*.cpp) $ROOT/src/core/status.cpp"
  [pii_detector]="$ROOT/src/privacy/pattern_detector.cpp $ROOT/src/privacy/checksums.cpp $ROOT/src/privacy/pii.cpp"
  [stream_restorer]="$ROOT/src/privacy/vault.cpp $ROOT/src/privacy/pii.cpp"
  [chat_request]="$ROOT/src/server/openai_protocol.cpp $ROOT/src/engine/engine_types.cpp $ROOT/src/core/status.cpp"
  [sealed_file]="$ROOT/src/privacy/sealed_file.cpp $ROOT/src/privacy/aes_gcm.cpp $ROOT/src/core/file_io.cpp $ROOT/src/core/status.cpp"
)

for target in "${!SOURCES[@]}"; do
  binary="$OUT/${target}_fuzz"
  # shellcheck disable=SC2086  # word splitting of the source list and pkg-config output is intended
  $CXX "${FLAGS[@]}" ${SOURCES[$target]} "$ROOT/tests/fuzz/${target}_fuzz.cpp" $DEPS -lfmt -lcrypto -o "$binary"
  work="$OUT/corpus-$target"
  rm -rf "$work" && mkdir -p "$work"
  cp -r "$ROOT/tests/fuzz/corpus/$target/." "$work/"
  echo "fuzzing $target for ${SECONDS_PER_TARGET}s"
  (cd "$OUT" && "$binary" -max_total_time="$SECONDS_PER_TARGET" -max_len=4096 -rss_limit_mb=2048 \
    -print_final_stats=1 "$work" 2>&1 | tail -n 12)
done
