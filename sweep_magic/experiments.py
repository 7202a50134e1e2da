"""The experiment registry as Python objects, read from the engine's declarations."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from . import _native

__all__ = ["Experiment", "Metric", "Param", "experiments", "get_experiment"]


@dataclass(frozen=True)
class Param:
    """A declared parameter of an experiment."""

    name: str
    type: str
    required: bool
    default: Any
    bounds: str | None
    choices: tuple[str, ...]
    unit: str
    description: str


@dataclass(frozen=True)
class Metric:
    """A declared metric of an experiment."""

    name: str
    type: str
    unit: str
    description: str


@dataclass(frozen=True)
class Experiment:
    """An experiment: what it simulates, its parameters and its metrics."""

    name: str
    description: str
    params: tuple[Param, ...]
    metrics: tuple[Metric, ...]
    #: Column (name, Athena type) pairs of its ``results`` and ``failures`` tables, from the
    #: engine, without ``run_id``.
    tables: dict[str, tuple[tuple[str, str], ...]]


@cache
def _registry() -> tuple[Experiment, ...]:
    out = []
    for e in json.loads(_native.experiments_json()):
        params = tuple(
            Param(
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
            Metric(m["name"], m["type"], m["unit"], m["description"]) for m in e["metrics"]
        )
        tables = {
            kind: tuple((c["name"], c["type"]) for c in cols) for kind, cols in e["tables"].items()
        }
        out.append(Experiment(e["name"], e["description"], params, metrics, tables))
    return tuple(out)


def experiments() -> list[Experiment]:
    """Every registered experiment, sorted by name."""
    return list(_registry())


def get_experiment(name: str) -> Experiment:
    """The experiment called ``name``; ``KeyError`` listing the available ones if unknown."""
    for e in _registry():
        if e.name == name:
            return e
    raise KeyError(
        f"unknown experiment {name!r}; available: {', '.join(e.name for e in _registry())}"
    )
