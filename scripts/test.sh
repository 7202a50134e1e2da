#!/usr/bin/env bash
# Installs everything into ./.venv and runs every lint and test. One dev-profile build of the
# Rust dependencies serves clippy's checks, `cargo test` and the extension module under test.
set -euo pipefail
cd "$(dirname "$0")/.."
step() { printf '\n== %s\n' "$*"; }

step "system packages"
# The browser test drives Debian's Chromium; install it where we can (CI runs as root).
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    # A registry hiccup must not fail the suite: the browser test then skips, saying why.
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } \
      || echo "could not install chromium: the browser test will be skipped"
  else
    echo "chromium is missing and this is not root: the browser test will be skipped"
  fi
fi

step "python environment"
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.lock

step "rustfmt"
cargo fmt --all --check
step "clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
step "cargo test"
cargo test --locked --workspace --exclude sweep_magic_native

step "package the Lambdas (release zips for provided.al2023)"
bash scripts/package_lambdas.sh x86_64

step "build the extension (dev profile)"
.venv/bin/maturin develop --locked --quiet

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy"
.venv/bin/mypy
.venv/bin/python -m mypy.stubtest sweep_magic._native

step "pytest"
.venv/bin/python -m pytest

step "infrastructure checks (checkov, HCL policy tests, secret scan)"
bash scripts/check_infra.sh

step "notebooks (nbval)"
.venv/bin/python -m pytest --nbval-lax notebooks -p no:cacheprovider
