//! What an experiment declares about itself (parameters, metrics) and the kernel interface.
//!
//! The declarations are the single source for spec validation, result table schemas, the
//! Python registry, forms and the Glue catalog, so they carry types, bounds and descriptions.

use serde::Serialize;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// A typed parameter or metric value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// A 64-bit float.
    Float(f64),
    /// A 64-bit signed integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A UTF-8 string (e.g. an algorithm name); borrowed for `const` declarations.
    Str(Cow<'static, str>),
}

impl Value {
    /// The value as `f64` (integers are widened); `None` for booleans and strings.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(x) => Some(*x),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The value as `i64`; `None` unless it is an integer.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The value as `bool`; `None` unless it is a boolean.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as `&str`; `None` unless it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s.as_ref()),
            _ => None,
        }
    }

    /// Converts to JSON (non-finite floats, which specs cannot produce, become `null`).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Float(x) => serde_json::Number::from_f64(*x)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Float(x) => write!(f, "{x}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// The type of a parameter or metric column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ValueType {
    /// `double` in Parquet and Athena.
    Float,
    /// `bigint` (int64) in Parquet and Athena.
    Int,
    /// `boolean`.
    Bool,
    /// `string` (UTF-8 byte array).
    Str,
}

/// One end of a numeric range.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Bound {
    /// No limit on this side.
    Unbounded,
    /// The value itself is allowed.
    Inclusive(f64),
    /// Values must be strictly beyond this one.
    Exclusive(f64),
}

/// The allowed range of a numeric parameter, e.g. `(0, 5]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bounds {
    /// Lower end.
    pub lo: Bound,
    /// Upper end.
    pub hi: Bound,
}

impl Bounds {
    /// No limits at all.
    pub const ANY: Bounds = Bounds {
        lo: Bound::Unbounded,
        hi: Bound::Unbounded,
    };

    /// `[lo, hi]`.
    pub const fn closed(lo: f64, hi: f64) -> Bounds {
        Bounds {
            lo: Bound::Inclusive(lo),
            hi: Bound::Inclusive(hi),
        }
    }

    /// `(lo, hi]`.
    pub const fn open_closed(lo: f64, hi: f64) -> Bounds {
        Bounds {
            lo: Bound::Exclusive(lo),
            hi: Bound::Inclusive(hi),
        }
    }

    /// Whether `x` lies within the bounds.
    pub fn contains(&self, x: f64) -> bool {
        let lo_ok = match self.lo {
            Bound::Unbounded => true,
            Bound::Inclusive(l) => x >= l,
            Bound::Exclusive(l) => x > l,
        };
        let hi_ok = match self.hi {
            Bound::Unbounded => true,
            Bound::Inclusive(h) => x <= h,
            Bound::Exclusive(h) => x < h,
        };
        lo_ok && hi_ok && !x.is_nan()
    }
}

impl fmt::Display for Bounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.lo {
            Bound::Unbounded => write!(f, "(-inf, ")?,
            Bound::Inclusive(l) => write!(f, "[{l}, ")?,
            Bound::Exclusive(l) => write!(f, "({l}, ")?,
        }
        match self.hi {
            Bound::Unbounded => write!(f, "inf)"),
            Bound::Inclusive(h) => write!(f, "{h}]"),
            Bound::Exclusive(h) => write!(f, "{h})"),
        }
    }
}

/// A declared input of an experiment.
#[derive(Debug, Clone, Serialize)]
pub struct ParamDecl {
    /// Column name: lower-case snake_case.
    pub name: &'static str,
    /// Value type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Default value; `None` means the spec must give it.
    pub default: Option<Value>,
    /// Allowed numeric range (ignored for booleans and strings).
    pub bounds: Bounds,
    /// Allowed strings for `Str` parameters (empty = any).
    pub choices: &'static [&'static str],
    /// Unit of the value, if it has one (e.g. `years`).
    pub unit: &'static str,
    /// One sentence for forms and `sweep experiments`.
    pub description: &'static str,
}

/// A declared output of an experiment.
#[derive(Debug, Clone, Serialize)]
pub struct MetricDecl {
    /// Column name: lower-case snake_case.
    pub name: &'static str,
    /// Value type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Unit of the value, if it has one.
    pub unit: &'static str,
    /// One sentence for docs and catalogs.
    pub description: &'static str,
}

/// Why a single point failed. Recorded in the failures table; the run goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// A short machine-readable kind, e.g. `invalid_input`, `diverged`, `panic`.
    pub kind: String,
    /// A human-readable message.
    pub message: String,
}

impl KernelError {
    /// Creates an error of `kind` with `message`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        KernelError {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

/// Where a kernel loaded at run time came from: the SHA-256 of its library (what a manifest
/// records and a resume must match) and a label for people (a path or `cell:<name>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct KernelBuild {
    /// Lower-case hex SHA-256 of the library's bytes.
    pub sha256: String,
    /// Where it was loaded from.
    pub origin: String,
}

