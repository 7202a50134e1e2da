//! The run-level fields of a spec: the top-level mapping itself, `version`, `experiment`,
//! `name`, `seed`, `replicates` and `shard_size`.

use super::fields::{describe, int_field};
use super::limits::Limits;
use super::{SPEC_VERSION, TOP_LEVEL_FIELDS};
use crate::error::SpecError;
use crate::experiment::{Experiment, Registry};
use serde_json::{Map, Value as Json};
use std::sync::Arc;

/// The document as a mapping with only known top-level fields.
pub(super) fn top_level(doc: &Json) -> Result<&Map<String, Json>, SpecError> {
    let obj = doc.as_object().ok_or_else(|| {
        SpecError::new(
            "",
            format!("a spec must be a mapping, got {}", describe(doc)),
        )
    })?;
    for key in obj.keys() {
        if !TOP_LEVEL_FIELDS.contains(&key.as_str()) {
            return Err(SpecError::new(
                key.as_str(),
                format!("unknown field; allowed: {}", TOP_LEVEL_FIELDS.join(", ")),
            ));
        }
    }
    Ok(obj)
}

/// `version`: [`SPEC_VERSION`] when absent, and nothing else is accepted.
pub(super) fn version(obj: &Map<String, Json>) -> Result<u64, SpecError> {
    let Some(v) = obj.get("version") else {
        return Ok(SPEC_VERSION);
    };
    let version = int_field(v, "version", 0, u64::MAX)?;
    if version != SPEC_VERSION {
        return Err(SpecError::new(
            "version",
            format!("unsupported spec version {version}; this engine reads version {SPEC_VERSION}"),
        ));
    }
    Ok(version)
}

/// `experiment` (required): its name as written, and the registered experiment.
pub(super) fn experiment<'a>(
    obj: &'a Map<String, Json>,
    registry: &Registry,
) -> Result<(&'a str, Arc<dyn Experiment>), SpecError> {
    let name = match obj.get("experiment") {
        None => return Err(SpecError::new("experiment", "required field missing")),
        Some(Json::String(s)) => s.as_str(),
        Some(other) => {
            return Err(SpecError::new(
                "experiment",
                format!("expected a string, got {}", describe(other)),
            ));
        }
    };
    let experiment = registry.get(name).cloned().ok_or_else(|| {
        SpecError::new(
            "experiment",
            format!(
                "unknown experiment {name:?}; available: {}",
                registry.names().join(", ")
            ),
        )
    })?;
    Ok((name, experiment))
}

/// `kernel_sha256`: the build a loaded kernel must be (64 lower-case hex digits); absent means
/// "the build that is loaded". Refused for built-in and Python kernels, which have no build.
pub(super) fn kernel_sha256(
    obj: &Map<String, Json>,
    experiment: &dyn Experiment,
) -> Result<Option<String>, SpecError> {
    let loaded = experiment.build();
    let Some(v) = obj.get("kernel_sha256") else {
        return Ok(loaded.map(|b| b.sha256.clone()));
    };
    let pinned = match v.as_str() {
        Some(s) if s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => s,
        _ => {
            return Err(SpecError::new(
                "kernel_sha256",
                format!("expected 64 lower-case hex digits, got {}", describe(v)),
            ));
        }
    };
    match loaded {
        None => Err(SpecError::new(
            "kernel_sha256",
            format!(
                "experiment {} is {}, not a loaded kernel library: remove kernel_sha256",
                experiment.name(),
                experiment.origin()
            ),
        )),
        Some(b) if b.sha256 != pinned => Err(SpecError::new(
            "kernel_sha256",
            format!(
                "the spec pins build {} of kernel {}, but the loaded {} is build {} (from {}): \
                 load the pinned build, or start a new run",
                &pinned[..12],
                experiment.name(),
                experiment.name(),
                &b.sha256[..12],
                b.origin
            ),
        )),
        Some(_) => Ok(Some(pinned.to_string())),
    }
}

