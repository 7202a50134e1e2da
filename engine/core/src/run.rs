//! Runs: the manifest that fixes a run's content, the plan that cuts it into shards, and the
//! runner that computes shards and writes their outcomes.
//!
//! A shard's data files are written before its marker, and a shard counts as done only when
//! its marker exists, so a shard interrupted anywhere is simply computed again — with the same
//! bytes, because every value is a function of `(normalized spec, point, replicate)`.

use crate::error::{Result, SweepError};
use crate::experiment::{Experiment, KernelBuild, Registry};
use crate::layout::{RunKeys, shard_width};
use crate::spec::{Limits, Spec};
use crate::status::RunStatus;
use crate::store::Store;
use crate::table::{Column, failures_columns, results_columns};
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::sync::Arc;

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

/// Supplies kernel libraries a process has not loaded, by build (e.g. from `kernels/` in the
/// store, in the cloud).
pub trait KernelResolver: Sync {
    /// The experiment `name` built as `build`; an error if it cannot be had or checked.
    fn resolve(&self, name: &str, build: &KernelBuild) -> Result<Arc<dyn Experiment>>;
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
    /// The kernel library the run computes with, when the experiment was loaded at run time
    /// (its SHA-256 is also pinned in the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<crate::experiment::KernelBuild>,
    /// How `shard_size: "auto"` was resolved (the measurement and the rule), if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard_choice: Option<String>,
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

/// A run known by its manifest alone: enough to list it, follow its progress, cancel it and
/// find its pending shards, without the experiment (a process that has not loaded a run's
/// kernel can still do all of that).
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The manifest as stored.
    pub manifest: Manifest,
    /// Object keys of the run.
    pub keys: RunKeys,
}

/// A run opened to compute: its manifest and its spec, re-validated against the experiment.
#[derive(Clone)]
pub struct Run {
    /// The manifest and keys.
    pub info: RunInfo,
    /// The spec, re-validated from the manifest.
    pub spec: Spec,
}

impl std::ops::Deref for Run {
    type Target = RunInfo;

    fn deref(&self) -> &RunInfo {
        &self.info
    }
}

impl RunInfo {
    /// Reads run `run_id`'s manifest.
    pub fn open(store: &dyn Store, run_id: &str) -> Result<RunInfo> {
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
        let keys = RunKeys::new(run_id, &manifest.experiment, manifest.plan.shard_width)?;
        Ok(RunInfo { manifest, keys })
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
            .filter_map(|k| crate::layout::shard_of_file(k.strip_prefix(&prefix)?))
            .collect())
    }

    /// Progress read from the shard markers (and the cancel request, if any).
    pub fn status(&self, store: &dyn Store) -> Result<RunStatus> {
        crate::status::status_of(store, &self.manifest)
    }

    /// Asks every process running this run to stop before its next shard.
    pub fn request_cancel(&self, store: &dyn Store) -> Result<()> {
        store.put(&self.keys.cancel(), b"cancel requested\n")
    }

    /// Stops the run because its failure threshold was exceeded: a stop request that says
    /// why (`{"failed": reason}`), seen by every process running it like a cancel. A cancel
    /// already requested is kept as it is.
    pub fn fail(&self, store: &dyn Store, reason: &str) -> Result<()> {
        let body = serde_json::json!({ "failed": reason });
        store.put_if_absent(&self.keys.cancel(), body.to_string().as_bytes())?;
        Ok(())
    }

    /// Why the run was stopped by its failure threshold, if it was.
    pub fn failure_reason(&self, store: &dyn Store) -> Result<Option<String>> {
        Ok(store
            .get(&self.keys.cancel())?
            .as_deref()
            .and_then(crate::status::failure_reason))
    }

    /// Writes `runs/<id>/summary.json` (once) if every shard is done: the final status and
    /// when it completed, which later status calls report the run's duration from.
    pub fn write_summary_if_complete(&self, store: &dyn Store) -> Result<bool> {
        let status = self.status(store)?;
        if status.shards_done < status.shards_total {
            return Ok(false);
        }
        let completed_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut summary = serde_json::to_value(status).expect("status serializes");
        summary["run_id"] = serde_json::Value::from(self.manifest.run_id.clone());
        summary["completed_ms"] = serde_json::Value::from(completed_ms);
        let bytes = serde_json::to_vec_pretty(&summary).expect("summary serializes");
        store.put_if_absent(&self.keys.summary(), &bytes)
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

    /// Shards with a failures file, in order (one LIST per 1,000 keys).
    pub fn failed_shards(&self, store: &dyn Store) -> Result<Vec<u64>> {
        let prefix = self.keys.failures_prefix();
        let mut shards: Vec<u64> = store
            .list(&prefix)?
            .iter()
            .filter_map(|k| crate::layout::shard_of_file(k.strip_prefix(&prefix)?))
            .collect();
        shards.sort_unstable();
        shards.dedup();
        Ok(shards)
    }

    /// The run's retries of failed rows, oldest first.
    pub fn retries(&self, store: &dyn Store) -> Result<Vec<RetryRecord>> {
        let mut keys: Vec<String> = store
            .list(&self.keys.retries_prefix())?
            .into_iter()
            .filter(|k| k.ends_with(".json"))
            .collect();
        keys.sort();
        let mut records = Vec::new();
        for key in keys {
            if let Some(bytes) = store.get(&key)? {
                records.push(
                    serde_json::from_slice(&bytes)
                        .map_err(|e| SweepError::Corrupt(format!("{key}: {e}")))?,
                );
            }
        }
        Ok(records)
    }

    /// Records the start of a retry of the failed rows `filter` selects, over `shards`
    /// shards, as the run's next attempt (numbered from 1; two retries started at once get
    /// different numbers).
    pub fn begin_retry(
        &self,
        store: &dyn Store,
        filter: &crate::executor::RetryFilter,
        shards: u64,
        started_at: &str,
    ) -> Result<RetryRecord> {
        let mut attempt = self.retries(store)?.len() as u32 + 1;
        loop {
            let record = RetryRecord {
                attempt,
                error_kinds: filter.error_kinds.clone(),
                shards,
                started_at: started_at.to_string(),
                finished_at: None,
                rows_retried: None,
                rows_recovered: None,
            };
            let bytes = serde_json::to_vec_pretty(&record).expect("record serializes");
            if store.put_if_absent(&self.keys.retry(attempt), &bytes)? {
                return Ok(record);
            }
            attempt += 1;
        }
    }

    /// Records how retry `record` ended.
    pub fn finish_retry(
        &self,
        store: &dyn Store,
        mut record: RetryRecord,
        counts: crate::executor::RetryCounts,
        finished_at: &str,
    ) -> Result<RetryRecord> {
        record.finished_at = Some(finished_at.to_string());
        record.rows_retried = Some(counts.retried);
        record.rows_recovered = Some(counts.recovered);
        let bytes = serde_json::to_vec_pretty(&record).expect("record serializes");
        store.put(&self.keys.retry(record.attempt), &bytes)?;
        Ok(record)
    }
}

