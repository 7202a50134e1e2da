"""The ``local`` backend: Rust worker threads on this machine, no server, no extra install.

Shards run in the native engine with the GIL released, on a background Python thread so the
caller stays responsive: ``wait`` can be interrupted (Ctrl-C, Jupyter's "interrupt kernel"),
which cancels the run before its next point.
"""

from __future__ import annotations

import atexit
import contextlib
import sys
import threading
import time
import weakref
from pathlib import Path

from .. import _native
from .._types import RunReport
from ..config import load_config
from .base import Progress
from .folder import FolderBackend

__all__ = ["LocalBackend", "LocalExecution"]

#: Executions whose thread may still be computing.
_ACTIVE: weakref.WeakSet[LocalExecution] = weakref.WeakSet()


def _stop_at_exit() -> None:
    """Stops the runs still computing when the interpreter exits, and waits for their threads.

    A run's thread computes with the GIL released; if it came back to Python during the
    interpreter's shutdown, CPython would end it with a forced unwind, which the native frames
    cannot pass, and the process would abort. Cancelling stops each run before its next point;
    its finished shards are kept and ``sweep resume`` completes it."""
    running = [e for e in list(_ACTIVE) if not e.done()]
    for execution in running:
        execution.cancel()
        print(
            f"sweep_magic: run {execution.run_id} stopped at exit; finish it with "
            f"`sweep resume {execution.run_id}`",
            file=sys.stderr,
        )
    for execution in running:
        execution._thread.join()


atexit.register(_stop_at_exit)


class LocalExecution:
    """Shards computing on a background thread."""

    def __init__(
        self,
        root: Path,
        run_id: str,
        threads: int,
        shards: list[int] | None,
        retry_kinds: list[str] | None = None,
    ) -> None:
        self._control = _native.RunControl()
        self._error: BaseException | None = None
        # Completion is an Event rather than Thread.is_alive(): on CPython 3.11 a join()
        # interrupted by Ctrl-C can leave is_alive() reporting False for a running thread.
        self._finished = threading.Event()
        self.report: RunReport | None = None
        self.run_id = run_id
        self._root = str(root)
        self._thread = threading.Thread(
            target=self._main,
            args=(str(root), run_id, threads, shards, retry_kinds),
            name=f"sweep-{run_id}",
            daemon=True,
        )
        self._thread.start()
        _ACTIVE.add(self)

    def _main(
        self,
        root: str,
        run_id: str,
        threads: int,
        shards: list[int] | None,
        retry_kinds: list[str] | None,
    ) -> None:
        try:
            self.report = _native.run_local(
                root, run_id, threads, self._control, shards, retry_kinds
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            self._error = exc
        finally:
            self._finished.set()

    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        # Short waits keep the waiting thread responsive to signals such as Ctrl-C.
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._finished.wait(0.1):
            if deadline is not None and time.monotonic() >= deadline:
                return False
        self._thread.join()
        if self._error is not None:
            raise self._error
        return True

    def cancel(self) -> None:
        # The cancel marker, as every backend writes it: the run then reads `cancelled` in
        # every view (this handle, `sweep runs`, another process), not only here.
        # A marker that cannot be written does not keep the in-process stop below from
        # happening.
        with contextlib.suppress(Exception):
            _native.request_cancel(self._root, self.run_id)
        self._control.cancel()

    @property
    def cancelled(self) -> bool:
        return self._control.cancelled

    @property
    def error(self) -> BaseException | None:
        return self._error

    def progress(self) -> Progress:
        c = self._control
        return Progress(c.shards_done, c.rows_ok, c.rows_failed)


class LocalBackend(FolderBackend):
    """Runs shards on this machine's cores."""

    name = "local"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = load_config().resolve_threads(threads)

    def submit(
        self,
        root: Path,
        run_id: str,
        shards: list[int] | None,
        retry_kinds: list[str] | None = None,
    ) -> LocalExecution:
        return LocalExecution(root, run_id, self.threads, shards, retry_kinds)
