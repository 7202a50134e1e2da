"""The estimate's assumptions: one frozen dataclass per backend, every field with a default.

Lambda and S3 prices are us-east-1 list prices. The cloud orchestrator's own settings (shards
per invocation, parallel ``Invoke`` calls, invocations per dispatcher, the payload limit) are
not restated here: they come from the Rust orchestrator through
``sweep_magic._native.cloud_defaults()``, so the model always describes the orchestrator that
is built into this package.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .. import _native
from ..backends.batching import TASKS_PER_CPU
from ..errors import SweepError

__all__ = [
    "CLOUD_DEFAULTS",
    "LAMBDA_GB_SECOND_USD",
    "LAMBDA_MB_PER_VCPU",
    "LAMBDA_REQUEST_USD",
    "S3_GET_USD",
    "S3_PUT_USD",
    "CloudAssumptions",
    "LocalAssumptions",
    "RayAssumptions",
]

#: Lambda prices in us-east-1 (https://aws.amazon.com/lambda/pricing/), USD.
LAMBDA_GB_SECOND_USD = {"x86_64": 0.0000166667, "arm64": 0.0000133334}
LAMBDA_REQUEST_USD = 0.20 / 1_000_000
#: S3 Standard request prices in us-east-1 (https://aws.amazon.com/s3/pricing/), USD.
S3_PUT_USD = 0.005 / 1000
S3_GET_USD = 0.0004 / 1000
#: Memory at which a Lambda function has one full vCPU (AWS Lambda developer guide).
LAMBDA_MB_PER_VCPU = 1769

# Used only when the native module predates `cloud_defaults()`; the same numbers as the Rust
# orchestrator's defaults at the time of writing.
_FALLBACK_CLOUD_DEFAULTS = {
    "shards_per_invoke": 8,
    "dispatch_concurrency": 16,
    "invokes_per_dispatcher": 1000,
    "max_shards_per_invoke": 64,
}


def _load_cloud_defaults() -> Mapping[str, int]:
    lookup = getattr(_native, "cloud_defaults", None)
    if lookup is None:
        values = dict(_FALLBACK_CLOUD_DEFAULTS)
    else:
        reported = lookup()
        values = {key: int(reported[key]) for key in _FALLBACK_CLOUD_DEFAULTS}
    return MappingProxyType(values)


#: The cloud orchestrator's defaults (``shards_per_invoke``, ``dispatch_concurrency``,
#: ``invokes_per_dispatcher``, ``max_shards_per_invoke``), read once at import.
CLOUD_DEFAULTS: Mapping[str, int] = _load_cloud_defaults()


@dataclass(frozen=True)
class LocalAssumptions:
    """The model of the ``local`` backend: ``threads`` workers taking the next shard in turn."""

    #: Engine cost per row besides the kernel (seeding, decoding, buffering), seconds.
    row_overhead_s: float = 1e-6
    #: Cost per shard (Parquet file, marker) in seconds; None = measured by the calibration.
    shard_overhead_s: float | None = None


@dataclass(frozen=True)
class RayAssumptions:
    """The model of the ``ray`` backend: a few batches of shards per CPU, one task each."""

    #: Nodes of the cluster.
    nodes: int = 4
    #: CPUs per node; None = as many as this machine has.
    cores_per_node: int | None = None
    #: Batches (tasks) per CPU, as the backend cuts them (its default).
    tasks_per_cpu: int = TASKS_PER_CPU
    #: Scheduling cost per task, seconds.
    task_overhead_s: float = 0.002
    #: Connecting / starting Ray and warming its worker processes, seconds.
    startup_s: float = 3.0
    #: Price of one node-hour in USD; None = not priced (your own machines).
    node_hour_usd: float | None = None


@dataclass(frozen=True)
class CloudAssumptions:
    """The model of the ``cloud`` backend on AWS Lambda. Defaults: us-east-1 list prices, the
    documented scaling rule and the orchestrator's own settings (:data:`CLOUD_DEFAULTS`)."""

    #: Account concurrency limit (AWS default quota per region: 1,000).
    account_concurrency: int = 1000
    #: Execution environments a function may add per scaling interval (AWS: 1,000).
    burst_environments: int = 1000
    #: The scaling interval, seconds (AWS: 10).
    burst_interval_s: float = 10.0
    #: Init duration of a new execution environment (Rust on provided.al2023), seconds.
    cold_start_s: float = 0.25
    #: Function memory, MB; CPU share is proportional to memory, 1 vCPU at 1,769 MB.
    memory_mb: int = 1769
    #: ``x86_64`` or ``arm64`` (prices differ).
    architecture: str = "x86_64"
    #: Seconds on a Lambda vCPU per second on one core of this machine.
    cpu_ratio: float = 1.0
    #: Shards named by one worker payload (the orchestrator's default; at most
    #: ``CLOUD_DEFAULTS["max_shards_per_invoke"]``).
    shards_per_invoke: int = CLOUD_DEFAULTS["shards_per_invoke"]
    #: Per-invocation work besides shards: reading the manifest from S3, seconds.
    invoke_overhead_s: float = 0.05
    #: Per-shard writes to S3 (Parquet file, started and done markers), seconds.
    shard_write_s: float = 0.06
    #: Parallel Invoke calls of one dispatcher (the orchestrator's default) and the latency
    #: of one call, seconds.
    dispatch_concurrency: int = CLOUD_DEFAULTS["dispatch_concurrency"]
    invoke_latency_s: float = 0.03
    #: Worker invocations one dispatcher sends itself; a larger run is split among further
    #: dispatchers (the orchestrator's default).
    invokes_per_dispatcher: int = CLOUD_DEFAULTS["invokes_per_dispatcher"]
    #: Time to submit (API Gateway, validation, manifest) before fan-out starts, seconds.
    submit_s: float = 0.5
    #: S3 requests per shard (started marker, Parquet file, done marker) and per invocation
    #: (manifest read).
    puts_per_shard: int = 3
    gets_per_invoke: int = 1
    #: Prices (USD); None = the us-east-1 list price for ``architecture``.
    gb_second_usd: float | None = None
    request_usd: float = LAMBDA_REQUEST_USD
    s3_put_usd: float = S3_PUT_USD
    s3_get_usd: float = S3_GET_USD

    def __post_init__(self) -> None:
        if self.architecture not in LAMBDA_GB_SECOND_USD:
            raise SweepError(
                f"cloud architecture must be one of {sorted(LAMBDA_GB_SECOND_USD)}, "
                f"got {self.architecture!r}"
            )
        if not 128 <= self.memory_mb <= 10240:
            raise SweepError(f"Lambda memory must be 128 to 10240 MB, got {self.memory_mb}")
        if self.account_concurrency < 1 or self.burst_environments < 1:
            raise SweepError("concurrency and burst must be at least 1")
        most = CLOUD_DEFAULTS["max_shards_per_invoke"]
        if not 1 <= self.shards_per_invoke <= most:
            raise SweepError(f"shards_per_invoke must be 1 to {most}, got {self.shards_per_invoke}")
        if self.dispatch_concurrency < 1 or self.invokes_per_dispatcher < 1:
            raise SweepError("dispatch_concurrency and invokes_per_dispatcher must be at least 1")

    @property
    def price_gb_second(self) -> float:
        """USD per GB-second for this architecture."""
        if self.gb_second_usd is not None:
            return self.gb_second_usd
        return LAMBDA_GB_SECOND_USD[self.architecture]

    @property
    def speed(self) -> float:
        """Work done per second on Lambda relative to one core here (single-threaded worker)."""
        return min(1.0, self.memory_mb / LAMBDA_MB_PER_VCPU) / self.cpu_ratio
