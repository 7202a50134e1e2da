"""A kernel built by the analyst, run in the emulated cloud: the client uploads its library to
``kernels/<sha256>.so``, the orchestrator loads it from there to validate the spec (and creates
its Glue tables), the workers download, verify and load it, and the rows equal ``local``'s.
What the orchestrator refuses is refused before anything of a run is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pandas as pd
import pytest

import sweep_magic as sm
from sweep_magic import _native
from sweep_magic.backends.cloud import CloudRun
from sweep_magic.errors import SpecError
from sweep_magic.experiments import _registry
from sweep_magic.local_cloud import BUCKET

if TYPE_CHECKING:
    from _faults import Emulation

REPO = Path(__file__).resolve().parents[1]
KERNEL = "ou_cloud"


def _build(tmp: Path, name: str, edit: str = "") -> Path:
    """Builds the kernel template as ``name`` (optionally with ``edit`` appended) and returns
    the library."""
    crate = tmp / name
    (crate / "src").mkdir(parents=True)
    source = (REPO / "sweep_magic" / "kernel_template" / "lib.rs").read_text()
    (crate / "src" / "lib.rs").write_text(source.replace("{{name}}", name) + edit)
    (crate / "Cargo.toml").write_text(
        f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n'
        '[lib]\ncrate-type = ["cdylib"]\n'
        f'[dependencies]\nsweep_kernel_sdk = {{ path = "{REPO / "engine" / "kernel_sdk"}" }}\n'
    )
    target = tmp / "target"
    subprocess.run(
        ["cargo", "build", "--release", "--quiet"],  # noqa: S607 - cargo from PATH
        cwd=crate,
        env={**os.environ, "CARGO_TARGET_DIR": str(target)},
        check=True,
    )
    return target / "release" / f"lib{name}.so"


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(tmp_path_factory.mktemp("kernel"), KERNEL)


@pytest.fixture
def client_env(emulation: Emulation, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    emulation.clear()
    env = emulation.cloud.client_env()
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(CloudRun, "poll_s", 0.2)
    yield env
    emulation.clear()


def _aws(env: dict[str, str], service: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL_S3"],
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return (
        frame.drop(columns=["duration_us"])
        .sort_values(["point", "replicate"])
        .reset_index(drop=True)
    )


SPEC = {
    "experiment": KERNEL,
    "seed": 11,
    "replicates": 3,
    "shard_size": 2,
    "params": {"theta": [0.5, 2.0], "sigma": [0.5, 1.0], "steps": 50},
}


@pytest.mark.cloud
def test_an_uploaded_kernel_runs_in_the_cloud_like_local(
    library: Path, client_env: dict[str, str], root: Path, emulation: Emulation
) -> None:
    entry = _native.load_kernel(str(library))
    _registry.cache_clear()
    sha = entry["sha256"]
    assert sha == hashlib.sha256(library.read_bytes()).hexdigest()

    local = sm.run(SPEC, backend="local", root=root).wait(timeout=120)
    cloud = sm.run(SPEC, backend="cloud")
    assert isinstance(cloud, CloudRun)
    cloud.wait(timeout=300)
    assert cloud.status().rows_failed == 0
    pd.testing.assert_frame_equal(
        _comparable(cloud.to_pandas()), _comparable(local.to_pandas()), check_like=True
    )
    assert len(local.to_pandas()) == 2 * 2 * 3

    # The library is in the bucket under its own hash; the run pins it.
    s3 = _aws(client_env, "s3")
    body = s3.get_object(Bucket=BUCKET, Key=f"kernels/{sha}.so")["Body"].read()
    assert hashlib.sha256(body).hexdigest() == sha
    assert cloud.spec["kernel_sha256"] == sha

    # The orchestrator created the kernel's tables on first use, shaped like Terraform's.
    glue = _aws(client_env, "glue")
    declared = next(e for e in sm.experiments() if e.name == KERNEL)
    for kind in ("results", "failures"):
        table = glue.get_table(DatabaseName="sweep_magic", Name=f"{kind}_{KERNEL}")["Table"]
        columns = [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]
        assert columns == [(n, t) for n, t in declared.tables[kind]]
        assert table["StorageDescriptor"]["Location"] == f"s3://{BUCKET}/{kind}/{KERNEL}/"
        assert [k["Name"] for k in table["PartitionKeys"]] == ["run_id"]
        parts = glue.get_partitions(DatabaseName="sweep_magic", TableName=f"{kind}_{KERNEL}")
        assert [p["Values"] for p in parts["Partitions"]] == [[cloud.run_id]]


def _refused(emulation: Emulation, spec: dict[str, Any]) -> str:
    """Submits ``spec`` straight to the API; returns the message of the 400 it must get."""
    from sweep_magic.backends.cloud import CloudClient

    env = emulation.cloud.client_env()
    client = CloudClient(env["SWEEP_API_URL"], env["SWEEP_REGION"])
    with pytest.raises(SpecError) as refused:
        client.request("POST", "/runs", json.dumps(spec).encode())
    return str(refused.value)


@pytest.mark.cloud
def test_the_orchestrator_refuses_kernels_it_cannot_trust(
    library: Path, client_env: dict[str, str], emulation: Emulation
) -> None:
    s3 = _aws(client_env, "s3")
    before = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))

    # A sha256 nobody uploaded.
    missing = hashlib.sha256(b"never uploaded").hexdigest()
    message = _refused(emulation, {**SPEC, "kernel_sha256": missing})
    assert "upload it before submitting" in message, message

    # Bytes that are not what their key says (a tampered or mixed-up upload).
    forged = hashlib.sha256(b"what the client meant").hexdigest()
    s3.put_object(Bucket=BUCKET, Key=f"kernels/{forged}.so", Body=library.read_bytes())
    message = _refused(emulation, {**SPEC, "kernel_sha256": forged})
    assert f"expected {forged}" in message, message

    # A file that is not a library at all, under its true hash.
    junk = b"#!/bin/sh\necho not a kernel\n"
    junk_sha = hashlib.sha256(junk).hexdigest()
    s3.put_object(Bucket=BUCKET, Key=f"kernels/{junk_sha}.so", Body=junk)
    message = _refused(emulation, {**SPEC, "kernel_sha256": junk_sha})
    assert "not a shared library" in message, message

    # The spec names another experiment than the library declares.
    good = hashlib.sha256(library.read_bytes()).hexdigest()
    s3.put_object(Bucket=BUCKET, Key=f"kernels/{good}.so", Body=library.read_bytes())
    message = _refused(emulation, {**SPEC, "experiment": "other", "kernel_sha256": good})
    assert f"is kernel {KERNEL}, not other" in message, message

    after = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))
    written = [k for k in after if k not in before and not k.startswith("kernels/")]
    assert written == [], "a refused submit wrote run data"
