#!/usr/bin/env bash
# Runs every test on the real models: setup (packages, sources, models, build), the e2e Python
# environment, then CTest (unit, integration, e2e) and the unit tests again under
# AddressSanitizer + UBSan, then the fuzzers (parsers, PII detectors, stream restorer) for a
# bounded time. Extra arguments go to ctest, e.g. scripts/test.sh -L unit
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$ROOT/scripts/pins.sh"
BUILD_DIR="${TANDEM_BUILD_DIR:-$ROOT/build}"
step() { printf '\n\033[1m[test %s] %s\033[0m\n' "$(date +%H:%M:%S)" "$*"; }

"$ROOT/scripts/setup.sh"

step "Python environment for end-to-end tests (.venv)"
if [[ ! -x "$ROOT/.venv/bin/python" ]]; then python3 -m venv "$ROOT/.venv"; fi
"$ROOT/.venv/bin/pip" install --quiet --disable-pip-version-check "${PY_TEST_PACKAGES[@]}"

step "ctest: unit, integration and e2e tests"
cd "$BUILD_DIR"
ctest --output-on-failure --timeout 900 "$@"

if [[ "${TANDEM_SKIP_SANITIZERS:-0}" != 1 && $# -eq 0 ]]; then
  step "unit tests under AddressSanitizer + UndefinedBehaviorSanitizer"
  SAN_DIR="$BUILD_DIR-asan"
  export CCACHE_DIR="${TANDEM_CACHE:-$HOME/.cache/tandem}/ccache" CCACHE_BASEDIR="$ROOT" CCACHE_NOHASHDIR=1
  CCACHE_NAMESPACE="cpu-$(grep -m1 '^flags' /proc/cpuinfo | md5sum | cut -c1-12)"
  export CCACHE_NAMESPACE
  [[ -f "$SAN_DIR/CMakeCache.txt" ]] || cmake -S "$ROOT" -B "$SAN_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTANDEM_SANITIZE=address,undefined -DTANDEM_BUILD_BENCH=OFF
  cmake --build "$SAN_DIR" -j "$(nproc)" --target tandem_core_tests tandem_engine_tests tandem_server_tests tandem_router_tests \
    tandem_knowledge_tests tandem_privacy_tests tandem_devices_tests tandem_energy_tests
  cd "$SAN_DIR"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ctest --output-on-failure -L unit --timeout 900
fi
if [[ "${TANDEM_SKIP_FUZZ:-0}" != 1 && $# -eq 0 ]]; then
  step "fuzzing (libFuzzer, bounded time)"
  "$ROOT/scripts/fuzz.sh" "${TANDEM_FUZZ_SECONDS:-30}"
fi
step "all tests passed"
