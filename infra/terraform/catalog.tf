# Glue tables over the result layout and the Athena workgroup analysts query in.
#
# Partitions: every table is partitioned by run_id and does NOT use partition projection. The
# orchestrator registers partition run_id=<id> of results_<experiment> and failures_<experiment>
# (glue:BatchCreatePartition) when it accepts a run, so
# - a new run is queryable at once: no crawler, no MSCK REPAIR TABLE;
# - WHERE run_id = '<id>' prunes to that partition's prefix and scans only that run's objects;
# - a query over all runs of an experiment reads every registered partition (projection with
#   `injected` run ids would refuse such a query, and `enum` projection would need the list of
#   run ids in the table definition).
# The partition index on run_id keeps partition lookups fast as runs accumulate.

resource "aws_glue_catalog_database" "sweep" {
  name        = var.glue_database_name
  description = "sweep_magic results: results_<experiment> and failures_<experiment> tables, partitioned by run_id."
}

resource "aws_glue_catalog_table" "sweep" {
  for_each = local.tables

  database_name = aws_glue_catalog_database.sweep.name
  name          = each.key
  description   = each.value.description
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    EXTERNAL                      = "TRUE"
    classification                = "parquet"
    "partition_filtering.enabled" = "true"
  }

  partition_keys {
    name    = "run_id"
    type    = "string"
    comment = "Run id; one partition per run, registered by the orchestrator when the run is submitted."
  }

  partition_index {
    index_name = "run_id"
    keys       = ["run_id"]
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.results.id}/${var.key_prefix}${each.value.kind}/${each.value.experiment}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      name                  = "parquet"
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters = {
        "serialization.format" = "1"
      }
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

resource "aws_athena_workgroup" "sweep" {
  name          = local.workgroup_name
  description   = "sweep_magic analysts: results in the results bucket, a per-query scan cutoff."
  state         = "ENABLED"
  force_destroy = var.force_destroy

  configuration {
    # Clients cannot override the result location, its encryption or the scan cutoff.
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${aws_s3_bucket.results.id}/${local.athena_results_prefix}"
      # The same AWS managed key the bucket uses by default (see storage.tf).
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = data.aws_kms_key.s3.arn
      }
    }
  }
}

# The AWS managed key of S3 in this account and region. Asking for it by alias creates it in an
# account where nothing has used SSE-KMS yet.
data "aws_kms_key" "s3" {
  key_id = "alias/aws/s3"
}
