"""Execution backends and the registry that maps backend names to them.

Every backend is a :class:`RunBackend` (start, open, resume a run; the handle does status,
wait and cancel), chosen by name with :func:`get_backend`; callers never look at which one
they got. See :mod:`sweep_magic.backends.base` for the interfaces.
"""

from __future__ import annotations

from collections.abc import Callable

from ..errors import BackendError
from .base import BackendOptions, Execution, Progress, RunBackend, ShardBackend

__all__ = [
    "BACKENDS",
    "BackendOptions",
    "Execution",
    "Progress",
    "RunBackend",
    "ShardBackend",
    "get_backend",
]


def _local(options: BackendOptions) -> RunBackend:
    from .local import LocalBackend

    return LocalBackend(options.threads)


def _ray(options: BackendOptions) -> RunBackend:
    from .ray import RayBackend

    return RayBackend(options.address)


def _cloud(options: BackendOptions) -> RunBackend:
    from .cloud import CloudBackend

    return CloudBackend()


#: Backend name → factory. Explicit, so an unknown name is an error listing the known ones.
BACKENDS: dict[str, Callable[[BackendOptions], RunBackend]] = {
    "local": _local,
    "ray": _ray,
    "cloud": _cloud,
}


def get_backend(name: str, options: BackendOptions | None = None) -> RunBackend:
    """The backend registered as ``name``, set up with ``options``."""
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise BackendError(
            f"unknown backend {name!r}; available: {', '.join(sorted(BACKENDS))}"
        ) from None
    return factory(options or BackendOptions())
