"""The ``cloud`` backend: runs go to the orchestrator behind API Gateway (SigV4-signed, IAM
auth), which fans their shards out to worker Lambdas writing to S3.

Configuration comes from the environment: ``SWEEP_API_URL`` (the API's URL, or the local
emulation's function URL), ``SWEEP_REGION`` / ``AWS_REGION``, ``SWEEP_S3_ROOT``
(``s3://bucket/prefix``, where the workers write) and the standard AWS credential chain
(environment, ``~/.aws``, SSO, instance or container role) through botocore. S3 endpoints
come from ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL`` as in every AWS SDK, which is how the
same client talks to the local emulation.

A cloud run lives on after the Python process that started it: ``sm.open_run(run_id,
cloud=True)`` reattaches to it from anywhere.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import _native
from .._types import Manifest
from ..config import Config, load_config
from ..errors import BackendError, RunCancelledError, RunNotFoundError, error_for_kind
from ..handle import Run, RunStatus
from ..kernels import python_definition

if TYPE_CHECKING:
    import pyarrow.fs as pafs

    from ..spec import Spec

__all__ = [
    "CloudBackend",
    "CloudClient",
    "CloudRun",
    "S3Root",
    "open_cloud_run",
    "resume_cloud",
    "s3_filesystem",
    "submit",
]


def _s3_endpoint() -> str | None:
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


@dataclass(frozen=True)
class S3Root:
    """``s3://bucket/prefix`` split into its parts."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, uri: str) -> S3Root:
        if not uri.startswith("s3://") or len(uri) <= 5:
            raise BackendError(f"SWEEP_S3_ROOT must look like s3://bucket[/prefix], got {uri!r}")
        bucket, _, prefix = uri[5:].partition("/")
        prefix = prefix.strip("/")
        return cls(bucket, f"{prefix}/" if prefix else "")

    def path(self, key: str) -> str:
        """``bucket/prefix/key``, as pyarrow's S3 filesystem names objects."""
        return f"{self.bucket}/{self.prefix}{key}"

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def s3_filesystem(config: Config | None = None) -> pafs.S3FileSystem:
    """A pyarrow S3 filesystem from the environment (credentials through the AWS chain)."""
    import pyarrow.fs as pafs

    config = config or load_config()
    endpoint = _s3_endpoint()
    kwargs: dict[str, Any] = {"region": config.region or "us-east-1"}
    if endpoint:
        scheme, _, host = endpoint.partition("://")
        kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme or "https")
    return pafs.S3FileSystem(**kwargs)


