"""Runs: starting one (:func:`run`), and the handle that waits for it and reads its results."""

from __future__ import annotations

import json
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _native
from .backends import Execution, get_backend
from .config import load_config
from .errors import BackendError, RunCancelledError
from .kernels import python_definition
from .spec import Spec

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = ["Run", "RunStatus", "open_run", "resume", "run", "runs"]

_ARROW_TYPES = {"bigint": "int64", "double": "float64", "boolean": "bool_", "string": "string"}


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands, from its shard markers (and its live execution, if any)."""

    run_id: str
    #: ``running``, ``complete``, ``cancelled`` or ``incomplete`` (stopped, resumable).
    state: str
    shards_total: int
    shards_done: int
    #: Shards left without a marker because this handle's execution raised.
    shards_failed: int
    rows_total: int
    rows_ok: int
    rows_failed: int
    elapsed_s: float
    #: Estimated seconds to completion from this execution's rate so far (None if unknown).
    eta_s: float | None

    @property
    def fraction_done(self) -> float:
        """Shards done over shards total."""
        return self.shards_done / self.shards_total if self.shards_total else 1.0


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
        self._already_done = 0

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
    def keys(self) -> dict[str, str]:
        """The run's keys relative to its root, from the engine's one layout definition."""
        return _native.run_keys(self.run_id, self.experiment, int(self.manifest["plan"]["shards"]))

    @property
    def results_dir(self) -> Path:
        """Folder of the run's result Parquet files."""
        return self.root / self.keys["results"]

    @property
    def failures_dir(self) -> Path:
        """Folder of the run's failure Parquet files."""
        return self.root / self.keys["failures"]

    @property
    def results_location(self) -> str:
        """Where the run's results are (a folder, or an ``s3://`` prefix)."""
        return str(self.results_dir)

    @property
    def failures_location(self) -> str:
        """Where the run's failures are (a folder, or an ``s3://`` prefix)."""
        return str(self.failures_dir)

    @property
    def run_dir(self) -> Path:
        """Folder of the run's manifest and shard markers."""
        return self.root / self.keys["run"]

    def done(self) -> bool:
        """Whether the execution started by this handle has finished."""
        return self._execution is None or self._execution.done()

    def wait(self, timeout: float | None = None, *, progress: bool = False) -> Run:
        """Blocks until the run finishes (or ``timeout`` seconds pass).

        ``progress=True`` shows a tqdm bar over shards (a widget in notebooks). Interrupting
        the wait (Ctrl-C, "interrupt kernel") cancels the run: no new row starts, finished
        shards are kept, and ``KeyboardInterrupt`` propagates; ``sm.resume`` finishes it.
        """
        if self._execution is None:
            return self
        bar = self._progress_bar() if progress else None
        try:
            deadline = None if timeout is None else time.monotonic() + timeout
            step = 0.2 if bar is not None else timeout
            while not self._execution.wait(step):
                if bar is not None:
                    bar.update(self._shards_done_live() - bar.n)
                if deadline is not None and time.monotonic() >= deadline:
                    break
        except KeyboardInterrupt:
            self._execution.cancel()
            self._execution.wait()
            raise
        finally:
            if bar is not None:
                bar.update(self._shards_done_live() - bar.n)
                bar.close()
        if self._execution.done() and self._execution.cancelled:
            raise RunCancelledError(
                f"run {self.run_id} was cancelled; finished shards are kept under {self.root}; "
                f"sm.resume({self.run_id!r}) finishes it"
            )
        return self

    def _shards_done_live(self) -> int:
        assert self._execution is not None  # noqa: S101 - narrows the type for mypy
        return self._already_done + self._execution.progress().shards_done

    def _progress_bar(self) -> Any:
        from tqdm.auto import tqdm

        return tqdm(
            total=self.plan["shards"],
            initial=self._already_done,
            desc=f"{self.experiment} {self.run_id}",
            unit="shard",
        )

    def cancel(self) -> None:
        """Stops the run before its next row, here and in any other process running it.

        Finished shards are kept; ``sm.resume(run_id)`` computes the rest.
        """
        _native.request_cancel(str(self.root), self.run_id)
        if self._execution is not None:
            self._execution.cancel()

    def status(self) -> RunStatus:
        """Shards and rows done so far, elapsed time and an estimate of the time remaining."""
        raw = json.loads(_native.run_status(str(self.root), self.run_id))
        execution = self._execution
        running = execution is not None and not execution.done()
        failed = 0
        if execution is not None and not running and execution.error is not None:
            failed = raw["shards_total"] - raw["shards_done"]
        if execution is None:
            known = "unknown"
        elif running:
            known = "running"
        else:
            known = "cancelled" if execution.cancelled else "ended"
        state = _native.run_state(
            raw["shards_total"], raw["shards_done"], raw["cancel_requested"], known
        )
        if execution is not None:
            elapsed = time.monotonic() - self._started
        else:
            created = datetime.fromisoformat(self.manifest["created_at"].replace("Z", "+00:00"))
            elapsed = (datetime.now(UTC) - created).total_seconds()
        done_here = raw["shards_done"] - self._already_done
        eta = None
        if state == "complete":
            eta = 0.0
        elif state == "running" and done_here > 0:
            eta = elapsed / done_here * (raw["shards_total"] - raw["shards_done"])
        return RunStatus(
            run_id=self.run_id,
            state=state,
            shards_total=raw["shards_total"],
            shards_done=raw["shards_done"],
            shards_failed=failed,
            rows_total=raw["rows_total"],
            rows_ok=raw["rows_ok"],
            rows_failed=raw["rows_failed"],
            elapsed_s=round(elapsed, 3),
            eta_s=None if eta is None else round(eta, 3),
        )

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

    def _axes(self) -> tuple[list[str], list[str]]:
        """Parameters that vary in this run, and every metric."""
        from .experiments import get_experiment

        exp = get_experiment(self.experiment)
        params = self.spec["params"]
        constant = {name for name, value in params.items() if not isinstance(value, (list, dict))}
        varying = [p.name for p in exp.params if p.name not in constant]
        return varying, [m.name for m in exp.metrics]

    def summary(
        self, by: Sequence[str] | None = None, metrics: Sequence[str] | None = None
    ) -> pd.DataFrame:
        """Aggregates replicates: per combination of ``by`` (default: every parameter that
        varies), each metric's ``_mean``, ``_std``, ``_count`` and ``_ci95`` (half-width of
        the 95% Student-t confidence interval)."""
        from .analysis import summarize

        varying, all_metrics = self._axes()
        return summarize(
            self.to_pandas(),
            list(by) if by is not None else varying,
            list(metrics) if metrics is not None else all_metrics,
        )

    def plot(
        self, x: str, y: str, hue: str | None = None, kind: str = "line", ax: Any = None
    ) -> Any:
        """Plots metric ``y`` against ``x`` (one line per ``hue`` value, 95% CI error bars
        over replicates), or a heatmap with ``kind="heatmap"``. Needs matplotlib."""
        from .analysis import plot

        return plot(self.to_pandas(), x, y, hue=hue, kind=kind, ax=ax)

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
    backend_name = backend or config.backend
    if backend_name == "cloud":
        if python_definition(checked.experiment) is not None:
            raise BackendError(
                f"{checked.experiment} is a Python kernel; the cloud backend runs compiled Rust "
                "kernels only (use backend='local' or 'ray')"
            )
        from .cloud import submit

        return submit(checked, config)
    chosen = get_backend(backend_name)
    if threads is not None and hasattr(chosen, "threads"):
        chosen.threads = config.resolve_threads(threads)
    root_path = config.resolve_root(root)
    run_id = _native.new_run_id(secrets.randbits(32))
    manifest = json.loads(
        _native.create_run(str(root_path), checked.to_json(), "json", run_id, checked.max_rows)
    )
    execution = chosen.submit(root_path, run_id, None)
    return Run(root_path, manifest, execution)


