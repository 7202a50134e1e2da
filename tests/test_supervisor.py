"""The supervisor in the emulated cloud: a run whose worker invocations all failed, and whose
client then went away, completes when the scheduled supervisor pass (invoked here directly,
as EventBridge does every minute in AWS) re-sends the shards that never started; the next
pass writes the run's summary and stops watching it."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from sweep_magic.backends.cloud import CloudClient
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