class CloudClient:
    """Signed requests to the sweep API."""

    def __init__(self, api_url: str, region: str, *, timeout: float = 30.0) -> None:
        if not api_url:
            raise BackendError(
                "the cloud backend needs SWEEP_API_URL (terraform output api_url, or the URL "
                "`sweep local-cloud up` prints)"
            )
        if not api_url.startswith(("https://", "http://")):
            raise BackendError(f"SWEEP_API_URL must be an http(s) URL, got {api_url!r}")
        if not region:
            raise BackendError("the cloud backend needs SWEEP_REGION or AWS_REGION")
        self.api_url = api_url.rstrip("/")
        self.region = region
        self.timeout = timeout

    @classmethod
    def from_config(cls, config: Config | None = None) -> CloudClient:
        config = config or load_config()
        return cls(config.api_url, config.region)

    def _credentials(self) -> Any:
        import botocore.session

        credentials = botocore.session.get_session().get_credentials()
        if credentials is None:
            raise BackendError(
                "no AWS credentials found (environment, ~/.aws config, SSO or an instance "
                "role): the API accepts only SigV4-signed requests"
            )
        return credentials.get_frozen_credentials()

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        """Sends a SigV4-signed request and returns the JSON answer; API errors become the
        package's exceptions (a 400 names the spec field)."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        url = self.api_url + path
        headers = {"content-type": "application/json"} if body is not None else {}
        signed = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(self._credentials(), "execute-api", self.region).add_auth(signed)
        request = urllib.request.Request(  # noqa: S310 - the URL is SWEEP_API_URL, checked to be http(s)
            url, data=body, headers=dict(signed.headers.items()), method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 - the URL is SWEEP_API_URL, checked to be http(s)
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as err:
            raw = err.read()
            try:
                answer = json.loads(raw)
            except ValueError:
                answer = {}
            message = (
                answer.get("message")
                or answer.get("Message")
                or raw[:300].decode("utf-8", "replace")
            )
            kind = answer.get("kind")
            if isinstance(kind, str) and kind:
                raise error_for_kind(kind, str(message), str(answer.get("path", ""))) from None
            if err.code == 403:
                raise BackendError(
                    f"the API refused the request (403: {message}); check the credentials and "
                    "that the analyst policy is attached"
                ) from None
            raise BackendError(f"{method} {path} failed with HTTP {err.code}: {message}") from None
        except urllib.error.URLError as err:
            raise BackendError(
                f"cannot reach the sweep API at {self.api_url}: {err.reason}"
            ) from None


def _read_manifest(root: S3Root, run_id: str, fs: pafs.S3FileSystem) -> Manifest:
    path = root.path(_native.manifest_key(run_id))
    try:
        with fs.open_input_stream(path) as stream:
            manifest: Manifest = json.loads(stream.read())
    except FileNotFoundError:
        raise RunNotFoundError(f"no run {run_id!r} under {root}") from None
    except OSError as err:
        raise BackendError(f"cannot read {path}: {err}") from None
    return manifest


class CloudRun(Run):
    """A handle on a run executing in the cloud: status from the API, results from S3."""

    #: Seconds between status polls while waiting.
    poll_s = 1.0

    def __init__(
        self,
        client: CloudClient,
        s3_root: S3Root,
        manifest: Manifest,
        fs: pafs.S3FileSystem,
    ) -> None:
        super().__init__(str(s3_root), manifest, fs=fs, base=s3_root.path(""))
        self.client = client
        self.s3_root = s3_root
        self._last: dict[str, Any] | None = None
        #: A retry of failed rows being watched: (attempt, shards it covers).
        self._retry: tuple[int, int] | None = None

    def _poll(self) -> dict[str, Any]:
        answer: dict[str, Any] = self.client.request("GET", f"/runs/{self.run_id}")
        self._last = answer
        return answer

    def done(self) -> bool:
        last = self._poll()
        return bool(last["shards_done"] == last["shards_total"] or last["cancel_requested"])

    def _shards_done_live(self) -> int:
        return int(self._last["shards_done"]) if self._last else 0

    def wait(self, timeout: float | None = None, *, progress: bool = False) -> CloudRun:
        """Polls the API until every shard has an outcome (or ``timeout`` seconds pass).

        Interrupting the wait stops waiting only: the run goes on in the cloud, and
        ``sm.open_run(run_id, cloud=True)`` reattaches to it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if self._retry is not None:
            self._wait_retry(deadline)
            return self
        bar = self._progress_bar() if progress else None
        try:
            while True:
                last = self._poll()
                if bar is not None:
                    bar.update(last["shards_done"] - bar.n)
                if last["shards_done"] == last["shards_total"]:
                    return self
                if last["cancel_requested"]:
                    raise RunCancelledError(
                        f"run {self.run_id} was cancelled; finished shards are kept under "
                        f"{self.s3_root}; sm.resume({self.run_id!r}, backend='cloud') finishes it"
                    )
                if deadline is not None and time.monotonic() >= deadline:
                    return self
                time.sleep(self.poll_s)
        finally:
            if bar is not None:
                bar.close()

    def _wait_retry(self, deadline: float | None) -> None:
        """Waits until every shard of the watched retry has been handled by a worker (each
        leaves ``runs/<id>/retries/<attempt>/<shard>``)."""
        import pyarrow.fs as pafs

        assert self._retry is not None  # noqa: S101 - narrows the type for mypy
        attempt, shards = self._retry
        keys = _native.run_keys(self.run_id, self.experiment, int(self.plan["shards"]))
        prefix = keys["run"] + f"retries/{attempt:04}/"
        selector = pafs.FileSelector(self.s3_root.path(prefix), allow_not_found=True)
        assert self._fs is not None  # noqa: S101 - a cloud handle always has its filesystem
        while len(self._fs.get_file_info(selector)) < shards:
            if deadline is not None and time.monotonic() >= deadline:
                return
            time.sleep(self.poll_s)

    def retry_failed(
        self,
        error_kind: str | Sequence[str] | None = None,
        *,
        backend: str | None = None,
        threads: int | None = None,
        address: str | None = None,
    ) -> CloudRun:
        """Computes this run's failed rows again in the cloud (all, or those of
        ``error_kind``); ``wait()`` on the handle returned waits for the retry."""
        kinds = [error_kind] if isinstance(error_kind, str) else list(error_kind or [])
        return retry_cloud(self.run_id, kinds)

    def cancel(self) -> None:
        """Asks the orchestrator to stop the run: no worker starts a new shard afterwards."""
        self._last = self.client.request("POST", f"/runs/{self.run_id}/cancel")

    def status(self) -> RunStatus:
        raw = self._poll()
        failed = bool(raw.get("failed", False))
        state = _native.run_state(
            raw["shards_total"], raw["shards_done"], raw["cancel_requested"], "fleet", failed
        )
        from datetime import UTC, datetime

        created = datetime.fromisoformat(self.manifest["created_at"].replace("Z", "+00:00"))
        if "finished_ms" in raw:
            elapsed = max(0.0, raw["finished_ms"] / 1000 - created.timestamp())
        else:
            elapsed = (datetime.now(UTC) - created).total_seconds()
        eta = None
        if state == "complete":
            eta = 0.0
        elif raw["shards_done"] > 0:
            eta = elapsed / raw["shards_done"] * (raw["shards_total"] - raw["shards_done"])
        return RunStatus(
            run_id=self.run_id,
            state=state,
            shards_total=raw["shards_total"],
            shards_done=raw["shards_done"],
            shards_failed=0,
            rows_total=raw["rows_total"],
            rows_ok=raw["rows_ok"],
            rows_failed=raw["rows_failed"],
            elapsed_s=round(elapsed, 3),
            eta_s=None if eta is None else round(eta, 3),
            reason=raw.get("failure_reason"),
        )

    def __repr__(self) -> str:
        return (
            f"CloudRun(run_id={self.run_id!r}, experiment={self.experiment!r}, "
            f"root={str(self.s3_root)!r})"
        )


