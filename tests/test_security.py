"""Security properties on the Python side (the HTTP API's are in
lambda/sweep_cloud/tests/security.rs): run ids and experiment names cannot escape their
prefix, the point limit cannot be bypassed, and nothing user-controlled is spliced into SQL
unquoted. That no shell runs anything is ruff's flake8-bandit rules (`S`, pyproject.toml) on
the package, part of the lints."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

import sweep_magic as sm
from sweep_magic.errors import RunNotFoundError, SpecError

PACKAGE = Path(sm.__file__).parent

# Traversal, separators, encodings, control characters and Unicode look-alikes.
BAD_RUN_IDS = [
    "..",
    ".",
    "../decoy",
    "runs/../decoy",
    "a/b",
    "a\\b",
    "/etc",
    "%2e%2e",
    "..%2F..",
    "decoy\x00",
    "\x00",
    "\u2024\u2024",  # one-dot leaders
    "\uff0e\uff0e",  # fullwidth full stops
    "\uff44ecoy",  # fullwidth d
    "DECOY",
    "decoy\n",
    " decoy",
    "-decoy",
    "_decoy",
    "",
    "a" * 65,
    "deco\u0443",  # Cyrillic u
    "decoy\u200b",  # zero-width space
]


@pytest.fixture
def decoy_root(root: Path) -> Path:
    """A root with one real run, and a copy of its manifest where a traversal would land."""
    run = sm.run({"experiment": "diag_sleep"}, root=root).wait()
    manifest = run.run_dir / "manifest.json"
    for where in (root / "decoy", root.parent / "decoy", root / "runs" / "DECOY"):
        where.mkdir(parents=True, exist_ok=True)
        shutil.copy(manifest, where / "manifest.json")
    return root


@pytest.mark.parametrize("run_id", BAD_RUN_IDS, ids=repr)
def test_local_run_ids_cannot_escape_the_root(decoy_root: Path, run_id: str) -> None:
    for action in (
        lambda: sm.open_run(run_id, root=decoy_root),
        lambda: sm.resume(run_id, root=decoy_root),
    ):
        with pytest.raises((SpecError, RunNotFoundError), match="run"):
            action()


def test_cli_status_refuses_tricky_run_ids(decoy_root: Path, sweep_cmd: list[str]) -> None:
    for run_id in ("../decoy", "\uff0e\uff0e", "DECOY", "decoy\u200b"):
        out = subprocess.run(
            [*sweep_cmd, "status", run_id, "--root", str(decoy_root)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, (run_id, out.stdout)
        assert out.stderr.startswith("error: ")
        assert "Traceback" not in out.stderr


@pytest.mark.parametrize(
    "name",
    ["../../escape", "gbm_option/../../x", "/tmp/x", "diag_sleep\x00", "diag_sleep ", "DIAG_SLEEP"],
)
def test_experiment_names_are_only_registry_names(root: Path, name: str) -> None:
    with pytest.raises(SpecError) as err:
        sm.run({"experiment": name}, root=root)
    assert err.value.path == "experiment"
    assert not root.exists() or not any(root.rglob("*.json"))


def test_a_spec_label_never_becomes_a_path(root: Path) -> None:
    run = sm.run({"experiment": "diag_sleep", "name": "../../../escape/x"}, root=root).wait()
    written = {p.relative_to(root).parts[0] for p in root.rglob("*") if p.is_file()}
    assert written <= {"runs", "results", "failures"}
    assert not (root.parent / "escape").exists()
    assert run.manifest["name"] == "../../../escape/x"


def test_registry_names_are_identifiers() -> None:
    # Table names (results_<experiment>) and column names come from here: SQL-safe by shape.
    import re

    for exp in sm.experiments():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", exp.name)
        for table in exp.tables.values():
            for column, _ in table:
                assert re.fullmatch(r"[a-z][a-z0-9_]*", column)


@pytest.mark.parametrize(
    "spec",
    [
        {"experiment": "diag_sleep", "params": {"micros": {"range": [0, 1001, 1]}}},
        {"experiment": "diag_sleep", "replicates": 501, "params": {"micros": [0, 1]}},
        {"experiment": "diag_fail", "zip": [{"fail_rate": [0.5] * 1001}]},
        {
            "experiment": "diag_fail",
            "params": {"mode": ["error", "nan"]},
            "zip": [{"fail_rate": [0.5] * 501}],
        },
        {
            "experiment": "gbm_option",
            "sample": {"method": "sobol", "n": 1024, "params": {"s0": {"uniform": [1, 2]}}},
            "params": {"strike": 1, "sigma": 0.2},
        },
        {
            "experiment": "gbm_option",
            "replicates": 100_000,
            "params": {name: {"linspace": [1, 2, 100_000]} for name in ("s0", "strike", "maturity")}
            | {"sigma": {"linspace": [0.1, 0.2, 100_000]}, "rate": {"linspace": [0, 0.1, 10]}},
        },
    ],
    ids=["grid", "replicates", "zip", "zip-x-grid", "sobol", "overflow"],
)
def test_the_point_limit_cannot_be_bypassed(root: Path, spec: dict[str, object]) -> None:
    with pytest.raises(SpecError, match="limit"):
        sm.Spec(spec, max_rows=1000)


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Attribute):
        return f"{_name(func.value)}.{func.attr}"
    if isinstance(func, ast.Name):
        return func.id
    return "?"


def test_sql_is_never_built_from_user_text() -> None:
    """Every f-string handed to DuckDB's sql()/execute() interpolates only registry-derived
    names (experiment, column and type names), never a run id, path or parameter value."""
    allowed = {"cols", "kind", "experiment", "last_run.experiment"}
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for call in _calls(ast.parse(path.read_text(), str(path))):
            if not (_name(call.func).endswith((".sql", ".execute")) and call.args):
                continue
            arg = call.args[0]
            if isinstance(arg, ast.JoinedStr):
                for part in arg.values:
                    if isinstance(part, ast.FormattedValue):
                        used = ast.unparse(part.value)
                        if used not in allowed:
                            offenders.append(f"{path.name}:{call.lineno} {used}")
    assert offenders == []


def test_query_injection_attempts_are_refused_or_harmless(root: Path) -> None:
    run = sm.run({"experiment": "diag_sleep", "params": {"micros": [0, 1]}}, root=root).wait()
    with pytest.raises(sm.QueryError, match="one SQL statement"):
        sm.query("SELECT 1; DROP TABLE results_diag_sleep", root=root)
    # A hostile value as a bound literal (how the magics put Python values in) matches nothing.
    from sweep_magic.magics import _sql_literal

    hostile = "x' OR '1'='1"
    frame = sm.query(
        f"SELECT count(*) AS n FROM results_diag_sleep WHERE run_id = "
        f"{_sql_literal(hostile, 'test')}",
        root=root,
    )
    assert frame["n"].tolist() == [0]
    frame = sm.query(
        f"SELECT count(*) AS n FROM results_diag_sleep WHERE run_id = "
        f"{_sql_literal(run.run_id, 'test')}",
        root=root,
    )
    assert frame["n"].tolist() == [2]
