"""Execution backends: the written protocol every backend satisfies and the registry that
maps backend names to them.

A backend computes a run's shards and writes them through the Rust writer into the run's
root; it never decides what a result is (that is fixed by the spec), only where and when
shards execute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ..errors import BackendError

__all__ = ["BACKENDS", "Backend", "Execution", "Progress", "get_backend"]


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


class Backend(Protocol):
    """Computes shards of a run whose manifest already exists under ``root``."""

    name: str

    def submit(self, root: Path, run_id: str, shards: list[int] | None) -> Execution:
        """Starts computing ``shards`` (``None`` = every shard without a marker)."""
        ...


def _local() -> Backend:
    from .local import LocalBackend

    return LocalBackend()


def _ray() -> Backend:
    from .ray import RayBackend

    return RayBackend()


#: Backend name → factory. Explicit, so an unknown name is an error listing the known ones.
BACKENDS: dict[str, Callable[[], Backend]] = {"local": _local, "ray": _ray}


def get_backend(name: str) -> Backend:
    """The backend registered as ``name``."""
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise BackendError(
            f"unknown backend {name!r}; available: {', '.join(sorted([*BACKENDS, 'cloud']))}"
        ) from None
    return factory()
