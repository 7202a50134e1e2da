"""The cloud path on this machine, with no AWS account: a real S3 (and Glue) protocol server
on loopback (moto's server) and the real orchestrator and worker Lambda binaries under
``cargo lambda watch`` (the Lambda runtime and invoke APIs, and function URLs carrying API
Gateway HTTP API v2 events).

``sweep local-cloud up`` starts it and prints the environment a client needs; tests use
:class:`LocalCloud` as a context manager. It needs a source checkout (the Lambdas are built
from ``lambda/functions`` by cargo) and the ``emulation`` extra.

Differences from AWS that matter, and how they are handled:

- the emulator runs ``Event`` invokes to completion before answering, so the orchestrator
  sends its own dispatches from a background thread (``SWEEP_SELF_INVOKE=detached``) and the
  HTTP answer still comes before the fan-out; workers are invoked the same way as in AWS;
- there is no API Gateway: the function URL carries the same v2 events but checks no
  signature (the client signs anyway);
- Athena cannot be emulated: cloud queries run on DuckDB over the S3 objects
  (``SWEEP_CLOUD_QUERY=duckdb``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .errors import BackendError

__all__ = ["LocalCloud"]

BUCKET = "sweep-local"
REGION = "us-east-1"
# Dummy credentials: the emulation checks none, but every client signs.
ACCESS_KEY = "emulation"
SECRET_KEY = "emulation-secret"  # pragma: allowlist secret - loopback emulation only  # noqa: S105 - the emulation's dummy credential, loopback only


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _source_dir() -> Path:
    functions = Path(__file__).resolve().parent.parent / "lambda" / "functions"
    if not (functions / "Cargo.toml").is_file():
        raise BackendError(
            "the local cloud emulation builds the Lambdas from source: run it from a "
            "checkout of the repository (lambda/functions was not found)"
        )
    return functions


def _cargo_lambda() -> str:
    beside = Path(sys.executable).parent / "cargo-lambda"
    found = str(beside) if beside.exists() else shutil.which("cargo-lambda")
    if not found:
        raise BackendError("cargo-lambda is not installed (pip install 'sweep_magic[emulation]')")
    return found


class LocalCloud:
    """Starts the emulation on free loopback ports; ``stop()`` (or leaving the ``with``
    block) ends both servers."""

    def __init__(
        self,
        *,
        concurrency: int = 4,
        workdir: str | os.PathLike[str] | None = None,
        features: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 900.0,
    ) -> None:
        self.concurrency = concurrency
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sweep-local-cloud-"))
        self.features = features
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        self.s3_port = _free_port()
        self.lambda_port = _free_port()
        self._procs: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []

    # -- addresses ---------------------------------------------------------------------------

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def lambda_url(self) -> str:
        return f"http://127.0.0.1:{self.lambda_port}"

    @property
    def api_url(self) -> str:
        """The orchestrator's function URL: what ``SWEEP_API_URL`` is set to."""
        return f"{self.lambda_url}/lambda-url/orchestrator"

    @property
    def log_path(self) -> Path:
        """The emulator's log (the Lambdas' structured log lines)."""
        return self.workdir / "lambdas.log"

    def client_env(self) -> dict[str, str]:
        """Environment for a client (a notebook, ``sweep``) of this emulation."""
        return {
            "SWEEP_API_URL": self.api_url,
            "SWEEP_S3_ROOT": f"s3://{BUCKET}",
            "SWEEP_REGION": REGION,
            "SWEEP_CLOUD_QUERY": "duckdb",
            "AWS_ENDPOINT_URL_S3": self.s3_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }

    def function_env(self) -> dict[str, str]:
        """Environment of both Lambdas."""
        env = {
            "SWEEP_BUCKET": BUCKET,
            "SWEEP_WORKER_FUNCTION": "worker",
            "SWEEP_SELF_INVOKE": "detached",
            "SWEEP_SHARDS_PER_INVOKE": "2",
            "SWEEP_DISPATCH_CONCURRENCY": str(self.concurrency),
            "AWS_ENDPOINT_URL_S3": self.s3_url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
            "AWS_ENDPOINT_URL_GLUE": self.s3_url,
            # Where the Lambdas keep kernel libraries they download (/tmp in AWS).
            "SWEEP_KERNEL_CACHE": str(self.workdir / "lambda-kernels"),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }
        env.update(self.extra_env)
        return env

    # -- lifecycle ---------------------------------------------------------------------------

    def _spawn(self, args: list[str], log_name: str, cwd: Path | None = None) -> None:
        log = open(self.workdir / log_name, "ab")  # noqa: SIM115 - closed in stop()
        self._logs.append(log)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        proc = subprocess.Popen(  # noqa: S603 - an argument list, no shell
            args,
            cwd=cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its own process group: stop() ends the Lambdas too
        )
        self._procs.append(proc)

    def _wait_http(self, url: str, ok: tuple[int, ...], deadline: float, what: str) -> None:
        while True:
            try:
                with urllib.request.urlopen(url, timeout=30) as r:  # noqa: S310 - loopback http of the emulation
                    if r.status in ok:
                        return
            except urllib.error.HTTPError as err:
                if err.code in ok:
                    return
            except OSError:
                pass
            for proc in self._procs:
                if proc.poll() is not None:
                    raise BackendError(f"{what} exited early; see {self.workdir}")
            if time.monotonic() > deadline:
                raise BackendError(f"{what} did not come up in time; see {self.workdir}")
            time.sleep(0.3)

    def start(self) -> LocalCloud:
        deadline = time.monotonic() + self.startup_timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.s3_port)],
            "s3.log",
        )
        self._wait_http(self.s3_url + "/moto-api/", (200,), deadline, "the S3 server")
        self._create_bucket()
        args = [
            _cargo_lambda(),
            "lambda",
            "watch",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            str(self.lambda_port),
            "--concurrency",
            str(self.concurrency),
            "--ignore-changes",
        ]
        if self.features:
            args += ["--features", ",".join(self.features)]
        for key, value in self.function_env().items():
            args += ["--env-var", f"{key}={value}"]
        self._spawn(args, "lambdas.log", cwd=_source_dir())
        # The first request builds and starts the functions.
        self._wait_http(self.api_url + "/experiments", (200,), deadline, "the orchestrator")
        self.invoke("worker", {"warm": True})
        return self

    def _create_bucket(self) -> None:
        request = urllib.request.Request(f"{self.s3_url}/{BUCKET}", method="PUT")  # noqa: S310 - loopback http of the emulation
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback http of the emulation
            pass

    def invoke(self, function: str, payload: Any) -> tuple[int, Any]:
        """Invokes ``function`` synchronously through the emulator's invoke API."""
        request = urllib.request.Request(  # noqa: S310 - loopback http of the emulation
            f"{self.lambda_url}/2015-03-31/functions/{function}/invocations",
            data=json.dumps(payload).encode(),
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=600) as r:  # noqa: S310 - loopback http of the emulation
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read() or b"null")

    def wait(self) -> None:
        """Blocks until a server exits (or Ctrl-C)."""
        while all(p.poll() is None for p in self._procs):
            time.sleep(0.5)

    def stop(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    continue
        for proc in self._procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for log in self._logs:
            log.close()
        self._procs.clear()
        self._logs.clear()

    def __enter__(self) -> LocalCloud:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
