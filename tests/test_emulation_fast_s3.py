"""The local cloud emulation with its fast S3 server (s3s-fs, `LocalCloud(s3_server="s3s-fs")`)
and its event queue (`event_queue=True`): the cloud path gives the same rows as `local`, the run
data lives on s3s-fs (moto keeps only Glue), and Event invokes are answered before the
workers run. Skipped when s3s-fs is not installed (`bash scripts/install_s3s_fs.sh`)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.exceptions
import pandas as pd
import pytest

import sweep_magic as sm
import sweep_magic.local_cloud as local_cloud
from sweep_magic.backends.cloud import CloudRun
from sweep_magic.errors import BackendError
from sweep_magic.local_cloud import BUCKET, S3S_FS_INSTALL, LocalCloud, s3s_fs_binary

GBM = {
    "experiment": "gbm_option",
    "seed": 11,
    "replicates": 2,
    "shard_size": 2,
    "params": {
        "s0": 100,
        "strike": [95, 105],
        "sigma": [0.2, 0.35],
        "rate": 0.01,
        "maturity": 0.5,
        "paths": 5000,
    },
}


# -- choosing the server (no emulation started) --------------------------------------------------


def test_an_unknown_s3_server_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BackendError) as err:
        LocalCloud(s3_server="minio")
    assert str(err.value).splitlines() == [
        "s3_server='minio' is not an S3 server of the emulation (want one of: moto, s3s-fs)"
    ]
    monkeypatch.setenv("SWEEP_EMULATION_S3", "fast")
    with pytest.raises(BackendError, match=r"^SWEEP_EMULATION_S3='fast' is not an S3 server"):
        LocalCloud()


def test_the_environment_chooses_the_server_and_moto_stays_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SWEEP_EMULATION_S3", raising=False)
    default = LocalCloud()
    assert default.s3_server == "moto"
    assert default.s3_url == default.moto_url, "moto serves S3 and Glue on one port"
    monkeypatch.setenv("SWEEP_EMULATION_S3", "s3s-fs")
    fast = LocalCloud()
    assert fast.s3_server == "s3s-fs"
    assert fast.s3_url != fast.moto_url
    # The Lambdas and the client use the same S3 server, and moto for Glue.
    assert fast.function_env()["AWS_ENDPOINT_URL_S3"] == fast.s3_url
    assert fast.client_env()["AWS_ENDPOINT_URL_S3"] == fast.s3_url
    assert fast.function_env()["AWS_ENDPOINT_URL_GLUE"] == fast.moto_url


def test_a_missing_s3s_fs_is_named_with_its_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(local_cloud, "s3s_fs_binary", lambda checkout=None: None)
    monkeypatch.setattr(local_cloud, "require_emulation", lambda checkout: None)
    started: list[object] = []
    monkeypatch.setattr(local_cloud.subprocess, "Popen", lambda *a, **k: started.append(a))
    cloud = LocalCloud(s3_server="s3s-fs", workdir=tmp_path / "cloud")
    with pytest.raises(BackendError) as err:
        cloud.start()
    (line,) = str(err.value).splitlines()
    assert "s3s-fs S3 server is not installed" in line
    assert S3S_FS_INSTALL in line
    assert not started, "nothing is started without the server"
    assert not (tmp_path / "cloud").exists()


# -- end to end on s3s-fs ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fast_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCloud]:
    if s3s_fs_binary() is None:
        pytest.skip(f"s3s-fs is not installed (install it with {S3S_FS_INSTALL})")
    cloud = LocalCloud(
        concurrency=4,
        workdir=tmp_path_factory.mktemp("local-cloud-s3s-fs"),
        s3_server="s3s-fs",
        event_queue=True,
    )
    with cloud:
        yield cloud


@pytest.fixture
def fast_env(fast_cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = fast_cloud.client_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(CloudRun, "poll_s", 0.1)
    return env


def _s3(env: dict[str, str], url: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=url,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """Every column but the wall-clock ``duration_us``, in point/replicate order."""
    return (
        frame.drop(columns=["duration_us"])
        .sort_values(["point", "replicate"])
        .reset_index(drop=True)
    )


@pytest.mark.cloud
@pytest.mark.slow
def test_a_sweep_on_s3s_fs_equals_local_row_for_row(
    fast_env: dict[str, str], fast_cloud: LocalCloud, root: Path
) -> None:
    handle = sm.run(GBM, backend="cloud")
    assert isinstance(handle, CloudRun)
    handle.wait(timeout=300)
    status = handle.status()
    assert status.state == "complete", status
    assert (status.rows_ok, status.rows_failed) == (8, 0)

    cloud_rows = handle.to_pandas()  # read by pyarrow from s3s-fs
    local_rows = sm.run(GBM, backend="local").wait().to_pandas()
    assert len(cloud_rows) == 8
    pd.testing.assert_frame_equal(_comparable(cloud_rows), _comparable(local_rows))

    # The same SQL on DuckDB over the objects on s3s-fs.
    frame = sm.query(
        "SELECT strike, count(*) AS n FROM results_gbm_option "
        f"WHERE run_id = '{handle.run_id}' GROUP BY strike ORDER BY strike",
        cloud=True,
    )
    assert frame["n"].tolist() == [4, 4]

    # The run data is in s3s-fs's folder; moto, which serves Glue, has no bucket at all.
    run_dir = fast_cloud.workdir / "s3" / BUCKET / "runs" / handle.run_id
    assert json.loads((run_dir / "manifest.json").read_text())["run_id"] == handle.run_id
    assert len(list((run_dir / "shards").iterdir())) == 2
    assert _s3(fast_env, fast_cloud.moto_url).list_buckets()["Buckets"] == []


@pytest.mark.cloud
@pytest.mark.slow
def test_s3s_fs_refuses_a_second_conditional_put(
    fast_env: dict[str, str], fast_cloud: LocalCloud
) -> None:
    """What the engine's once-only markers rely on: If-None-Match: * answers 412."""
    s3 = _s3(fast_env, fast_cloud.s3_url)
    s3.put_object(Bucket=BUCKET, Key="probe/once", Body=b"first", IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError) as err:
        s3.put_object(Bucket=BUCKET, Key="probe/once", Body=b"second", IfNoneMatch="*")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert s3.get_object(Bucket=BUCKET, Key="probe/once")["Body"].read() == b"first"


@pytest.mark.cloud
@pytest.mark.slow
def test_the_event_queue_answers_dispatches_before_the_workers_finish(
    fast_env: dict[str, str], fast_cloud: LocalCloud
) -> None:
    """With the event queue the dispatcher logs `dispatched` for all 8 invocations while the
    shards (16 of 0.3 s on 4 worker instances, so at least 1.2 s of work) are still running;
    without it, the line would come only after the last worker returned."""
    with open(fast_cloud.log_path, errors="replace") as log:
        log.seek(0, 2)
        handle = sm.run(
            {
                "experiment": "diag_sleep",
                "shard_size": 1,
                "params": {"micros": {"range": [300_000, 300_016, 1]}},
            },
            backend="cloud",
        )
        deadline = time.monotonic() + 60
        dispatched: dict[str, Any] | None = None
        while dispatched is None:
            assert time.monotonic() < deadline, "no dispatched line for the run"
            for line in log.readlines():
                if '"msg":"dispatched"' in line and handle.run_id in line:
                    dispatched = json.loads(line)
            time.sleep(0.02)
        done_then = handle.status().shards_done
    assert dispatched["invocations_sent"] == 8
    assert done_then < 16
    handle.wait(timeout=120)
    assert handle.status().rows_ok == 16
