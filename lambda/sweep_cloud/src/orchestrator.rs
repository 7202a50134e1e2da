//! The orchestrator's logic behind the HTTP API: submit, status, resume, cancel, and the
//! straggler rule. Each call returns the worker payloads to dispatch, so the Lambda adapter
//! can answer 202 first and fan out afterwards (or hand the payloads to itself).

use crate::contract::{
    DispatchRequest, FailedInvocation, FailedRequest, MAX_SHARDS_PER_INVOKE, ShardSet,
    WorkerPayload, plan_invocations,
};
use crate::worker::StartedMarker;
use serde::Serialize;
use sweep_core::status::status_of;
use sweep_core::{
    ErrorKind, Execution, Experiment, KernelResolver, Limits, Registry, Run, RunInfo, RunState,
    RunStatus, Spec, SpecFormat, Store, SweepError, spec::ShardTarget,
};

/// Settings of the orchestrator, read once from the environment by the adapter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CloudConfig {
    /// Spec limits.
    pub limits: Limits,
    /// Largest request body accepted, in bytes (checked before parsing).
    pub max_body_bytes: usize,
    /// Shards per worker invocation.
    pub shards_per_invoke: usize,
    /// A shard running longer than this many times the median shard time is a straggler.
    pub straggler_factor: f64,
    /// ... and longer than this, in milliseconds.
    pub straggler_min_ms: u64,
    /// Most worker invocations one dispatcher sends itself; a larger run is split among
    /// further dispatchers (a two-level fan-out), so no dispatcher nears Lambda's time limit.
    pub invokes_per_dispatcher: usize,
    /// The supervisor re-sends, once, shards that have not started this many milliseconds
    /// after the run was submitted (their dispatch or async event was lost).
    pub unstarted_ms: u64,
    /// Most runs one supervisor pass visits (the oldest first; the rest wait a minute).
    pub supervise_max_runs: usize,
    /// Workers that can run at once (the account's Lambda concurrency), for `shard_size:
    /// "auto"`.
    pub fleet_concurrency: u64,
    /// The worker function's timeout in milliseconds: a shard started longer ago than this
    /// is no longer being computed by anyone (Lambda stopped that invocation).
    pub worker_timeout_ms: u64,
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            limits: Limits::default(),
            max_body_bytes: 1 << 20,
            shards_per_invoke: 8,
            straggler_factor: 4.0,
            straggler_min_ms: 30_000,
            invokes_per_dispatcher: 1000,
            unstarted_ms: 600_000,
            supervise_max_runs: 200,
            fleet_concurrency: 1_000,
            worker_timeout_ms: 900_000,
        }
    }
}

/// An API error with its HTTP status; `kind` is the engine's error kind (absent for routing
/// errors), `path` names the spec field for 400s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// The error's kind, which clients map to their own error types.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorKind>,
    /// One line for the client.
    pub message: String,
    /// The offending spec field, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
}

impl ApiError {
    /// An error of `kind` with the kind's status.
    pub fn of_kind(kind: ErrorKind, message: impl Into<String>) -> Self {
        ApiError {
            status: kind.http_status(),
            kind: Some(kind),
            message: message.into(),
            path: String::new(),
        }
    }

    /// A routing error (unknown route, method not allowed): no engine kind.
    pub fn route(status: u16, message: impl Into<String>) -> Self {
        ApiError {
            status,
            kind: None,
            message: message.into(),
            path: String::new(),
        }
    }
}

impl From<SweepError> for ApiError {
    fn from(e: SweepError) -> Self {
        ApiError {
            path: if e.kind() == ErrorKind::Spec {
                e.path().to_string()
            } else {
                String::new()
            },
            ..ApiError::of_kind(e.kind(), e.to_string())
        }
    }
}

/// `GET /runs/{id}` and `POST /runs/{id}/cancel`: the run's progress and its state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusResponse {
    /// Progress from the shard markers.
    #[serde(flatten)]
    pub status: RunStatus,
    /// The run's state (a cloud run is running until complete, cancelled or failed).
    pub state: RunState,
    /// Why the failure threshold stopped the run, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

