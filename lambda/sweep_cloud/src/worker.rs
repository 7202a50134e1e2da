//! The worker: computes the shards a payload names, idempotently.

use crate::contract::{ContractError, WorkerPayload};
use serde::{Deserialize, Serialize};
use sweep_core::{Registry, Run, RunControl, Store, SweepError};

/// `runs/<run_id>/started/<shard>.json`: when a worker began a shard (for straggler checks).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedMarker {
    /// Milliseconds since the epoch when the shard started.
    pub started_ms: u64,
    /// The payload's attempt (1 = a straggler re-dispatch).
    pub attempt: u32,
}

/// Key of a shard's started marker.
pub fn started_key(run: &Run, shard: u64) -> String {
    format!(
        "runs/{}/started/{}.json",
        run.keys.run_id(),
        run.keys.shard_name(shard)
    )
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

/// Handles one worker payload: reads the run's manifest, then computes each named shard that
/// has no marker yet, stopping if the run is cancelled.
pub fn handle(
    payload: &[u8],
    store: &dyn Store,
    registry: &Registry,
    now_ms: impl Fn() -> u64,
) -> Result<WorkerReport, WorkerError> {
    let payload = WorkerPayload::parse(payload)?;
    let run = Run::open(store, &payload.run_id, registry)?;
    let mut report = WorkerReport::default();
    let control = RunControl::new();
    for &shard in &payload.shards {
        if shard >= run.plan().shards {
            return Err(ContractError::Invalid(format!(
                "shard {shard} is beyond the run's {} shards",
                run.plan().shards
            ))
            .into());
        }
        if store.exists(&run.keys.cancel())? {
            report.cancelled = true;
            break;
        }
        if store.exists(&run.keys.marker(shard))? {
            report.skipped.push(shard);
            continue;
        }
        let started = StartedMarker {
            started_ms: now_ms(),
            attempt: payload.attempt,
        };
        store.put(
            &started_key(&run, shard),
            &serde_json::to_vec(&started).expect("marker serializes"),
        )?;
        run.execute_shard(store, shard, &control)?;
        report.computed.push(shard);
    }
    Ok(report)
}
