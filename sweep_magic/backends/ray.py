"""The ``ray`` backend: shards as Ray tasks, on a local Ray instance or any cluster.

Each task computes a batch of shards with the same Rust engine (one thread per task, so Ray
does the parallelism) and writes them through the same writer into the run's root, which must
therefore be a path every Ray worker can reach (local disk on one machine, a shared file
system on a cluster). Results are identical to the ``local`` backend's, value for value.

A Rust kernel loaded at run time (``sm.load_kernel``, ``%%sweep kernel``) travels as its
library's bytes: put in Ray's object store once per run, loaded by each worker process (and
checked against the run's SHA-256) before it opens the run, so workers need neither the
driver's files nor a compiler.

Connecting: with no address (and no ``RAY_ADDRESS``) the backend starts a local Ray of its own,
with only what a sweep needs (no dashboard, no usage statistics); a Ray this process already
started or joined is reused as it is. Given an address, it first checks that a Ray cluster
answers there (a TCP connection, then the HTTP/2 greeting every gRPC server sends) and that
Ray lets this driver in, all within ``SWEEP_RAY_CONNECT_TIMEOUT`` seconds (default 30); when
that fails it raises one :class:`~sweep_magic.errors.BackendError` naming the address, with
Ray's retry warnings kept off stderr. All of this happens before the run's manifest is
written, so a backend that cannot start leaves no run behind.

Output: when this backend starts or joins Ray, the workers' output (``print`` in a kernel) and
Ray's messages about lost workers or nodes are sent to the driver's stderr, not stdout, so
stdout carries only results (``sweep run --json``).

Ray is an optional extra: ``pip install sweep_magic[ray]``.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BackendError
from .base import Progress
from .batching import TASKS_PER_CPU, ray_batches
from .folder import FolderBackend

if TYPE_CHECKING:
    from ..handle import Run
    from ..spec import Spec

__all__ = ["CONNECT_TIMEOUT_ENV", "DEFAULT_CONNECT_TIMEOUT", "RayBackend", "RayExecution"]

#: Environment variable: seconds to wait for a Ray cluster given by address to answer.
CONNECT_TIMEOUT_ENV = "SWEEP_RAY_CONNECT_TIMEOUT"
DEFAULT_CONNECT_TIMEOUT = 30.0

#: What ``ray.init`` is given, whether it starts a local Ray or joins a cluster: no dashboard,
#: the workers' output forwarded (to stderr, see :func:`_worker_output_to_stderr`), and no
#: change to the logging of the user's program.
_INIT_OPTIONS: dict[str, Any] = {
    "include_dashboard": False,
    "log_to_driver": True,
    "configure_logging": False,
}

#: The client's opening of an HTTP/2 connection (RFC 9113 §3.4): the preface and an empty
#: SETTINGS frame. A gRPC server, as Ray's GCS and its client server are, answers with a
#: SETTINGS frame of its own.
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
_HTTP2_SETTINGS = 0x04


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
    retry_kinds: list[str] | None = None,
) -> tuple[list[int], int, int]:
    """Body of one Ray task: computes `shards` on one thread (with ``retry_kinds``, retries
    their failed rows of those error kinds instead); returns the shards it did and the rows
    that succeeded and failed.

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
    _native.run_local(root, run_id, 1, control, shards, retry_kinds)
    done = shards if not control.cancelled else shards[: control.shards_done]
    return done, control.rows_ok, control.rows_failed


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
        retry_kinds: list[str] | None = None,
    ) -> None:
        from .. import _native

        self._ray = ray
        self._root = root
        self._run_id = run_id
        self._native = _native
        task = ray.remote(num_cpus=1, max_retries=2)(_compute_shards)
        self._refs = [
            task.remote(str(root), run_id, batch, python_kernel, rust_kernel, library, retry_kinds)
            for batch in batches
        ]
        self._shards_done = 0
        self._rows_ok = 0
        self._rows_failed = 0
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
                    done, ok, failed = self._ray.get(ref)
                    self._shards_done += len(done)
                    self._rows_ok += ok
                    self._rows_failed += failed
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
        # Rows are counted per finished task (a retry records them); the run's own counts come
        # from its markers.
        return Progress(self._shards_done, self._rows_ok, self._rows_failed)