impl From<RunStatus> for StatusResponse {
    fn from(status: RunStatus) -> Self {
        StatusResponse {
            status,
            state: status.state(Execution::Fleet),
            failure_reason: None,
        }
    }
}

/// The 202 answer to `POST /runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubmitResponse {
    /// The new run's id.
    pub run_id: String,
    /// Points in the run.
    pub points: u64,
    /// Rows (points × replicates).
    pub rows: u64,
    /// Shards.
    pub shards: u64,
    /// Where to poll.
    pub status_url: String,
}

/// The answer to `POST /runs/{id}/retry`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RetryResponse {
    /// The run.
    pub run_id: String,
    /// The retry's number (1 for the run's first).
    pub attempt: u32,
    /// Shards with failed rows, each sent to a worker.
    pub shards: u64,
}

/// The answer to `POST /runs/{id}/resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResumeResponse {
    /// The run.
    pub run_id: String,
    /// Shards sent to workers again.
    pub shards_dispatched: u64,
}

/// Why the catalog could not register a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogError {
    /// A table the deployment should have made does not exist: a configuration error that
    /// retrying cannot mend.
    MissingTable {
        /// The table's name.
        table: String,
        /// The catalog database searched.
        database: String,
    },
    /// The catalog failed (unreachable, throttled past the retry budget); retrying may help.
    Failed(String),
}

impl std::fmt::Display for CatalogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CatalogError::MissingTable { table, database } => write!(
                f,
                "the catalog database {database} has no table {table}; the deployment is \
                 incomplete (terraform apply creates the built-ins' tables)"
            ),
            CatalogError::Failed(message) => f.write_str(message),
        }
    }
}

impl From<String> for CatalogError {
    fn from(message: String) -> Self {
        CatalogError::Failed(message)
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match &e {
            // Not retryable: a 500 (the client does not retry), nothing written.
            CatalogError::MissingTable { .. } => ApiError {
                status: 500,
                ..ApiError::of_kind(
                    ErrorKind::Corrupt,
                    format!("could not register the run in the catalog: {e}; nothing was written"),
                )
            },
            CatalogError::Failed(_) => ApiError::of_kind(
                ErrorKind::Storage,
                format!("could not register the run in the catalog: {e}"),
            ),
        }
    }
}

/// Where new runs are registered for queries (the Glue catalog in AWS).
pub trait Catalog: Send + Sync {
    /// Makes sure the tables of `experiment` exist (for a kernel loaded at run time; the
    /// built-ins' tables are made with the infrastructure). Must be idempotent.
    fn ensure_tables(&self, _experiment: &dyn Experiment) -> Result<(), CatalogError> {
        Ok(())
    }

    /// Makes run `run_id` of `experiment` queryable (its results and failures partitions).
    /// Must be idempotent: registering a run twice is not an error. All or nothing for a
    /// missing table: both tables are checked before either partition is added.
    fn register_run(&self, experiment: &str, run_id: &str) -> Result<(), CatalogError>;
}

/// No catalog (local emulation, or a deployment without Athena tables).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoCatalog;

impl Catalog for NoCatalog {
    fn register_run(&self, _experiment: &str, _run_id: &str) -> Result<(), CatalogError> {
        Ok(())
    }
}

/// What one supervisor pass found and did, run by run.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SuperviseReport {
    /// Runs visited.
    pub visited: Vec<String>,
    /// Runs found complete (summary written, no longer watched).
    pub completed: Vec<String>,
    /// Runs no longer watched because they were cancelled or are gone.
    pub dropped: Vec<String>,
    /// Dispatches to send: stragglers and shards that never started, each once.
    #[serde(skip)]
    pub dispatches: Vec<DispatchRequest>,
    /// Shards re-sent, in total.
    pub shards_redispatched: u64,
}

