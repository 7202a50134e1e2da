"""SQL over run results, written in Athena's (Trino) dialect and run locally on DuckDB.

The local catalog mirrors the cloud one, so the same SQL text runs on both:

- ``results_<experiment>``: successful rows of every run, with partition column ``run_id``;
- ``failures_<experiment>``: failed rows (``error_kind``, ``message``), same partitioning;
- ``runs``: one row per run manifest.

Queries are translated from Trino to DuckDB by sqlglot. A query is one read-only statement
(``SELECT``, ``WITH ... SELECT``, ``VALUES``, and set operations of those) over the catalog's
tables: anything else is refused before it runs. Tables are bound as Arrow datasets (pyarrow
reads the Parquet files) or Arrow tables and DataFrames, so no path or user value is ever
spliced into SQL text; then the connection is locked: DuckDB's external access is disabled and
its configuration frozen, so SQL can reach no file, extension or network even past the
statement check. ``sm.query``, ``sweep query``, ``%%sweep query`` and cloud queries on DuckDB
all run through :func:`query`.
"""

from __future__ import annotations

import base64
import datetime as _dt
import difflib
import itertools
import json
import math
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _native
from .config import load_config
from .errors import QueryError
from .experiments import experiments, get_experiment

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    from sqlglot import Token, exp

    from .run import Run

__all__ = ["QueryError", "query", "records_json"]

_DUCK_TYPES = {"bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "string": "VARCHAR"}

#: What a refused query can read instead.
_CATALOG = "query the catalog's tables instead: results_<experiment>, failures_<experiment>, runs"

#: DuckDB functions that read files or URLs. Every table function is refused; these are named as
#: file readers in the message (and refused wherever they appear, even before parsing).
_FILE_READERS = frozenset(
    {
        "read_parquet",
        "parquet_scan",
        "parquet_metadata",
        "parquet_schema",
        "parquet_file_metadata",
        "parquet_kv_metadata",
        "parquet_bloom_probe",
        "read_csv",
        "read_csv_auto",
        "sniff_csv",
        "read_json",
        "read_json_auto",
        "read_json_objects",
        "read_json_objects_auto",
        "read_ndjson",
        "read_ndjson_auto",
        "read_ndjson_objects",
        "read_text",
        "read_blob",
        "read_xlsx",
        "read_duckdb",
        "glob",
        "st_read",
        "iceberg_scan",
        "iceberg_metadata",
        "iceberg_snapshots",
        "delta_scan",
        "sqlite_scan",
        "postgres_scan",
        "mysql_scan",
    }
)

#: First words of statements other than queries (SQL's, Trino's and DuckDB's), refused as such
#: even where sqlglot cannot parse them. Any other first word that is not ``SELECT``, ``WITH``,
#: ``VALUES`` or ``(`` is refused after parsing, or is reported as SQL that does not parse.
# fmt: off
_STATEMENTS = frozenset({
    "ALTER", "ANALYZE", "ATTACH", "BEGIN", "CALL", "CHECKPOINT", "COMMENT", "COMMIT", "COPY",
    "CREATE", "DEALLOCATE", "DELETE", "DESCRIBE", "DETACH", "DROP", "EXECUTE", "EXPLAIN",
    "EXPORT", "FORCE", "GRANT", "IMPORT", "INSERT", "INSTALL", "LOAD", "MERGE", "MSCK", "PRAGMA",
    "PREPARE", "REFRESH", "RESET", "REVOKE", "ROLLBACK", "SET", "SHOW", "START", "SUMMARIZE",
    "TRUNCATE", "UNLOAD", "UPDATE", "USE", "VACUUM",
})
# fmt: on

#: Settings applied to every query connection once its tables are bound, in this order: no
#: Python-variable lookups by table name, no extension (auto)loading, no file or network access
#: from SQL, and no way to change any of it back.
_LOCK_DOWN = (
    "SET python_enable_replacements = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET enable_external_access = false",
    "SET lock_configuration = true",
)


def _columns(kind: str, experiment: str) -> list[tuple[str, str]]:
    return [*get_experiment(experiment).tables[kind], ("run_id", "string")]


def _empty_table(con: duckdb.DuckDBPyConnection, kind: str, experiment: str) -> None:
    """No data yet: an empty table with the declared columns, so queries still plan."""
    cols = ", ".join(
        f"CAST(NULL AS {_DUCK_TYPES[t]}) AS {c}" for c, t in _columns(kind, experiment)
    )
    con.sql(f"SELECT {cols} WHERE false").create_view(f"{kind}_{experiment}")


def _bind_table(con: duckdb.DuckDBPyConnection, root: Path, kind: str, experiment: str) -> None:
    """Binds ``<kind>_<experiment>`` to the run root's Parquet files as a lazy Arrow dataset.

    pyarrow reads the files (with projection and filter pushdown), not DuckDB, so the query
    connection needs no file access of its own and can have it disabled.
    """
    import pyarrow as pa
    import pyarrow.dataset as ds

    folder = root / _native.table_prefix(kind, experiment)
    files = sorted(
        f
        for f in folder.glob("*/*.parquet")
        if _native.run_id_of_partition(f.parent.name) is not None
    )
    if not files:
        _empty_table(con, kind, experiment)
        return
    # Run ids are strings in Glue too; never let type inference make them anything else.
    partitioning = ds.partitioning(pa.schema([("run_id", pa.string())]), flavor="hive")
    try:
        data = ds.dataset(
            [str(f) for f in files],
            format="parquet",
            partitioning=partitioning,
            partition_base_dir=str(folder),
        )
    except (OSError, pa.ArrowException) as err:
        raise QueryError(f"cannot read {folder}: {err}") from None
    con.register(f"{kind}_{experiment}", data)


def _runs_frame(root: Path) -> pd.DataFrame:
    import pandas as pd

    from .run import runs_table

    df = runs_table(root, with_spec=True)
    df["spec"] = df["spec"].astype("string")
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True).dt.tz_localize(None)
    return df


