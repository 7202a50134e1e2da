"""Shared fixtures: a fresh result root per test, the installed `sweep` command, and the one
local cloud emulation every cloud test shares.

Tiers (markers, registered in pyproject.toml): `cloud` tests need the local emulation (moto's
S3 and `cargo lambda watch`), `ray` tests start Ray, `browser` tests drive JupyterLab in
Chromium, `slow` tests take more than a few seconds each. `scripts/test.sh --quick` runs
`-m "not slow and not cloud and not browser and not ray"`."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from _faults import Emulation, FaultProxy

if TYPE_CHECKING:
    from sweep_magic.local_cloud import LocalCloud

# Fixtures that start the local cloud emulation: a test using one must be marked `cloud`.
EMULATION_FIXTURES = frozenset({"emulation", "api_emulation", "straggler_cloud"})


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A result root that does not exist yet; also set as SWEEP_ROOT."""
    r = tmp_path / "sweep-root"
    monkeypatch.setenv("SWEEP_ROOT", str(r))
    return r


@pytest.fixture(scope="session")
def sweep_cmd() -> list[str]:
    """The `sweep` console script installed beside this interpreter."""
    script = Path(sys.executable).parent / "sweep"
    assert script.exists(), f"{script} missing: is sweep_magic installed in this venv?"
    return [str(script)]


@pytest.fixture
def ip(root: Path) -> Iterator[Any]:
    """The IPython shell with sweep_magic (re)loaded, its result root the test's; the names a
    test adds to the user namespace are removed afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("reload_ext", "sweep_magic")
    before = set(shell.user_ns)
    yield shell
    for name in set(shell.user_ns) - before:
        del shell.user_ns[name]


@pytest.fixture
def clean_env(root: Path) -> dict[str, str]:
    """Environment for subprocesses: this one, with SWEEP_ROOT pointing at the test root."""
    env = dict(os.environ)
    env["SWEEP_ROOT"] = str(root)
    return env


def black_scholes_call(s0: float, strike: float, rate: float, sigma: float, t: float) -> float:
    """Closed-form European call price, for checking the kernel from Python."""

    def cdf(x: float) -> float:
        return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))

    vol = sigma * math.sqrt(t)
    d1 = (math.log(s0 / strike) + (rate + 0.5 * sigma * sigma) * t) / vol
    return s0 * cdf(d1) - strike * math.exp(-rate * t) * cdf(d1 - vol)


# -- numbers the reliability, fuzz and load tests report --------------------------------------

_REPORT: list[str] = []


@pytest.fixture(scope="session")
def report() -> Callable[[str], None]:
    """Records a line (examples tried, fuzz cases, latency percentiles) for the summary that
    ends the test output, and for tests/artifacts/reliability.txt."""
    return _REPORT.append


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _REPORT:
        return
    terminalreporter.section("reliability numbers")
    for line in _REPORT:
        terminalreporter.write_line(line)
    artifacts = Path(__file__).parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "reliability.txt").write_text("\n".join(_REPORT) + "\n")


# -- tiers ----------------------------------------------------------------------------------------


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keeps the `cloud` marker honest (a test that starts the emulation without it would slip
    into the quick tier), and runs the tests that leave every worker invocation failing (the
    `fail-all` fault of `api_emulation`) after every other test, so that runs they leave
    behind cannot take the shared emulator's worker slots from a test that times its shards."""
    unmarked = [
        item.nodeid
        for item in items
        if EMULATION_FIXTURES & set(getattr(item, "fixturenames", ()))
        and item.get_closest_marker("cloud") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "these tests use the local cloud emulation but are not marked `cloud`: "
            + ", ".join(unmarked)
        )
    failing = [i for i in items if "api_emulation" in getattr(i, "fixturenames", ())]
    if failing:
        items[:] = [i for i in items if "api_emulation" not in getattr(i, "fixturenames", ())]
        items.extend(failing)


# -- the local cloud emulation, one per session --------------------------------------------------

# One configuration serves every cloud test (tests/test_cloud.py, tests/test_reliability.py, the
# API fuzz and load tests): the Lambdas are built with the test-only `fault-injection` feature
# and read fault files from SWEEP_FAULT_DIR (none exist unless a test writes one); they reach S3
# through a fault-injecting proxy that passes every request through unless a test asks it to
# fail or hang; an S3 request is abandoned after 1 s, not 30 s, so a hung one is retried within
# a test's time; and the orchestrator registers each run's partitions in the (moto) Glue catalog.
EMULATION_ENV = {
    "SWEEP_GLUE_DATABASE": "sweep_magic",
    "SWEEP_S3_TIMEOUT_MS": "1000",
    # The supervisor re-sends shards that never started 2 s after submission (10 min in
    # AWS); it runs only when a test invokes it (tests/test_supervisor.py).
    "SWEEP_UNSTARTED_MS": "2000",
    # AWS calls give up retrying after 3 s (45 s by default), so the reliability suite's 6 s S3
    # outage outlasts them, as a long outage would in AWS.
    "SWEEP_AWS_RETRY_BUDGET_MS": "3000",
    # A shard started more than 1 s ago is no longer being computed (the worker's timeout in
    # AWS, 15 min at most): the supervisor may then record a lost shard's rows as failed.
    "SWEEP_WORKER_TIMEOUT_MS": "1000",
}