/// What became of one record of the on-failure queue.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// Whether the queue message may be deleted (false: it comes back after the queue's
    /// visibility timeout and is settled then).
    pub delete: bool,
    /// Shards sent to workers a second time.
    pub redispatched: Vec<u64>,
    /// Shards whose rows were recorded as failures (`invocation_failed`).
    pub recorded_lost: Vec<u64>,
    /// Shards left for later: a worker may still be computing them.
    pub deferred: Vec<u64>,
    /// Why nothing was done, when nothing was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The dispatch to send for `redispatched`.
    #[serde(skip)]
    pub dispatch: Option<DispatchRequest>,
}

/// `runs/<run_id>/summary.json`: how a run ended, written once by the supervisor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RunSummary {
    /// The run.
    pub run_id: String,
    /// Progress when it completed.
    #[serde(flatten)]
    pub status: RunStatus,
    /// When the supervisor saw it complete, milliseconds since the epoch.
    pub completed_ms: u64,
}

/// What one dispatch sends: worker payloads, and further dispatches for large runs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FanoutPlan {
    /// Payloads for workers.
    pub workers: Vec<WorkerPayload>,
    /// Dispatch requests for further dispatchers (the second level of the fan-out).
    pub dispatchers: Vec<DispatchRequest>,
}

/// The orchestrator over a store and a registry.
pub struct Orchestrator<'a> {
    store: &'a dyn Store,
    registry: &'a Registry,
    config: CloudConfig,
    catalog: &'a dyn Catalog,
    kernels: Option<&'a crate::kernels::StoreKernels<'a>>,
}

impl<'a> Orchestrator<'a> {
    /// An orchestrator writing to `store`.
    pub fn new(store: &'a dyn Store, registry: &'a Registry, config: CloudConfig) -> Self {
        Orchestrator {
            store,
            registry,
            config,
            catalog: &NoCatalog,
            kernels: None,
        }
    }

    /// Accepts specs that pin an uploaded kernel library, loaded from `kernels`.
    pub fn with_kernels(mut self, kernels: &'a crate::kernels::StoreKernels<'a>) -> Self {
        self.kernels = Some(kernels);
        self
    }

    fn open(&self, run_id: &str) -> Result<Run, SweepError> {
        Run::open_with(
            self.store,
            run_id,
            self.registry,
            self.kernels.map(|k| k as &dyn KernelResolver),
        )
    }

    /// The registry a submitted spec is checked against: with the kernel library the spec
    /// pins (`kernel_sha256`), loaded from the store. The client's declarations are never
    /// trusted: they come from the library itself.
    fn registry_for(&self, text: &str) -> Result<Option<Registry>, ApiError> {
        let Ok(serde_json::Value::Object(doc)) = serde_json::from_str::<serde_json::Value>(text)
        else {
            return Ok(None); // the spec parser reports what is wrong
        };
        let Some(sha) = doc.get("kernel_sha256") else {
            return Ok(None);
        };
        let sha = sha.as_str().unwrap_or_default();
        let kernels = self.kernels.ok_or_else(|| {
            ApiError::from(SweepError::Spec(sweep_core::SpecError::new(
                "kernel_sha256",
                "this orchestrator does not load kernel libraries",
            )))
        })?;
        let name = doc.get("experiment").and_then(|v| v.as_str());
        let kernel = kernels.load(name, sha)?;
        if self
            .registry
            .get(kernel.name())
            .is_some_and(|e| e.build().is_none())
        {
            return Err(SweepError::Spec(sweep_core::SpecError::new(
                "experiment",
                format!(
                    "{} is a built-in experiment; rename the kernel",
                    kernel.name()
                ),
            ))
            .into());
        }
        let mut registry = self.registry.clone();
        registry
            .upsert(kernel)
            .map_err(|e| ApiError::of_kind(ErrorKind::Spec, e))?;
        Ok(Some(registry))
    }

    /// Registers each new run in `catalog` before its manifest is written.
    pub fn with_catalog(mut self, catalog: &'a dyn Catalog) -> Self {
        self.catalog = catalog;
        self
    }

    /// The settings.
    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    /// The registry.
    pub fn registry(&self) -> &Registry {
        self.registry
    }

