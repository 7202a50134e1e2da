//! Retrying failed rows: a row that now succeeds moves from failures to results with the
//! same seed, a deterministic failure fails again, counts and tallies follow, and a retry
//! interrupted between its two writes leaves nothing twice.

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use sweep_core::{
    Bounds, ExecOptions, Experiment, KernelError, Limits, MemoryStore, MetricDecl, ParamDecl,
    Registry, RetryCounts, RetryFilter, Run, RunControl, Spec, SpecFormat, Store, Value, ValueType,
    rng::Rng,
};

/// Fails every row with `transient` while set (a throttled dependency), and rows with a
/// negative `x` always (`negative`).
static OUTAGE: AtomicBool = AtomicBool::new(false);

struct Flaky;

const PARAMS: &[ParamDecl] = &[ParamDecl {
    name: "x",
    ty: ValueType::Float,
    default: None,
    bounds: Bounds::closed(-10.0, 10.0),
    choices: &[],
    unit: "",
    description: "input",
}];
const METRICS: &[MetricDecl] = &[MetricDecl {
    name: "y",
    ty: ValueType::Float,
    unit: "",
    description: "output",
}];

impl Experiment for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    fn description(&self) -> &'static str {
        "fails while an outage lasts"
    }
    fn params(&self) -> &[ParamDecl] {
        PARAMS
    }
    fn metrics(&self) -> &[MetricDecl] {
        METRICS
    }
    fn run(&self, p: &[Value], seed: u64) -> Result<Vec<Value>, KernelError> {
        let x = p[0].as_f64().unwrap();
        if x < 0.0 {
            return Err(KernelError::new("negative", format!("x = {x}")));
        }
        if OUTAGE.load(Ordering::SeqCst) {
            return Err(KernelError::new("transient", "dependency throttled"));
        }
        Ok(vec![Value::Float(x + Rng::new(seed).uniform())])
    }
}

fn new_run(store: &MemoryStore, id: &str) -> Run {
    let mut registry = Registry::new();
    registry.register(Arc::new(Flaky));
    let text = "experiment: flaky\nseed: 5\nreplicates: 2\nshard_size: 2\nparams:\n  x: [-1, 1, 2, 3, 4]\n";
    let spec = Spec::parse(text, SpecFormat::Yaml, &registry, &Limits::default()).unwrap();
    Run::create(store, spec, id, "2026-12-03T00:00:00Z").unwrap()
}

/// (point, replicate) -> the row without its timing column, from every file under `prefix`.
fn rows(store: &MemoryStore, prefix: &str) -> BTreeMap<(i64, i64), String> {
    let mut out = BTreeMap::new();
    for key in store.list(prefix).unwrap() {
        let bytes = store.get(&key).unwrap().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            let (mut point, mut rep, mut text) = (0, 0, String::new());
            for (name, field) in row.get_column_iter() {
                match (name.as_str(), field) {
                    ("point", Field::Long(p)) => point = *p,
                    ("replicate", Field::Long(r)) => rep = *r,
                    ("duration_us", _) => continue,
                    _ => {}
                }
                text += &format!("{name}={field} ");
            }
            assert!(
                out.insert((point, rep), text).is_none(),
                "row {point}/{rep} twice"
            );
        }
    }
    out
}

fn retry(run: &Run, store: &MemoryStore, kinds: &[&str]) -> RetryCounts {
    let filter = RetryFilter {
        error_kinds: kinds.iter().map(|k| k.to_string()).collect(),
        attempt: 0,
    };
    let shards = run.failed_shards(store).unwrap();
    let record = run
        .begin_retry(store, &filter, shards.len() as u64, "t")
        .unwrap();
    let control = RunControl::new();
    let options = ExecOptions {
        threads: 2,
        retry: Some(&filter),
        ..ExecOptions::default()
    };
    run.execute(store, &shards, &options, &control).unwrap();
    let counts = RetryCounts {
        retried: control.rows_ok() + control.rows_failed(),
        recovered: control.rows_ok(),
    };
    run.finish_retry(store, record, counts, "t2").unwrap();
    counts
}

