"""Runs in a result folder (``local`` and ``ray``): the manifest is written here, then the
backend's shard executions compute the shards into the same folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .. import _native
from ..config import load_config
from ..handle import Run
from ..spec import Spec
from .base import Execution, Progress

__all__ = ["FolderBackend", "RetryExecution"]


class RetryExecution:
    """A retry of a run's failed rows on some backend's execution: the same interface, and
    when the execution ends its outcome is added to the run's retry record."""

    def __init__(self, inner: Execution, root: Path, run_id: str, attempt: int) -> None:
        self._inner, self._root, self._run_id, self.attempt = inner, root, run_id, attempt
        self._recorded = False

    def _record(self) -> None:
        if self._recorded or not self._inner.done() or self._inner.error is not None:
            return
        self._recorded = True
        p = self._inner.progress()
        # In a retry, ok rows are rows recovered and failed rows are rows that failed again.
        _native.retry_finish(
            str(self._root), self._run_id, self.attempt, p.rows_ok + p.rows_failed, p.rows_ok
        )

    def done(self) -> bool:
        finished = self._inner.done()
        if finished:
            self._record()
        return finished

    def wait(self, timeout: float | None = None) -> bool:
        finished = self._inner.wait(timeout)
        if finished:
            self._record()
        return finished

    def cancel(self) -> None:
        self._inner.cancel()

    def progress(self) -> Progress:
        return self._inner.progress()

    @property
    def cancelled(self) -> bool:
        return self._inner.cancelled

    @property
    def error(self) -> BaseException | None:
        return self._inner.error


class FolderBackend:
    """A :class:`~sweep_magic.backends.base.RunBackend` over a result folder; subclasses say
    how shards execute (:meth:`submit`)."""

    name = "folder"

    def submit(
        self,
        root: Path,
        run_id: str,
        shards: list[int] | None,
        retry_kinds: list[str] | None = None,
    ) -> Execution:
        """Starts computing ``shards`` of the run under ``root`` (None = all pending); with
        ``retry_kinds``, retries instead the failed rows of those error kinds (empty = all)
        in ``shards``."""
        raise NotImplementedError

    def start(self, spec: Spec, root: str | os.PathLike[str] | None) -> Run:
        root_path = load_config().resolve_root(root)
        run_id = _native.new_run_id(secrets.randbits(32))
        manifest = _native.create_run(str(root_path), spec.to_json(), "json", run_id, spec.max_rows)
        return Run(root_path, manifest, self.submit(root_path, run_id, None))

    def open(self, run_id: str, root: str | os.PathLike[str] | None) -> Run:
        root_path = load_config().resolve_root(root)
        return Run(root_path, _native.open_run(str(root_path), run_id))

    def resume(self, run_id: str, root: str | os.PathLike[str] | None) -> Run:
        root_path = load_config().resolve_root(root)
        manifest = _native.open_run(str(root_path), run_id)
        # Opening the run to compute comes first: a run this process cannot compute (its
        # kernel, or that build of it, is not loaded) is refused before anything changes.
        pending = _native.pending_shards(str(root_path), run_id)
        _native.clear_cancel(str(root_path), run_id)
        handle = Run(root_path, manifest, self.submit(root_path, run_id, pending))
        handle._already_done = manifest["plan"]["shards"] - len(pending)
        return handle

    def retry(
        self, run_id: str, root: str | os.PathLike[str] | None, error_kinds: list[str]
    ) -> Run:
        """Computes again the run's failed rows of ``error_kinds`` (empty = all), into the
        same run; the attempt is recorded in ``runs/<id>/retries/``."""
        root_path = load_config().resolve_root(root)
        manifest = _native.open_run(str(root_path), run_id)
        begun = _native.retry_begin(str(root_path), run_id, list(error_kinds))
        shards = [int(s) for s in begun["shards"]]
        attempt = int(begun["record"]["attempt"])
        inner = self.submit(root_path, run_id, shards, list(error_kinds))
        handle = Run(root_path, manifest, RetryExecution(inner, root_path, run_id, attempt))
        handle._is_retry = True
        handle._already_done = manifest["plan"]["shards"] - len(shards)
        return handle
