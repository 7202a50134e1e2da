# The results bucket: manifests and markers under runs/, Parquet under results/ and failures/,
# uploaded kernels under kernels/, Athena query output under athena-results/ (all under
# var.key_prefix).

resource "aws_s3_bucket" "results" {
  # Cross-region replication: not configured. Every result is a pure function of its run's spec
  # (docs/design.md, the determinism rule), so a lost run is recomputed from its manifest; a replica would
  # double the storage bill, the only cost of this stack at rest.
  #checkov:skip=CKV_AWS_144:Results are recomputable from the spec; replication would double the only standing cost (storage).
  # Server access logging: not configured. The two function roles write here, each invocation
  # logged in CloudWatch, and analysts write only athena-results/ and, with
  # allow_kernel_uploads, kernels/; object-level audit (who uploaded which kernel), where wanted,
  # belongs to CloudTrail data events (an account-wide decision), not to a second, itself
  # unlogged, bucket.
  #checkov:skip=CKV_AWS_18:Writers are the function roles and analysts (athena-results/, kernels/); use CloudTrail data events for object-level audit.
  # Event notifications: nothing consumes object events; progress is read from markers.
  #checkov:skip=CKV2_AWS_62:No consumer of object events exists; run progress is derived from the shard markers.
  bucket        = var.bucket_name
  bucket_prefix = var.bucket_name == null ? "${var.name}-results-" : null
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_ownership_controls" "results" {
  bucket = aws_s3_bucket.results.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "results" {
  bucket                  = aws_s3_bucket.results.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

# Default encryption: SSE-KMS with the AWS managed key aws/s3 and an S3 Bucket Key.
# - not SSE-S3: KMS gives every decrypt a CloudTrail record and keeps the data unreadable to
#   anyone who has S3 permissions but cannot use KMS through S3 in this account;
# - not a customer managed key: a CMK costs a monthly fee whether or not anything runs, and this
#   stack costs nothing at rest but storage; the AWS managed key is free, needs no key policy
#   (principals of this account may use it through S3), and the Bucket Key keeps KMS request
#   charges to a handful per run. Pass the bucket a CMK here if your organisation requires one.
resource "aws_s3_bucket_server_side_encryption_configuration" "results" {
  bucket = aws_s3_bucket.results.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "aws:kms"
    }
    bucket_key_enabled = true
  }
}

# Versioning guards against an accidental overwrite or delete; idempotent rewrites of the same
# key (retries, duplicate deliveries) leave noncurrent versions, which lifecycle expires.
resource "aws_s3_bucket_versioning" "results" {
  bucket = aws_s3_bucket.results.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "results" {
  bucket = aws_s3_bucket.results.id
  # Rules apply to a versioned bucket: wait for versioning to exist first.
  depends_on = [aws_s3_bucket_versioning.results]

  # Bucket-wide: the bucket holds nothing but sweep_magic's keys.
  rule {
    id     = "abort-incomplete-uploads-and-expire-old-versions"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_retention_days
    }
    expiration {
      expired_object_delete_marker = true
    }
  }

  rule {
    id     = "expire-athena-query-results"
    status = "Enabled"
    filter {
      prefix = local.athena_results_prefix
    }
    expiration {
      days = var.athena_results_retention_days
    }
  }

  # Optional expiry of whole runs (manifest and markers, results, failures), off by default.
  dynamic "rule" {
    for_each = var.run_retention_days > 0 ? {
      runs     = local.runs_prefix
      results  = local.results_prefix
      failures = local.failures_prefix
    } : {}
    content {
      id     = "expire-${rule.key}"
      status = "Enabled"
      filter {
        prefix = rule.value
      }
      expiration {
        days = var.run_retention_days
      }
    }
  }
}

# TLS only: deny every request that does not arrive over TLS 1.2 or later. These are Deny
# statements, so their "s3:*" only ever narrows access; no Allow in this module has a wildcard.
data "aws_iam_policy_document" "bucket" {
  statement {
    sid     = "DenyInsecureTransport"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid     = "DenyTlsBelow12"
    effect  = "Deny"
    actions = ["s3:*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    resources = [local.bucket_arn, "${local.bucket_arn}/*"]
    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "results" {
  bucket = aws_s3_bucket.results.id
  policy = data.aws_iam_policy_document.bucket.json
  # A policy put before the public access block could be judged public while the block is
  # being applied; order them.
  depends_on = [aws_s3_bucket_public_access_block.results]
}
