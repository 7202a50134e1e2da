"""Static checks of infra/terraform: least privilege, IAM auth, TLS-only storage, the catalog.

The module is parsed with python-hcl2 (no terraform binary, no AWS account). IAM policies are
`aws_iam_policy_document` data sources, so every statement's actions, resources and conditions are
visible here; resource strings are expanded through the module's own locals into a symbolic ARN
(`arn:aws:s3:::BUCKET/PREFIX/...`) before they are matched, so a change of a local such as
`objects_arn` is caught too. A few tests feed deliberately broken statements to the same checkers,
to show that they fail when a rule is broken.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2.utils import SerializationOptions

REPO = Path(__file__).resolve().parents[1]
MODULE = REPO / "infra" / "terraform"
EXAMPLES = MODULE / "examples"

OPTIONS = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)

BUCKET = "arn:aws:s3:::BUCKET"
OBJECTS = f"{BUCKET}/PREFIX/"
# Symbolic values of the references that the module's locals are built from.
ROOT_REFERENCES = {
    "${aws_s3_bucket.results.arn}": BUCKET,
    "${aws_s3_bucket.results.id}": "BUCKET",
    "${var.key_prefix}": "PREFIX/",
}
# The only actions AWS offers no resource-level permission for, and so may have "*" resources.
UNSCOPED_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}

Statement = dict[str, Any]


# ---------------------------------------------------------------- parsing helpers


def parse_dir(directory: Path) -> list[tuple[Path, dict[str, Any]]]:
    return [
        (path, hcl2.loads(path.read_text(), serialization_options=OPTIONS))
        for path in sorted(directory.glob("*.tf"))
    ]


MODULE_FILES = parse_dir(MODULE)


def blocks(kind: str, files: list[tuple[Path, dict[str, Any]]] = MODULE_FILES) -> Iterator[Any]:
    for _, doc in files:
        yield from doc.get(kind, [])


def typed(kind: str, type_name: str) -> dict[str, dict[str, Any]]:
    """Resources (kind="resource") or data sources (kind="data") of one type, by name."""
    found: dict[str, dict[str, Any]] = {}
    for block in blocks(kind):
        found.update(block.get(type_name, {}))
    return found


def resources(type_name: str) -> dict[str, dict[str, Any]]:
    return typed("resource", type_name)


def first(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The first (only) nested block `key` of a block."""
    value = body[key]
    nested = value[0] if isinstance(value, list) else value
    assert isinstance(nested, dict), f"{key} is not a block"
    return nested


def module_locals() -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for block in blocks("locals"):
        merged.update(block)
    return merged


LOCALS = module_locals()


def expand(text: str, depth: int = 0) -> str:
    """Expand ${local.x} (string locals only) and the root references into symbols."""
    assert depth < 10, f"locals nest too deep while expanding {text!r}"
    for ref, value in ROOT_REFERENCES.items():
        text = text.replace(ref, value)

    def local(match: re.Match[str]) -> str:
        value = LOCALS[match.group(1)]
        if isinstance(value, str) and not value.startswith("${merge") and "${[" not in value:
            return expand(value, depth + 1)
        return match.group(0)

    return re.sub(r"\$\{local\.([a-z_]+)\}", local, text)


# The only condition a `dynamic "statement"` block of a policy document may be rendered on.
KERNEL_UPLOADS_FOR_EACH = "${var.allow_kernel_uploads ? [1] : []}"


def raw_statements(document: dict[str, Any], allow_kernel_uploads: bool) -> list[Statement]:
    """The static statements of a document, then its dynamic ones that the setting renders."""
    raws = list(document.get("statement", []))
    for dynamic in document.get("dynamic", []):
        for label, body in dynamic.items():
            assert label == "statement", f"dynamic {label!r} in a policy document"
            assert body["for_each"] == KERNEL_UPLOADS_FOR_EACH, body["for_each"]
            if allow_kernel_uploads:
                raws.extend(body["content"])
    return raws


def policy(name: str, allow_kernel_uploads: bool = True) -> list[Statement]:
    """The statements of data.aws_iam_policy_document.<name>, resources and conditions expanded,
    as rendered with var.allow_kernel_uploads (default: the variable's default, true)."""
    docs = typed("data", "aws_iam_policy_document")
    assert name in docs, f"no aws_iam_policy_document {name!r}"
    statements = []
    for raw in raw_statements(docs[name], allow_kernel_uploads):
        statement = dict(raw)
        statement.setdefault("effect", "Allow")
        resources_field = statement.get("resources", [])
        if isinstance(resources_field, str) and resources_field.startswith("${concat("):
            # concat([a, b], c): the references a, b and c, each a resource or a list of them.
            resources_field = [
                "${" + ref + "}"
                for ref in re.findall(r"(?:local|aws_[a-z0-9_]+)\.[a-z0-9_.]+", resources_field)
            ]
        statement["resources"] = (
            [expand(r) for r in resources_field]
            if isinstance(resources_field, list)
            else [resources_field]
        )
        statement["condition"] = [
            {**c, "values": [expand(v) for v in c["values"]]}
            for c in statement.get("condition", [])
        ]
        statements.append(statement)
    return statements


def allows(statements: list[Statement]) -> list[Statement]:
    return [s for s in statements if s["effect"] == "Allow"]


def actions_of(statements: list[Statement]) -> set[str]:
    return {a for s in allows(statements) for a in s["actions"]}


# ---------------------------------------------------------------- rule checkers (shared with the
# negative tests below)


