"""Helpers of the cloud and reliability tests: the shared emulation (the local cloud behind a
fault-injecting HTTP proxy for S3), finding the emulator's Lambda processes, and the
exactly-once invariant every fault test ends with."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from sweep_magic.local_cloud import LocalCloud

_HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "proxy-connection"}

_S3_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>ServiceUnavailable</Code>'
    b"<Message>injected by the test proxy</Message></Error>"
)


class FaultProxy:
    """Forwards HTTP requests to ``upstream`` (moto's S3) on a loopback port. For a while,
    ``fail(seconds)`` answers 503 to every request, and ``hang(seconds)`` holds requests
    without answering until the window ends, then drops the connection."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.mode = "pass"
        self.until = 0.0
        self.forwarded = 0
        self.faulted = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                mode = proxy.current_mode()
                if mode == "error":
                    proxy.count("faulted")
                    self.send_response(503)
                    self.send_header("content-type", "application/xml")
                    self.send_header("content-length", str(len(_S3_ERROR)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(_S3_ERROR)
                    return
                if mode == "hang":
                    proxy.count("faulted")
                    while proxy.current_mode() == "hang":
                        time.sleep(0.05)
                    self.close_connection = True
                    return
                proxy.count("forwarded")
                upstream = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=60)
                try:
                    headers = {
                        k: v for k, v in self.headers.items() if k.lower() not in _HOP_HEADERS
                    }
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status)
                    for key, value in answer.getheaders():
                        if key.lower() not in _HOP_HEADERS | {"content-length"}:
                            self.send_header(key, value)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def count(self, what: str) -> None:
        with self._lock:
            setattr(self, what, getattr(self, what) + 1)

    def current_mode(self) -> str:
        with self._lock:
            if self.mode != "pass" and time.monotonic() >= self.until:
                self.mode = "pass"
            return self.mode

    def _set(self, mode: str, seconds: float) -> None:
        with self._lock:
            self.mode, self.until = mode, time.monotonic() + seconds

    def fail(self, seconds: float) -> None:
        """Answer 503 to every request for ``seconds``."""
        self._set("error", seconds)

    def hang(self, seconds: float) -> None:
        """Hold every request unanswered for ``seconds``, then drop it."""
        self._set("hang", seconds)


class Emulation:
    """The local cloud (built with the ``fault-injection`` feature), the proxy its Lambdas reach
    S3 through, and the directory of fault files they read (``SWEEP_FAULT_DIR``)."""

    def __init__(self, cloud: LocalCloud, proxy: FaultProxy, faults: Path) -> None:
        self.cloud, self.proxy, self.faults = cloud, proxy, faults

    @property
    def emulator_pid(self) -> int:
        """``cargo lambda watch``: the parent of the Lambda processes."""
        return self.cloud._procs[1].pid

    def slow(self, shard: int, millis: int) -> None:
        (self.faults / f"slow-shard-{shard}").write_text(str(millis))

    def clear(self) -> None:
        """Removes every fault file (and the pid files the Lambdas leave there)."""
        for f in self.faults.iterdir():
            f.unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lambda_pids(emulator_pid: int, binary: str) -> list[int]:
    """Processes running ``target/debug/<binary>`` that the emulator (``cargo lambda watch``,
    started by this test) spawned: its children, found through /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0].decode()
            stat = (entry / "stat").read_text()
        except (OSError, UnicodeDecodeError):
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if argv0.endswith(f"/debug/{binary}") and parent == emulator_pid:
            found.append(int(entry.name))
    return found


def kill_all(pids: list[int]) -> int:
    """SIGKILLs each pid; returns how many were still there."""
    killed = 0
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
            killed += 1
        except ProcessLookupError:
            pass
    return killed


def comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column but the wall-clock ``duration_us``, in point/replicate order."""
    return (
        frame.drop(columns=["duration_us"])
        .sort_values(["point", "replicate"])
        .reset_index(drop=True)
    )


def assert_exactly_once(
    results: pd.DataFrame,
    failures: pd.DataFrame,
    clean_results: pd.DataFrame,
    clean_failures: pd.DataFrame,
    points: int,
    replicates: int,
) -> None:
    """Every (point, replicate) is exactly once in results or failures, and both tables
    equal a clean run's (every column but ``duration_us``)."""
    keys = [
        (int(p), int(r))
        for frame in (results, failures)
        for p, r in zip(frame["point"], frame["replicate"], strict=True)
    ]
    assert len(keys) == len(set(keys)), "a (point, replicate) appears twice"
    expected = {(p, r) for p in range(points) for r in range(replicates)}
    assert set(keys) == expected, (
        f"missing {sorted(expected - set(keys))[:5]}, extra {sorted(set(keys) - expected)[:5]}"
    )
    pd.testing.assert_frame_equal(comparable(results), comparable(clean_results))
    pd.testing.assert_frame_equal(comparable(failures), comparable(clean_failures))
