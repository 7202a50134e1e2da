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
    }
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
fn every_path_of_the_api_is_documented() {
    let doc = openapi();
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/runs", "post"),
        ("/runs/{run_id}", "get"),
        ("/runs/{run_id}/resume", "post"),
        ("/runs/{run_id}/cancel", "post"),
        ("/experiments", "get"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path}");
    }
    assert_eq!(
        doc["components"]["schemas"]["WorkerPayload"]["properties"]["version"]["const"],
        1
    );
}
