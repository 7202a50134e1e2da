# sweep_magic's cloud backend: an IAM-authorized HTTP API in front of an orchestrator Lambda that
# fans a run's shards out to worker Lambdas, which write Parquet to S3; Glue tables make the
# results queryable in an Athena workgroup. Resources are split by concern:
#
#   storage.tf    results bucket: encryption, versioning, lifecycle, TLS-only policy
#   functions.tf  orchestrator and worker functions, their log groups, async failure queue
#   api.tf        HTTP API, AWS_IAM routes, stage with access logs and throttling
#   catalog.tf    Glue database and tables (from generated/tables.json), Athena workgroup
#   iam.tf        one role per function, the analyst policy
#
# This file holds what they share: account facts, names, key layout and the table list.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  # `id` is the region name in provider 5 and 6 (6 prefers `region`, which 5 lacks).
  region = data.aws_region.current.id

  orchestrator_name = "${var.name}-orchestrator"
  worker_name       = "${var.name}-worker"
  workgroup_name    = coalesce(var.athena_workgroup_name, var.name)

  # Zips named by a relative path are found from the repository root (infra/terraform/../..),
  # wherever terraform runs; absolute paths are used as given.
  repo_root        = abspath("${path.module}/../..")
  orchestrator_zip = startswith(var.orchestrator_zip, "/") ? var.orchestrator_zip : "${local.repo_root}/${var.orchestrator_zip}"
  worker_zip       = startswith(var.worker_zip, "/") ? var.worker_zip : "${local.repo_root}/${var.worker_zip}"

  # ---- key layout (docs/design.md, "Result layout"; spelled once in engine/core/src/layout.rs), every key under var.key_prefix
  #   runs/<run_id>/manifest.json, shards/<shard>.json, started/<shard>.json,
  #   redispatched/<shard>.json, cancel
  #   results/<experiment>/run_id=<run_id>/part-<shard>.parquet
  #   failures/<experiment>/run_id=<run_id>/part-<shard>.parquet
  #   kernels/<sha256>.so   (uploaded kernels, content-addressed; var.allow_kernel_uploads)
  #   athena-results/   (Athena query output, expired by lifecycle)
  bucket_arn  = aws_s3_bucket.results.arn
  objects_arn = "${aws_s3_bucket.results.arn}/${var.key_prefix}"
  s3_root     = trimsuffix("s3://${aws_s3_bucket.results.id}/${var.key_prefix}", "/")

  runs_prefix           = "${var.key_prefix}runs/"
  active_prefix         = "${var.key_prefix}active/"
  results_prefix        = "${var.key_prefix}results/"
  failures_prefix       = "${var.key_prefix}failures/"
  athena_results_prefix = "${var.key_prefix}athena-results/"

  # ---- Glue tables, one pair per experiment of the engine's registry
  registry = jsondecode(file("${path.module}/generated/tables.json"))
  tables = merge(
    {
      for experiment, t in local.registry.experiments : "results_${experiment}" => {
        experiment  = experiment
        kind        = "results"
        description = "Successful rows of ${experiment} runs: ${t.description}"
        columns     = t.results
      }
    },
    {
      for experiment, t in local.registry.experiments : "failures_${experiment}" => {
        experiment  = experiment
        kind        = "failures"
        description = "Failed rows of ${experiment} runs (error kind and message)."
        columns     = t.failures
      }
    },
  )

  # ---- the HTTP API's routes (lambda/openapi.json); every one is AWS_IAM-authorized
  routes = toset([
    "POST /runs",
    "GET /runs/{run_id}",
    "POST /runs/{run_id}/resume",
    "POST /runs/{run_id}/cancel",
    "POST /runs/{run_id}/retry",
    "GET /experiments",
  ])
}
