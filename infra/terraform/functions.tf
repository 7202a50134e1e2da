# The orchestrator (behind the HTTP API; fans out by invoking itself and the worker
# asynchronously) and the worker (computes the shards a payload names). Both are the
# provided.al2023 `bootstrap` binaries that scripts/package_lambdas.sh zips.
#
# Skipped checks, for both functions:
# - CKV_AWS_117 (run inside a VPC): the functions reach nothing but AWS APIs (S3, Lambda, Glue)
#   over TLS with IAM authentication. A VPC would add a NAT gateway or interface endpoints for
#   Lambda and Glue, which are billed by the hour, and this stack must cost nothing at rest.
# - CKV_AWS_173 (environment variables encrypted with a customer managed key): the variables
#   hold names and tuning numbers, no secret; Lambda encrypts them at rest with its AWS managed
#   key already, and a CMK would be a standing monthly cost.
# - CKV_AWS_116 (dead-letter queue on the function): failed asynchronous invocations go to the
#   SQS queue below through an on-failure destination (aws_lambda_function_event_invoke_config),
#   which records the payload together with the error and the attempt count; that supersedes the
#   older DLQ setting, which keeps the payload alone.
# - CKV_AWS_272 (code signing): the zips are built from the locked Cargo workspace by
#   scripts/package_lambdas.sh and uploaded by the same principal that applies this module;
#   signing would need an AWS Signer profile and an S3 upload/signing step that the packaging
#   command does not have. Add a aws_lambda_code_signing_config when deployments come from CI.

resource "aws_cloudwatch_log_group" "orchestrator" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer managed key would be a standing monthly cost.
  #checkov:skip=CKV_AWS_338:Operational debug logs, not an audit trail; retention is the variable log_retention_days (default 30 days).
  name              = "/aws/lambda/${local.orchestrator_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_cloudwatch_log_group" "worker" {
  #checkov:skip=CKV_AWS_158:CloudWatch Logs encrypts every log group at rest; a customer managed key would be a standing monthly cost.
  #checkov:skip=CKV_AWS_338:Operational debug logs, not an audit trail; retention is the variable log_retention_days (default 30 days).
  name              = "/aws/lambda/${local.worker_name}"
  retention_in_days = var.log_retention_days
}

resource "aws_lambda_function" "orchestrator" {
  #checkov:skip=CKV_AWS_117:Only AWS APIs are called, over TLS with IAM auth; a VPC needs hourly-billed NAT or endpoints.
  #checkov:skip=CKV_AWS_173:Environment holds names and numbers only, no secret; Lambda encrypts it with its AWS managed key.
  #checkov:skip=CKV_AWS_116:Failed async invocations go to the SQS on-failure destination in aws_lambda_function_event_invoke_config.
  #checkov:skip=CKV_AWS_272:Zips are built from the locked workspace and deployed by the applying principal; no signing pipeline exists yet.
  function_name                  = local.orchestrator_name
  description                    = "sweep_magic orchestrator: HTTP API behind API Gateway, plans runs and fans shards out to ${local.worker_name}."
  role                           = aws_iam_role.orchestrator.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = local.orchestrator_zip
  source_code_hash               = filebase64sha256(local.orchestrator_zip)
  memory_size                    = var.orchestrator_memory_mb
  timeout                        = var.orchestrator_timeout_s
  reserved_concurrent_executions = var.orchestrator_reserved_concurrency

  environment {
    variables = {
      SWEEP_BUCKET               = aws_s3_bucket.results.id
      SWEEP_PREFIX               = var.key_prefix
      SWEEP_WORKER_FUNCTION      = aws_lambda_function.worker.function_name
      SWEEP_GLUE_DATABASE        = aws_glue_catalog_database.sweep.name
      SWEEP_DISPATCH_CONCURRENCY = tostring(var.dispatch_concurrency)
      SWEEP_SHARDS_PER_INVOKE    = tostring(var.shards_per_invoke)
      SWEEP_MAX_POINTS           = tostring(var.max_points)
      SWEEP_KERNEL_UPLOADS       = var.allow_kernel_uploads ? "1" : "0"
      # The supervisor drains the functions' on-failure queue; a shard started longer ago
      # than the worker's timeout is no longer being computed.
      SWEEP_FAILURE_QUEUE_URL = aws_sqs_queue.failed_invocations.url
      SWEEP_WORKER_TIMEOUT_MS = tostring(var.worker_timeout_s * 1000)
      RUST_LOG                = var.rust_log
    }
  }

  tracing_config {
    mode = "Active"
  }

  # The log group must exist (with its retention) before Lambda would create one without it.
  depends_on = [aws_cloudwatch_log_group.orchestrator, aws_iam_role_policy.orchestrator]
}

resource "aws_lambda_function" "worker" {
  #checkov:skip=CKV_AWS_117:Only AWS APIs are called, over TLS with IAM auth; a VPC needs hourly-billed NAT or endpoints.
  #checkov:skip=CKV_AWS_173:Environment holds names and numbers only, no secret; Lambda encrypts it with its AWS managed key.
  #checkov:skip=CKV_AWS_116:Failed async invocations go to the SQS on-failure destination in aws_lambda_function_event_invoke_config.
  #checkov:skip=CKV_AWS_272:Zips are built from the locked workspace and deployed by the applying principal; no signing pipeline exists yet.
  function_name                  = local.worker_name
  description                    = "sweep_magic worker: computes the shards of one payload and writes Parquet and markers to S3."
  role                           = aws_iam_role.worker.arn
  runtime                        = "provided.al2023"
  handler                        = "bootstrap"
  architectures                  = [var.architecture]
  filename                       = local.worker_zip
  source_code_hash               = filebase64sha256(local.worker_zip)
  memory_size                    = var.worker_memory_mb
  timeout                        = var.worker_timeout_s
  reserved_concurrent_executions = var.worker_reserved_concurrency

  environment {
    variables = {
      SWEEP_BUCKET = aws_s3_bucket.results.id
      SWEEP_PREFIX = var.key_prefix
      RUST_LOG     = var.rust_log
    }
  }

  tracing_config {
    mode = "Active"
  }

  depends_on = [aws_cloudwatch_log_group.worker, aws_iam_role_policy.worker]
}

# ---------------------------------------------------------------- asynchronous delivery

# Where an asynchronous invocation lands once its retries or its maximum age are used up: a
# worker payload or a dispatcher self-invocation that never succeeded. `%sweep resume` (POST
# /runs/{id}/resume) re-dispatches the shards without a marker, so nothing here must be replayed
# by hand; the queue tells what failed and why.
resource "aws_sqs_queue" "failed_invocations" {
  name                      = "${var.name}-failed-invocations"
  message_retention_seconds = var.dead_letter_retention_s
  # SSE with SQS-owned keys: encrypted at rest with no key to pay for or manage.
  sqs_managed_sse_enabled = true
}

resource "aws_lambda_function_event_invoke_config" "orchestrator" {
  function_name                = aws_lambda_function.orchestrator.function_name
  maximum_retry_attempts       = var.async_max_retry_attempts
  maximum_event_age_in_seconds = var.async_max_event_age_s

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failed_invocations.arn
    }
  }
}

resource "aws_lambda_function_event_invoke_config" "worker" {
  function_name                = aws_lambda_function.worker.function_name
  maximum_retry_attempts       = var.async_max_retry_attempts
  maximum_event_age_in_seconds = var.async_max_event_age_s

  destination_config {
    on_failure {
      destination = aws_sqs_queue.failed_invocations.arn
    }
  }
}
