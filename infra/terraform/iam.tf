# Least privilege, one role per function, and the analyst policy.
#
# Rules (checked by tests/test_infra.py):
# - no Allow statement names a wildcard action;
# - resources are ARNs built from this module's bucket, functions, queue, log groups, database,
#   tables, API and workgroup; "*" appears only for X-Ray's PutTraceSegments and
#   PutTelemetryRecords, which have no resource-level permissions at all;
# - s3:ListBucket is always conditioned on s3:prefix.
#
# Uploaded kernels (var.allow_kernel_uploads): analysts put compiled kernels at
# kernels/<sha256>.so; both functions read them (they check the sha256 before loading one), and
# the orchestrator creates the Glue tables of a kernel's experiment on first use. Statements that
# exist only while uploads are allowed are `dynamic "statement"` blocks on that variable.

locals {
  glue_catalog_arn  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  glue_database_arn = aws_glue_catalog_database.sweep.arn
  glue_table_arns   = [for table in aws_glue_catalog_table.sweep : table.arn]
  # Every table of this database, those of uploaded kernels included (created by the orchestrator).
  glue_database_tables_arn = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${aws_glue_catalog_database.sweep.name}/*"
}

data "aws_iam_policy_document" "lambda_trust" {
  statement {
    sid     = "LambdaAssumesThisRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }
    # Confused-deputy guard: only Lambda acting for this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# ---------------------------------------------------------------- orchestrator

resource "aws_iam_role" "orchestrator" {
  name               = local.orchestrator_name
  description        = "sweep_magic orchestrator: runs/ in the results bucket, invokes the worker and itself, registers run partitions."
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

data "aws_iam_policy_document" "orchestrator" {
  # Manifests, markers and the cancel flag of every run.
  statement {
    sid       = "ReadWriteRuns"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.objects_arn}runs/*"]
  }

  # Uploaded kernels, content-addressed (kernels/<sha256>.so): read, hashed, then loaded. Kept
  # when uploads are switched off, so that runs already accepted can still be resumed.
  statement {
    sid       = "ReadKernels"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${local.objects_arn}kernels/*"]
  }

  # Resume clears a run's cancel flag; nothing else is ever deleted.
  statement {
    sid       = "DeleteCancelFlag"
    effect    = "Allow"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.objects_arn}runs/*/cancel"]
  }

  # The supervisor's watch list: submit and resume add active/<run_id>, the supervisor's
  # scheduled pass removes it when the run completes or is cancelled.
  statement {
    sid       = "WatchActiveRuns"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.objects_arn}active/*"]
  }

  # Status lists a run's done tallies, the supervisor the runs it watches. Also makes a HEAD
  # of a missing key answer 404, not 403.
  statement {
    sid       = "ListRuns"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.runs_prefix}*", "${local.active_prefix}*"]
    }
  }

  # Fan-out: asynchronous invokes of the worker, and of itself for the second dispatch level.
  # The function ARN is built from the name rather than taken from the function resource, whose
  # creation waits for this policy.
  statement {
    sid     = "InvokeWorkerAndSelf"
    effect  = "Allow"
    actions = ["lambda:InvokeFunction"]
    resources = [
      aws_lambda_function.worker.arn,
      "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${local.orchestrator_name}",
    ]
  }

  # A new run's partitions, registered at submit so the run is queryable at once.
  statement {
    sid       = "RegisterRunPartitions"
    effect    = "Allow"
    actions   = ["glue:GetTable", "glue:BatchCreatePartition", "glue:CreatePartition"]
    resources = concat([local.glue_catalog_arn, local.glue_database_arn], local.glue_table_arns)
  }

  # An uploaded kernel's experiment has no table of this module: the orchestrator creates
  # results_<experiment> and failures_<experiment> in this database on first use, then registers
  # run partitions in them. Tables only, of this database only; no update or delete.
  dynamic "statement" {
    for_each = var.allow_kernel_uploads ? [1] : []
    content {
      sid    = "CreateKernelTables"
      effect = "Allow"
      actions = [
        "glue:GetTable",
        "glue:CreateTable",
        "glue:BatchCreatePartition",
        "glue:CreatePartition",
      ]
      resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_database_tables_arn]
    }
  }

  # The on-failure destination of its own asynchronous (self-)invocations.
  statement {
    sid       = "SendFailedInvocations"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_invocations.arn]
  }

  # The supervisor drains that queue: each record is settled, then deleted.
  statement {
    sid       = "DrainFailedInvocations"
    effect    = "Allow"
    actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage"]
    resources = [aws_sqs_queue.failed_invocations.arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.orchestrator.arn}:*"]
  }

  # X-Ray's PutTraceSegments and PutTelemetryRecords support no resource-level permissions:
  # "*" is the only resource AWS accepts for them.
  statement {
    sid       = "PutTraces"
    effect    = "Allow"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "orchestrator" {
  name   = "sweep-orchestrator"
  role   = aws_iam_role.orchestrator.id
  policy = data.aws_iam_policy_document.orchestrator.json
}

# ---------------------------------------------------------------- worker

resource "aws_iam_role" "worker" {
  name               = local.worker_name
  description        = "sweep_magic worker: reads a run's manifest, writes its results, failures and shard markers."
  assume_role_policy = data.aws_iam_policy_document.lambda_trust.json
}

data "aws_iam_policy_document" "worker" {
  # The run's manifest, its cancel flag, and the markers of shards already done.
  statement {
    sid     = "ReadRunInputs"
    effect  = "Allow"
    actions = ["s3:GetObject"]
    resources = [
      "${local.objects_arn}runs/*/manifest.json",
      "${local.objects_arn}runs/*/cancel",
      "${local.objects_arn}runs/*/shards/*",
    ]
  }

  # The uploaded kernel a run's manifest names (kernels/<sha256>.so), checked against its sha256
  # before it is loaded.
  statement {
    sid       = "ReadKernels"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${local.objects_arn}kernels/*"]
  }

  # Parquet data first, then the shard's markers.
  statement {
    sid     = "WriteShardOutputs"
    effect  = "Allow"
    actions = ["s3:PutObject"]
    resources = [
      "${local.objects_arn}results/*",
      "${local.objects_arn}failures/*",
      "${local.objects_arn}runs/*/shards/*",
      "${local.objects_arn}runs/*/done/*",
      "${local.objects_arn}runs/*/started/*",
    ]
  }

  # Only so that a HEAD of a missing marker or cancel flag answers 404 rather than 403.
  statement {
    sid       = "ListRuns"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${local.runs_prefix}*"]
    }
  }

  statement {
    sid       = "SendFailedInvocations"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.failed_invocations.arn]
  }

  statement {
    sid       = "WriteOwnLogs"
    effect    = "Allow"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${aws_cloudwatch_log_group.worker.arn}:*"]
  }

  # See the orchestrator's PutTraces: X-Ray has no resource-level permissions.
  statement {
    sid       = "PutTraces"
    effect    = "Allow"
    actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "worker" {
  name   = "sweep-worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker.json
}

# ---------------------------------------------------------------- analyst

# What a person running `%sweep run --cloud` and querying results needs: call the API, run
# queries in this workgroup (Athena writes their output under athena-results/ with the caller's
# credentials), read the catalog, and read result files directly (DuckDB/pyarrow); with
# var.allow_kernel_uploads, also upload compiled kernels to kernels/.
data "aws_iam_policy_document" "analyst" {
  statement {
    sid     = "CallSweepApi"
    effect  = "Allow"
    actions = ["execute-api:Invoke"]
    # <api>/<stage>/<METHOD>/<path>, one per route, path parameters as "*".
    resources = [
      for route in sort(tolist(local.routes)) :
      "${aws_apigatewayv2_api.sweep.execution_arn}/*/${split(" ", route)[0]}${replace(split(" ", route)[1], "/\\{[^}]+\\}/", "*")}"
    ]
  }

  statement {
    sid    = "QueryInWorkgroup"
    effect = "Allow"
    actions = [
      "athena:GetWorkGroup",
      "athena:StartQueryExecution",
      "athena:StopQueryExecution",
      "athena:GetQueryExecution",
      "athena:BatchGetQueryExecution",
      "athena:ListQueryExecutions",
      "athena:GetQueryResults",
      "athena:GetQueryResultsStream",
      "athena:GetQueryRuntimeStatistics",
    ]
    resources = [aws_athena_workgroup.sweep.arn]
  }

  statement {
    sid    = "ReadCatalog"
    effect = "Allow"
    actions = [
      "glue:GetDatabase",
      "glue:GetTable",
      "glue:GetTables",
      "glue:GetPartition",
      "glue:GetPartitions",
      "glue:BatchGetPartition",
    ]
    resources = concat(
      [local.glue_catalog_arn, local.glue_database_arn],
      local.glue_table_arns,
    )
  }

  # The tables the orchestrator creates for uploaded kernels' experiments are not known here:
  # read access to every table of this database (read only, as above).
  dynamic "statement" {
    for_each = var.allow_kernel_uploads ? [1] : []
    content {
      sid    = "ReadKernelTables"
      effect = "Allow"
      actions = [
        "glue:GetDatabase",
        "glue:GetTable",
        "glue:GetTables",
        "glue:GetPartition",
        "glue:GetPartitions",
        "glue:BatchGetPartition",
      ]
      resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_database_tables_arn]
    }
  }

  # The client reads a run's manifest (its plan and table columns) after the API has
  # confirmed the run exists, and its result files.
  statement {
    sid     = "ReadResults"
    effect  = "Allow"
    actions = ["s3:GetObject"]
    resources = [
      "${local.objects_arn}results/*",
      "${local.objects_arn}failures/*",
      "${local.objects_arn}runs/*/manifest.json",
    ]
  }

  statement {
    sid       = "ListResults"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.bucket_arn]
    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values = [
        "${local.results_prefix}*",
        "${local.failures_prefix}*",
        "${local.athena_results_prefix}*",
      ]
    }
  }

  # Athena reads and writes query output with the caller's credentials.
  statement {
    sid    = "AthenaQueryOutput"
    effect = "Allow"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = ["${local.objects_arn}athena-results/*"]
  }

  # Bring your own kernel: the client puts the compiled library at kernels/<sha256>.so with the
  # analyst's credentials. Put only: no read, list or delete of kernels/ (the functions read them).
  dynamic "statement" {
    for_each = var.allow_kernel_uploads ? [1] : []
    content {
      sid       = "UploadKernels"
      effect    = "Allow"
      actions   = ["s3:PutObject"]
      resources = ["${local.objects_arn}kernels/*"]
    }
  }

  statement {
    sid       = "LocateBucket"
    effect    = "Allow"
    actions   = ["s3:GetBucketLocation"]
    resources = [local.bucket_arn]
  }
}

resource "aws_iam_policy" "analyst" {
  count = var.create_analyst_policy ? 1 : 0

  name        = "${var.name}-analyst"
  description = "sweep_magic analyst: call the sweep API, query in the ${local.workgroup_name} workgroup, read results."
  policy      = data.aws_iam_policy_document.analyst.json
}
