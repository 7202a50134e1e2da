"""The ``local`` backend: Rust worker threads on this machine, no server, no extra install.

Shards run in the native engine with the GIL released, on a background Python thread so the
caller stays responsive: ``wait`` can be interrupted (Ctrl-C, Jupyter's "interrupt kernel"),
which cancels the run before its next point.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from .. import _native
from ..config import load_config
from . import Progress

__all__ = ["LocalBackend", "LocalExecution"]


class LocalExecution:
    """Shards computing on a background thread."""

    def __init__(self, root: Path, run_id: str, threads: int, shards: list[int] | None) -> None:
        self._control = _native.RunControl()
        self._error: BaseException | None = None
        self.report: dict[str, object] | None = None
        self._thread = threading.Thread(
            target=self._main,
            args=(str(root), run_id, threads, shards),
            name=f"sweep-{run_id}",
            daemon=True,
        )
        self._thread.start()

    def _main(self, root: str, run_id: str, threads: int, shards: list[int] | None) -> None:
        try:
            self.report = json.loads(_native.run_local(root, run_id, threads, self._control, shards))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            self._error = exc

    def done(self) -> bool:
        return not self._thread.is_alive()

    def wait(self, timeout: float | None = None) -> bool:
        # Short joins keep the waiting thread interruptible by signals.
        step = 0.1
        remaining = timeout
        while self._thread.is_alive():
            if remaining is not None:
                if remaining <= 0:
                    return False
                self._thread.join(min(step, remaining))
                remaining -= step
            else:
                self._thread.join(step)
        if self._error is not None:
            raise self._error
        return True

    def cancel(self) -> None:
        self._control.cancel()

    @property
    def cancelled(self) -> bool:
        return self._control.cancelled

    def progress(self) -> Progress:
        c = self._control
        return Progress(c.shards_done, c.rows_ok, c.rows_failed)


class LocalBackend:
    """Runs shards on this machine's cores."""

    name = "local"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = load_config().resolve_threads(threads)

    def submit(self, root: Path, run_id: str, shards: list[int] | None) -> LocalExecution:
        return LocalExecution(root, run_id, self.threads, shards)