#: The functions' on-failure queue in the emulation (moto's SQS), drained by the supervisor.
FAILURE_QUEUE = "sweep-failed-invocations"


def _aws(cloud: LocalCloud, service: str) -> Any:
    """A boto3 client of the emulation's moto server (Glue, SQS)."""
    import boto3

    env = cloud.client_env()
    return boto3.client(
        service,
        endpoint_url=cloud.s3_url,
        region_name=env["AWS_REGION"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
    )


def create_glue_tables(cloud: LocalCloud, only: str | None = None) -> None:
    """The catalog Terraform creates: a results and a failures table per experiment (or only
    for experiment ``only``; the database is created unless it exists)."""
    import sweep_magic as sm
    from sweep_magic.local_cloud import BUCKET

    glue = _aws(cloud, "glue")
    database = EMULATION_ENV["SWEEP_GLUE_DATABASE"]
    if only is None:
        glue.create_database(DatabaseInput={"Name": database})
    parquet = "org.apache.hadoop.hive.ql.io.parquet."
    for experiment in sm.experiments():
        if only is not None and experiment.name != only:
            continue
        for kind, columns in experiment.tables.items():
            glue.create_table(
                DatabaseName=database,
                TableInput={
                    "Name": f"{kind}_{experiment.name}",
                    "PartitionKeys": [{"Name": "run_id", "Type": "string"}],
                    "StorageDescriptor": {
                        "Columns": [{"Name": c, "Type": t} for c, t in columns],
                        "Location": f"s3://{BUCKET}/{kind}/{experiment.name}/",
                        "InputFormat": parquet + "MapredParquetInputFormat",
                        "OutputFormat": parquet + "MapredParquetOutputFormat",
                        "SerdeInfo": {"SerializationLibrary": parquet + "serde.ParquetHiveSerDe"},
                    },
                    "TableType": "EXTERNAL_TABLE",
                },
            )


@pytest.fixture(scope="session")
def emulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulation]:
    """The local cloud emulation shared by every `cloud` test, started on first use."""
    from sweep_magic.local_cloud import LocalCloud

    work = tmp_path_factory.mktemp("local-cloud")
    faults = work / "faults"
    faults.mkdir()
    cloud = LocalCloud(
        concurrency=4,
        workdir=work,
        features=("fault-injection",),
        env={"SWEEP_FAULT_DIR": str(faults), **EMULATION_ENV},
    )
    proxy = FaultProxy(cloud.s3_port).start()
    cloud.extra_env["AWS_ENDPOINT_URL_S3"] = proxy.url  # the Lambdas reach S3 through it
    # The on-failure queue (Lambda's async destination in AWS; here the tests fill it).
    cloud.extra_env["AWS_ENDPOINT_URL_SQS"] = cloud.s3_url
    cloud.extra_env["SWEEP_FAILURE_QUEUE_URL"] = f"{cloud.s3_url}/queue/{FAILURE_QUEUE}"
    try:
        with cloud:
            create_glue_tables(cloud)
            _aws(cloud, "sqs").create_queue(QueueName=FAILURE_QUEUE)
            yield Emulation(cloud, proxy, faults)
    finally:
        proxy.stop()


@pytest.fixture(scope="session")
def _api_run_id(emulation: Emulation) -> str:
    """A completed 4-shard run in the shared emulation, for the API fuzz and load tests."""
    from sweep_magic.backends.cloud import CloudClient

    env = emulation.cloud.client_env()
    client = CloudClient(env["SWEEP_API_URL"], env["SWEEP_REGION"])
    spec = {"experiment": "diag_sleep", "shard_size": 1, "params": {"micros": [0, 1, 2, 3]}}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # credentials for signing
    try:
        run_id: str = client.request("POST", "/runs", json.dumps(spec).encode())["run_id"]
        deadline = time.monotonic() + 120
        while client.request("GET", f"/runs/{run_id}")["shards_done"] < 4:
            assert time.monotonic() < deadline, "the load test's run did not complete"
            time.sleep(0.2)
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return run_id


@pytest.fixture(scope="module")
def api_emulation(emulation: Emulation, _api_run_id: str) -> Iterator[tuple[Any, str]]:
    """The shared emulation for the API fuzz and load tests, and the id of a completed run in
    it. While a module using it runs, every worker invocation fails (the `fail-all` fault), so
    runs the fuzzers get accepted compute nothing: the orchestrator is what they exercise."""
    emulation.clear()
    (emulation.faults / "fail-all").touch()
    try:
        yield emulation.cloud, _api_run_id
    finally:
        emulation.clear()
