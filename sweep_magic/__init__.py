"""sweep_magic: declare a parameter sweep, run it on this machine, a Ray cluster or AWS
Lambda with the same Rust kernels, and query the results as DataFrames.

>>> import sweep_magic as sm
>>> run = sm.run({"experiment": "gbm_option", "params": {...}})   # doctest: +SKIP
>>> run.wait().to_pandas()                                         # doctest: +SKIP
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .config import Config, load_config
from .errors import (
    BackendError,
    CorruptRunError,
    QueryError,
    RunCancelledError,
    RunNotFoundError,
    SpecError,
    StorageError,
    SweepError,
)
from .estimate import CloudAssumptions, Estimate, LocalAssumptions, RayAssumptions, estimate
from .experiments import Experiment, MetricInfo, ParamInfo, experiments, get_experiment
from .kernels import experiment, param
from .query import query
from .run import Run, RunStatus, open_run, resume, retry_failed, run, runs
from .rust_kernels import KernelBuildError, load_kernel
from .spec import Spec

try:
    __version__ = version("sweep_magic")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = [
    "BackendError",
    "CloudAssumptions",
    "Config",
    "CorruptRunError",
    "Estimate",
    "Experiment",
    "KernelBuildError",
    "LocalAssumptions",
    "MetricInfo",
    "ParamInfo",
    "QueryError",
    "RayAssumptions",
    "Run",
    "RunCancelledError",
    "RunNotFoundError",
    "RunStatus",
    "Spec",
    "SpecError",
    "StorageError",
    "SweepError",
    "__version__",
    "editor",
    "estimate",
    "experiment",
    "experiments",
    "get_experiment",
    "load_config",
    "load_kernel",
    "open_run",
    "param",
    "query",
    "resume",
    "retry_failed",
    "run",
    "runs",
]


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext sweep_magic``: registers the ``%sweep`` magics."""
    from .magics import load_ipython_extension as load

    load(ipython)


def editor(experiment: str, root: str | None = None) -> object:
    """An ipywidgets form for ``experiment`` (needs the ``[jupyter]`` extra); see
    :mod:`sweep_magic.editor`."""
    from .editor import editor as make

    return make(experiment, root=root)
