variable "region" {
  description = "AWS region to deploy into (e.g. eu-west-1)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "name" {
  description = "Prefix of every resource name."
  type        = string
  default     = "sweep-magic"
}

variable "bucket_name" {
  description = "Exact results bucket name; null lets AWS generate one from the name."
  type        = string
  default     = null
}

variable "key_prefix" {
  description = "Key prefix inside the bucket, empty or ending with \"/\"."
  type        = string
  default     = ""
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete the bucket with its objects (set true only to tear down)."
  type        = bool
  default     = false
}

variable "architecture" {
  description = "Lambda architecture the zips were built for: arm64 or x86_64."
  type        = string
  default     = "arm64"
}

variable "orchestrator_zip" {
  description = "Orchestrator zip; relative paths are taken from the repository root."
  type        = string
  default     = "target/lambda/orchestrator/bootstrap.zip"
}

variable "worker_zip" {
  description = "Worker zip; relative paths are taken from the repository root."
  type        = string
  default     = "target/lambda/worker/bootstrap.zip"
}

variable "orchestrator_reserved_concurrency" {
  description = "Reserved concurrency of the orchestrator."
  type        = number
  default     = 10
}

variable "worker_reserved_concurrency" {
  description = "Reserved concurrency of the worker (the most payloads computed at once)."
  type        = number
  default     = 100
}

variable "worker_memory_mb" {
  description = "Worker memory in MB (one vCPU per 1769 MB)."
  type        = number
  default     = 3538
}

variable "worker_timeout_s" {
  description = "Worker timeout in seconds."
  type        = number
  default     = 900
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups in days."
  type        = number
  default     = 30
}

variable "run_retention_days" {
  description = "Days after which runs expire from the bucket; 0 keeps them."
  type        = number
  default     = 0
}

variable "athena_bytes_scanned_cutoff" {
  description = "Bytes one Athena query may scan before it is cancelled."
  type        = number
  default     = 10737418240
}

variable "allow_kernel_uploads" {
  description = "Let analysts upload compiled kernels (kernels/<sha256>.so) that run as the functions' roles; false refuses uploaded kernels."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Extra tags for every resource (merged into the provider's default tags)."
  type        = map(string)
  default     = {}
}
