//! The worker Lambda: computes the shards a payload names and writes them to S3.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::sync::Arc;
#[cfg(not(feature = "fault-injection"))]
use sweep_aws::S3Store;
use sweep_cloud::kernels::StoreKernels;
use sweep_cloud::worker::{WorkerError, handle};
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

fn run(state: &State, bytes: &[u8]) -> Result<Value, Error> {
    if let Some(fault) = injected_fault(bytes) {
        log("error", "injected fault", json!({"error": fault}));
        return Err(fault.into());
    }
    let (run_id, attempt) = sweep_cloud::WorkerPayload::parse(bytes)
        .map(|p| (p.run_id, p.attempt))
        .unwrap_or_default();
    let kernels: &dyn KernelResolver = &state.kernels;
    match handle(
        bytes,
        state.store,
        &state.registry,
        Some(kernels),
        sweep_lambda::now_ms,
    ) {
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
