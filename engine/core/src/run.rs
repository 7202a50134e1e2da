//! Runs: the manifest that fixes a run's content, the plan that cuts it into shards, and the
//! runner that computes shards and writes their outcomes.
//!
//! A shard's data files are written before its marker, and a shard counts as done only when
//! its marker exists, so a shard interrupted anywhere is simply computed again — with the same
//! bytes, because every value is a function of `(normalized spec, point, replicate)`.

use crate::error::{Result, SweepError};
use crate::experiment::{Registry, Value};
use crate::layout::{RunKeys, shard_width};
use crate::seed::point_seed;
use crate::spec::{Limits, Spec};
use crate::store::Store;
use crate::table::{Column, TableBuilder, failures_columns, results_columns};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Name of the threads that compute shards.
pub const SHARD_THREAD_NAME: &str = "sweep-shard";

/// Version of the manifest and marker formats.
pub const LAYOUT_FORMAT: u32 = 1;

/// The engine version recorded in manifests and markers.
pub const ENGINE_VERSION: &str = env!("CARGO_PKG_VERSION");

/// How a run is cut into shards of contiguous point ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// Number of points.
    pub points: u64,
    /// Replicates per point.
    pub replicates: u64,
    /// Rows: points × replicates.
    pub rows: u64,
    /// Points per shard (the last shard may hold fewer).
    pub shard_size: u64,
    /// Number of shards.
    pub shards: u64,
    /// Digits in zero-padded shard numbers.
    pub shard_width: usize,
}

impl Plan {
    /// The plan of `spec`. Constant time and memory whatever the number of points.
    pub fn for_spec(spec: &Spec) -> Plan {
        let points = spec.points();
        let shards = points.div_ceil(spec.shard_size);
        Plan {
            points,
            replicates: spec.replicates,
            rows: spec.rows(),
            shard_size: spec.shard_size,
            shards,
            shard_width: shard_width(shards),
        }
    }

    /// The points of shard `shard` (`< shards`).
    pub fn shard_points(&self, shard: u64) -> Range<u64> {
        let start = shard * self.shard_size;
        start..(start + self.shard_size).min(self.points)
    }
}

/// Column schemas of a run's two tables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tables {
    /// Columns of the results table.
    pub results: Vec<Column>,
    /// Columns of the failures table.
    pub failures: Vec<Column>,
}

/// `runs/<run_id>/manifest.json`: written once, before any shard runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout format version.
    pub format: u32,
    /// The run id.
    pub run_id: String,
    /// Experiment name (also in the spec; here for listing without parsing it).
    pub experiment: String,
    /// The spec's name label.
    pub name: String,
    /// RFC 3339 UTC creation time.
    pub created_at: String,
    /// SHA-256 of the canonical normalized spec.
    pub spec_hash: String,
    /// The normalized spec.
    pub spec: serde_json::Value,
    /// How the run is sharded.
    pub plan: Plan,
    /// Table schemas.
    pub tables: Tables,
    /// Engine version that created the run.
    pub engine_version: String,
}

/// `runs/<run_id>/shards/<shard>.json`: written after the shard's data files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardMarker {
    /// Shard number.
    pub shard: u64,
    /// First point of the shard.
    pub first_point: u64,
    /// One past the last point.
    pub end_point: u64,
    /// Rows written to results.
    pub rows_ok: u64,
    /// Rows written to failures.
    pub rows_failed: u64,
    /// Wall time the shard took to compute, in milliseconds.
    pub elapsed_ms: u64,
}

/// A run opened from its manifest.
#[derive(Clone)]
pub struct Run {
    /// The manifest as stored.
    pub manifest: Manifest,
    /// The spec, re-validated from the manifest.
    pub spec: Spec,
    /// Object keys of the run.
    pub keys: RunKeys,
}

