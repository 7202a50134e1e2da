# The inputs of this root configuration: the provider's region and tags, then every variable of
# the module (../../variables.tf) with the same type, default and description, each passed
# through in main.tf, so any TF_VAR_<name> of the module works here. The module validates the
# values. tests/test_infra.py checks that this list and the module's stay the same.

variable "region" {
  description = "AWS region to deploy into (e.g. eu-west-1)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must be an AWS region name such as eu-west-1."
  }
}

variable "tags" {
  description = "Extra tags for every resource (merged into the provider's default tags)."
  type        = map(string)
  default     = {}
}

variable "name" {
  description = "Prefix of every resource name (functions, roles, API, queue, log groups, workgroup). Lower-case letters, digits and hyphens."
  type        = string
  default     = "sweep-magic"
}

variable "bucket_name" {
  description = "Exact name of the results bucket. Leave null to let AWS generate a unique name that starts with \"<name>-results-\"."
  type        = string
  default     = null
}

variable "key_prefix" {
  description = "Key prefix of everything sweep_magic writes in the bucket (runs/, results/, failures/, kernels/, athena-results/). Empty, or ending with \"/\" (e.g. \"team-a/\")."
  type        = string
  default     = ""
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the results bucket with every object version in it. Keep false except when tearing down on purpose."
  type        = bool
  default     = false
}

variable "architecture" {
  description = "CPU architecture of both functions; must match the target the zips were built for. \"x86_64\" is what `bash scripts/package_lambdas.sh` builds without an argument; \"arm64\" (Graviton, about 20% cheaper per GB-second) needs zips built with `bash scripts/package_lambdas.sh arm64` after `rustup target add aarch64-unknown-linux-gnu`, and cannot load uploaded kernels (they are built for x86_64)."
  type        = string
  default     = "x86_64"
}

variable "orchestrator_zip" {
  description = "Orchestrator deployment package (bootstrap.zip). A relative path is taken from the repository root, where scripts/package_lambdas.sh writes it."
  type        = string
  default     = "target/lambda/orchestrator/bootstrap.zip"
}

variable "worker_zip" {
  description = "Worker deployment package (bootstrap.zip). A relative path is taken from the repository root, where scripts/package_lambdas.sh writes it."
  type        = string
  default     = "target/lambda/worker/bootstrap.zip"
}

variable "orchestrator_memory_mb" {
  description = "Memory of the orchestrator function in MB (it also sets its CPU share)."
  type        = number
  default     = 512
}

variable "orchestrator_timeout_s" {
  description = "Timeout of one orchestrator invocation in seconds. API requests are answered within API Gateway's 30 s; fan-out invocations may run longer."
  type        = number
  default     = 300
}

variable "orchestrator_reserved_concurrency" {
  description = "Reserved concurrent executions of the orchestrator (API requests plus dispatcher fan-out). AWS keeps at least 100 of the account's quota unreserved; -1 reserves nothing (for accounts whose quota is still below 100 + reservations)."
  type        = number
  default     = 10
}

variable "worker_memory_mb" {
  description = "Memory of the worker function in MB. Lambda grants one vCPU per 1769 MB, and the worker uses every core it gets."
  type        = number
  default     = 3538
}

variable "worker_timeout_s" {
  description = "Timeout of one worker invocation in seconds (one payload of shards must finish within it)."
  type        = number
  default     = 900
}

variable "worker_reserved_concurrency" {
  description = "Reserved concurrent executions of the worker: the most payloads computed at once, and so a cap on the spend rate. -1 reserves nothing (no cap)."
  type        = number
  default     = 100
}

variable "dispatch_concurrency" {
  description = "Worker invocations the orchestrator has in flight at once while fanning out (SWEEP_DISPATCH_CONCURRENCY)."
  type        = number
  default     = 16
}

variable "shards_per_invoke" {
  description = "Shards named in one worker payload (SWEEP_SHARDS_PER_INVOKE); the payload contract allows 1 to 64."
  type        = number
  default     = 8
}

variable "max_points" {
  description = "Largest run the API accepts, in rows (points x replicates) (SWEEP_MAX_POINTS)."
  type        = number
  default     = 100000000
}

variable "rust_log" {
  description = "RUST_LOG filter of both functions (e.g. \"info\", \"sweep_cloud=debug,info\")."
  type        = string
  default     = "info"
}

variable "async_max_retry_attempts" {
  description = "Retries Lambda makes of a failed asynchronous invocation (worker payloads, dispatcher self-invocations) before sending it to the dead-letter queue."
  type        = number
  default     = 2
}

variable "async_max_event_age_s" {
  description = "Oldest an asynchronous invocation may get (waiting for concurrency or between retries) before it goes to the dead-letter queue, in seconds."
  type        = number
  default     = 3600
}

variable "dead_letter_retention_s" {
  description = "How long failed invocation records stay in the dead-letter queue, in seconds (60 to 1209600)."
  type        = number
  default     = 1209600
}

variable "api_throttling_burst_limit" {
  description = "Burst limit of the HTTP API's default route settings (requests)."
  type        = number
  default     = 50
}

variable "api_throttling_rate_limit" {
  description = "Steady-state rate limit of the HTTP API's default route settings (requests per second)."
  type        = number
  default     = 20
}

variable "log_retention_days" {
  description = "Retention of the functions' and the API's CloudWatch log groups, in days."
  type        = number
  default     = 30
}

variable "run_retention_days" {
  description = "Days after which a run's objects (manifest, markers, results, failures) expire. 0 keeps runs until deleted by hand."
  type        = number
  default     = 0
}

variable "noncurrent_version_retention_days" {
  description = "Days a replaced or deleted object version is kept (versioning protects against accidental overwrites and deletes)."
  type        = number
  default     = 30
}

variable "athena_results_retention_days" {
  description = "Days Athena query result files under athena-results/ are kept."
  type        = number
  default     = 7
}

variable "glue_database_name" {
  description = "Glue database holding the results_<experiment> and failures_<experiment> tables."
  type        = string
  default     = "sweep_magic"
}

variable "athena_workgroup_name" {
  description = "Name of the Athena workgroup. Null uses the value of `name`."
  type        = string
  default     = null
}

variable "athena_bytes_scanned_cutoff" {
  description = "Bytes one query may scan before Athena cancels it (at least 10 MB). Default 10 GiB, about 5 US cents of scanning at list price."
  type        = number
  default     = 10737418240
}

variable "create_analyst_policy" {
  description = "Create a managed IAM policy for analysts (call the API, query in the workgroup, read results). Its JSON document is an output either way."
  type        = bool
  default     = true
}

variable "allow_kernel_uploads" {
  description = "Let analysts run their own compiled Rust kernels in the cloud: the analyst policy may put kernels/<sha256>.so in the bucket, the orchestrator may create the results_/failures_ Glue tables of a new kernel, and SWEEP_KERNEL_UPLOADS=1. Trust: whoever can upload to kernels/ and call the API runs native code with the permissions of the worker and orchestrator roles. False: no upload or table-creation grants, and the orchestrator refuses specs that name an uploaded kernel."
  type        = bool
  default     = true
}
