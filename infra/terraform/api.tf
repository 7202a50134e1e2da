# The HTTP API: every route is AWS_IAM-authorized (clients sign with SigV4; the analyst policy in
# iam.tf grants execute-api:Invoke on exactly these routes) and proxies to the orchestrator with
# payload format 2.0.

resource "aws_apigatewayv2_api" "sweep" {
  name          = "${var.name}-api"
  description   = "sweep_magic cloud API (lambda/openapi.json): submit, status, resume, cancel and retry runs; list experiments."
  protocol_type = "HTTP"
}

resource "aws_apigatewayv2_integration" "orchestrator" {
  api_id                 = aws_apigatewayv2_api.sweep.id
  integration_type       = "AWS_PROXY"
  integration_method     = "POST"
  integration_uri        = aws_lambda_function.orchestrator.invoke_arn
  payload_format_version = "2.0"
  # API Gateway's own limit; the orchestrator answers 202 before fanning out.
  timeout_milliseconds = 30000
}

resource "aws_apigatewayv2_route" "sweep" {
  for_each = local.routes

  api_id             = aws_apigatewayv2_api.sweep.id
  route_key          = each.value
  authorization_type = "AWS_IAM"
  target             = "integrations/${aws_apigatewayv2_integration.orchestrator.id}"
}

resource "aws_cloudwatch_log_group" "api_access" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer managed key would be a standing monthly cost.
  #checkov:skip=CKV_AWS_338:Access logs for troubleshooting, not an audit trail (CloudTrail is); retention is the variable log_retention_days.
  name              = "/aws/apigateway/${var.name}-api"
  retention_in_days = var.log_retention_days
}

resource "aws_apigatewayv2_stage" "default" {
  api_id      = aws_apigatewayv2_api.sweep.id
  name        = "$default"
  auto_deploy = true

  default_route_settings {
    throttling_burst_limit   = var.api_throttling_burst_limit
    throttling_rate_limit    = var.api_throttling_rate_limit
    detailed_metrics_enabled = true
  }

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    # One JSON object per request, with the signing principal: who submitted or cancelled what.
    format = jsonencode({
      requestId          = "$context.requestId"
      requestTime        = "$context.requestTime"
      sourceIp           = "$context.identity.sourceIp"
      caller             = "$context.identity.caller"
      userArn            = "$context.identity.userArn"
      httpMethod         = "$context.httpMethod"
      routeKey           = "$context.routeKey"
      path               = "$context.path"
      status             = "$context.status"
      responseLength     = "$context.responseLength"
      responseLatency    = "$context.responseLatency"
      integrationStatus  = "$context.integrationStatus"
      integrationLatency = "$context.integrationLatency"
      errorMessage       = "$context.error.message"
      integrationError   = "$context.integrationErrorMessage"
    })
  }
}

# API Gateway may invoke the orchestrator for requests to this API only.
resource "aws_lambda_permission" "api" {
  statement_id  = "AllowInvokeFromHttpApi"
  action        = "lambda:InvokeFunction"
  function_name = aws_lambda_function.orchestrator.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_apigatewayv2_api.sweep.execution_arn}/*"
}
