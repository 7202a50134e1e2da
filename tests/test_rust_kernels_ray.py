"""A Rust kernel from a `%%sweep kernel` cell on every backend: on Ray the workers receive
the library's bytes from the driver (they have neither its files nor a compiler), in the
emulated cloud the Lambdas download the uploaded library; all three give the same rows."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from test_magics import cell  # the `ip` fixture (a real IPython shell) is in conftest
from test_rust_kernels import OU_BODY, kernel_cell, kernel_env  # noqa: F401 - shared setup

from sweep_magic import _native
from sweep_magic.backends.cloud import CloudRun

if TYPE_CHECKING:
    from _faults import Emulation

pytestmark = [pytest.mark.ray, pytest.mark.slow, pytest.mark.cloud]

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def worker_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Ray workers' SWEEP_KERNEL_CACHE: not the driver's, and empty at the start."""
    return tmp_path_factory.mktemp("worker-kernel-cache")


@pytest.fixture(scope="module", autouse=True)
def ray_instance(kernel_env: Path, worker_cache: Path) -> Iterator[None]:  # noqa: F811
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"SWEEP_KERNEL_CACHE": str(worker_cache)}},
    )
    yield
    ray.shutdown()


SPEC = """%%sweep run {flags}
experiment: ou_ray
seed: 5
replicates: 25
shard_size: 1
params: {{theta: [0.5, 1.0, 2.0], sigma: [0.3, 1.0], x0: 1.5}}
"""


def test_a_cell_kernel_gives_the_same_rows_on_local_ray_and_the_cloud(
    ip: InteractiveShell,
    root: Path,
    kernel_env: Path,  # noqa: F811
    worker_cache: Path,
    emulation: Emulation,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    result, out = kernel_cell(ip, "ou_ray", OU_BODY)
    assert result.error_in_exec is None, out
    found = _native.kernel_library("ou_ray")
    assert found is not None
    cached, sha = found
    result, out = cell(ip, SPEC.format(flags="-o local_run"))
    assert result.error_in_exec is None, out

    # Remove the library from every place it was built or kept, except the driver's
    # content-addressed copy (what the backend ships): workers can only use the bytes.
    built = [
        *kernel_env.glob("cells/ou_ray-*/kernel.so"),
        *kernel_env.glob("target/release/libsweep_cell_ou_ray_*.so"),
        *kernel_env.glob("target/release/deps/libsweep_cell_ou_ray_*.so"),
    ]
    assert built
    for path in built:
        path.unlink()
    assert not list(worker_cache.iterdir())

    result, out = cell(ip, SPEC.format(flags="--backend ray -o ray_run"))
    assert result.error_in_exec is None, out
    local_run, ray_run = ip.user_ns["local_run"], ip.user_ns["ray_run"]
    assert ray_run.status().state == "complete"
    assert ray_run.manifest["kernel"]["sha256"] == sha
    local_rows = local_run.to_pandas().drop(columns="duration_us")
    ray_rows = ray_run.to_pandas().drop(columns="duration_us")
    assert len(ray_rows) == 150
    pd.testing.assert_frame_equal(ray_rows, local_rows)
    # The workers loaded the shipped bytes into their own cache, checked against the sha.
    assert [p.name for p in worker_cache.iterdir()] == [f"{sha}.so"]
    assert Path(cached).is_file()

    # The emulated cloud: the client uploads the library, the Lambdas load it from S3.
    emulation.clear()
    for key, value in emulation.cloud.client_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(CloudRun, "poll_s", 0.2)
    result, out = cell(ip, SPEC.format(flags="--cloud -o cloud_run"))
    assert result.error_in_exec is None, out
    cloud_run = ip.user_ns["cloud_run"]
    assert cloud_run.spec["kernel_sha256"] == sha
    cloud_rows = cloud_run.to_pandas().drop(columns="duration_us")
    pd.testing.assert_frame_equal(
        cloud_rows.sort_values(["point", "replicate"]).reset_index(drop=True), local_rows
    )
