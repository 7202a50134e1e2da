#!/usr/bin/env bash
# Installs sweep_magic into ./.venv (release build of the Rust engine) and runs the demo sweep
# on the local backend. Results go to ./sweep-data unless SWEEP_ROOT says otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/runtime.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps .
.venv/bin/sweep run examples/gbm_demo.yaml
.venv/bin/python scripts/demo_query.py