/// `name`: 1 to 128 printable characters, `default` when absent.
pub(super) fn name(obj: &Map<String, Json>, default: &str) -> Result<String, SpecError> {
    match obj.get("name") {
        None => Ok(default.to_string()),
        Some(Json::String(s)) => {
            if s.is_empty() || s.chars().count() > 128 || s.chars().any(char::is_control) {
                return Err(SpecError::new(
                    "name",
                    "must be 1 to 128 printable characters",
                ));
            }
            Ok(s.clone())
        }
        Some(other) => Err(SpecError::new(
            "name",
            format!("expected a string, got {}", describe(other)),
        )),
    }
}

/// `seed`: 0 when absent, at most `i64::MAX` (so every client can hold it).
pub(super) fn seed(obj: &Map<String, Json>) -> Result<u64, SpecError> {
    match obj.get("seed") {
        None => Ok(0),
        Some(v) => int_field(v, "seed", 0, i64::MAX as u64),
    }
}

/// `replicates`: 1 when absent.
pub(super) fn replicates(obj: &Map<String, Json>, limits: &Limits) -> Result<u64, SpecError> {
    match obj.get("replicates") {
        None => Ok(1),
        Some(v) => int_field(v, "replicates", 1, limits.max_replicates),
    }
}

/// `max_failures` and `max_failure_rate`, if given.
pub(super) fn failure_limit(obj: &Map<String, Json>) -> Result<super::FailureLimit, SpecError> {
    let max_failures = match obj.get("max_failures") {
        None => None,
        Some(v) => Some(int_field(v, "max_failures", 0, i64::MAX as u64)?),
    };
    let max_rate = match obj.get("max_failure_rate") {
        None => None,
        Some(v) => match v.as_f64() {
            Some(x) if x > 0.0 && x <= 1.0 => Some(x),
            Some(_) => {
                return Err(SpecError::new(
                    "max_failure_rate",
                    format!(
                        "{} is outside the allowed range (0, 1] (a fraction of the run's rows)",
                        describe(v)
                    ),
                ));
            }
            None => {
                return Err(SpecError::new(
                    "max_failure_rate",
                    format!("expected a number in (0, 1], got {}", describe(v)),
                ));
            }
        },
    };
    Ok(super::FailureLimit {
        max_failures,
        max_rate,
    })
}

/// `shard_size`, if the spec gives one.
pub(super) fn shard_size(
    obj: &Map<String, Json>,
    limits: &Limits,
) -> Result<ShardRequest, SpecError> {
    match obj.get("shard_size") {
        None => Ok(ShardRequest::Default),
        Some(Json::String(s)) if s == "auto" => Ok(ShardRequest::Auto),
        Some(v @ Json::String(_)) => Err(SpecError::new(
            "shard_size",
            format!(
                "expected an integer in [1, {}] or \"auto\", got {}",
                limits.max_shard_size,
                describe(v)
            ),
        )),
        Some(v) => int_field(v, "shard_size", 1, limits.max_shard_size).map(ShardRequest::Given),
    }
}

/// What a spec says about its shard size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShardRequest {
    /// Nothing: about 64 shards.
    Default,
    /// `"auto"`: chosen from a calibration where the run is created.
    Auto,
    /// This many points per shard.
    Given(u64),
}

#[cfg(test)]
mod tests {
    use super::super::tests::registry;
    use super::*;
    use serde_json::json;