    fn payloads(&self, run_id: &str, shards: &[u64], attempt: u32) -> Vec<WorkerPayload> {
        let per = self
            .config
            .shards_per_invoke
            .clamp(1, MAX_SHARDS_PER_INVOKE);
        plan_invocations(run_id, shards, per, attempt)
    }

    /// `POST /runs`: validates the spec and writes the manifest (nothing is written for a
    /// rejected request); returns the answer and the payloads to dispatch.
    pub fn submit(
        &self,
        body: &[u8],
        run_id: &str,
        created_at: &str,
    ) -> Result<(SubmitResponse, Vec<WorkerPayload>), ApiError> {
        if body.len() > self.config.max_body_bytes {
            return Err(ApiError {
                status: 413,
                ..ApiError::of_kind(
                    ErrorKind::Spec,
                    format!(
                        "request body is {} bytes, over the limit of {}",
                        body.len(),
                        self.config.max_body_bytes
                    ),
                )
            });
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| ApiError::of_kind(ErrorKind::Spec, "request body is not UTF-8"))?;
        let with_kernel = self.registry_for(text)?;
        let registry = with_kernel.as_ref().unwrap_or(self.registry);
        let spec = Spec::parse(text, SpecFormat::Json, registry, &self.config.limits)
            .map_err(SweepError::from)?;
        if spec.experiment.build().is_some() {
            self.catalog
                .ensure_tables(spec.experiment.as_ref())
                .map_err(|e| match e {
                    CatalogError::Failed(m) => ApiError::of_kind(
                        ErrorKind::Storage,
                        format!("could not create the kernel's catalog tables: {m}"),
                    ),
                    missing => missing.into(),
                })?;
        }
        // The partitions first: if the catalog is unreachable or misconfigured nothing is
        // written, and a registered partition without a run is harmless (and reused by a
        // retry).
        self.catalog.register_run(spec.experiment.name(), run_id)?;
        // Watched by the supervisor from before the manifest exists: an entry without a run
        // (a failed create) is dropped by the supervisor's next pass.
        sweep_core::layout::validate_run_id(run_id).map_err(SweepError::from)?;
        self.store
            .put(&sweep_core::layout::active_key(run_id), b"")?;
        // `shard_size: "auto"` (what the client sends unless the author chose a size) is
        // calibrated here, on Lambda's own CPU.
        let per_invoke = self
            .config
            .shards_per_invoke
            .clamp(1, MAX_SHARDS_PER_INVOKE) as u64;
        let target = ShardTarget::cloud(per_invoke, self.config.fleet_concurrency);
        let run = Run::create_planned(self.store, spec, run_id, created_at, Some(&target))?;
        let plan = *run.plan();
        let shards: Vec<u64> = (0..plan.shards).collect();
        Ok((
            SubmitResponse {
                run_id: run_id.to_string(),
                points: plan.points,
                rows: plan.rows,
                shards: plan.shards,
                status_url: crate::api::run_path(run_id),
            },
            self.payloads(run_id, &shards, 0),
        ))
    }

    /// `GET /runs/{id}`.
    pub fn status(&self, run_id: &str) -> Result<StatusResponse, ApiError> {
        let run = RunInfo::open(self.store, run_id)?;
        let mut status = status_of(self.store, &run.manifest)?;
        let reason = self.enforce_failure_limit(&run, &mut status)?;
        Ok(StatusResponse {
            failure_reason: reason,
            ..status.into()
        })
    }

