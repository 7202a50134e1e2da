#!/usr/bin/env bash
# Builds both Lambda functions as deployable zips for provided.al2023:
#   target/lambda/orchestrator/bootstrap.zip, target/lambda/worker/bootstrap.zip (under
#   $CARGO_TARGET_DIR instead of target/ when that is set)
# Usage: bash scripts/package_lambdas.sh [x86_64|arm64]   (default x86_64)
# cargo-lambda links through zig (both from PyPI, pinned in requirements/dev.lock) against an
# old glibc, so the binaries run on Amazon Linux 2023. The default matches the default of the
# Terraform variable `architecture` (infra/terraform/variables.tf; tests/test_infra.py checks
# that they agree). arm64 (Graviton, ~20% cheaper per GB-second) needs the
# aarch64-unknown-linux-gnu Rust target first: `rustup target add aarch64-unknown-linux-gnu`,
# then deploy with TF_VAR_architecture=arm64.
set -euo pipefail
cd "$(dirname "$0")/.."
default_arch=x86_64
arch="${1:-$default_arch}"
case "$arch" in
  x86_64) flag=--x86-64; triple=x86_64-unknown-linux-gnu ;;
  arm64) flag=--arm64; triple=aarch64-unknown-linux-gnu ;;
  *) echo "architecture must be x86_64 or arm64, got $arch" >&2; exit 2 ;;
esac
if ! rustup target list --installed 2>/dev/null | grep -qx "$triple"; then
  echo "the Rust target $triple is not installed (rustup target add $triple)" >&2
  exit 2
fi
if [ ! -x .venv/bin/cargo-lambda ]; then
  python3 -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements/dev.lock
fi
export PATH="$PWD/.venv/bin:$PATH"
(cd lambda/functions && cargo-lambda lambda build --release --locked "$flag" --output-format zip \
  --bin orchestrator --bin worker)
printf '\n%-14s %12s %12s %s\n' function binary-bytes zip-bytes newest-glibc-symbol
for f in orchestrator worker; do
  zip="${CARGO_TARGET_DIR:-target}/lambda/$f/bootstrap.zip"
  bin=$(mktemp)
  python3 -c 'import sys, zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("bootstrap"))' "$zip" > "$bin"
  glibc=$(objdump -T "$bin" 2>/dev/null | grep -o 'GLIBC_[0-9.]*' | sort -Vu | tail -1 || true)
  printf '%-14s %12s %12s %s\n' "$f" "$(stat -c %s "$bin")" "$(stat -c %s "$zip")" "${glibc:-?}"
  rm -f "$bin"
  # Amazon Linux 2023 ships glibc 2.34: a newer symbol would fail at cold start.
  if [ -z "$glibc" ] || [ "$(printf '%s\n' "$glibc" GLIBC_2.34 | sort -V | tail -1)" != GLIBC_2.34 ]; then
    echo "$f needs ${glibc:-an unknown glibc}, newer than provided.al2023's GLIBC_2.34" >&2
    exit 1
  fi
done
echo "architecture: $arch (Terraform: architecture = \"$arch\", e.g. export TF_VAR_architecture=$arch)"
