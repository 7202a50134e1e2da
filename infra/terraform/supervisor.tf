# The supervisor: every minute EventBridge invokes the orchestrator with {"sweep": "supervise"}.
# A pass visits the runs under active/: it writes the summary of a run that completed, stops
# watching cancelled ones, and re-sends (once) the shards of a run that are late or never
# started, so a run whose client went away still completes.

resource "aws_cloudwatch_event_rule" "supervise" {
  name                = "${var.name}-supervise"
  description         = "sweep_magic: the orchestrator's supervisor pass over active runs."
  schedule_expression = "rate(1 minute)"
}

resource "aws_cloudwatch_event_target" "supervise" {
  rule  = aws_cloudwatch_event_rule.supervise.name
  arn   = aws_lambda_function.orchestrator.arn
  input = jsonencode({ sweep = "supervise" })
}

# Only this rule may invoke the orchestrator through EventBridge.
resource "aws_lambda_permission" "supervise" {
  statement_id  = "AllowSupervisorSchedule"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.orchestrator.function_name
  principal     = "events.amazonaws.com"
  source_arn    = aws_cloudwatch_event_rule.supervise.arn
}
