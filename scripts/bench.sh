#!/usr/bin/env bash
# Runs every benchmark and writes benchmarks/RESULTS.md, the plots (PNG) and results.json.
# Creates/uses ./.venv, installs requirements/dev.lock + requirements/bench.lock, builds the
# engine in RELEASE mode for the measurement, and afterwards puts the development build back
# as it was (the extension module is copied aside first). A full run takes about 20 minutes
# on 2 cores, the first one about 5 more (s3s-fs is built for the emulated cloud section).
# Extra arguments go to benchmarks/run.py: --quick (tiny sizes), --only NAME[,NAME] (a subset
# of kernels, overhead, ray, efficiency, peers, cloud, memory, own_kernels, moonshot) and
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

# The development build is left as it was found: the extension module in sweep_magic/ (the
# develop install's build, whatever its profile) is copied aside and put back afterwards,
# without a rebuild. With none there, the dev profile is built, as the test command does.
saved=$(mktemp -d)
found=0
for so in sweep_magic/_native*.so; do
  [ -e "$so" ] || continue
  cp -p "$so" "$saved/" && found=1
done
restore_dev_build() {
  step "restore the development build"
  if [ "$found" = 1 ]; then
    rm -f sweep_magic/_native*.so
    cp -p "$saved"/_native*.so sweep_magic/
    echo "put back: $(cd "$saved" && ls _native*.so)"
  else
    .venv/bin/maturin develop --locked --quiet
  fi
  rm -rf "$saved"
}
trap restore_dev_build EXIT

step "build the extension (release)"
.venv/bin/maturin develop --release --locked

step "benchmarks"
SWEEP_BENCH_BUILD="release build (maturin develop --release)" \
  .venv/bin/python benchmarks/run.py "$@"
