//! Security properties of the HTTP API, without AWS: no run id reaches another prefix
//! (traversal, percent- and double-encoding, NUL, overlong UTF-8, look-alike Unicode), the
//! body limit applies before parsing, and the point limit holds however a spec multiplies
//! its points (grid, zip, sample, replicates).

use sweep_cloud::api::{Handled, handle};
use sweep_cloud::{CloudConfig, Orchestrator};
use sweep_core::{Limits, MemoryStore, Store};

fn call(orch: &Orchestrator<'_>, method: &str, path: &str, body: &str) -> Handled {
    handle(
        orch,
        method,
        path,
        body.as_bytes(),
        &|| "r1".to_string(),
        1_000_000,
    )
}

const SPEC: &str = r#"{"experiment": "diag_sleep", "params": {"micros": [0, 1]}}"#;

#[test]
fn run_ids_cannot_escape_their_prefix() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, CloudConfig::default());
    assert_eq!(call(&orch, "POST", "/runs", SPEC).status, 202);
    // A decoy manifest one level up: a traversal that reached it would answer 200.
    let manifest = store.get("runs/r1/manifest.json").unwrap().unwrap();
    store.put("manifest.json", &manifest).unwrap();
    store.put("runs/manifest.json", &manifest).unwrap();
    let before = store.list("").unwrap();
    let ids = [
        "..",
        "%2e%2e",
        "%2E%2E",
        "..%2F..",
        "r1%2F..%2F..",
        "%252e%252e",
        "r1%00",
        "%00",
        "%C0%AE%C0%AE",
        "%E2%80%A4%E2%80%A4", // one-dot leaders
        "%EF%BC%8E%EF%BC%8E", // fullwidth full stops
        "%EF%BD%92%EF%BC%91", // fullwidth "r1"
        "R1",
        "r1%0A",
        "r1%20",
        "%",
        "%zz",
        "%C3",
        ".",
        "-r1",
        "_r1",
        "r1\\..",
    ];
    for id in ids {
        for (method, suffix) in [("GET", ""), ("POST", "/resume"), ("POST", "/cancel")] {
            let got = call(&orch, method, &format!("/runs/{id}{suffix}"), "");
            assert_eq!(
                got.status, 400,
                "{method} /runs/{id}{suffix}: {:?}",
                got.body
            );
            assert!(got.dispatch.is_none());
        }
    }
    let long = "a".repeat(65);
    assert_eq!(call(&orch, "GET", &format!("/runs/{long}"), "").status, 400);
    // Extra segments are no route at all.
    for path in ["/runs/../runs/r1", "/runs/r1/../../x", "/runs/r1/shards/0"] {
        assert!(
            matches!(call(&orch, "GET", path, "").status, 404 | 405),
            "{path}"
        );
    }
    assert_eq!(
        store.list("").unwrap(),
        before,
        "a rejected request wrote something"
    );
}

#[test]
fn the_body_limit_applies_before_parsing() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let config = CloudConfig {
        max_body_bytes: 200,
        ..CloudConfig::default()
    };
    let orch = Orchestrator::new(&store, &registry, config);
    // A valid spec padded with spaces to one byte over the limit: 413, not parsed.
    let padded = format!("{SPEC:<201}");
    assert_eq!(padded.len(), 201);
    assert_eq!(call(&orch, "POST", "/runs", &padded).status, 413);
    // Deeply nested JSON (a parser bomb) over the limit is 413 too, whatever it contains.
    let bomb = "[".repeat(100_000);
    assert_eq!(call(&orch, "POST", "/runs", &bomb).status, 413);
    assert!(store.list("").unwrap().is_empty());
    // Exactly at the limit it is parsed (and accepted).
    let exact = format!("{SPEC:<200}");
    assert_eq!(call(&orch, "POST", "/runs", &exact).status, 202);
}

#[test]
fn the_point_limit_holds_for_every_way_of_multiplying_points() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let config = CloudConfig {
        limits: Limits {
            max_rows: 1000,
            ..Limits::default()
        },
        ..CloudConfig::default()
    };
    let orch = Orchestrator::new(&store, &registry, config);
    let over = [
        // grid: 1001 points
        r#"{"experiment": "diag_sleep", "params": {"micros": {"range": [0, 1001, 1]}}}"#,
        // replicates: 2 x 501
        r#"{"experiment": "diag_sleep", "replicates": 501, "params": {"micros": [0, 1]}}"#,
        // sampled: n = 1001
        r#"{"experiment": "gbm_option", "sample": {"method": "random", "n": 1001,
            "params": {"s0": {"uniform": [1, 2]}}}, "params": {"strike": 1, "sigma": 0.2}}"#,
        // grid x sample: 2 x 501
        r#"{"experiment": "gbm_option", "sample": {"method": "lhs", "n": 501,
            "params": {"s0": {"uniform": [1, 2]}}}, "params": {"strike": [1, 2], "sigma": 0.2}}"#,
        // a product that overflows 64 bits must not wrap around to a small number
        r#"{"experiment": "gbm_option", "replicates": 100000, "params": {
            "s0": {"linspace": [1, 2, 100000]}, "strike": {"linspace": [1, 2, 100000]},
            "sigma": {"linspace": [0.1, 0.2, 100000]}, "rate": {"linspace": [0, 0.1, 100000]},
            "maturity": {"linspace": [1, 2, 100000]}}}"#,
    ];
    let zip = |n: usize| vec!["0.5"; n].join(", ");
    let zipped = [
        // zipped: 1001 points
        format!(
            r#"{{"experiment": "diag_fail", "zip": [{{"fail_rate": [{}]}}]}}"#,
            zip(1001)
        ),
        // zipped x grid: 501 x 2
        format!(
            r#"{{"experiment": "diag_fail", "params": {{"mode": ["error", "nan"]}},
                "zip": [{{"fail_rate": [{}]}}]}}"#,
            zip(501)
        ),
    ];
    for spec in over
        .iter()
        .copied()
        .chain(zipped.iter().map(String::as_str))
    {
        let got = call(&orch, "POST", "/runs", spec);
        assert_eq!(got.status, 400, "{spec}: {:?}", got.body);
        assert!(
            got.body["message"].as_str().unwrap().contains("limit"),
            "{:?}",
            got.body
        );
    }
    assert!(store.list("").unwrap().is_empty());
    let at = r#"{"experiment": "diag_sleep", "replicates": 500, "params": {"micros": [0, 1]}}"#;
    assert_eq!(call(&orch, "POST", "/runs", at).status, 202);
}

#[test]
fn a_body_that_is_not_utf8_is_a_400() {
    let store = MemoryStore::new();
    let registry = sim_experiments::registry();
    let orch = Orchestrator::new(&store, &registry, CloudConfig::default());
    for body in [
        &b"\x80"[..],
        b"{\"experiment\": \"diag_sleep\xff\"}",
        b"\xc0\xae",
    ] {
        let got = handle(&orch, "POST", "/runs", body, &|| "r1".to_string(), 1);
        assert_eq!(got.status, 400, "{:?}", got.body);
    }
    assert!(store.list("").unwrap().is_empty());
}
