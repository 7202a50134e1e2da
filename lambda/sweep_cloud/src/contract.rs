//! The versioned payloads exchanged between the orchestrator and the workers. Payloads name
//! the run and its shards, never the points, so they stay a few hundred bytes whatever the
//! size of the run (Lambda's asynchronous payload limit is 256 KB).

use serde::{Deserialize, Serialize};

/// Version of the worker payload contract. A worker refuses any other version.
pub const CONTRACT_VERSION: u32 = 1;

/// Most shards one worker invocation computes.
pub const MAX_SHARDS_PER_INVOKE: usize = 64;

/// What is wrong with a payload. Retrying the same payload cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ContractError {
    /// The payload is not valid JSON of the expected shape.
    #[error("invalid payload: {0}")]
    Invalid(String),
    /// The payload was written for another contract version.
    #[error(
        "payload contract version {got} is not supported (this worker speaks {CONTRACT_VERSION})"
    )]
    Version {
        /// The version the payload declares.
        got: u32,
    },
}

/// One worker invocation: compute these shards of this run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerPayload {
    /// Contract version ([`CONTRACT_VERSION`]).
    pub version: u32,
    /// The run whose manifest the worker reads.
    pub run_id: String,
    /// Shards to compute (those with a marker are skipped).
    pub shards: Vec<u64>,
    /// 0 for the first dispatch, 1 for a straggler re-dispatch.
    #[serde(default)]
    pub attempt: u32,
    /// Retry the failed rows this selects in these (finished) shards, instead of computing
    /// them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<sweep_core::RetryFilter>,
}

impl WorkerPayload {
    /// Parses and checks a payload: version, run id, shard count.
    pub fn parse(bytes: &[u8]) -> Result<Self, ContractError> {
        let payload: WorkerPayload =
            serde_json::from_slice(bytes).map_err(|e| ContractError::Invalid(e.to_string()))?;
        if payload.version != CONTRACT_VERSION {
            return Err(ContractError::Version {
                got: payload.version,
            });
        }
        sweep_core::layout::validate_run_id(&payload.run_id)
            .map_err(|e| ContractError::Invalid(e.to_string()))?;
        if payload.shards.is_empty() || payload.shards.len() > MAX_SHARDS_PER_INVOKE {
            return Err(ContractError::Invalid(format!(
                "a payload names 1 to {MAX_SHARDS_PER_INVOKE} shards, got {}",
                payload.shards.len()
            )));
        }
        Ok(payload)
    }

    /// The payload as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("payload serializes")
    }
}

/// Cuts `shards` into worker payloads of at most `per_invoke` shards each.
pub fn plan_invocations(
    run_id: &str,
    shards: &[u64],
    per_invoke: usize,
    attempt: u32,
) -> Vec<WorkerPayload> {
    let per_invoke = per_invoke.clamp(1, MAX_SHARDS_PER_INVOKE);
    shards
        .chunks(per_invoke)
        .map(|chunk| WorkerPayload {
            version: CONTRACT_VERSION,
            run_id: run_id.to_string(),
            shards: chunk.to_vec(),
            attempt,
            retry: None,
        })
        .collect()
}

/// Version of the dispatch request contract (the orchestrator invoking itself).
pub const DISPATCH_VERSION: u32 = 1;

/// Which shards a dispatch covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ShardSet {
    /// Every shard in `[first, end)` that has no marker yet.
    Range {
        /// First shard.
        first: u64,
        /// One past the last shard.
        end: u64,
    },
    /// These shards (at most [`MAX_LISTED_SHARDS`]), e.g. stragglers.
    List(Vec<u64>),
}

/// Most shards a [`ShardSet::List`] may name.
pub const MAX_LISTED_SHARDS: usize = 4096;

/// The orchestrator's asynchronous self-invocation that fans a run's shards out to workers,
/// so the HTTP answer never waits for the fan-out. Like [`WorkerPayload`], it names the run
/// and a shard range, never the points: a few hundred bytes for any run size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DispatchRequest {
    /// Contract version ([`DISPATCH_VERSION`]).
    pub version: u32,
    /// The run.
    pub run_id: String,
    /// The shards to send to workers.
    pub shards: ShardSet,
    /// Passed on to the worker payloads (1 = straggler re-dispatch).
    #[serde(default)]
    pub attempt: u32,
    /// A retry of failed rows: the shards covered are those with failures, not those
    /// pending; passed on to the worker payloads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<sweep_core::RetryFilter>,
}

