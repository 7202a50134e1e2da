"""The supervisor in the emulated cloud: a run whose worker invocations all failed, and whose
client then went away, completes when the scheduled supervisor pass (invoked here directly,
as EventBridge does every minute in AWS) re-sends the shards that never started; the next
pass writes the run's summary and stops watching it."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pandas as pd
import pytest

import sweep_magic as sm
from sweep_magic.backends.cloud import CloudClient
from sweep_magic.errors import SweepError
from sweep_magic.local_cloud import BUCKET

if TYPE_CHECKING:
    from _faults import Emulation

pytestmark = pytest.mark.cloud


def _supervise(emulation: Emulation) -> dict[str, Any]:
    """One supervisor pass: the orchestrator invoked with the scheduled rule's input."""
    url = f"{emulation.cloud.lambda_url}/2015-03-31/functions/orchestrator/invocations"
    request = urllib.request.Request(url, data=b'{"sweep": "supervise"}', method="POST")
    with urllib.request.urlopen(request, timeout=120) as answer:
        report: dict[str, Any] = json.loads(answer.read())
    return report


def test_an_abandoned_run_completes_under_the_supervisor(
    emulation: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    emulation.clear()
    env = emulation.cloud.client_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )

    def keys(prefix: str) -> list[str]:
        return [
            o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])
        ]

    (emulation.faults / "fail-all").write_text("")  # every worker invocation fails
    client = CloudClient(env["SWEEP_API_URL"], env["SWEEP_REGION"])
    spec = {"experiment": "diag_sleep", "shard_size": 1, "params": {"micros": [0, 1, 2, 3, 4, 5]}}
    run_id = client.request("POST", "/runs", json.dumps(spec).encode())["run_id"]
    time.sleep(3)  # the dispatch went out and every invocation failed
    assert keys(f"runs/{run_id}/done/") == []
    (emulation.faults / "fail-all").unlink()
    # The client is gone: from here on nothing calls the API, only the supervisor runs.
    report = _supervise(emulation)
    assert run_id in report["visited"]
    assert report["shards_redispatched"] == 6
    deadline = time.monotonic() + 120
    while len(keys(f"runs/{run_id}/shards/")) < 6:
        assert time.monotonic() < deadline, "the re-sent shards did not complete"
        time.sleep(0.2)
    report = _supervise(emulation)
    assert run_id in report["completed"]
    summary = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"runs/{run_id}/summary.json")["Body"].read()
    )
    assert (summary["shards_done"], summary["rows_ok"], summary["rows_failed"]) == (6, 6, 0)
    assert f"active/{run_id}" not in keys("active/")
    assert run_id not in _supervise(emulation)["visited"]


