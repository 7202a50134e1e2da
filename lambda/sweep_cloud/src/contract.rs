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
        })
        .collect()
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
}