@dataclass
class _SelectList:
    """The items of one ``SELECT`` list while scanning tokens: char spans in the SQL text."""

    depth: int
    items: list[tuple[int, int]] = field(default_factory=list)
    start: int | None = None
    last: int | None = None

    def cut(self, tokens: list[Token]) -> None:
        if self.start is not None and self.last is not None:
            self.items.append((tokens[self.start].start, tokens[self.last].end))
        self.start = self.last = None


def _select_lists(tokens: list[Token]) -> list[list[tuple[int, int]]]:
    """The char spans of the items of every ``SELECT`` list in the token stream.

    An item ends at a comma of its list's own bracket depth; a list ends at the clause after it
    (``FROM``, ``WHERE``, ``UNION``...) at that depth, or at the bracket that closes it.
    """
    from sqlglot import TokenType as T

    openers = {T.L_PAREN, T.L_BRACKET, T.L_BRACE}
    closers = {T.R_PAREN, T.R_BRACKET, T.R_BRACE}
    ends = {
        T.FROM, T.WHERE, T.GROUP_BY, T.HAVING, T.ORDER_BY, T.LIMIT, T.OFFSET, T.FETCH,
        T.WINDOW, T.QUALIFY, T.UNION, T.INTERSECT, T.EXCEPT, T.INTO, T.SEMICOLON,
    }  # fmt: skip
    lists: list[list[tuple[int, int]]] = []
    stack: list[_SelectList] = []
    depth = 0

    def close() -> None:
        open_list = stack.pop()
        open_list.cut(tokens)
        lists.append(open_list.items)

    for i, tok in enumerate(tokens):
        kind = tok.token_type
        if kind in closers:
            depth -= 1
            while stack and stack[-1].depth > depth:
                close()
        elif stack and stack[-1].depth == depth and kind in ends:
            close()
        elif stack and stack[-1].depth == depth and kind == T.COMMA:
            stack[-1].cut(tokens)
            continue
        if stack:
            top = stack[-1]
            leading = top.start is None and not top.items and depth == top.depth
            if not (leading and kind in (T.DISTINCT, T.ALL)):
                top.start = i if top.start is None else top.start
                top.last = i
        if kind == T.SELECT:
            stack.append(_SelectList(depth))
        elif kind in openers:
            depth += 1
    while stack:
        close()
    return lists


