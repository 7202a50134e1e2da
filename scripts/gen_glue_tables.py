"""Write infra/terraform/generated/tables.json: the Glue table columns of every experiment.

The Terraform module reads this file with jsondecode(file(...)) and creates one `results_<name>`
and one `failures_<name>` table per experiment. The columns come from the experiment registry of
the installed engine (`sweep_magic._native.experiments()`), so they always match what the
Rust writer puts in the Parquet files. tests/test_infra.py regenerates the document in memory
and fails when the committed file is stale: after adding or changing an experiment, run

    .venv/bin/python scripts/gen_glue_tables.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "infra" / "terraform" / "generated" / "tables.json"

# Glue column types that Athena reads from the engine's Parquet files.
ATHENA_TYPES = frozenset({"bigint", "double", "boolean", "string"})
# Glue keeps column comments up to 255 characters.
MAX_COMMENT = 255
# Columns every table has, whatever the experiment.
COMMON_COMMENTS = {
    "point": "Index of the point in the run's parameter space.",
    "replicate": "Replicate number of the point.",
    "seed": "Random seed of the row, derived from the run seed, point and replicate.",
    "duration_us": "Time the kernel took for the row, in microseconds.",
    "error_kind": "Kind of failure (kernel error, panic, nan, kernel_contract, ...).",
    "message": "The failure's message.",
}


def _comment(text: str, unit: str) -> str:
    text = " ".join(text.split())
    if unit:
        text = f"{text} [{unit}]" if text else f"[{unit}]"
    if len(text) > MAX_COMMENT:
        text = text[: MAX_COMMENT - 3].rstrip() + "..."
    return text


def _columns(experiment: dict[str, Any], kind: str) -> list[dict[str, str]]:
    described = {
        item["name"]: _comment(item.get("description", ""), item.get("unit", ""))
        for item in [*experiment.get("params", []), *experiment.get("metrics", [])]
    }
    columns = []
    for column in experiment["tables"][kind]:
        name, kind_type = column["name"], column["type"]
        if kind_type not in ATHENA_TYPES:
            raise ValueError(
                f"experiment {experiment['name']!r}: column {name!r} has type {kind_type!r}, "
                f"which is not one of {sorted(ATHENA_TYPES)}"
            )
        comment = described.get(name) or COMMON_COMMENTS.get(name, "")
        columns.append({"name": name, "type": kind_type, "comment": comment})
    return columns


def build(registry_json: str) -> dict[str, Any]:
    """The tables document for a registry, as JSON text of `_native.experiments()`."""
    experiments = json.loads(registry_json)
    tables: dict[str, Any] = {}
    for experiment in sorted(experiments, key=lambda e: e["name"]):
        name = experiment["name"]
        tables[name] = {
            "description": _comment(experiment.get("description", ""), ""),
            "results": _columns(experiment, "results"),
            "failures": _columns(experiment, "failures"),
        }
    return {
        "generated_by": "scripts/gen_glue_tables.py from sweep_magic._native.experiments()",
        "partition_keys": [{"name": "run_id", "type": "string"}],
        "experiments": tables,
    }


def render(document: dict[str, Any]) -> str:
    """The file's exact text (stable key order, trailing newline)."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def compiled_experiments_json() -> str:
    """The registry's built-in experiments: Python kernels never run in the cloud, and the
    tables of Rust kernels loaded at run time are created by the orchestrator on first use,
    so neither gets a table here."""
    from sweep_magic import _native

    return json.dumps([e for e in _native.experiments() if e["origin"] == "built-in"])


def current() -> str:
    """The text the generator writes for the installed engine."""
    return render(build(compiled_experiments_json()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the file is out of date")
    args = parser.parse_args(argv)
    text = current()
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT.relative_to(REPO)} is out of date: run {sys.argv[0]}")
            return 1
        print(f"{OUTPUT.relative_to(REPO)} is up to date")
        return 0
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
