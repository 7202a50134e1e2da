//! The `sample:` section: a sampled design (`random`, `lhs`, `sobol`) of `n` points over
//! parameters given distributions (see `dist`), and its normalized JSON form.

use super::claims::Claims;
use super::dist::{DistForm, parse_dist};
use super::fields::{describe, int_field, one_entry, quoted};
use crate::error::SpecError;
use crate::experiment::{Value, ValueType};
use crate::sample::{Dist, Method, SOBOL_DIMS, Sample, SampleDim};
use serde_json::{Map, Value as Json, json};

/// Every sampling design a spec can name in `sample.method`, in the order error messages
/// and the JSON Schema list them. (`scramble` is set from the spec.)
pub const SAMPLE_METHODS: [Method; 3] = [
    Method::Random,
    Method::Lhs,
    Method::Sobol { scramble: false },
];

/// The spec names of [`SAMPLE_METHODS`].
pub fn sample_method_names() -> [&'static str; 3] {
    SAMPLE_METHODS.map(Method::name)
}

const SAMPLE_FIELDS: &[&str] = &["method", "n", "params", "scramble", "seed"];

/// Parses the `sample:` section, if there is one. `run_seed` is the design's seed unless
/// the section gives its own.
pub(super) fn parse_sample(
    section: Option<&Json>,
    run_seed: u64,
    claims: &mut Claims,
) -> Result<Option<Sample>, SpecError> {
    let Some(v) = section else {
        return Ok(None);
    };
    let obj = v.as_object().ok_or_else(|| {
        SpecError::new("sample", format!("expected a mapping, got {}", describe(v)))
    })?;
    for key in obj.keys() {
        if !SAMPLE_FIELDS.contains(&key.as_str()) {
            return Err(SpecError::new(
                format!("sample.{key}"),
                format!("unknown field; allowed: {}", SAMPLE_FIELDS.join(", ")),
            ));
        }
    }
    let mut method = parse_method(obj)?;
    let scramble = match obj.get("scramble") {
        None => false,
        Some(Json::Bool(b)) if matches!(method, Method::Sobol { .. }) => *b,
        Some(Json::Bool(_)) => {
            return Err(SpecError::new(
                "sample.scramble",
                "only applies to method sobol",
            ));
        }
        Some(other) => {
            return Err(SpecError::new(
                "sample.scramble",
                format!("expected true/false, got {}", describe(other)),
            ));
        }
    };
    if let Method::Sobol { scramble: s } = &mut method {
        *s = scramble;
    }
    let n = match obj.get("n") {
        None => return Err(SpecError::new("sample.n", "required field missing")),
        Some(v) => int_field(v, "sample.n", 1, 1 << 40)?,
    };
    let seed = match obj.get("seed") {
        None => run_seed,
        Some(v) => int_field(v, "sample.seed", 0, i64::MAX as u64)?,
    };
    let dims = parse_dims(obj.get("params"), method, claims)?;
    Ok(Some(Sample::new(method, n, seed, dims)))
}

fn parse_method(obj: &Map<String, Json>) -> Result<Method, SpecError> {
    let found = match obj.get("method") {
        None => return Err(SpecError::new("sample.method", "required field missing")),
        Some(Json::String(m)) => SAMPLE_METHODS.into_iter().find(|x| x.name() == m),
        Some(_) => None,
    };
    found.ok_or_else(|| {
        SpecError::new(
            "sample.method",
            format!(
                "{} is not one of {}",
                describe(&obj["method"]),
                quoted(&sample_method_names())
            ),
        )
    })
}

fn parse_dims(
    params: Option<&Json>,
    method: Method,
    claims: &mut Claims,
) -> Result<Vec<SampleDim>, SpecError> {
    let params = match params {
        Some(Json::Object(m)) if !m.is_empty() => m,
        Some(other) => {
            return Err(SpecError::new(
                "sample.params",
                format!(
                    "expected a non-empty mapping of parameter names to distributions, got {}",
                    describe(other)
                ),
            ));
        }
        None => return Err(SpecError::new("sample.params", "required field missing")),
    };
    if matches!(method, Method::Sobol { .. }) && params.len() > SOBOL_DIMS {
        return Err(SpecError::new(
            "sample.params",
            format!(
                "sobol supports at most {SOBOL_DIMS} dimensions, got {}",
                params.len()
            ),
        ));
    }
    let mut dims = Vec::with_capacity(params.len());
    for (key, value) in params {
        let path = format!("sample.params.{key}");
        let (decl_index, decl) = claims.take(key, &path)?;
        dims.push(SampleDim {
            name: key.clone(),
            decl_index,
            ty: decl.ty,
            dist: parse_dist(value, decl, &path)?,
        });
    }
    Ok(dims)
}

