"""The OpenAPI document of the cloud API is well formed and points at the spec schema."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

REPO = Path(__file__).resolve().parents[1]


def test_openapi_document_is_well_formed() -> None:
    doc = json.loads((REPO / "lambda" / "openapi.json").read_text())
    assert doc["openapi"].startswith("3.1")
    for schema in doc["components"]["schemas"].values():
        jsonschema.Draft202012Validator.check_schema(schema)
    ref = doc["paths"]["/runs"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert (REPO / "lambda" / ref["$ref"]).resolve() == REPO / "schema" / "spec.schema.json"
    payload = {"version": 1, "run_id": "r1", "shards": [0, 1]}
    jsonschema.validate(payload, doc["components"]["schemas"]["WorkerPayload"])
    bad = {"version": 2, "run_id": "r1", "shards": [0], "points": [1]}
    assert not jsonschema.Draft202012Validator(
        doc["components"]["schemas"]["WorkerPayload"]
    ).is_valid(bad)


def test_dispatch_request_schema_matches_what_the_orchestrator_sends() -> None:
    doc = json.loads((REPO / "lambda" / "openapi.json").read_text())
    schema = doc["components"]["schemas"]["DispatchRequest"]
    # The serde forms of DispatchRequest::range and of a straggler list.
    for ok in (
        {"version": 1, "run_id": "r1", "shards": {"range": {"first": 0, "end": 5}}, "attempt": 0},
        {"version": 1, "run_id": "r1", "shards": {"list": [3, 9]}, "attempt": 1},
    ):
        jsonschema.validate(ok, schema)
    for bad in (
        {"version": 1, "run_id": "../x", "shards": {"list": [1]}},
        {"version": 1, "run_id": "r1", "shards": {"list": []}},
        {"version": 1, "run_id": "r1", "shards": {"range": {"first": 0, "end": 5}}, "points": []},
    ):
        assert not jsonschema.Draft202012Validator(schema).is_valid(bad)
