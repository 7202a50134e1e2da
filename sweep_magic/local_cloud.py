"""The cloud path on this machine, with no AWS account: a real S3 (and Glue) protocol server
on loopback (moto's server) and the real orchestrator and worker Lambda binaries under
``cargo lambda watch`` (the Lambda runtime and invoke APIs, and function URLs carrying API
Gateway HTTP API v2 events).

``sweep local-cloud up`` starts it and prints the environment a client needs; tests use
:class:`LocalCloud` as a context manager. It needs a source checkout (the Lambdas are built
from ``lambda/functions`` by cargo; see :func:`find_checkout`) and the ``emulation`` extra
(moto's server and cargo-lambda), installed from the lock with :data:`INSTALL_COMMAND`.
Stopping it (``stop()``, leaving the ``with`` block, or SIGINT / SIGTERM to
``sweep local-cloud up``) ends every process it started: the servers and whatever they
started in turn (the Lambda function processes, a cargo build still running).

The run data's S3 server is moto's unless another is chosen (``LocalCloud(s3_server=...)``,
or ``$SWEEP_EMULATION_S3`` for ``sweep local-cloud up``): ``s3s-fs``, a Rust S3 server over a
folder, installed into the checkout by ``scripts/install_s3s_fs.sh``, serves the data path
with a fraction of the CPU that moto's single Python process needs per request; moto still
serves Glue then (:attr:`LocalCloud.moto_url`). Both answer a conditional PUT
(``If-None-Match: *``) with 412 when the object exists, which the engine's once-only markers
rely on, but s3s-fs checks and writes in two steps: conditional PUTs of one key sent at the
same instant can all succeed (moto serializes them). The Lambdas look before they write, so
this matters only when two writers race for one key within milliseconds.

Differences from AWS that matter, and how they are handled:

- the emulator runs ``Event`` invokes to completion before answering, so the orchestrator
  sends its own dispatches from a background thread (``SWEEP_SELF_INVOKE=detached``) and the
  HTTP answer still comes before the fan-out; workers are invoked the same way as in AWS.
  A dispatcher therefore holds its orchestrator instance until its workers have finished,
  and a run split among as many dispatchers as there are orchestrator instances (a
  dispatcher sends 1,000 invocations of 2 shards here) leaves none for the API until they
  finish. ``LocalCloud(event_queue=True)`` puts Lambda's event queue in front of the
  emulator: an ``Event`` invoke is answered 202 at once and run from a queue, as in AWS (off
  by default: the fault tests time their kills against dispatches that last as long as
  their workers);
- there is no API Gateway: the function URL carries the same v2 events but checks no
  signature (the client signs anyway);
- Athena cannot be emulated: cloud queries run on DuckDB over the S3 objects
  (``SWEEP_CLOUD_QUERY=duckdb``).
"""

from __future__ import annotations

import contextlib
import importlib.util
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
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from .errors import BackendError

__all__ = [
    "INSTALL_COMMAND",
    "S3S_FS_INSTALL",
    "S3_SERVERS",
    "S3_SERVER_ENV",
    "SOURCE_DIR_ENV",
    "LocalCloud",
    "find_checkout",
    "s3s_fs_binary",
]

BUCKET = "sweep-local"
REGION = "us-east-1"
# Dummy credentials: the emulation checks none, but every client signs.
ACCESS_KEY = "emulation"
SECRET_KEY = "emulation-secret"  # pragma: allowlist secret - loopback emulation only  # noqa: S105 - the emulation's dummy credential, loopback only


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Where the source checkout is, when it is not found on its own (see :func:`find_checkout`).
SOURCE_DIR_ENV = "SWEEP_SOURCE_DIR"
#: The lock that pins the ``emulation`` extra (with the ``cloud`` client and the test tools).
EMULATION_LOCK = "requirements/dev.lock"
#: Installs the emulation's packages into the venv of ``scripts/demo.sh``, from the checkout.
INSTALL_COMMAND = f".venv/bin/python -m pip install -r {EMULATION_LOCK}"
# Python modules the emulation runs (moto's server is a Flask app) and the programs it starts.
_EMULATION_MODULES = {"moto": "moto", "flask": "flask", "flask_cors": "flask-cors"}


