"""Starting, resuming and opening runs on any backend (each behind the one run-level
interface of :mod:`sweep_magic.backends`), and listing the runs under a root."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _native
from . import handle as handle_module
from .backends import BackendOptions, get_backend
from .config import load_config
from .errors import BackendError
from .handle import Run, RunStatus
from .rust_kernels import load_env_kernels
from .spec import Spec

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Run", "RunStatus", "open_run", "resume", "retry_failed", "run", "runs"]


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
    address: str | None = None,
) -> Run:
    """Starts a run of ``spec`` and returns its handle at once; call ``.wait()`` to block.

    ``spec`` is a :class:`Spec`, a mapping, or a path to a spec file. ``backend`` defaults to
    ``SWEEP_BACKEND`` or ``local``; ``root`` to ``SWEEP_ROOT`` or ``./sweep-data``. The spec
    is validated and the manifest written before any shard runs. ``threads`` sets the
    ``local`` backend's threads, ``address`` the Ray cluster of the ``ray`` backend.
    """
    config = load_config()
    chosen = get_backend(backend or config.backend, BackendOptions(threads, address))
    return chosen.start(_as_spec(spec), root)


def resume(
    run_id: str,
    root: str | os.PathLike[str] | None = None,
    backend: str | None = None,
    *,
    threads: int | None = None,
    address: str | None = None,
) -> Run:
    """Continues run ``run_id``: computes only the shards without a success marker.

    Withdraws any cancel request first. Because every row is a function of the spec alone,
    the finished run is identical to one that was never interrupted.
    """
    load_env_kernels()  # a run of a Rust kernel needs its library registered to resume
    config = load_config()
    chosen = get_backend(backend or config.backend, BackendOptions(threads, address))
    return chosen.resume(run_id, root)


def retry_failed(
    run_id: str,
    error_kind: str | Sequence[str] | None = None,
    *,
    root: str | os.PathLike[str] | None = None,
    backend: str | None = None,
    threads: int | None = None,
    address: str | None = None,
) -> Run:
    """Computes again the failed rows of run ``run_id`` — all of them, or those whose
    ``error_kind`` is given (one kind or several) — into the same run, on any folder backend,
    and returns the run's handle (``.wait()`` blocks). A row that now succeeds moves from
    failures to results; one that fails again stays in failures with its new error; every
    (point, replicate) stays exactly once in one of the two. Seeds are unchanged, so a
    failure that depends only on the row (a kernel error for those parameters) fails again:
    retrying serves transient causes (timeouts, memory, a throttled dependency). Each retry
    is recorded (``run.retries()``)."""
    load_env_kernels()  # a run of a Rust kernel needs its library registered to compute
    config = load_config()
    kinds = [error_kind] if isinstance(error_kind, str) else list(error_kind or [])
    chosen = get_backend(backend or config.backend, BackendOptions(threads, address))
    retry = getattr(chosen, "retry", None)
    if retry is None:
        raise BackendError(
            f"the {chosen.name} backend cannot retry failed rows yet; retry the run's rows "
            "on `local` or `ray` with its result folder"
        )
    handle: Run = retry(run_id, root, kinds)
    return handle


handle_module.retry_failed_hook = retry_failed

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
    for entry in _native.list_runs(str(root)):
        m, st = entry["manifest"], entry["status"]
        state = _native.run_state(
            st["shards_total"], st["shards_done"], st["cancel_requested"], "unknown", st["failed"]
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
    return get_backend("cloud" if cloud else "local", BackendOptions()).open(run_id, root)
