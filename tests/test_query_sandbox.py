"""Queries are one read-only SELECT over the catalog's tables, wherever they come from.

`sm.query`, `sweep query`, `%%sweep query` and cloud queries on DuckDB share one implementation:
a statement that writes, changes settings or reads files is refused before it runs, and the
DuckDB connection a query runs on can reach no file or network even if that check were
bypassed. Also here: exact floats in `--format json`, a missing root, errors that keep DuckDB's
hints and suggest names, and result headers as the user wrote them."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest
from IPython.core.error import UsageError

import sweep_magic as sm

# The module, not the function `sm.query` that shares its name.
query_module = importlib.import_module("sweep_magic.query")

SPEC = {
    "experiment": "gbm_option",
    "seed": 3,
    "replicates": 2,
    "params": {"s0": 100, "strike": [90, 110], "sigma": {"linspace": [0.1, 0.3, 3]}, "paths": 500},
}


@pytest.fixture
def gbm(root: Path) -> sm.Run:
    return sm.run(SPEC).wait()


def _result_files(root: Path) -> list[Path]:
    return sorted((root / "results" / "gbm_option").glob("*/*.parquet"))


# -- 1. only one read-only statement ---------------------------------------------------------


def _write_attempts(out: Path, parquet: Path) -> list[tuple[str, str]]:
    return [
        (f"COPY (SELECT 1 AS x) TO '{out}'", "got COPY"),
        (f"COPY results_gbm_option TO '{out}' (FORMAT parquet)", "got COPY"),
        (f"COPY (SELECT 1 AS x) TO '{parquet}' (FORMAT parquet, USE_TMP_FILE false)", "got COPY"),
        ("SET threads = 1", "got SET"),
        ("SET enable_external_access = true", "got SET"),
        ("PRAGMA version", "got PRAGMA"),
        (f"ATTACH '{out}' AS other", "got ATTACH"),
        ("INSTALL httpfs", "got INSTALL"),
        ("LOAD httpfs", "got LOAD"),
        (f"EXPORT DATABASE '{out.parent}'", "got EXPORT"),
        ("CREATE TABLE t AS SELECT 1 AS x", "got CREATE"),
        ("WITH a AS (SELECT 1 AS x) INSERT INTO t SELECT x FROM a", "got INSERT"),
        ("SELECT 1 AS x INTO t", "got SELECT ... INTO"),
        ("DESCRIBE results_gbm_option", "got DESCRIBE"),
        ("SELECT 1; SELECT 2", "expected one SQL statement, got 2"),
        (f"SELECT 1; COPY (SELECT 1) TO '{out}'", "expected one SQL statement, got 2"),
    ]


def test_statements_that_write_or_change_settings_are_refused(gbm: sm.Run, root: Path) -> None:
    out = root.parent / "leak.csv"
    parquet = _result_files(root)[0]
    before = parquet.read_bytes()
    for sql, found in _write_attempts(out, parquet):
        with pytest.raises(sm.QueryError) as err:
            sm.query(sql)
        assert str(err.value).startswith("only SELECT queries are allowed"), (sql, str(err.value))
        assert found in str(err.value), (sql, str(err.value))
    assert not out.exists()
    assert parquet.read_bytes() == before
    # The settings attempted above did not stick: a query still runs, on the same data.
    assert sm.query("SELECT count(*) AS n FROM results_gbm_option")["n"].tolist() == [12]


@pytest.mark.parametrize(
    ("template", "found"),
    [
        ("SELECT * FROM read_parquet('{parquet}')", "read_parquet"),
        ("SELECT count(*) AS n FROM read_parquet(['{parquet}'])", "read_parquet"),
        ("SELECT * FROM parquet_scan('{parquet}')", "parquet_scan"),
        ("SELECT * FROM read_csv('/etc/passwd')", "read_csv"),
        ("SELECT * FROM read_csv_auto('/etc/passwd')", "read_csv_auto"),
        ("SELECT * FROM read_json('/etc/passwd')", "read_json"),
        ("SELECT * FROM read_text('/etc/passwd')", "read_text"),
        ("SELECT * FROM glob('/etc/*')", "glob"),
        ("SELECT * FROM results_gbm_option, read_parquet('{parquet}') AS f", "read_parquet"),
        ("WITH f AS (SELECT * FROM read_csv('/etc/passwd')) SELECT * FROM f", "read_csv"),
        ("SELECT * FROM '{parquet}'", "'{parquet}'"),
        ('SELECT * FROM "/etc/passwd"', "'/etc/passwd'"),
    ],
)
def test_sql_cannot_read_files(gbm: sm.Run, root: Path, template: str, found: str) -> None:
    parquet = _result_files(root)[0]
    sql = template.format(parquet=parquet)
    with pytest.raises(sm.QueryError) as err:
        sm.query(sql)
    message = str(err.value)
    assert message.startswith("reading files from SQL is not allowed"), message
    assert found.format(parquet=parquet) in message
    assert "results_<experiment>" in message  # says what can be queried instead


def test_table_functions_other_than_the_catalog_are_refused(gbm: sm.Run) -> None:
    for sql, found in [
        ("SELECT * FROM TABLE(sequence(1, 3))", "got TABLE"),
        ("SELECT * FROM query('COPY (SELECT 1) TO ''/tmp/x.csv''')", "got query"),
        ("SELECT * FROM duckdb_settings()", "got duckdb_settings"),
    ]:
        with pytest.raises(sm.QueryError, match="table functions are not allowed") as err:
            sm.query(sql)
        assert found in str(err.value)


def test_read_only_queries_still_work(gbm: sm.Run) -> None:
    n = sm.query("SELECT count(*) AS n FROM results_gbm_option")
    assert n["n"].tolist() == [12]
    with_ = sm.query(
        "WITH s AS (SELECT strike, avg(price) AS p FROM results_gbm_option GROUP BY strike) "
        "SELECT strike, p > 0 AS positive FROM s ORDER BY strike"
    )
    assert with_.to_dict("list") == {"strike": [90.0, 110.0], "positive": [True, True]}
    assert sm.query("VALUES (1, 'a'), (2, 'b')").shape == (2, 2)
    union = sm.query("(SELECT strike FROM results_gbm_option) UNION (SELECT 42.0) ORDER BY strike")
    assert union["strike"].tolist() == [42.0, 90.0, 110.0]
    nested = sm.query("((SELECT 1 AS x))")
    assert nested["x"].tolist() == [1]
    # Unnesting a value is not a table function.
    unnest = sm.query("SELECT x FROM UNNEST(ARRAY[1, 2, 3]) AS t(x) ORDER BY x")
    assert unnest["x"].tolist() == [1, 2, 3]
    joined = sm.query(
        "SELECT r.state, count(*) AS n FROM results_gbm_option AS g "
        "JOIN runs AS r ON g.run_id = r.run_id GROUP BY r.state"
    )
    assert joined.to_dict("list") == {"state": ["complete"], "n": [12]}


def test_the_duckdb_connection_is_locked_even_without_the_sql_check(
    gbm: sm.Run, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the statement check switched off, DuckDB itself refuses."""
    monkeypatch.setattr(query_module, "_parse_read_only", _parse_anything)
    out = root.parent / "leak.csv"
    parquet = _result_files(root)[0]
    before = parquet.read_bytes()
    for sql in [
        f"COPY (SELECT 1 AS x) TO '{out}'",
        f"COPY (SELECT 1 AS x) TO '{parquet}' (FORMAT parquet, USE_TMP_FILE false)",
        f"SELECT count(*) FROM results_gbm_option, read_parquet('{parquet}')",
        "SET enable_external_access = true",
        "SET threads = 1",
    ]:
        with pytest.raises(sm.QueryError, match=r"disabled by configuration|has been locked"):
            sm.query(sql)
    assert not out.exists()
    assert parquet.read_bytes() == before
    # Querying the catalog's tables needs no file access of DuckDB's own.
    assert sm.query("SELECT count(*) AS n FROM results_gbm_option")["n"].tolist() == [12]