def _name_projections(tree: exp.Expr, sql: str, tokens: list[Token]) -> None:
    """Aliases each unnamed computed projection with the text the user wrote for it.

    Without this DuckDB names such columns after its own translation (``approx_quantile(...)``,
    ``count_star()``); with it a header reads ``approx_percentile(price, 0.5)``. Plain columns
    and ``*`` keep their names, and aliased projections their alias.
    """
    from sqlglot import exp

    lists = _select_lists(tokens)
    for select in tree.find_all(exp.Select):
        projections = list(select.expressions)
        anchors: dict[int, int] = {}
        for j, projection in enumerate(projections):
            starts = [n.meta["start"] for n in projection.walk() if "start" in n.meta]
            if starts:
                anchors[j] = min(starts)
        if not anchors:
            continue
        spans = next(
            (
                items
                for items in lists
                if len(items) == len(projections)
                and all(items[j][0] <= at <= items[j][1] for j, at in anchors.items())
            ),
            None,
        )
        if spans is None:
            continue
        for projection, (first, last) in zip(projections, spans, strict=True):
            if isinstance(projection, (exp.Alias, exp.Column, exp.Star, exp.Dot)):
                continue
            name = " ".join(sql[first : last + 1].split())
            if name:
                projection.replace(exp.alias_(projection.copy(), name, quoted=True))


def _tokenize(sql: str) -> list[Token]:
    from sqlglot.dialects.trino import Trino
    from sqlglot.errors import TokenError

    try:
        return list(Trino().tokenize(sql))
    except TokenError as err:
        raise QueryError(f"SQL does not parse: {err}") from None


def _function_name(node: exp.Expr) -> str:
    from sqlglot import exp

    if isinstance(node, exp.Anonymous):
        return str(node.name)
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    return node.key


def _parse_read_only(sql: str, tokens: list[Token]) -> exp.Expr:
    """Parses ``sql`` as one read-only query over named tables, or raises :class:`QueryError`.

    Refused: more than one statement; any statement but ``SELECT``, ``WITH ... SELECT``,
    ``VALUES`` (and set operations or parentheses of those); ``SELECT ... INTO``; any table
    function, and any function or path that reads files. A misspelt ``SELECT`` is reported as
    SQL that does not parse.
    """
    import sqlglot
    from sqlglot import TokenType as T
    from sqlglot import exp
    from sqlglot.errors import ParseError

    statements: list[list[Token]] = [[]]
    for tok in tokens:
        if tok.token_type == T.SEMICOLON:
            statements.append([])
        else:
            statements[-1].append(tok)
    statements = [st for st in statements if st]
    if len(statements) != 1:
        raise QueryError(
            f"only SELECT queries are allowed: expected one SQL statement, got {len(statements)}"
        )
    first = statements[0][0]
    first_word = first.text.upper()
    is_query = first.token_type in (T.SELECT, T.WITH, T.VALUES, T.L_PAREN)
    if not is_query and first_word in _STATEMENTS:
        raise QueryError(f"only SELECT queries are allowed (got {first_word})")
    for tok, after in itertools.pairwise(tokens):
        if after.token_type == T.L_PAREN and tok.text.lower() in _FILE_READERS:
            raise QueryError(
                f"reading files from SQL is not allowed (got {tok.text}(...)); {_CATALOG}"
            )
    try:
        tree = sqlglot.parse_one(sql, read="trino")
    except ParseError as err:
        first_error = err.errors[0] if err.errors else {}
        where = f"line {first_error.get('line', '?')}, column {first_error.get('col', '?')}"
        near = (first_error.get("start_context", "") + first_error.get("highlight", "")).strip()
        raise QueryError(
            f"SQL does not parse at {where} (near {near!r}): {first_error.get('description', err)}"
        ) from None
    root = tree
    while isinstance(root, exp.Subquery):
        root = root.this
    if not is_query or not isinstance(root, (exp.Select, exp.SetOperation, exp.Values)):
        found = root.key.upper() if is_query else first_word
        raise QueryError(f"only SELECT queries are allowed (got {found})")
    for node in tree.walk():
        if isinstance(node, exp.Into):
            raise QueryError("only SELECT queries are allowed (got SELECT ... INTO)")
        if isinstance(node, (exp.DDL, exp.DML, exp.Command, exp.Set, exp.Pragma, exp.Use)):
            raise QueryError(f"only SELECT queries are allowed (got {node.key.upper()})")
        if not isinstance(node, exp.Table):
            continue
        if not isinstance(node.this, exp.Identifier):
            name = _function_name(node.this)
            if name.lower() in _FILE_READERS:
                raise QueryError(
                    f"reading files from SQL is not allowed (got {name}(...)); {_CATALOG}"
                )
            raise QueryError(f"table functions are not allowed (got {name}(...)); {_CATALOG}")
        if re.search(r"[/\\.:~]", node.name):
            raise QueryError(
                f"reading files from SQL is not allowed (got {node.name!r}); {_CATALOG}"
            )
    return tree


