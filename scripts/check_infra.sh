#!/usr/bin/env bash
# Infrastructure checks: checkov over infra/terraform (zero failed checks, zero parsing errors;
# every skip is an inline `#checkov:skip=...:reason` in the module) and a secret scan over every
# file of the repository that git tracks or would track. The HCL least-privilege tests
# (tests/test_infra.py) run with the main pytest.
#
# The tools live in their own venv, .venv-infra, installed from requirements/infra.lock: checkov
# pins dependencies that the main venv pins differently. It is reinstalled only when the lock
# file changes.
#
# Secret scan: detect-secrets (checkov's bc-detect-secrets fork) with the settings and audited
# findings recorded in .secrets.baseline. The baseline excludes the Jupyter widget model ids in
# the notebooks (random hex) and lists, as audited non-secrets, the published SigV4/RFC 4231 test
# vectors in lambda/sweep_aws/src/sigv4.rs. Any other finding fails. After auditing a new false
# positive, refresh the baseline with
#   git ls-files -z | xargs -0 .venv-infra/bin/detect-secrets scan --baseline .secrets.baseline
# and mark it with `.venv-infra/bin/detect-secrets audit .secrets.baseline`.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-infra
if [ ! -x "$venv/bin/checkov" ] || ! cmp -s requirements/infra.lock "$venv/.installed.lock"; then
  echo "installing checkov into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements/infra.lock
  cp requirements/infra.lock "$venv/.installed.lock"
fi

echo "-- checkov (infra/terraform)"
report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT
# --skip-download: no calls to the vendor's platform (this machine has no such network access).
status=0
"$venv/bin/checkov" --directory infra/terraform --framework terraform --skip-download \
  --compact --quiet --output cli --output json --output-file-path "console,$report/checkov.json" \
  || status=$?
"$venv/bin/python" - "$report/checkov.json" "$status" <<'PY'
import json
import sys

path, status = sys.argv[1], int(sys.argv[2])
with open(path) as f:
    data = json.load(f)
reports = data if isinstance(data, list) else [data]
summary = {k: sum(r["summary"][k] for r in reports) for k in ("passed", "failed", "skipped", "parsing_errors")}
print("checkov: {passed} passed, {failed} failed, {skipped} skipped, {parsing_errors} parsing errors".format(**summary))
if status or summary["failed"] or summary["parsing_errors"] or summary["passed"] < 50:
    sys.exit("checkov: infra/terraform must parse and pass every check (skips need an inline reason)")
PY

echo "-- secret scan (detect-secrets, every tracked and untracked-but-not-ignored file)"
git ls-files -z --cached --others --exclude-standard | "$venv/bin/python" -c '
import json
import sys

from detect_secrets import SecretsCollection
from detect_secrets.core import baseline

files = [f for f in sys.stdin.read().split("\0") if f]
known = baseline.load(baseline.load_from_file(".secrets.baseline"), ".secrets.baseline")
found = SecretsCollection()
found.scan_files(*files, num_processors=1)
new = found - known
if new:
    print(json.dumps(baseline.format_for_output(new)["results"], indent=2))
    sys.exit("secret scan: possible secrets above are not in .secrets.baseline")
print(f"secret scan: {len(files)} files, no secret outside the audited baseline")
'
