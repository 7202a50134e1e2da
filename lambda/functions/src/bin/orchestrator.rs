//! The orchestrator Lambda: API Gateway HTTP API (payload v2) requests, and its own
//! asynchronous dispatches that fan a run's shards out to workers.

use base64::Engine as _;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};
use lambda_http::aws_lambda_events::encodings::Body;
use lambda_http::http::HeaderValue;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use sweep_cloud::contract::{DispatchRequest, is_dispatch, is_supervise};
use sweep_cloud::dispatch::dispatch;
use sweep_cloud::kernels::StoreKernels;
use sweep_cloud::{Catalog, NoCatalog, Orchestrator, api};
use sweep_core::Registry;
use sweep_lambda::{OrchestratorEnv, SelfInvoke, log, now_ms, or_exit};

struct State {
    env: &'static OrchestratorEnv,
    registry: Registry,
    kernels: StoreKernels<'static>,
}

impl State {
    fn orchestrator(&self) -> Orchestrator<'_> {
        let catalog: &dyn Catalog = match &self.env.catalog {
            Some(glue) => glue,
            None => &NoCatalog,
        };
        Orchestrator::new(&self.env.store, &self.registry, self.env.cloud)
            .with_catalog(catalog)
            .with_kernels(&self.kernels)
    }

    /// Starts `request` on another invocation of this function.
    fn send_dispatch(&self, request: &DispatchRequest) {
        let bytes = request.to_bytes();
        let run_id = request.run_id.clone();
        match self.env.self_invoke {
            SelfInvoke::Event => {
                if let Err(e) = self.env.this.invoke_bytes(&bytes) {
                    log(
                        "error",
                        "dispatch not sent: the run's shards stay pending until resumed",
                        json!({"run_id": run_id, "error": e.message}),
                    );
                }
            }
            SelfInvoke::Detached => {
                let this = self.env.this.clone();
                std::thread::spawn(move || {
                    if let Err(e) = this.invoke_bytes(&bytes) {
                        log(
                            "error",
                            "dispatch not sent",
                            json!({"run_id": run_id, "error": e.message}),
                        );
                    }
                });
            }
        }
    }
}

fn new_run_id() -> String {
    let entropy = RandomState::new().hash_one(now_ms()) as u32;
    sweep_core::layout::new_run_id(now_ms() / 1000, entropy)
}

fn run_dispatch(state: &State, bytes: &[u8]) -> Value {
    // Test-only: says which process is dispatching, for a test that kills it mid-dispatch.
    #[cfg(feature = "fault-injection")]
    if let Ok(dir) = std::env::var("SWEEP_FAULT_DIR") {
        let _ = std::fs::write(
            std::path::Path::new(&dir).join("dispatching.pid"),
            std::process::id().to_string(),
        );
    }
    let request = match DispatchRequest::parse(bytes) {
        Ok(r) => r,
        Err(e) => {
            log(
                "error",
                "dispatch request rejected",
                json!({"error": e.to_string()}),
            );
            return json!({"rejected": e.to_string()});
        }
    };
    let plan = match state.orchestrator().plan_fanout(&request) {
        Ok(plan) => plan,
        Err(e) => {
            log(
                "error",
                "dispatch failed",
                json!({"run_id": request.run_id, "error": e.message}),
            );
            return json!({"error": e.message});
        }
    };
    for sub in &plan.dispatchers {
        state.send_dispatch(sub);
    }
    let report = dispatch(
        &state.env.worker,
        &plan.workers,
        state.env.dispatch_concurrency,
        // Each invoke already retries throttling and 5xx with jittered backoff (sweep_aws);
        // one more round here only catches what outlasted that.
        1,
    );
    let failed_shards: usize = report.failed.iter().map(|p| p.shards.len()).sum();
    log(
        if report.failed.is_empty() {
            "info"
        } else {
            "error"
        },
        "dispatched",
        json!({
            "run_id": request.run_id,
            "dispatchers": plan.dispatchers.len(),
            "invocations_sent": report.sent,
            "invocations_failed": report.failed.len(),
            "shards_left_pending": failed_shards,
        }),
    );
    json!({"dispatchers": plan.dispatchers.len(), "sent": report.sent, "failed": report.failed.len()})
}

/// Most on-failure queue messages one supervisor pass settles (the rest wait a minute).
const FAILURE_MESSAGES_PER_PASS: usize = 200;
/// How long a received message stays hidden from other readers (a pass settles it well
/// within that; a deferred one comes back after it).
const FAILURE_VISIBILITY_S: u32 = 120;