def _translate(sql: str) -> tuple[str, set[str]]:
    """The DuckDB SQL for the Trino-dialect ``sql``, and the catalog tables it names."""
    from sqlglot import exp

    tokens = _tokenize(sql)
    tree = _parse_read_only(sql, tokens)
    _name_projections(tree, sql, tokens)
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    tables = {t.name for t in tree.find_all(exp.Table) if isinstance(t.this, exp.Identifier)} - ctes
    return tree.sql(dialect="duckdb"), tables


def _bind_table_s3(con: duckdb.DuckDBPyConnection, kind: str, experiment: str) -> None:
    """Binds ``<kind>_<experiment>`` to the cloud run root's Parquet objects (emulation)."""
    import pyarrow as pa
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    from .backends.cloud import S3Root, s3_filesystem

    config = load_config()
    if not config.s3_root:
        raise QueryError("cloud queries need SWEEP_S3_ROOT (s3://bucket/prefix)")
    root = S3Root.parse(config.s3_root)
    fs = s3_filesystem(config)
    prefix = root.path(_native.table_prefix(kind, experiment).rstrip("/"))
    try:
        infos = fs.get_file_info(pafs.FileSelector(prefix, recursive=True, allow_not_found=True))
    except OSError as err:
        raise QueryError(f"cannot list {prefix}: {err}") from None
    tables = []
    for info in sorted(infos, key=lambda i: i.path):
        parent = info.path.rsplit("/", 2)
        run_id = _native.run_id_of_partition(parent[1]) if len(parent) == 3 else None
        if not info.is_file or not info.base_name.endswith(".parquet") or run_id is None:
            continue
        try:
            table = pq.read_table(info.path, filesystem=fs)
        except (OSError, pa.ArrowException) as err:
            raise QueryError(f"cannot read {info.path}: {err}") from None
        tables.append(table.append_column("run_id", pa.array([run_id] * len(table), pa.string())))
    if tables:
        con.register(f"{kind}_{experiment}", pa.concat_tables(tables))
    else:
        _empty_table(con, kind, experiment)


def _lock_down(con: duckdb.DuckDBPyConnection) -> None:
    """No file, extension or network access from SQL on ``con`` from now on, for good."""
    for setting in _LOCK_DOWN:
        con.execute(setting)


def _did_you_mean(name: str, candidates: list[str], prefix: str = "") -> str:
    """``did you mean 'x'?`` for the candidate closest to ``name`` (shown with ``prefix``),
    or ``""`` when none is close."""
    close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if not close:
        return ""
    return f"did you mean '{prefix}{close[0]}'?"


def _unknown_table(table: str, known: set[str], available: list[str]) -> QueryError:
    message = f"unknown table {table!r}; available: {', '.join(available)}"
    kind, _, experiment = table.partition("_")
    if kind in ("results", "failures") and experiment and experiment not in known:
        message += f"; no experiment {experiment!r}"
        hint = _did_you_mean(experiment, sorted(known), prefix=f"{kind}_")
    else:
        hint = _did_you_mean(table, available)
    return QueryError(f"{message}; {hint}" if hint else message)


_MISSING_COLUMN = re.compile(r'(?:column "([^"]+)" not found|have a column named "([^"]+)")')


def _query_failed(err: Exception, columns: list[str]) -> QueryError:
    """DuckDB's message, hint and caret kept, with a suggestion for a mistyped column."""
    lines = [line for line in str(err).strip().splitlines() if line.strip()]
    missing = _MISSING_COLUMN.search(lines[0]) if lines else None
    if missing:
        hint = _did_you_mean(missing.group(1) or missing.group(2), columns)
        if hint:
            at = next((i for i, line in enumerate(lines) if line.startswith("LINE ")), len(lines))
            lines.insert(at, hint)
    return QueryError("query failed: " + "\n".join(lines))