def check_no_wildcard_actions(statements: list[Statement]) -> None:
    for s in allows(statements):
        for action in s["actions"]:
            assert "*" not in action, f"{s.get('sid')}: wildcard action {action!r}"
        assert "not_actions" not in s, f"{s.get('sid')}: NotAction in an Allow"


def check_star_resources(statements: list[Statement]) -> None:
    for s in allows(statements):
        if "*" in s["resources"]:
            extra = set(s["actions"]) - UNSCOPED_ACTIONS
            assert not extra, f"{s.get('sid')}: '*' resource for {sorted(extra)}"


def check_list_bucket_conditioned(statements: list[Statement], allowed: set[str]) -> None:
    """ListBucket only on the bucket, only with s3:prefix under the allowed prefixes."""
    for s in allows(statements):
        if "s3:ListBucket" not in s["actions"]:
            continue
        assert s["resources"] == [BUCKET], f"{s.get('sid')}: ListBucket on {s['resources']}"
        prefixes = [
            c
            for c in s["condition"]
            if c["variable"] == "s3:prefix" and c["test"] in {"StringLike", "StringEquals"}
        ]
        assert prefixes, f"{s.get('sid')}: ListBucket without an s3:prefix condition"
        for condition in prefixes:
            assert set(condition["values"]) <= allowed, condition["values"]


def check_object_access(statements: list[Statement], rules: dict[str, set[str]]) -> None:
    """Every S3 object action is in `rules`, and names only the resources listed for it."""
    for s in allows(statements):
        for action in s["actions"]:
            if not action.startswith("s3:") or action in {"s3:ListBucket", "s3:GetBucketLocation"}:
                continue
            assert action in rules, f"{s.get('sid')}: {action} is not allowed at all"
            for resource in s["resources"]:
                assert resource in rules[action], f"{s.get('sid')}: {action} on {resource}"


KERNELS = f"{OBJECTS}kernels/*"
WORKER_OBJECT_RULES = {
    "s3:GetObject": {
        KERNELS,
        f"{OBJECTS}runs/*/manifest.json",
        f"{OBJECTS}runs/*/cancel",
        f"{OBJECTS}runs/*/shards/*",
    },
    "s3:PutObject": {
        f"{OBJECTS}results/*",
        f"{OBJECTS}failures/*",
        f"{OBJECTS}runs/*/shards/*",
        f"{OBJECTS}runs/*/done/*",
        f"{OBJECTS}runs/*/started/*",
    },
}
ORCHESTRATOR_OBJECT_RULES = {
    "s3:GetObject": {f"{OBJECTS}runs/*", KERNELS},
    "s3:PutObject": {f"{OBJECTS}runs/*", f"{OBJECTS}active/*"},
    "s3:DeleteObject": {f"{OBJECTS}runs/*/cancel", f"{OBJECTS}active/*"},
}
# Every table of the module's Glue database (those the orchestrator creates for uploaded kernels
# included): this catalog, this database, nothing else.
DATABASE_TABLES = (
    "arn:${data.aws_partition.current.partition}:glue:${data.aws_region.current.id}:"
    "${data.aws_caller_identity.current.account_id}:table/${aws_glue_catalog_database.sweep.name}/*"
)
GLUE_READ_ACTIONS = {
    "glue:GetDatabase",
    "glue:GetTable",
    "glue:GetTables",
    "glue:GetPartition",
    "glue:GetPartitions",
    "glue:BatchGetPartition",
}


def check_worker(statements: list[Statement]) -> None:
    check_no_wildcard_actions(statements)
    check_star_resources(statements)
    check_object_access(statements, WORKER_OBJECT_RULES)
    check_list_bucket_conditioned(statements, {"PREFIX/runs/*"})
    assert actions_of(statements) == {
        "s3:GetObject",
        "s3:PutObject",
        "s3:ListBucket",
        "sqs:SendMessage",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
        *UNSCOPED_ACTIONS,
    }


# ---------------------------------------------------------------- layout and variables


def test_module_is_split_by_concern_and_called_by_an_example() -> None:
    names = {path.name for path, _ in MODULE_FILES}
    assert {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} <= names
    assert len(names) >= 7, "resources are split into files by concern"
    examples = [d for d in EXAMPLES.iterdir() if d.is_dir()]
    assert examples
    for example in examples:
        modules = [m for block in blocks("module", parse_dir(example)) for m in block.values()]
        assert any(m["source"] == "../.." for m in modules), f"{example} does not call the module"
        assert (example / "README.md").exists()


@pytest.mark.parametrize(
    "directory", [MODULE, *sorted(d for d in EXAMPLES.iterdir() if d.is_dir())], ids=str
)
def test_every_variable_is_typed_and_described(directory: Path) -> None:
    variables = {
        name: body
        for block in blocks("variable", parse_dir(directory))
        for name, body in block.items()
    }
    assert variables
    for name, body in variables.items():
        assert body.get("type"), f"variable {name} has no type"
        assert len(body.get("description", "")) >= 10, f"variable {name} has no description"


def test_knobs_are_variables() -> None:
    variables = {name for block in blocks("variable") for name in block}
    assert {
        "name",
        "key_prefix",
        "architecture",
        "orchestrator_zip",
        "worker_zip",
        "orchestrator_memory_mb",
        "orchestrator_timeout_s",
        "orchestrator_reserved_concurrency",
        "worker_memory_mb",
        "worker_timeout_s",
        "worker_reserved_concurrency",
        "async_max_retry_attempts",
        "async_max_event_age_s",
        "dead_letter_retention_s",
        "log_retention_days",
        "athena_bytes_scanned_cutoff",
        "api_throttling_burst_limit",
        "api_throttling_rate_limit",
        "glue_database_name",
        "allow_kernel_uploads",
    } <= variables
    example_vars = {
        name for block in blocks("variable", parse_dir(EXAMPLES / "basic")) for name in block
    }
    assert "region" in example_vars


