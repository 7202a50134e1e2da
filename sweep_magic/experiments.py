"""The experiment registry as Python objects, read from the engine's declarations.

The registry describes experiments that exist: :class:`ParamInfo` and :class:`MetricInfo`
are read-only records of what an experiment declares. To *declare* the parameters of a new
Python kernel, use :func:`sweep_magic.param` with :func:`sweep_magic.experiment` instead.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from . import _native
from ._types import ExperimentEntry

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "Experiment",
    "ExperimentList",
    "MetricInfo",
    "ParamInfo",
    "experiments",
    "get_experiment",
]


@dataclass(frozen=True)
class ParamInfo:
    """A parameter an experiment declares, as the registry reports it."""

    name: str
    type: str
    required: bool
    default: Any
    bounds: str | None
    choices: tuple[str, ...]
    unit: str
    description: str


@dataclass(frozen=True)
class MetricInfo:
    """A metric an experiment declares, as the registry reports it."""

    name: str
    type: str
    unit: str
    description: str


@dataclass(frozen=True)
class Experiment:
    """An experiment: what it simulates, its parameters and its metrics."""

    name: str
    description: str
    params: tuple[ParamInfo, ...]
    metrics: tuple[MetricInfo, ...]
    #: Column (name, Athena type) pairs of its ``results`` and ``failures`` tables, from the
    #: engine, without ``run_id``.
    tables: dict[str, tuple[tuple[str, str], ...]]
    #: Where the kernel comes from: ``built-in``, ``python``, or the crate folder or library
    #: file a Rust kernel was loaded from (:func:`sweep_magic.load_kernel`).
    origin: str = "built-in"
    #: SHA-256 of a loaded Rust kernel's library (recorded in the manifest of each of its
    #: runs); None for built-in and Python kernels.
    sha256: str | None = None


#: Deprecated names of :class:`ParamInfo` and :class:`MetricInfo`, kept only for modules
#: that still import them; ``Param`` was easy to confuse with the declaration that
#: :func:`sweep_magic.param` builds. Not exported.
Param = ParamInfo
Metric = MetricInfo


def experiment_from_entry(e: ExperimentEntry) -> Experiment:
    """An :class:`Experiment` from one entry of the engine's registry listing."""
    params = tuple(
        ParamInfo(
            name=p["name"],
            type=p["type"],
            required=p["required"],
            default=p["default"],
            bounds=p["bounds"],
            choices=tuple(p["choices"]),
            unit=p["unit"],
            description=p["description"],
        )
        for p in e["params"]
    )
    metrics = tuple(
        MetricInfo(m["name"], m["type"], m["unit"], m["description"]) for m in e["metrics"]
    )
    tables = {
        kind: tuple((c["name"], c["type"]) for c in e["tables"][kind])
        for kind in ("results", "failures")
    }
    return Experiment(
        e["name"], e["description"], params, metrics, tables, e["origin"], e["sha256"]
    )


@cache
def _registry() -> tuple[Experiment, ...]:
    # Cleared whenever a kernel is registered (sweep_magic.kernels, sweep_magic.rust_kernels).
    return tuple(experiment_from_entry(e) for e in _native.experiments())


class ExperimentList(list[Experiment]):
    """The experiments :func:`experiments` returns: a list of :class:`Experiment`, shown in
    one line (``repr``) or as a table of parameters in a notebook; :meth:`to_pandas` gives the
    table as a DataFrame."""

    def to_pandas(self) -> pd.DataFrame:
        """One row per experiment and parameter: type, default, bounds or choices, unit."""
        import pandas as pd

        rows = [
            {
                "experiment": e.name,
                "param": p.name,
                "type": p.type,
                "default": "required" if p.required else p.default,
                "bounds": p.bounds or ", ".join(p.choices),
                "unit": p.unit,
                "description": p.description,
            }
            for e in self
            for p in e.params
        ]
        columns = ["experiment", "param", "type", "default", "bounds", "unit", "description"]
        return pd.DataFrame(rows, columns=columns)

    def __repr__(self) -> str:
        names = ", ".join(e.name for e in self)
        return (
            f"<{len(self)} experiments: {names}; .to_pandas() lists their parameters, "
            "`sweep experiments` describes them>"
        )

    def _repr_html_(self) -> str:
        e = html.escape
        rows = "".join(
            f"<tr><td><b>{e(x.name)}</b></td>"
            f"<td>{e(', '.join(f'{p.name} ({p.type})' for p in x.params))}</td>"
            f"<td>{e(', '.join(f'{m.name} ({m.type})' for m in x.metrics))}</td>"
            f"<td>{e(x.description)}</td></tr>"
            for x in self
        )
        return (
            "<table><tr><th>experiment</th><th>parameters</th><th>metrics</th>"
            f"<th>description</th></tr>{rows}</table>"
        )


def experiments() -> ExperimentList:
    """Every registered experiment, sorted by name (a list with a short ``repr``)."""
    return ExperimentList(_registry())


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; ``KeyError`` listing the available ones if unknown."""
    for e in _registry():
        if e.name == name:
            return e
    raise KeyError(
        f"unknown experiment {name!r}; available: {', '.join(e.name for e in _registry())}"
    )