impl Run {
    /// Creates run `run_id` for `spec`: writes its manifest. Fails if the id is taken.
    pub fn create(store: &dyn Store, spec: Spec, run_id: &str, created_at: &str) -> Result<Run> {
        let plan = Plan::for_spec(&spec);
        let keys = RunKeys::new(run_id, spec.experiment.name(), plan.shard_width)?;
        let manifest = Manifest {
            format: LAYOUT_FORMAT,
            run_id: run_id.to_string(),
            experiment: spec.experiment.name().to_string(),
            name: spec.name.clone(),
            created_at: created_at.to_string(),
            spec_hash: spec.content_hash(),
            spec: spec.normalized(),
            plan,
            tables: Tables {
                results: results_columns(spec.experiment.as_ref()),
                failures: failures_columns(spec.experiment.as_ref()),
            },
            engine_version: ENGINE_VERSION.to_string(),
        };
        let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
        if !store.put_if_absent(&keys.manifest(), &bytes)? {
            return Err(SweepError::Corrupt(format!("run {run_id} already exists")));
        }
        Ok(Run {
            manifest,
            spec,
            keys,
        })
    }

    /// Opens run `run_id` from its manifest.
    pub fn open(store: &dyn Store, run_id: &str, registry: &Registry) -> Result<Run> {
        crate::layout::validate_run_id(run_id)?;
        let key = crate::layout::manifest_key(run_id);
        let bytes = store
            .get(&key)?
            .ok_or_else(|| SweepError::NotFound(format!("run {run_id}")))?;
        let manifest: Manifest = serde_json::from_slice(&bytes)
            .map_err(|e| SweepError::Corrupt(format!("{key}: {e}")))?;
        if manifest.format != LAYOUT_FORMAT {
            return Err(SweepError::Corrupt(format!(
                "{key}: layout format {} is not {LAYOUT_FORMAT}",
                manifest.format
            )));
        }
        // The manifest's spec already passed the limits in force when it was created.
        let limits = Limits {
            max_rows: u64::MAX,
            ..Limits::default()
        };
        let spec = Spec::from_json(&manifest.spec, registry, &limits)
            .map_err(|e| SweepError::Corrupt(format!("{key}: {e}")))?;
        if Plan::for_spec(&spec) != manifest.plan {
            return Err(SweepError::Corrupt(format!(
                "{key}: plan does not match spec"
            )));
        }
        let keys = RunKeys::new(run_id, &manifest.experiment, manifest.plan.shard_width)?;
        Ok(Run {
            manifest,
            spec,
            keys,
        })
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.manifest.plan
    }

    /// Shards that have a marker.
    pub fn done_shards(&self, store: &dyn Store) -> Result<Vec<u64>> {
        let prefix = self.keys.markers_prefix();
        Ok(store
            .list(&prefix)?
            .iter()
            .filter_map(|k| k.strip_prefix(&prefix)?.strip_suffix(".json")?.parse().ok())
            .collect())
    }

    /// Progress read from the shard markers (and the cancel request, if any).
    pub fn status(&self, store: &dyn Store) -> Result<RunStatus> {
        status_of(store, &self.manifest)
    }

    /// Asks every process running this run to stop before its next shard.
    pub fn request_cancel(&self, store: &dyn Store) -> Result<()> {
        store.put(&self.keys.cancel(), b"cancel requested\n")
    }

    /// Withdraws a cancel request (before a resume).
    pub fn clear_cancel(&self, store: &dyn Store) -> Result<()> {
        store.delete(&self.keys.cancel())
    }

    /// Shards without a marker, in order.
    pub fn pending_shards(&self, store: &dyn Store) -> Result<Vec<u64>> {
        let done: std::collections::HashSet<u64> = self.done_shards(store)?.into_iter().collect();
        Ok((0..self.plan().shards)
            .filter(|s| !done.contains(s))
            .collect())
    }

