#!/usr/bin/env bash
# Set up and run the main job: convert the bundled digits ViT, report ANN vs SNN.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/ttfs demo "$@"
