//! The orchestrator's logic behind the HTTP API: submit, status, resume, cancel, and the
//! straggler rule. Each call returns the worker payloads to dispatch, so the Lambda adapter
//! can answer 202 first and fan out afterwards (or hand the payloads to itself).

use crate::contract::{MAX_SHARDS_PER_INVOKE, WorkerPayload, plan_invocations};
use crate::worker::{StartedMarker, started_key};
use serde::Serialize;
use sweep_core::run::status_of;
use sweep_core::{Limits, Registry, Run, RunStatus, Spec, SpecFormat, Store, SweepError};

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
}

impl Default for CloudConfig {
    fn default() -> Self {
        CloudConfig {
            limits: Limits::default(),
            max_body_bytes: 1 << 20,
            shards_per_invoke: 8,
            straggler_factor: 4.0,
            straggler_min_ms: 30_000,
        }
    }
}

/// An API error with its HTTP status; `path` names the spec field for 400s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// One line for the client.
    pub message: String,
    /// The offending spec field, if any.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
}

impl From<SweepError> for ApiError {
    fn from(e: SweepError) -> Self {
        let (status, path) = match &e {
            SweepError::Spec(s) => (400, s.path.clone()),
            SweepError::NotFound(_) => (404, String::new()),
            SweepError::Storage { .. } => (503, String::new()),
            SweepError::Cancelled => (409, String::new()),
            SweepError::Corrupt(_) => (500, String::new()),
        };
        ApiError {
            status,
            message: e.to_string(),
            path,
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

/// The answer to `POST /runs/{id}/resume`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResumeResponse {
    /// The run.
    pub run_id: String,
    /// Shards sent to workers again.
    pub shards_dispatched: u64,
}

/// The orchestrator over a store and a registry.
pub struct Orchestrator<'a> {
    store: &'a dyn Store,
    registry: &'a Registry,
    config: CloudConfig,
}

impl<'a> Orchestrator<'a> {
    /// An orchestrator writing to `store`.
    pub fn new(store: &'a dyn Store, registry: &'a Registry, config: CloudConfig) -> Self {
        Orchestrator {
            store,
            registry,
            config,
        }
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
                message: format!(
                    "request body is {} bytes, over the limit of {}",
                    body.len(),
                    self.config.max_body_bytes
                ),
                path: String::new(),
            });
        }
        let text = std::str::from_utf8(body).map_err(|_| ApiError {
            status: 400,
            message: "request body is not UTF-8".into(),
            path: String::new(),
        })?;
        let spec = Spec::parse(text, SpecFormat::Json, self.registry, &self.config.limits)
            .map_err(SweepError::from)?;
        let run = Run::create(self.store, spec, run_id, created_at)?;
        let plan = *run.plan();
        let shards: Vec<u64> = (0..plan.shards).collect();
        Ok((
            SubmitResponse {
                run_id: run_id.to_string(),
                points: plan.points,
                rows: plan.rows,
                shards: plan.shards,
                status_url: format!("/runs/{run_id}"),
            },
            self.payloads(run_id, &shards, 0),
        ))
    }

    /// `GET /runs/{id}`.
    pub fn status(&self, run_id: &str) -> Result<RunStatus, ApiError> {
        let run = Run::open(self.store, run_id, self.registry)?;
        Ok(status_of(self.store, &run.manifest)?)
    }

    /// `POST /runs/{id}/cancel`: workers start no new shard afterwards.
    pub fn cancel(&self, run_id: &str) -> Result<RunStatus, ApiError> {
        let run = Run::open(self.store, run_id, self.registry)?;
        run.request_cancel(self.store)?;
        Ok(status_of(self.store, &run.manifest)?)
    }

    /// `POST /runs/{id}/resume`: withdraws a cancel and returns payloads for every shard
    /// without a success marker.
    pub fn resume(&self, run_id: &str) -> Result<Vec<WorkerPayload>, ApiError> {
        let run = Run::open(self.store, run_id, self.registry)?;
        run.clear_cancel(self.store)?;
        let pending = run.pending_shards(self.store)?;
        Ok(self.payloads(run_id, &pending, 0))
    }

    /// Shards running much longer than their peers, re-dispatched once each: started, no
    /// marker, and running longer than `straggler_factor` × the median finished shard time
    /// (and `straggler_min_ms`). Idempotency makes the duplicate harmless; a per-shard
    /// `redispatched` marker, created only if absent, keeps it to once.
    pub fn stragglers(&self, run_id: &str, now_ms: u64) -> Result<Vec<WorkerPayload>, ApiError> {
        let run = Run::open(self.store, run_id, self.registry)?;
        if self.store.exists(&run.keys.cancel())? {
            return Ok(Vec::new());
        }
        let mut times: Vec<u64> = Vec::new();
        for key in self.store.list(&run.keys.markers_prefix())? {
            if let Some(bytes) = self.store.get(&key)? {
                let marker: sweep_core::ShardMarker = serde_json::from_slice(&bytes)
                    .map_err(|e| SweepError::Corrupt(format!("{key}: {e}")))?;
                times.push(marker.elapsed_ms);
            }
        }
        if times.is_empty() {
            return Ok(Vec::new());
        }
        times.sort_unstable();
        let median = times[times.len() / 2] as f64;
        let limit =
            (median * self.config.straggler_factor).max(self.config.straggler_min_ms as f64);
        let mut late = Vec::new();
        for shard in run.pending_shards(self.store)? {
            let Some(bytes) = self.store.get(&started_key(&run, shard))? else {
                continue;
            };
            let started: StartedMarker = serde_json::from_slice(&bytes)
                .map_err(|e| SweepError::Corrupt(format!("started marker: {e}")))?;
            let running = now_ms.saturating_sub(started.started_ms) as f64;
            let once_key = format!(
                "runs/{run_id}/redispatched/{}.json",
                run.keys.shard_name(shard)
            );
            if running > limit && self.store.put_if_absent(&once_key, b"{}")? {
                late.push(shard);
            }
        }
        Ok(self.payloads(run_id, &late, 1))
    }
}
