"""Typed shapes of what the native engine returns (plain dicts at runtime). They mirror the
engine's serde types field for field; ``sweep_magic/_native.pyi`` annotates with them."""

from __future__ import annotations

from typing import Any, NotRequired, TypedDict

__all__ = [
    "Column",
    "ExperimentEntry",
    "KernelBuild",
    "Manifest",
    "MetricEntry",
    "ParamEntry",
    "Plan",
    "RunEntry",
    "RunReport",
    "RunStatusDict",
    "SpecCheck",
]


class Plan(TypedDict):
    """How a run is cut into shards."""

    points: int
    replicates: int
    rows: int
    shard_size: int
    shards: int
    shard_width: int


class Column(TypedDict):
    """One column of a result table; ``type`` is bigint, double, boolean or string."""

    name: str
    type: str


class Tables(TypedDict):
    """Column schemas of a run's two tables."""

    results: list[Column]
    failures: list[Column]


class KernelBuild(TypedDict):
    """The library a run of a Rust kernel loaded at run time computes with."""

    sha256: str
    origin: str


class Manifest(TypedDict):
    """``runs/<run_id>/manifest.json``."""

    format: int
    run_id: str
    experiment: str
    name: str
    created_at: str
    spec_hash: str
    spec: dict[str, Any]
    plan: Plan
    tables: Tables
    engine_version: str
    #: Only for experiments loaded at run time (sweep_magic.load_kernel).
    kernel: NotRequired[KernelBuild]
    #: Only for `shard_size: "auto"`: the measurement and the rule that chose the size.
    shard_choice: NotRequired[str]


class RunStatusDict(TypedDict):
    """Progress aggregated from a run's shard markers."""

    shards_total: int
    shards_done: int
    rows_total: int
    rows_ok: int
    rows_failed: int
    compute_ms: int
    cancel_requested: bool
    #: Whether the run's failure threshold stopped it.
    failed: bool
    #: When a complete run completed (ms since the epoch), once its summary is written.
    finished_ms: NotRequired[int]


class RunEntry(TypedDict):
    """One run of a listing."""

    manifest: Manifest
    status: RunStatusDict


class RunReport(TypedDict):
    """What one execution of shards did."""

    cancelled: bool
    shards_done: int
    rows_ok: int
    rows_failed: int
    computed: list[int]
    skipped: list[int]


class RetryRecord(TypedDict):
    """One retry of a run's failed rows (``runs/<id>/retries/<attempt>.json``)."""

    attempt: int
    #: The error kinds retried (empty: every failed row).
    error_kinds: list[str]
    #: Shards with failed rows when the retry began.
    shards: int
    started_at: str
    #: Absent (None) while the retry runs, or if it was interrupted.
    finished_at: str | None
    rows_retried: int | None
    rows_recovered: int | None


class RetryBegun(TypedDict):
    """A retry just recorded, and the shards it covers."""

    record: RetryRecord
    shards: list[int]


class SpecCheck(TypedDict):
    """A validated spec: its normalized form, content hash and plan."""

    #: Whether the author gave `shard_size` (the cloud backend sizes shards otherwise).
    shard_size_given: bool

    spec: dict[str, Any]
    hash: str
    plan: Plan


class ParamEntry(TypedDict):
    """A declared parameter, as the registry lists it."""

    name: str
    type: str
    required: bool
    default: Any
    min: float | None
    min_exclusive: bool
    max: float | None
    max_exclusive: bool
    bounds: str | None
    choices: list[str]
    unit: str
    description: str


class MetricEntry(TypedDict):
    """A declared metric, as the registry lists it."""

    name: str
    type: str
    unit: str
    description: str


class ExperimentEntry(TypedDict):
    """One experiment of the registry: declarations, table schemas, and where it comes from
    (``origin``: ``built-in``, ``python``, or a loaded library's origin; ``sha256``: the
    loaded library's hash, None otherwise)."""

    name: str
    description: str
    origin: str
    sha256: str | None
    params: list[ParamEntry]
    metrics: list[MetricEntry]
    tables: Tables
