"""Configuration, resolved from the environment first.

Each setting is read from its ``SWEEP_*`` environment variable, else falls back to its default.
The resolved :class:`Config` records where every value came from so it can be shown to users.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SweepError

__all__ = ["DEFAULT_ROOT", "Config", "load_config"]

DEFAULT_ROOT = "./sweep-data"
DEFAULT_MAX_POINTS = 10_000_000_000
DEFAULT_MAX_SPEC_BYTES = 1 << 20


@dataclass(frozen=True)
class Config:
    """Effective settings and the source of each (``env:NAME`` or ``default``)."""

    root: str = DEFAULT_ROOT
    backend: str = "local"
    threads: int = 0
    max_points: int = DEFAULT_MAX_POINTS
    max_spec_bytes: int = DEFAULT_MAX_SPEC_BYTES
    api_url: str = ""
    region: str = ""
    #: Where cloud runs are written: ``s3://bucket/prefix``.
    s3_root: str = ""
    #: Athena database and workgroup for ``sm.query(..., cloud=True)``.
    athena_database: str = "sweep_magic"
    athena_workgroup: str = "primary"
    #: Engine of cloud queries: ``athena``, or ``duckdb`` over the S3 objects (the emulation).
    cloud_query: str = "athena"
    sources: dict[str, str] = field(default_factory=dict)

    def resolve_root(self, root: str | os.PathLike[str] | None) -> Path:
        """The run root to use: ``root`` if given, else the configured one, made absolute."""
        return Path(root if root is not None else self.root).expanduser().resolve()

    def resolve_threads(self, threads: int | None) -> int:
        """Worker threads: ``threads`` if given, else the configured count, else every core."""
        n = threads if threads is not None else self.threads
        return n if n > 0 else (os.cpu_count() or 1)


def _int_env(name: str, minimum: int) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return None
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        raise SweepError(f"{name}: expected an integer, got {raw!r}") from None
    if value < minimum:
        raise SweepError(f"{name}: must be at least {minimum}, got {value}")
    return value


def load_config() -> Config:
    """Reads the configuration from the environment."""
    sources: dict[str, str] = {}
    values: dict[str, object] = {}
    string_settings = (
        ("root", "SWEEP_ROOT"),
        ("backend", "SWEEP_BACKEND"),
        ("api_url", "SWEEP_API_URL"),
        ("s3_root", "SWEEP_S3_ROOT"),
        ("athena_database", "SWEEP_ATHENA_DATABASE"),
        ("athena_workgroup", "SWEEP_ATHENA_WORKGROUP"),
        ("cloud_query", "SWEEP_CLOUD_QUERY"),
        ("region", "SWEEP_REGION"),
        ("region", "AWS_REGION"),
        ("region", "AWS_DEFAULT_REGION"),
    )
    for key, env in string_settings:
        raw = os.environ.get(env)
        if raw and key not in values:
            values[key] = raw
            sources[key] = f"env:{env}"
    for key, env, minimum in (
        ("threads", "SWEEP_THREADS", 0),
        ("max_points", "SWEEP_MAX_POINTS", 1),
        ("max_spec_bytes", "SWEEP_MAX_SPEC_BYTES", 1),
    ):
        parsed = _int_env(env, minimum)
        if parsed is not None:
            values[key] = parsed
            sources[key] = f"env:{env}"
    if values.get("cloud_query", "athena") not in ("athena", "duckdb"):
        raise SweepError(
            f"SWEEP_CLOUD_QUERY: expected athena or duckdb, got {values['cloud_query']!r}"
        )
    for key in (
        "root",
        "backend",
        "api_url",
        "region",
        "s3_root",
        "athena_database",
        "athena_workgroup",
        "cloud_query",
        "threads",
        "max_points",
        "max_spec_bytes",
    ):
        sources.setdefault(key, "default")
    return Config(sources=sources, **values)  # type: ignore[arg-type]
