# A root configuration that deploys the sweep_magic module with its defaults. Every input comes
# from a variable, so nothing account-specific is written down: set them in the environment,
#   export TF_VAR_region=eu-west-1
# or in a terraform.tfvars file that you keep out of version control.
#
# State is kept locally (terraform.tfstate, ignored by git). For a shared deployment add a
# backend "s3" block with a bucket of your own.

terraform {
  required_version = ">= 1.5.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.40.0, < 7.0.0"
    }
  }
}

provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ "app" = "sweep_magic", "managed-by" = "terraform" }, var.tags)
  }
}

module "sweep_magic" {
  source = "../.."

  # Every variable of the module, passed through (examples/basic/variables.tf).
  name          = var.name
  bucket_name   = var.bucket_name
  key_prefix    = var.key_prefix
  force_destroy = var.force_destroy

  architecture     = var.architecture
  orchestrator_zip = var.orchestrator_zip
  worker_zip       = var.worker_zip

  orchestrator_memory_mb            = var.orchestrator_memory_mb
  orchestrator_timeout_s            = var.orchestrator_timeout_s
  orchestrator_reserved_concurrency = var.orchestrator_reserved_concurrency

  worker_memory_mb            = var.worker_memory_mb
  worker_timeout_s            = var.worker_timeout_s
  worker_reserved_concurrency = var.worker_reserved_concurrency

  dispatch_concurrency = var.dispatch_concurrency
  shards_per_invoke    = var.shards_per_invoke
  max_points           = var.max_points
  rust_log             = var.rust_log

  async_max_retry_attempts = var.async_max_retry_attempts
  async_max_event_age_s    = var.async_max_event_age_s
  dead_letter_retention_s  = var.dead_letter_retention_s

  api_throttling_burst_limit = var.api_throttling_burst_limit
  api_throttling_rate_limit  = var.api_throttling_rate_limit

  log_retention_days                = var.log_retention_days
  run_retention_days                = var.run_retention_days
  noncurrent_version_retention_days = var.noncurrent_version_retention_days
  athena_results_retention_days     = var.athena_results_retention_days

  glue_database_name          = var.glue_database_name
  athena_workgroup_name       = var.athena_workgroup_name
  athena_bytes_scanned_cutoff = var.athena_bytes_scanned_cutoff
  create_analyst_policy       = var.create_analyst_policy

  allow_kernel_uploads = var.allow_kernel_uploads
}
