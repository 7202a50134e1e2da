"""The supervisor's wiring in Terraform: a schedule that invokes only the orchestrator, with
the input the orchestrator recognises, and the least privilege its pass needs."""

from __future__ import annotations

from test_infra import OBJECTS, actions_of, policy, typed

from sweep_magic import _native


def test_a_rule_invokes_the_orchestrator_every_minute_with_the_supervise_input() -> None:
    (rule,) = typed("resource", "aws_cloudwatch_event_rule").values()
    assert rule["schedule_expression"] == "rate(1 minute)"
    (target,) = typed("resource", "aws_cloudwatch_event_target").values()
    assert target["arn"] == "${aws_lambda_function.orchestrator.arn}"
    assert target["input"] == '${jsonencode({sweep = "supervise"})}'
    permission = typed("resource", "aws_lambda_permission")["supervise"]
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["function_name"] == "${aws_lambda_function.orchestrator.function_name}"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.supervise.arn}"


def test_only_the_orchestrator_watches_active_runs_and_workers_write_done_tallies() -> None:
    templates = _native.layout_templates()
    assert templates["active"] == "active/{run_id}"
    assert templates["done"].startswith("runs/{run_id}/done/")
    orchestrator = policy("orchestrator")
    watch = [s for s in orchestrator if s.get("sid") == "WatchActiveRuns"]
    assert [sorted(s["actions"]) for s in watch] == [["s3:DeleteObject", "s3:PutObject"]]
    assert watch[0]["resources"] == [f"{OBJECTS}active/*"]
    worker = policy("worker")
    assert "s3:DeleteObject" not in actions_of(worker)
    writes = next(s for s in worker if s.get("sid") == "WriteShardOutputs")
    assert f"{OBJECTS}runs/*/done/*" in writes["resources"]
