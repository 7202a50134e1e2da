//! The HTTP API, independent of Lambda: a method, a raw path, the request's Content-Type and a
//! body in; a status, a JSON body and (maybe) a dispatch to start asynchronously out. The
//! orchestrator binary only converts API Gateway events to these calls and sends the dispatch
//! to itself.

use crate::contract::{DispatchRequest, ShardSet};
use crate::orchestrator::{ApiError, Orchestrator, ResumeResponse};
use serde_json::{Value, json};

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Handled {
    /// HTTP status.
    pub status: u16,
    /// JSON body.
    pub body: Value,
    /// Work to start after answering (sent as an asynchronous self-invocation).
    pub dispatch: Option<DispatchRequest>,
}

impl Handled {
    fn ok(status: u16, body: Value) -> Self {
        Handled {
            status,
            body,
            dispatch: None,
        }
    }
}

impl From<ApiError> for Handled {
    fn from(e: ApiError) -> Self {
        Handled::ok(
            e.status,
            serde_json::to_value(&e).expect("errors serialize"),
        )
    }
}

/// Every route of the API as `(method, path template)`: the OpenAPI document and the API
/// Gateway routes in Terraform are checked against this list.
pub const ROUTES: [(&str, &str); 6] = [
    ("POST", "/runs"),
    ("GET", "/runs/{run_id}"),
    ("POST", "/runs/{run_id}/resume"),
    ("POST", "/runs/{run_id}/cancel"),
    ("POST", "/runs/{run_id}/retry"),
    ("GET", "/experiments"),
];

/// The path of run `run_id`'s status (`/runs/<run_id>`).
pub fn run_path(run_id: &str) -> String {
    format!("/runs/{run_id}")
}

fn bad_request(message: impl Into<String>) -> ApiError {
    ApiError::of_kind(sweep_core::ErrorKind::Spec, message)
}

/// A run id from the path, decoded and validated, so no id can name another prefix.
fn run_id_param(raw: &str) -> Result<String, ApiError> {
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad_request("malformed run id in the path"))?;
    // A malformed escape is kept as is by the decoder, and its `%` then fails validation.
    sweep_core::layout::validate_run_id(&decoded).map_err(|e| bad_request(e.message))?;
    Ok(decoded.into_owned())
}

/// Whether a Content-Type header value names JSON: `application/json`, in any case, with or
/// without parameters (`application/json; charset=utf-8`).
pub fn is_json_content_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
}

/// 415 for a request whose body the API would read (`POST /runs`), or that carries a body (the
/// other `POST` routes), when its Content-Type is present and is not JSON. An absent
/// Content-Type is accepted: the body is parsed as JSON either way.
fn unsupported_media_type(
    method: &str,
    segments: &[&str],
    content_type: Option<&str>,
    body: &[u8],
) -> Option<ApiError> {
    let with_body = match (method, segments) {
        ("POST", ["runs"]) => true,
        ("POST", ["runs", _, "resume" | "cancel" | "retry"]) => !body.is_empty(),
        _ => false,
    };
    let content_type = content_type.filter(|value| with_body && !is_json_content_type(value))?;
    // The client's value, shortened: it is echoed back and written to the logs.
    let shown: String = content_type.chars().take(100).collect();
    Some(ApiError::route(
        415,
        format!("Content-Type {shown:?} is not supported: send the body as application/json"),
    ))
}

/// Handles one request whose headers are not known (as if it had no Content-Type); see
/// [`handle_with_content_type`].
pub fn handle(
    orchestrator: &Orchestrator<'_>,
    method: &str,
    raw_path: &str,
    body: &[u8],
    new_run_id: &dyn Fn() -> String,
    now_ms: u64,
) -> Handled {
    handle_with_content_type(
        orchestrator,
        method,
        raw_path,
        None,
        body,
        new_run_id,
        now_ms,
    )
}

