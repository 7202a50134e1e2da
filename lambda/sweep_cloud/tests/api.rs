//! The HTTP API and the dispatcher's fan-out, without AWS: routes, statuses, the dispatch
//! each answer asks for, the Content-Type check, and the two-level fan-out of large runs.

use std::sync::Mutex;
use sweep_cloud::api::{Handled, handle, handle_with_content_type, is_json_content_type};
use sweep_cloud::contract::{DispatchRequest, ShardSet};
use sweep_cloud::{Catalog, CatalogError, CloudConfig, Orchestrator, worker};
use sweep_core::{MemoryStore, Store};

fn call(orch: &Orchestrator<'_>, method: &str, path: &str, body: &str) -> Handled {
    handle(
        orch,
        method,
        path,
        body.as_bytes(),
        &|| "r1".to_string(),
        1_000_000,
    )
}

const SPEC: &str =
    r#"{"experiment": "diag_sleep", "shard_size": 1, "params": {"micros": [0, 1, 2, 3, 4]}}"#;

#[derive(Default)]
struct RecordingCatalog {
    runs: Mutex<Vec<(String, String)>>,
    fail: bool,
    missing: Option<String>,
}

impl Catalog for RecordingCatalog {
    fn register_run(&self, experiment: &str, run_id: &str) -> Result<(), CatalogError> {
        if self.fail {
            return Err(CatalogError::Failed("catalog unreachable".into()));
        }
        if let Some(table) = &self.missing {
            return Err(CatalogError::MissingTable {
                table: table.clone(),
                database: "sweep_magic".into(),
            });
        }
        self.runs
            .lock()
            .unwrap()
            .push((experiment.into(), run_id.into()));
        Ok(())
    }
}

#[test]
fn routes_answer_with_the_documented_statuses() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let catalog = RecordingCatalog::default();
    let config = CloudConfig {
        shards_per_invoke: 2,
        ..CloudConfig::default()
    };
    let orch = Orchestrator::new(&store, &registry, config).with_catalog(&catalog);

    let submitted = call(&orch, "POST", "/runs", SPEC);
    assert_eq!(submitted.status, 202);
    assert_eq!(submitted.body["run_id"], "r1");
    assert_eq!(
        submitted.dispatch,
        Some(DispatchRequest::range("r1", 0, 5)),
        "the fan-out is left to an asynchronous dispatch"
    );
    assert_eq!(
        *catalog.runs.lock().unwrap(),
        vec![("diag_sleep".to_string(), "r1".to_string())]
    );

    let status = call(&orch, "GET", "/runs/r1", "");
    assert_eq!(
        (status.status, status.body["shards_total"].as_u64()),
        (200, Some(5))
    );
    assert_eq!(call(&orch, "GET", "/runs/r1/", "").status, 200);
    assert_eq!(call(&orch, "GET", "/experiments", "").status, 200);
    assert_eq!(call(&orch, "GET", "/runs/nope", "").status, 404);
    for bad in [
        "/runs/..%2Fx",
        "/runs/%E2%80%AE",
        "/runs/a%2",
        "/runs/UPPER",
    ] {
        assert_eq!(call(&orch, "GET", bad, "").status, 400, "{bad}");
    }
    assert_eq!(call(&orch, "PUT", "/runs", "").status, 405);
    assert_eq!(call(&orch, "GET", "/elsewhere", "").status, 404);

    let cancelled = call(&orch, "POST", "/runs/r1/cancel", "");
    assert_eq!(
        (cancelled.status, &cancelled.body["cancel_requested"]),
        (200, &serde_json::json!(true))
    );
    let resumed = call(&orch, "POST", "/runs/r1/resume", "");
    assert_eq!(resumed.status, 202);
    assert_eq!(resumed.body["shards_dispatched"], 5);
    assert_eq!(resumed.dispatch, Some(DispatchRequest::range("r1", 0, 5)));
}