/// Drains up to [`FAILURE_MESSAGES_PER_PASS`] records of the on-failure queue: each is settled
/// (sent again once, or recorded as failed rows) and deleted, unless it must wait.
fn drain_failures(state: &State, queue: &sweep_aws::SqsQueue) -> Value {
    let orchestrator = state.orchestrator();
    let (mut settled, mut kept, mut redispatched, mut recorded) = (0, 0, 0, 0);
    while settled + kept < FAILURE_MESSAGES_PER_PASS {
        let messages = match queue.receive(10, FAILURE_VISIBILITY_S) {
            Ok(m) if m.is_empty() => break,
            Ok(m) => m,
            Err(e) => {
                log("error", "on-failure queue not read", json!({"error": e}));
                break;
            }
        };
        for message in messages {
            match orchestrator.settle_failed(message.body.as_bytes(), now_ms()) {
                Ok(settlement) => {
                    if let Some(dispatch) = &settlement.dispatch {
                        state.send_dispatch(dispatch);
                    }
                    redispatched += settlement.redispatched.len();
                    recorded += settlement.recorded_lost.len();
                    log("info", "failed invocation settled", json!(settlement));
                    if settlement.delete {
                        match queue.delete(&message.receipt) {
                            Ok(()) => settled += 1,
                            Err(e) => {
                                kept += 1;
                                log(
                                    "error",
                                    "settled message not deleted (settled again, idempotently, when it returns)",
                                    json!({"error": e}),
                                );
                            }
                        }
                    } else {
                        kept += 1;
                    }
                }
                Err(e) => {
                    kept += 1;
                    log(
                        "error",
                        "failed invocation not settled; kept for the next pass",
                        json!({"error": e.message}),
                    );
                }
            }
        }
    }
    json!({"settled": settled, "kept": kept, "shards_redispatched": redispatched, "shards_recorded_failed": recorded})
}

/// A supervisor pass (the scheduled rule's tick): settles the on-failure queue, then
/// completes, drops and re-dispatches.
fn run_supervise(state: &State) -> Value {
    let failures = state
        .env
        .failure_queue
        .as_ref()
        .map(|queue| drain_failures(state, queue));
    match state.orchestrator().supervise(now_ms()) {
        Ok(report) => {
            for request in &report.dispatches {
                state.send_dispatch(request);
            }
            let mut answer = json!(report);
            if let Some(failures) = failures {
                answer["failed_invocations"] = failures;
            }
            log("info", "supervised", answer.clone());
            answer
        }
        Err(e) => {
            log(
                "error",
                "supervisor pass failed",
                json!({"error": e.message}),
            );
            json!({"error": e.message, "failed_invocations": failures})
        }
    }
}

fn http_response(status: u16, body: &Value) -> ApiGatewayV2httpResponse {
    let mut response = ApiGatewayV2httpResponse::default();
    response.status_code = i64::from(status);
    response
        .headers
        .insert("content-type", HeaderValue::from_static("application/json"));
    response.body = Some(Body::Text(body.to_string()));
    response
}

fn run_http(state: &State, event: Value) -> ApiGatewayV2httpResponse {
    let request: ApiGatewayV2httpRequest = match serde_json::from_value(event) {
        Ok(r) => r,
        Err(e) => {
            log(
                "error",
                "not an HTTP API v2 event",
                json!({"error": e.to_string()}),
            );
            return http_response(
                400,
                &json!({"status": 400, "message": "unrecognized event"}),
            );
        }
    };
    let method = request.request_context.http.method.as_str().to_string();
    let path = request
        .raw_path
        .clone()
        .or(request.request_context.http.path.clone())
        .unwrap_or_else(|| "/".into());
    let body = match (&request.body, request.is_base64_encoded) {
        (None, _) => Vec::new(),
        (Some(text), false) => text.clone().into_bytes(),
        (Some(text), true) => match base64::engine::general_purpose::STANDARD.decode(text) {
            Ok(bytes) => bytes,
            Err(_) => {
                return http_response(
                    400,
                    &json!({"status": 400, "message": "body is not valid base64"}),
                );
            }
        },
    };
    // An unreadable header value counts as present and not JSON (415).
    let content_type = request
        .headers
        .get("content-type")
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let handled = api::handle_with_content_type(
        &state.orchestrator(),
        &method,
        &path,
        content_type,
        &body,
        &new_run_id,
        now_ms(),
    );
    log(
        if handled.status >= 500 {
            "error"
        } else {
            "info"
        },
        "request",
        json!({"method": method, "path": path, "status": handled.status, "bytes_in": body.len()}),
    );
    if let Some(request) = &handled.dispatch {
        state.send_dispatch(request);
    }
    http_response(handled.status, &handled.body)
}

async fn handler(state: Arc<State>, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let payload = event.payload;
    let answer = tokio::task::spawn_blocking(move || {
        let bytes = serde_json::to_vec(&payload).unwrap_or_default();
        if is_supervise(&bytes) {
            run_supervise(&state)
        } else if is_dispatch(&bytes) {
            run_dispatch(&state, &bytes)
        } else {
            serde_json::to_value(run_http(&state, payload)).unwrap_or(Value::Null)
        }
    })
    .await?;
    Ok(answer)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    // Lives as long as the process; leaked so the kernel loader can borrow its store.
    let env: &'static OrchestratorEnv = Box::leak(Box::new(or_exit(
        "orchestrator",
        OrchestratorEnv::from_env(),
    )));
    let state = Arc::new(State {
        env,
        registry: sim_experiments::registry(),
        kernels: StoreKernels::new(
            &env.store,
            sweep_lambda::kernel_cache_dir(),
            env.kernel_uploads,
        ),
    });
    lambda_runtime::run(service_fn(move |event| handler(state.clone(), event))).await
}
