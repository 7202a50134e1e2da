//! The one shard executor: every backend (the `local` threads, each `ray` task, each cloud
//! worker invocation) hands it a run and a list of shards, and it computes them and writes
//! their Parquet files and markers. Backends differ only in how many threads they give it and
//! in where its shard list comes from.
//!
//! A shard's data files are written before its marker, and a shard counts as done only when
//! its marker exists, so a shard interrupted anywhere is simply computed again — with the same
//! bytes, because every value is a function of `(normalized spec, point, replicate)`.

use crate::error::{Result, SweepError};
use crate::experiment::{MetricDecl, Value, ValueType};
use crate::run::{Run, ShardMarker};
use crate::seed::point_seed;
use crate::store::Store;
use crate::table::TableBuilder;
use serde::Serialize;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

/// Name of the threads that compute shards.
pub const SHARD_THREAD_NAME: &str = "sweep-shard";

/// A hook run just before a shard is computed (the cloud worker records when it started).
pub type BeforeShard<'a> = &'a (dyn Fn(&Run, u64) -> Result<()> + Sync);

/// How [`Run::execute`] runs.
#[derive(Clone, Copy)]
pub struct ExecOptions<'a> {
    /// Worker threads (at least 1; at most one per shard).
    pub threads: usize,
    /// Skip shards that already have a marker (a duplicate delivery or a retry) instead of
    /// computing them again.
    pub skip_done: bool,
    /// Called before each shard is computed.
    pub before_shard: Option<BeforeShard<'a>>,
    /// Instead of computing shards, retry the failed rows this selects of finished shards
    /// ([`Run::retry_shard`]).
    pub retry: Option<&'a RetryFilter>,
    /// Whether this execution enforces the spec's failure threshold (reading the run's
    /// status once at its start). The cloud's workers leave it to the orchestrator's status
    /// and supervisor, which read the status anyway.
    pub check_failures: bool,
}

/// Which failed rows a retry computes again: those whose `error_kind` is listed (every
/// failed row when the list is empty).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RetryFilter {
    /// The error kinds to retry; empty = all.
    pub error_kinds: Vec<String>,
    /// The retry's number (its record): each shard it has handled gets
    /// `runs/<id>/retries/<attempt>/<shard>`, so a watcher counts its progress. 0: none.
    #[serde(default)]
    pub attempt: u32,
}

impl RetryFilter {
    /// Whether a failed row of `error_kind` is retried.
    pub fn selects(&self, error_kind: &str) -> bool {
        self.error_kinds.is_empty() || self.error_kinds.iter().any(|k| k == error_kind)
    }
}

/// What a retry did to failed rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct RetryCounts {
    /// Failed rows computed again.
    pub retried: u64,
    /// Of those, rows that succeeded and moved to results.
    pub recovered: u64,
}

impl Default for ExecOptions<'_> {
    fn default() -> Self {
        ExecOptions {
            threads: 1,
            skip_done: false,
            before_shard: None,
            retry: None,
            check_failures: true,
        }
    }
}

impl ExecOptions<'_> {
    /// `threads` threads, no hook, shards computed even if they have a marker.
    pub fn threads(threads: usize) -> Self {
        ExecOptions {
            threads,
            ..ExecOptions::default()
        }
    }
}

/// What [`Run::execute`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Whether it stopped because of a cancellation.
    pub cancelled: bool,
    /// Shards completed.
    pub shards_done: u64,
    /// Result rows written.
    pub rows_ok: u64,
    /// Failure rows written.
    pub rows_failed: u64,
    /// Shards computed, in completion order.
    pub computed: Vec<u64>,
    /// Shards skipped because they already had a marker.
    pub skipped: Vec<u64>,
}