impl DispatchRequest {
    /// A dispatch of every pending shard of `run_id` in `[first, end)`.
    pub fn range(run_id: &str, first: u64, end: u64) -> Self {
        DispatchRequest {
            version: DISPATCH_VERSION,
            run_id: run_id.to_string(),
            shards: ShardSet::Range { first, end },
            attempt: 0,
            retry: None,
        }
    }

    /// Parses and checks a dispatch request.
    pub fn parse(bytes: &[u8]) -> Result<Self, ContractError> {
        let request: DispatchRequest =
            serde_json::from_slice(bytes).map_err(|e| ContractError::Invalid(e.to_string()))?;
        if request.version != DISPATCH_VERSION {
            return Err(ContractError::Version {
                got: request.version,
            });
        }
        sweep_core::layout::validate_run_id(&request.run_id)
            .map_err(|e| ContractError::Invalid(e.to_string()))?;
        match &request.shards {
            ShardSet::Range { first, end } if first >= end => Err(ContractError::Invalid(format!(
                "empty shard range [{first}, {end})"
            ))),
            ShardSet::List(list) if list.is_empty() || list.len() > MAX_LISTED_SHARDS => {
                Err(ContractError::Invalid(format!(
                    "a dispatch lists 1 to {MAX_LISTED_SHARDS} shards, got {}",
                    list.len()
                )))
            }
            _ => Ok(request),
        }
    }

    /// The request as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("dispatch request serializes")
    }
}

/// Whether `bytes` is the supervisor's scheduled tick, [`SUPERVISE`].
pub fn is_supervise(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        sweep: String,
    }
    matches!(serde_json::from_slice::<Probe>(bytes), Ok(p) if p.sweep == SUPERVISE)
}

/// The scheduled event that starts a supervisor pass: `{"sweep": "supervise"}` (the
/// EventBridge rule's constant input).
pub const SUPERVISE: &str = "supervise";

/// What the orchestrator's invocation payload is: an asynchronous dispatch from itself, or
/// (anything else but a supervisor tick) an API Gateway event.
pub fn is_dispatch(bytes: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Probe {
        #[serde(default)]
        run_id: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        shards: Option<serde::de::IgnoredAny>,
        #[serde(default, rename = "requestContext")]
        request_context: Option<serde::de::IgnoredAny>,
    }
    matches!(
        serde_json::from_slice::<Probe>(bytes),
        Ok(Probe {
            run_id: Some(_),
            shards: Some(_),
            request_context: None
        })
    )
}

/// A record from the functions' on-failure queue: Lambda's invocation record for an
/// asynchronous event that failed every attempt (`RetriesExhausted`) or waited too long in
/// Lambda's queue (`EventAgeExceeded`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedInvocation {
    /// Why Lambda gave up (`requestContext.condition`).
    pub condition: String,
    /// Attempts made (`requestContext.approximateInvokeCount`; 0 when the event expired
    /// before any).
    pub invoke_count: u32,
    /// What the event asked for.
    pub request: FailedRequest,
}

/// The event a [`FailedInvocation`] carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedRequest {
    /// Shards for a worker.
    Worker(WorkerPayload),
    /// A dispatch the orchestrator sent itself.
    Dispatch(DispatchRequest),
    /// Anything else (not ours, or malformed): dropped with a log line.
    Unknown(String),
}

