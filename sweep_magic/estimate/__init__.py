"""How long a sweep will take, and what it will cost, on ``local``, ``ray`` and ``cloud``.

:func:`estimate` times a small calibration sample of the sweep on this machine (the real
engine, writer and Parquet files, in a temporary root; :mod:`.calibration`), then replays the
whole run on a model of each backend's fleet (:mod:`.models`) with a small discrete-event
simulation (:func:`simulate_fleet`, :mod:`.fleet`): shards or invocations queue for a bounded
number of workers; for AWS Lambda the bound grows by the burst-scaling rule, new execution
environments pay a cold start, and the bill is the sum of each invocation's billed duration
times its memory plus a per-request price. Every assumption is a field of
:class:`CloudAssumptions` / :class:`RayAssumptions` / :class:`LocalAssumptions` with a
documented default (:mod:`.assumptions`; the cloud orchestrator's settings come from the Rust
orchestrator itself), and the report (:mod:`.report`) prints them. The command line and the
magic are in :mod:`.cli`. See ``docs/estimate.md``.
"""

from __future__ import annotations

from .assumptions import CLOUD_DEFAULTS, CloudAssumptions, LocalAssumptions, RayAssumptions
from .calibration import Calibration, calibrate
from .cli import add_cli_parser, cli_main, magic_main
from .fleet import FleetResult, simulate_fleet
from .models import estimate, quick_local_seconds
from .report import BackendEstimate, Estimate

__all__ = [
    "CLOUD_DEFAULTS",
    "BackendEstimate",
    "Calibration",
    "CloudAssumptions",
    "Estimate",
    "FleetResult",
    "LocalAssumptions",
    "RayAssumptions",
    "add_cli_parser",
    "calibrate",
    "cli_main",
    "estimate",
    "magic_main",
    "quick_local_seconds",
    "simulate_fleet",
]
