#!/usr/bin/env bash
# Installs s3s-fs, a Rust S3 server over a folder (crates.io), into target/tools/bin for the
# local cloud emulation's fast S3 option: LocalCloud(s3_server="s3s-fs") or
# SWEEP_EMULATION_S3=s3s-fs. The benchmarks use it; the tests that need it skip without it.
#
#   bash scripts/install_s3s_fs.sh
#
# Pinned to 0.14.1, the newest release that builds with this checkout's Rust (1.95; later
# releases need 1.96), with its own lock file (--locked). The first build takes about 4.5
# minutes of CPU (cargo's release profile, about 200 crates); when the pinned version is
# already there it does nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.14.1
root=target/tools
program="$root/bin/s3s-fs"

if [ -x "$program" ] && [ "$("$program" --version 2>/dev/null)" = "s3s-fs $version" ]; then
  echo "s3s-fs $version is installed: $program"
  exit 0
fi
cargo install --locked --version "$version" s3s-fs --features binary --root "$root"
echo "installed s3s-fs $version: $program"