    fn obj(v: Json) -> Map<String, Json> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn only_mappings_with_known_fields_are_specs() {
        let e = top_level(&json!([1])).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("", "a spec must be a mapping, got a list")
        );
        let e = top_level(&json!({"experiment": "probe", "bogus": 1})).unwrap_err();
        assert_eq!(e.path, "bogus");
        assert_eq!(
            e.message,
            "unknown field; allowed: version, experiment, name, seed, replicates, shard_size, params, zip, sample, kernel_sha256, max_failures, max_failure_rate"
        );
    }

    #[test]
    fn failure_thresholds_are_checked_and_named() {
        let limit =
            failure_limit(&obj(json!({"max_failures": 3, "max_failure_rate": 0.05}))).unwrap();
        assert_eq!((limit.max_failures, limit.max_rate), (Some(3), Some(0.05)));
        assert_eq!(limit.exceeded(3, 1000), None);
        assert!(
            limit
                .exceeded(4, 1000)
                .unwrap()
                .contains("max_failures = 3")
        );
        let rate = failure_limit(&obj(json!({"max_failure_rate": 0.5}))).unwrap();
        assert_eq!(rate.exceeded(5, 10), None);
        assert!(rate.exceeded(6, 10).unwrap().contains("6 of 10 rows"));
        assert!(!failure_limit(&obj(json!({}))).unwrap().is_set());
        for (bad, path, says) in [
            (
                json!({"max_failures": -1}),
                "max_failures",
                "outside the allowed range",
            ),
            (
                json!({"max_failures": "a"}),
                "max_failures",
                "expected an integer",
            ),
            (json!({"max_failure_rate": 0}), "max_failure_rate", "(0, 1]"),
            (
                json!({"max_failure_rate": 1.5}),
                "max_failure_rate",
                "(0, 1]",
            ),
            (
                json!({"max_failure_rate": "x"}),
                "max_failure_rate",
                "expected a number",
            ),
        ] {
            let e = failure_limit(&obj(bad)).unwrap_err();
            assert_eq!(e.path, path);
            assert!(e.message.contains(says), "{}", e.message);
        }
    }

    #[test]
    fn absent_fields_take_their_defaults() {
        let o = obj(json!({}));
        assert_eq!(version(&o), Ok(SPEC_VERSION));
        assert_eq!(name(&o, "probe"), Ok("probe".to_string()));
        assert_eq!(seed(&o), Ok(0));
        assert_eq!(replicates(&o, &Limits::default()), Ok(1));
        assert_eq!(
            shard_size(&o, &Limits::default()),
            Ok(ShardRequest::Default)
        );
    }

    #[test]
    fn given_fields_are_checked() {
        let o = obj(json!({"version": 2, "name": "", "seed": 3, "replicates": 0, "shard_size": 5}));
        assert_eq!(
            version(&o).unwrap_err().message,
            "unsupported spec version 2; this engine reads version 1"
        );
        assert_eq!(
            name(&o, "x").unwrap_err().message,
            "must be 1 to 128 printable characters"
        );
        assert_eq!(seed(&o), Ok(3));
        assert_eq!(
            replicates(&o, &Limits::default()).unwrap_err().message,
            "0 is outside the allowed range [1, 100000]"
        );
        assert_eq!(
            shard_size(&o, &Limits::default()),
            Ok(ShardRequest::Given(5))
        );
        let auto = obj(json!({"shard_size": "auto"}));
        assert_eq!(
            shard_size(&auto, &Limits::default()),
            Ok(ShardRequest::Auto)
        );
        let e = shard_size(&obj(json!({"shard_size": "big"})), &Limits::default()).unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            (
                "shard_size",
                "expected an integer in [1, 1000000] or \"auto\", got \"big\""
            )
        );
    }

    #[test]
    fn the_experiment_is_required_and_must_be_registered() {
        let reg = registry();
        let o = obj(json!({"experiment": "probe"}));
        let (name, e) = experiment(&o, &reg).unwrap();
        assert_eq!((name, e.name()), ("probe", "probe"));
        let err = experiment(&obj(json!({})), &reg).err().unwrap();
        assert_eq!(
            (err.path.as_str(), err.message.as_str()),
            ("experiment", "required field missing")
        );
        let err = experiment(&obj(json!({"experiment": "nope"})), &reg)
            .err()
            .unwrap();
        assert_eq!(err.message, "unknown experiment \"nope\"; available: probe");
        let err = experiment(&obj(json!({"experiment": 3})), &reg)
            .err()
            .unwrap();
        assert_eq!(err.message, "expected a string, got 3");
    }
}
