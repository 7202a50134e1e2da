"""The handle on one run (:class:`Run`) and its status: waiting, cancelling, progress and
reading results, the same for every backend. Results are read through ``pyarrow.fs`` with the
engine's layout keys, so a folder on this machine and an S3 prefix are read by one code path.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _native
from ._types import Manifest, Plan
from .backends.base import Execution
from .errors import RunCancelledError, RunFailedError

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.fs as pafs

__all__ = ["Run", "RunStatus"]

#: ``sweep_magic.run.retry_failed``, set by that module when it is imported (the package's
#: ``__init__`` imports it): choosing a backend is the run module's job, and it imports this
#: one, so the handle reaches it through this reference rather than an import.
retry_failed_hook: Callable[..., Run] | None = None

_ARROW_TYPES = {"bigint": "int64", "double": "float64", "boolean": "bool_", "string": "string"}


@dataclass(frozen=True)
class RunStatus:
    """Where a run stands, from its shard markers (and its live execution, if any)."""

    run_id: str
    #: ``running``, ``complete``, ``cancelled``, ``incomplete`` (stopped, resumable) or
    #: ``failed`` (stopped by the spec's failure threshold; ``reason`` says why).
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
    #: Why the failure threshold stopped the run (``state == "failed"``), else None.
    reason: str | None = None

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
        self,
        root: Path | str,
        manifest: Manifest,
        execution: Execution | None = None,
        *,
        fs: pafs.FileSystem | None = None,
        base: str | None = None,
    ) -> None:
        #: Where the run lives: a folder, or an ``s3://bucket/prefix/`` URI.
        self.root = root
        self.manifest = manifest
        self._fs = fs
        # The root as `fs` names it (a folder path, or bucket/prefix for S3).
        self._base = base if base is not None else str(root)
        self._execution = execution
        self._started = time.monotonic()
        self._ended: float | None = None
        self._already_done = 0
        #: A retry of failed rows: its wait does not raise for the run's failure threshold.
        self._is_retry = False

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
    def plan(self) -> Plan:
        """Points, replicates, rows, shard size and shard count."""
        return self.manifest["plan"]

    @property
    def keys(self) -> dict[str, str]:
        """The run's keys relative to its root, from the engine's one layout definition."""
        return _native.run_keys(self.run_id, self.experiment, int(self.manifest["plan"]["shards"]))

    @property
    def results_dir(self) -> Path:
        """Folder of the run's result Parquet files (runs in a local folder)."""
        return Path(self.root) / self.keys["results"]

    @property
    def failures_dir(self) -> Path:
        """Folder of the run's failure Parquet files (runs in a local folder)."""
        return Path(self.root) / self.keys["failures"]

    def _location(self, key: str) -> str:
        if isinstance(self.root, Path):
            return str(self.root / key)
        return f"{self.root.rstrip('/')}/{key}"

    @property
    def results_location(self) -> str:
        """Where the run's results are (a folder, or an ``s3://`` prefix)."""
        return self._location(self.keys["results"])

    @property
    def failures_location(self) -> str:
        """Where the run's failures are (a folder, or an ``s3://`` prefix)."""
        return self._location(self.keys["failures"])

    @property
    def run_dir(self) -> Path:
        """Folder of the run's manifest and shard markers."""
        return Path(self.root) / self.keys["run"]

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
        # A run already finished when the wait starts gets a bar without a rate (shards "done"
        # in the instant between creating the bar and updating it are no speed).
        bar = self._progress_bar(finished=self._execution.done()) if progress else None
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
        if self._execution.done() and not self._is_retry:
            # Stopped by the failure threshold (here, or by another process of the run).
            reason = _native.failure_reason(str(self.root), self.run_id)
            if reason is not None:
                raise RunFailedError(
                    f"run {self.run_id} failed: {reason}; finished shards are kept under "
                    f"{self.root}. Retry the failed rows (sm.retry_failed({self.run_id!r})), "
                    f"then sm.resume({self.run_id!r}) to finish it"
                )
        if self._execution.done() and self._execution.cancelled:
            raise RunCancelledError(
                f"run {self.run_id} was cancelled; finished shards are kept under {self.root}; "
                f"sm.resume({self.run_id!r}) finishes it"
            )
        return self

    def _shards_done_live(self) -> int:
        assert self._execution is not None  # noqa: S101 - narrows the type for mypy
        return self._already_done + self._execution.progress().shards_done

    def _progress_bar(self, *, finished: bool = False) -> Any:
        from tqdm.auto import tqdm

        extra: dict[str, Any] = {}
        if finished:
            extra["bar_format"] = "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} shards"
        return tqdm(
            total=self.plan["shards"],
            initial=self._already_done,
            desc=f"{self.experiment} {self.run_id}",
            unit="shard",
            **extra,
        )

    def cancel(self) -> None:
        """Stops the run before its next row, here and in any other process running it.

        Finished shards are kept; ``sm.resume(run_id)`` computes the rest. A run that is
        already complete is left as it is (no cancel marker is written).
        """
        raw = _native.run_status(str(self.root), self.run_id)
        if raw["shards_done"] >= raw["shards_total"]:
            return
        _native.request_cancel(str(self.root), self.run_id)
        if self._execution is not None:
            self._execution.cancel()

    def status(self) -> RunStatus:
        """Shards and rows done so far, elapsed time and an estimate of the time remaining."""
        raw = _native.run_status(str(self.root), self.run_id)
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
            raw["shards_total"], raw["shards_done"], raw["cancel_requested"], known, raw["failed"]
        )
        created = datetime.fromisoformat(self.manifest["created_at"].replace("Z", "+00:00"))
        if execution is not None:
            # This handle timed its own execution: the clock stops when the execution ends.
            if not running and self._ended is None:
                self._ended = time.monotonic()
            elapsed = (self._ended or time.monotonic()) - self._started
        elif "finished_ms" in raw:
            # A finished run reports its own duration: creation to completion.
            elapsed = raw["finished_ms"] / 1000 - created.timestamp()
        else:
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
            elapsed_s=round(max(elapsed, 0.0), 3),
            eta_s=None if eta is None else round(eta, 3),
            reason=_native.failure_reason(str(self.root), self.run_id) if raw["failed"] else None,
        )

    def _read(self, table: str) -> pa.Table:
        """Every Parquet file of the run's partition of ``table``, through ``pyarrow.fs``."""
        import pyarrow as pa
        import pyarrow.fs as pafs
        import pyarrow.parquet as pq

        fs = self._fs if self._fs is not None else pafs.LocalFileSystem()
        folder = f"{self._base.rstrip('/')}/{self.keys[table].rstrip('/')}"
        infos = fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True))
        files = sorted(i.path for i in infos if i.is_file and i.base_name.endswith(".parquet"))
        if files:
            result = pa.concat_tables([pq.read_table(f, filesystem=fs) for f in files])
        else:
            tables = self.manifest["tables"]
            columns = tables["results"] if table == "results" else tables["failures"]
            schema = pa.schema(
                [(c["name"], getattr(pa, _ARROW_TYPES[c["type"]])()) for c in columns]
            )
            result = schema.empty_table()
        return result.sort_by([("point", "ascending"), ("replicate", "ascending")])

    def to_arrow(self) -> pa.Table:
        """Successful rows as an Arrow table, ordered by point and replicate."""
        self.wait()
        return self._read("results")

    def to_pandas(self) -> pd.DataFrame:
        """Successful rows as a DataFrame: one row per point and replicate, typed columns."""
        frame: pd.DataFrame = self.to_arrow().to_pandas()
        return frame

    def failures(self) -> pd.DataFrame:
        """Failed rows (parameters, seed, ``error_kind``, ``message``)."""
        self.wait()
        frame: pd.DataFrame = self._read("failures").to_pandas()
        return frame

    def retry_failed(
        self,
        error_kind: str | Sequence[str] | None = None,
        *,
        backend: str | None = None,
        threads: int | None = None,
        address: str | None = None,
    ) -> Run:
        """Computes this run's failed rows again (all, or those of ``error_kind``) into the
        same run; see :func:`sweep_magic.retry_failed`. Returns the handle of the retry."""
        if retry_failed_hook is None:  # only when sweep_magic.handle is used on its own
            raise RuntimeError("import sweep_magic before retrying a run")
        # A stopped run's failed rows can be retried all the same.
        with contextlib.suppress(RunFailedError, RunCancelledError):
            self.wait()
        return retry_failed_hook(
            self.run_id,
            error_kind,
            root=self.root,
            backend=backend,
            threads=threads,
            address=address,
        )

    def retries(self) -> list[dict[str, Any]]:
        """Every retry of this run's failed rows, oldest first: attempt, error kinds,
        start and end, rows retried and recovered."""
        return [dict(r) for r in _native.run_retries(str(self.root), self.run_id)]

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