def _context(config: Config | None) -> tuple[CloudClient, S3Root, pafs.S3FileSystem]:
    config = config or load_config()
    if not config.s3_root:
        raise BackendError(
            "the cloud backend needs SWEEP_S3_ROOT (s3://bucket/prefix; terraform output s3_root)"
        )
    return CloudClient.from_config(config), S3Root.parse(config.s3_root), s3_filesystem(config)


def upload_kernel(experiment: str, root: S3Root, region: str) -> str | None:
    """Uploads the library of loaded kernel ``experiment`` to ``kernels/<sha256>.so`` under
    the deployment's root (content-addressed: the same build is the same object) and returns
    its sha256; ``None`` for a built-in experiment. The orchestrator and the workers hash the
    bytes again and refuse them unless they match the key, so the key is the integrity check.
    """
    library = _native.kernel_library(experiment)
    if library is None:
        return None
    path, sha256 = library
    key = root.prefix + _native.layout_templates()["kernel"].replace("{sha256}", sha256)
    import boto3

    # One PUT (boto3 honours AWS_ENDPOINT_URL_S3 like the rest of the client). Analysts may
    # write kernels/ but not read it, so the PUT is unconditional: the same bytes under their
    # own hash change nothing.
    s3 = boto3.client("s3", region_name=region)
    try:
        s3.put_object(Bucket=root.bucket, Key=key, Body=Path(path).read_bytes())
    except Exception as exc:  # botocore's errors: name the object and the cause
        raise BackendError(
            f"could not upload kernel {experiment} to s3://{root.bucket}/{key}: {exc}"
        ) from exc
    return sha256


def submit(spec: Spec, config: Config | None = None) -> CloudRun:
    """Sends ``spec`` (already validated here) to the API; returns once the run is accepted.
    A loaded kernel's library is uploaded first; the spec pins its sha256."""
    client, root, fs = _context(config)
    upload_kernel(spec.experiment, root, client.region)
    document = spec.normalized
    if not spec.shard_size_given:
        # Fleet-sized shards unless the author chose: the orchestrator calibrates the kernel
        # and cuts shards of about 5 s spread over the Lambda fleet.
        document["shard_size"] = "auto"
    body = json.dumps(document, separators=(",", ":")).encode()
    answer = client.request("POST", "/runs", body)
    return CloudRun(client, root, _read_manifest(root, answer["run_id"], fs), fs)


def open_cloud_run(run_id: str, config: Config | None = None) -> CloudRun:
    """Reattaches to cloud run ``run_id``."""
    client, root, fs = _context(config)
    client.request("GET", f"/runs/{run_id}")  # 404 names an unknown run
    return CloudRun(client, root, _read_manifest(root, run_id, fs), fs)


def resume_cloud(run_id: str, config: Config | None = None) -> CloudRun:
    """Withdraws a cancel and re-dispatches the shards of ``run_id`` without a marker."""
    client, root, fs = _context(config)
    client.request("POST", f"/runs/{run_id}/resume")
    return CloudRun(client, root, _read_manifest(root, run_id, fs), fs)


def retry_cloud(run_id: str, error_kinds: list[str], config: Config | None = None) -> CloudRun:
    """Sends run ``run_id``'s failed rows of ``error_kinds`` (empty: all) to workers again."""
    client, root, fs = _context(config)
    body = json.dumps({"error_kinds": list(error_kinds)}).encode()
    answer = client.request("POST", f"/runs/{run_id}/retry", body)
    handle = CloudRun(client, root, _read_manifest(root, run_id, fs), fs)
    handle._retry = (int(answer["attempt"]), int(answer["shards"]))
    return handle


class CloudBackend:
    """The ``cloud`` backend: runs live in the cloud and outlive this process."""

    name = "cloud"

    def start(self, spec: Spec, root: str | os.PathLike[str] | None) -> CloudRun:
        """Sends ``spec`` to the API (``root`` is the deployment's: ``SWEEP_S3_ROOT``)."""
        if python_definition(spec.experiment) is not None:
            raise BackendError(
                f"{spec.experiment} is a Python kernel; the cloud backend runs compiled Rust "
                "kernels only (use backend='local' or 'ray')"
            )
        return submit(spec)

    def open(self, run_id: str, root: str | os.PathLike[str] | None) -> CloudRun:
        return open_cloud_run(run_id)

    def resume(self, run_id: str, root: str | os.PathLike[str] | None) -> CloudRun:
        return resume_cloud(run_id)

    def retry(
        self, run_id: str, root: str | os.PathLike[str] | None, error_kinds: list[str]
    ) -> CloudRun:
        return retry_cloud(run_id, error_kinds)
