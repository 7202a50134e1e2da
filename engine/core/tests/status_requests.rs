//! What a status costs in requests on an object store: a bounded number per 1,000 shards, no
//! object bodies read, whatever the run's size — with a store that counts requests the way
//! S3 bills and answers them (a LIST returns at most 1,000 keys).

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use sweep_core::status::status_of;
use sweep_core::{MemoryStore, Run, SpecFormat, Store};

/// A MemoryStore that counts requests as S3 would and says it lists in pages.
#[derive(Default)]
struct Counted {
    inner: MemoryStore,
    lists: AtomicU64,
    reads: AtomicU64,
}

impl Store for Counted {
    fn put(&self, key: &str, bytes: &[u8]) -> sweep_core::Result<()> {
        self.inner.put(key, bytes)
    }
    fn put_if_absent(&self, key: &str, bytes: &[u8]) -> sweep_core::Result<bool> {
        self.inner.put_if_absent(key, bytes)
    }
    fn get(&self, key: &str) -> sweep_core::Result<Option<Vec<u8>>> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.get(key)
    }
    fn list(&self, prefix: &str) -> sweep_core::Result<Vec<String>> {
        let keys = self.inner.list(prefix)?;
        let pages = (keys.len() as u64).div_ceil(1_000).max(1);
        self.lists.fetch_add(pages, Ordering::Relaxed);
        Ok(keys)
    }
    fn exists(&self, key: &str) -> sweep_core::Result<bool> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.inner.exists(key)
    }
    fn delete(&self, key: &str) -> sweep_core::Result<()> {
        self.inner.delete(key)
    }
    fn lists_in_pages(&self) -> bool {
        true
    }
}

/// A run of `shards` one-point shards with `done` of them finished (tallies and markers
/// written directly; shard 7 had two failed rows; with `twice`, shard 9 was computed twice).
fn run_with(shards: u64, done: u64, twice: bool) -> (Counted, Run) {
    let store = Counted::default();
    let spec = sweep_core::Spec::parse(
        &format!(
            r#"{{"experiment": "toy", "shard_size": 1, "replicates": 2,
                "params": {{"x": 1, "n": {{"range": [1, {end}, 1]}}}}}}"#,
            end = shards + 1
        ),
        SpecFormat::Json,
        &common::registry(),
        &sweep_core::Limits::default(),
    )
    .unwrap();
    let run = Run::create(&store, spec, "r1", "2026-12-03T00:00:00Z").unwrap();
    assert_eq!(run.plan().shards, shards);
    for shard in 0..done {
        let failed = if shard == 7 { 2 } else { 0 };
        store.put(&run.keys.done(shard, failed, 10), b"").unwrap();
        store.put(&run.keys.marker(shard), b"{}").unwrap();
    }
    if twice {
        store.put(&run.keys.done(9, 0, 99), b"").unwrap();
    }
    (store, run)
}

#[test]
fn status_of_10_000_shards_takes_12_requests_and_reads_no_object() {
    let (store, run) = run_with(10_000, 6_000, true);
    let status = status_of(&store, &run.manifest).unwrap();
    assert_eq!(status.shards_done, 6_000);
    assert_eq!(status.rows_failed, 2);
    assert_eq!(status.rows_ok, 6_000 * 2 - 2);
    assert_eq!(status.compute_ms, 6_000 * 10);
    // One read (the stop request: a cancel, or the failure threshold's reason) and one LIST per block of 1,000 shards; the
    // first block holds 1,001 tallies (shard 9 twice), so it takes two pages.
    assert_eq!(store.reads.load(Ordering::Relaxed), 1);
    assert_eq!(store.lists.load(Ordering::Relaxed), 11);
}

#[test]
fn status_of_a_million_shards_is_a_thousand_parallel_lists() {
    // 10^6 shards: 1,000 LISTs of one page each, sent 16 at a time: 63 round trips. At
    // S3's LIST latency (tens of ms; 100 ms is a pessimistic p99) that is about 6 s, well
    // within API Gateway's 30 s; docs/design.md gives the whole argument.
    let (store, run) = run_with(1_000_000, 1_000_000, false);
    let status = status_of(&store, &run.manifest).unwrap();
    assert_eq!(status.shards_done, 1_000_000);
    // The stop request, and (the run is complete) its summary, for when it completed.
    assert_eq!(store.reads.load(Ordering::Relaxed), 2);
    assert_eq!(store.lists.load(Ordering::Relaxed), 1_000);
    assert_eq!(
        1_000u64.div_ceil(sweep_core::store::LIST_THREADS as u64),
        63
    );
}
