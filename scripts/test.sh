#!/usr/bin/env bash
# Installs everything into ./.venv and runs every lint and test. One dev-profile build of the
# Rust dependencies serves clippy's checks, `cargo test` and the extension module under test.
#
#   bash scripts/test.sh           everything (what CI runs, through .ci/run)
#   bash scripts/test.sh --quick   the edit-test loop: the lints, `cargo test`, the extension
#                                  and the fast pytest tier (-m "not slow and not cloud and not
#                                  browser and not ray"); no Chromium, no Lambda zips, no
#                                  infrastructure checks, no notebooks
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h | --help)
      sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "scripts/test.sh: unknown argument $arg (want --quick or nothing)" >&2
      exit 2
      ;;
  esac
done

started=$SECONDS
step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - started))"; }

# The browser test fails, rather than skips, when Chromium is missing (tests/test_browser.py).
export SWEEP_REQUIRE_BROWSER=1

if [ "$quick" = 0 ]; then
  step "system packages"
  # The browser test drives Debian's Chromium: the full run installs it (CI runs as root) and
  # stops here if it cannot.
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
      echo "chromium is missing and this is not root: apt-get install chromium, then run again" >&2
      exit 1
    fi
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; then
      echo "could not install chromium (apt-get failed): the browser test needs it" >&2
      exit 1
    fi
  fi
fi

step "python environment"
[ -x .venv/bin/python ] || python3 -m venv .venv
# requirements/dev.lock pins every test, notebook and lint dependency with hashes (pip then
# checks them all); it is reinstalled only when the lock changes. maturin, which builds the
# package below, is pinned as in pyproject's [build-system].
if ! cmp -s requirements/dev.lock .venv/.installed-dev.lock; then
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.lock
  cp requirements/dev.lock .venv/.installed-dev.lock
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check maturin==1.16.0

step "rustfmt"
cargo fmt --all --check
step "clippy"
cargo clippy --locked --workspace --all-targets -- -D warnings
step "cargo test"
cargo test --locked --workspace --exclude sweep_magic_native

if [ "$quick" = 0 ]; then
  step "package the Lambdas (release zips for provided.al2023)"
  bash scripts/package_lambdas.sh x86_64
  step "s3s-fs (the emulation's fast S3 server; built once into target/tools)"
  bash scripts/install_s3s_fs.sh
fi

step "build the extension (dev profile)"
.venv/bin/maturin develop --locked --quiet

step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy"
.venv/bin/mypy
.venv/bin/python -m mypy.stubtest sweep_magic._native

if [ "$quick" = 1 ]; then
  step "pytest (quick tier)"
  .venv/bin/python -m pytest -m "not slow and not cloud and not browser and not ray"
  step "done: quick tier"
  exit 0
fi

step "pytest"
.venv/bin/python -m pytest

step "infrastructure checks (checkov, HCL policy tests, secret scan)"
bash scripts/check_infra.sh

step "notebooks (nbval)"
.venv/bin/python -m pytest --nbval-lax notebooks -p no:cacheprovider
step "done"
