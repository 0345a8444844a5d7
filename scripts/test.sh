#!/usr/bin/env bash
# Set up and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,text
exec .venv/bin/python -m pytest -q "$@"
