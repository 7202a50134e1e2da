"""Exceptions raised by sweep_magic. All share the root :class:`SweepError`.

The engine's errors carry a kind (``spec``, ``not_found``, ``storage``, ``cancelled``,
``corrupt``) defined once in Rust. Each kind has one class here, and :func:`error_for_kind` is
the one mapping from kind to class: the native module raises through it and the cloud client
maps the API's error bodies through it, so ``except sm.SpecError`` catches a bad spec whether
Python, the local engine or the cloud API found the problem. Each class also carries the exit
code of the ``sweep`` command.
"""

from __future__ import annotations

__all__ = [
    "BackendError",
    "CorruptRunError",
    "QueryError",
    "RunCancelledError",
    "RunFailedError",
    "RunNotFoundError",
    "SpecError",
    "StorageError",
    "SweepError",
    "error_for_kind",
]


class SweepError(Exception):
    """Root of every sweep_magic error."""

    #: The engine's error kind, if the error has one.
    kind: str = ""
    #: Exit code of the ``sweep`` command for this error (1 = the run or a backend failed).
    exit_code: int = 1

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class SpecError(SweepError, ValueError):
    """The spec is invalid; ``path`` names the offending field (e.g. ``params.sigma``).

    Raised before anything runs or is written.
    """

    kind = "spec"
    exit_code = 2


class RunNotFoundError(SweepError, LookupError):
    """No run with that id exists under the root."""

    kind = "not_found"
    exit_code = 2


class StorageError(SweepError, OSError):
    """Reading or writing run data failed; ``path`` is the object key. Retrying may help."""

    kind = "storage"


class RunCancelledError(SweepError):
    """The run was cancelled before it finished. Completed shards are kept."""

    kind = "cancelled"
    exit_code = 130


class RunFailedError(SweepError):
    """The run's failure threshold (``max_failures`` / ``max_failure_rate``) stopped it.
    Finished shards are kept; retry the failed rows, then resume."""

    kind = "failed"
    exit_code = 1


class CorruptRunError(SweepError):
    """Stored run data is inconsistent or was written by an incompatible version."""

    kind = "corrupt"


class BackendError(SweepError):
    """A backend is unknown, unavailable, or failed while running shards."""

    exit_code = 2


class QueryError(SweepError):
    """SQL that does not parse, names an unknown table, or fails to run."""

    exit_code = 2


_BY_KIND: dict[str, type[SweepError]] = {
    cls.kind: cls
    for cls in (SpecError, RunNotFoundError, StorageError, RunCancelledError, CorruptRunError)
}


def error_for_kind(kind: str, message: str, path: str = "") -> SweepError:
    """The exception for an engine error of ``kind`` (a :class:`SweepError` for an unknown
    kind, so a newer engine's kinds still raise something catchable)."""
    return _BY_KIND.get(kind, SweepError)(message, path)
