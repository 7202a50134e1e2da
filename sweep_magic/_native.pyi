"""Private native engine of sweep_magic (Rust, via PyO3). Not a public API."""

from collections.abc import Callable
from typing import Any, final

__all__ = [
    "ENGINE_VERSION",
    "RunControl",
    "check_spec",
    "clear_cancel",
    "create_run",
    "experiments_json",
    "list_runs",
    "new_run_id",
    "open_run",
    "pending_shards",
    "preview_points",
    "register_python_experiment",
    "request_cancel",
    "run_local",
    "run_status",
    "spec_schema_json",
]

ENGINE_VERSION: str

def experiments_json() -> str: ...
def spec_schema_json(include_python: bool = False) -> str: ...
def check_spec(
    text: str, format: str, max_rows: int | None = None, max_spec_bytes: int | None = None
) -> str: ...
def new_run_id(entropy: int) -> str: ...
def create_run(
    root: str, text: str, format: str, run_id: str, max_rows: int | None = None
) -> str: ...
def open_run(root: str, run_id: str) -> str: ...
def run_status(root: str, run_id: str) -> str: ...
def list_runs(root: str) -> str: ...
def request_cancel(root: str, run_id: str) -> None: ...
def clear_cancel(root: str, run_id: str) -> None: ...
def pending_shards(root: str, run_id: str) -> list[int]: ...
def preview_points(
    text: str, format: str, start: int, count: int, max_rows: int | None = None
) -> str: ...
def register_python_experiment(
    name: str, description: str, params_json: str, metrics_json: str, func: Callable[..., Any]
) -> None: ...
def run_local(
    root: str,
    run_id: str,
    threads: int,
    control: RunControl,
    shards: list[int] | None = None,
) -> str: ...

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
