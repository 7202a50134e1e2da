# ---------------------------------------------------------------- client configuration
# `export SWEEP_API_URL=$(terraform output -raw api_url)` and so on, or all at once:
# `terraform output -raw client_env > sweep.env`.

output "api_url" {
  description = "Base URL of the HTTP API (SWEEP_API_URL). Requests must be SigV4-signed for execute-api."
  value       = aws_apigatewayv2_api.sweep.api_endpoint
}

output "region" {
  description = "Region everything was created in (SWEEP_REGION)."
  value       = local.region
}

output "athena_database" {
  description = "Glue database of the results_<experiment> and failures_<experiment> tables (SWEEP_ATHENA_DATABASE)."
  value       = aws_glue_catalog_database.sweep.name
}

output "athena_workgroup" {
  description = "Athena workgroup to query in (SWEEP_ATHENA_WORKGROUP)."
  value       = aws_athena_workgroup.sweep.name
}

output "s3_root" {
  description = "Result root, s3://<bucket>[/<prefix>] (SWEEP_S3_ROOT)."
  value       = local.s3_root
}

output "client_env" {
  description = "The client's environment as shell export lines."
  value       = <<-EOT
    export SWEEP_API_URL=${aws_apigatewayv2_api.sweep.api_endpoint}
    export SWEEP_REGION=${local.region}
    export SWEEP_ATHENA_DATABASE=${aws_glue_catalog_database.sweep.name}
    export SWEEP_ATHENA_WORKGROUP=${aws_athena_workgroup.sweep.name}
    export SWEEP_S3_ROOT=${local.s3_root}
  EOT
}

# ---------------------------------------------------------------- access

output "analyst_policy_json" {
  description = "IAM policy document for analysts: call the API, query in the workgroup, read the catalog and the results, and (allow_kernel_uploads) upload kernels."
  value       = data.aws_iam_policy_document.analyst.json
}

output "analyst_policy_arn" {
  description = "ARN of the managed analyst policy (null when create_analyst_policy is false). Attach it to the analysts' role, group or users."
  value       = one(aws_iam_policy.analyst[*].arn)
}

# ---------------------------------------------------------------- operations

output "bucket_name" {
  description = "Name of the results bucket."
  value       = aws_s3_bucket.results.id
}

output "orchestrator_function_name" {
  description = "Name of the orchestrator function."
  value       = aws_lambda_function.orchestrator.function_name
}

output "worker_function_name" {
  description = "Name of the worker function."
  value       = aws_lambda_function.worker.function_name
}

output "failed_invocations_queue_url" {
  description = "URL of the SQS queue that receives asynchronous invocations that failed after their retries."
  value       = aws_sqs_queue.failed_invocations.url
}

output "log_groups" {
  description = "CloudWatch log groups of the functions and of the API's access logs."
  value = {
    orchestrator = aws_cloudwatch_log_group.orchestrator.name
    worker       = aws_cloudwatch_log_group.worker.name
    api_access   = aws_cloudwatch_log_group.api_access.name
  }
}

output "glue_tables" {
  description = "Glue tables created, by name (results_<experiment> and failures_<experiment>)."
  value       = sort(keys(aws_glue_catalog_table.sweep))
}
