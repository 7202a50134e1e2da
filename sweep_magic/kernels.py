"""Kernels written in Python: ``@sm.experiment`` registers a function as an experiment.

The function is called once per row with its parameters as keyword arguments plus ``seed``
(draw randomness only from it, e.g. ``numpy.random.default_rng(seed)``), and returns a mapping
of metric names to values (or a sequence in declared order). It gets the same spec
validation, seeding, sharding, result layout and failure capture as the Rust kernels: an
exception fails that row only, recorded with the exception's class name as ``error_kind``.

Python kernels run on the ``local`` backend (the GIL serialises them, so threads do not
speed them up) and on ``ray`` (processes do). The cloud backend runs compiled Rust kernels
only and refuses them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from . import _native
from .errors import SpecError

__all__ = ["Param", "experiment", "param", "python_definition"]

F = TypeVar("F", bound=Callable[..., Any])

_TYPES: dict[type, str] = {float: "float", int: "int", bool: "bool", str: "str"}


@dataclass(frozen=True)
class Param:
    """A declared parameter of a Python kernel (see :func:`param`)."""

    type: type
    default: Any = None
    min: float | None = None
    max: float | None = None
    choices: Sequence[str] = field(default_factory=tuple)
    unit: str = ""
    description: str = ""


def param(
    type: type,
    *,
    default: Any = None,
    min: float | None = None,
    max: float | None = None,
    choices: Sequence[str] = (),
    unit: str = "",
    description: str = "",
) -> Param:
    """Declares a parameter: its type (float, int, bool or str), default (None = required),
    inclusive bounds, allowed strings, unit and description."""
    return Param(type, default, min, max, tuple(choices), unit, description)


#: Definitions of the Python kernels registered in this process, by name, so backends that
#: run in other processes (ray) can register them there too.
_DEFINITIONS: dict[str, tuple[str, str, str, Callable[..., Any]]] = {}


def _type_name(t: type, where: str) -> str:
    try:
        return _TYPES[t]
    except KeyError:
        raise SpecError(f"{where}: unsupported type {t!r}; use float, int, bool or str") from None


def experiment(
    params: Mapping[str, Param | type],
    metrics: Mapping[str, type],
    *,
    name: str | None = None,
    description: str | None = None,
) -> Callable[[F], F]:
    """Registers the decorated function as an experiment named ``name`` (default: the
    function's name). Re-registering a name replaces the previous Python kernel."""

    def register(func: F) -> F:
        exp_name = name or func.__name__
        decls = []
        for pname, spec in params.items():
            p = spec if isinstance(spec, Param) else Param(spec)
            decls.append(
                {
                    "name": pname,
                    "type": _type_name(p.type, f"params.{pname}"),
                    "default": p.default,
                    "min": p.min,
                    "max": p.max,
                    "choices": list(p.choices),
                    "unit": p.unit,
                    "description": p.description,
                }
            )
        metric_decls = [
            {"name": m, "type": _type_name(t, f"metrics.{m}"), "unit": "", "description": ""}
            for m, t in metrics.items()
        ]
        doc = description or (func.__doc__ or "").strip().split("\n")[0] or "Python kernel."
        definition = (doc, json.dumps(decls), json.dumps(metric_decls), func)
        _native.register_python_experiment(exp_name, *definition)
        _DEFINITIONS[exp_name] = definition
        from .experiments import _registry

        _registry.cache_clear()
        func.sweep_experiment = exp_name  # type: ignore[attr-defined]
        return func

    return register


def python_definition(name: str) -> tuple[str, str, str, Callable[..., Any]] | None:
    """The definition of Python kernel ``name`` if it is one, for re-registering elsewhere."""
    return _DEFINITIONS.get(name)


def register_definition(name: str, definition: tuple[str, str, str, Callable[..., Any]]) -> None:
    """Registers a definition obtained from :func:`python_definition` in this process."""
    _native.register_python_experiment(name, *definition)
    _DEFINITIONS[name] = definition
