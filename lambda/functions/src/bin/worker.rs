//! The worker Lambda: computes the shards a payload names and writes them to S3.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::sync::Arc;
#[cfg(not(feature = "fault-injection"))]
use sweep_aws::S3Store;
use sweep_cloud::kernels::StoreKernels;
use sweep_cloud::worker::{WorkerError, WorkerReport, handle};
use sweep_core::{KernelResolver, Registry};
use sweep_lambda::{client_from_env, log, now_ms, or_exit, store_from_env};

struct State {
    #[cfg(not(feature = "fault-injection"))]
    store: &'static S3Store,
    #[cfg(feature = "fault-injection")]
    store: &'static faults::SlowStore,
    registry: Registry,
    /// Libraries of uploaded kernels, downloaded once per warm container.
    kernels: StoreKernels<'static>,
}

/// Test-only: `$SWEEP_FAULT_DIR/slow-shard-N` holding a number of milliseconds makes a worker
/// sleep that long right after it writes shard N's started marker, i.e. inside the shard, so
/// a test can kill the process mid-shard (its id is in `in-shard-N.pid`) or deliver the same
/// shard twice while it runs.
#[cfg(feature = "fault-injection")]
mod faults {
    use sweep_aws::S3Store;
    use sweep_core::Store;

    pub struct SlowStore(pub S3Store);

    /// Sleeps inside shard N (after its started marker) while `slow-shard-N` exists, first
    /// writing this process's id to `in-shard-N.pid` for a test that kills it.
    fn maybe_stall(key: &str) {
        let Ok(dir) = std::env::var("SWEEP_FAULT_DIR") else {
            return;
        };
        let dir = std::path::Path::new(&dir);
        let Some(shard) = sweep_core::layout::shard_of_started_key(key) else {
            return;
        };
        let Ok(text) = std::fs::read_to_string(dir.join(format!("slow-shard-{shard}"))) else {
            return;
        };
        let pid_file = dir.join(format!("in-shard-{shard}.pid"));
        let _ = std::fs::write(pid_file, std::process::id().to_string());
        let ms = text.trim().parse().unwrap_or(5000);
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }

    impl Store for SlowStore {
        fn put(&self, key: &str, bytes: &[u8]) -> sweep_core::Result<()> {
            self.0.put(key, bytes)?;
            maybe_stall(key);
            Ok(())
        }
        fn put_if_absent(&self, key: &str, bytes: &[u8]) -> sweep_core::Result<bool> {
            self.0.put_if_absent(key, bytes)
        }
        fn get(&self, key: &str) -> sweep_core::Result<Option<Vec<u8>>> {
            self.0.get(key)
        }
        fn list(&self, prefix: &str) -> sweep_core::Result<Vec<String>> {
            self.0.list(prefix)
        }
        fn exists(&self, key: &str) -> sweep_core::Result<bool> {
            self.0.exists(key)
        }
        fn delete(&self, key: &str) -> sweep_core::Result<()> {
            self.0.delete(key)
        }
    }
}

/// Test-only: fails an invocation that names shard N while `$SWEEP_FAULT_DIR/fail-shard-N`
/// exists, and every invocation while `$SWEEP_FAULT_DIR/fail-all` exists (built only with
/// the `fault-injection` feature, for the local emulation).
#[cfg(feature = "fault-injection")]
fn injected_fault(bytes: &[u8]) -> Option<String> {
    let dir = std::env::var("SWEEP_FAULT_DIR").ok()?;
    if std::path::Path::new(&dir).join("fail-all").exists() {
        return Some("injected fault on every invocation".into());
    }
    let payload = sweep_cloud::WorkerPayload::parse(bytes).ok()?;
    payload
        .shards
        .iter()
        .find(|s| {
            std::path::Path::new(&dir)
                .join(format!("fail-shard-{s}"))
                .exists()
        })
        .map(|s| format!("injected fault on shard {s}"))
}

#[cfg(not(feature = "fault-injection"))]
fn injected_fault(_bytes: &[u8]) -> Option<String> {
    None
}

/// What one invocation's result means for Lambda, and the log line that says why.
#[derive(Debug)]
struct Outcome {
    level: &'static str,
    message: &'static str,
    fields: Value,
    /// `Ok` ends the invocation (nothing to retry); `Err` fails it, so Lambda retries it and,
    /// after its retries, sends it to the dead-letter queue.
    result: Result<Value, String>,
}

