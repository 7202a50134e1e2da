//! Declarations of kernels defined at run time (Python functions, loaded libraries), read
//! from the same JSON shape the registry writes for parameters and metrics.

use crate::experiment::{Bound, Bounds, MetricDecl, ParamDecl, Value, ValueType};
use serde_json::Value as Json;
use std::borrow::Cow;

/// Declarations must be `'static` like the built-ins'. A run-time kernel's strings are leaked
/// once per load, which is bounded by the distinct kernels a process loads.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn value_type(name: &str) -> Result<ValueType, String> {
    match name {
        "float" => Ok(ValueType::Float),
        "int" => Ok(ValueType::Int),
        "bool" => Ok(ValueType::Bool),
        "str" => Ok(ValueType::Str),
        other => Err(format!(
            "unsupported type {other:?}; use float, int, bool or str"
        )),
    }
}

fn typed(v: &Json, ty: ValueType, what: &str) -> Result<Value, String> {
    let bad = || format!("{what}: {v} is not a {ty:?}");
    match ty {
        ValueType::Float => v.as_f64().map(Value::Float).ok_or_else(bad),
        ValueType::Int => v.as_i64().map(Value::Int).ok_or_else(bad),
        ValueType::Bool => v.as_bool().map(Value::Bool).ok_or_else(bad),
        ValueType::Str => v
            .as_str()
            .map(|s| Value::Str(Cow::Owned(s.to_string())))
            .ok_or_else(bad),
    }
}

fn text(v: &Json, key: &str) -> &'static str {
    leak(v[key].as_str().unwrap_or_default())
}

/// Parameters from a JSON array of `{name, type, default, min, min_exclusive, max,
/// max_exclusive, choices, unit, description}` (bounds inclusive unless marked exclusive).
pub fn params_from_json(raw: &Json) -> Result<Vec<ParamDecl>, String> {
    let items = raw.as_array().ok_or("params: expected a list")?;
    let mut params = Vec::with_capacity(items.len());
    for p in items {
        let name = p["name"].as_str().ok_or("params: an entry has no name")?;
        let ty = value_type(p["type"].as_str().unwrap_or_default())
            .map_err(|e| format!("params.{name}: {e}"))?;
        let bound = |key: &str| match p[key].as_f64() {
            None => Bound::Unbounded,
            Some(x) if p[format!("{key}_exclusive")].as_bool() == Some(true) => Bound::Exclusive(x),
            Some(x) => Bound::Inclusive(x),
        };
        let default = match &p["default"] {
            Json::Null => None,
            d => Some(typed(d, ty, &format!("params.{name}.default"))?),
        };
        let choices: Vec<&'static str> = p["choices"]
            .as_array()
            .map(|a| a.iter().filter_map(Json::as_str).map(leak).collect())
            .unwrap_or_default();
        params.push(ParamDecl {
            name: leak(name),
            ty,
            default,
            bounds: Bounds {
                lo: bound("min"),
                hi: bound("max"),
            },
            choices: Box::leak(choices.into_boxed_slice()),
            unit: text(p, "unit"),
            description: text(p, "description"),
        });
    }
    Ok(params)
}

/// Metrics from a JSON array of `{name, type, unit, description}`.
pub fn metrics_from_json(raw: &Json) -> Result<Vec<MetricDecl>, String> {
    let items = raw.as_array().ok_or("metrics: expected a list")?;
    items
        .iter()
        .map(|m| {
            let name = m["name"].as_str().ok_or("metrics: an entry has no name")?;
            let ty = value_type(m["type"].as_str().unwrap_or_default())
                .map_err(|e| format!("metrics.{name}: {e}"))?;
            Ok(MetricDecl {
                name: leak(name),
                ty,
                unit: text(m, "unit"),
                description: text(m, "description"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bounds_defaults_and_errors() {
        let p = params_from_json(&json!([
            {"name": "theta", "type": "float", "default": 1.0, "min": 0.0, "min_exclusive": true,
             "max": 5, "unit": "1/s", "description": "rate"},
            {"name": "n", "type": "int", "default": null, "choices": []},
        ]))
        .unwrap();
        assert_eq!(p[0].bounds.to_string(), "(0, 5]");
        assert_eq!(p[0].default, Some(Value::Float(1.0)));
        assert_eq!(p[1].default, None);
        assert_eq!(p[1].bounds, Bounds::ANY);
        let e = params_from_json(&json!([{"name": "x", "type": "complex"}])).unwrap_err();
        assert_eq!(
            e,
            "params.x: unsupported type \"complex\"; use float, int, bool or str"
        );
        let e =
            params_from_json(&json!([{"name": "x", "type": "int", "default": 1.5}])).unwrap_err();
        assert_eq!(e, "params.x.default: 1.5 is not a Int");
        let m = metrics_from_json(&json!([{"name": "y", "type": "bool"}])).unwrap();
        assert_eq!(m[0].ty, ValueType::Bool);
    }
}
