"""The cloud path end to end, with no AWS account: the real orchestrator and worker Lambda
binaries under `cargo lambda watch`, writing to a real S3 protocol server (moto's) on
loopback, driven by the Python cloud backend over SigV4-signed HTTP. The emulation is the
session's shared one (tests/conftest.py) but for the straggler test's, which needs a shorter
straggler threshold.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pandas as pd
import pytest

import sweep_magic as sm
from sweep_magic.backends.cloud import CloudClient, CloudRun
from sweep_magic.local_cloud import BUCKET, LocalCloud

if TYPE_CHECKING:
    from _faults import Emulation

GBM = {
    "experiment": "gbm_option",
    "seed": 7,
    "replicates": 2,
    "shard_size": 2,
    "params": {
        "s0": 100,
        "strike": [90, 100, 110],
        "sigma": [0.15, 0.3],
        "rate": 0.02,
        "maturity": 1.0,
        "paths": 20000,
    },
}


def _sleepy(points: int, micros: int) -> dict[str, Any]:
    return {
        "experiment": "diag_sleep",
        "shard_size": 1,
        # `points` points of about `micros` each (distinct values make distinct points).
        "params": {"micros": {"range": [micros, micros + points, 1]}},
    }


@pytest.fixture
def cloud(emulation: Emulation) -> Iterator[LocalCloud]:
    """The session's shared emulation (tests/conftest.py), with no fault file left over."""
    emulation.clear()
    yield emulation.cloud
    emulation.clear()


@pytest.fixture(scope="module")
def straggler_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    """An emulation of its own for the straggler test: its orchestrator re-dispatches a shard
    late by 2 s (SWEEP_STRAGGLER_MIN_MS; 30 s by default, as in AWS). The shared emulation
    keeps the default because the fault tests count on a slow or killed shard NOT being
    re-dispatched while they poll status (tests/test_reliability.py). Same build features as
    the shared one, so the Lambdas are not built again."""
    emulation = LocalCloud(
        concurrency=4,
        workdir=tmp_path_factory.mktemp("local-cloud-stragglers"),
        features=("fault-injection",),
        # Stragglers: late by 4x the median shard time and at least 2 s (30 s in AWS).
        env={"SWEEP_STRAGGLER_MIN_MS": "2000"},
    )
    with emulation:
        yield emulation


def _aws_kwargs(env: dict[str, str]) -> dict[str, str]:
    return {
        "region_name": env["AWS_REGION"],
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
    }