/// `runs/<run_id>/retries/<attempt>.json`: one retry of a run's failed rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryRecord {
    /// 1 for the first retry of the run, then 2, ...
    pub attempt: u32,
    /// The error kinds retried (empty: every failed row).
    pub error_kinds: Vec<String>,
    /// Shards with failed rows when the retry began.
    pub shards: u64,
    /// When it began (RFC 3339).
    pub started_at: String,
    /// When it ended; absent while it runs or if it was interrupted.
    pub finished_at: Option<String>,
    /// Failed rows computed again.
    pub rows_retried: Option<u64>,
    /// Of those, rows that succeeded and moved to results.
    pub rows_recovered: Option<u64>,
}

impl Run {
    /// Creates run `run_id` for `spec`: writes its manifest. Fails if the id is taken.
    pub fn create(store: &dyn Store, spec: Spec, run_id: &str, created_at: &str) -> Result<Run> {
        Self::create_planned(store, spec, run_id, created_at, None)
    }

    /// [`Run::create`], first resolving `shard_size: "auto"` for `target` (the reason goes in
    /// the manifest).
    pub fn create_planned(
        store: &dyn Store,
        mut spec: Spec,
        run_id: &str,
        created_at: &str,
        target: Option<&crate::spec::ShardTarget>,
    ) -> Result<Run> {
        let shard_choice =
            target.and_then(|t| spec.choose_shard_size(t, Limits::default().max_shard_size));
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
            kernel: spec.experiment.build().cloned(),
            shard_choice,
        };
        let bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serializes");
        if !store.put_if_absent(&keys.manifest(), &bytes)? {
            return Err(SweepError::Corrupt(format!("run {run_id} already exists")));
        }
        Ok(Run {
            info: RunInfo { manifest, keys },
            spec,
        })
    }

    /// Opens run `run_id` from its manifest.
    pub fn open(store: &dyn Store, run_id: &str, registry: &Registry) -> Result<Run> {
        Self::open_with(store, run_id, registry, None)
    }

    /// Opens run `run_id`; when the run was made with a kernel library this process has not
    /// loaded (or has another build of), `kernels` supplies the run's build.
    pub fn open_with(
        store: &dyn Store,
        run_id: &str,
        registry: &Registry,
        kernels: Option<&dyn KernelResolver>,
    ) -> Result<Run> {
        let RunInfo { manifest, keys } = RunInfo::open(store, run_id)?;
        let key = crate::layout::manifest_key(run_id);
        let resolved;
        let registry = match (&manifest.kernel, kernels) {
            (Some(build), Some(kernels))
                if registry
                    .get(&manifest.experiment)
                    .and_then(|e| e.build())
                    .is_none_or(|b| b.sha256 != build.sha256) =>
            {
                let mut with_kernel = registry.clone();
                with_kernel
                    .upsert(kernels.resolve(&manifest.experiment, build)?)
                    .map_err(|e| SweepError::Corrupt(format!("{key}: {e}")))?;
                resolved = with_kernel;
                &resolved
            }
            _ => registry,
        };
        // The manifest's spec already passed the limits in force when it was created.
        let limits = Limits {
            max_rows: u64::MAX,
            ..Limits::default()
        };
        let spec = Spec::from_json(&manifest.spec, registry, &limits).map_err(|e| {
            if let (Some(build), "experiment") = (&manifest.kernel, e.path.as_str()) {
                // A loaded kernel this process does not have.
                SweepError::Spec(crate::SpecError::new(
                    "experiment",
                    format!(
                        "run {run_id} was made with kernel {} (build {}, from {}), which is \
                         not loaded: load it first (sm.load_kernel, --kernel or SWEEP_KERNELS)",
                        manifest.experiment,
                        &build.sha256[..12.min(build.sha256.len())],
                        build.origin
                    ),
                ))
            } else if e.path == "kernel_sha256" || e.path == "experiment" {
                // Not corrupt data: this process has another build of the kernel, or none.
                SweepError::Spec(crate::SpecError::new(
                    e.path.clone(),
                    format!("run {run_id}: {}", e.message),
                ))
            } else {
                SweepError::Corrupt(format!("{key}: {e}"))
            }
        })?;
        if Plan::for_spec(&spec) != manifest.plan {
            return Err(SweepError::Corrupt(format!(
                "{key}: plan does not match spec"
            )));
        }
        Ok(Run {
            info: RunInfo { manifest, keys },
            spec,
        })
    }
}
