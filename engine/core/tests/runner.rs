//! The runner end to end on a local store: layout, failure capture, determinism, cancel.

mod common;

use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::collections::BTreeMap;
use std::path::PathBuf;
use sweep_core::{ExecOptions, Limits, LocalStore, Run, RunControl, Spec, SpecFormat, Store};

fn temp_root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sweep-runner-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn spec(extra: &str) -> Spec {
    let text = format!(
        "experiment: toy\nseed: 11\nreplicates: 3\n{extra}params:\n  x: [-1, 0.5, 13, 2, 3, 4, 5]\n  n: [1, 2, 3]\n"
    );
    Spec::parse(
        &text,
        SpecFormat::Yaml,
        &common::registry(),
        &Limits::default(),
    )
    .unwrap()
}

type Row = BTreeMap<String, String>;

/// Every row of every Parquet file under `prefix`, keyed by (point, replicate), without the
/// timing column (the only one that is not a function of the spec).
fn rows(store: &LocalStore, prefix: &str) -> BTreeMap<(i64, i64), Row> {
    let mut out = BTreeMap::new();
    for key in store.list(prefix).unwrap() {
        let bytes = store.get(&key).unwrap().unwrap();
        let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
        for row in reader.get_row_iter(None).unwrap() {
            let row = row.unwrap();
            let mut map = Row::new();
            let (mut point, mut rep) = (0, 0);
            for (name, field) in row.get_column_iter() {
                match (name.as_str(), field) {
                    ("point", Field::Long(p)) => point = *p,
                    ("replicate", Field::Long(r)) => rep = *r,
                    ("duration_us", _) => continue,
                    _ => {}
                }
                map.insert(name.clone(), field.to_string());
            }
            assert!(
                out.insert((point, rep), map).is_none(),
                "duplicate row {point}/{rep}"
            );
        }
    }
    out
}