    /// The failure threshold, for the cloud: workers leave it to the status and the
    /// supervisor, which count the failed rows anyway. Once exceeded, the run gets a stop
    /// request saying why (workers start no new shard) and `status` says `failed`. Returns
    /// the reason when the run is (now) failed.
    fn enforce_failure_limit(
        &self,
        run: &RunInfo,
        status: &mut RunStatus,
    ) -> Result<Option<String>, ApiError> {
        let limit = sweep_core::FailureLimit::of_normalized(&run.manifest.spec);
        if status.failed {
            if limit
                .exceeded(status.rows_failed, status.rows_total)
                .is_some()
            {
                return Ok(run.failure_reason(self.store)?);
            }
            // A retry brought the run back under its threshold: no longer failed (a resume
            // finishes it).
            run.clear_cancel(self.store)?;
            status.failed = false;
            status.cancel_requested = false;
            return Ok(None);
        }
        if status.cancel_requested {
            return Ok(None);
        }
        match limit.exceeded(status.rows_failed, status.rows_total) {
            Some(reason) => {
                run.fail(self.store, &reason)?;
                status.failed = true;
                status.cancel_requested = true;
                Ok(Some(reason))
            }
            None => Ok(None),
        }
    }

    /// `POST /runs/{id}/cancel`: workers start no new shard afterwards.
    pub fn cancel(&self, run_id: &str) -> Result<StatusResponse, ApiError> {
        let run = RunInfo::open(self.store, run_id)?;
        run.request_cancel(self.store)?;
        Ok(status_of(self.store, &run.manifest)?.into())
    }

    /// `POST /runs/{id}/resume`: withdraws a cancel and returns payloads for every shard
    /// without a success marker.
    pub fn resume(&self, run_id: &str) -> Result<Vec<WorkerPayload>, ApiError> {
        let run = self.open(run_id)?;
        self.store
            .put(&sweep_core::layout::active_key(run_id), b"")?;
        run.clear_cancel(self.store)?;
        let pending = run.pending_shards(self.store)?;
        Ok(self.payloads(run_id, &pending, 0))
    }