    /// Computes shard `shard` and writes its results, failures and marker.
    ///
    /// Returns `Ok(None)` if `control` was cancelled part-way; nothing is then written.
    pub fn execute_shard(
        &self,
        store: &dyn Store,
        shard: u64,
        control: &RunControl,
    ) -> Result<Option<ShardMarker>> {
        let started = Instant::now();
        let exp = self.spec.experiment.as_ref();
        let metrics = exp.metrics();
        let points = self.plan().shard_points(shard);
        let mut ok = TableBuilder::new(self.manifest.tables.results.clone());
        let mut failed = TableBuilder::new(self.manifest.tables.failures.clone());
        let mut row: Vec<Value> = Vec::new();
        for point in points.clone() {
            let params = self.spec.decode(point);
            for replicate in 0..self.spec.replicates {
                if control.is_cancelled() {
                    return Ok(None);
                }
                let seed = point_seed(self.spec.seed, point, replicate as u32);
                let t0 = Instant::now();
                let outcome = catch_unwind(AssertUnwindSafe(|| exp.run(&params, seed)));
                let duration = Value::Int(t0.elapsed().as_micros() as i64);
                let error = match outcome {
                    Ok(Ok(values)) => match check_metrics(&values, metrics) {
                        None => {
                            row.clear();
                            row.extend([Value::Int(point as i64), Value::Int(replicate as i64)]);
                            row.extend(params.iter().cloned());
                            row.extend(values);
                            row.extend([Value::Int(seed as i64), duration]);
                            ok.push_row(&row)?;
                            continue;
                        }
                        Some((kind, message)) => (kind.to_string(), message),
                    },
                    Ok(Err(e)) => (e.kind, e.message),
                    Err(panic) => ("panic".to_string(), panic_message(panic.as_ref())),
                };
                row.clear();
                row.extend([Value::Int(point as i64), Value::Int(replicate as i64)]);
                row.extend(params.iter().cloned());
                row.extend([
                    Value::Int(seed as i64),
                    Value::Str(error.0.into()),
                    Value::Str(error.1.into()),
                    Value::Int(t0.elapsed().as_micros() as i64),
                ]);
                failed.push_row(&row)?;
            }
        }
        let marker = ShardMarker {
            shard,
            first_point: points.start,
            end_point: points.end,
            rows_ok: ok.rows() as u64,
            rows_failed: failed.rows() as u64,
            elapsed_ms: started.elapsed().as_millis() as u64,
        };
        if ok.rows() > 0 {
            store.put(&self.keys.results(shard), &ok.to_parquet()?)?;
        }
        if failed.rows() > 0 {
            store.put(&self.keys.failures(shard), &failed.to_parquet()?)?;
        }
        let bytes = serde_json::to_vec(&marker).expect("marker serializes");
        store.put(&self.keys.marker(shard), &bytes)?;
        control.record(&marker);
        Ok(Some(marker))
    }

