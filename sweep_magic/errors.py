"""Exceptions raised by sweep_magic. All share the root :class:`SweepError`.

The native engine raises these same classes (it looks them up here), so ``except
sm.SpecError`` catches a bad spec whether Python or Rust found the problem.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "CorruptRunError",
    "QueryError",
    "RunCancelledError",
    "RunNotFound",
    "RunNotFoundError",
    "SpecError",
    "StorageError",
    "SweepError",
]


class SweepError(Exception):
    """Root of every sweep_magic error."""

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class SpecError(SweepError, ValueError):
    """The spec is invalid; ``path`` names the offending field (e.g. ``params.sigma``).

    Raised before anything runs or is written.
    """


class RunNotFoundError(SweepError, LookupError):
    """No run with that id exists under the root."""


#: Short alias of :class:`RunNotFoundError`.
RunNotFound = RunNotFoundError


class StorageError(SweepError, OSError):
    """Reading or writing run data failed; ``path`` is the object key. Retrying may help."""


class RunCancelledError(SweepError):
    """The run was cancelled before it finished. Completed shards are kept."""


class CorruptRunError(SweepError):
    """Stored run data is inconsistent or was written by an incompatible version."""


class BackendError(SweepError):
    """A backend is unknown, unavailable, or failed while running shards."""


class QueryError(SweepError):
    """SQL that does not parse, names an unknown table, or fails to run."""
