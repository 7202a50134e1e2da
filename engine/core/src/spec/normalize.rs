//! The normalized spec: every field explicit, defaults filled, in a fixed key order. Its
//! compact JSON is the canonical text a run's content hash is taken over.

use super::Spec;
use super::axis::Axis;
use super::design::sample_json;
use crate::experiment::Value;
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

impl Spec {
    /// The normalized spec: every field explicit, defaults filled, in a fixed key order.
    pub fn normalized(&self) -> Json {
        let mut params = Map::new();
        let mut zip = Vec::new();
        let mut sample = None;
        for axis in &self.axes {
            match axis {
                Axis::Param(p) => {
                    params.insert(p.name.clone(), p.values.to_json());
                }
                Axis::Zip(z) => {
                    let group: Map<String, Json> = z
                        .members
                        .iter()
                        .map(|(name, _, values)| {
                            (
                                name.clone(),
                                Json::Array(values.iter().map(Value::to_json).collect()),
                            )
                        })
                        .collect();
                    zip.push(Json::Object(group));
                }
                Axis::Sample(s) => sample = Some(sample_json(s)),
            }
        }
        let mut obj = Map::new();
        obj.insert("version".into(), Json::from(self.version));
        obj.insert("experiment".into(), Json::from(self.experiment.name()));
        obj.insert("name".into(), Json::from(self.name.clone()));
        obj.insert("seed".into(), Json::from(self.seed));
        obj.insert("replicates".into(), Json::from(self.replicates));
        // "auto" until a run resolves it (Spec::choose_shard_size), then the size chosen.
        obj.insert(
            "shard_size".into(),
            if self.auto_shards {
                Json::from("auto")
            } else {
                Json::from(self.shard_size)
            },
        );
        obj.insert("params".into(), Json::Object(params));
        if !zip.is_empty() {
            obj.insert("zip".into(), Json::Array(zip));
        }
        if let Some(sample) = sample {
            obj.insert("sample".into(), sample);
        }
        if let Some(sha) = &self.kernel_sha256 {
            obj.insert("kernel_sha256".into(), Json::from(sha.clone()));
        }
        if let Some(max) = self.failure_limit.max_failures {
            obj.insert("max_failures".into(), Json::from(max));
        }
        if let Some(rate) = self.failure_limit.max_rate {
            obj.insert("max_failure_rate".into(), Json::from(rate));
        }
        Json::Object(obj)
    }

    /// The normalized spec as compact JSON: the bytes the content hash is taken over.
    pub fn canonical_json(&self) -> String {
        self.normalized().to_string()
    }

    /// SHA-256 of the canonical JSON, hex-encoded.
    pub fn content_hash(&self) -> String {
        let digest = Sha256::digest(self.canonical_json().as_bytes());
        digest.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::spec;
    use serde_json::json;

    const FULL: &str = r#"{
        "experiment": "probe", "seed": 9, "replicates": 2,
        "params": {"k": {"range": [1, 7, 2]}, "a": {"linspace": [0, 1, 3]}},
        "zip": [{"mode": ["lo", "hi"], "on": [true, false]}]
    }"#;

    #[test]
    fn defaults_are_filled_in_a_fixed_key_order() {
        let n = spec(r#"{"experiment": "probe", "params": {"a": 1}}"#).normalized();
        assert_eq!(
            n.to_string(),
            r#"{"version":1,"experiment":"probe","name":"probe","seed":0,"replicates":1,"shard_size":1,"params":{"a":1.0,"k":3,"mode":"lo","on":false}}"#
        );
    }

    #[test]
    fn zip_groups_and_generators_keep_their_form() {
        let n = spec(FULL).normalized();
        assert_eq!(n["params"]["k"], json!({"range": [1, 7, 2]}));
        assert_eq!(n["params"]["a"], json!({"linspace": [0.0, 1.0, 3]}));
        assert_eq!(
            n["zip"],
            json!([{"mode": ["lo", "hi"], "on": [true, false]}])
        );
        assert!(n.get("sample").is_none());
    }

    #[test]
    fn samples_are_normalized_with_every_field() {
        let s = spec(
            r#"{"experiment": "probe", "seed": 4, "sample": {"method": "sobol", "n": 8,
                "params": {"a": {"normal": [5, 0.5]}, "k": {"uniform": [1, 9]}, "mode": {"choice": ["hi"]}}}}"#,
        );
        assert_eq!(
            s.normalized()["sample"].to_string(),
            r#"{"method":"sobol","n":8,"seed":4,"scramble":false,"params":{"a":{"normal":[5.0,0.5]},"k":{"uniform":[1,9]},"mode":{"choice":["hi"]}}}"#
        );
    }

    #[test]
    fn the_normalized_spec_round_trips_to_the_same_hash() {
        for text in [
            FULL,
            r#"{"experiment": "probe", "params": {"a": [1, 2]}, "sample": {"method": "lhs", "n": 5,
                "params": {"k": {"loguniform": [1, 64]}}}}"#,
        ] {
            let s = spec(text);
            let again = spec(&s.canonical_json());
            assert_eq!(again.canonical_json(), s.canonical_json());
            assert_eq!(again.content_hash(), s.content_hash());
        }
    }

    #[test]
    fn the_hash_is_sha256_hex_of_the_canonical_json() {
        let s = spec(FULL);
        let h = s.content_hash();
        assert_eq!(h.len(), 64);
        assert!(
            h.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_ne!(
            h,
            spec(&FULL.replace("\"seed\": 9", "\"seed\": 8")).content_hash()
        );
    }
}
