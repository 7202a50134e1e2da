"""Private native engine of sweep_magic (Rust, via PyO3). Not a public API."""

from collections.abc import Callable
from typing import Any, final

from sweep_magic._types import (
    ExperimentEntry,
    Manifest,
    RetryBegun,
    RetryRecord,
    RunEntry,
    RunReport,
    RunStatusDict,
    SpecCheck,
)

__all__ = [
    "ENGINE_VERSION",
    "RunControl",
    "api_routes",
    "auto_shard_size",
    "check_spec",
    "clear_cancel",
    "cloud_defaults",
    "cloud_shard_target",
    "create_run",
    "experiments",
    "failure_reason",
    "kernel_library",
    "layout_templates",
    "list_runs",
    "load_kernel",
    "load_kernel_bytes",
    "manifest_key",
    "new_run_id",
    "open_run",
    "pending_shards",
    "preview_points",
    "register_python_experiment",
    "request_cancel",
    "retry_begin",
    "retry_finish",
    "run_id_of_partition",
    "run_keys",
    "run_local",
    "run_retries",
    "run_state",
    "run_status",
    "spec_schema_json",
    "table_prefix",
    "time_rows",
]

ENGINE_VERSION: str

def experiments() -> list[ExperimentEntry]: ...
def load_kernel(path: str) -> ExperimentEntry: ...
def load_kernel_bytes(data: bytes, origin: str, sha256: str | None = None) -> ExperimentEntry: ...
def kernel_library(name: str) -> tuple[str, str] | None: ...
def cloud_defaults() -> dict[str, int]: ...
def api_routes() -> list[tuple[str, str]]: ...
def run_state(
    shards_total: int,
    shards_done: int,
    cancel_requested: bool,
    execution: str,
    failed: bool = False,
) -> str: ...
def failure_reason(root: str, run_id: str) -> str | None: ...
def layout_templates() -> dict[str, str]: ...
def run_keys(run_id: str, experiment: str, shards: int) -> dict[str, str]: ...
def manifest_key(run_id: str) -> str: ...
def table_prefix(table: str, experiment: str) -> str: ...
def run_id_of_partition(name: str) -> str | None: ...
def time_rows(text: str, format: str, samples: int) -> float: ...
def spec_schema_json(include_python: bool = False) -> str: ...
def auto_shard_size(
    points: int,
    replicates: int,
    row_seconds: float,
    shard_seconds: float,
    min_shard_seconds: float,
    parallelism: int,
) -> tuple[int, str]: ...
def cloud_shard_target(shards_per_invoke: int, fleet: int) -> tuple[float, float, int]: ...
def check_spec(
    text: str, format: str, max_rows: int | None = None, max_spec_bytes: int | None = None
) -> SpecCheck: ...
def new_run_id(entropy: int) -> str: ...
def create_run(
    root: str, text: str, format: str, run_id: str, max_rows: int | None = None
) -> Manifest: ...
def open_run(root: str, run_id: str) -> Manifest: ...
def run_status(root: str, run_id: str) -> RunStatusDict: ...
def list_runs(root: str) -> list[RunEntry]: ...
def request_cancel(root: str, run_id: str) -> None: ...
def clear_cancel(root: str, run_id: str) -> None: ...
def pending_shards(root: str, run_id: str) -> list[int]: ...
def preview_points(
    text: str, format: str, start: int, count: int, max_rows: int | None = None
) -> list[dict[str, Any]]: ...
def register_python_experiment(
    name: str, description: str, params_json: str, metrics_json: str, func: Callable[..., Any]
) -> None: ...
def run_local(
    root: str,
    run_id: str,
    threads: int,
    control: RunControl,
    shards: list[int] | None = None,
    retry_kinds: list[str] | None = None,
) -> RunReport: ...
def retry_begin(root: str, run_id: str, error_kinds: list[str]) -> RetryBegun: ...
def retry_finish(
    root: str, run_id: str, attempt: int, rows_retried: int, rows_recovered: int
) -> RetryRecord: ...
def run_retries(root: str, run_id: str) -> list[RetryRecord]: ...

@final
class RunControl:
    def __init__(self) -> None: ...
    def cancel(self) -> None: ...
    @property
    def cancelled(self) -> bool: ...
    @property
    def shards_done(self) -> int: ...
    @property
    def rows_ok(self) -> int: ...
    @property
    def rows_failed(self) -> int: ...
