//! The cloud flow without AWS: submit, fan out to workers, duplicate deliveries, cancel,
//! resume and stragglers, against an in-memory store.

use std::sync::Mutex;
use sweep_cloud::dispatch::{InvokeError, Invoker, dispatch};
use sweep_cloud::orchestrator::ApiError;
use sweep_cloud::{CloudConfig, Orchestrator, WorkerPayload, worker};
use sweep_core::{MemoryStore, Store};

const SPEC: &str = r#"{"experiment": "diag_fail", "replicates": 3, "shard_size": 4,
    "params": {"fail_rate": [0.0, 0.5]}, "zip": [{"mode": ["error", "nan", "panic", "error", "nan"]}]}"#;

fn config() -> CloudConfig {
    CloudConfig {
        shards_per_invoke: 2,
        straggler_min_ms: 1_000,
        ..CloudConfig::default()
    }
}

fn run_workers(store: &MemoryStore, payloads: &[WorkerPayload]) -> Vec<worker::WorkerReport> {
    let registry = sim_experiments::registry();
    payloads
        .iter()
        .map(|p| worker::handle(&p.to_bytes(), store, &registry, None, || 1_000).unwrap())
        .collect()
}

#[test]
fn submit_fans_out_and_workers_complete_the_run() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, config());
    let (answer, payloads) = orch.submit(SPEC.as_bytes(), "r1", "t").unwrap();
    assert_eq!((answer.points, answer.rows, answer.shards), (10, 30, 3));
    assert_eq!(answer.status_url, "/runs/r1");
    let mut covered: Vec<u64> = payloads.iter().flat_map(|p| p.shards.clone()).collect();
    covered.sort_unstable();
    assert_eq!(covered, vec![0, 1, 2]);
    assert_eq!(orch.status("r1").unwrap().status.shards_done, 0);

    run_workers(&store, &payloads);
    let status = orch.status("r1").unwrap().status;
    assert_eq!(
        (status.shards_done, status.rows_ok + status.rows_failed),
        (3, 30)
    );

    // At-least-once delivery: the same payloads again compute nothing and add no object.
    let before = store.list("").unwrap();
    let again = run_workers(&store, &payloads);
    assert!(again.iter().all(|r| r.computed.is_empty()));
    assert_eq!(store.list("").unwrap(), before);
    assert!(orch.resume("r1").unwrap().is_empty());
}

#[test]
fn rejected_requests_write_nothing_and_say_why() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, config());
    let bad = orch
        .submit(
            br#"{"experiment": "gbm_option", "params": {"s0": 1, "strike": 1, "sigma": "x"}}"#,
            "r2",
            "t",
        )
        .unwrap_err();
    assert_eq!((bad.status, bad.path.as_str()), (400, "params.sigma"));
    let not_json = orch.submit(b"{nope", "r2", "t").unwrap_err();
    assert_eq!(not_json.status, 400);
    let big = vec![b' '; (1 << 20) + 1];
    assert_eq!(orch.submit(&big, "r2", "t").unwrap_err().status, 413);
    let escape = orch.submit(SPEC.as_bytes(), "../r2", "t").unwrap_err();
    assert_eq!(escape.status, 400);
    assert!(store.is_empty());
    let missing: ApiError = orch.status("nope").unwrap_err();
    assert_eq!(missing.status, 404);
}

#[test]
fn cancel_stops_new_shards_and_resume_finishes_the_run() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, config());
    let (_, payloads) = orch.submit(SPEC.as_bytes(), "r3", "t").unwrap();
    run_workers(&store, &payloads[..1]);
    orch.cancel("r3").unwrap();
    let reports = run_workers(&store, &payloads[1..]);
    assert!(reports.iter().all(|r| r.cancelled && r.computed.is_empty()));
    let status = orch.status("r3").unwrap().status;
    assert!(status.cancel_requested);
    assert_eq!(status.shards_done, 2);

    let pending = orch.resume("r3").unwrap();
    assert_eq!(
        pending
            .iter()
            .flat_map(|p| p.shards.clone())
            .collect::<Vec<_>>(),
        vec![2]
    );
    run_workers(&store, &pending);
    let done = orch.status("r3").unwrap().status;
    assert_eq!((done.shards_done, done.cancel_requested), (3, false));
}

#[test]
fn a_straggler_is_redispatched_once() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, config());
    let (_, payloads) = orch.submit(SPEC.as_bytes(), "r4", "t").unwrap();
    run_workers(&store, &payloads[..1]); // shards 0 and 1 finish quickly
    // Shard 2 started at t = 1 s and never reported.
    store
        .put(
            "runs/r4/started/00002.json",
            br#"{"started_ms": 1000, "attempt": 0}"#,
        )
        .unwrap();
    assert!(
        orch.stragglers("r4", 1_500).unwrap().is_empty(),
        "not late yet"
    );
    let late = orch.stragglers("r4", 60_000).unwrap();
    assert_eq!(late.len(), 1);
    assert_eq!((late[0].shards.clone(), late[0].attempt), (vec![2], 1));
    assert!(
        orch.stragglers("r4", 120_000).unwrap().is_empty(),
        "only once"
    );
    run_workers(&store, &late);
    assert_eq!(orch.status("r4").unwrap().status.shards_done, 3);
}

#[test]
fn workers_refuse_foreign_contracts_without_writing() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let err = worker::handle(
        br#"{"version": 9, "run_id": "r5", "shards": [0]}"#,
        &store,
        &registry,
        None,
        || 0,
    )
    .unwrap_err();
    assert!(!err.is_retryable());
    assert!(err.to_string().contains("contract version 9"));
    assert!(store.is_empty());
}

struct Flaky {
    calls: Mutex<Vec<Vec<u64>>>,
    fail_first: Mutex<u32>,
}

impl Invoker for Flaky {
    fn invoke(&self, payload: &WorkerPayload) -> Result<(), InvokeError> {
        let mut left = self.fail_first.lock().unwrap();
        if *left > 0 {
            *left -= 1;
            return Err(InvokeError {
                message: "throttled".into(),
                retryable: true,
            });
        }
        self.calls.lock().unwrap().push(payload.shards.clone());
        Ok(())
    }
}

#[test]
fn dispatch_retries_throttling_and_reports_what_it_could_not_send() {
    let payloads =
        sweep_cloud::contract::plan_invocations("r6", &(0..40).collect::<Vec<_>>(), 4, 0);
    let invoker = Flaky {
        calls: Mutex::new(Vec::new()),
        fail_first: Mutex::new(5),
    };
    let report = dispatch(&invoker, &payloads, 3, 10);
    assert_eq!((report.sent, report.failed.len()), (10, 0));
    let mut sent: Vec<u64> = invoker.calls.into_inner().unwrap().concat();
    sent.sort_unstable();
    assert_eq!(sent, (0..40).collect::<Vec<_>>());

    let stubborn = Flaky {
        calls: Mutex::new(Vec::new()),
        fail_first: Mutex::new(u32::MAX),
    };
    let report = dispatch(&stubborn, &payloads[..2], 2, 1);
    assert_eq!((report.sent, report.failed.len()), (0, 2));
}
