//! `POST /runs/{id}/retry` in the cloud: the failed rows of a run go to workers again, the
//! recovered ones move to results, the attempt is recorded; a run its failure threshold
//! stopped can be retried; bad bodies are refused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use sweep_cloud::api::{Handled, handle};
use sweep_cloud::contract::DispatchRequest;
use sweep_cloud::{CloudConfig, Orchestrator, worker};
use sweep_core::{
    Bounds, Experiment, KernelError, MemoryStore, MetricDecl, ParamDecl, Registry, RunInfo, Value,
    ValueType,
};

static OUTAGE: AtomicBool = AtomicBool::new(true);

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
    fn run(&self, p: &[Value], _seed: u64) -> Result<Vec<Value>, KernelError> {
        let x = p[0].as_f64().unwrap();
        if x < 0.0 {
            return Err(KernelError::new("negative", "always"));
        }
        if OUTAGE.load(Ordering::SeqCst) {
            return Err(KernelError::new("transient", "throttled"));
        }
        Ok(vec![Value::Float(2.0 * x)])
    }
}

fn call(orch: &Orchestrator<'_>, method: &str, path: &str, body: &str) -> Handled {
    handle(
        orch,
        method,
        path,
        body.as_bytes(),
        &|| "r1".to_string(),
        1_796_256_000_000,
    )
}

fn deliver(orch: &Orchestrator<'_>, store: &MemoryStore, registry: &Registry, d: &DispatchRequest) {
    for payload in orch.plan_fanout(d).unwrap().workers {
        worker::handle(&payload.to_bytes(), store, registry, None, || 0).unwrap();
    }
}

#[test]
fn failed_rows_are_retried_through_the_api() {
    let store = MemoryStore::new();
    let mut registry = Registry::new();
    registry.register(Arc::new(Flaky));
    let config = CloudConfig {
        shards_per_invoke: 2,
        ..CloudConfig::default()
    };
    let orch = Orchestrator::new(&store, &registry, config);
    let spec = r#"{"experiment": "flaky", "shard_size": 1, "replicates": 2,
        "max_failures": 3, "params": {"x": [-1, 1, 2, 3]}}"#;
    let submitted = call(&orch, "POST", "/runs", spec);
    assert_eq!(submitted.status, 202);
    OUTAGE.store(true, Ordering::SeqCst);
    deliver(&orch, &store, &registry, &submitted.dispatch.unwrap());
    // Every row failed: the status finds the threshold exceeded and the run failed.
    let status = call(&orch, "GET", "/runs/r1", "");
    assert_eq!(status.body["state"], "failed");
    assert_eq!(status.body["rows_failed"], 8);
    assert!(
        status.body["failure_reason"]
            .as_str()
            .unwrap()
            .contains("max_failures = 3")
    );

    for bad in [r#"{"error_kinds": "transient"}"#, r#"{"kinds": []}"#, "[1]"] {
        let refused = call(&orch, "POST", "/runs/r1/retry", bad);
        assert_eq!(refused.status, 400, "{bad}: {}", refused.body);
    }
    assert_eq!(call(&orch, "POST", "/runs/nope/retry", "").status, 404);

    OUTAGE.store(false, Ordering::SeqCst);
    let retried = call(
        &orch,
        "POST",
        "/runs/r1/retry",
        r#"{"error_kinds": ["transient"]}"#,
    );
    assert_eq!(retried.status, 202, "{}", retried.body);
    assert_eq!(retried.body["attempt"], 1);
    assert_eq!(retried.body["shards"], 4);
    deliver(&orch, &store, &registry, &retried.dispatch.unwrap());
    let status = call(&orch, "GET", "/runs/r1", "");
    assert_eq!(
        (
            status.body["rows_ok"].as_u64(),
            status.body["rows_failed"].as_u64()
        ),
        (Some(6), Some(2))
    );
    let run = RunInfo::open(&store, "r1").unwrap();
    let records = run.retries(&store).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].error_kinds, vec!["transient"]);
    // Each shard the retry handled is marked under its attempt (what a client counts).
    assert_eq!(
        sweep_core::Store::list(&store, &run.keys.retried_prefix(1))
            .unwrap()
            .len(),
        4
    );
    // Only the deterministic failures are left, in one shard; under the threshold again, the
    // run is no longer failed.
    assert_eq!(run.failed_shards(&store).unwrap(), vec![0]);
    assert_eq!(status.body["state"], "complete");
    assert!(status.body.get("failure_reason").is_none());
}