impl Run {
    /// Computes `shards` on `options.threads` worker threads, each taking the next shard in
    /// turn. Every shard number must be in the plan.
    ///
    /// Stops early (keeping finished shards) when `control` is cancelled, a cancel request is
    /// found in the store, or a storage error occurs; the first error is returned.
    pub fn execute(
        &self,
        store: &dyn Store,
        shards: &[u64],
        options: &ExecOptions<'_>,
        control: &RunControl,
    ) -> Result<RunReport> {
        if let Some(&bad) = shards.iter().find(|&&s| s >= self.plan().shards) {
            return Err(SweepError::Spec(crate::SpecError::new(
                "shards",
                format!(
                    "shard {bad} is beyond the run's {} shards",
                    self.plan().shards
                ),
            )));
        }
        // The failure threshold: failed rows so far (other executions included) plus this
        // execution's, checked after each shard. Retries only lower the count: not checked.
        let limit = self.spec.failure_limit;
        let checks_limit = limit.is_set() && options.retry.is_none() && options.check_failures;
        let failed_before = if checks_limit {
            let before = self.status(store)?.rows_failed;
            if let Some(reason) = limit.exceeded(before, self.plan().rows) {
                self.fail(store, &reason)?;
                control.cancel();
            }
            before
        } else {
            0
        };
        let over_limit = || {
            if !checks_limit {
                return Ok(());
            }
            if let Some(reason) =
                limit.exceeded(failed_before + control.rows_failed(), self.plan().rows)
            {
                self.fail(store, &reason)?;
                control.cancel();
            }
            Ok::<(), SweepError>(())
        };
        let next = AtomicU64::new(0);
        let first_error: Mutex<Option<SweepError>> = Mutex::new(None);
        let computed: Mutex<Vec<u64>> = Mutex::new(Vec::new());
        let skipped: Mutex<Vec<u64>> = Mutex::new(Vec::new());
        let stop = AtomicBool::new(false);
        let fail = |e: SweepError| {
            stop.store(true, Ordering::Relaxed);
            first_error.lock().expect("not poisoned").get_or_insert(e);
        };
        let one = |shard: u64| -> Result<()> {
            if let Some(retry) = options.retry {
                if self.retry_shard(store, shard, retry, control)?.is_some() {
                    computed.lock().expect("not poisoned").push(shard);
                }
                if retry.attempt > 0 && !control.is_cancelled() {
                    store.put(&self.keys.retried(retry.attempt, shard), b"")?;
                }
                return Ok(());
            }
            if options.skip_done && store.exists(&self.keys.marker(shard))? {
                skipped.lock().expect("not poisoned").push(shard);
                return Ok(());
            }
            // Another process of the run (a second resume) is computing it, or just did.
            let Some(_claim) = store.claim(&self.keys.claim(shard))? else {
                skipped.lock().expect("not poisoned").push(shard);
                return Ok(());
            };
            if !options.skip_done && store.exists(&self.keys.marker(shard))? {
                skipped.lock().expect("not poisoned").push(shard);
                return Ok(());
            }
            if let Some(hook) = options.before_shard {
                hook(self, shard)?;
            }
            if self.execute_shard(store, shard, control)?.is_some() {
                computed.lock().expect("not poisoned").push(shard);
                over_limit()?;
            }
            Ok(())
        };
        let threads = options.threads.clamp(1, shards.len().max(1));
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
                        // A cancel request may come from another process (`sweep cancel`,
                        // the API): look for it before starting each shard.
                        match self.stop_requested(store, options) {
                            Ok(true) => {
                                control.cancel();
                                return;
                            }
                            Ok(false) => {}
                            Err(e) => return fail(e),
                        }
                        if let Err(e) = one(shard) {
                            return fail(e);
                        }
                    }
                });
                if let Err(e) = spawned {
                    fail(SweepError::Corrupt(format!("cannot start a thread: {e}")));
                }
            }
        });
        if let Some(e) = first_error.into_inner().expect("not poisoned") {
            return Err(e);
        }
        let computed = computed.into_inner().expect("not poisoned");
        if !computed.is_empty() && !control.is_cancelled() {
            self.write_summary_if_complete(store)?;
        }
        Ok(RunReport {
            cancelled: control.is_cancelled(),
            shards_done: computed.len() as u64,
            rows_ok: control.rows_ok(),
            rows_failed: control.rows_failed(),
            computed,
            skipped: skipped.into_inner().expect("not poisoned"),
        })
    }

    /// Whether the run has a stop request this execution must obey: any for a computation;
    /// for a retry only a cancel (the failure threshold's stop request is what retries
    /// are for).
    fn stop_requested(&self, store: &dyn Store, options: &ExecOptions<'_>) -> Result<bool> {
        if options.retry.is_none() {
            return store.exists(&self.keys.cancel());
        }
        Ok(match store.get(&self.keys.cancel())? {
            Some(body) => crate::status::failure_reason(&body).is_none(),
            None => false,
        })
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
                if self.compute_row(point, replicate, &params, metrics, &mut row) {
                    ok.push_row(&row)?;
                } else {
                    failed.push_row(&row)?;
                }
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
        // The tally status counts: after the data (so it implies the shard's rows are all
        // written), before the marker that makes the shard done for resumes.
        store.put(
            &self.keys.done(shard, marker.rows_failed, marker.elapsed_ms),
            b"",
        )?;
        let bytes = serde_json::to_vec(&marker).expect("marker serializes");
        store.put(&self.keys.marker(shard), &bytes)?;
        control.record(&marker);
        Ok(Some(marker))
    }

    /// Runs the kernel for one (point, replicate) and leaves its row in `row`: a results row
    /// (returns true) or a failures row (returns false). The seed is a function of the spec,
    /// the point and the replicate only.
    fn compute_row(
        &self,
        point: u64,
        replicate: u64,
        params: &[Value],
        metrics: &[MetricDecl],
        row: &mut Vec<Value>,
    ) -> bool {
        let exp = self.spec.experiment.as_ref();
        let seed = point_seed(self.spec.seed, point, replicate as u32);
        let t0 = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| exp.run(params, seed)));
        let duration = Value::Int(t0.elapsed().as_micros() as i64);
        let error = match outcome {
            Ok(Ok(values)) => match check_metrics(&values, metrics) {
                None => {
                    row.clear();
                    row.extend([Value::Int(point as i64), Value::Int(replicate as i64)]);
                    row.extend(params.iter().cloned());
                    row.extend(values);
                    row.extend([Value::Int(seed as i64), duration]);
                    return true;
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
        false
    }

    /// Computes again the failed rows of finished shard `shard` whose `error_kind` `retry`
    /// selects, with their own seeds (a deterministic failure fails again). A row that now
    /// succeeds moves from the shard's failures file to its results file; one that fails
    /// again stays in failures with its new error. Then the done tally and the marker are
    /// rewritten with the new counts.
    ///
    /// Exactly once, also when interrupted: results are written before failures, and a failed
    /// row already present in results (moved by a retry interrupted between the two writes)
    /// is dropped from failures without being computed again. Returns `Ok(None)` (nothing
    /// written) if the shard is not finished, has nothing to retry, or `control` was
    /// cancelled part-way; else the rewritten marker and the rows retried.
    pub fn retry_shard(
        &self,
        store: &dyn Store,
        shard: u64,
        retry: &RetryFilter,
        control: &RunControl,
    ) -> Result<Option<(ShardMarker, RetryCounts)>> {
        let Some(marker_bytes) = store.get(&self.keys.marker(shard))? else {
            return Ok(None);
        };
        let old: ShardMarker = serde_json::from_slice(&marker_bytes)
            .map_err(|e| SweepError::Corrupt(format!("{}: {e}", self.keys.marker(shard))))?;
        let Some(failures_bytes) = store.get(&self.keys.failures(shard))? else {
            return Ok(None);
        };
        let started = Instant::now();
        let failures = crate::table::read_rows(&failures_bytes)?;
        let mut results = match store.get(&self.keys.results(shard))? {
            Some(bytes) => crate::table::read_rows(&bytes)?,
            None => Vec::new(),
        };
        let key = |row: &[Value]| match (row.first(), row.get(1)) {
            (Some(Value::Int(p)), Some(Value::Int(r))) => Ok((*p, *r)),
            _ => Err(SweepError::Corrupt(format!(
                "{}: a row without point and replicate",
                self.keys.failures(shard)
            ))),
        };
        let in_results: std::collections::HashSet<(i64, i64)> =
            results.iter().map(|r| key(r)).collect::<Result<_>>()?;
        let kind_column = self
            .manifest
            .tables
            .failures
            .iter()
            .position(|c| c.name == "error_kind")
            .ok_or_else(|| SweepError::Corrupt("failures table has no error_kind".into()))?;
        let metrics = self.spec.experiment.metrics();
        let mut kept: Vec<Vec<Value>> = Vec::new();
        let mut counts = RetryCounts::default();
        let mut row: Vec<Value> = Vec::new();
        let mut changed = false;
        for failure in failures {
            let (point, replicate) = key(&failure)?;
            if in_results.contains(&(point, replicate)) {
                changed = true; // moved by an interrupted retry: drop the stale failure
                continue;
            }
            let kind = match failure.get(kind_column) {
                Some(Value::Str(k)) => k.as_ref(),
                _ => "",
            };
            if !retry.selects(kind) {
                kept.push(failure);
                continue;
            }
            if control.is_cancelled() {
                return Ok(None);
            }
            changed = true;
            counts.retried += 1;
            let params = self.spec.decode(point as u64);
            if self.compute_row(point as u64, replicate as u64, &params, metrics, &mut row) {
                counts.recovered += 1;
                results.push(row.clone());
            } else {
                kept.push(row.clone());
            }
        }
        if !changed {
            return Ok(None);
        }
        let order = |a: &Vec<Value>, b: &Vec<Value>| {
            let (ka, kb) = (key(a).unwrap_or_default(), key(b).unwrap_or_default());
            ka.cmp(&kb)
        };
        results.sort_by(order);
        kept.sort_by(order);
        let mut ok = TableBuilder::new(self.manifest.tables.results.clone());
        for r in &results {
            ok.push_row(r)?;
        }
        let mut failed = TableBuilder::new(self.manifest.tables.failures.clone());
        for r in &kept {
            failed.push_row(r)?;
        }
        let marker = ShardMarker {
            rows_ok: ok.rows() as u64,
            rows_failed: failed.rows() as u64,
            elapsed_ms: old.elapsed_ms + started.elapsed().as_millis() as u64,
            ..old
        };
        if ok.rows() > 0 {
            store.put(&self.keys.results(shard), &ok.to_parquet()?)?;
        }
        if failed.rows() > 0 {
            store.put(&self.keys.failures(shard), &failed.to_parquet()?)?;
        } else {
            store.delete(&self.keys.failures(shard))?;
        }
        // The new tally before the old one goes, so status always finds the shard done.
        let tally = self.keys.done(shard, marker.rows_failed, marker.elapsed_ms);
        store.put(&tally, b"")?;
        for key in store.list(&self.keys.done_prefix())? {
            if key != tally && crate::layout::parse_done_key(&key).map(|t| t.0) == Some(shard) {
                store.delete(&key)?;
            }
        }
        let bytes = serde_json::to_vec(&marker).expect("marker serializes");
        store.put(&self.keys.marker(shard), &bytes)?;
        control.record_retry(&counts);
        Ok(Some((marker, counts)))
    }

    /// Records every (point, replicate) of shard `shard` as failed with `error_kind` and
    /// `message`, without running the kernel: for a shard whose every invocation was lost
    /// (the cloud's on-failure queue). Written like a computed shard — failures, done tally,
    /// marker — so the run completes and "every row exactly once" holds; a later retry of
    /// the failures recomputes them with the same seeds. Returns `None`, writing nothing, if
    /// the shard already has a marker.
    pub fn record_lost_shard(
        &self,
        store: &dyn Store,
        shard: u64,
        error_kind: &str,
        message: &str,
    ) -> Result<Option<ShardMarker>> {
        if store.exists(&self.keys.marker(shard))? {
            return Ok(None);
        }
        let points = self.plan().shard_points(shard);
        let mut failed = TableBuilder::new(self.manifest.tables.failures.clone());
        let mut row: Vec<Value> = Vec::new();
        for point in points.clone() {
            let params = self.spec.decode(point);
            for replicate in 0..self.spec.replicates {
                let seed = point_seed(self.spec.seed, point, replicate as u32);
                row.clear();
                row.extend([Value::Int(point as i64), Value::Int(replicate as i64)]);
                row.extend(params.iter().cloned());
                row.extend([
                    Value::Int(seed as i64),
                    Value::Str(error_kind.to_string().into()),
                    Value::Str(message.to_string().into()),
                    Value::Int(0),
                ]);
                failed.push_row(&row)?;
            }
        }
        let marker = ShardMarker {
            shard,
            first_point: points.start,
            end_point: points.end,
            rows_ok: 0,
            rows_failed: failed.rows() as u64,
            elapsed_ms: 0,
        };
        if failed.rows() > 0 {
            store.put(&self.keys.failures(shard), &failed.to_parquet()?)?;
        }
        store.put(&self.keys.done(shard, marker.rows_failed, 0), b"")?;
        let bytes = serde_json::to_vec(&marker).expect("marker serializes");
        store.put(&self.keys.marker(shard), &bytes)?;
        Ok(Some(marker))
    }
}

/// Checks a kernel's output against its declarations: `Some((error_kind, message))` if the
/// row must go to the failures table instead.
fn check_metrics(values: &[Value], metrics: &[MetricDecl]) -> Option<(&'static str, String)> {
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

    /// Counts a retried shard: rows recovered as ok, rows that failed again as failed.
    fn record_retry(&self, counts: &RetryCounts) {
        self.rows_ok.fetch_add(counts.recovered, Ordering::Relaxed);
        self.rows_failed
            .fetch_add(counts.retried - counts.recovered, Ordering::Relaxed);
        self.shards_done.fetch_add(1, Ordering::Relaxed);
    }
}
