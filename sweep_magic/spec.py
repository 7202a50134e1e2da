"""Sweep specs on the Python side: a thin, typed face over the Rust validator.

Validation, normalization and hashing all happen in the engine, so the Python client, the
CLI and the Lambda orchestrator accept and reject exactly the same specs.
"""

from __future__ import annotations

import json
import math
import os
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import _native
from ._types import Plan
from .config import load_config
from .errors import SpecError
from .rust_kernels import load_env_kernels

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Spec"]

_FORMATS = {".json": "json", ".yaml": "yaml", ".yml": "yaml", ".toml": "toml"}


def format_for_path(path: str | os.PathLike[str]) -> str:
    """The spec format a file name implies: json, toml, or yaml (also for unknown suffixes)."""
    return _FORMATS.get(Path(path).suffix.lower(), "yaml")


def _jsonable(value: Any) -> Any:
    """JSON fallback for values users commonly put in specs (numpy scalars/arrays, tuples)."""
    for attr in ("tolist", "item"):
        method = getattr(value, attr, None)
        if callable(method):
            return method()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not a spec value")


def _find_non_finite(value: Any, path: str) -> str | None:
    """Path of the first NaN or infinity in a spec mapping, for a message naming it."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    children: Any = ()
    if isinstance(value, Mapping):
        children = ((f"{path}.{k}" if path else str(k), v) for k, v in value.items())
    elif isinstance(value, (list, tuple)):
        children = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    for child_path, child in children:
        found = _find_non_finite(child, child_path)
        if found is not None:
            return found
    return None


def _row_limit(max_rows: int | None, max_points: int | None) -> int | None:
    """``max_rows``, accepting the deprecated keyword ``max_points`` in its place."""
    if max_points is None:
        return max_rows
    warnings.warn(
        "the max_points= argument is deprecated; use max_rows= (it counts points x replicates)",
        DeprecationWarning,
        stacklevel=3,
    )
    if max_rows is not None and max_rows != max_points:
        raise TypeError("give max_rows= only (max_points= is its deprecated name)")
    return max_points


def _read_spec_file(path: str | os.PathLike[str]) -> str:
    """The text of a spec file; :class:`SpecError` if it is missing, unreadable or too big."""
    p = Path(path)
    limit = load_config().max_spec_bytes
    try:
        if p.stat().st_size > limit:
            raise SpecError(
                f"spec file {str(p)!r} is {p.stat().st_size} bytes, over the limit of "
                f"{limit} bytes (SWEEP_MAX_SPEC_BYTES)"
            )
        return p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"spec file {p} not found") from None
    except OSError as exc:
        raise SpecError(f"cannot read spec file {str(p)!r}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SpecError(f"cannot read spec file {str(p)!r}: not UTF-8 text") from None


def _with_toml_reason(exc: SpecError, text: str, fmt: str) -> SpecError:
    """The engine's TOML syntax errors give a position but not what is wrong there: add
    Python's own reading of the text (its message names the line and column)."""
    if fmt != "toml" or not exc.message.startswith("not valid TOML"):
        return exc
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as reason:
        return SpecError(f"not valid TOML: {reason}", exc.path)
    return exc


@dataclass(frozen=True)
class _Checked:
    normalized: dict[str, Any]
    hash: str
    plan: Plan