#[test]
fn rejected_submissions_write_nothing() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, CloudConfig::default());
    let bad = call(
        &orch,
        "POST",
        "/runs",
        r#"{"experiment": "gbm_option", "params": {}}"#,
    );
    assert_eq!(
        (bad.status, bad.body["path"].as_str()),
        (400, Some("params.s0"))
    );
    assert!(bad.dispatch.is_none());
    assert_eq!(call(&orch, "POST", "/runs", "{oops").status, 400);
    let huge = "x".repeat((1 << 20) + 1);
    assert_eq!(call(&orch, "POST", "/runs", &huge).status, 413);
    assert!(store.list("").unwrap().is_empty());

    // A catalog that cannot register the run: 503, and still nothing written.
    let down = RecordingCatalog {
        fail: true,
        ..RecordingCatalog::default()
    };
    let orch = Orchestrator::new(&store, &registry, CloudConfig::default()).with_catalog(&down);
    assert_eq!(call(&orch, "POST", "/runs", SPEC).status, 503);
    assert!(store.list("").unwrap().is_empty());

    // A table the deployment lacks: 500 (retrying cannot help), the table named, nothing
    // written.
    let misconfigured = RecordingCatalog {
        missing: Some("failures_diag_sleep".into()),
        ..RecordingCatalog::default()
    };
    let orch =
        Orchestrator::new(&store, &registry, CloudConfig::default()).with_catalog(&misconfigured);
    let answer = call(&orch, "POST", "/runs", SPEC);
    assert_eq!(answer.status, 500);
    let message = answer.body["message"].as_str().unwrap();
    assert!(
        message.contains("failures_diag_sleep") && message.contains("nothing was written"),
        "{message}"
    );
    assert!(store.list("").unwrap().is_empty());
}

#[test]
fn large_runs_fan_out_in_two_levels_and_only_pending_shards_go_out() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let config = CloudConfig {
        shards_per_invoke: 4,
        invokes_per_dispatcher: 10,
        ..CloudConfig::default()
    };
    let orch = Orchestrator::new(&store, &registry, config);
    let spec = r#"{"experiment": "diag_sleep", "shard_size": 1,
        "params": {"micros": {"linspace": [0, 0, 1000]}}}"#;
    let submitted = call(&orch, "POST", "/runs", spec);
    let top = orch.plan_fanout(&submitted.dispatch.unwrap()).unwrap();
    // 1000 shards, 40 per dispatcher (10 invocations x 4 shards): 25 second-level dispatchers.
    assert!(top.workers.is_empty());
    assert_eq!(top.dispatchers.len(), 25);
    assert_eq!(
        top.dispatchers[24].shards,
        ShardSet::Range {
            first: 960,
            end: 1000
        }
    );
    let leaf = orch.plan_fanout(&top.dispatchers[0]).unwrap();
    assert!(leaf.dispatchers.is_empty());
    assert_eq!(leaf.workers.len(), 10);
    assert!(leaf.workers.iter().all(|p| p.shards.len() == 4));

    // Shards with a marker are not sent again.
    worker::handle(&leaf.workers[0].to_bytes(), &store, &registry, None, || 1).unwrap();
    let again = orch.plan_fanout(&top.dispatchers[0]).unwrap();
    let shards: Vec<u64> = again
        .workers
        .iter()
        .flat_map(|p| p.shards.clone())
        .collect();
    assert_eq!(shards, (4..40).collect::<Vec<_>>());

    // A cancelled run fans out nothing.
    call(&orch, "POST", "/runs/r1/cancel", "");
    assert_eq!(
        orch.plan_fanout(&top.dispatchers[1]).unwrap(),
        Default::default()
    );
}

/// A POST with a Content-Type; each accepted submission gets a new run id (`t1`, `t2`, ...).
fn call_typed(
    orch: &Orchestrator<'_>,
    path: &str,
    content_type: Option<&str>,
    body: &str,
) -> Handled {
    static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1);
    handle_with_content_type(
        orch,
        "POST",
        path,
        content_type,
        body.as_bytes(),
        &|| {
            format!(
                "t{}",
                RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            )
        },
        1_000_000,
    )
}

