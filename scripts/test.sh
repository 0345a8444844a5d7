#!/usr/bin/env bash
# Set up and run the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test,text
# One pytest-xdist worker per core, at most 4 (each holds its own torch and models), tests handed out as
# workers free up (tests/conftest.py gives each worker its share of the cores for torch); `-n 0` after
# the command runs them in this one process.
exec .venv/bin/python -m pytest -q -n auto --maxprocesses 4 --dist worksteal "$@"
