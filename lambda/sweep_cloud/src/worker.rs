//! The worker: computes the shards a payload names, idempotently.

use crate::contract::{ContractError, WorkerPayload};
use serde::{Deserialize, Serialize};
use sweep_core::{ExecOptions, KernelResolver, Registry, Run, RunControl, Store, SweepError};

/// `runs/<run_id>/started/<shard>.json`: when a worker began a shard (for straggler checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedMarker {
    /// Milliseconds since the epoch when the shard started.
    pub started_ms: u64,
    /// The payload's attempt (1 = a straggler re-dispatch).
    pub attempt: u32,
}

/// Why a worker invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The payload is malformed or of another contract version: never retry.
    #[error(transparent)]
    Contract(#[from] ContractError),
    /// The engine or the store failed; see [`WorkerError::is_retryable`].
    #[error(transparent)]
    Engine(#[from] SweepError),
}

impl WorkerError {
    /// Whether Lambda should retry the invocation (transient storage trouble only).
    pub fn is_retryable(&self) -> bool {
        matches!(self, WorkerError::Engine(e) if e.is_retryable())
    }
}

/// What one invocation did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerReport {
    /// Shards computed now.
    pub computed: Vec<u64>,
    /// Shards skipped because they already had a marker (a duplicate delivery or a retry).
    pub skipped: Vec<u64>,
    /// Whether the run was cancelled before all shards were done.
    pub cancelled: bool,
}

/// Handles one worker payload: reads the run's manifest (and, for a run of an uploaded
/// kernel, loads its library through `kernels`), then hands the named shards to the
/// engine's shard executor (the same one `local` and `ray` use), which skips shards that
/// already have a marker and stops if the run is cancelled. Before each shard it records a
/// started marker, which the straggler rule reads.
pub fn handle(
    payload: &[u8],
    store: &dyn Store,
    registry: &Registry,
    kernels: Option<&dyn KernelResolver>,
    now_ms: impl Fn() -> u64 + Sync,
) -> Result<WorkerReport, WorkerError> {
    let payload = WorkerPayload::parse(payload)?;
    let run = Run::open_with(store, &payload.run_id, registry, kernels)?;
    if let Some(&shard) = payload.shards.iter().find(|&&s| s >= run.plan().shards) {
        return Err(ContractError::Invalid(format!(
            "shard {shard} is beyond the run's {} shards",
            run.plan().shards
        ))
        .into());
    }
    let record_start = |run: &Run, shard: u64| {
        let started = StartedMarker {
            started_ms: now_ms(),
            attempt: payload.attempt,
        };
        store.put(
            &run.keys.started(shard),
            &serde_json::to_vec(&started).expect("marker serializes"),
        )
    };
    let options = ExecOptions {
        threads: 1,
        skip_done: payload.retry.is_none(),
        retry: payload.retry.as_ref(),
        before_shard: Some(&record_start),
        check_failures: false,
    };
    let report = run.execute(store, &payload.shards, &options, &RunControl::new())?;
    Ok(WorkerReport {
        computed: report.computed,
        skipped: report.skipped,
        cancelled: report.cancelled,
    })
}
