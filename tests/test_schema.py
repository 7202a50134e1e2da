"""The committed JSON Schema and the Rust validator agree on what a spec is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

import sweep_magic as sm
from sweep_magic import _native

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schema" / "spec.schema.json"

VALID: list[dict[str, Any]] = [
    {"experiment": "gbm_option", "params": {"s0": 100, "strike": 100, "sigma": 0.2}},
    {
        "version": 1,
        "experiment": "gbm_option",
        "seed": 3,
        "replicates": 4,
        "shard_size": 10,
        "params": {"s0": [90, 100], "strike": {"linspace": [80, 120, 5]}, "paths": 1000},
        "zip": [{"rate": [0.01, 0.02], "maturity": [0.5, 1.0]}],
        "sample": {
            "method": "sobol",
            "n": 16,
            "scramble": True,
            "params": {"sigma": {"uniform": [0.1, 0.5]}},
        },
    },
    {"experiment": "diag_fail", "params": {"mode": ["error", "nan"]}},
    {"experiment": "sir", "params": {"beta": {"range": [0.5, 2.0, 0.5]}, "gamma": 1}},
]

INVALID: list[dict[str, Any]] = [
    {"experiment": "gbm_option", "params": {"s0": 1, "strike": 1, "sigma": "abc"}},
    {"experiment": "gbm_option", "params": {"s0": 1, "strike": 1, "sigma": 9}},
    {"experiment": "gbm_option", "params": {"s0": 1, "strike": 1, "sigma": 0.2, "vol": 1}},
    {"experiment": "gbm_option", "parms": {}},
    {"experiment": "nope"},
    {"experiment": "diag_fail", "params": {"mode": "explode"}},
    {"experiment": "diag_fail", "replicates": 0},
    {
        "experiment": "diag_fail",
        "sample": {
            "method": "lhs",
            "n": 4,
            "scramble": True,
            "params": {"fail_rate": {"uniform": [0, 1]}},
        },
    },
    {"experiment": "diag_fail", "params": {"fail_rate": {"linspace": [0, 1, 0]}}},
]


def test_committed_schema_is_what_the_engine_generates() -> None:
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(_native.spec_schema_json())


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("spec", VALID)
def test_specs_the_engine_accepts_validate(
    spec: dict[str, Any], validator: jsonschema.Draft202012Validator
) -> None:
    sm.Spec(spec)
    validator.validate(spec)


@pytest.mark.parametrize("spec", INVALID)
def test_specs_the_schema_rejects_the_engine_rejects(
    spec: dict[str, Any], validator: jsonschema.Draft202012Validator
) -> None:
    assert not validator.is_valid(spec)
    with pytest.raises(sm.SpecError):
        sm.Spec(spec)