def variables_of(directory: Path) -> dict[str, dict[str, Any]]:
    """The variable blocks of the .tf files in `directory`, by name."""
    return {
        name: body
        for block in blocks("variable", parse_dir(directory))
        for name, body in block.items()
    }


PACKAGE_SCRIPT = REPO / "scripts" / "package_lambdas.sh"


def test_lambda_architecture_default_is_what_the_package_script_builds() -> None:
    """`bash scripts/package_lambdas.sh` with no argument builds zips that the module deploys
    with its defaults (and the example's), and the script names the real variable."""
    script = PACKAGE_SCRIPT.read_text()
    (default,) = re.findall(r"^default_arch=([a-z0-9_]+)$", script, flags=re.M)
    assert 'arch="${1:-$default_arch}"' in script, "the script's default is default_arch"
    assert f"(default {default})" in script, "the usage line names the default"
    module = variables_of(MODULE)
    assert module["architecture"]["default"] == default == "x86_64"
    assert variables_of(EXAMPLES / "basic")["architecture"]["default"] == default
    (condition,) = [v["condition"] for v in module["architecture"]["validation"]]
    accepted = set(re.findall(r'"([a-z0-9_]+)"', condition))
    assert accepted == {"x86_64", "arm64"}
    assert all(f"  {arch})" in script for arch in accepted), "the script builds every value"
    named = re.findall(r"Terraform: ([a-z_]+) =", script)
    assert named, "the script's last line names the Terraform variable to set"
    assert set(named) <= set(module), f"the script names {named}, not a module variable"
    assert set(re.findall(r"TF_VAR_([a-z_]+)=", script)) <= set(module)


def check_passthrough(
    module: dict[str, dict[str, Any]], example: dict[str, dict[str, Any]], call: dict[str, Any]
) -> None:
    """`example` declares each variable of `module` (same type, default and description) and
    `call`, its module block, passes each one through as var.<name>."""
    missing = sorted(set(module) - set(example))
    assert not missing, f"examples/basic does not declare {missing}"
    assert set(example) - set(module) == {"region", "tags"}, "only the provider's own inputs"
    for name, body in module.items():
        for key in ("type", "description"):
            assert example[name].get(key) == body.get(key), f"{name}: {key} differs"
        assert ("default" in example[name]) == ("default" in body), f"{name}: default"
        assert example[name].get("default") == body.get("default"), f"{name}: default differs"
    arguments = {k: v for k, v in call.items() if k not in {"source", "version", "providers"}}
    assert arguments == {name: f"${{var.{name}}}" for name in module}, (
        "the module block passes every variable as var.<name>: "
        f"missing {sorted(set(module) - set(arguments))}, "
        f"extra or renamed {sorted(k for k in arguments if arguments[k] != f'${{var.{k}}}')}"
    )


def example_module_call() -> dict[str, Any]:
    (call,) = [
        body
        for block in blocks("module", parse_dir(EXAMPLES / "basic"))
        for name, body in block.items()
        if name == "sweep_magic"
    ]
    assert call["source"] == "../.."
    return dict(call)


def test_example_declares_and_passes_every_module_variable() -> None:
    """So every TF_VAR_<name> of the module works in examples/basic (docs/deploy.md)."""
    check_passthrough(variables_of(MODULE), variables_of(EXAMPLES / "basic"), example_module_call())


@pytest.mark.parametrize("mutation", ["undeclared", "not passed", "other default", "renamed"])
def test_passthrough_check_rejects_a_broken_example(mutation: str) -> None:
    module = variables_of(MODULE)
    example = {name: dict(body) for name, body in variables_of(EXAMPLES / "basic").items()}
    call = example_module_call()
    if mutation == "undeclared":
        del example["glue_database_name"]
    elif mutation == "not passed":
        del call["max_points"]
    elif mutation == "other default":
        example["architecture"]["default"] = "arm64"
    else:
        call["shards_per_invoke"] = "${var.dispatch_concurrency}"
    with pytest.raises(AssertionError):
        check_passthrough(module, example, call)