def _json_value(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_json_value(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    return str(value)


def records_json(frame: pd.DataFrame) -> str:
    """``frame`` as a JSON array of row objects, every float exactly (shortest round-trip form).

    Missing values and non-finite floats are ``null``; times are ISO 8601; bytes are base64.
    """
    columns = [str(c) for c in frame.columns]
    values = [[_json_value(v) for v in frame.iloc[:, i].tolist()] for i in range(len(columns))]
    rows = [dict(zip(columns, row, strict=True)) for row in zip(*values, strict=True)]
    return json.dumps(rows, separators=(",", ":"), allow_nan=False)


def _athena(sql: str) -> pd.DataFrame:
    """Runs ``sql`` on Athena through awswrangler (pure-Python engine, never Ray)."""
    try:
        import awswrangler as wr
        import boto3
    except ImportError:
        raise QueryError(
            "Athena queries need awswrangler (pip install 'sweep_magic[cloud]')"
        ) from None
    config = load_config()
    wr.engine.set("python")
    wr.memory_format.set("pandas")
    session = boto3.Session(region_name=config.region or None)
    try:
        frame: pd.DataFrame = wr.athena.read_sql_query(
            sql,
            database=config.athena_database,
            workgroup=config.athena_workgroup,
            ctas_approach=False,
            boto3_session=session,
        )
    except Exception as err:  # noqa: BLE001 - every Athena failure is reported the same way
        raise QueryError(f"Athena query failed: {err}") from None
    return frame


def query(
    sql: str,
    root: str | os.PathLike[str] | None = None,
    *,
    last_run: Run | None = None,
    cloud: bool = False,
) -> pd.DataFrame:
    """Runs Athena-dialect ``sql`` over the runs under ``root`` and returns a DataFrame.

    ``sql`` must be one read-only query (``SELECT``, ``WITH ... SELECT`` or ``VALUES``) over
    the catalog's tables; anything else, and any SQL that would read a file, is refused with
    :class:`QueryError`. Unnamed computed columns are named as written (``count(*)``). A
    ``root`` that is given must exist.

    ``cloud=True`` queries the cloud runs instead: on Athena (database and workgroup from
    ``SWEEP_ATHENA_DATABASE`` / ``SWEEP_ATHENA_WORKGROUP``), or, with
    ``SWEEP_CLOUD_QUERY=duckdb`` (the local emulation), on DuckDB over the S3 objects under
    ``SWEEP_S3_ROOT`` — the same SQL text either way.

    >>> sm.query("SELECT run_id, avg(price) FROM results_gbm_option GROUP BY 1")  # doctest: +SKIP
    """
    import duckdb

    if cloud and load_config().cloud_query == "athena":
        _translate(sql)  # the same refusals and parse errors as locally, before any AWS call
        return _athena(sql)
    duck_sql, tables = _translate(sql)
    root_path = load_config().resolve_root(root)
    if root is not None and not cloud:
        if not root_path.exists():
            raise QueryError(f"root {root_path} does not exist")
        if not root_path.is_dir():
            raise QueryError(f"root {root_path} is not a directory")
    known = {e.name for e in experiments()}
    available = [f"{k}_{e}" for e in known for k in ("results", "failures")]
    if not cloud:
        available += ["runs", *(["last_run"] if last_run is not None else [])]
    available.sort()
    con = duckdb.connect(":memory:")
    try:
        for table in sorted(tables):
            kind, _, experiment = table.partition("_")
            if cloud:
                if kind not in ("results", "failures") or experiment not in known:
                    raise _unknown_table(table, known, available)
                _bind_table_s3(con, kind, experiment)
            elif table == "runs":
                con.register("runs", _runs_frame(root_path))
            elif table == "last_run" and last_run is not None:
                # Convenience for notebooks: the last run's results under a fixed name.
                _bind_table(con, Path(last_run.root), "results", last_run.experiment)
                con.sql(f"SELECT * FROM results_{last_run.experiment}").filter(  # noqa: S608 - table name from the registry, values bound
                    duckdb.ColumnExpression("run_id") == duckdb.ConstantExpression(last_run.run_id)
                ).create_view("last_run")
            elif kind in ("results", "failures") and experiment in known:
                _bind_table(con, root_path, kind, experiment)
            else:
                raise _unknown_table(table, known, available)
        columns = sorted({c for table in tables for c in con.table(table).columns})
        _lock_down(con)
        try:
            result: pd.DataFrame = con.execute(duck_sql).df()
        except duckdb.Error as err:
            raise _query_failed(err, columns) from None
        return result
    finally:
        con.close()
