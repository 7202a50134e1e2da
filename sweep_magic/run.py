"""Runs: starting one (:func:`run`), and the handle that waits for it and reads its results."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _native
from .backends import Execution, get_backend
from .config import load_config
from .errors import RunCancelledError
from .spec import Spec

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Run", "open_run", "run"]

_ARROW_TYPES = {"bigint": "int64", "double": "float64", "boolean": "bool_", "string": "string"}


class Run:
    """A handle on one run: its id, where its files are, and (while it runs) its execution.

    Returned by :func:`run`; ``wait()`` blocks until every shard has an outcome, and the
    ``to_*`` readers return one row per point and replicate.
    """

    def __init__(
        self, root: Path, manifest: dict[str, Any], execution: Execution | None = None
    ) -> None:
        self.root = root
        self.manifest = manifest
        self._execution = execution
        self._started = time.monotonic()

    @property
    def run_id(self) -> str:
        """The run's id (also its partition value in the results tables)."""
        return str(self.manifest["run_id"])

    @property
    def experiment(self) -> str:
        """Experiment name."""
        return str(self.manifest["experiment"])

    @property
    def spec(self) -> dict[str, Any]:
        """The normalized spec the run was created from."""
        return dict(self.manifest["spec"])

    @property
    def plan(self) -> dict[str, int]:
        """Points, replicates, rows, shard size and shard count."""
        return dict(self.manifest["plan"])

    @property
    def results_dir(self) -> Path:
        """Folder of the run's result Parquet files."""
        return self.root / "results" / self.experiment / f"run_id={self.run_id}"

    @property
    def failures_dir(self) -> Path:
        """Folder of the run's failure Parquet files."""
        return self.root / "failures" / self.experiment / f"run_id={self.run_id}"

    @property
    def run_dir(self) -> Path:
        """Folder of the run's manifest and shard markers."""
        return self.root / "runs" / self.run_id

    def done(self) -> bool:
        """Whether the execution started by this handle has finished."""
        return self._execution is None or self._execution.done()

    def wait(self, timeout: float | None = None) -> Run:
        """Blocks until the run finishes (or ``timeout`` seconds pass).

        Interrupting the wait (Ctrl-C) cancels the run: no new point starts, finished shards
        are kept, and ``KeyboardInterrupt`` propagates.
        """
        if self._execution is None:
            return self
        try:
            self._execution.wait(timeout)
        except KeyboardInterrupt:
            self._execution.cancel()
            self._execution.wait()
            raise
        if self._execution.done() and self._execution.cancelled:
            raise RunCancelledError(
                f"run {self.run_id} was cancelled; finished shards are kept under {self.root}"
            )
        return self

    def cancel(self) -> None:
        """Stops the run before its next point. Finished shards are kept."""
        if self._execution is not None:
            self._execution.cancel()

    def counts(self) -> dict[str, int]:
        """Shards done and rows written so far, read from the shard markers."""
        shards = rows_ok = rows_failed = 0
        markers = self.run_dir / "shards"
        for marker in markers.glob("*.json") if markers.is_dir() else []:
            m = json.loads(marker.read_text())
            shards += 1
            rows_ok += int(m["rows_ok"])
            rows_failed += int(m["rows_failed"])
        return {
            "shards_total": self.plan["shards"],
            "shards_done": shards,
            "rows_ok": rows_ok,
            "rows_failed": rows_failed,
        }

    def _read(self, folder: Path, table: str) -> pa.Table:
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        if files:
            result = pa.concat_tables([pq.read_table(f) for f in files])
        else:
            columns = self.manifest["tables"][table]
            schema = pa.schema(
                [(c["name"], getattr(pa, _ARROW_TYPES[c["type"]])()) for c in columns]
            )
            result = schema.empty_table()
        return result.sort_by([("point", "ascending"), ("replicate", "ascending")])

    def to_arrow(self) -> pa.Table:
        """Successful rows as an Arrow table, ordered by point and replicate."""
        self.wait()
        return self._read(self.results_dir, "results")

    def to_pandas(self) -> pd.DataFrame:
        """Successful rows as a DataFrame: one row per point and replicate, typed columns."""
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame

    def failures(self) -> pd.DataFrame:
        """Failed rows (parameters, seed, ``error_kind``, ``message``)."""
        self.wait()
        frame: pd.DataFrame = self._read(self.failures_dir, "failures").to_pandas()
        return frame

    def __repr__(self) -> str:
        state = "running" if not self.done() else "finished"
        return (
            f"Run(run_id={self.run_id!r}, experiment={self.experiment!r}, {state}, "
            f"root={str(self.root)!r})"
        )


def _as_spec(spec: Spec | Mapping[str, Any] | str | os.PathLike[str]) -> Spec:
    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, Mapping):
        return Spec(spec)
    return Spec.from_file(spec)


def run(
    spec: Spec | Mapping[str, Any] | str | os.PathLike[str],
    backend: str | None = None,
    root: str | os.PathLike[str] | None = None,
    *,
    threads: int | None = None,
) -> Run:
    """Starts a run of ``spec`` and returns its handle at once; call ``.wait()`` to block.

    ``spec`` is a :class:`Spec`, a mapping, or a path to a spec file. ``backend`` defaults to
    ``SWEEP_BACKEND`` or ``local``; ``root`` to ``SWEEP_ROOT`` or ``./sweep-data``. The spec
    is validated and the manifest written before any shard runs.
    """
    config = load_config()
    checked = _as_spec(spec)
    chosen = get_backend(backend or config.backend)
    if threads is not None and hasattr(chosen, "threads"):
        chosen.threads = config.resolve_threads(threads)
    root_path = config.resolve_root(root)
    run_id = _native.new_run_id(secrets.randbits(32))
    manifest = json.loads(
        _native.create_run(str(root_path), checked.to_json(), "json", run_id, checked.max_points)
    )
    execution = chosen.submit(root_path, run_id, None)
    return Run(root_path, manifest, execution)


def open_run(run_id: str, root: str | os.PathLike[str] | None = None) -> Run:
    """A handle on an existing run, for reading its results."""
    root_path = load_config().resolve_root(root)
    manifest = json.loads(_native.open_run(str(root_path), run_id))
    return Run(root_path, manifest)