/// A simulation kernel with its declarations.
///
/// `run` must be a pure function of `(params, seed)`: the determinism of every result byte
/// rests on it. `params` come in declaration order, already typed and bounds-checked.
pub trait Experiment: Send + Sync {
    /// Registry name, lower-case snake_case.
    fn name(&self) -> &'static str;
    /// One paragraph saying what it simulates and what it is validated against.
    fn description(&self) -> &'static str;
    /// Declared parameters; `run` receives values in this order.
    fn params(&self) -> &[ParamDecl];
    /// Declared metrics; `run` returns values in this order.
    fn metrics(&self) -> &[MetricDecl];
    /// Computes the metrics of one point.
    fn run(&self, params: &[Value], seed: u64) -> Result<Vec<Value>, KernelError>;
    /// The library build of a kernel loaded at run time; `None` for built-in and Python
    /// kernels.
    fn build(&self) -> Option<&KernelBuild> {
        None
    }
    /// Where the kernel comes from, for listings: `built-in`, `python`, or the origin of its
    /// library build.
    fn origin(&self) -> &str {
        self.build().map_or("built-in", |b| b.origin.as_str())
    }
}

/// Column names the engine itself adds to result and failure tables.
pub const RESERVED_COLUMNS: &[&str] = &[
    "point",
    "replicate",
    "seed",
    "duration_us",
    "run_id",
    "error_kind",
    "message",
];

/// The experiments available to specs, by name.
#[derive(Clone, Default)]
pub struct Registry {
    experiments: BTreeMap<&'static str, Arc<dyn Experiment>>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `experiment`, checking its declarations.
    ///
    /// # Panics
    /// If [`Registry::check`] rejects it or the name is taken: for built-in kernels these are
    /// programming errors, caught by the registry's own tests.
    pub fn register(&mut self, experiment: Arc<dyn Experiment>) {
        if let Err(e) = Self::check(experiment.as_ref()) {
            panic!("{e}");
        }
        let name = experiment.name();
        let previous = self.experiments.insert(name, experiment);
        assert!(previous.is_none(), "experiment {name} registered twice");
    }

    /// Adds or replaces `experiment` (for kernels defined at run time, e.g. in Python).
    pub fn upsert(&mut self, experiment: Arc<dyn Experiment>) -> Result<(), String> {
        Self::check(experiment.as_ref())?;
        self.experiments.insert(experiment.name(), experiment);
        Ok(())
    }

    /// Checks an experiment's declarations: snake_case names, no reserved or repeated
    /// column, defaults within bounds.
    pub fn check(experiment: &dyn Experiment) -> Result<(), String> {
        let exp_name = experiment.name();
        if !is_snake_case(exp_name) {
            return Err(format!("experiment name {exp_name:?} is not snake_case"));
        }
        let mut seen = std::collections::HashSet::new();
        let names = experiment
            .params()
            .iter()
            .map(|p| p.name)
            .chain(experiment.metrics().iter().map(|m| m.name));
        for name in names {
            if !is_snake_case(name) {
                return Err(format!("{exp_name}.{name}: not a snake_case name"));
            }
            if RESERVED_COLUMNS.contains(&name) {
                return Err(format!("{exp_name}.{name}: reserved column name"));
            }
            if !seen.insert(name) {
                return Err(format!("{exp_name}.{name}: declared twice"));
            }
        }
        for p in experiment.params() {
            if let Some(x) = p.default.as_ref().and_then(Value::as_f64)
                && !p.bounds.contains(x)
            {
                return Err(format!(
                    "{exp_name}.{}: default {x} outside {}",
                    p.name, p.bounds
                ));
            }
        }
        Ok(())
    }

    /// Looks an experiment up by name.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn Experiment>> {
        self.experiments.get(name)
    }

    /// All experiments, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<dyn Experiment>> {
        self.experiments.values()
    }

    /// Names of all experiments, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.experiments.keys().copied().collect()
    }

    /// The registry as JSON: one object per experiment with its parameters and metrics.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Array(
            self.iter()
                .map(|e| {
                    serde_json::json!({
                        "name": e.name(),
                        "description": e.description(),
                        "origin": e.origin(),
                        "sha256": e.build().map(|b| b.sha256.as_str()),
                        "params": e.params().iter().map(param_json).collect::<Vec<_>>(),
                        "metrics": e.metrics(),
                        "tables": {
                            "results": crate::table::results_columns(e.as_ref()),
                            "failures": crate::table::failures_columns(e.as_ref()),
                        },
                    })
                })
                .collect(),
        )
    }
}

fn param_json(p: &ParamDecl) -> serde_json::Value {
    let numeric = matches!(p.ty, ValueType::Float | ValueType::Int);
    let bound = |b: Bound| match b {
        Bound::Unbounded => serde_json::Value::Null,
        Bound::Inclusive(x) | Bound::Exclusive(x) => serde_json::json!(x),
    };
    serde_json::json!({
        "name": p.name,
        "type": p.ty,
        "required": p.default.is_none(),
        "default": p.default.as_ref().map(Value::to_json),
        "min": if numeric { bound(p.bounds.lo) } else { serde_json::Value::Null },
        "min_exclusive": matches!(p.bounds.lo, Bound::Exclusive(_)),
        "max": if numeric { bound(p.bounds.hi) } else { serde_json::Value::Null },
        "max_exclusive": matches!(p.bounds.hi, Bound::Exclusive(_)),
        "bounds": if numeric { serde_json::json!(p.bounds.to_string()) } else { serde_json::Value::Null },
        "choices": p.choices,
        "unit": p.unit,
        "description": p.description,
    })
}

/// Whether `s` is a lower-case snake_case identifier (`[a-z][a-z0-9_]*`, at most 64 bytes).
pub fn is_snake_case(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        && s.len() <= 64
}