fn number_json(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
}

/// The normalized JSON form of a sample: every field explicit, in a fixed key order.
pub(super) fn sample_json(s: &Sample) -> Json {
    let mut params = Map::new();
    for dim in &s.dims {
        let int = dim.ty == ValueType::Int;
        let num = |x: f64| {
            if int {
                Json::from(x as i64)
            } else {
                number_json(x)
            }
        };
        let args = match &dim.dist {
            Dist::Uniform(a, b) | Dist::LogUniform(a, b) => json!([num(*a), num(*b)]),
            Dist::Normal(m, sd) => json!([number_json(*m), number_json(*sd)]),
            Dist::Choice(values) => Json::Array(values.iter().map(Value::to_json).collect()),
        };
        params.insert(
            dim.name.clone(),
            one_entry(DistForm::of(&dim.dist).name(), args),
        );
    }
    let mut obj = Map::new();
    obj.insert("method".into(), Json::from(s.method.name()));
    obj.insert("n".into(), Json::from(s.n));
    obj.insert("seed".into(), Json::from(s.seed));
    if let Method::Sobol { scramble } = s.method {
        obj.insert("scramble".into(), Json::Bool(scramble));
    }
    obj.insert("params".into(), Json::Object(params));
    Json::Object(obj)
}

#[cfg(test)]
mod tests {
    use super::super::tests::Probe;
    use super::*;
    use serde_json::json;

    fn sample(v: Json) -> Result<Sample, SpecError> {
        parse_sample(Some(&v), 11, &mut Claims::new(&Probe)).map(|s| s.expect("a sample"))
    }

    fn err(v: Json) -> (String, String) {
        let e = sample(v).unwrap_err();
        (e.path, e.message)
    }

    fn one(dist: Json) -> Json {
        json!({"method": "random", "n": 4, "params": {"a": dist}})
    }

    #[test]
    fn method_names_are_listed_once_in_a_fixed_order() {
        assert_eq!(sample_method_names(), ["random", "lhs", "sobol"]);
    }

    #[test]
    fn unknown_methods_list_the_allowed_ones() {
        let mut bad = one(json!({"uniform": [0, 1]}));
        bad["method"] = json!("grid");
        assert_eq!(
            err(bad),
            (
                "sample.method".into(),
                r#""grid" is not one of "random", "lhs", "sobol""#.into()
            )
        );
    }

    #[test]
    fn the_seed_defaults_to_the_run_seed_and_scramble_is_for_sobol_only() {
        let s = sample(one(json!({"uniform": [0, 1]}))).unwrap();
        assert_eq!((s.method, s.n, s.seed), (Method::Random, 4, 11));
        let s = sample(
            json!({"method": "sobol", "n": 2, "seed": 5, "scramble": true,
            "params": {"a": {"uniform": [0, 1]}}}),
        )
        .unwrap();
        assert_eq!((s.method, s.seed), (Method::Sobol { scramble: true }, 5));
        let mut bad = one(json!({"uniform": [0, 1]}));
        bad["scramble"] = json!(true);
        assert_eq!(
            err(bad),
            (
                "sample.scramble".into(),
                "only applies to method sobol".into()
            )
        );
    }

    #[test]
    fn no_section_means_no_sample() {
        assert!(
            parse_sample(None, 0, &mut Claims::new(&Probe))
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn sample_json_writes_integers_as_integers() {
        let s = sample(json!({"method": "random", "n": 2, "params": {
            "k": {"uniform": [1, 9]}, "a": {"uniform": [0, 1]}}}))
        .unwrap();
        assert_eq!(
            sample_json(&s).to_string(),
            r#"{"method":"random","n":2,"seed":11,"params":{"k":{"uniform":[1,9]},"a":{"uniform":[0.0,1.0]}}}"#
        );
    }
}
