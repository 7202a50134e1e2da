"""SQL over run results, written in Athena's (Trino) dialect and run locally on DuckDB.

The local catalog mirrors the cloud one, so the same SQL text runs on both:

- ``results_<experiment>``: successful rows of every run, with partition column ``run_id``;
- ``failures_<experiment>``: failed rows (``error_kind``, ``message``), same partitioning;
- ``runs``: one row per run manifest.

Queries are translated from Trino to DuckDB by sqlglot. Tables are bound to the Parquet files
through DuckDB's relation API, so no path or user value is ever spliced into SQL text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from . import _native
from .config import load_config
from .errors import QueryError
from .experiments import experiments, get_experiment

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

    from .run import Run

__all__ = ["QueryError", "query"]

_DUCK_TYPES = {"bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN", "string": "VARCHAR"}


def _columns(kind: str, experiment: str) -> list[tuple[str, str]]:
    return [*get_experiment(experiment).tables[kind], ("run_id", "string")]


def _bind_table(con: duckdb.DuckDBPyConnection, root: Path, kind: str, experiment: str) -> None:
    name = f"{kind}_{experiment}"
    folder = root / _native.table_prefix(kind, experiment)
    files = sorted(
        f
        for f in folder.glob("*/*.parquet")
        if _native.run_id_of_partition(f.parent.name) is not None
    )
    if files:
        rel = con.read_parquet([str(f) for f in files], hive_partitioning=True)
        # Run ids are strings in Glue too; never let type inference make them anything else.
        rel = rel.project("* EXCLUDE (run_id), CAST(run_id AS VARCHAR) AS run_id")
    else:
        # No data yet: an empty table with the declared columns, so queries still plan.
        cols = ", ".join(
            f"CAST(NULL AS {_DUCK_TYPES[t]}) AS {c}" for c, t in _columns(kind, experiment)
        )
        rel = con.sql(f"SELECT {cols} WHERE false")
    rel.create_view(name)


def _runs_frame(root: Path) -> pd.DataFrame:
    import pandas as pd

    from .run import runs_table

    df = runs_table(root, with_spec=True)
    df["spec"] = df["spec"].astype("string")
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True).dt.tz_localize(None)
    return df


def _translate(sql: str) -> tuple[str, set[str]]:
    import sqlglot
    from sqlglot import exp
    from sqlglot.errors import ParseError

    try:
        trees = sqlglot.parse(sql, read="trino")
    except ParseError as err:
        first = err.errors[0] if err.errors else {}
        where = f"line {first.get('line', '?')}, column {first.get('col', '?')}"
        near = (first.get("start_context", "") + first.get("highlight", "")).strip()
        raise QueryError(
            f"SQL does not parse at {where} (near {near!r}): {first.get('description', err)}"
        ) from None
    statements = [t for t in trees if t is not None]
    if len(statements) != 1:
        raise QueryError(f"expected one SQL statement, got {len(statements)}")
    tree = statements[0]
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    tables = {t.name for t in tree.find_all(exp.Table)} - ctes
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
        table = pq.read_table(info.path, filesystem=fs)
        tables.append(table.append_column("run_id", pa.array([run_id] * len(table), pa.string())))
    if tables:
        con.register(f"{kind}_{experiment}", pa.concat_tables(tables))
    else:
        cols = ", ".join(
            f"CAST(NULL AS {_DUCK_TYPES[t]}) AS {c}" for c, t in _columns(kind, experiment)
        )
        con.sql(f"SELECT {cols} WHERE false").create_view(f"{kind}_{experiment}")


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

    ``cloud=True`` queries the cloud runs instead: on Athena (database and workgroup from
    ``SWEEP_ATHENA_DATABASE`` / ``SWEEP_ATHENA_WORKGROUP``), or, with
    ``SWEEP_CLOUD_QUERY=duckdb`` (the local emulation), on DuckDB over the S3 objects under
    ``SWEEP_S3_ROOT`` — the same SQL text either way.

    >>> sm.query("SELECT run_id, avg(price) FROM results_gbm_option GROUP BY 1")  # doctest: +SKIP
    """
    import duckdb

    if cloud and load_config().cloud_query == "athena":
        _translate(sql)  # the same parse errors as locally, before any AWS call
        return _athena(sql)
    root_path = load_config().resolve_root(root)
    duck_sql, tables = _translate(sql)
    known = {e.name for e in experiments()}
    available = sorted([f"{k}_{e}" for e in known for k in ("results", "failures")] + ["runs"])
    con = duckdb.connect(":memory:")
    try:
        for table in sorted(tables):
            kind, _, experiment = table.partition("_")
            if cloud:
                if kind not in ("results", "failures") or experiment not in known:
                    cloud_tables = [t for t in available if t != "runs"]
                    raise QueryError(
                        f"unknown table {table!r}; available: {', '.join(cloud_tables)}"
                    )
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
                raise QueryError(f"unknown table {table!r}; available: {', '.join(available)}")
        try:
            result: pd.DataFrame = con.execute(duck_sql).df()
        except duckdb.Error as err:
            message = str(err).splitlines()[0]
            raise QueryError(f"query failed: {message}") from None
        return result
    finally:
        con.close()
