#!/usr/bin/env bash
# Installs sweep_magic into ./.venv (release build of the Rust engine) and runs the demo sweep
# on the local backend. Results go to ./sweep-data unless SWEEP_ROOT says otherwise.
#
# The checkout is installed in develop mode (`maturin develop`): the extension module is built
# into ./sweep_magic/ and the environment points at this folder, so `import sweep_magic` works
# from any directory, the repository root included (where ./sweep_magic would otherwise shadow
# an installed copy), and edits to the Python files take effect without reinstalling.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/runtime.lock
# The build backend, pinned as in pyproject's [build-system]. Cargo builds from Cargo.lock as
# it is (--locked); its dependencies come from the registry or cargo's local cache.
.venv/bin/python -m pip install --quiet --disable-pip-version-check maturin==1.16.0
# (Its stdout is pip's list of requirements already satisfied; errors go to stderr.)
.venv/bin/maturin develop --release --locked --quiet >/dev/null
.venv/bin/sweep run examples/gbm_demo.yaml
.venv/bin/python scripts/demo_query.py
