//! Sweep specs: parsing from JSON, YAML or TOML, validation against an experiment's
//! declarations, and the normalized form whose hash identifies a run's content.
//!
//! Validation walks the parsed document by hand rather than through `serde` derives so that
//! every error names its field path and the allowed values, e.g.
//! `params.sigma: expected a number or list, got "abc"`.
//!
//! Each top-level section has its own parser: `header` for the run-level fields, `grid`
//! (with `generators`) for `params`, `zip` for `zip`, and `design` (with `dist`) for
//! `sample`. `claims` makes sure every declared parameter ends up on exactly one axis.

mod auto;
mod axis;
mod claims;
mod design;
mod dist;
mod fields;
mod format;
mod generators;
mod grid;
mod header;
mod limits;
mod normalize;
mod zip;

pub use auto::{ShardTarget, auto_shard_size};
pub use axis::{Axis, AxisValues, ParamAxis, ZipAxis};
pub use design::{SAMPLE_METHODS, sample_method_names};
pub use dist::DistForm;
pub use fields::describe;
pub use format::{SpecFormat, parse_document};
pub use grid::GridForm;
pub use limits::Limits;

use crate::error::SpecError;
use crate::experiment::{Experiment, Registry, Value};
use claims::Claims;
use serde_json::Value as Json;
use std::sync::Arc;

/// The spec version this engine reads and writes.
pub const SPEC_VERSION: u64 = 1;

/// Top-level fields a spec may have.
pub const TOP_LEVEL_FIELDS: &[&str] = &[
    "version",
    "experiment",
    "name",
    "seed",
    "replicates",
    "shard_size",
    "params",
    "zip",
    "sample",
    "kernel_sha256",
    "max_failures",
    "max_failure_rate",
];

/// A validated spec. Every declared parameter is on exactly one axis; axes are the grid
/// parameters in spec order (then defaulted parameters as constants, in declaration order),
/// then the `zip` groups in order, then the `sample` design: the last axis varies fastest.
#[derive(Clone)]
pub struct Spec {
    /// Spec format version.
    pub version: u64,
    /// The experiment to run.
    pub experiment: Arc<dyn Experiment>,
    /// A label for people; defaults to the experiment name.
    pub name: String,
    /// The run seed every point's seed derives from.
    pub seed: u64,
    /// Rows per point, each with its own seed.
    pub replicates: u64,
    /// Points per shard (chosen from the size of the sweep when the spec leaves it out).
    pub shard_size: u64,
    /// `shard_size: "auto"`: the size is chosen from a calibration where the run is created
    /// ([`Spec::choose_shard_size`]); until then `shard_size` holds the default.
    pub auto_shards: bool,
    /// Axes in decode order: the last one varies fastest.
    pub axes: Vec<Axis>,
    /// The library build of a loaded kernel (its SHA-256); `None` for built-in and Python
    /// kernels. Normalization always writes it for a loaded kernel, so a run's spec names
    /// the exact build and cannot be reopened or resumed with another.
    pub kernel_sha256: Option<String>,
    /// When the run stops early as `failed` (default: never).
    pub failure_limit: FailureLimit,
}

/// A failure threshold: the run stops, `failed`, once more rows failed than `max_failures`,
/// or a larger fraction of all its rows than `max_rate`. Neither set: no threshold.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct FailureLimit {
    /// Most failed rows tolerated.
    pub max_failures: Option<u64>,
    /// Largest fraction of the run's rows that may fail, in (0, 1].
    pub max_rate: Option<f64>,
}

impl FailureLimit {
    /// The threshold a normalized spec (a manifest's `spec`) declares.
    pub fn of_normalized(spec: &Json) -> FailureLimit {
        FailureLimit {
            max_failures: spec.get("max_failures").and_then(Json::as_u64),
            max_rate: spec.get("max_failure_rate").and_then(Json::as_f64),
        }
    }

    /// Whether there is a threshold at all.
    pub fn is_set(&self) -> bool {
        self.max_failures.is_some() || self.max_rate.is_some()
    }

    /// Why a run of `rows_total` rows with `rows_failed` failed rows has gone over the
    /// threshold, or `None` if it has not. The rate counts against every planned row, so
    /// once it is exceeded no later row can bring the run back under it.
    pub fn exceeded(&self, rows_failed: u64, rows_total: u64) -> Option<String> {
        if let Some(max) = self.max_failures
            && rows_failed > max
        {
            return Some(format!(
                "{rows_failed} rows failed, more than max_failures = {max}"
            ));
        }
        if let Some(rate) = self.max_rate
            && rows_total > 0
            && rows_failed as f64 > rate * rows_total as f64
        {
            return Some(format!(
                "{rows_failed} of {rows_total} rows failed, more than max_failure_rate = {rate}"
            ));
        }
        None
    }
}