def test_cli_refuses_copy_and_writes_nothing(
    gbm: sm.Run, root: Path, sweep_cmd: list[str], clean_env: dict[str, str]
) -> None:
    out = root.parent / "x.csv"
    done = subprocess.run(
        [*sweep_cmd, "query", f"COPY (SELECT 1) TO '{out}'"],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: only SELECT queries are allowed (got COPY)")
    assert done.stdout == ""
    assert not out.exists()


def _parse_anything(sql: str, tokens: object) -> Any:
    """Stands in for the statement check: parses whatever it is given."""
    import sqlglot

    return sqlglot.parse_one(sql, read="trino")


# -- the cloud path on DuckDB: a local folder stands in for the bucket ----------------------


@pytest.fixture
def local_bucket(gbm: sm.Run, root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The run's result objects under bucket/prefix/, read through pyarrow as S3 would be."""
    base = tmp_path / "s3"
    shutil.copytree(root / "results", base / "bucket" / "prefix" / "results")
    monkeypatch.setenv("SWEEP_S3_ROOT", "s3://bucket/prefix")
    monkeypatch.setenv("SWEEP_CLOUD_QUERY", "duckdb")
    from sweep_magic.backends import cloud

    def local_fs(config: Any = None) -> pafs.FileSystem:
        return pafs.SubTreeFileSystem(str(base), pafs.LocalFileSystem())

    monkeypatch.setattr(cloud, "s3_filesystem", local_fs)
    return base


def test_cloud_duckdb_queries_share_the_sandbox(
    local_bucket: Path, root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = sm.query("SELECT count(*) AS n FROM results_gbm_option", cloud=True)
    assert n["n"].tolist() == [12]
    out = root.parent / "cloud-leak.csv"
    with pytest.raises(sm.QueryError, match=r"only SELECT queries are allowed \(got COPY\)"):
        sm.query(f"COPY results_gbm_option TO '{out}'", cloud=True)
    with pytest.raises(sm.QueryError, match="reading files from SQL is not allowed"):
        sm.query(f"SELECT * FROM read_parquet('{_result_files(root)[0]}')", cloud=True)
    # And the connection itself is locked there too.
    monkeypatch.setattr(query_module, "_parse_read_only", _parse_anything)
    with pytest.raises(sm.QueryError, match="disabled by configuration"):
        sm.query(f"COPY results_gbm_option TO '{out}'", cloud=True)
    assert not out.exists()


def test_athena_queries_get_the_same_check_before_any_aws_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import awswrangler as wr

    sent: list[str] = []
    monkeypatch.setattr(wr.athena, "read_sql_query", lambda sql, **kwargs: sent.append(sql))
    monkeypatch.setenv("SWEEP_CLOUD_QUERY", "athena")
    for sql in ["SET SESSION query_max_run_time = '1h'", "SELECT 1; SELECT 2"]:
        with pytest.raises(sm.QueryError, match="only SELECT queries are allowed"):
            sm.query(sql, cloud=True)
    assert sent == []


# -- the magic goes through the same checks --------------------------------------------------


def _cell(ip: Any, source: str) -> tuple[Any, str]:
    from IPython.utils.capture import capture_output

    with capture_output() as captured:
        result = ip.run_cell(source)
    shown = "".join(o.data.get("text/plain", "") for o in captured.outputs)
    return result, captured.stdout + captured.stderr + shown


def test_magic_refuses_copy_and_suggests_notebook_variables(
    gbm: sm.Run, root: Path, ip: Any
) -> None:
    out = root.parent / "magic-leak.csv"
    result, _ = _cell(ip, f"%%sweep query\nCOPY (SELECT 1) TO '{out}'\n")
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec) == "only SELECT queries are allowed (got COPY)"
    assert not out.exists()
    ip.user_ns["strike_value"] = 90
    result, _ = _cell(
        ip,
        "%%sweep query -o q\nSELECT count(*) AS n FROM results_gbm_option "
        "WHERE strike = {strike_valu}\n",
    )
    assert "q" not in ip.user_ns
    assert isinstance(result.error_in_exec, UsageError)
    assert str(result.error_in_exec).startswith(
        "notebook variable {strike_valu} is not defined; did you mean {strike_value}?\n"
    )
    result, text = _cell(
        ip,
        "%%sweep query -o q\nSELECT count(*) AS n FROM results_gbm_option "
        "WHERE strike = {strike_value}\n",
    )
    assert ip.user_ns["q"]["n"].tolist() == [6], text


# -- 2. JSON output keeps every float exactly ------------------------------------------------


def test_cli_json_round_trips_every_float(
    gbm: sm.Run, root: Path, sweep_cmd: list[str], clean_env: dict[str, str]
) -> None:
    done = subprocess.run(
        [
            *sweep_cmd,
            "query",
            "SELECT point, replicate, sigma, price, std_error, "
            "CAST(0.1 AS DOUBLE) + CAST(0.2 AS DOUBLE) AS tiny, "
            "CAST(NULL AS DOUBLE) AS nothing, run_id "
            "FROM results_gbm_option ORDER BY point, replicate",
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    records = json.loads(done.stdout)
    table = pa.concat_tables(pq.read_table(f) for f in _result_files(root))
    table = table.sort_by([("point", "ascending"), ("replicate", "ascending")])
    assert len(records) == table.num_rows == 12
    for column in ("sigma", "price", "std_error"):
        assert [r[column] for r in records] == table.column(column).to_pylist(), column
    assert [r["point"] for r in records] == table.column("point").to_pylist()
    assert {r["tiny"] for r in records} == {0.1 + 0.2}
    assert {r["nothing"] for r in records} == {None}
    assert {r["run_id"] for r in records} == {gbm.run_id}


# -- 3. a root that does not exist -----------------------------------------------------------


def test_a_missing_root_is_an_error_naming_it(
    gbm: sm.Run, tmp_path: Path, sweep_cmd: list[str], clean_env: dict[str, str]
) -> None:
    missing = tmp_path / "no" / "such" / "dir"
    done = subprocess.run(
        [*sweep_cmd, "query", "SELECT count(*) AS n FROM results_gbm_option", "--root", missing],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(f"error: root {missing} does not exist")
    with pytest.raises(sm.QueryError, match=f"root {missing} does not exist"):
        sm.query("SELECT 1 AS x", root=missing)
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(sm.QueryError, match=f"root {a_file} is not a directory"):
        sm.query("SELECT 1 AS x", root=a_file)


# -- 4. errors keep DuckDB's hints and suggest names -----------------------------------------


def test_binder_errors_keep_duckdbs_hint_and_caret(gbm: sm.Run) -> None:
    with pytest.raises(sm.QueryError) as err:
        sm.query("SELECT pric FROM results_gbm_option")
    message = str(err.value)
    lines = message.splitlines()
    assert (
        lines[0] == 'query failed: Binder Error: Referenced column "pric" not found in FROM clause!'
    )
    assert any(line.startswith("Candidate bindings:") for line in lines), message
    assert "did you mean 'price'?" in message
    caret = next(i for i, line in enumerate(lines) if line.startswith("LINE 1:"))
    assert lines[caret + 1].strip().startswith("^")


@pytest.mark.parametrize(
    ("sql", "suggestion"),
    [
        ("SELECT * FROM results_gbm_optoin", "did you mean 'results_gbm_option'?"),
        ("SELECT * FROM failures_gbm_opton", "did you mean 'failures_gbm_option'?"),
        ("SELECT * FROM result_gbm_option", "did you mean 'results_gbm_option'?"),
        ("SELECT * FROM rnus", "did you mean 'runs'?"),
        ("SELECT strik FROM results_gbm_option", "did you mean 'strike'?"),
        ("SELECT count(*) FROM results_gbm_option WHERE sigm > 0", "did you mean 'sigma'?"),
        ("SELECT statee FROM runs", "did you mean 'state'?"),
    ],
)
def test_unknown_names_get_suggestions(gbm: sm.Run, sql: str, suggestion: str) -> None:
    with pytest.raises(sm.QueryError) as err:
        sm.query(sql)
    assert suggestion in str(err.value)


def test_unknown_experiment_is_named(gbm: sm.Run) -> None:
    with pytest.raises(sm.QueryError) as err:
        sm.query("SELECT * FROM results_gbm_optoin")
    message = str(err.value)
    assert message.startswith("unknown table 'results_gbm_optoin'; available:")
    assert "no experiment 'gbm_optoin'" in message


# -- 5. headers are what the user wrote -------------------------------------------------------


def test_result_headers_are_the_users_expressions(gbm: sm.Run) -> None:
    frame = sm.query(
        "SELECT strike, approx_percentile(price, 0.5), count(*), avg(price)  *  2, "
        "row(strike, 1), max(price) IS NULL, sigma AS s, CAST(strike AS bigint), "
        "g.run_id FROM results_gbm_option AS g GROUP BY strike, sigma, g.run_id "
        "ORDER BY strike, s"
    )
    assert list(frame.columns) == [
        "strike",
        "approx_percentile(price, 0.5)",
        "count(*)",
        "avg(price) * 2",
        "row(strike, 1)",
        "max(price) IS NULL",
        "s",
        "CAST(strike AS bigint)",
        "run_id",
    ]
    assert frame["count(*)"].tolist() == [2] * 6
    # Set operations take the names of their first branch; subqueries keep theirs too.
    union = sm.query("SELECT max(strike) FROM results_gbm_option UNION ALL SELECT 1 + 1")
    assert list(union.columns) == ["max(strike)"]
    outer = sm.query("WITH t AS (SELECT avg(price) FROM results_gbm_option) SELECT * FROM t")
    assert list(outer.columns) == ["avg(price)"]


def test_cli_table_header_shows_the_users_expressions(
    gbm: sm.Run, sweep_cmd: list[str], clean_env: dict[str, str]
) -> None:
    done = subprocess.run(
        [
            *sweep_cmd,
            "query",
            "SELECT approx_percentile(price, 0.5), count(*) FROM results_gbm_option",
            "--format",
            "csv",
        ],
        capture_output=True,
        text=True,
        env=clean_env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == '"approx_percentile(price, 0.5)",count(*)'
