//! The worker Lambda: computes the shards a payload names and writes them to S3.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::sync::Arc;
use sweep_aws::S3Store;
use sweep_cloud::worker::{WorkerError, handle};
use sweep_core::Registry;
use sweep_lambda::{client_from_env, log, now_ms, or_exit, store_from_env};

struct State {
    store: S3Store,
    registry: Registry,
}

/// Test-only: fails an invocation that names shard N while `$SWEEP_FAULT_DIR/fail-shard-N`
/// exists (built only with the `fault-injection` feature, for the local emulation).
#[cfg(feature = "fault-injection")]
fn injected_fault(bytes: &[u8]) -> Option<String> {
    let dir = std::env::var("SWEEP_FAULT_DIR").ok()?;
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

fn run(state: &State, bytes: &[u8]) -> Result<Value, Error> {
    if let Some(fault) = injected_fault(bytes) {
        log("error", "injected fault", json!({"error": fault}));
        return Err(fault.into());
    }
    let (run_id, attempt) = sweep_cloud::WorkerPayload::parse(bytes)
        .map(|p| (p.run_id, p.attempt))
        .unwrap_or_default();
    match handle(bytes, &state.store, &state.registry, sweep_lambda::now_ms) {
        Ok(report) => {
            log(
                "info",
                "shards done",
                json!({"run_id": run_id, "attempt": attempt, "computed": report.computed,
                       "skipped": report.skipped, "cancelled": report.cancelled}),
            );
            Ok(json!(report))
        }
        Err(WorkerError::Contract(e)) => {
            // Retrying cannot fix a malformed payload: log it and end the invocation.
            log("error", "payload rejected", json!({"error": e.to_string()}));
            Ok(json!({"rejected": e.to_string()}))
        }
        Err(e) => {
            log(
                "error",
                "shards failed",
                json!({"run_id": run_id, "attempt": attempt, "error": e.to_string(),
                       "retryable": e.is_retryable(), "at_ms": now_ms()}),
            );
            Err(e.to_string().into())
        }
    }
}

async fn handler(state: Arc<State>, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let bytes = serde_json::to_vec(&event.payload)?;
    tokio::task::spawn_blocking(move || run(&state, &bytes)).await?
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let client = or_exit("worker", client_from_env());
    let store = or_exit("worker", store_from_env(&client));
    let state = Arc::new(State {
        store,
        registry: sim_experiments::registry(),
    });
    lambda_runtime::run(service_fn(move |event| handler(state.clone(), event))).await
}
