//! Spec parsing, validation, normalization and point decoding.

mod common;

use sweep_core::{Limits, Plan, Spec, SpecError, SpecFormat, Value};

fn parse(text: &str, format: SpecFormat) -> Result<Spec, SpecError> {
    Spec::parse(text, format, &common::registry(), &Limits::default())
}

fn yaml(text: &str) -> Result<Spec, SpecError> {
    parse(text, SpecFormat::Yaml)
}

fn err(text: &str) -> String {
    yaml(text).expect_err("spec should be rejected").to_string()
}

#[test]
fn the_same_spec_in_json_yaml_and_toml_is_the_same_run_content() {
    let y = yaml(
        "version: 1\nexperiment: toy\nseed: 7\nreplicates: 2\nparams:\n  x: {linspace: [0, 1, 3]}\n  n: [1, 2]\n  mode: fast\n",
    )
    .unwrap();
    let j = parse(
        r#"{"version":1,"experiment":"toy","seed":7,"replicates":2,"params":{"x":{"linspace":[0,1,3]},"n":[1,2],"mode":"fast"}}"#,
        SpecFormat::Json,
    )
    .unwrap();
    let t = parse(
        "version = 1\nexperiment = \"toy\"\nseed = 7\nreplicates = 2\n[params]\nx = { linspace = [0, 1, 3] }\nn = [1, 2]\nmode = \"fast\"\n",
        SpecFormat::Toml,
    )
    .unwrap();
    assert_eq!(y.content_hash(), j.content_hash());
    assert_eq!(y.content_hash(), t.content_hash());
    assert_eq!(y.points(), 6);
    assert_eq!(y.rows(), 12);
}

#[test]
fn normalization_fills_defaults_and_is_idempotent() {
    let s = yaml("experiment: toy\nparams: {x: 2}\n").unwrap();
    let n = s.normalized();
    assert_eq!(n["version"], 1);
    assert_eq!(n["name"], "toy");
    assert_eq!(n["seed"], 0);
    assert_eq!(n["replicates"], 1);
    assert_eq!(n["params"]["x"], 2.0);
    assert_eq!(n["params"]["scale"], 1.0);
    assert_eq!(n["params"]["flag"], false);
    let again = parse(&s.canonical_json(), SpecFormat::Json).unwrap();
    assert_eq!(again.canonical_json(), s.canonical_json());
    assert_eq!(again.content_hash(), s.content_hash());
}

#[test]
fn decoding_is_mixed_radix_in_spec_order_with_the_last_axis_fastest() {
    let s = yaml("experiment: toy\nparams:\n  n: [10, 20]\n  x: [1, 2, 3]\n").unwrap();
    let got: Vec<(i64, f64)> = (0..s.points())
        .map(|i| {
            let v = s.decode(i);
            (v[1].as_i64().unwrap(), v[0].as_f64().unwrap())
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (10, 1.0),
            (10, 2.0),
            (10, 3.0),
            (20, 1.0),
            (20, 2.0),
            (20, 3.0)
        ]
    );
}

