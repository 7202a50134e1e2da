//! `lambda/openapi.json` describes exactly what the Rust types serialize: every response
//! type's JSON keys are the schema's properties, and every required property is present.

use serde::Serialize;
use serde_json::Value;
use sweep_cloud::contract::plan_invocations;
use sweep_cloud::orchestrator::{ApiError, ResumeResponse};
use sweep_cloud::{CloudConfig, Orchestrator};
use sweep_core::MemoryStore;

fn openapi() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn check<T: Serialize>(doc: &Value, schema: &str, value: &T) {
    let schema_doc = &doc["components"]["schemas"][schema];
    let props: Vec<&str> = schema_doc["properties"]
        .as_object()
        .unwrap_or_else(|| panic!("{schema} is not in openapi.json"))
        .keys()
        .map(String::as_str)
        .collect();
    let json = serde_json::to_value(value).unwrap();
    let keys: Vec<&str> = json
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in &keys {
        assert!(
            props.contains(key),
            "{schema}: {key} is serialized but not documented"
        );
    }
    for required in schema_doc["required"].as_array().unwrap() {
        let required = required.as_str().unwrap();
        assert!(
            keys.contains(&required),
            "{schema}: required {required} is not serialized"
        );
    }
    for (key, v) in json.as_object().unwrap() {
        let ty = schema_doc["properties"][key]["type"].as_str().unwrap_or("");
        let ok = match ty {
            "integer" => v.is_u64() || v.is_i64(),
            "string" => v.is_string(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            _ => true,
        };
        assert!(ok, "{schema}.{key}: {v} is not a {ty}");
        if let Some(allowed) = schema_doc["properties"][key]["enum"].as_array() {
            assert!(
                allowed.contains(v),
                "{schema}.{key}: {v} is not in {allowed:?}"
            );
        }
    }
}

fn enum_of(doc: &Value, schema: &str, key: &str) -> Vec<String> {
    doc["components"]["schemas"][schema]["properties"][key]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{schema}.{key} has no enum"))
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn response_types_match_the_openapi_document() {
    let doc = openapi();
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, CloudConfig::default());
    let (submitted, payloads) = orch
        .submit(
            br#"{"experiment": "diag_sleep", "replicates": 2}"#,
            "r1",
            "t",
        )
        .unwrap();
    check(&doc, "SubmitResponse", &submitted);
    check(&doc, "RunStatus", &orch.status("r1").unwrap());
    check(&doc, "WorkerPayload", &payloads[0]);
    check(
        &doc,
        "WorkerPayload",
        &plan_invocations("r1", &[1, 2], 2, 1)[0],
    );
    check(
        &doc,
        "ResumeResponse",
        &ResumeResponse {
            run_id: "r1".into(),
            shards_dispatched: 3,
        },
    );
    let with_path: ApiError = orch
        .submit(
            br#"{"experiment": "diag_sleep", "replicates": 0}"#,
            "r2",
            "t",
        )
        .unwrap_err();
    assert_eq!(with_path.path, "replicates");
    check(&doc, "Error", &with_path);
    check(&doc, "Error", &orch.status("nope").unwrap_err());
}

#[test]
fn the_documented_enums_are_the_engines() {
    let doc = openapi();
    let kinds: Vec<String> = sweep_core::ErrorKind::ALL
        .iter()
        .map(|k| k.as_str().to_string())
        .collect();
    assert_eq!(enum_of(&doc, "Error", "kind"), kinds);
    use sweep_core::RunState::*;
    let states: Vec<String> = [Running, Complete, Cancelled, Incomplete, Failed]
        .iter()
        .map(|s| s.as_str().to_string())
        .collect();
    assert_eq!(enum_of(&doc, "RunStatus", "state"), states);
}

#[test]
fn the_documented_paths_are_exactly_the_routes() {
    let doc = openapi();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    let mut routes: Vec<(String, String)> = sweep_cloud::api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    documented.sort();
    routes.sort();
    assert_eq!(documented, routes);
    assert_eq!(
        doc["components"]["schemas"]["WorkerPayload"]["properties"]["version"]["const"],
        1
    );
}