class Spec:
    """A validated sweep spec.

    Build one from a mapping (``sm.Spec({...})``), from a JSON/YAML/TOML file
    (``sm.Spec("spec.yaml")``: a ``str`` or ``Path``, as :func:`sweep_magic.run` takes; or
    ``Spec.from_file``) or from text (``Spec.from_text``). Construction validates against the
    experiment registry and the row limit, raising :class:`SpecError` (with the field path)
    on the first problem.

    The row limit counts points times replicates. It is ``max_rows`` if given, else the
    ``SWEEP_MAX_POINTS`` environment variable (whose name predates the rename; it too counts
    rows), else 10^10. ``max_points=`` is a deprecated spelling of ``max_rows=``.
    """

    def __init__(
        self,
        source: Mapping[str, Any] | str | os.PathLike[str],
        *,
        max_rows: int | None = None,
        max_points: int | None = None,
    ) -> None:
        max_rows = _row_limit(max_rows, max_points)
        if isinstance(source, (str, os.PathLike)):
            if isinstance(source, str) and "\n" in source:
                raise SpecError("Spec(str) reads a spec file; for spec text use Spec.from_text")
            self._init(_read_spec_file(source), format_for_path(source), max_rows)
            return
        if not isinstance(source, Mapping):
            raise SpecError(f"a spec must be a mapping, got {type(source).__name__}")
        bad = _find_non_finite(dict(source), "")
        if bad is not None:
            raise SpecError(f"{bad}: NaN and infinity are not allowed: numbers must be finite", bad)
        try:
            text = json.dumps(dict(source), default=_jsonable, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise SpecError(f"spec is not JSON-serializable: {exc}") from None
        self._init(text, "json", max_rows)

    def _init(self, text: str, fmt: str, max_rows: int | None) -> None:
        load_env_kernels()  # SWEEP_KERNELS: Rust kernels to register before validating
        config = load_config()
        limit = max_rows if max_rows is not None else config.max_points
        try:
            raw = _native.check_spec(text, fmt, limit, config.max_spec_bytes)
        except SpecError as exc:
            raise _with_toml_reason(exc, text, fmt) from None
        self._checked = _Checked(raw["spec"], raw["hash"], raw["plan"])
        self._shard_size_given = raw["shard_size_given"]
        self._max_rows = limit

    @classmethod
    def from_text(
        cls,
        text: str,
        format: str = "yaml",
        *,
        max_rows: int | None = None,
        max_points: int | None = None,
    ) -> Spec:
        """Parses spec text in ``format`` (``yaml``, ``json`` or ``toml``)."""
        spec = cls.__new__(cls)
        spec._init(text, format, _row_limit(max_rows, max_points))
        return spec

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        max_rows: int | None = None,
        max_points: int | None = None,
    ) -> Spec:
        """Reads a spec file; the format comes from its extension (YAML if unknown)."""
        max_rows = _row_limit(max_rows, max_points)
        return cls.from_text(_read_spec_file(path), format_for_path(path), max_rows=max_rows)

    @property
    def shard_size_given(self) -> bool:
        """Whether the spec sets ``shard_size`` (a number or ``"auto"``); the cloud backend
        sizes the shards of a spec that does not (``shard_size: auto``)."""
        return self._shard_size_given

    @property
    def normalized(self) -> dict[str, Any]:
        """The normalized spec: defaults filled, every field explicit."""
        copy: dict[str, Any] = json.loads(json.dumps(self._checked.normalized))
        return copy

    def to_json(self) -> str:
        """The canonical JSON the content hash is taken over."""
        return json.dumps(self._checked.normalized, separators=(",", ":"))

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON: equal specs have equal hashes."""
        return self._checked.hash

    @property
    def experiment(self) -> str:
        """Experiment name."""
        return str(self._checked.normalized["experiment"])

    @property
    def name(self) -> str:
        """The spec's label."""
        return str(self._checked.normalized["name"])

    @property
    def points(self) -> int:
        """Number of parameter points."""
        return self._checked.plan["points"]

    @property
    def rows(self) -> int:
        """Number of result rows (points times replicates)."""
        return self._checked.plan["rows"]

    @property
    def shards(self) -> int:
        """Number of shards the run is cut into."""
        return self._checked.plan["shards"]

    @property
    def shard_size(self) -> int:
        """Points per shard."""
        return self._checked.plan["shard_size"]

    @property
    def max_rows(self) -> int:
        """The row limit (points times replicates) this spec was validated against."""
        return self._max_rows

    @property
    def max_points(self) -> int:
        """Deprecated name of :attr:`max_rows` (the limit always counted rows)."""
        warnings.warn(
            "Spec.max_points is deprecated; use Spec.max_rows", DeprecationWarning, stacklevel=2
        )
        return self._max_rows

    def preview(self, count: int = 10, start: int = 0) -> pd.DataFrame:
        """Parameter values of points ``start .. start+count`` as a DataFrame (no run needed)."""
        import pandas as pd

        rows = _native.preview_points(self.to_json(), "json", start, count, self._max_rows)
        return pd.DataFrame(rows)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Spec) and other.hash == self.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    def __repr__(self) -> str:
        return (
            f"Spec(experiment={self.experiment!r}, name={self.name!r}, points={self.points}, "
            f"rows={self.rows}, shards={self.shards}, hash={self.hash[:12]!r})"
        )