def test_no_account_ids_bucket_names_or_keys_in_code() -> None:
    for path in [*MODULE.rglob("*.tf"), *MODULE.rglob("*.tfvars")]:
        text = path.read_text()
        assert not re.search(r"(?<![0-9])[0-9]{12}(?![0-9])", text), f"{path}: account id?"
        assert not re.search(r"\bA(KIA|SIA)[0-9A-Z]{16}\b", text), f"{path}: access key id?"
        assert not re.search(r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:[0-9]", text), f"{path}: literal ARN"
        for bucket in re.findall(r"s3://([^\s\"/$<]+)", text):
            pytest.fail(f"{path}: literal bucket {bucket}")
    bucket = resources("aws_s3_bucket")["results"]
    assert bucket["bucket"] == "${var.bucket_name}"
    assert "${var.name}" in bucket["bucket_prefix"]


# ---------------------------------------------------------------- storage


def test_bucket_policy_denies_insecure_transport() -> None:
    assert resources("aws_s3_bucket_policy")["results"]["policy"] == (
        "${data.aws_iam_policy_document.bucket.json}"
    )
    statements = policy("bucket")
    tls = [
        s
        for s in statements
        if s["effect"] == "Deny"
        and any(
            c["test"] == "Bool"
            and c["variable"] == "aws:SecureTransport"
            and c["values"] == ["false"]
            for c in s["condition"]
        )
    ]
    assert tls, "no Deny on aws:SecureTransport = false"
    assert set(tls[0]["resources"]) == {BUCKET, f"{BUCKET}/*"}
    assert tls[0]["actions"] == ["s3:*"]
    assert first(tls[0], "principals")["identifiers"] == ["*"]
    assert not allows(statements), "the bucket policy only denies; roles grant access"


def test_bucket_is_private_encrypted_versioned_and_expiring() -> None:
    block = resources("aws_s3_bucket_public_access_block")["results"]
    for key in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
    ):
        assert block[key] is True, key
    rule = first(resources("aws_s3_bucket_server_side_encryption_configuration")["results"], "rule")
    assert first(rule, "apply_server_side_encryption_by_default")["sse_algorithm"] in {
        "aws:kms",
        "AES256",
    }
    versioning = resources("aws_s3_bucket_versioning")["results"]
    assert first(versioning, "versioning_configuration")["status"] == "Enabled"
    assert (
        first(resources("aws_s3_bucket_ownership_controls")["results"], "rule")["object_ownership"]
        == "BucketOwnerEnforced"
    )

    lifecycle = resources("aws_s3_bucket_lifecycle_configuration")["results"]
    rules = lifecycle["rule"]
    assert any("abort_incomplete_multipart_upload" in r for r in rules)
    assert any("noncurrent_version_expiration" in r for r in rules)
    athena = [
        r for r in rules if expand(first(r, "filter").get("prefix", "")) == "PREFIX/athena-results/"
    ]
    assert athena
    assert first(athena[0], "expiration")["days"] == "${var.athena_results_retention_days}"


# ---------------------------------------------------------------- IAM


def test_every_policy_is_a_checked_document() -> None:
    """Inline jsonencode() policies would escape these tests: all go through documents."""
    for type_name, attribute in [
        ("aws_iam_role_policy", "policy"),
        ("aws_iam_policy", "policy"),
        ("aws_s3_bucket_policy", "policy"),
        ("aws_iam_role", "assume_role_policy"),
    ]:
        for name, body in resources(type_name).items():
            assert re.fullmatch(
                r"\$\{data\.aws_iam_policy_document\.[a-z_]+\.json\}", body[attribute]
            ), f"{type_name}.{name}.{attribute} is not a policy document"
    assert not resources("aws_iam_role_policy_attachment"), "managed policies bypass these checks"
    for name, role in resources("aws_iam_role").items():
        assert "managed_policy_arns" not in role, name


@pytest.mark.parametrize("name", ["orchestrator", "worker", "analyst", "lambda_trust", "bucket"])
def test_no_wildcard_actions_and_star_resources_only_where_unavoidable(name: str) -> None:
    statements = policy(name)
    check_no_wildcard_actions(statements)
    check_star_resources(statements)


def test_one_role_per_function() -> None:
    functions = resources("aws_lambda_function")
    assert set(functions) == {"orchestrator", "worker"}
    roles = {body["role"] for body in functions.values()}
    assert roles == {"${aws_iam_role.orchestrator.arn}", "${aws_iam_role.worker.arn}"}
    role_policies = resources("aws_iam_role_policy")
    assert (
        role_policies["orchestrator"]["policy"]
        == "${data.aws_iam_policy_document.orchestrator.json}"
    )
    assert role_policies["worker"]["policy"] == "${data.aws_iam_policy_document.worker.json}"
    assert role_policies["orchestrator"]["role"] == "${aws_iam_role.orchestrator.id}"
    assert role_policies["worker"]["role"] == "${aws_iam_role.worker.id}"
    trust = allows(policy("lambda_trust"))
    assert [s["actions"] for s in trust] == [["sts:AssumeRole"]]
    assert first(trust[0], "principals")["identifiers"] == ["lambda.amazonaws.com"]


def test_worker_touches_only_its_prefixes() -> None:
    check_worker(policy("worker"))


def test_orchestrator_invokes_only_worker_and_itself_and_touches_only_runs() -> None:
    statements = policy("orchestrator")
    check_object_access(statements, ORCHESTRATOR_OBJECT_RULES)
    check_list_bucket_conditioned(statements, {"PREFIX/runs/*", "PREFIX/active/*"})
    invoke = [s for s in allows(statements) if any(a.startswith("lambda:") for a in s["actions"])]
    assert [s["actions"] for s in invoke] == [["lambda:InvokeFunction"]]
    assert set(invoke[0]["resources"]) == {
        "${aws_lambda_function.worker.arn}",
        "arn:${data.aws_partition.current.partition}:lambda:${data.aws_region.current.id}:"
        "${data.aws_caller_identity.current.account_id}:function:${var.name}-orchestrator",
    }
    glue = [s for s in allows(statements) if any(a.startswith("glue:") for a in s["actions"])]
    assert {a for s in glue for a in s["actions"]} == {
        "glue:GetTable",
        "glue:CreateTable",
        "glue:BatchCreatePartition",
        "glue:CreatePartition",
    }
    for s in glue:
        assert set(s["resources"]) <= {
            expand("${local.glue_catalog_arn}"),
            "${aws_glue_catalog_database.sweep.arn}",
            "${local.glue_table_arns}",
            DATABASE_TABLES,
        }
    assert LOCALS["glue_table_arns"] == "${[for table in aws_glue_catalog_table.sweep : table.arn]}"
    assert {a.split(":")[0] for a in actions_of(statements)} == {
        "s3",
        "lambda",
        "glue",
        "sqs",
        "logs",
        "xray",
    }


