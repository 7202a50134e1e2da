//! The supervisor: a run whose dispatch was lost and whose client went away completes on
//! its own, and a finished run gets its summary and is no longer watched.

use sweep_cloud::contract::{DispatchRequest, ShardSet};
use sweep_cloud::{CloudConfig, Orchestrator, RunSummary, worker};
use sweep_core::{MemoryStore, Store};

const SPEC: &str =
    r#"{"experiment": "diag_sleep", "shard_size": 2, "params": {"micros": {"range": [0, 10, 1]}}}"#;
const SUBMITTED: &str = "2026-12-03T00:00:00Z";
const SUBMITTED_MS: u64 = 1_796_256_000_000;

fn config() -> CloudConfig {
    CloudConfig {
        shards_per_invoke: 2,
        unstarted_ms: 60_000,
        ..CloudConfig::default()
    }
}

/// What the adapter does with a dispatch: plan it, run the workers it names.
fn deliver(orch: &Orchestrator<'_>, store: &MemoryStore, request: &DispatchRequest) {
    let registry = sim_experiments::registry();
    for payload in orch.plan_fanout(request).unwrap().workers {
        worker::handle(&payload.to_bytes(), store, &registry, None, || SUBMITTED_MS).unwrap();
    }
}

#[test]
fn an_abandoned_run_with_a_lost_dispatch_completes_on_its_own() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, config());
    let (answer, _lost) = orch.submit(SPEC.as_bytes(), "r1", SUBMITTED).unwrap();
    assert_eq!(answer.shards, 5);
    assert!(store.exists("active/r1").unwrap());

    // Within the deadline nothing is re-sent: the dispatch may still be on its way.
    let early = orch.supervise(SUBMITTED_MS + 30_000).unwrap();
    assert_eq!(early.visited, vec!["r1"]);
    assert!(early.dispatches.is_empty());

    // Past it, every shard that never started goes out once.
    let late = orch.supervise(SUBMITTED_MS + 61_000).unwrap();
    assert_eq!(late.shards_redispatched, 5);
    let [request] = &late.dispatches[..] else {
        panic!("{late:?}")
    };
    assert_eq!(request.shards, ShardSet::List(vec![0, 1, 2, 3, 4]));
    assert_eq!(request.attempt, 1);
    // Only once: a second pass before the workers ran sends nothing again.
    assert!(
        orch.supervise(SUBMITTED_MS + 62_000)
            .unwrap()
            .dispatches
            .is_empty()
    );

    deliver(&orch, &store, request);
    let done = orch.supervise(SUBMITTED_MS + 63_000).unwrap();
    assert_eq!(done.completed, vec!["r1"]);
    assert!(!store.exists("active/r1").unwrap());
    let summary: RunSummary =
        serde_json::from_slice(&store.get("runs/r1/summary.json").unwrap().unwrap()).unwrap();
    assert_eq!(
        (
            summary.status.shards_done,
            summary.status.rows_ok,
            summary.completed_ms
        ),
        (5, 10, SUBMITTED_MS + 63_000)
    );
    // A finished run is no longer visited.
    assert!(
        orch.supervise(SUBMITTED_MS + 64_000)
            .unwrap()
            .visited
            .is_empty()
    );
}

#[test]
fn cancelled_and_vanished_runs_are_dropped_and_resume_watches_again() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, config());
    orch.submit(SPEC.as_bytes(), "r2", SUBMITTED).unwrap();
    orch.cancel("r2").unwrap();
    store.put("active/ghost", b"").unwrap();
    let pass = orch.supervise(SUBMITTED_MS + 120_000).unwrap();
    assert_eq!(pass.dropped, vec!["ghost", "r2"]);
    assert!(pass.dispatches.is_empty());
    assert!(store.list("active/").unwrap().is_empty());
    orch.resume("r2").unwrap();
    assert!(store.exists("active/r2").unwrap());
}