def _is_checkout(path: Path) -> bool:
    """Whether ``path`` is a sweep_magic source checkout: it has the Lambda crate."""
    manifest = path / "lambda" / "functions" / "Cargo.toml"
    try:
        return manifest.is_file() and 'name = "sweep_lambda"' in manifest.read_text()
    except OSError:
        return False


def find_checkout(
    *,
    environ: dict[str, str] | None = None,
    cwd: Path | None = None,
    package_dir: Path | None = None,
    prefix: Path | None = None,
) -> Path:
    """The root of the source checkout the Lambdas are built from, the first of:

    1. ``$SWEEP_SOURCE_DIR`` (an error if it is set and not a checkout);
    2. the folder this package is imported from, when that is a checkout (an editable
       install, as ``scripts/test.sh`` makes it);
    3. the current directory or one of its parents;
    4. the folder that holds this interpreter's virtual environment (``scripts/demo.sh``
       creates ``.venv`` inside the checkout and installs the package into it, not editable).
    """
    environ = dict(os.environ) if environ is None else environ
    explicit = environ.get(SOURCE_DIR_ENV, "").strip()
    if explicit:
        path = Path(explicit).expanduser().resolve()
        if not _is_checkout(path):
            raise BackendError(
                f"{SOURCE_DIR_ENV}={explicit} is not a sweep_magic source checkout "
                "(no lambda/functions/Cargo.toml there)"
            )
        return path
    here = (cwd or Path.cwd()).resolve()
    candidates = [
        (package_dir or Path(__file__).resolve().parent).parent,
        here,
        *here.parents,
        (prefix or Path(sys.prefix)).resolve().parent,
    ]
    for candidate in candidates:
        if _is_checkout(candidate):
            return candidate
    raise BackendError(
        "the local cloud emulation builds the Lambdas from a source checkout of sweep_magic: "
        f"run it inside the checkout, or set {SOURCE_DIR_ENV} to the checkout's folder"
    )


#: The S3 servers the emulation can run for the data path (Glue is always moto's).
S3_SERVERS = ("moto", "s3s-fs")
#: Chooses the S3 server when ``LocalCloud(s3_server=...)`` is not given.
S3_SERVER_ENV = "SWEEP_EMULATION_S3"
#: Installs s3s-fs into the checkout (``target/tools/bin/s3s-fs``), pinned, built from
#: crates.io by cargo.
S3S_FS_INSTALL = "bash scripts/install_s3s_fs.sh"
#: Where ``scripts/install_s3s_fs.sh`` installs s3s-fs, under the checkout.
S3S_FS_PATH = Path("target") / "tools" / "bin" / "s3s-fs"


def s3s_fs_binary(checkout: Path | None = None) -> str | None:
    """The s3s-fs program: the one ``scripts/install_s3s_fs.sh`` installed in ``checkout``
    (found by :func:`find_checkout` when not given), else one beside this interpreter or on
    ``PATH``; ``None`` when there is none."""
    if checkout is None:
        with contextlib.suppress(BackendError):
            checkout = find_checkout()
    candidates = [checkout / S3S_FS_PATH] if checkout is not None else []
    candidates.append(Path(sys.executable).parent / "s3s-fs")
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("s3s-fs")


def _s3_server_choice(given: str | None) -> str:
    """The S3 server asked for (the argument, else ``$SWEEP_EMULATION_S3``, else moto)."""
    source = "s3_server"
    if given is None:
        given = os.environ.get(S3_SERVER_ENV, "").strip() or "moto"
        source = S3_SERVER_ENV
    if given not in S3_SERVERS:
        raise BackendError(
            f"{source}={given!r} is not an S3 server of the emulation (want one of: "
            f"{', '.join(S3_SERVERS)})"
        )
    return given


def _cargo_lambda() -> str | None:
    beside = Path(sys.executable).parent / "cargo-lambda"
    return str(beside) if beside.exists() else shutil.which("cargo-lambda")


