"""Typed shapes of what the native engine returns (plain dicts at runtime). They mirror the
engine's serde types field for field; ``sweep_magic/_native.pyi`` annotates with them."""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["Column", "Manifest", "Plan", "RunEntry", "RunReport", "RunStatusDict", "SpecCheck"]


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


class RunStatusDict(TypedDict):
    """Progress aggregated from a run's shard markers."""

    shards_total: int
    shards_done: int
    rows_total: int
    rows_ok: int
    rows_failed: int
    compute_ms: int
    cancel_requested: bool


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


class SpecCheck(TypedDict):
    """A validated spec: its normalized form, content hash and plan."""

    spec: dict[str, Any]
    hash: str
    plan: Plan
