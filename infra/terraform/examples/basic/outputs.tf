output "api_url" {
  description = "SWEEP_API_URL"
  value       = module.sweep_magic.api_url
}

output "region" {
  description = "SWEEP_REGION"
  value       = module.sweep_magic.region
}

output "athena_database" {
  description = "SWEEP_ATHENA_DATABASE"
  value       = module.sweep_magic.athena_database
}

output "athena_workgroup" {
  description = "SWEEP_ATHENA_WORKGROUP"
  value       = module.sweep_magic.athena_workgroup
}

output "s3_root" {
  description = "SWEEP_S3_ROOT"
  value       = module.sweep_magic.s3_root
}

output "client_env" {
  description = "The client's environment as export lines."
  value       = module.sweep_magic.client_env
}

output "analyst_policy_json" {
  description = "IAM policy document for analysts."
  value       = module.sweep_magic.analyst_policy_json
}

output "analyst_policy_arn" {
  description = "ARN of the managed analyst policy."
  value       = module.sweep_magic.analyst_policy_arn
}

output "bucket_name" {
  description = "Name of the results bucket."
  value       = module.sweep_magic.bucket_name
}

output "failed_invocations_queue_url" {
  description = "SQS queue of asynchronous invocations that failed after their retries."
  value       = module.sweep_magic.failed_invocations_queue_url
}
