//! Where a run stands: progress aggregated from its shard markers, and its state — worked
//! out here once for every view (a handle, `sweep status`, the runs table, the cloud API).

use crate::error::{Result, SweepError};
use crate::layout::RunKeys;
use crate::run::{Manifest, ShardMarker};
use crate::store::{Store, list_shard_keys};
use serde::{Deserialize, Serialize};

/// The state of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// Shards are being computed.
    Running,
    /// Every shard has a marker.
    Complete,
    /// Stopped by a cancel request; finished shards are kept (resume finishes it).
    Cancelled,
    /// Stopped without a cancel request (an interrupted or failed execution); resumable.
    Incomplete,
    /// Stopped early because more rows failed than the spec's failure threshold allows.
    Failed,
}

impl RunState {
    /// The state's name (`running`, `complete`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Complete => "complete",
            RunState::Cancelled => "cancelled",
            RunState::Incomplete => "incomplete",
            RunState::Failed => "failed",
        }
    }
}

/// What the viewer knows about who is executing the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// Nobody known: the run is read from storage alone (listings, another process).
    Unknown,
    /// An execution started by the viewer is running.
    Running,
    /// An execution started by the viewer has ended (`cancelled` if it was cancelled).
    Ended {
        /// Whether that execution was cancelled.
        cancelled: bool,
    },
    /// A fleet that outlives any client drives the run (the cloud backend): it is running
    /// until complete or cancelled.
    Fleet,
}

impl RunStatus {
    /// The run's state, given what the viewer knows of its execution.
    pub fn state(&self, execution: Execution) -> RunState {
        if self.failed {
            return RunState::Failed;
        }
        if self.shards_done >= self.shards_total {
            return RunState::Complete;
        }
        match execution {
            Execution::Running => RunState::Running,
            Execution::Fleet if !self.cancel_requested => RunState::Running,
            Execution::Ended { cancelled: true } => RunState::Cancelled,
            _ if self.cancel_requested => RunState::Cancelled,
            _ => RunState::Incomplete,
        }
    }
}

/// The done tallies of a run: shard -> `(rows_failed, elapsed_ms)`, from key names alone
/// (a shard computed twice has two tallies with the same counts; the first is kept).
pub fn done_tallies(
    store: &dyn Store,
    manifest: &Manifest,
) -> Result<std::collections::BTreeMap<u64, (u64, u64)>> {
    let keys = RunKeys::new(
        &manifest.run_id,
        &manifest.experiment,
        manifest.plan.shard_width,
    )?;
    let listed = list_shard_keys(
        store,
        &keys.done_prefix(),
        manifest.plan.shard_width,
        manifest.plan.shards,
    )?;
    let mut done = std::collections::BTreeMap::new();
    for key in listed {
        if let Some((shard, failed, elapsed)) = crate::layout::parse_done_key(&key)
            && shard < manifest.plan.shards
        {
            done.entry(shard).or_insert((failed, elapsed));
        }
    }
    Ok(done)
}

/// Progress of the run described by `manifest`: needs no experiment registry (runs of
/// kernels this process does not know can still be listed) and reads no object bodies. The
/// shards done and their failed rows and times come from the names of the done tallies (one
/// LIST per 1,000 shards, in parallel on S3); the rows of a shard from the plan; plus one
/// request for the cancel flag. Runs written before the tallies existed are read from their
/// markers.
pub fn status_of(store: &dyn Store, manifest: &Manifest) -> Result<RunStatus> {
    let keys = RunKeys::new(
        &manifest.run_id,
        &manifest.experiment,
        manifest.plan.shard_width,
    )?;
    let stop = store.get(&keys.cancel())?;
    let mut status = RunStatus {
        shards_total: manifest.plan.shards,
        rows_total: manifest.plan.rows,
        cancel_requested: stop.is_some(),
        failed: stop.as_deref().and_then(failure_reason).is_some(),
        ..RunStatus::default()
    };
    let done = done_tallies(store, manifest)?;
    if done.is_empty() {
        return status_from_markers(store, &keys, status);
    }
    let replicates = manifest.plan.replicates;
    for (&shard, &(failed, elapsed)) in &done {
        let points = manifest.plan.shard_points(shard);
        let rows = (points.end - points.start) * replicates;
        status.shards_done += 1;
        status.rows_failed += failed;
        status.rows_ok += rows.saturating_sub(failed);
        status.compute_ms += elapsed;
    }
    if status.shards_done >= status.shards_total {
        status.finished_ms = finished_ms(store, &keys)?;
    }
    Ok(status)
}