def _use(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = cloud.client_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(CloudRun, "poll_s", 0.2)
    return env


@pytest.fixture
def client_env(cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return _use(cloud, monkeypatch)


@pytest.fixture
def straggler_env(straggler_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    return _use(straggler_cloud, monkeypatch)


@pytest.fixture
def fake_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Credentials to sign with, for tests that answer the client themselves (no emulation)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")  # pragma: allowlist secret
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def _objects(env: dict[str, str]) -> list[str]:
    s3 = boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL_S3"], **_aws_kwargs(env))
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column but the wall-clock ``duration_us``, in point/replicate order."""
    return (
        frame.drop(columns=["duration_us"])
        .sort_values(["point", "replicate"])
        .reset_index(drop=True)
    )


def _raw(
    cloud: LocalCloud,
    method: str,
    path: str,
    body: bytes | None = None,
    content_type: str = "application/json",
) -> tuple[int, Any]:
    """One unsigned request; a body goes as ``content_type`` (JSON, as clients send it)."""
    headers = {"Content-Type": content_type} if body is not None else {}
    url = cloud.api_url + path
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def _wait_until_stable(handle: CloudRun, seconds: float = 3.0, limit: float = 120.0) -> int:
    """Polls until shards_done stops changing for ``seconds``; returns it."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        done = handle.status().shards_done
        if done != last:
            last, since = done, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return done
        time.sleep(0.2)
    raise AssertionError("the run did not settle")


@pytest.mark.cloud
def test_cloud_results_equal_local_row_for_row(
    client_env: dict[str, str], root: Path, cloud: LocalCloud
) -> None:
    handle = sm.run(GBM, backend="cloud")
    assert isinstance(handle, CloudRun)
    handle.wait(timeout=300)
    status = handle.status()
    assert status.state == "complete", status
    assert (status.rows_ok, status.rows_failed) == (12, 0)

    cloud_rows = handle.to_pandas()
    local_rows = sm.run(GBM, backend="local").wait().to_pandas()
    assert len(cloud_rows) == 12
    pd.testing.assert_frame_equal(_comparable(cloud_rows), _comparable(local_rows))

    # The result layout (docs/design.md) in the bucket: data files, then one marker per shard.
    keys = _objects(client_env)
    run_id = handle.run_id
    assert f"runs/{run_id}/manifest.json" in keys
    assert sum(k.startswith(f"runs/{run_id}/shards/") for k in keys) == 3
    assert sum(k.startswith(f"results/gbm_option/run_id={run_id}/part-") for k in keys) == 3

    # The same Athena-dialect SQL, on DuckDB over the S3 objects (Athena is not emulated).
    frame = sm.query(
        "SELECT strike, count(*) AS n, avg(price) AS price FROM results_gbm_option "
        f"WHERE run_id = '{run_id}' GROUP BY strike ORDER BY strike",
        cloud=True,
    )
    assert frame["n"].tolist() == [4, 4, 4]
    expected = local_rows.groupby("strike")["price"].mean().sort_index().tolist()
    assert frame["price"].tolist() == pytest.approx(expected, rel=1e-12)

    # The orchestrator registered the run's partitions in the (Glue) catalog at submit.
    glue = boto3.client("glue", endpoint_url=cloud.s3_url, **_aws_kwargs(client_env))
    for table in ("results_gbm_option", "failures_gbm_option"):
        parts = glue.get_partitions(DatabaseName="sweep_magic", TableName=table)["Partitions"]
        locations = {p["StorageDescriptor"]["Location"] for p in parts if p["Values"] == [run_id]}
        kind = table.split("_", 1)[0]
        assert locations == {f"s3://{BUCKET}/{kind}/gbm_option/run_id={run_id}/"}


@pytest.mark.cloud
def test_submit_answers_before_the_run_completes(
    client_env: dict[str, str], cloud: LocalCloud
) -> None:
    started = time.monotonic()
    handle = sm.run(_sleepy(16, 300_000), backend="cloud")
    accepted_after = time.monotonic() - started
    first = handle.status()
    # 16 shards of 0.3 s on 4 workers need at least 1.2 s; the answer came before them.
    assert first.shards_done < first.shards_total, (accepted_after, first)
    handle.wait(timeout=300)
    assert handle.status().state == "complete"
    assert accepted_after < 1.2


@pytest.mark.cloud
def test_a_million_point_spec_is_accepted_quickly_and_cancels(
    client_env: dict[str, str], cloud: LocalCloud
) -> None:
    spec = {
        "experiment": "diag_sleep",
        "shard_size": 100_000,
        "params": {"micros": {"linspace": [0, 0, 1_000_000]}},
    }
    client = CloudClient.from_config()
    started = time.monotonic()
    answer = client.request("POST", "/runs", json.dumps(spec).encode())
    elapsed = time.monotonic() - started
    assert answer["points"] == 1_000_000
    assert answer["shards"] == 10
    assert answer["status_url"] == f"/runs/{answer['run_id']}"
    client.request("POST", f"/runs/{answer['run_id']}/cancel")
    # API Gateway gives an integration 30 s; the answer needs a small fraction of that.
    assert elapsed < 10, elapsed


@pytest.mark.cloud
def test_resume_after_an_injected_worker_failure_completes_the_run(
    client_env: dict[str, str], root: Path, cloud: LocalCloud
) -> None:
    fault = cloud.workdir / "faults" / "fail-shard-1"
    fault.touch()
    try:
        handle = sm.run(GBM, backend="cloud")
        assert isinstance(handle, CloudRun)
        done = _wait_until_stable(handle)
        # Shard 1 shares its invocation with shard 0 (2 shards per invoke): both failed.
        assert done == 1
        assert handle.status().state == "running"  # not done, not cancelled: resumable
    finally:
        fault.unlink()
    resumed = sm.resume(handle.run_id, backend="cloud")
    resumed.wait(timeout=300)
    assert resumed.status().state == "complete"
    local_rows = sm.run(GBM, backend="local").wait().to_pandas()
    pd.testing.assert_frame_equal(_comparable(resumed.to_pandas()), _comparable(local_rows))


@pytest.mark.cloud
def test_cancel_stops_new_shards_and_resume_finishes(
    client_env: dict[str, str], cloud: LocalCloud
) -> None:
    # 1 s shards: with 4 worker instances the run needs about 10 s, so the cancel sent after
    # the second shard lands long before the end even on a loaded machine.
    handle = sm.run(_sleepy(40, 1_000_000), backend="cloud")
    deadline = time.monotonic() + 120
    while handle.status().shards_done < 2:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    handle.cancel()
    settled = _wait_until_stable(handle, seconds=2.0)
    status = handle.status()
    assert status.state == "cancelled"
    # Workers finish the shard they are in (at most one per instance), then start no more.
    assert settled < 40
    with pytest.raises(sm.errors.RunCancelledError):
        handle.wait(timeout=5)
    resumed = sm.resume(handle.run_id, backend="cloud")
    resumed.wait(timeout=300)
    final = resumed.status()
    assert (final.state, final.rows_ok) == ("complete", 40)


@pytest.mark.cloud
def test_bad_requests_get_clear_4xx_and_write_nothing(
    client_env: dict[str, str], cloud: LocalCloud
) -> None:
    before = _objects(client_env)
    cases: list[tuple[str, str, bytes | None, int, str]] = [
        ("POST", "/runs", b"{not json", 400, "line 1"),
        ("POST", "/runs", json.dumps({"experiment": "nope"}).encode(), 400, "experiment"),
        (
            "POST",
            "/runs",
            json.dumps(
                {
                    "experiment": "diag_sleep",
                    "replicates": 100_000,
                    "params": {"micros": {"linspace": [0, 0, 1_000_000]}},
                }
            ).encode(),
            400,
            "limit",
        ),
        ("POST", "/runs", b"x" * (2 << 20), 413, "over the limit"),
        ("POST", "/runs", b"experiment=diag_sleep", 415, "application/json"),
        ("GET", "/runs/20990101-000000-00000000", None, 404, "run"),
        ("GET", "/runs/..%2F..%2Fetc", None, 400, "run id"),
        ("GET", "/runs/A%2Fb", None, 400, "run id"),
        ("DELETE", "/runs", None, 405, "not allowed"),
        ("GET", "/nowhere", None, 404, "no route"),
    ]
    documented = json.loads((Path(__file__).parents[1] / "lambda" / "openapi.json").read_text())
    for method, path, body, status, needle in cases:
        form = body == b"experiment=diag_sleep"
        kind = "application/x-www-form-urlencoded" if form else "application/json"
        got, answer = _raw(cloud, method, path, body, kind)
        assert got == status, (method, path, got, answer)
        assert needle in answer["message"], (needle, answer)
        template = "/runs/{run_id}" if path.startswith("/runs/") else path
        if template in documented["paths"] and status != 405:
            assert str(status) in documented["paths"][template][method.lower()]["responses"]
    status, answer = _raw(
        cloud, "POST", "/runs", json.dumps({"experiment": "gbm_option", "params": {}}).encode()
    )
    assert (status, answer["path"]) == (400, "params.s0")
    assert _objects(client_env) == before

    # A worker payload of another contract version is refused and logged, not retried.
    status, answer = cloud.invoke("worker", {"version": 9, "run_id": "r1", "shards": [0]})
    assert status == 200
    assert "version 9" in answer["rejected"]
    assert "payload rejected" in cloud.log_path.read_text()


@pytest.mark.usefixtures("fake_env")
def test_the_client_signs_every_request(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[urllib.request.Request] = []

    class Answer:
        status = 200

        def read(self) -> bytes:
            return b"[]"

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *args: object) -> None:
            return None

    def fake_urlopen(request: urllib.request.Request, timeout: float) -> Answer:
        seen.append(request)
        return Answer()

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    CloudClient("https://abc.execute-api.eu-west-1.amazonaws.com", "eu-west-1").request(
        "GET", "/experiments"
    )
    auth = seen[0].get_header("Authorization")
    assert auth is not None
    assert auth.startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/eu-west-1/execute-api/aws4_request" in auth
    assert seen[0].get_header("X-amz-date")


@pytest.mark.cloud
def test_cli_runs_on_the_cloud_backend(
    client_env: dict[str, str], sweep_cmd: list[str], tmp_path: Path
) -> None:
    import os
    import subprocess

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(GBM))
    env = {**os.environ, **client_env}
    done = subprocess.run(
        [*sweep_cmd, "run", str(spec), "--cloud", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["rows_ok"] == 12
    assert summary["results"].startswith(f"s3://{BUCKET}/results/gbm_option/run_id=")
    status = subprocess.run(
        [*sweep_cmd, "status", summary["run_id"], "--cloud"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert status.returncode == 0, status.stderr
    assert "complete, 3/3 shards" in status.stdout


@pytest.mark.cloud
def test_a_straggler_is_redispatched_once_and_the_duplicate_is_harmless(
    straggler_env: dict[str, str], straggler_cloud: LocalCloud
) -> None:
    client_env, cloud = straggler_env, straggler_cloud
    # Eight 50 ms shards and one of 5 s: polling status past 2 s re-dispatches the slow one.
    spec = {
        "experiment": "diag_sleep",
        "shard_size": 1,
        "params": {"micros": [50_000 + i for i in range(8)] + [5_000_000]},
    }
    handle = sm.run(spec, backend="cloud")
    handle.wait(timeout=120)
    assert handle.status().rows_ok == 9
    run_id = handle.run_id
    keys = _objects(client_env)
    assert [k for k in keys if k.startswith(f"runs/{run_id}/redispatched/")] == [
        f"runs/{run_id}/redispatched/00008.json"
    ]
    # The duplicate (attempt 1) computed the same shard; once it is done, the run has the
    # same objects (same keys; rows equal but for the wall-clock duration_us).
    deadline = time.monotonic() + 30
    while '"attempt":1' not in _worker_lines(cloud, run_id):
        assert time.monotonic() < deadline, "no attempt-1 worker ran"
        time.sleep(0.2)
    assert '"computed":[8]' in _worker_lines(cloud, run_id).split('"attempt":1')[1]
    assert sorted(k for k in _objects(client_env) if run_id in k) == sorted(
        k for k in keys if run_id in k
    )
    rows = handle.to_pandas()
    assert sorted(rows["point"].tolist()) == list(range(9))


def _worker_lines(cloud: LocalCloud, run_id: str) -> str:
    return "\n".join(
        line for line in cloud.log_path.read_text().splitlines() if f'"run_id":"{run_id}"' in line
    )


@pytest.mark.cloud
def test_notebook_magics_run_and_query_in_the_cloud(client_env: dict[str, str], root: Path) -> None:
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    ip = InteractiveShell.instance()
    ip.run_line_magic("reload_ext", "sweep_magic")
    with capture_output():
        ip.run_cell(
            "%%sweep run --cloud -o cloud_run\nexperiment: gbm_option\n"
            "params: {s0: 100, strike: [90, 110], sigma: 0.2, paths: 5000}"
        )
        ip.run_cell(
            "%%sweep query --cloud -o cloud_q\nSELECT count(*) AS n FROM results_gbm_option "
            "WHERE run_id = {cloud_run.run_id}"
        )
    assert isinstance(ip.user_ns["cloud_run"], CloudRun)
    assert ip.user_ns["cloud_q"]["n"].tolist() == [2]
    status = ip.run_line_magic("sweep", f"status {ip.user_ns['cloud_run'].run_id} --cloud")
    assert status.state == "complete"


def test_athena_queries_go_through_awswrangler_with_the_configured_workgroup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import awswrangler as wr

    seen: dict[str, Any] = {}

    def fake_read_sql_query(sql: str, **kwargs: Any) -> pd.DataFrame:
        seen.update(kwargs, sql=sql, engine=str(wr.engine.get()))
        return pd.DataFrame({"n": [1]})

    monkeypatch.setattr(wr.athena, "read_sql_query", fake_read_sql_query)
    monkeypatch.setenv("SWEEP_CLOUD_QUERY", "athena")
    monkeypatch.setenv("SWEEP_ATHENA_DATABASE", "db_x")
    monkeypatch.setenv("SWEEP_ATHENA_WORKGROUP", "wg_y")
    monkeypatch.setenv("SWEEP_REGION", "eu-west-1")
    frame = sm.query("SELECT count(*) AS n FROM results_gbm_option", cloud=True)
    assert frame["n"].tolist() == [1]
    assert (seen["database"], seen["workgroup"], seen["ctas_approach"]) == ("db_x", "wg_y", False)
    assert seen["engine"].lower().endswith("python")
    with pytest.raises(sm.QueryError, match="does not parse"):
        sm.query("SELEC 1", cloud=True)