class RayBackend(FolderBackend):
    """Runs shards as Ray tasks on ``address`` (default: ``RAY_ADDRESS``, else a local Ray).

    ``connect_timeout`` bounds the wait for a cluster given by address (default:
    ``SWEEP_RAY_CONNECT_TIMEOUT``, else 30 s)."""

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        tasks_per_cpu: int = TASKS_PER_CPU,
        connect_timeout: float | None = None,
    ) -> None:
        self.address = address or os.environ.get("RAY_ADDRESS") or None
        self.tasks_per_cpu = tasks_per_cpu
        self.connect_timeout = connect_timeout

    def start(self, spec: Spec, root: str | os.PathLike[str] | None) -> Run:
        # Ray first: a backend that cannot start (Ray missing, a cluster that does not
        # answer) fails before the run's manifest is written, leaving nothing behind.
        self._ensure_ray()
        return super().start(spec, root)

    def resume(self, run_id: str, root: str | os.PathLike[str] | None) -> Run:
        # Before the cancel request is withdrawn, for the same reason.
        self._ensure_ray()
        return super().resume(run_id, root)

    def _timeout(self) -> float:
        if self.connect_timeout is not None:
            return _positive_seconds(self.connect_timeout, "connect_timeout")
        raw = os.environ.get(CONNECT_TIMEOUT_ENV, "").strip()
        return _positive_seconds(raw, CONNECT_TIMEOUT_ENV) if raw else DEFAULT_CONNECT_TIMEOUT

    def _ensure_ray(self) -> Any:
        ray = _import_ray()
        if ray.is_initialized():
            return ray  # the Ray this process already started or joined, as it is
        timeout = self._timeout()
        address = self.address
        if address is None or address == "local":
            # A Ray of this process's own. "local" rather than None: Ray would otherwise join
            # whatever cluster `ray start` last recorded on this machine.
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            os.environ.setdefault("RAY_USAGE_STATS_PROMPT_ENABLED", "0")
            try:
                _init(ray, "local")
            except Exception as exc:  # noqa: BLE001 - e.g. its node timed out starting
                with contextlib.suppress(Exception):
                    ray.shutdown()  # the processes it did start
                raise BackendError(f"cannot start a local Ray: {_first_line(exc)}") from None
            return ray
        deadline = time.monotonic() + timeout
        _probe(address, _resolve(address), timeout)
        _join(ray, address, deadline)
        return ray

    def retry(
        self, run_id: str, root: str | os.PathLike[str] | None, error_kinds: list[str]
    ) -> Run:
        # Ray first, as for start: a cluster that cannot be reached records no attempt.
        self._ensure_ray()
        return super().retry(run_id, root, error_kinds)

    def submit(
        self,
        root: Path,
        run_id: str,
        shards: list[int] | None,
        retry_kinds: list[str] | None = None,
    ) -> RayExecution:
        from .. import _native
        from ..kernels import python_definition

        ray = self._ensure_ray()  # already there when called from start or resume
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
        return RayExecution(ray, root, run_id, batches, kernel, rust_kernel, library, retry_kinds)


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


# -- starting and joining Ray ---------------------------------------------------------------------


def _positive_seconds(value: object, name: str) -> float:
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise BackendError(f"{name}: expected a number of seconds, got {value!r}") from None
    if not (seconds > 0 and math.isfinite(seconds)):
        raise BackendError(f"{name}: expected a positive number of seconds, got {value!r}")
    return seconds