def _shown(path: Path) -> str:
    """``path`` relative to the current directory when it is under it, else absolute."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def install_command(checkout: Path) -> str:
    """:data:`INSTALL_COMMAND` for this interpreter and ``checkout`` (the README's command
    when run from the checkout with its ``.venv``)."""
    python = Path(sys.executable)
    if not python.is_absolute():
        python = Path.cwd() / python
    return f"{_shown(python)} -m pip install -r {_shown(checkout / EMULATION_LOCK)}"


def missing_emulation_packages() -> list[str]:
    """The packages of the ``emulation`` extra that are not installed for this interpreter."""
    missing = [
        package
        for module, package in _EMULATION_MODULES.items()
        if importlib.util.find_spec(module) is None
    ]
    if _cargo_lambda() is None:
        missing.append("cargo-lambda")
    return missing


def require_emulation(checkout: Path) -> None:
    """Raises one line naming the install command unless the emulation can start."""
    missing = missing_emulation_packages()
    if missing:
        raise BackendError(
            f"the local cloud emulation needs the emulation extra ({', '.join(missing)} "
            f"missing); install it from the lock: {install_command(checkout)}"
        )


def _processes() -> dict[int, tuple[int, int, str]]:
    """Every live process as pid -> (parent pid, session id, start time) (Linux /proc; empty
    elsewhere). The start time tells a process from a later one that got the same pid."""
    found: dict[int, tuple[int, int, str]] = {}
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            # state, ppid, pgrp, session, ... starttime (field 22 of stat, here index 19)
            if fields[0] != "Z":  # a zombie has already exited
                found[int(entry.name)] = (int(fields[1]), int(fields[3]), fields[19])
        except (OSError, IndexError, ValueError):
            continue
    return found


def _family(roots: set[int]) -> set[tuple[int, str]]:
    """The live processes that ``roots`` started, directly or not, and those that stay in the
    session of a root, as (pid, start time). ``cargo lambda watch`` runs each function process
    in a session of its own, so the parent links are what find those."""
    table = _processes()
    family = {pid for pid, (_, session, _) in table.items() if session in roots}
    family |= roots & set(table)
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in table.items():
        children.setdefault(parent, []).append(pid)
    todo = list(family)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in family:
                family.add(child)
                todo.append(child)
    return {(pid, table[pid][2]) for pid in family}


def _alive(members: set[tuple[int, str]]) -> set[tuple[int, str]]:
    table = _processes()
    return {(pid, started) for pid, started in members if table.get(pid, (0, 0, ""))[2] == started}


@contextlib.contextmanager
def _stop_signals_deferred() -> Iterator[None]:
    """Holds SIGINT, SIGTERM and SIGHUP back while the emulation is being stopped, so a second
    Ctrl-C cannot cut the clean-up short; they are delivered afterwards."""
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class LocalCloud:
    """Starts the emulation on free loopback ports; ``stop()`` (or leaving the ``with``
    block) ends both servers and every process they started."""

    def __init__(
        self,
        *,
        concurrency: int = 4,
        workdir: str | os.PathLike[str] | None = None,
        features: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        startup_timeout: float = 900.0,
        source_dir: str | os.PathLike[str] | None = None,
        s3_server: str | None = None,
        event_queue: bool = False,
    ) -> None:
        self.concurrency = concurrency
        #: The S3 server of the run data: ``moto`` or ``s3s-fs`` (see the module's text).
        self.s3_server = _s3_server_choice(s3_server)
        #: Whether the Lambdas' ``Event`` invokes go through an event queue (see the module's
        #: text) on :attr:`queue_port`.
        self.event_queue = event_queue
        #: The source checkout the Lambdas are built from; found by :func:`find_checkout` on
        #: ``start()`` unless given.
        self.source_dir = Path(source_dir) if source_dir is not None else None
        self._workdir = Path(workdir) if workdir else None
        self.features = features
        self.extra_env = dict(env or {})
        self.startup_timeout = startup_timeout
        #: moto's server: Glue, and S3 too unless another S3 server was chosen.
        self.moto_port = _free_port()
        self.s3_port = self.moto_port if self.s3_server == "moto" else _free_port()
        self.lambda_port = _free_port()
        self.queue_port = _free_port() if event_queue else self.lambda_port
        self._procs: list[subprocess.Popen[bytes]] = []
        self._names: dict[int, str] = {}
        self._logs: list[IO[bytes]] = []

    @property
    def workdir(self) -> Path:
        """Where the servers' logs go: the folder given, else a new temporary folder, made
        when first needed (so a start refused by its checks leaves nothing behind)."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="sweep-local-cloud-"))
        return self._workdir

    # -- addresses ---------------------------------------------------------------------------

    @property
    def s3_url(self) -> str:
        """The S3 server the run data lives on (the Lambdas' and the client's)."""
        return f"http://127.0.0.1:{self.s3_port}"

    @property
    def moto_url(self) -> str:
        """moto's server: the Glue catalog, and any other AWS service the tests emulate (the
        same address as :attr:`s3_url` unless another S3 server was chosen)."""
        return f"http://127.0.0.1:{self.moto_port}"

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
            "AWS_ENDPOINT_URL_GLUE": self.moto_url,
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
            # The Lambdas invoke through the event queue when there is one.
            "AWS_ENDPOINT_URL_LAMBDA": f"http://127.0.0.1:{self.queue_port}",
            "AWS_ENDPOINT_URL_GLUE": self.moto_url,
            # Where the Lambdas keep kernel libraries they download (/tmp in AWS).
            "SWEEP_KERNEL_CACHE": str(self.workdir / "lambda-kernels"),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_REGION": REGION,
        }
        env.update(self.extra_env)
        return env

    # -- lifecycle ---------------------------------------------------------------------------

    def _spawn(self, args: list[str], log_name: str, what: str, cwd: Path | None = None) -> None:
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
            # Its own session (and process group): a terminal's Ctrl-C reaches only the
            # process that started it, which stops everything in order, and stop() finds
            # every process it started by the session they stay in.
            start_new_session=True,
        )
        self._procs.append(proc)
        self._names[proc.pid] = what

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
        """Starts both servers and waits until the orchestrator answers (the first start
        builds the Lambdas). Raises :class:`BackendError` in one line, before starting
        anything, when there is no source checkout or the emulation extra is missing."""
        source = self.source_dir = self.source_dir or find_checkout()
        require_emulation(source)
        s3s_fs = None
        if self.s3_server == "s3s-fs":
            s3s_fs = s3s_fs_binary(source)
            if s3s_fs is None:
                raise BackendError(
                    "the s3s-fs S3 server is not installed; install it with "
                    f"{S3S_FS_INSTALL} (in {_shown(source)}), or use moto's"
                )
        cargo_lambda = _cargo_lambda() or "cargo-lambda"  # require_emulation found it
        deadline = time.monotonic() + self.startup_timeout
        self.workdir.mkdir(parents=True, exist_ok=True)
        moto = "the S3 server" if s3s_fs is None else "the Glue server (moto)"
        self._spawn(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.moto_port)],
            "s3.log" if s3s_fs is None else "moto.log",
            moto,
        )
        if s3s_fs is not None:
            self._start_s3s_fs(s3s_fs)
        self._wait_http(self.moto_url + "/moto-api/", (200,), deadline, moto)
        if s3s_fs is not None:
            # Any S3 answer will do: an unsigned request is refused (403) once it is up.
            self._wait_http(self.s3_url + "/", (200, 400, 403), deadline, "the S3 server (s3s-fs)")
        else:
            self._create_bucket()
        args = [
            cargo_lambda,
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
        if self.event_queue:
            self._spawn(
                [
                    sys.executable,
                    "-m",
                    "sweep_magic.local_cloud",
                    "event-queue",
                    str(self.queue_port),
                    self.lambda_url,
                    str(self.concurrency),
                ],
                "event-queue.log",
                "the event queue",
            )
        for key, value in self.function_env().items():
            args += ["--env-var", f"{key}={value}"]
        self._spawn(args, "lambdas.log", "the Lambda emulator", cwd=source / "lambda" / "functions")
        # The first request builds and starts the functions.
        self._wait_http(self.api_url + "/experiments", (200,), deadline, "the orchestrator")
        self.invoke("worker", {"warm": True})
        return self

    def _start_s3s_fs(self, program: str) -> None:
        """s3s-fs on :attr:`s3_port`, over ``<workdir>/s3`` (the bucket is a folder there),
        checking every request's signature against the emulation's credentials."""
        root = self.workdir / "s3"
        (root / BUCKET).mkdir(parents=True, exist_ok=True)
        self._spawn(
            [
                program,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.s3_port),
                "--access-key",
                ACCESS_KEY,
                "--secret-key",
                SECRET_KEY,
                str(root),
            ],
            "s3.log",
            "the S3 server (s3s-fs)",
        )

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

    def wait(self) -> str:
        """Blocks until a server exits (or Ctrl-C); returns which one exited."""
        while True:
            for proc in self._procs:
                if proc.poll() is not None:
                    return self._names.get(proc.pid, "a server")
            time.sleep(0.5)

    def pids(self) -> list[int]:
        """Every live process of the emulation: the servers and what they started."""
        live = {p.pid for p in self._procs if p.poll() is None}
        return sorted(live | {pid for pid, _ in _family({p.pid for p in self._procs})})

    def _signal(self, members: set[tuple[int, str]], signum: int) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signum)
        for pid, _ in _alive(members):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)

    def stop(self, timeout: float = 10.0) -> None:
        """Ends every process of the emulation: SIGTERM first, SIGKILL for what is still
        there after ``timeout`` seconds. Safe to call more than once.

        The processes are found before any is signalled: once ``cargo lambda watch`` exits,
        nothing links its function processes to this one any more."""
        with _stop_signals_deferred():
            roots = {p.pid for p in self._procs}
            members = _family(roots)
            self._signal(members, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            killed = False
            while True:
                for proc in self._procs:
                    proc.poll()  # reaps the servers as they exit
                members = _alive(members | _family(roots))  # with anything started meanwhile
                if not members or (killed and time.monotonic() > deadline):
                    break
                if not killed and time.monotonic() > deadline:
                    self._signal(members, signal.SIGKILL)
                    killed, deadline = True, time.monotonic() + timeout
                time.sleep(0.1)
            for proc in self._procs:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=timeout)
            for log in self._logs:
                log.close()
            self._procs.clear()
            self._names.clear()
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