#[test]
fn a_run_writes_the_layout_and_accounts_for_every_row_exactly_once() {
    let root = temp_root("layout");
    let store = LocalStore::new(&root);
    let run = Run::create(
        &store,
        spec("shard_size: 4\n"),
        "r1",
        "2026-01-01T00:00:00Z",
    )
    .unwrap();
    assert_eq!(run.plan().shards, 6);
    let control = RunControl::new();
    let report = run
        .execute(
            &store,
            &run.pending_shards(&store).unwrap(),
            &ExecOptions::threads(3),
            &control,
        )
        .unwrap();
    assert_eq!(report.shards_done, 6);
    // x = -1 fails (3 n-values x 3 replicates), x = 13 panics: 18 failed rows of 63.
    assert_eq!(report.rows_failed, 18);
    assert_eq!(report.rows_ok, 45);
    assert!(store.exists("runs/r1/manifest.json").unwrap());
    assert_eq!(store.list("runs/r1/shards/").unwrap().len(), 6);
    assert!(
        store
            .exists("results/toy/run_id=r1/part-00000.parquet")
            .unwrap()
    );
    let ok = rows(&store, "results/toy/run_id=r1/");
    let failed = rows(&store, "failures/toy/run_id=r1/");
    assert_eq!(ok.len(), 45);
    assert_eq!(failed.len(), 18);
    for point in 0..21 {
        for rep in 0..3 {
            let here =
                ok.contains_key(&(point, rep)) as u8 + failed.contains_key(&(point, rep)) as u8;
            assert_eq!(here, 1, "point {point} replicate {rep}");
        }
    }
    let kinds: std::collections::BTreeSet<_> =
        failed.values().map(|r| r["error_kind"].clone()).collect();
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        vec!["\"negative\"", "\"panic\""]
    );
    assert!(run.pending_shards(&store).unwrap().is_empty());
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn shard_size_threads_and_reruns_never_change_a_value() {
    let root = temp_root("determinism");
    let store = LocalStore::new(&root);
    let a = Run::create(&store, spec("shard_size: 1\n"), "a", "t").unwrap();
    a.execute(
        &store,
        &a.pending_shards(&store).unwrap(),
        &ExecOptions::threads(1),
        &RunControl::new(),
    )
    .unwrap();
    let b = Run::create(&store, spec("shard_size: 5\n"), "b", "t").unwrap();
    b.execute(
        &store,
        &b.pending_shards(&store).unwrap(),
        &ExecOptions::threads(4),
        &RunControl::new(),
    )
    .unwrap();
    let (ra, rb) = (
        rows(&store, "results/toy/run_id=a/"),
        rows(&store, "results/toy/run_id=b/"),
    );
    assert_eq!(ra, rb);
    assert_eq!(
        rows(&store, "failures/toy/run_id=a/"),
        rows(&store, "failures/toy/run_id=b/")
    );
    // Seeds differ between replicates of a point and between points.
    let seeds: std::collections::HashSet<_> = ra.values().map(|r| r["seed"].clone()).collect();
    assert_eq!(seeds.len(), ra.len());
    // Re-executing a finished shard (a retry or duplicate delivery) rewrites the same rows.
    let before = rows(&store, "results/toy/run_id=b/");
    b.execute_shard(&store, 2, &RunControl::new()).unwrap();
    assert_eq!(rows(&store, "results/toy/run_id=b/"), before);
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn a_cancelled_run_writes_nothing_more_and_resumes_to_the_same_result() {
    let root = temp_root("cancel");
    let store = LocalStore::new(&root);
    let run = Run::create(&store, spec("shard_size: 2\n"), "c", "t").unwrap();
    let control = RunControl::new();
    run.execute_shard(&store, 0, &control).unwrap();
    control.cancel();
    let report = run
        .execute(
            &store,
            &run.pending_shards(&store).unwrap(),
            &ExecOptions::threads(2),
            &control,
        )
        .unwrap();
    assert!(report.cancelled);
    assert_eq!(run.done_shards(&store).unwrap(), vec![0]);
    assert_eq!(run.pending_shards(&store).unwrap().len(), 10);
    let reopened = Run::open(&store, "c", &common::registry()).unwrap();
    reopened
        .execute(
            &store,
            &reopened.pending_shards(&store).unwrap(),
            &ExecOptions::threads(2),
            &RunControl::new(),
        )
        .unwrap();
    let clean = Run::create(&store, spec("shard_size: 2\n"), "d", "t").unwrap();
    clean
        .execute(
            &store,
            &clean.pending_shards(&store).unwrap(),
            &ExecOptions::threads(2),
            &RunControl::new(),
        )
        .unwrap();
    assert_eq!(
        rows(&store, "results/toy/run_id=c/"),
        rows(&store, "results/toy/run_id=d/")
    );
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn run_ids_are_unique_and_validated() {
    let root = temp_root("ids");
    let store = LocalStore::new(&root);
    Run::create(&store, spec(""), "same", "t").unwrap();
    assert!(Run::create(&store, spec(""), "same", "t").is_err());
    assert!(Run::create(&store, spec(""), "../evil", "t").is_err());
    assert!(matches!(
        Run::open(&store, "missing", &common::registry()),
        Err(sweep_core::SweepError::NotFound(_))
    ));
    assert!(!root.join("evil").exists());
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn the_executor_skips_done_shards_calls_its_hook_and_refuses_unknown_shards() {
    let root = temp_root("executor");
    let store = LocalStore::new(&root);
    let run = Run::create(&store, spec("shard_size: 4\n"), "e", "t").unwrap();
    run.execute_shard(&store, 1, &RunControl::new()).unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let hook = |_: &Run, shard: u64| {
        seen.lock().unwrap().push(shard);
        Ok(())
    };
    let options = ExecOptions {
        threads: 1,
        skip_done: true,
        before_shard: Some(&hook),
        retry: None,
        check_failures: true,
    };
    let report = run
        .execute(&store, &[0, 1, 2], &options, &RunControl::new())
        .unwrap();
    assert_eq!(report.computed, vec![0, 2]);
    assert_eq!(report.skipped, vec![1]);
    assert_eq!(*seen.lock().unwrap(), vec![0, 2]);
    let err = run
        .execute(&store, &[6], &options, &RunControl::new())
        .unwrap_err();
    assert_eq!(err.kind(), sweep_core::ErrorKind::Spec);
    assert!(
        err.to_string().contains("beyond the run's 6 shards"),
        "{err}"
    );
    store.put(&run.keys.cancel(), b"").unwrap();
    let report = run
        .execute(&store, &[3, 4], &options, &RunControl::new())
        .unwrap();
    assert!(report.cancelled);
    assert!(report.computed.is_empty());
    std::fs::remove_dir_all(root).unwrap();
}

#[test]
fn two_executions_of_one_run_at_once_split_its_shards() {
    // Two resumes of one run at the same moment: each shard is computed by exactly one of
    // them (a claim per shard, released with its holder), and together they do them all.
    let root = temp_root("split");
    let store = LocalStore::new(&root);
    let run = Run::create(&store, spec("shard_size: 1\n"), "s", "t").unwrap();
    let all: Vec<u64> = (0..run.plan().shards).collect();
    let (a, b) = std::thread::scope(|scope| {
        let go = || {
            let store = LocalStore::new(&root);
            run.execute(&store, &all, &ExecOptions::threads(1), &RunControl::new())
                .unwrap()
                .computed
        };
        let a = scope.spawn(go);
        let b = scope.spawn(go);
        (a.join().unwrap(), b.join().unwrap())
    });
    let mut both: Vec<u64> = a.iter().chain(&b).copied().collect();
    both.sort_unstable();
    assert_eq!(both, all, "each shard once: {a:?} / {b:?}");
    let status = run.status(&store).unwrap();
    assert_eq!(status.shards_done, run.plan().shards);
}