/// Classifies a worker result. Only a retryable error ([`WorkerError::is_retryable`]: storage
/// trouble) fails the invocation. Every other error (an unknown run, a corrupt or incompatible
/// manifest, a payload of another contract, a kernel that cannot be loaded) would fail the same
/// way on every retry: the invocation succeeds, logging the reason, and `%sweep resume` (or the
/// straggler rule) dispatches the shards again once the cause is fixed.
fn classify(
    run_id: &str,
    attempt: u32,
    result: Result<WorkerReport, WorkerError>,
    at_ms: u64,
) -> Outcome {
    match result {
        Ok(report) => Outcome {
            level: "info",
            message: "shards done",
            fields: json!({"run_id": run_id, "attempt": attempt, "computed": report.computed,
                           "skipped": report.skipped, "cancelled": report.cancelled}),
            result: Ok(json!(report)),
        },
        Err(e) => {
            let retryable = e.is_retryable();
            let error_kind = match &e {
                WorkerError::Contract(_) => "contract",
                WorkerError::Engine(engine) => engine.kind().as_str(),
            };
            let message = match (&e, retryable) {
                (_, true) => "shards failed",
                (WorkerError::Contract(_), false) => "payload rejected",
                (WorkerError::Engine(_), false) => "shards rejected",
            };
            let error = e.to_string();
            Outcome {
                level: "error",
                message,
                fields: json!({"run_id": run_id, "attempt": attempt, "error": error,
                               "error_kind": error_kind, "retryable": retryable,
                               "at_ms": at_ms}),
                result: if retryable {
                    Err(error)
                } else {
                    Ok(json!({"rejected": error, "error_kind": error_kind}))
                },
            }
        }
    }
}

fn run(state: &State, bytes: &[u8]) -> Result<Value, Error> {
    if let Some(fault) = injected_fault(bytes) {
        log("error", "injected fault", json!({"error": fault}));
        return Err(fault.into());
    }
    let (run_id, attempt) = sweep_cloud::WorkerPayload::parse(bytes)
        .map(|p| (p.run_id, p.attempt))
        .unwrap_or_default();
    let kernels: &dyn KernelResolver = &state.kernels;
    let result = handle(
        bytes,
        state.store,
        &state.registry,
        Some(kernels),
        sweep_lambda::now_ms,
    );
    let outcome = classify(&run_id, attempt, result, now_ms());
    log(outcome.level, outcome.message, outcome.fields);
    outcome.result.map_err(Error::from)
}