# -- Lambda's event queue ------------------------------------------------------------------------


def serve_event_queue(port: int, target: str, concurrency: int) -> None:
    """Lambda's asynchronous invocation in front of the emulator at ``target``: an ``Event``
    invoke is answered 202 at once and queued, and ``concurrency`` threads per function send
    the queued events to the emulator in order (it runs each to completion); any other
    request is passed through and its answer relayed. A queued event whose function fails is
    logged, not retried (AWS retries twice; the engine's resume covers what is lost)."""
    import http.client
    import http.server
    import queue
    import threading
    from urllib.parse import urlsplit

    upstream = urlsplit(target)
    host, upstream_port = upstream.hostname or "127.0.0.1", upstream.port or 80
    queues: dict[str, queue.SimpleQueue[tuple[str, dict[str, str], bytes]]] = {}
    lock = threading.Lock()

    def send(
        conn: http.client.HTTPConnection, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn.request("POST", path, body=body, headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.getheaders(), reply.read()

    def drain(events: queue.SimpleQueue[tuple[str, dict[str, str], bytes]]) -> None:
        conn = http.client.HTTPConnection(host, upstream_port, timeout=900)
        while True:
            path, headers, body = events.get()
            try:
                status, _, answer = send(conn, path, headers, body)
            except (OSError, http.client.HTTPException) as err:
                conn.close()
                status, answer = 0, str(err).encode()
            if status >= 300 or status == 0:
                line = {"msg": "queued event failed", "path": path, "status": status}
                line["answer"] = answer[:300].decode(errors="replace")
                print(json.dumps(line), flush=True)

    def enqueue(path: str, headers: dict[str, str], body: bytes) -> None:
        with lock:
            events = queues.get(path)
            if events is None:
                events = queues[path] = queue.SimpleQueue()
                for _ in range(concurrency):
                    threading.Thread(target=drain, args=(events,), daemon=True).start()
        events.put((path, headers, body))

    local = threading.local()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            skip = {"host", "content-length", "connection"}
            headers = {k: v for k, v in self.headers.items() if k.lower() not in skip}
            relayed: list[tuple[str, str]] = []
            if self.headers.get("x-amz-invocation-type", "").lower() == "event":
                enqueue(self.path, headers, body)
                status, answer = 202, b""
            else:
                conn = getattr(local, "conn", None)
                if conn is None:
                    conn = local.conn = http.client.HTTPConnection(host, upstream_port, timeout=900)
                try:
                    status, relayed, answer = send(conn, self.path, headers, body)
                except (OSError, http.client.HTTPException) as err:
                    conn.close()
                    status, answer = 502, str(err).encode()
            self.send_response(status)
            for key, value in relayed:
                if key.lower() not in {"content-length", "connection", "transfer-encoding"}:
                    self.send_header(key, value)
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"event queue on 127.0.0.1:{port} in front of {target}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "event-queue":
        serve_event_queue(int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))
    else:
        sys.exit("usage: python -m sweep_magic.local_cloud event-queue PORT TARGET_URL CONCURRENCY")