def _failure_record(run_id: str, shards: list[int], attempt: int, condition: str) -> str:
    """What Lambda puts in the on-failure queue for an async event it gave up on."""
    return json.dumps(
        {
            "version": "1.0",
            "timestamp": "2026-12-03T00:00:00.000Z",
            "requestContext": {
                "requestId": "00000000-0000-0000-0000-000000000000",
                "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:worker",
                "condition": condition,
                "approximateInvokeCount": 3 if condition == "RetriesExhausted" else 0,
            },
            "requestPayload": {
                "version": 1,
                "run_id": run_id,
                "shards": shards,
                "attempt": attempt,
            },
            "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        }
    )


def test_the_on_failure_queue_is_drained_into_resends_and_recorded_failures(
    emulation: Emulation, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Records Lambda leaves in the on-failure queue: a first attempt that exhausted its
    retries is sent once more and completes; a shard whose second attempt also failed (or
    whose event expired) has its rows recorded as failures; a shard never sent completes by
    the unstarted rule. Every row ends up exactly once, in results or failures, the queue is
    empty, and the rows equal a local run's."""
    from conftest import FAILURE_QUEUE, _aws

    emulation.clear()
    env = emulation.cloud.client_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    sqs = _aws(emulation.cloud, "sqs")
    queue_url = sqs.get_queue_url(QueueName=FAILURE_QUEUE)["QueueUrl"]
    sqs.purge_queue(QueueUrl=queue_url)

    (emulation.faults / "fail-all").write_text("")  # every worker invocation fails
    client = CloudClient(env["SWEEP_API_URL"], env["SWEEP_REGION"])
    spec = {
        "experiment": "gbm_option",
        "shard_size": 1,
        "replicates": 2,
        "params": {"s0": 100, "sigma": 0.2, "strike": [90, 95, 100, 105, 110, 115], "paths": 200},
    }
    run_id = client.request("POST", "/runs", json.dumps(spec).encode())["run_id"]
    time.sleep(3)  # the dispatch went out and every invocation failed
    (emulation.faults / "fail-all").unlink()

    # Shards 0-1: their first attempt exhausted its retries. Shards 2-3: the second attempt
    # failed as well (its event expired in Lambda's queue). Shards 4-5: no record at all.
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=_failure_record(run_id, [0, 1], 0, "RetriesExhausted")
    )
    sqs.send_message(
        QueueUrl=queue_url, MessageBody=_failure_record(run_id, [2, 3], 1, "EventAgeExceeded")
    )
    report = _supervise(emulation)
    failed = report["failed_invocations"]
    assert (failed["settled"], failed["kept"]) == (2, 0), report
    assert (failed["shards_redispatched"], failed["shards_recorded_failed"]) == (2, 2), report
    assert "Messages" not in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)

    handle = sm.open_run(run_id, cloud=True)
    deadline = time.monotonic() + 120
    while (status := handle.status()).shards_done < 6:
        assert time.monotonic() < deadline, f"the run did not complete: {status}"
        time.sleep(0.3)
    assert (status.rows_ok, status.rows_failed) == (8, 4)

    cloud_ok = handle.to_pandas()
    cloud_failed = handle.failures()
    local = sm.run(spec, backend="local", root=tmp_path).wait()
    local_ok = local.to_pandas()
    assert sorted(cloud_failed["error_kind"].unique()) == ["invocation_failed"]
    assert cloud_failed["message"].str.contains("EventAgeExceeded").all()
    # Exactly once: results and failures together are every (point, replicate), disjoint.
    keys = {(p, r) for p, r in zip(cloud_ok["point"], cloud_ok["replicate"], strict=True)}
    lost = {(p, r) for p, r in zip(cloud_failed["point"], cloud_failed["replicate"], strict=True)}
    assert not keys & lost
    assert len(keys | lost) == 12
    assert {p for p, _ in lost} == {2, 3}
    # The rows that ran equal local's; the recorded failures carry the seeds they would use.
    columns = ["point", "replicate", "strike", "price", "seed"]
    expected = local_ok[~local_ok["point"].isin([2, 3])][columns]
    got = cloud_ok[columns].sort_values(["point", "replicate"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(
        got, expected.sort_values(["point", "replicate"]).reset_index(drop=True)
    )
    lost_seeds = cloud_failed.sort_values(["point", "replicate"])["seed"].tolist()
    assert (
        lost_seeds
        == local_ok[local_ok["point"].isin([2, 3])]
        .sort_values(["point", "replicate"])["seed"]
        .tolist()
    )


def test_a_missing_catalog_table_is_a_clear_error_with_nothing_registered(
    emulation: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deployment whose catalog lacks an experiment's failures table: the submit answers
    a 500 naming the table, registers no partition in the results table, and writes no run;
    once the table exists the same submit works."""
    from conftest import EMULATION_ENV, _aws, create_glue_tables

    env = emulation.cloud.client_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    glue = _aws(emulation.cloud, "glue")
    database = EMULATION_ENV["SWEEP_GLUE_DATABASE"]
    experiment = "diag_fail"
    glue.delete_table(DatabaseName=database, Name=f"failures_{experiment}")
    try:
        before = glue.get_partitions(DatabaseName=database, TableName=f"results_{experiment}")
        client = CloudClient(env["SWEEP_API_URL"], env["SWEEP_REGION"])
        spec = {"experiment": experiment, "params": {"fail_rate": [0.1, 0.2]}}
        with pytest.raises(SweepError, match=f"failures_{experiment}") as refused:
            client.request("POST", "/runs", json.dumps(spec).encode())
        assert "nothing was written" in str(refused.value)
        after = glue.get_partitions(DatabaseName=database, TableName=f"results_{experiment}")
        assert after["Partitions"] == before["Partitions"], "no partition was registered"
    finally:
        glue.delete_table(DatabaseName=database, Name=f"results_{experiment}")
        create_glue_tables(emulation.cloud, only=experiment)
    run_id = client.request("POST", "/runs", json.dumps(spec).encode())["run_id"]
    assert run_id


def test_failed_rows_are_retried_in_the_cloud_and_a_threshold_stops_a_run(
    emulation: Emulation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`retry_failed` on the cloud backend sends each shard with failed rows to a worker
    again (a deterministic failure fails again the same way, nothing moves, the attempt is
    recorded); a spec's `max_failures` stops a cloud run as `failed`, with the reason."""
    emulation.clear()
    for key, value in emulation.cloud.client_env().items():
        monkeypatch.setenv(key, value)
    spec = {
        "experiment": "diag_fail",
        "shard_size": 2,
        "replicates": 2,
        "params": {"fail_rate": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]},
    }
    run = sm.run(spec, backend="cloud").wait(timeout=120)
    before = run.failures().sort_values(["point", "replicate"]).reset_index(drop=True)
    assert 0 < len(before) < 12
    retried = sm.retry_failed(run.run_id, backend="cloud").wait(timeout=120)
    after = retried.failures().sort_values(["point", "replicate"]).reset_index(drop=True)
    columns = ["point", "replicate", "seed", "error_kind", "message"]
    pd.testing.assert_frame_equal(after[columns], before[columns])
    assert retried.status().rows_ok + len(after) == 12
    s3 = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_ENDPOINT_URL_S3"],
        region_name=os.environ["AWS_REGION"],
    )
    record = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"runs/{run.run_id}/retries/0001.json")["Body"].read()
    )
    assert (record["attempt"], record["error_kinds"]) == (1, [])

    stopped = sm.run({**spec, "max_failures": 0}, backend="cloud")
    deadline = time.monotonic() + 120
    while (status := stopped.status()).state != "failed":
        assert time.monotonic() < deadline, status
        time.sleep(0.5)
    assert status.reason is not None
    assert "more than max_failures = 0" in status.reason
