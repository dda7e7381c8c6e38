#!/usr/bin/env bash
# The main job on the embedded defaults: set everything up, then ask the private local model.
#   scripts/demo.sh                       # a default question
#   scripts/demo.sh "What is a GGUF file?"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
"$ROOT/scripts/setup.sh"
question="${1:-In two sentences: why run a small AI model on your own computer?}"
printf '\n\033[1m> %s\033[0m\n' "$question"
exec "${TANDEM_BUILD_DIR:-$ROOT/build}/bin/tandem" ask --stats "$question"