def resume(
    run_id: str,
    root: str | os.PathLike[str] | None = None,
    backend: str | None = None,
    *,
    threads: int | None = None,
) -> Run:
    """Continues run ``run_id``: computes only the shards without a success marker.

    Withdraws any cancel request first. Because every row is a function of the spec alone,
    the finished run is identical to one that was never interrupted.
    """
    config = load_config()
    if (backend or config.backend) == "cloud":
        from .cloud import resume_cloud

        return resume_cloud(run_id, config)
    root_path = config.resolve_root(root)
    manifest = json.loads(_native.open_run(str(root_path), run_id))
    _native.clear_cancel(str(root_path), run_id)
    chosen = get_backend(backend or config.backend)
    if threads is not None and hasattr(chosen, "threads"):
        chosen.threads = config.resolve_threads(threads)
    pending = _native.pending_shards(str(root_path), run_id)
    handle = Run(root_path, manifest, chosen.submit(root_path, run_id, pending))
    handle._already_done = manifest["plan"]["shards"] - len(pending)
    return handle


_RUNS_COLUMNS = [
    "run_id",
    "experiment",
    "name",
    "created_at",
    "points",
    "rows",
    "shards",
    "shards_done",
    "rows_ok",
    "rows_failed",
    "state",
    "spec_hash",
]


def runs(root: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Every run under the root, oldest first: one row per manifest with its progress."""
    return runs_table(load_config().resolve_root(root))


def runs_table(root: Path, *, with_spec: bool = False) -> pd.DataFrame:
    """The runs under ``root`` from one listing; ``with_spec`` adds the normalized spec as a
    JSON ``spec`` column (the ``runs`` table of queries)."""
    import pandas as pd

    rows = []
    for entry in json.loads(_native.list_runs(str(root))):
        m, st = entry["manifest"], entry["status"]
        state = _native.run_state(
            st["shards_total"], st["shards_done"], st["cancel_requested"], "unknown"
        )
        row = {
            "run_id": m["run_id"],
            "experiment": m["experiment"],
            "name": m["name"],
            "created_at": pd.Timestamp(m["created_at"]),
            "points": m["plan"]["points"],
            "rows": m["plan"]["rows"],
            "shards": st["shards_total"],
            "shards_done": st["shards_done"],
            "rows_ok": st["rows_ok"],
            "rows_failed": st["rows_failed"],
            "state": state,
            "spec_hash": m["spec_hash"],
        }
        if with_spec:
            row["spec"] = json.dumps(m["spec"])
        rows.append(row)
    columns = [*_RUNS_COLUMNS, "spec"] if with_spec else _RUNS_COLUMNS
    return pd.DataFrame(rows, columns=columns)


def open_run(
    run_id: str, root: str | os.PathLike[str] | None = None, *, cloud: bool = False
) -> Run:
    """A handle on an existing run, for reading its results; ``cloud=True`` reattaches to a
    run of the cloud backend (status from the API, results from S3)."""
    if cloud:
        from .cloud import open_cloud_run

        return open_cloud_run(run_id)
    root_path = load_config().resolve_root(root)
    manifest = json.loads(_native.open_run(str(root_path), run_id))
    return Run(root_path, manifest)
