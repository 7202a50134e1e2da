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