impl std::fmt::Debug for Spec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.canonical_json())
    }
}

impl Spec {
    /// Parses `text` in `format` and validates it against `registry`.
    pub fn parse(
        text: &str,
        format: SpecFormat,
        registry: &Registry,
        limits: &Limits,
    ) -> Result<Spec, SpecError> {
        limits.check_text(text)?;
        let doc = parse_document(text, format)?;
        Spec::from_json(&doc, registry, limits)
    }

    /// Validates an already-parsed document.
    pub fn from_json(doc: &Json, registry: &Registry, limits: &Limits) -> Result<Spec, SpecError> {
        let obj = header::top_level(doc)?;
        let version = header::version(obj)?;
        let (experiment_name, experiment) = header::experiment(obj, registry)?;
        let kernel_sha256 = header::kernel_sha256(obj, experiment.as_ref())?;
        let name = header::name(obj, experiment_name)?;
        let seed = header::seed(obj)?;
        let replicates = header::replicates(obj, limits)?;
        let shard_request = header::shard_size(obj, limits)?;
        let failure_limit = header::failure_limit(obj)?;

        let mut claims = Claims::new(&*experiment);
        let mut axes = grid::parse_params(obj.get("params"), &mut claims, limits)?;
        let zip_axes = zip::parse_zip(obj.get("zip"), &mut claims, limits)?;
        let sample = design::parse_sample(obj.get("sample"), seed, &mut claims)?;
        axes.extend(claims.defaults()?);
        axes.extend(zip_axes);
        axes.extend(sample.map(Axis::Sample));

        let points = limits.check_rows(&axes, replicates)?;
        let shard_size = match shard_request {
            header::ShardRequest::Given(n) => n,
            _ => default_shard_size(points),
        };
        Ok(Spec {
            version,
            experiment,
            name,
            seed,
            replicates,
            shard_size,
            auto_shards: shard_request == header::ShardRequest::Auto,
            axes,
            kernel_sha256,
            failure_limit,
        })
    }

    /// Number of parameter points (the product of the axis lengths).
    pub fn points(&self) -> u64 {
        self.axes.iter().map(Axis::len).product()
    }

    /// Number of result rows: points × replicates.
    pub fn rows(&self) -> u64 {
        self.points() * self.replicates
    }

    /// Parameter values of point `index` (`< points()`), in declaration order.
    ///
    /// Mixed-radix decoding over the axes in spec order, last axis fastest: constant memory
    /// and time linear in the number of axes, whatever the size of the grid.
    pub fn decode(&self, index: u64) -> Vec<Value> {
        let mut values = vec![Value::Bool(false); self.experiment.params().len()];
        let mut rest = index;
        for axis in self.axes.iter().rev() {
            let radix = axis.len();
            axis.assign(rest % radix, &mut values);
            rest /= radix;
        }
        values
    }
}

/// Points per shard when the spec does not say: about 64 shards, at most 10,000 points each.
pub fn default_shard_size(points: u64) -> u64 {
    points.div_ceil(64).clamp(1, 10_000)
}

#[cfg(test)]
pub(crate) mod tests {
    //! A small experiment, `probe`, shared by the unit tests of every part of the spec.

    use super::*;
    use crate::experiment::{Bounds, KernelError, MetricDecl, ParamDecl, ValueType};
    use std::borrow::Cow;

    /// `a` float in [0, 10] (required), `k` int in [1, 100] (default 3), `mode` one of
    /// "lo"/"hi" (default "lo"), `on` bool (default false).
    pub(crate) struct Probe;

    const PARAMS: &[ParamDecl] = &[
        ParamDecl {
            name: "a",
            ty: ValueType::Float,
            default: None,
            bounds: Bounds::closed(0.0, 10.0),
            choices: &[],
            unit: "",
            description: "a number",
        },
        ParamDecl {
            name: "k",
            ty: ValueType::Int,
            default: Some(Value::Int(3)),
            bounds: Bounds::closed(1.0, 100.0),
            choices: &[],
            unit: "",
            description: "a count",
        },
        ParamDecl {
            name: "mode",
            ty: ValueType::Str,
            default: Some(Value::Str(Cow::Borrowed("lo"))),
            bounds: Bounds::ANY,
            choices: &["lo", "hi"],
            unit: "",
            description: "a choice",
        },
        ParamDecl {
            name: "on",
            ty: ValueType::Bool,
            default: Some(Value::Bool(false)),
            bounds: Bounds::ANY,
            choices: &[],
            unit: "",
            description: "a switch",
        },
    ];

    const METRICS: &[MetricDecl] = &[MetricDecl {
        name: "y",
        ty: ValueType::Float,
        unit: "",
        description: "a",
    }];

