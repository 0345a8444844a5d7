#!/usr/bin/env bash
# Set up and build the documentation site (fails on any warning).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh docs
exec .venv/bin/mkdocs build --strict "$@"
