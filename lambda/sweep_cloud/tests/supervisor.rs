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
    // Written once, by the worker that completed the run (the supervisor's pass keeps it).
    assert_eq!(
        (summary.status.shards_done, summary.status.rows_ok),
        (5, 10)
    );
    assert!(summary.completed_ms > SUBMITTED_MS, "{summary:?}");
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

/// The on-failure queue's record of a worker invocation Lambda gave up on.
fn failed_record(shards: &[u64], attempt: u32, condition: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "version": "1.0",
        "requestContext": {"condition": condition, "approximateInvokeCount": 3},
        "requestPayload": {"version": 1, "run_id": "r1", "shards": shards, "attempt": attempt},
        "responseContext": {"statusCode": 200, "functionError": "Unhandled"},
    }))
    .unwrap()
}

#[test]
fn the_on_failure_queue_is_settled_once_then_recorded_as_failed_rows() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, config());
    orch.submit(SPEC.as_bytes(), "r1", SUBMITTED).unwrap();
    let now = SUBMITTED_MS + 5_000;

    // A first attempt that failed (or expired): its shards go out once more.
    let first = orch
        .settle_failed(&failed_record(&[0, 1], 0, "RetriesExhausted"), now)
        .unwrap();
    assert!(first.delete);
    assert_eq!(first.redispatched, vec![0, 1]);
    let dispatch = first.dispatch.clone().unwrap();
    assert_eq!(
        (dispatch.shards, dispatch.attempt),
        (ShardSet::List(vec![0, 1]), 1)
    );
    // The same record delivered twice sends nothing more.
    let again = orch
        .settle_failed(&failed_record(&[0, 1], 0, "RetriesExhausted"), now)
        .unwrap();
    assert!(again.delete && again.redispatched.is_empty() && again.dispatch.is_none());

    // The second attempt failed too; shard 1 started 1 s ago, so a worker may still be on
    // it: it waits (the message is kept); shard 0 never started: its rows become failures.
    let run = sweep_core::RunInfo::open(&store, "r1").unwrap();
    let started = worker::StartedMarker {
        started_ms: now,
        attempt: 1,
    };
    store
        .put(&run.keys.started(1), &serde_json::to_vec(&started).unwrap())
        .unwrap();
    let second = orch
        .settle_failed(&failed_record(&[0, 1], 1, "EventAgeExceeded"), now + 1_000)
        .unwrap();
    assert_eq!(
        (second.recorded_lost.clone(), second.deferred.clone()),
        (vec![0], vec![1])
    );
    assert!(!second.delete, "a deferred shard keeps the message");
    // Past the worker timeout nobody can be computing it.
    let timeout = CloudConfig::default().worker_timeout_ms;
    let later = orch
        .settle_failed(
            &failed_record(&[0, 1], 1, "EventAgeExceeded"),
            now + timeout + 1,
        )
        .unwrap();
    assert_eq!(later.recorded_lost, vec![1]);
    assert!(later.delete);

    // The other shards run normally; the run completes with every row exactly once.
    deliver(&orch, &store, &DispatchRequest::range("r1", 0, 5));
    let status = orch.status("r1").unwrap();
    assert_eq!(
        (
            status.status.shards_done,
            status.status.rows_ok,
            status.status.rows_failed
        ),
        (5, 6, 4)
    );
    let failures = store.get(&run.keys.failures(0)).unwrap().unwrap();
    let text = String::from_utf8_lossy(&failures);
    assert!(
        text.contains("invocation_failed") && text.contains("EventAgeExceeded"),
        "the failure rows say why"
    );
    // A late duplicate of the record changes nothing.
    let late = orch
        .settle_failed(
            &failed_record(&[0], 1, "RetriesExhausted"),
            now + timeout + 2,
        )
        .unwrap();
    assert!(late.delete && late.recorded_lost.is_empty() && late.redispatched.is_empty());
}

#[test]
fn records_that_need_nothing_are_dropped_with_a_reason() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, config());
    orch.submit(SPEC.as_bytes(), "r1", SUBMITTED).unwrap();
    let dispatch = serde_json::json!({
        "requestContext": {"condition": "RetriesExhausted"},
        "requestPayload": {"version": 1, "run_id": "r1", "shards": {"list": [2]}},
    });
    for (record, says) in [
        (serde_json::to_vec(&dispatch).unwrap(), "unstarted rule"),
        (b"not a record".to_vec(), "not an invocation record"),
        (
            br#"{"requestContext":{},"requestPayload":{"x":1}}"#.to_vec(),
            "not a sweep invocation",
        ),
    ] {
        let settled = orch.settle_failed(&record, SUBMITTED_MS).unwrap();
        assert!(settled.delete && settled.redispatched.is_empty());
        assert!(
            settled.note.as_deref().unwrap().contains(says),
            "{settled:?}"
        );
    }
    orch.cancel("r1").unwrap();
    let settled = orch
        .settle_failed(&failed_record(&[0], 0, "RetriesExhausted"), SUBMITTED_MS)
        .unwrap();
    assert!(settled.delete && settled.redispatched.is_empty());
    assert!(settled.note.unwrap().contains("cancelled"));
}