/// Handles one request. `content_type` is the request's Content-Type header, if it has one: a
/// request with a body that is not JSON gets 415 before anything else reads the body.
/// `new_run_id` and `now_ms` come from the adapter (clock and entropy).
pub fn handle_with_content_type(
    orchestrator: &Orchestrator<'_>,
    method: &str,
    raw_path: &str,
    content_type: Option<&str>,
    body: &[u8],
    new_run_id: &dyn Fn() -> String,
    now_ms: u64,
) -> Handled {
    let path = raw_path.trim_end_matches('/');
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    if let Some(error) = unsupported_media_type(method, &segments, content_type, body) {
        return Handled::from(error);
    }
    let result = match (method, segments.as_slice()) {
        ("POST", ["runs"]) => submit(orchestrator, body, new_run_id, now_ms),
        ("GET", ["runs", id]) => run_id_param(id).and_then(|id| status(orchestrator, &id, now_ms)),
        ("POST", ["runs", id, "resume"]) => {
            run_id_param(id).and_then(|id| resume(orchestrator, &id))
        }
        ("POST", ["runs", id, "cancel"]) => run_id_param(id).and_then(|id| {
            let status = orchestrator.cancel(&id)?;
            Ok(Handled::ok(200, json!(status)))
        }),
        ("POST", ["runs", id, "retry"]) => run_id_param(id).and_then(|id| {
            let started_at = sweep_core::layout::rfc3339(now_ms / 1000);
            let (answer, dispatch) = orchestrator.retry(&id, body, &started_at)?;
            let any = answer.shards > 0;
            Ok(Handled {
                status: 202,
                body: json!(answer),
                dispatch: any.then_some(dispatch),
            })
        }),
        ("GET", ["experiments"]) => Ok(Handled::ok(200, orchestrator.registry().to_json())),
        (
            _,
            ["runs"] | ["runs", _] | ["runs", _, "resume" | "cancel" | "retry"] | ["experiments"],
        ) => Err(ApiError::route(
            405,
            format!("{method} is not allowed on {path}"),
        )),
        _ => Err(ApiError::route(404, format!("no route {method} {path}"))),
    };
    result.unwrap_or_else(Handled::from)
}

fn submit(
    orchestrator: &Orchestrator<'_>,
    body: &[u8],
    new_run_id: &dyn Fn() -> String,
    now_ms: u64,
) -> Result<Handled, ApiError> {
    let run_id = new_run_id();
    let created_at = sweep_core::layout::rfc3339(now_ms / 1000);
    let (answer, _) = orchestrator.submit(body, &run_id, &created_at)?;
    let shards = answer.shards;
    Ok(Handled {
        status: 202,
        body: json!(answer),
        dispatch: (shards > 0).then(|| DispatchRequest::range(&run_id, 0, shards)),
    })
}

fn status(orchestrator: &Orchestrator<'_>, run_id: &str, now_ms: u64) -> Result<Handled, ApiError> {
    let answer = orchestrator.status(run_id)?;
    let mut handled = Handled::ok(200, json!(answer));
    if answer.state == sweep_core::RunState::Running {
        // Polling drives the straggler rule: late shards go out once more.
        let late = orchestrator.stragglers(run_id, now_ms)?;
        let shards: Vec<u64> = late.iter().flat_map(|p| p.shards.iter().copied()).collect();
        if !shards.is_empty() {
            handled.dispatch = Some(DispatchRequest {
                shards: ShardSet::List(shards),
                attempt: 1,
                ..DispatchRequest::range(run_id, 0, 1)
            });
        }
    }
    Ok(handled)
}

fn resume(orchestrator: &Orchestrator<'_>, run_id: &str) -> Result<Handled, ApiError> {
    let payloads = orchestrator.resume(run_id)?;
    let pending: u64 = payloads.iter().map(|p| p.shards.len() as u64).sum();
    let status = orchestrator.status(run_id)?.status;
    Ok(Handled {
        status: 202,
        body: json!(ResumeResponse {
            run_id: run_id.to_string(),
            shards_dispatched: pending,
        }),
        dispatch: (pending > 0).then(|| DispatchRequest::range(run_id, 0, status.shards_total)),
    })
}
