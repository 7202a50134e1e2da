"""The ``ray`` backend: shards as Ray tasks, on a local Ray instance or any cluster.

Each task computes a batch of shards with the same Rust engine (one thread per task, so Ray
does the parallelism) and writes them through the same writer into the run's root, which must
therefore be a path every Ray worker can reach (local disk on one machine, a shared file
system on a cluster). Results are identical to the ``local`` backend's, value for value.

A Rust kernel loaded at run time (``sm.load_kernel``, ``%%sweep kernel``) travels as its
library's bytes: put in Ray's object store once per run, loaded by each worker process (and
checked against the run's SHA-256) before it opens the run, so workers need neither the
driver's files nor a compiler.

Ray is an optional extra: ``pip install sweep_magic[ray]``.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from ..errors import BackendError
from .base import Progress
from .batching import TASKS_PER_CPU, ray_batches
from .folder import FolderBackend

__all__ = ["RayBackend", "RayExecution"]


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise BackendError(
            "the ray backend needs Ray: install the `[ray]` extra (pip install sweep_magic[ray])"
        ) from None
    return ray


def _compute_shards(
    root: str,
    run_id: str,
    shards: list[int],
    python_kernel: tuple[Any, ...] | None,
    rust_kernel: tuple[str, str, str] | None = None,
    library: bytes | None = None,
) -> list[int]:
    """Body of one Ray task: computes `shards` on one thread, returns the shards it did.

    ``rust_kernel`` is (name, sha256, origin) of a loaded Rust kernel and ``library`` its
    bytes (Ray resolves the object reference the driver passes)."""
    from sweep_magic import _native
    from sweep_magic.kernels import register_definition

    if python_kernel is not None:
        # A Python kernel lives in the driver's process: register it in this worker too.
        register_definition(python_kernel[0], python_kernel[1])
    if rust_kernel is not None and library is not None:
        name, sha256, origin = rust_kernel
        # Worker processes are reused across tasks: load only when this process does not
        # already have this build registered under the name.
        current = _native.kernel_library(name)
        if current is None or current[1] != sha256:
            _native.load_kernel_bytes(library, origin, sha256)

    control = _native.RunControl()
    _native.run_local(root, run_id, 1, control, shards)
    return shards if not control.cancelled else shards[: control.shards_done]


class RayExecution:
    """Shards running as Ray tasks; a watcher thread collects them as they finish."""

    def __init__(
        self,
        ray: Any,
        root: Path,
        run_id: str,
        batches: list[list[int]],
        python_kernel: tuple[Any, ...] | None,
        rust_kernel: tuple[str, str, str] | None = None,
        library: Any = None,
    ) -> None:
        from .. import _native

        self._ray = ray
        self._root = root
        self._run_id = run_id
        self._native = _native
        task = ray.remote(num_cpus=1, max_retries=2)(_compute_shards)
        self._refs = [
            task.remote(str(root), run_id, batch, python_kernel, rust_kernel, library)
            for batch in batches
        ]
        self._shards_done = 0
        self._cancelled = False
        self._error: BaseException | None = None
        self._finished = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"ray-{run_id}", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        pending = list(self._refs)
        try:
            while pending:
                ready, pending = self._ray.wait(pending, num_returns=1, timeout=0.5)
                for ref in ready:
                    self._shards_done += len(self._ray.get(ref))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            if not self._cancelled:
                self._error = BackendError(f"a Ray task failed: {exc}")
        finally:
            self._finished.set()

    def done(self) -> bool:
        return self._finished.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        if not self._finished.wait(timeout):
            return False
        if self._error is not None:
            raise self._error
        return True

    def cancel(self) -> None:
        # The cancel marker stops every task before its next shard; cancelling the refs
        # drops batches that have not started.
        self._cancelled = True
        self._native.request_cancel(str(self._root), self._run_id)
        for ref in self._refs:
            self._ray.cancel(ref)

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def error(self) -> BaseException | None:
        return self._error

    def progress(self) -> Progress:
        return Progress(self._shards_done, 0, 0)


class RayBackend(FolderBackend):
    """Runs shards as Ray tasks on ``address`` (default: ``RAY_ADDRESS``, else a local Ray)."""

    name = "ray"

    def __init__(self, address: str | None = None, tasks_per_cpu: int = TASKS_PER_CPU) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.tasks_per_cpu = tasks_per_cpu

    def _ensure_ray(self) -> Any:
        ray = _import_ray()
        if not ray.is_initialized():
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
        return ray

    def submit(self, root: Path, run_id: str, shards: list[int] | None) -> RayExecution:
        from .. import _native
        from ..kernels import python_definition

        ray = self._ensure_ray()
        todo = shards if shards is not None else _native.pending_shards(str(root), run_id)
        # A few batches per CPU: enough to balance load, few enough that Ray's per-task cost
        # (about a millisecond) stays small next to the shards' work.
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        batches = ray_batches(todo, cpus, self.tasks_per_cpu)
        manifest = _native.open_run(str(root), run_id)
        experiment = manifest["experiment"]
        definition = python_definition(experiment)
        kernel = None if definition is None else (experiment, definition)
        rust_kernel, library = None, None
        if "kernel" in manifest and batches:
            rust_kernel, data = _rust_library(experiment, manifest["kernel"]["sha256"])
            library = ray.put(data)  # once per run; every task gets a reference
        return RayExecution(ray, root, run_id, batches, kernel, rust_kernel, library)


def _rust_library(experiment: str, sha256: str) -> tuple[tuple[str, str, str], bytes]:
    """(name, sha256, origin) and the bytes of the loaded library of ``experiment``."""
    from .. import _native

    found = _native.kernel_library(experiment)
    if found is None or found[1] != sha256:
        raise BackendError(
            f"experiment {experiment} is not loaded with build {sha256[:12]} in this process: "
            "load its kernel (sweep_magic.load_kernel) before running it on ray"
        )
    path, _ = found
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise BackendError(f"cannot read the library of kernel {experiment}: {exc}") from None
    origin = next(e["origin"] for e in _native.experiments() if e["name"] == experiment)
    return (experiment, sha256, origin), data