#[test]
fn failed_rows_are_retried_into_the_same_run_exactly_once() {
    // The reference: the same spec with no outage.
    let clean_store = MemoryStore::new();
    let clean = new_run(&clean_store, "clean");
    clean
        .execute(
            &clean_store,
            &[0, 1, 2],
            &ExecOptions::threads(1),
            &RunControl::new(),
        )
        .unwrap();
    let clean_ok = rows(&clean_store, &clean.keys.results_prefix());
    assert_eq!(clean_ok.len(), 8);

    // During an outage every row fails.
    let store = MemoryStore::new();
    let run = new_run(&store, "r1");
    OUTAGE.store(true, Ordering::SeqCst);
    run.execute(
        &store,
        &[0, 1, 2],
        &ExecOptions::threads(1),
        &RunControl::new(),
    )
    .unwrap();
    let status = run.status(&store).unwrap();
    assert_eq!((status.rows_ok, status.rows_failed), (0, 10));
    assert_eq!(run.failed_shards(&store).unwrap(), vec![0, 1, 2]);

    // Shard 0's retry was interrupted after writing results: put the rows it recovered
    // there (what the first write leaves), failures untouched. The next retry drops those
    // failures without computing them (the outage is still on: computed, they would fail).
    let recovered_0 = clean_store.get(&clean.keys.results(0)).unwrap().unwrap();
    store.put(&run.keys.results(0), &recovered_0).unwrap();
    let counts = retry(&run, &store, &["transient"]);
    assert_eq!(counts.recovered, 0, "the outage goes on: nothing recovers");
    let ok = rows(&store, &run.keys.results_prefix());
    let failed = rows(&store, &run.keys.failures_prefix());
    assert_eq!(ok.len(), 2);
    assert_eq!(failed.len(), 8, "the two moved rows left failures");
    assert!(ok.keys().all(|k| !failed.contains_key(k)));

    // The outage is over: only the `transient` rows are computed again and recover, with
    // the rows a clean run has; the deterministic `negative` rows stay.
    OUTAGE.store(false, Ordering::SeqCst);
    let counts = retry(&run, &store, &["transient"]);
    assert_eq!(
        counts,
        RetryCounts {
            retried: 6,
            recovered: 6
        }
    );
    assert_eq!(rows(&store, &run.keys.results_prefix()), clean_ok);
    let failed = rows(&store, &run.keys.failures_prefix());
    assert_eq!(
        failed.keys().copied().collect::<Vec<_>>(),
        vec![(0, 0), (0, 1)]
    );
    assert!(failed.values().all(|r| r.contains("negative")));
    let status = run.status(&store).unwrap();
    assert_eq!(
        (status.shards_done, status.rows_ok, status.rows_failed),
        (3, 8, 2)
    );
    assert_eq!(
        store.list(&run.keys.done_prefix()).unwrap().len(),
        3,
        "one tally per shard"
    );
    assert_eq!(run.failed_shards(&store).unwrap(), vec![0]);

    // Retrying everything now: a deterministic failure fails again, the same way.
    let counts = retry(&run, &store, &[]);
    assert_eq!(
        counts,
        RetryCounts {
            retried: 2,
            recovered: 0
        }
    );
    assert_eq!(rows(&store, &run.keys.failures_prefix()), failed);

    // Every attempt is recorded.
    let records = run.retries(&store).unwrap();
    assert_eq!(
        records.iter().map(|r| r.attempt).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(records[1].error_kinds, vec!["transient"]);
    assert_eq!(
        (records[1].rows_retried, records[1].rows_recovered),
        (Some(6), Some(6))
    );
    assert!(records[2].error_kinds.is_empty());
    assert_eq!(records[2].finished_at.as_deref(), Some("t2"));
}