    impl Experiment for Probe {
        fn name(&self) -> &'static str {
            "probe"
        }
        fn description(&self) -> &'static str {
            "spec unit tests"
        }
        fn params(&self) -> &[ParamDecl] {
            PARAMS
        }
        fn metrics(&self) -> &[MetricDecl] {
            METRICS
        }
        fn run(&self, params: &[Value], _seed: u64) -> Result<Vec<Value>, KernelError> {
            Ok(vec![params[0].clone()])
        }
    }

    pub(crate) fn registry() -> Registry {
        let mut reg = Registry::new();
        reg.register(Arc::new(Probe));
        reg
    }

    /// `text` (JSON) parsed and validated against `probe`, which must succeed.
    pub(crate) fn spec(text: &str) -> Spec {
        Spec::parse(text, SpecFormat::Json, &registry(), &Limits::default())
            .unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    fn err(text: &str) -> String {
        Spec::parse(text, SpecFormat::Yaml, &registry(), &Limits::default())
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn decoding_is_mixed_radix_with_the_last_axis_fastest() {
        let s = spec(r#"{"experiment": "probe", "params": {"k": [1, 2], "a": [7, 8, 9]}}"#);
        assert_eq!(s.points(), 6);
        let got: Vec<(Value, Value)> = (0..6)
            .map(|i| {
                let v = s.decode(i);
                (v[1].clone(), v[0].clone())
            })
            .collect();
        let want: Vec<(Value, Value)> =
            [(1, 7.0), (1, 8.0), (1, 9.0), (2, 7.0), (2, 8.0), (2, 9.0)]
                .into_iter()
                .map(|(k, a)| (Value::Int(k), Value::Float(a)))
                .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn axes_are_grid_then_defaults_then_zip_then_sample() {
        let s = spec(
            r#"{"experiment": "probe", "replicates": 3,
                "zip": [{"on": [true, false]}],
                "params": {"k": [1, 2, 3]},
                "sample": {"method": "random", "n": 4, "params": {"a": {"uniform": [0, 1]}}}}"#,
        );
        let kinds: Vec<String> = s
            .axes
            .iter()
            .map(|a| match a {
                Axis::Param(p) => p.name.clone(),
                Axis::Zip(_) => "zip".into(),
                Axis::Sample(_) => "sample".into(),
            })
            .collect();
        assert_eq!(kinds, ["k", "mode", "zip", "sample"]);
        assert_eq!((s.points(), s.rows()), (24, 72));
        // The sample varies fastest, then the zip group, then `k`.
        assert_eq!(s.decode(1)[0], s.decode(9)[0]);
        assert_ne!(s.decode(0)[0], s.decode(1)[0]);
        assert_eq!(s.decode(4)[3], Value::Bool(false));
        assert_eq!(s.decode(8)[1], Value::Int(2));
    }

    #[test]
    fn the_shard_size_defaults_from_the_number_of_points() {
        assert_eq!(default_shard_size(0), 1);
        assert_eq!(default_shard_size(64), 1);
        assert_eq!(default_shard_size(65), 2);
        assert_eq!(default_shard_size(u64::MAX), 10_000);
        let s = spec(r#"{"experiment": "probe", "params": {"a": {"linspace": [0, 1, 640]}}}"#);
        assert_eq!(s.shard_size, 10);
        let s = spec(r#"{"experiment": "probe", "shard_size": 7, "params": {"a": 1}}"#);
        assert_eq!(s.shard_size, 7);
    }

    #[test]
    fn a_parameter_may_be_set_by_only_one_section() {
        assert_eq!(
            err("experiment: probe\nparams: {a: 1}\nzip: [{a: [1, 2]}]\n"),
            "zip[0].a: also set in params.a; give each parameter once"
        );
        assert_eq!(
            err(
                "experiment: probe\nzip: [{a: [1]}]\nsample: {method: lhs, n: 2, params: {a: {uniform: [0, 1]}}}\n"
            ),
            "sample.params.a: also set in zip[0].a; give each parameter once"
        );
    }

    #[test]
    fn sections_are_checked_in_document_order_of_concern() {
        // The header is checked before any parameter, and a bad `params` before `zip`.
        assert_eq!(
            err("experiment: probe\nseed: x\nparams: {zz: 1}\n"),
            "seed: expected an integer, got \"x\""
        );
        assert_eq!(
            err("experiment: probe\nparams: {zz: 1}\nzip: 3\n"),
            "params.zz: unknown parameter for probe; declared: a, k, mode, on"
        );
        assert_eq!(
            err("experiment: probe\nzip: [{k: [1]}]\n"),
            "params.a: required parameter missing (a number in [0, 10])"
        );
    }
}