    /// `POST /runs/{id}/retry`: computes again the run's failed rows of the error kinds the
    /// body names (`{"error_kinds": [...]}`; an empty body or list: every failed row), into
    /// the same run. Records the attempt (`runs/<id>/retries/<n>.json`) and returns it with
    /// the dispatch that sends each shard with failures to a worker. The run's kernel must
    /// be loadable here (as for a resume).
    pub fn retry(
        &self,
        run_id: &str,
        body: &[u8],
        started_at: &str,
    ) -> Result<(RetryResponse, DispatchRequest), ApiError> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Body {
            #[serde(default)]
            error_kinds: Vec<String>,
        }
        let request: Body = if body.iter().all(u8::is_ascii_whitespace) {
            Body {
                error_kinds: Vec::new(),
            }
        } else {
            serde_json::from_slice(body).map_err(|e| {
                ApiError::of_kind(
                    ErrorKind::Spec,
                    format!("retry body: {e} (want {{\"error_kinds\": [\"...\"]}})"),
                )
            })?
        };
        let run = self.open(run_id)?;
        let mut filter = sweep_core::RetryFilter {
            error_kinds: request.error_kinds,
            attempt: 0,
        };
        let shards = run.failed_shards(self.store)?;
        let record = run.begin_retry(self.store, &filter, shards.len() as u64, started_at)?;
        // Workers mark each shard they handle under the attempt: its progress.
        filter.attempt = record.attempt;
        self.store
            .put(&sweep_core::layout::active_key(run_id), b"")?;
        Ok((
            RetryResponse {
                run_id: run_id.to_string(),
                attempt: record.attempt,
                shards: shards.len() as u64,
            },
            DispatchRequest {
                retry: Some(filter),
                ..DispatchRequest::range(run_id, 0, run.plan().shards.max(1))
            },
        ))
    }

    /// What a dispatcher sends for `request`: nothing for a cancelled run; further
    /// dispatchers when the range needs more than `invokes_per_dispatcher` invocations;
    /// otherwise worker payloads for the shards that have no marker yet.
    pub fn plan_fanout(&self, request: &DispatchRequest) -> Result<FanoutPlan, ApiError> {
        let run = RunInfo::open(self.store, &request.run_id)?;
        // A retry goes on despite the failure threshold's stop request (lowering the failed
        // rows is what it is for), not despite a cancel.
        let stopped = match (self.store.get(&run.keys.cancel())?, &request.retry) {
            (None, _) => false,
            (Some(body), Some(_)) => sweep_core::status::failure_reason(&body).is_none(),
            (Some(_), None) => true,
        };
        if stopped {
            return Ok(FanoutPlan::default());
        }
        let total = run.plan().shards;
        let per = self
            .config
            .shards_per_invoke
            .clamp(1, MAX_SHARDS_PER_INVOKE) as u64;
        let span = per * self.config.invokes_per_dispatcher.max(1) as u64;
        let wanted: Vec<u64> = match &request.shards {
            ShardSet::Range { first, end } => {
                let (first, end) = (*first, (*end).min(total));
                if end.saturating_sub(first) > span {
                    let dispatchers = (first..end)
                        .step_by(span as usize)
                        .map(|a| DispatchRequest {
                            attempt: request.attempt,
                            retry: request.retry.clone(),
                            ..DispatchRequest::range(&request.run_id, a, (a + span).min(end))
                        })
                        .collect();
                    return Ok(FanoutPlan {
                        workers: Vec::new(),
                        dispatchers,
                    });
                }
                (first..end).collect()
            }
            ShardSet::List(list) => list.iter().copied().filter(|&s| s < total).collect(),
        };
        if let Some(retry) = &request.retry {
            let failed: std::collections::HashSet<u64> =
                run.failed_shards(self.store)?.into_iter().collect();
            let shards: Vec<u64> = wanted.into_iter().filter(|s| failed.contains(s)).collect();
            let mut workers = self.payloads(&request.run_id, &shards, request.attempt);
            for payload in &mut workers {
                payload.retry = Some(retry.clone());
            }
            return Ok(FanoutPlan {
                workers,
                dispatchers: Vec::new(),
            });
        }
        let done: std::collections::HashSet<u64> = self
            .store
            .list(&run.keys.markers_prefix())?
            .iter()
            .filter_map(|k| sweep_core::layout::shard_of_file(k))
            .collect();
        let pending: Vec<u64> = wanted.into_iter().filter(|s| !done.contains(s)).collect();
        Ok(FanoutPlan {
            workers: self.payloads(&request.run_id, &pending, request.attempt),
            dispatchers: Vec::new(),
        })
    }

    /// One pass of the supervisor (a scheduled invocation, every minute in AWS): for each
    /// watched run, oldest first — a complete run gets its summary and is no longer watched;
    /// a cancelled or vanished one is no longer watched; otherwise stragglers and shards that
    /// never started `unstarted_ms` after submission are sent again, once each. Needs no
    /// client: a run whose client went away still completes.
    pub fn supervise(&self, now_ms: u64) -> Result<SuperviseReport, ApiError> {
        let mut report = SuperviseReport::default();
        let mut ids: Vec<String> = self
            .store
            .list(sweep_core::layout::ACTIVE_PREFIX)?
            .iter()
            .filter_map(|k| k.strip_prefix(sweep_core::layout::ACTIVE_PREFIX))
            .map(str::to_string)
            .collect();
        ids.sort(); // run ids sort by creation time
        ids.truncate(self.config.supervise_max_runs);
        for run_id in ids {
            let active = sweep_core::layout::active_key(&run_id);
            report.visited.push(run_id.clone());
            let run = match RunInfo::open(self.store, &run_id) {
                Ok(run) => run,
                Err(SweepError::NotFound(_) | SweepError::Spec(_)) => {
                    self.store.delete(&active)?;
                    report.dropped.push(run_id);
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let mut status = run.status(self.store)?;
            self.enforce_failure_limit(&run, &mut status)?;
            if status.shards_done >= status.shards_total {
                let summary = RunSummary {
                    run_id: run_id.clone(),
                    status,
                    completed_ms: now_ms,
                };
                let bytes = serde_json::to_vec_pretty(&summary).expect("summary serializes");
                self.store.put_if_absent(&run.keys.summary(), &bytes)?;
                self.store.delete(&active)?;
                report.completed.push(run_id);
                continue;
            }
            if status.cancel_requested {
                self.store.delete(&active)?;
                report.dropped.push(run_id);
                continue;
            }
            // One listing of the tallies and the started markers serves both rules.
            let progress = Progress::read(self.store, &run)?;
            let mut shards = self.late_shards(&run, &progress, now_ms)?;
            shards.extend(self.unstarted(&run, &progress, now_ms)?);
            if !shards.is_empty() {
                report.shards_redispatched += shards.len() as u64;
                report.dispatches.push(DispatchRequest {
                    shards: ShardSet::List(shards),
                    attempt: 1,
                    ..DispatchRequest::range(&run_id, 0, 1)
                });
            }
        }
        Ok(report)
    }

    /// Settles one record of the functions' on-failure queue (an asynchronous invocation
    /// Lambda gave up on: every attempt failed, or the event expired in its queue). For a
    /// worker's shards, each not yet done:
    /// - a first attempt is sent once more (the same once-only marker as stragglers); if a
    ///   second attempt was already sent by another rule, that attempt settles the shard;
    /// - a second attempt that failed too has its rows recorded as failures
    ///   (`invocation_failed`, with Lambda's reason), once no invocation can still be
    ///   computing the shard (its last start is older than the worker timeout) — so the run
    ///   completes with every row exactly once, and `retry` can recompute them later.
    ///
    /// A failed dispatch needs nothing here: its shards never start, and the supervisor's
    /// unstarted rule sends them. Records of cancelled or vanished runs are dropped.
    pub fn settle_failed(&self, record: &[u8], now_ms: u64) -> Result<Settlement, ApiError> {
        let dropped = |note: String| Settlement {
            delete: true,
            note: Some(note),
            ..Settlement::default()
        };
        let failed = match FailedInvocation::parse(record) {
            Ok(failed) => failed,
            Err(e) => return Ok(dropped(e.to_string())),
        };
        let payload = match failed.request {
            FailedRequest::Worker(payload) => payload,
            FailedRequest::Dispatch(d) => {
                return Ok(dropped(format!(
                    "a dispatch of run {} failed ({}); its shards are sent by the unstarted rule",
                    d.run_id, failed.condition
                )));
            }
            FailedRequest::Unknown(why) => {
                return Ok(dropped(format!("not a sweep invocation: {why}")));
            }
        };
        let run = match self.open(&payload.run_id) {
            Ok(run) => run,
            Err(SweepError::NotFound(_)) => {
                return Ok(dropped(format!("run {} does not exist", payload.run_id)));
            }
            Err(e) => return Err(e.into()),
        };
        if self.store.exists(&run.keys.cancel())? {
            return Ok(dropped(format!("run {} was cancelled", payload.run_id)));
        }
        let mut settled = Settlement {
            delete: true,
            ..Settlement::default()
        };
        let reason = format!(
            "every invocation of this shard failed or expired ({}, {} attempts)",
            failed.condition, failed.invoke_count
        );
        for &shard in payload.shards.iter().filter(|&&s| s < run.plan().shards) {
            if self.store.exists(&run.keys.marker(shard))? {
                continue;
            }
            if payload.attempt == 0 {
                if self
                    .store
                    .put_if_absent(&run.keys.redispatched(shard), b"{}")?
                {
                    settled.redispatched.push(shard);
                }
                continue;
            }
            let last_start = match self.store.get(&run.keys.started(shard))? {
                Some(bytes) => serde_json::from_slice::<StartedMarker>(&bytes)
                    .map(|m| m.started_ms)
                    .unwrap_or(0),
                None => 0,
            };
            if now_ms < last_start.saturating_add(self.config.worker_timeout_ms) {
                settled.deferred.push(shard);
                settled.delete = false;
                continue;
            }
            if run
                .record_lost_shard(self.store, shard, "invocation_failed", &reason)?
                .is_some()
            {
                settled.recorded_lost.push(shard);
            }
        }
        if !settled.redispatched.is_empty() {
            settled.dispatch = Some(DispatchRequest {
                shards: ShardSet::List(settled.redispatched.clone()),
                attempt: 1,
                ..DispatchRequest::range(&payload.run_id, 0, 1)
            });
        }
        Ok(settled)
    }

    /// Shards of `run` with neither a done tally nor a started marker, `unstarted_ms` after
    /// the run was submitted: their dispatch or async event was lost. Each is re-sent once
    /// (the same once-only marker as stragglers).
    fn unstarted(
        &self,
        run: &RunInfo,
        progress: &Progress,
        now_ms: u64,
    ) -> Result<Vec<u64>, ApiError> {
        let created_ms = sweep_core::layout::parse_rfc3339(&run.manifest.created_at)
            .map_or(0, |secs| secs * 1000);
        if now_ms.saturating_sub(created_ms) < self.config.unstarted_ms {
            return Ok(Vec::new());
        }
        let mut lost = Vec::new();
        for shard in 0..run.plan().shards {
            if progress.done.contains_key(&shard) || progress.started.contains(&shard) {
                continue;
            }
            if self
                .store
                .put_if_absent(&run.keys.redispatched(shard), b"{}")?
            {
                lost.push(shard);
            }
        }
        Ok(lost)
    }

    /// Shards running much longer than their peers, re-dispatched once each: started, no
    /// marker, and running longer than `straggler_factor` × the median finished shard time
    /// (and `straggler_min_ms`). Idempotency makes the duplicate harmless; a per-shard
    /// `redispatched` marker, created only if absent, keeps it to once.
    pub fn stragglers(&self, run_id: &str, now_ms: u64) -> Result<Vec<WorkerPayload>, ApiError> {
        let run = RunInfo::open(self.store, run_id)?;
        if self.store.exists(&run.keys.cancel())? {
            return Ok(Vec::new());
        }
        let progress = Progress::read(self.store, &run)?;
        let late = self.late_shards(&run, &progress, now_ms)?;
        Ok(self.payloads(run_id, &late, 1))
    }

    /// The straggler rule on `progress`: finished shards' times from the tallies' names,
    /// then one GET per shard that started and has not finished (bounded by the fleet's
    /// concurrency). Takes each late shard's once-only marker.
    fn late_shards(
        &self,
        run: &RunInfo,
        progress: &Progress,
        now_ms: u64,
    ) -> Result<Vec<u64>, ApiError> {
        let mut times: Vec<u64> = progress
            .done
            .values()
            .map(|&(_, elapsed)| elapsed)
            .collect();
        if times.is_empty() {
            return Ok(Vec::new());
        }
        times.sort_unstable();
        let median = times[times.len() / 2] as f64;
        let limit =
            (median * self.config.straggler_factor).max(self.config.straggler_min_ms as f64);
        let mut late = Vec::new();
        for &shard in progress
            .started
            .iter()
            .filter(|s| !progress.done.contains_key(s))
        {
            let Some(bytes) = self.store.get(&run.keys.started(shard))? else {
                continue;
            };
            let started: StartedMarker = serde_json::from_slice(&bytes)
                .map_err(|e| SweepError::Corrupt(format!("started marker: {e}")))?;
            let running_ms = now_ms.saturating_sub(started.started_ms) as f64;
            let once_key = run.keys.redispatched(shard);
            if running_ms > limit && self.store.put_if_absent(&once_key, b"{}")? {
                late.push(shard);
            }
        }
        Ok(late)
    }
}

/// What a run's listings say: finished shards (from the done tallies' names) and shards that
/// have started.
struct Progress {
    done: std::collections::BTreeMap<u64, (u64, u64)>,
    started: std::collections::BTreeSet<u64>,
}

impl Progress {
    fn read(store: &dyn Store, run: &RunInfo) -> Result<Self, ApiError> {
        Ok(Progress {
            done: sweep_core::status::done_tallies(store, &run.manifest)?,
            started: store
                .list(&run.keys.started_prefix())?
                .iter()
                .filter_map(|k| sweep_core::layout::shard_of_started_key(k))
                .collect(),
        })
    }
}