def _worker_output_to_stderr() -> None:
    """Ray's driver prints its workers' output and its own messages (a worker or node lost,
    an autoscaler event) on stdout; a sweep keeps stdout for results, so these go to stderr.

    Ray writes them through one function of its driver, looked up at each call (its log
    thread binds it when ``ray.init`` starts that thread, hence before ``ray.init``); the
    replacement marks every batch as error output. Without that function (another Ray
    version), Ray's own behaviour is kept."""
    try:
        from ray._private import worker as ray_worker
    except ImportError:
        return
    original = getattr(ray_worker, "print_to_stdstream", None)
    if original is None or getattr(original, "_sweep_to_stderr", False):
        return

    def to_stderr(data: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        return original({**data, "is_err": True}, *args, **kwargs)

    to_stderr._sweep_to_stderr = True  # type: ignore[attr-defined]
    ray_worker.print_to_stdstream = to_stderr


def _init(ray: Any, address: str) -> None:
    _worker_output_to_stderr()
    # Anything ray.init prints with print() goes to stderr too.
    with contextlib.redirect_stdout(sys.stderr):
        ray.init(address=address, **_INIT_OPTIONS)


def _resolve(address: str) -> tuple[str, int]:
    """(host, port) to check for ``address``: ``host:port``, ``ray://host:port`` (Ray Client),
    or ``auto`` (the cluster ``ray start`` last recorded on this machine, found as Ray does)."""
    if address == "auto":
        try:
            from ray._private.services import canonicalize_bootstrap_address_or_die

            found = str(canonicalize_bootstrap_address_or_die("auto"))
        except ConnectionError as exc:
            raise BackendError(f"Ray address auto: {_first_line(exc)}") from None
        except Exception:  # noqa: BLE001 - Ray's internals moved: let ray.init find it
            return ("", 0)
        return _resolve(found)
    rest = address.split("://", 1)[1] if "://" in address else address
    host, sep, port = rest.rstrip("/").rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise BackendError(f"Ray address {address!r}: expected host:port or ray://host:port")
    return host.strip("[]"), int(port)


def _probe(address: str, target: tuple[str, int], timeout: float) -> None:
    """Checks within ``timeout`` that a gRPC server (Ray's GCS or client server) answers at
    ``target``, without Ray: refused, unknown or silent addresses fail at once or at the
    timeout instead of after minutes of Ray's retries."""
    host, port = target
    if not host:
        return
    hint = f"{CONNECT_TIMEOUT_ENV} sets the wait"
    deadline = time.monotonic() + timeout
    try:
        conn = socket.create_connection((host, port), timeout=timeout)
    except TimeoutError:
        raise BackendError(
            f"no Ray cluster answered at {address} within {timeout:g} s ({hint})"
        ) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BackendError(
            f"cannot reach a Ray cluster at {address}: {reason.lower()}; start it, or give "
            "the address of a running one (--address, address=, RAY_ADDRESS)"
        ) from None
    if os.environ.get("RAY_USE_TLS", "0").lower() in ("1", "true"):
        conn.close()  # a TLS server would not read the plain HTTP/2 greeting
        return
    with conn:
        answer = b""
        try:
            conn.sendall(_HTTP2_PREFACE)
            while len(answer) < 9:
                conn.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = conn.recv(9 - len(answer))
                if not chunk:
                    break
                answer += chunk
        except TimeoutError:
            raise BackendError(
                f"no Ray cluster answered at {address} within {timeout:g} s: something "
                f"listens there but does not answer as Ray does ({hint})"
            ) from None
        except OSError:
            answer = b""  # reset or closed: not a gRPC server
    if len(answer) < 9 or answer[3] != _HTTP2_SETTINGS:
        raise BackendError(
            f"{address} is not a Ray cluster: what listens there does not speak gRPC "
            "(check the host and the port, by default 6379)"
        )


@contextlib.contextmanager
def _stderr_held() -> Iterator[list[str]]:
    """Holds what is written to file descriptor 2 (Ray's C++ warnings, its log lines) in a
    temporary file while the block runs; the list given to the block receives the text."""
    held: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):
        yield held  # no usable descriptor 2: nothing to hold
        return
    with tempfile.TemporaryFile() as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield held
        finally:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            held.append(tmp.read().decode("utf-8", "replace"))


def _join(ray: Any, address: str, deadline: float) -> None:
    """``ray.init(address)`` with Ray's connection attempts bounded by what is left until
    ``deadline``, and its output held: replayed on stderr when it worked, replaced by one
    line when it did not."""
    attempts_env = "RAY_gcs_server_port_wait_time_s"  # Ray's attempts, about 1 s each
    preset = os.environ.get(attempts_env)
    if preset is None:
        os.environ[attempts_env] = str(max(1, math.ceil(deadline - time.monotonic())))
    failure: BaseException | None = None
    try:
        with _stderr_held() as held:
            try:
                _init(ray, address)
            except Exception as exc:  # noqa: BLE001 - reported as one line below
                failure = exc
                with contextlib.suppress(Exception):
                    ray.shutdown()  # a half-made connection would be reused by the next run
    finally:
        if preset is None:
            os.environ.pop(attempts_env, None)
    text = "".join(held)
    if failure is not None:
        raise BackendError(_join_failure(address, failure, text)) from None
    if text:
        sys.stderr.write(text)


def _join_failure(address: str, exc: BaseException, output: str) -> str:
    chain: list[str] = []
    cause: BaseException | None = exc
    while cause is not None and len(chain) < 8:
        chain.append(f"{type(cause).__name__}: {cause}")
        cause = cause.__cause__ or cause.__context__
    text = "\n".join(chain) + "\n" + output
    if "InvalidAuthToken" in text or "AuthenticationError" in text:
        return (
            f"the Ray cluster at {address} did not let this driver in: it uses token "
            "authentication (set RAY_AUTH_MODE=token, with the cluster's token in "
            "~/.ray/auth_token or RAY_AUTH_TOKEN_PATH)"
        )
    for line in text.splitlines():
        if "Version mismatch" in line or "version mismatch" in line:
            return f"cannot join the Ray cluster at {address}: {line.strip()[:300]}"
    return f"cannot join the Ray cluster at {address}: {_first_line(exc)}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