#[test]
fn json_content_types_are_recognized() {
    for json in [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON;charset=UTF-8",
        "  application/json  ; charset=\"utf-8\"",
    ] {
        assert!(is_json_content_type(json), "{json}");
    }
    for other in [
        "",
        "text/plain",
        "text/json",
        "application/jsonp",
        "application/json-seq",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/octet-stream; type=application/json",
    ] {
        assert!(!is_json_content_type(other), "{other}");
    }
}

#[test]
fn a_body_that_is_not_json_is_a_415_with_the_error_body() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, CloudConfig::default());

    for content_type in ["text/plain", "application/x-www-form-urlencoded", ""] {
        let got = call_typed(&orch, "/runs", Some(content_type), SPEC);
        assert_eq!(got.status, 415, "{content_type:?}: {:?}", got.body);
        assert_eq!(got.body["status"], 415);
        assert!(
            got.body["message"]
                .as_str()
                .unwrap()
                .contains("application/json"),
            "{:?}",
            got.body
        );
        assert!(
            got.body.get("kind").is_none(),
            "not an engine error: {:?}",
            got.body
        );
        assert!(got.dispatch.is_none());
    }
    // Checked before the body is read: an oversized or malformed body is still a 415.
    let huge = "x".repeat((1 << 20) + 1);
    assert_eq!(
        call_typed(&orch, "/runs", Some("text/plain"), &huge).status,
        415
    );
    assert_eq!(
        call_typed(&orch, "/runs/", Some("text/csv"), "{oops").status,
        415
    );
    // A long value is shortened in the answer.
    let long = format!("text/{}", "x".repeat(10_000));
    let got = call_typed(&orch, "/runs", Some(&long), SPEC);
    assert_eq!(got.status, 415);
    assert!(got.body["message"].as_str().unwrap().len() < 300);
    assert!(
        store.list("").unwrap().is_empty(),
        "nothing written for a 415"
    );

    // JSON, with or without parameters, and no Content-Type at all, are accepted.
    let mut accepted = Vec::new();
    for content_type in [
        Some("application/json"),
        Some("application/json; charset=utf-8"),
        None,
    ] {
        let got = call_typed(&orch, "/runs", content_type, SPEC);
        assert_eq!(got.status, 202, "{content_type:?}: {:?}", got.body);
        accepted.push(got.body["run_id"].as_str().unwrap().to_string());
    }
    assert_eq!(
        handle(&orch, "POST", "/runs", SPEC.as_bytes(), &|| "r2".into(), 1).status,
        202,
        "handle() is a request without a Content-Type"
    );

    // The other POST routes read no body: only one that carries a body is checked.
    let run = &accepted[0];
    assert_eq!(
        call_typed(
            &orch,
            &format!("/runs/{run}/cancel"),
            Some("text/plain"),
            ""
        )
        .status,
        200
    );
    assert_eq!(
        call_typed(
            &orch,
            &format!("/runs/{run}/resume"),
            Some("text/plain"),
            "x"
        )
        .status,
        415
    );
    assert_eq!(
        call_typed(
            &orch,
            &format!("/runs/{run}/cancel"),
            Some("application/json"),
            "{}"
        )
        .status,
        200
    );
    // Routing errors come first: 404 and 405 stay what they were.
    let routed = |method: &str, path: &str| {
        handle_with_content_type(
            &orch,
            method,
            path,
            Some("text/plain"),
            b"x",
            &|| "r3".into(),
            1,
        )
        .status
    };
    assert_eq!(routed("PUT", "/runs"), 405);
    assert_eq!(routed("POST", "/elsewhere"), 404);
    assert_eq!(
        routed("GET", &format!("/runs/{run}")),
        200,
        "a GET's body is not read"
    );
}

#[test]
fn the_415_is_documented_on_every_route_with_a_body() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    for (method, template) in sweep_cloud::api::ROUTES {
        let responses = &doc["paths"][template][method.to_lowercase()]["responses"];
        assert_eq!(
            responses.get("415").is_some(),
            method == "POST",
            "{method} {template}: 415 documented exactly on the POST routes"
        );
    }
}