/// The reason in a stop request written because the failure threshold was exceeded
/// (`{"failed": reason}`); `None` for a plain cancel request.
pub fn failure_reason(stop: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(stop).ok()?;
    value.get("failed")?.as_str().map(str::to_string)
}

/// When a complete run's summary says it completed (milliseconds since the epoch).
fn finished_ms(store: &dyn Store, keys: &RunKeys) -> Result<Option<u64>> {
    let Some(bytes) = store.get(&keys.summary())? else {
        return Ok(None);
    };
    let value: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    Ok(value
        .get("completed_ms")
        .and_then(serde_json::Value::as_u64))
}

/// The older way, one GET per marker: for runs without done tallies.
fn status_from_markers(
    store: &dyn Store,
    keys: &RunKeys,
    mut status: RunStatus,
) -> Result<RunStatus> {
    for key in store.list(&keys.markers_prefix())? {
        let Some(bytes) = store.get(&key)? else {
            continue;
        };
        let marker: ShardMarker = serde_json::from_slice(&bytes)
            .map_err(|e| SweepError::Corrupt(format!("{key}: {e}")))?;
        status.shards_done += 1;
        status.rows_ok += marker.rows_ok;
        status.rows_failed += marker.rows_failed;
        status.compute_ms += marker.elapsed_ms;
    }
    Ok(status)
}

/// A run's progress, aggregated from its shard markers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunStatus {
    /// Shards in the plan.
    pub shards_total: u64,
    /// Shards with a marker.
    pub shards_done: u64,
    /// Rows in the plan.
    pub rows_total: u64,
    /// Rows in results.
    pub rows_ok: u64,
    /// Rows in failures.
    pub rows_failed: u64,
    /// Sum of the shards' compute times, in milliseconds.
    pub compute_ms: u64,
    /// Whether a cancel request is present.
    pub cancel_requested: bool,
    /// Whether the run was stopped by its failure threshold (its stop request says why).
    #[serde(default)]
    pub failed: bool,
    /// When a complete run completed (milliseconds since the epoch), from its summary.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "finished_ms"
    )]
    pub finished_ms: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_worked_out_once() {
        let st = |done, cancel| RunStatus {
            shards_total: 4,
            shards_done: done,
            cancel_requested: cancel,
            ..RunStatus::default()
        };
        use Execution::*;
        assert_eq!(st(4, true).state(Running), RunState::Complete);
        assert_eq!(st(1, false).state(Running), RunState::Running);
        assert_eq!(st(1, true).state(Running), RunState::Running);
        assert_eq!(st(1, false).state(Fleet), RunState::Running);
        assert_eq!(st(1, true).state(Fleet), RunState::Cancelled);
        assert_eq!(st(1, true).state(Unknown), RunState::Cancelled);
        assert_eq!(st(1, false).state(Unknown), RunState::Incomplete);
        let ended = |cancelled| Ended { cancelled };
        assert_eq!(st(1, false).state(ended(true)), RunState::Cancelled);
        assert_eq!(st(1, false).state(ended(false)), RunState::Incomplete);
        assert_eq!(
            serde_json::to_string(&RunState::Complete).unwrap(),
            "\"complete\""
        );
    }
}
