#!/usr/bin/env bash
# Runs every benchmark and writes benchmarks/RESULTS.md, the plots (PNG) and results.json.
# Creates/uses ./.venv, installs requirements/dev.lock + requirements/bench.lock, builds the
# engine in RELEASE mode for the measurement, and afterwards restores the dev-profile build
# that the test command uses. Extra arguments go to benchmarks/run.py: --quick (tiny sizes),
# --only NAME[,NAME] (a subset of kernels, overhead, efficiency, peers, cloud, memory) and
# --out DIR (default benchmarks/; use another directory for a subset).
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*"; }

step "python environment"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check maturin==1.16.0
.venv/bin/python -m pip install --quiet --disable-pip-version-check \
  -r requirements/bench.lock -c requirements/dev.lock

restore_dev_build() {
  step "restore the dev-profile build"
  .venv/bin/maturin develop --locked --quiet
}
trap restore_dev_build EXIT

step "build the extension (release)"
.venv/bin/maturin develop --release --locked

step "benchmarks"
SWEEP_BENCH_BUILD="release build (maturin develop --release)" \
  .venv/bin/python benchmarks/run.py "$@"