impl FailedInvocation {
    /// Parses an invocation record (the SQS message body). Only a record that is not an
    /// invocation record at all is an error.
    pub fn parse(bytes: &[u8]) -> Result<Self, ContractError> {
        #[derive(Deserialize)]
        struct Context {
            #[serde(default)]
            condition: String,
            #[serde(default, rename = "approximateInvokeCount")]
            invoke_count: u32,
        }
        #[derive(Deserialize)]
        struct Record {
            #[serde(rename = "requestContext")]
            context: Context,
            #[serde(default, rename = "requestPayload")]
            payload: serde_json::Value,
        }
        let record: Record = serde_json::from_slice(bytes)
            .map_err(|e| ContractError::Invalid(format!("not an invocation record: {e}")))?;
        let payload = serde_json::to_vec(&record.payload).expect("json serializes");
        // Both carry a run id and shards; a worker payload lists them as an array.
        let request = match (
            WorkerPayload::parse(&payload),
            DispatchRequest::parse(&payload),
        ) {
            (Ok(w), _) => FailedRequest::Worker(w),
            (_, Ok(d)) => FailedRequest::Dispatch(d),
            (Err(e), Err(_)) => FailedRequest::Unknown(e.to_string()),
        };
        Ok(FailedInvocation {
            condition: record.context.condition,
            invoke_count: record.context.invoke_count,
            request,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip_and_stay_small() {
        let shards: Vec<u64> = (0..1_000_000).collect();
        let payloads = plan_invocations("r1", &shards, 64, 0);
        assert_eq!(payloads.len(), 15_625);
        let biggest = payloads.iter().map(|p| p.to_bytes().len()).max().unwrap();
        assert!(biggest < 1024, "{biggest} bytes");
        assert_eq!(
            WorkerPayload::parse(&payloads[3].to_bytes()).unwrap(),
            payloads[3]
        );
    }

    #[test]
    fn dispatch_requests_round_trip_and_are_told_apart_from_http_events() {
        let d = DispatchRequest::range("r1", 0, 1_000_000);
        assert!(d.to_bytes().len() < 200);
        assert_eq!(DispatchRequest::parse(&d.to_bytes()).unwrap(), d);
        assert!(is_dispatch(&d.to_bytes()));
        assert!(!is_dispatch(
            br#"{"version":"2.0","rawPath":"/runs","requestContext":{}}"#
        ));
        for bad in [
            &br#"{"version":2,"run_id":"r1","shards":{"range":{"first":0,"end":1}}}"#[..],
            br#"{"version":1,"run_id":"r1","shards":{"range":{"first":3,"end":3}}}"#,
            br#"{"version":1,"run_id":"a/b","shards":{"list":[1]}}"#,
            br#"{"version":1,"run_id":"r1","shards":{"list":[]}}"#,
        ] {
            assert!(DispatchRequest::parse(bad).is_err());
        }
    }

    #[test]
    fn bad_payloads_are_refused_with_a_reason() {
        let wrong_version = br#"{"version": 2, "run_id": "r1", "shards": [0]}"#;
        assert_eq!(
            WorkerPayload::parse(wrong_version),
            Err(ContractError::Version { got: 2 })
        );
        for bad in [
            &br#"{"version": 1, "run_id": "../x", "shards": [0]}"#[..],
            br#"{"version": 1, "run_id": "r1", "shards": []}"#,
            br#"{"version": 1, "run_id": "r1", "shards": [0], "points": [1]}"#,
            b"not json",
        ] {
            assert!(matches!(
                WorkerPayload::parse(bad),
                Err(ContractError::Invalid(_))
            ));
        }
    }

    #[test]
    fn failed_invocation_records_are_read() {
        let worker = br#"{"version":"1.0","timestamp":"2026-01-01T00:00:00.000Z",
            "requestContext":{"requestId":"x","functionArn":"arn:aws:lambda:r:1:function:w:$LATEST",
                "condition":"RetriesExhausted","approximateInvokeCount":3},
            "requestPayload":{"version":1,"run_id":"r1","shards":[4,5],"attempt":0},
            "responseContext":{"statusCode":200,"functionError":"Unhandled"},
            "responsePayload":{"errorMessage":"boom"}}"#;
        let record = FailedInvocation::parse(worker).unwrap();
        assert_eq!(record.condition, "RetriesExhausted");
        assert_eq!(record.invoke_count, 3);
        assert!(matches!(&record.request, FailedRequest::Worker(w) if w.shards == [4, 5]));

        let expired =
            br#"{"requestContext":{"condition":"EventAgeExceeded","approximateInvokeCount":0},
            "requestPayload":{"version":1,"run_id":"r1","shards":{"list":[1]}}}"#;
        let record = FailedInvocation::parse(expired).unwrap();
        assert!(matches!(record.request, FailedRequest::Dispatch(_)));

        let foreign =
            br#"{"requestContext":{"condition":"RetriesExhausted"},"requestPayload":{"a":1}}"#;
        assert!(matches!(
            FailedInvocation::parse(foreign).unwrap().request,
            FailedRequest::Unknown(_)
        ));
        assert!(FailedInvocation::parse(b"hello").is_err());
    }
}
