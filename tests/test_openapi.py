"""The OpenAPI document of the cloud API is well formed, points at the spec schema, and
documents every status a client can get: the API's own errors (the Error body, 415 for a body
that is not JSON) and those API Gateway makes itself (403, 429, 500, 503 with its GatewayError
body, {"message": "..."})."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

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


# -- error answers: the API's own and API Gateway's --------------------------------------------

DOC = json.loads((REPO / "lambda" / "openapi.json").read_text())
OPERATIONS = [
    (method, path, op)
    for path, item in DOC["paths"].items()
    for method, op in item.items()
    if method in {"get", "post", "put", "delete", "patch"}
]
# What API Gateway answers on its own: its body is {"message": ...}, never the API's Error.
GATEWAY_BODIES = {
    "403": {"message": "Forbidden"},
    "429": {"message": "Too Many Requests"},
    "500": {"message": "Internal Server Error"},
    "503": {"message": "Service Unavailable"},
}
# What the orchestrator answers with the same statuses (ErrorKind::http_status, api.rs).
API_BODIES = {
    "415": {"status": 415, "message": 'Content-Type "text/plain" is not supported'},
    "500": {"status": 500, "kind": "corrupt", "message": "corrupt or incompatible run data"},
    "503": {"status": 503, "kind": "storage", "message": "storage error at runs/x: timeout"},
}


def _resolve(node: dict[str, Any]) -> dict[str, Any]:
    """Follows a local `#/...` reference of the document."""
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = DOC
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


def _validator(pointer: str) -> jsonschema.Draft202012Validator:
    """A validator of the schema at `pointer` in the document, its references resolved."""
    registry: Registry[Any] = Registry().with_resource(
        "urn:openapi", Resource(contents=DOC, specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator({"$ref": f"urn:openapi#{pointer}"}, registry=registry)


def _body_schema_pointer(method: str, path: str, status: str) -> str:
    response = DOC["paths"][path][method]["responses"][status]
    if "$ref" in response:
        base = response["$ref"][1:]
    else:
        base = (
            "/paths/" + path.replace("~", "~0").replace("/", "~1") + f"/{method}/responses/{status}"
        )
    return base + "/content/application~1json/schema"


def test_every_local_reference_resolves() -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str) and node["$ref"].startswith("#/"):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(DOC)
    assert refs
    for ref in refs:
        assert _resolve({"$ref": ref}), ref


def test_gateway_error_is_its_own_schema() -> None:
    schemas = DOC["components"]["schemas"]
    gateway = jsonschema.Draft202012Validator(schemas["GatewayError"])
    api = jsonschema.Draft202012Validator(schemas["Error"])
    for body in GATEWAY_BODIES.values():
        assert gateway.is_valid(body), body
        assert not api.is_valid(body), f"{body} would pass as the API's Error"
    for body in API_BODIES.values():
        assert api.is_valid(body), body
        assert not gateway.is_valid(body), f"{body} would pass as API Gateway's body"
    assert not gateway.is_valid({})
    assert not gateway.is_valid({"message": 403})


@pytest.mark.parametrize("status", sorted(GATEWAY_BODIES))
def test_every_operation_documents_what_api_gateway_answers(status: str) -> None:
    for method, path, op in OPERATIONS:
        assert status in op["responses"], f"{method.upper()} {path} does not document {status}"
        validator = _validator(_body_schema_pointer(method, path, status))
        body = GATEWAY_BODIES[status]
        assert validator.is_valid(body), (method, path, status, body)
        if status in API_BODIES:
            # 500 and 503 come from either side: each body matches exactly one branch.
            assert validator.is_valid(API_BODIES[status]), (method, path, status)
            schema = _resolve(DOC["paths"][path][method]["responses"][status])
            branches = schema["content"]["application/json"]["schema"]["oneOf"]
            assert {b["$ref"].rsplit("/", 1)[1] for b in branches} == {"Error", "GatewayError"}
        else:
            assert not validator.is_valid({"status": int(status), "message": "x"}), (
                f"{method.upper()} {path} {status}: only API Gateway answers it"
            )


def test_415_is_documented_on_every_route_that_takes_a_body() -> None:
    for method, path, op in OPERATIONS:
        responses = op["responses"]
        assert ("415" in responses) == (method == "post"), f"{method.upper()} {path}"
        if method != "post":
            continue
        response = _resolve(responses["415"])
        assert "application/json" in response["description"]
        validator = _validator(_body_schema_pointer(method, path, "415"))
        assert validator.is_valid(API_BODIES["415"])
        assert not validator.is_valid(GATEWAY_BODIES["403"]), "415 is the API's own answer"


def test_every_status_has_a_described_json_body() -> None:
    for method, path, op in OPERATIONS:
        for status, response in op["responses"].items():
            response = _resolve(response)
            assert len(response["description"]) >= 8, (method, path, status)
            assert "application/json" in response["content"], (method, path, status)
