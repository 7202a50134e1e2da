//! The JSON Schema (draft 2020-12) of a spec, generated from the registry's declarations and
//! the engine's limits, so editors and other clients can check specs without the engine.
//!
//! It describes the same rules the validator in [`crate::spec`] enforces, as far as JSON
//! Schema can say them; cross-field rules (a parameter given twice, equal zip lengths, a
//! grid's total size) are left to the validator. The committed copy is checked for drift by a
//! test in `sim_experiments`.

use crate::experiment::{Bound, ParamDecl, Registry, ValueType};
use crate::sample::{Method, SOBOL_DIMS};
use crate::spec::{DistForm, GridForm, Limits, SPEC_VERSION, sample_method_names};
use serde_json::{Value as Json, json};

fn scalar(p: &ParamDecl) -> Json {
    let mut s = match p.ty {
        ValueType::Float => json!({"type": "number"}),
        ValueType::Int => json!({"type": "integer"}),
        ValueType::Bool => json!({"type": "boolean"}),
        ValueType::Str if p.choices.is_empty() => json!({"type": "string"}),
        ValueType::Str => json!({"enum": p.choices}),
    };
    if matches!(p.ty, ValueType::Float | ValueType::Int) {
        let obj = s.as_object_mut().expect("object");
        match p.bounds.lo {
            Bound::Inclusive(x) => {
                obj.insert("minimum".into(), json!(x));
            }
            Bound::Exclusive(x) => {
                obj.insert("exclusiveMinimum".into(), json!(x));
            }
            Bound::Unbounded => {}
        }
        match p.bounds.hi {
            Bound::Inclusive(x) => {
                obj.insert("maximum".into(), json!(x));
            }
            Bound::Exclusive(x) => {
                obj.insert("exclusiveMaximum".into(), json!(x));
            }
            Bound::Unbounded => {}
        }
    }
    s.as_object_mut()
        .expect("object")
        .insert("description".into(), json!(p.description));
    s
}

fn list(item: &Json, limits: &Limits) -> Json {
    json!({"type": "array", "items": item, "minItems": 1, "maxItems": limits.max_list_len})
}

fn one_key(key: &str, value: Json) -> Json {
    json!({"type": "object", "properties": {key: value}, "required": [key], "additionalProperties": false})
}

fn axis(p: &ParamDecl, limits: &Limits) -> Json {
    let s = scalar(p);
    let numeric = matches!(p.ty, ValueType::Float | ValueType::Int);
    let mut forms = vec![s.clone(), list(&s, limits)];
    for form in GridForm::ALL {
        let args = match form {
            GridForm::Values => list(&s, limits),
            GridForm::Range => json!({"$ref": "#/$defs/start_stop_step"}),
            GridForm::Linspace | GridForm::Logspace => json!({"$ref": "#/$defs/start_stop_n"}),
        };
        if numeric || !form.is_generator() {
            forms.push(one_key(form.name(), args));
        }
    }
    json!({"anyOf": forms})
}

fn distribution(p: &ParamDecl, limits: &Limits) -> Json {
    let s = scalar(p);
    let mut forms = vec![one_key(DistForm::Choice.name(), list(&s, limits))];
    if matches!(p.ty, ValueType::Float | ValueType::Int) {
        for form in DistForm::ALL.into_iter().filter(|f| f.is_numeric()) {
            forms.push(one_key(form.name(), json!({"$ref": "#/$defs/pair"})));
        }
    }
    json!({"anyOf": forms})
}

/// The spec schema for every experiment in `registry`.
pub fn spec_json_schema(registry: &Registry, limits: &Limits) -> Json {
    let sobol = Method::Sobol { scramble: false }.name();
    let per_experiment: Vec<Json> = registry
        .iter()
        .map(|e| {
            let names: Vec<&str> = e.params().iter().map(|p| p.name).collect();
            let required: Vec<&str> = e
                .params()
                .iter()
                .filter(|p| p.default.is_none())
                .map(|p| p.name)
                .collect();
            let axes: serde_json::Map<String, Json> = e
                .params()
                .iter()
                .map(|p| (p.name.to_string(), axis(p, limits)))
                .collect();
            let zipped: serde_json::Map<String, Json> = e
                .params()
                .iter()
                .map(|p| (p.name.to_string(), list(&scalar(p), limits)))
                .collect();
            let dists: serde_json::Map<String, Json> = e
                .params()
                .iter()
                .map(|p| (p.name.to_string(), distribution(p, limits)))
                .collect();
            json!({
                "if": {"properties": {"experiment": {"const": e.name()}}, "required": ["experiment"]},
                "then": {
                    "description": format!("{}: {} (required parameters: {})", e.name(), e.description(), required.join(", ")),
                    "properties": {
                        "params": {"type": "object", "properties": axes, "additionalProperties": false},
                        "zip": {"items": {"properties": zipped, "propertyNames": {"enum": names}}},
                        "sample": {"properties": {"params": {"properties": dists, "propertyNames": {"enum": names}}}},
                    },
                },
            })
        })
        .collect();
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": format!("sweep_magic spec, version {SPEC_VERSION}"),
        "description": "A parameter sweep: an experiment, its parameter space (grid params, zipped groups, a sampled design), replicates and seed. Generated from the experiment registry; do not edit.",
        "type": "object",
        "required": ["experiment"],
        "additionalProperties": false,
        "properties": {
            "version": {"const": SPEC_VERSION},
            "experiment": {"enum": registry.names()},
            "name": {"type": "string", "minLength": 1, "maxLength": 128},
            "seed": {"type": "integer", "minimum": 0, "maximum": i64::MAX},
            "replicates": {"type": "integer", "minimum": 1, "maximum": limits.max_replicates},
            "shard_size": {"oneOf": [
                {"type": "integer", "minimum": 1, "maximum": limits.max_shard_size},
                {"const": "auto", "description": "Chosen from a short calibration where the run is created: shards of about a target time, spread over the workers."}
            ]},
            "max_failures": {"type": "integer", "minimum": 0, "maximum": i64::MAX, "description": "Stop the run, state failed, once more rows than this have failed."},
            "max_failure_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1, "description": "Stop the run, state failed, once more than this fraction of its rows have failed."},
            "kernel_sha256": {"type": "string", "pattern": "^[0-9a-f]{64}$", "description": "The SHA-256 of a loaded kernel library the run must use (written by normalization for loaded kernels)."},
            "params": {"type": "object"},
            "zip": {"type": "array", "items": {"type": "object", "minProperties": 1}},
            "sample": {"$ref": "#/$defs/sample"},
        },
        "allOf": per_experiment,
        "$defs": {
            "start_stop_n": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}, {"type": "integer", "minimum": 1}], "minItems": 3, "maxItems": 3},
            "start_stop_step": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}, {"type": "number", "not": {"const": 0}}], "minItems": 3, "maxItems": 3},
            "pair": {"type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "minItems": 2, "maxItems": 2},
            "sample": {
                "type": "object",
                "required": ["method", "n", "params"],
                "additionalProperties": false,
                "properties": {
                    "method": {"enum": sample_method_names()},
                    "n": {"type": "integer", "minimum": 1, "maximum": 1u64 << 40},
                    "seed": {"type": "integer", "minimum": 0, "maximum": i64::MAX},
                    "scramble": {"type": "boolean"},
                    "params": {"type": "object", "minProperties": 1, "maxProperties": SOBOL_DIMS},
                },
                "if": {"properties": {"method": {"not": {"const": sobol}}}},
                "then": {"not": {"required": ["scramble"]}},
            },
        },
    })
}
