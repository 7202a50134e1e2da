"""A Rust kernel from a `%%sweep kernel` cell on Ray: the workers receive the library's bytes
from the driver (they have neither its files nor a compiler) and compute the same rows as
`local`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from IPython.core.interactiveshell import InteractiveShell
from test_magics import cell, ip  # noqa: F401 - the real IPython shell of the magics tests
from test_rust_kernels import OU_BODY, kernel_cell, kernel_env  # noqa: F401 - shared setup

from sweep_magic import _native

pytestmark = [pytest.mark.ray, pytest.mark.slow]

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


def test_a_cell_kernel_on_ray_gives_the_local_rows_from_shipped_bytes(
    ip: InteractiveShell,  # noqa: F811
    root: Path,
    kernel_env: Path,  # noqa: F811
    worker_cache: Path,
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