    /// Computes `shards` on `threads` worker threads, each taking the next shard in turn.
    ///
    /// Stops early (keeping finished shards) when `control` is cancelled or a storage error
    /// occurs; the first error is returned.
    pub fn execute_shards(
        &self,
        store: &dyn Store,
        shards: &[u64],
        threads: usize,
        control: &RunControl,
    ) -> Result<RunReport> {
        let next = AtomicU64::new(0);
        let first_error: Mutex<Option<SweepError>> = Mutex::new(None);
        let stop = AtomicBool::new(false);
        let threads = threads.clamp(1, shards.len().max(1));
        std::thread::scope(|scope| {
            for _ in 0..threads {
                // Named, so a host can recognise kernel panics on these threads (they are
                // caught and recorded as failures) and keep them off stderr.
                let builder = std::thread::Builder::new().name(SHARD_THREAD_NAME.to_string());
                let spawned = builder.spawn_scoped(scope, || {
                    loop {
                        if stop.load(Ordering::Relaxed) || control.is_cancelled() {
                            return;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                        let Some(&shard) = shards.get(i) else { return };
                        // A cancel request may come from another process (`sweep cancel`):
                        // look for it before starting each shard.
                        match store.exists(&self.keys.cancel()) {
                            Ok(true) => {
                                control.cancel();
                                return;
                            }
                            Ok(false) => {}
                            Err(e) => {
                                stop.store(true, Ordering::Relaxed);
                                first_error.lock().expect("not poisoned").get_or_insert(e);
                                return;
                            }
                        }
                        if let Err(e) = self.execute_shard(store, shard, control) {
                            stop.store(true, Ordering::Relaxed);
                            first_error.lock().expect("not poisoned").get_or_insert(e);
                            return;
                        }
                    }
                });
                if let Err(e) = spawned {
                    first_error
                        .lock()
                        .expect("not poisoned")
                        .get_or_insert(SweepError::Corrupt(format!("cannot start a thread: {e}")));
                }
            }
        });
        if let Some(e) = first_error.into_inner().expect("not poisoned") {
            return Err(e);
        }
        Ok(RunReport {
            cancelled: control.is_cancelled(),
            shards_done: control.shards_done(),
            rows_ok: control.rows_ok(),
            rows_failed: control.rows_failed(),
        })
    }
}

/// Checks a kernel's output against its declarations: `Some((error_kind, message))` if the
/// row must go to the failures table instead.
fn check_metrics(
    values: &[Value],
    metrics: &[crate::experiment::MetricDecl],
) -> Option<(&'static str, String)> {
    use crate::experiment::ValueType;
    if values.len() != metrics.len() {
        return Some((
            "kernel_contract",
            format!(
                "kernel returned {} metrics, declared {}",
                values.len(),
                metrics.len()
            ),
        ));
    }
    for (v, m) in values.iter().zip(metrics) {
        let fits = matches!(
            (m.ty, v),
            (ValueType::Float, Value::Float(_) | Value::Int(_))
                | (ValueType::Int, Value::Int(_))
                | (ValueType::Bool, Value::Bool(_))
                | (ValueType::Str, Value::Str(_))
        );
        if !fits {
            return Some((
                "kernel_contract",
                format!("metric {} has the wrong type: {v}", m.name),
            ));
        }
        if let Value::Float(x) = v
            && !x.is_finite()
        {
            return Some(("non_finite", format!("metric {} is {x}", m.name)));
        }
    }
    None
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        format!("kernel panicked: {s}")
    } else if let Some(s) = panic.downcast_ref::<String>() {
        format!("kernel panicked: {s}")
    } else {
        "kernel panicked".to_string()
    }
}

/// Shared between a running run and whoever watches it: cancellation and live counters.
#[derive(Debug, Default)]
pub struct RunControl {
    cancelled: AtomicBool,
    shards_done: AtomicU64,
    rows_ok: AtomicU64,
    rows_failed: AtomicU64,
}

impl RunControl {
    /// A fresh control: not cancelled, counters at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the run to stop: no new point starts; shards in progress are abandoned unwritten.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Relaxed);
    }

    /// Whether cancellation was asked for.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    /// Shards completed since this control was created.
    pub fn shards_done(&self) -> u64 {
        self.shards_done.load(Ordering::Relaxed)
    }

    /// Result rows written since this control was created.
    pub fn rows_ok(&self) -> u64 {
        self.rows_ok.load(Ordering::Relaxed)
    }

    /// Failure rows written since this control was created.
    pub fn rows_failed(&self) -> u64 {
        self.rows_failed.load(Ordering::Relaxed)
    }

    fn record(&self, marker: &ShardMarker) {
        self.rows_ok.fetch_add(marker.rows_ok, Ordering::Relaxed);
        self.rows_failed
            .fetch_add(marker.rows_failed, Ordering::Relaxed);
        self.shards_done.fetch_add(1, Ordering::Relaxed);
    }
}

/// Progress of the run described by `manifest`, from its markers alone: needs no experiment
/// registry, so runs of kernels this process does not know can still be listed.
pub fn status_of(store: &dyn Store, manifest: &Manifest) -> Result<RunStatus> {
    let keys = RunKeys::new(
        &manifest.run_id,
        &manifest.experiment,
        manifest.plan.shard_width,
    )?;
    let prefix = keys.markers_prefix();
    let mut status = RunStatus {
        shards_total: manifest.plan.shards,
        rows_total: manifest.plan.rows,
        cancel_requested: store.exists(&keys.cancel())?,
        ..RunStatus::default()
    };
    for key in store.list(&prefix)? {
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
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
}

/// What [`Run::execute_shards`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Whether it stopped because of a cancellation.
    pub cancelled: bool,
    /// Shards completed.
    pub shards_done: u64,
    /// Result rows written.
    pub rows_ok: u64,
    /// Failure rows written.
    pub rows_failed: u64,
}