#[test]
fn every_axis_form() {
    let s = yaml(
        "experiment: toy\nparams:\n  x: {range: [0, 1, 0.25]}\n  n: {logspace: [0, 3, 4]}\n  scale: {values: [0.5, 2]}\n  mode: [fast, slow]\n  flag: [true, false]\n",
    )
    .unwrap();
    assert_eq!(s.points(), 4 * 4 * 2 * 2 * 2);
    let xs: Vec<f64> = (0..4)
        .map(|j| s.decode(j * 32)[0].as_f64().unwrap())
        .collect();
    assert_eq!(xs, vec![0.0, 0.25, 0.5, 0.75]);
    let ns: Vec<i64> = (0..4)
        .map(|j| s.decode(j * 8)[1].as_i64().unwrap())
        .collect();
    assert_eq!(ns, vec![1, 10, 100, 1000]);
    assert_eq!(s.decode(0)[3], Value::Str("fast".into()));
    assert_eq!(s.decode(0)[4], Value::Bool(true));

    let r = yaml("experiment: toy\nparams:\n  x: {range: [10, 0, -3]}\n  n: {range: [1, 10, 4]}\n")
        .unwrap();
    let xs: Vec<f64> = (0..r.points())
        .step_by(3)
        .map(|i| r.decode(i)[0].as_f64().unwrap())
        .collect();
    assert_eq!(xs, vec![10.0, 7.0, 4.0, 1.0]);
    let ns: Vec<i64> = (0..3).map(|i| r.decode(i)[1].as_i64().unwrap()).collect();
    assert_eq!(ns, vec![1, 5, 9]);

    let l = yaml("experiment: toy\nparams:\n  x: {linspace: [-1, 1, 5]}\n").unwrap();
    let xs: Vec<f64> = (0..5).map(|i| l.decode(i)[0].as_f64().unwrap()).collect();
    assert_eq!(xs, vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
}

#[test]
fn a_billion_point_grid_plans_in_constant_memory() {
    let s = yaml(
        "experiment: toy\nshard_size: 10000\nparams:\n  x: {linspace: [0, 1, 1000]}\n  n: {range: [1, 1001, 1]}\n  scale: {linspace: [1, 2, 1000]}\n",
    )
    .unwrap();
    assert_eq!(s.points(), 1_000_000_000);
    let plan = Plan::for_spec(&s);
    assert_eq!(plan.shards, 100_000);
    assert_eq!(plan.shard_points(99_999), 999_990_000..1_000_000_000);
    let last = s.decode(999_999_999);
    assert_eq!(last[0], Value::Float(1.0));
    assert_eq!(last[1], Value::Int(1000));
    assert_eq!(last[2], Value::Float(2.0));
    // The normalized spec stays as small as the text: generators are not expanded.
    assert!(s.canonical_json().len() < 400);
}

#[test]
fn default_shard_size_depends_only_on_the_spec() {
    let s = yaml("experiment: toy\nparams:\n  x: {linspace: [0, 1, 1000]}\n").unwrap();
    assert_eq!(s.shard_size, 16);
    let big = yaml(
        "experiment: toy\nparams:\n  x: {linspace: [0, 1, 100000]}\n  n: {range: [1, 101, 1]}\n",
    )
    .unwrap();
    assert_eq!(big.shard_size, 10_000);
}

#[test]
fn bad_input_is_rejected_with_the_field_path() {
    let cases = [
        (
            "experiment: toy\nparams: {x: 1}\nbogus: 1\n",
            "bogus: unknown field",
        ),
        (
            "experiment: toy\nparams: {x: 1, y: 2}\n",
            "params.y: unknown parameter for toy",
        ),
        (
            "experiment: toy\nparams: {n: 2}\n",
            "params.x: required parameter missing",
        ),
        (
            "experiment: toy\nparams: {x: abc}\n",
            "params.x: expected a number or list, got \"abc\"",
        ),
        (
            "experiment: toy\nparams: {x: [1, abc]}\n",
            "params.x[1]: expected a number, got \"abc\"",
        ),
        (
            "experiment: toy\nparams: {x: {linspace: [0, 1, 0]}}\n",
            "params.x.linspace[2]: n must be at least 1, got 0",
        ),
        (
            "experiment: toy\nparams: {x: {linspace: [0, 1]}}\n",
            "params.x.linspace: expected a list [start, stop, n]",
        ),
        (
            "experiment: toy\nparams: {x: 101}\n",
            "params.x: 101 is outside the allowed range [-100, 100]",
        ),
        (
            "experiment: toy\nparams: {x: {linspace: [0, 200, 3]}}\n",
            "params.x.linspace: 200 is outside",
        ),
        (
            "experiment: toy\nparams: {x: 1, scale: 0}\n",
            "params.scale: 0 is outside the allowed range (0, 1000000]",
        ),
        (
            "experiment: toy\nparams: {x: 1, n: 1.5}\n",
            "params.n: expected an integer or list, got 1.5",
        ),
        (
            "experiment: toy\nparams: {x: 1, n: {linspace: [1, 2, 3]}}\n",
            "params.n.linspace: n is an integer parameter",
        ),
        (
            "experiment: toy\nparams: {x: 1, mode: turbo}\n",
            "params.mode: \"turbo\" is not one of",
        ),
        (
            "experiment: toy\nparams: {x: 1, flag: 1}\n",
            "params.flag: expected true/false or list, got 1",
        ),
        (
            "experiment: toy\nparams: {x: {range: [0, 1, 0]}}\n",
            "params.x.range[2]: step must not be 0",
        ),
        (
            "experiment: toy\nparams: {x: {range: [1, 0, 1]}}\n",
            "params.x.range: range [1, 0) with step 1 is empty",
        ),
        (
            "experiment: toy\nparams: {x: {grid: [1]}}\n",
            "params.x.grid: unknown form",
        ),
        (
            "experiment: toy\nparams: {x: []}\n",
            "params.x: a list of values must not be empty",
        ),
        (
            "experiment: nope\n",
            "experiment: unknown experiment \"nope\"; available: toy",
        ),
        ("params: {x: 1}\n", "experiment: required field missing"),
        (
            "experiment: toy\nversion: 2\nparams: {x: 1}\n",
            "version: unsupported spec version 2",
        ),
        (
            "experiment: toy\nreplicates: 0\nparams: {x: 1}\n",
            "replicates: 0 is outside the allowed range",
        ),
        (
            "experiment: toy\nseed: -1\nparams: {x: 1}\n",
            "seed: -1 is outside the allowed range",
        ),
        (
            "experiment: toy\nshard_size: two\nparams: {x: 1}\n",
            "shard_size: expected an integer in [1, 1000000] or \"auto\", got \"two\"",
        ),
        (
            "experiment: toy\nparams: [1, 2]\n",
            "params: expected a mapping",
        ),
        ("- 1\n- 2\n", "a spec must be a mapping, got a list"),
        ("experiment: toy\nparams: {x: [1\n", "not valid YAML"),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(
            got.starts_with(want),
            "spec {text:?}\n  got:  {got}\n  want: {want}..."
        );
        assert!(!got.contains('\n'), "one line: {got}");
    }
}

#[test]
fn the_point_limit_counts_replicates_and_cannot_overflow() {
    let limits = Limits {
        max_rows: 1000,
        ..Limits::default()
    };
    let reg = common::registry();
    let ok = "experiment: toy\nreplicates: 10\nparams: {x: {linspace: [0, 1, 100]}}\n";
    assert!(Spec::parse(ok, SpecFormat::Yaml, &reg, &limits).is_ok());
    let over = "experiment: toy\nreplicates: 11\nparams: {x: {linspace: [0, 1, 100]}}\n";
    let e = Spec::parse(over, SpecFormat::Yaml, &reg, &limits).unwrap_err();
    assert_eq!(e.path, "params");
    assert!(e.message.contains("over the limit of 1000 rows"), "{e}");
    let huge = "experiment: toy\nparams:\n  x: {linspace: [0, 1, 4000000000]}\n  n: {range: [1, 1000000000000, 1]}\n  scale: {linspace: [1, 2, 4000000000]}\n";
    let e = Spec::parse(huge, SpecFormat::Yaml, &reg, &Limits::default()).unwrap_err();
    assert!(e.message.contains("more than 1.8e19"), "{e}");
}

#[test]
fn zip_groups_vary_together_as_one_axis() {
    let s = yaml(
        "experiment: toy\nparams:\n  n: [1, 2]\nzip:\n  - {x: [1, 2, 3], scale: [10, 20, 30]}\n",
    )
    .unwrap();
    assert_eq!(s.points(), 6);
    let got: Vec<(i64, f64, f64)> = (0..6)
        .map(|i| {
            let v = s.decode(i);
            (
                v[1].as_i64().unwrap(),
                v[0].as_f64().unwrap(),
                v[2].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (1, 1.0, 10.0),
            (1, 2.0, 20.0),
            (1, 3.0, 30.0),
            (2, 1.0, 10.0),
            (2, 2.0, 20.0),
            (2, 3.0, 30.0)
        ]
    );
    let again = parse(&s.canonical_json(), SpecFormat::Json).unwrap();
    assert_eq!(again.content_hash(), s.content_hash());
}

#[test]
fn samples_cross_the_grid_and_stay_within_their_distributions() {
    let s = yaml(
        "experiment: toy\nseed: 4\nparams:\n  flag: [true, false]\nsample:\n  method: lhs\n  n: 50\n  params:\n    x: {uniform: [-2, 2]}\n    scale: {loguniform: [0.01, 100]}\n    n: {uniform: [1, 6]}\n    mode: {choice: [fast, slow]}\n",
    )
    .unwrap();
    assert_eq!(s.points(), 100);
    for i in 0..100 {
        let v = s.decode(i);
        let x = v[0].as_f64().unwrap();
        assert!((-2.0..=2.0).contains(&x));
        assert!((1..=6).contains(&v[1].as_i64().unwrap()));
        let scale = v[2].as_f64().unwrap();
        assert!((0.01..=100.0).contains(&scale));
        assert!(matches!(v[3].as_str(), Some("fast" | "slow")));
        assert_eq!(v[4].as_bool(), Some(i < 50));
    }
    // The design is a function of the seed: the same spec decodes the same points.
    let again = parse(&s.canonical_json(), SpecFormat::Json).unwrap();
    assert_eq!(again.decode(37), s.decode(37));
    let other = yaml(
        "experiment: toy\nseed: 5\nsample: {method: random, n: 4, params: {x: {normal: [0, 1]}}}\n",
    )
    .unwrap();
    let same_seed = yaml(
        "experiment: toy\nseed: 5\nsample: {method: random, n: 4, params: {x: {normal: [0, 1]}}}\n",
    )
    .unwrap();
    assert_eq!(other.decode(3), same_seed.decode(3));
    let sobol = yaml(
        "experiment: toy\nsample: {method: sobol, n: 8, params: {x: {uniform: [0, 1]}, scale: {uniform: [1, 2]}}}\n",
    )
    .unwrap();
    assert_eq!(sobol.decode(2)[0], Value::Float(0.75));
    assert_eq!(sobol.decode(2)[2], Value::Float(1.25));
}

#[test]
fn issue_three_bad_input_is_rejected_with_the_field_path() {
    let cases = [
        (
            "experiment: toy\nparams: {x: .nan}\n",
            "params.x: NaN is not allowed",
        ),
        (
            "experiment: toy\nparams: {x: [1, .inf]}\n",
            "params.x[1]: inf is not allowed",
        ),
        (
            "experiment: toy\nzip:\n  - {x: [1, 2], scale: [1, 2, 3]}\n",
            "zip[0].scale: has 3 values but zip[0].x has 2",
        ),
        (
            "experiment: toy\nparams: {x: 1}\nsample: {method: lhs, n: 4, params: {x: {uniform: [0, 1]}}}\n",
            "sample.params.x: also set in params.x",
        ),
        (
            "experiment: toy\nparams: {x: 1}\nzip: [{x: [1, 2]}]\n",
            "zip[0].x: also set in params.x",
        ),
        (
            "experiment: toy\nparams: {x: 1}\nsample: {method: lhs, n: 0, params: {scale: {uniform: [1, 2]}}}\n",
            "sample.n: 0 is outside the allowed range",
        ),
        (
            "experiment: toy\nsample: {method: grid, n: 4, params: {x: {uniform: [0, 1]}}}\n",
            "sample.method: \"grid\" is not one of \"random\", \"lhs\", \"sobol\"",
        ),
        (
            "experiment: toy\nsample: {method: lhs, n: 4, params: {x: {uniform: [0, 200]}}}\n",
            "sample.params.x.uniform: high 200 is outside the allowed range [-100, 100]",
        ),
        (
            "experiment: toy\nsample: {method: lhs, n: 4, params: {x: {normal: [95, 1]}}}\n",
            "sample.params.x.normal: mean + 8.3 sd = 103.3 is outside",
        ),
        (
            "experiment: toy\nsample: {method: lhs, n: 4, params: {x: 1, mode: {uniform: [0, 1]}}}\n",
            "sample.params.x: expected a mapping with one of uniform, loguniform, normal, choice",
        ),
        (
            "experiment: toy\nparams: {x: 1}\nsample: {method: lhs, n: 4, params: {mode: {uniform: [0, 1]}}}\n",
            "sample.params.mode.uniform: uniform needs a numeric parameter",
        ),
        (
            "experiment: toy\nparams: {x: 1}\nsample: {method: random, n: 4, params: {n: {uniform: [1, 2.5]}}}\n",
            "sample.params.n.uniform: n is an integer parameter",
        ),
        (
            "experiment: toy\nsample: {method: lhs, n: 4, scramble: true, params: {x: {uniform: [0, 1]}}}\n",
            "sample.scramble: only applies to method sobol",
        ),
        (
            "experiment: toy\nreplicates: -3\nparams: {x: 1}\n",
            "replicates: -3 is outside",
        ),
        (
            "experiment: toy\nparams: {x: 1, n: 2.5}\n",
            "params.n: expected an integer or list, got 2.5",
        ),
        (
            "experiment: toy\nparams: {x: 1, n: [1, 2.5]}\n",
            "params.n[1]: expected an integer, got 2.5",
        ),
    ];
    for (text, want) in cases {
        let got = err(text);
        assert!(
            got.starts_with(want),
            "spec {text:?}\n  got:  {got}\n  want: {want}..."
        );
    }
    let toml_nan = parse(
        "experiment = \"toy\"\n[params]\nx = nan\n",
        SpecFormat::Toml,
    )
    .unwrap_err();
    assert_eq!(toml_nan.path, "params.x");
}

#[test]
fn oversized_specs_are_refused_before_parsing() {
    let limits = Limits {
        max_spec_bytes: 100,
        ..Limits::default()
    };
    let text = format!(
        "experiment: toy\nparams: {{x: [{}]}}\n",
        vec!["1"; 60].join(", ")
    );
    let e = Spec::parse(&text, SpecFormat::Yaml, &common::registry(), &limits).unwrap_err();
    assert!(e.message.contains("over the limit of 100 bytes"), "{e}");
}
