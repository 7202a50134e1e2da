"""The two interfaces of a backend.

- :class:`RunBackend` is the one door every caller uses: start a run from a spec, open an
  existing one, resume one. It returns a :class:`~sweep_magic.handle.Run` handle, whose
  ``status``, ``wait`` and ``cancel`` work the same on every backend.
- :class:`ShardBackend` is what a backend that computes shards in this process's reach
  (``local``, ``ray``) implements; :class:`~sweep_magic.backends.folder.FolderBackend` turns it
  into a :class:`RunBackend` over a result folder.

A backend never decides what a result is (that is fixed by the spec), only where and when
shards execute.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..handle import Run
    from ..spec import Spec

__all__ = ["BackendOptions", "Execution", "Progress", "RunBackend", "ShardBackend"]


@dataclass(frozen=True)
class BackendOptions:
    """Settings a caller may give any backend; each backend uses those that concern it."""

    #: Worker threads of the ``local`` backend (None = ``SWEEP_THREADS`` or all cores).
    threads: int | None = None
    #: Ray cluster address of the ``ray`` backend (None = ``RAY_ADDRESS`` or a local Ray).
    address: str | None = None


@dataclass(frozen=True)
class Progress:
    """Live counters of an execution."""

    shards_done: int
    rows_ok: int
    rows_failed: int


@runtime_checkable
class Execution(Protocol):
    """A running (or finished) execution of some shards of a run."""

    def done(self) -> bool:
        """Whether the execution has finished (successfully or not)."""
        ...

    def wait(self, timeout: float | None = None) -> bool:
        """Waits up to ``timeout`` seconds; returns whether it finished. Re-raises its error."""
        ...

    def cancel(self) -> None:
        """Asks the execution to stop; finished shards are kept."""
        ...

    def progress(self) -> Progress:
        """Counters so far."""
        ...

    @property
    def cancelled(self) -> bool:
        """Whether cancellation was asked for."""
        ...

    @property
    def error(self) -> BaseException | None:
        """The exception the execution ended with, if any."""
        ...


class ShardBackend(Protocol):
    """Computes shards of a run whose manifest already exists under ``root``."""

    name: str

    def submit(self, root: Path, run_id: str, shards: list[int] | None) -> Execution:
        """Starts computing ``shards`` (``None`` = every shard without a marker)."""
        ...


class RunBackend(Protocol):
    """Runs on one kind of infrastructure: the interface :func:`sweep_magic.run` and friends
    call, chosen by name from :data:`sweep_magic.backends.BACKENDS`."""

    name: str

    def start(self, spec: Spec, root: str | os.PathLike[str] | None) -> Run:
        """Validates nothing more (``spec`` is checked), creates the run, starts its shards
        and returns its handle at once."""
        ...

    def open(self, run_id: str, root: str | os.PathLike[str] | None) -> Run:
        """A handle on existing run ``run_id``, for status and results."""
        ...

    def resume(self, run_id: str, root: str | os.PathLike[str] | None) -> Run:
        """Withdraws a cancel request and computes the shards without a marker."""
        ...