async fn handler(state: Arc<State>, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let bytes = serde_json::to_vec(&event.payload)?;
    tokio::task::spawn_blocking(move || run(&state, &bytes)).await?
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let client = or_exit("worker", client_from_env());
    let store = or_exit("worker", store_from_env(&client));
    #[cfg(feature = "fault-injection")]
    let store = faults::SlowStore(store);
    // Lives as long as the process; leaked so the kernel loader can borrow it.
    let store = Box::leak(Box::new(store));
    let state = Arc::new(State {
        store,
        registry: sim_experiments::registry(),
        kernels: StoreKernels::new(store, sweep_lambda::kernel_cache_dir(), true),
    });
    lambda_runtime::run(service_fn(move |event| handler(state.clone(), event))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use sweep_cloud::{CloudConfig, Orchestrator, WorkerPayload};
    use sweep_core::{MemoryStore, Store, SweepError};

    /// A store whose every call fails, as S3 does during an outage.
    struct Down;

    impl Store for Down {
        fn put(&self, key: &str, _: &[u8]) -> sweep_core::Result<()> {
            Err(SweepError::storage(key, "connection refused"))
        }
        fn put_if_absent(&self, key: &str, _: &[u8]) -> sweep_core::Result<bool> {
            Err(SweepError::storage(key, "connection refused"))
        }
        fn get(&self, key: &str) -> sweep_core::Result<Option<Vec<u8>>> {
            Err(SweepError::storage(key, "connection refused"))
        }
        fn list(&self, prefix: &str) -> sweep_core::Result<Vec<String>> {
            Err(SweepError::storage(prefix, "connection refused"))
        }
        fn exists(&self, key: &str) -> sweep_core::Result<bool> {
            Err(SweepError::storage(key, "connection refused"))
        }
        fn delete(&self, key: &str) -> sweep_core::Result<()> {
            Err(SweepError::storage(key, "connection refused"))
        }
    }

    const SPEC: &[u8] = br#"{"experiment": "diag_sleep", "params": {"micros": [0, 1]}}"#;

    /// A store holding run `r1` (diag_sleep, accepted by the orchestrator).
    fn store_with_run() -> MemoryStore {
        let store = MemoryStore::new();
        let registry = sim_experiments::registry();
        Orchestrator::new(&store, &registry, CloudConfig::default())
            .submit(SPEC, "r1", "2024-01-01T00:00:00Z")
            .unwrap();
        store
    }

    fn invoke(store: &dyn Store, registry: &Registry, payload: &[u8]) -> Outcome {
        let result = handle(payload, store, registry, None, || 1);
        classify("r1", 0, result, 7)
    }

    fn payload(run_id: &str) -> Vec<u8> {
        WorkerPayload {
            version: 1,
            run_id: run_id.into(),
            shards: vec![0],
            attempt: 0,
            retry: None,
        }
        .to_bytes()
    }

    fn assert_rejected(outcome: &Outcome, message: &str, kind: &str) {
        let answer = outcome.result.as_ref().unwrap_or_else(|e| {
            panic!("{kind}: the invocation failed ({e}); it cannot succeed on a retry")
        });
        assert_eq!(answer["error_kind"], kind, "{answer}");
        assert!(answer["rejected"].as_str().is_some_and(|r| !r.is_empty()));
        assert_eq!((outcome.level, outcome.message), ("error", message));
        assert_eq!(outcome.fields["retryable"], false);
        assert_eq!(outcome.fields["error_kind"], kind);
        assert_eq!(outcome.fields["run_id"], "r1");
        assert!(
            outcome.fields["error"]
                .as_str()
                .is_some_and(|e| !e.is_empty())
        );
    }

    #[test]
    fn a_computed_payload_succeeds() {
        let store = store_with_run();
        let outcome = invoke(&store, &sim_experiments::registry(), &payload("r1"));
        let answer = outcome.result.unwrap();
        assert_eq!(answer["computed"], json!([0]));
        assert_eq!((outcome.level, outcome.message), ("info", "shards done"));
    }

    #[test]
    fn errors_a_retry_cannot_fix_end_the_invocation() {
        let store = store_with_run();
        let registry = sim_experiments::registry();
        // An unknown run.
        let outcome = invoke(&store, &registry, &payload("gone"));
        assert_rejected(&outcome, "shards rejected", "not_found");
        // A manifest that is not one.
        let corrupt = MemoryStore::new();
        corrupt
            .put(&sweep_core::layout::manifest_key("r1"), b"{not json")
            .unwrap();
        let outcome = invoke(&corrupt, &registry, &payload("r1"));
        assert_rejected(&outcome, "shards rejected", "corrupt");
        // A payload of another contract, and one naming a shard the run does not have.
        let outcome = invoke(
            &store,
            &registry,
            br#"{"version": 9, "run_id": "r1", "shards": [0]}"#,
        );
        assert_rejected(&outcome, "payload rejected", "contract");
        let beyond = WorkerPayload {
            shards: vec![99],
            ..WorkerPayload::parse(&payload("r1")).unwrap()
        };
        let outcome = invoke(&store, &registry, &beyond.to_bytes());
        assert_rejected(&outcome, "payload rejected", "contract");
        // A kernel this worker cannot load (here: none has the run's experiment).
        let outcome = invoke(&store, &Registry::new(), &payload("r1"));
        assert_rejected(&outcome, "shards rejected", "spec");
        // Nothing was computed by any of them.
        assert!(store.list("runs/r1/shards/").unwrap().is_empty());
    }

    #[test]
    fn storage_trouble_fails_the_invocation_so_lambda_retries_it() {
        let outcome = invoke(&Down, &sim_experiments::registry(), &payload("r1"));
        let error = outcome.result.unwrap_err();
        assert!(error.contains("connection refused"), "{error}");
        assert_eq!((outcome.level, outcome.message), ("error", "shards failed"));
        assert_eq!(outcome.fields["retryable"], true);
        assert_eq!(outcome.fields["error_kind"], "storage");
        assert_eq!(outcome.fields["at_ms"], 7);
        // Every engine kind but storage is final.
        for error in [
            SweepError::NotFound("x".into()),
            SweepError::Corrupt("x".into()),
            SweepError::Cancelled,
            SweepError::Spec(sweep_core::SpecError::new("experiment", "x")),
        ] {
            let outcome = classify("r1", 1, Err(WorkerError::Engine(error)), 0);
            assert!(outcome.result.is_ok(), "{:?}", outcome.fields);
        }
        let outcome = classify(
            "r1",
            1,
            Err(WorkerError::Engine(SweepError::storage("k", "timeout"))),
            0,
        );
        assert!(outcome.result.is_err());
    }
}