def test_logs_and_queue_are_the_functions_own() -> None:
    for name in ("orchestrator", "worker"):
        statements = allows(policy(name))
        logs = [s for s in statements if any(a.startswith("logs:") for a in s["actions"])]
        assert [r for s in logs for r in s["resources"]] == [
            f"${{aws_cloudwatch_log_group.{name}.arn}}:*"
        ]
        sqs = [s for s in statements if any(a.startswith("sqs:") for a in s["actions"])]
        assert {r for s in sqs for r in s["resources"]} == {
            "${aws_sqs_queue.failed_invocations.arn}"
        }
        # Both send their failed async events there; only the orchestrator (its supervisor
        # pass) reads and deletes them.
        drain = {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
        expected = {"sqs:SendMessage"} | (drain if name == "orchestrator" else set())
        assert {a for s in sqs for a in s["actions"]} == expected


def test_analyst_policy() -> None:
    statements = policy("analyst")
    check_object_access(
        statements,
        {
            "s3:GetObject": {
                f"{OBJECTS}results/*",
                f"{OBJECTS}failures/*",
                f"{OBJECTS}athena-results/*",
                f"{OBJECTS}runs/*/manifest.json",
            },
            "s3:PutObject": {f"{OBJECTS}athena-results/*", KERNELS},
            "s3:AbortMultipartUpload": {f"{OBJECTS}athena-results/*"},
            "s3:ListMultipartUploadParts": {f"{OBJECTS}athena-results/*"},
        },
    )
    check_list_bucket_conditioned(
        statements, {"PREFIX/results/*", "PREFIX/failures/*", "PREFIX/athena-results/*"}
    )
    by_service: dict[str, list[Statement]] = {}
    for s in allows(statements):
        for service in {a.split(":")[0] for a in s["actions"]}:
            by_service.setdefault(service, []).append(s)
    assert set(by_service) == {"execute-api", "athena", "glue", "s3"}
    (api,) = by_service["execute-api"]
    assert api["actions"] == ["execute-api:Invoke"]
    (route_arns,) = api["resources"]
    assert "${aws_apigatewayv2_api.sweep.execution_arn}/*/" in route_arns
    assert "local.routes" in route_arns, "one ARN per route of this API"
    for s in by_service["athena"]:
        assert s["resources"] == ["${aws_athena_workgroup.sweep.arn}"]
    for s in by_service["glue"]:
        assert all(re.fullmatch(r"glue:(Get|BatchGet)[A-Za-z]+", a) for a in s["actions"]), s
    outputs = {name for block in blocks("output") for name in block}
    assert {"analyst_policy_json", "analyst_policy_arn"} <= outputs


# ---------------------------------------------------------------- uploaded kernels


def grants(statements: list[Statement]) -> set[tuple[str, str]]:
    """(action, resource) pairs of the Allow statements."""
    return {(a, r) for s in allows(statements) for a in s["actions"] for r in s["resources"]}


def kernel_grants(statements: list[Statement]) -> set[tuple[str, str]]:
    return {(a, r) for a, r in grants(statements) if "kernels/" in r}


def test_kernel_uploads_variable_defaults_to_true_and_states_the_trust() -> None:
    variables = {name: body for block in blocks("variable") for name, body in block.items()}
    variable = variables["allow_kernel_uploads"]
    assert variable["type"] == "bool"
    assert variable["default"] is True
    description = variable["description"]
    for needle in ("kernels/", "native code", "worker", "orchestrator", "refuses"):
        assert needle in description, needle


def test_orchestrator_is_told_whether_kernel_uploads_are_allowed() -> None:
    functions = resources("aws_lambda_function")
    env = first(functions["orchestrator"], "environment")["variables"]
    assert env["SWEEP_KERNEL_UPLOADS"] == '${var.allow_kernel_uploads ? "1" : "0"}'
    assert "SWEEP_KERNEL_UPLOADS" not in first(functions["worker"], "environment")["variables"]


def test_example_passes_kernel_uploads_through() -> None:
    example = parse_dir(EXAMPLES / "basic")
    (module,) = [m for block in blocks("module", example) for m in block.values()]
    assert module["allow_kernel_uploads"] == "${var.allow_kernel_uploads}"
    variables = {
        name: body for block in blocks("variable", example) for name, body in block.items()
    }
    assert variables["allow_kernel_uploads"]["type"] == "bool"
    assert variables["allow_kernel_uploads"]["default"] is True


def test_only_kernel_upload_statements_are_conditional() -> None:
    """The dynamic statements are exactly the kernel-upload grants, each rendered only when
    allow_kernel_uploads is true (raw_statements rejects any other for_each)."""
    docs = typed("data", "aws_iam_policy_document")
    conditional = {
        name: sorted(
            content["sid"]
            for dynamic in document.get("dynamic", [])
            for content in dynamic["statement"]["content"]
        )
        for name, document in docs.items()
    }
    assert conditional == {
        "lambda_trust": [],
        "orchestrator": ["CreateKernelTables"],
        "worker": [],
        "analyst": ["ReadKernelTables", "UploadKernels"],
        "bucket": [],
    }
    for name, sids in conditional.items():
        rendered_off = {s.get("sid") for s in policy(name, allow_kernel_uploads=False)}
        rendered_on = {s.get("sid") for s in policy(name)}
        assert rendered_on - rendered_off == set(sids), name


def test_analyst_may_put_kernels_and_nothing_else_new() -> None:
    enabled = policy("analyst")
    disabled = policy("analyst", allow_kernel_uploads=False)
    # Upload only: no read, list, delete or multipart calls on kernels/.
    assert kernel_grants(enabled) == {("s3:PutObject", KERNELS)}
    added = grants(enabled) - grants(disabled)
    assert {(a, r) for a, r in added if a.startswith("s3:")} == {("s3:PutObject", KERNELS)}
    # Queries over an uploaded kernel's tables: Glue reads of this database's tables, no more.
    assert {(a, r) for a, r in added if not a.startswith("s3:")} == {
        (a, DATABASE_TABLES) for a in GLUE_READ_ACTIONS
    }
    # The only object writes: Athena's query output and the kernel upload.
    writes = {
        r
        for a, r in grants(enabled)
        if a.startswith("s3:") and not a.startswith(("s3:Get", "s3:List"))
    }
    assert writes == {f"{OBJECTS}athena-results/*", KERNELS}
    for statements in (enabled, disabled):
        check_no_wildcard_actions(statements)
        check_star_resources(statements)
    assert not kernel_grants(disabled)
    assert not any(r == DATABASE_TABLES for _, r in grants(disabled))


def test_orchestrator_creates_tables_only_in_its_database_and_only_with_uploads() -> None:
    assert expand("${local.glue_database_tables_arn}") == DATABASE_TABLES
    enabled = policy("orchestrator")
    (create,) = [s for s in allows(enabled) if "glue:CreateTable" in s["actions"]]
    assert set(create["resources"]) == {
        expand("${local.glue_catalog_arn}"),
        "${aws_glue_catalog_database.sweep.arn}",
        DATABASE_TABLES,
    }
    # Tables are created and their partitions registered; never updated or deleted.
    assert set(create["actions"]) == {
        "glue:GetTable",
        "glue:CreateTable",
        "glue:BatchCreatePartition",
        "glue:CreatePartition",
    }
    for action, _ in grants(enabled):
        assert not re.match(r"glue:(Update|Delete|BatchDelete)", action), action
    disabled = policy("orchestrator", allow_kernel_uploads=False)
    assert not any(a == "glue:CreateTable" for a, _ in grants(disabled))
    assert not any(r == DATABASE_TABLES for _, r in grants(disabled))
    check_object_access(disabled, ORCHESTRATOR_OBJECT_RULES)


@pytest.mark.parametrize("allow", [True, False], ids=["uploads", "no-uploads"])
@pytest.mark.parametrize("name", ["orchestrator", "worker"])
def test_functions_only_read_kernels(name: str, allow: bool) -> None:
    # Read even with uploads off: runs accepted before the switch can still be resumed.
    assert kernel_grants(policy(name, allow_kernel_uploads=allow)) == {("s3:GetObject", KERNELS)}


def test_kernel_keys_follow_the_engines_layout() -> None:
    """The engine's layout names kernels/<sha256>.so (engine/core/src/layout.rs), and the grants
    above cover exactly such keys."""
    from sweep_magic import _native

    templates = _native.layout_templates()
    assert templates.get("kernel") == "kernels/{sha256}.so", (
        "engine/core/src/layout.rs TEMPLATES lacks kernel => kernels/{sha256}.so"
    )
    key = OBJECTS + templates["kernel"].replace("{sha256}", "0" * 64)
    assert fnmatch.fnmatch(key, KERNELS)
    assert not fnmatch.fnmatch(f"{OBJECTS}runs/x1/manifest.json", KERNELS)


# The checkers reject what they should: each mutation breaks one rule of the worker's policy.
MUTATIONS = {
    "wildcard action": ("WriteShardOutputs", "actions", ["s3:Put*"]),
    "whole bucket": ("WriteShardOutputs", "resources", [f"{OBJECTS}*"]),
    "manifest write": ("WriteShardOutputs", "resources", [f"{OBJECTS}runs/*/manifest.json"]),
    "star resource": ("ReadRunInputs", "resources", ["*"]),
    "unconditioned list": ("ListRuns", "condition", []),
    "list everything": (
        "ListRuns",
        "condition",
        [{"test": "StringLike", "variable": "s3:prefix", "values": ["*"]}],
    ),
    "delete": ("WriteShardOutputs", "actions", ["s3:PutObject", "s3:DeleteObject"]),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_checkers_reject_a_broken_worker_policy(mutation: str) -> None:
    sid, field, value = MUTATIONS[mutation]
    statements = [dict(s) for s in policy("worker")]
    (target,) = [s for s in statements if s.get("sid") == sid]
    target[field] = value
    with pytest.raises(AssertionError):
        check_worker(statements)


# ---------------------------------------------------------------- API Gateway


def test_every_route_uses_iam_auth_and_matches_the_openapi_document() -> None:
    routes = resources("aws_apigatewayv2_route")
    assert routes
    for name, route in routes.items():
        assert route["authorization_type"] == "AWS_IAM", name
    declared = set(re.findall(r'"([A-Z]+ /[^"]*)"', LOCALS["routes"]))
    openapi = json.loads((REPO / "lambda" / "openapi.json").read_text())
    documented = {
        f"{method.upper()} {path}" for path, item in openapi["paths"].items() for method in item
    }
    assert declared == documented
    from sweep_magic import _native

    assert declared == {f"{m} {p}" for m, p in _native.api_routes()}, "routes of the Rust API"
    assert routes["sweep"]["for_each"] == "${local.routes}"

    api = resources("aws_apigatewayv2_api")["sweep"]
    assert api["protocol_type"] == "HTTP"
    integration = resources("aws_apigatewayv2_integration")["orchestrator"]
    assert integration["payload_format_version"] == "2.0"
    assert integration["integration_uri"] == "${aws_lambda_function.orchestrator.invoke_arn}"


def test_stage_has_access_logs_and_throttling() -> None:
    stage = resources("aws_apigatewayv2_stage")["default"]
    assert stage["auto_deploy"] is True
    logs = first(stage, "access_log_settings")
    assert logs["destination_arn"] == "${aws_cloudwatch_log_group.api_access.arn}"
    throttling = first(stage, "default_route_settings")
    assert throttling["throttling_burst_limit"] == "${var.api_throttling_burst_limit}"
    assert throttling["throttling_rate_limit"] == "${var.api_throttling_rate_limit}"
    permission = resources("aws_lambda_permission")["api"]
    assert permission["source_arn"] == "${aws_apigatewayv2_api.sweep.execution_arn}/*"


# ---------------------------------------------------------------- functions


def test_functions_are_wired_as_the_application_expects() -> None:
    functions = resources("aws_lambda_function")
    for name, fn in functions.items():
        assert fn["runtime"] == "provided.al2023", name
        assert fn["handler"] == "bootstrap", name
        assert fn["architectures"] == ["${var.architecture}"], name
        assert fn["filename"] == f"${{local.{name}_zip}}", name
        assert fn["reserved_concurrent_executions"] == f"${{var.{name}_reserved_concurrency}}"
        assert fn["memory_size"] == f"${{var.{name}_memory_mb}}"
        assert fn["timeout"] == f"${{var.{name}_timeout_s}}"
        assert first(fn, "tracing_config")["mode"] == "Active", name
    env = {name: set(first(fn, "environment")["variables"]) for name, fn in functions.items()}
    assert env["orchestrator"] == {
        "SWEEP_BUCKET",
        "SWEEP_PREFIX",
        "SWEEP_WORKER_FUNCTION",
        "SWEEP_GLUE_DATABASE",
        "SWEEP_DISPATCH_CONCURRENCY",
        "SWEEP_SHARDS_PER_INVOKE",
        "SWEEP_MAX_POINTS",
        "SWEEP_KERNEL_UPLOADS",
        "SWEEP_FAILURE_QUEUE_URL",
        "SWEEP_WORKER_TIMEOUT_MS",
        "RUST_LOG",
    }
    orchestrator_env = first(functions["orchestrator"], "environment")["variables"]
    assert orchestrator_env["SWEEP_FAILURE_QUEUE_URL"] == "${aws_sqs_queue.failed_invocations.url}"
    assert orchestrator_env["SWEEP_WORKER_TIMEOUT_MS"] == "${tostring(var.worker_timeout_s * 1000)}"
    assert env["worker"] == {"SWEEP_BUCKET", "SWEEP_PREFIX", "RUST_LOG"}
    variables = {name: body for block in blocks("variable") for name, body in block.items()}
    assert variables["orchestrator_zip"]["default"] == "target/lambda/orchestrator/bootstrap.zip"
    assert variables["worker_zip"]["default"] == "target/lambda/worker/bootstrap.zip"


def test_async_invocations_retry_age_out_and_land_in_the_queue() -> None:
    configs = resources("aws_lambda_function_event_invoke_config")
    assert set(configs) == {"orchestrator", "worker"}
    for name, config in configs.items():
        assert config["function_name"] == f"${{aws_lambda_function.{name}.function_name}}"
        assert config["maximum_retry_attempts"] == "${var.async_max_retry_attempts}"
        assert config["maximum_event_age_in_seconds"] == "${var.async_max_event_age_s}"
        on_failure = first(first(config, "destination_config"), "on_failure")
        assert on_failure["destination"] == "${aws_sqs_queue.failed_invocations.arn}"
    queue = resources("aws_sqs_queue")["failed_invocations"]
    assert queue["sqs_managed_sse_enabled"] is True or "kms_master_key_id" in queue
    assert queue["message_retention_seconds"] == "${var.dead_letter_retention_s}"


def test_log_groups_have_retention() -> None:
    groups = resources("aws_cloudwatch_log_group")
    assert set(groups) == {"orchestrator", "worker", "api_access"}
    for name, group in groups.items():
        assert group["retention_in_days"] == "${var.log_retention_days}", name
    for name in ("orchestrator", "worker"):
        assert groups[name]["name"] == f"/aws/lambda/${{local.{name}_name}}"


# ---------------------------------------------------------------- catalog and Athena


def load_generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "gen_glue_tables", REPO / "scripts" / "gen_glue_tables.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_tables_are_up_to_date() -> None:
    generator = load_generator()
    committed = (MODULE / "generated" / "tables.json").read_text()
    assert committed == generator.current(), (
        "infra/terraform/generated/tables.json is stale: run "
        ".venv/bin/python scripts/gen_glue_tables.py"
    )


def test_generated_tables_cover_every_experiment_with_athena_types() -> None:
    document = json.loads((MODULE / "generated" / "tables.json").read_text())
    registry = json.loads(load_generator().compiled_experiments_json())
    assert set(document["experiments"]) == {e["name"] for e in registry}
    assert document["partition_keys"] == [{"name": "run_id", "type": "string"}]
    for name, tables in document["experiments"].items():
        for kind in ("results", "failures"):
            columns = [c["name"] for c in tables[kind]]
            assert columns[0] == "point", (name, kind)
            assert "run_id" not in columns, "run_id is the partition key, not a column"
            assert len(set(columns)) == len(columns)
            assert {c["type"] for c in tables[kind]} <= {"bigint", "double", "boolean", "string"}
        assert "error_kind" in [c["name"] for c in tables["failures"]]


def test_generator_rejects_types_athena_cannot_read() -> None:
    generator = load_generator()
    bad = [
        {
            "name": "x",
            "tables": {"results": [{"name": "point", "type": "uint64"}], "failures": []},
        }
    ]
    with pytest.raises(ValueError, match="uint64"):
        generator.build(json.dumps(bad))


def test_tables_are_partitioned_by_run_id_without_projection() -> None:
    table = resources("aws_glue_catalog_table")["sweep"]
    assert table["for_each"] == "${local.tables}"
    assert 'jsondecode(file("${path.module}/generated/tables.json"))' in LOCALS["registry"]
    assert '"results_${experiment}"' in LOCALS["tables"]
    assert '"failures_${experiment}"' in LOCALS["tables"]
    assert table["table_type"] == "EXTERNAL_TABLE"
    assert first(table, "partition_keys") == {
        "name": "run_id",
        "type": "string",
        "comment": first(table, "partition_keys")["comment"],
    }
    # Projection would hide runs from cross-run queries (injected) or need every id (enum):
    # partitions are registered by the orchestrator instead.
    assert not any(key.startswith("projection.") for key in table["parameters"])
    storage = first(table, "storage_descriptor")
    assert expand(storage["location"]) == (
        "s3://BUCKET/PREFIX/${each.value.kind}/${each.value.experiment}/"
    )
    assert (
        storage["input_format"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    )
    assert (
        storage["output_format"] == "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
    )
    assert first(storage, "ser_de_info")["serialization_library"] == (
        "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
    )
    assert first(storage, "dynamic")["columns"]["for_each"] == "${each.value.columns}"
    assert not resources("aws_glue_crawler"), "no crawler: the orchestrator registers partitions"


def test_athena_workgroup_enforces_location_cutoff_and_encryption() -> None:
    workgroup = resources("aws_athena_workgroup")["sweep"]
    configuration = first(workgroup, "configuration")
    assert configuration["enforce_workgroup_configuration"] is True
    assert configuration["bytes_scanned_cutoff_per_query"] == "${var.athena_bytes_scanned_cutoff}"
    result = first(configuration, "result_configuration")
    assert expand(result["output_location"]) == "s3://BUCKET/PREFIX/athena-results/"
    assert first(result, "encryption_configuration")["encryption_option"] in {"SSE_S3", "SSE_KMS"}


def test_client_configuration_is_output() -> None:
    outputs = {name for block in blocks("output") for name in block}
    assert {"api_url", "region", "athena_database", "athena_workgroup", "s3_root"} <= outputs
    example_outputs = {
        name for block in blocks("output", parse_dir(EXAMPLES / "basic")) for name in block
    }
    assert {
        "api_url",
        "region",
        "athena_database",
        "athena_workgroup",
        "s3_root",
    } <= example_outputs


# ---------------------------------------------------------------- checkov skips


def test_every_checkov_skip_is_justified() -> None:
    skips = []
    for path in MODULE.rglob("*.tf"):
        for line in path.read_text().splitlines():
            if "checkov:skip" in line:
                match = re.search(r"#checkov:skip=(CKV2?_AWS_\d+):(.+)$", line.strip())
                assert match, f"{path}: malformed skip {line.strip()!r}"
                assert len(match.group(2).split()) >= 8, f"{path}: thin reason {line.strip()!r}"
                skips.append(match.group(1))
    # Checks that are easy to satisfy must not be skipped.
    for check in ("CKV_AWS_50", "CKV_AWS_115", "CKV_AWS_309", "CKV_AWS_76", "CKV_AWS_82"):
        assert check not in skips, check


def test_docs_cover_deploy_and_teardown() -> None:
    text = (REPO / "docs" / "deploy.md").read_text()
    for needle in (
        "scripts/package_lambdas.sh",
        "terraform apply",
        "terraform output",
        "terraform destroy",
        "%sweep run",
        "--cloud",
        "SWEEP_API_URL",
        "BatchCreatePartition",
    ):
        assert needle in text, needle
    assert fnmatch.fnmatch(text, "*at rest*")


def _iam_object_patterns() -> set[str]:
    text = (MODULE / "iam.tf").read_text()
    return {p for p in re.findall(r'\$\{local\.objects_arn\}([^"]+)"', text)}


def test_iam_object_prefixes_follow_the_engines_layout() -> None:
    """Every S3 key pattern the policies grant names keys of the layout the engine defines
    (engine/core/src/layout.rs), and every key of that layout is granted to someone."""
    from sweep_magic import _native

    templates = {
        name: re.sub(r"\{[a-z_][a-z0-9_]*\}", "x1", t)
        for name, t in _native.layout_templates().items()
    }
    patterns = {p for p in _iam_object_patterns() if not p.startswith("athena-results/")}
    assert patterns
    for pattern in patterns:
        assert any(fnmatch.fnmatch(key, pattern) for key in templates.values()), (
            f"IAM grants {pattern!r}, which matches no key of the layout"
        )
    for name, key in templates.items():
        assert any(fnmatch.fnmatch(key, p) for p in patterns), f"no policy covers {name} keys"
