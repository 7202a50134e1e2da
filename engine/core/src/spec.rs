//! Sweep specs: parsing from JSON, YAML or TOML, validation against an experiment's
//! declarations, and the normalized form whose hash identifies a run's content.
//!
//! Validation walks the parsed document by hand rather than through `serde` derives so that
//! every error names its field path and the allowed values, e.g.
//! `params.sigma: expected a number or list, got "abc"`.

use crate::error::SpecError;
use crate::experiment::{Experiment, ParamDecl, Registry, Value, ValueType};
use crate::sample::{Dist, Method, NORMAL_Z_MAX, SOBOL_DIMS, Sample, SampleDim};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};
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
];

/// The text formats a spec can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecFormat {
    /// JSON.
    Json,
    /// YAML 1.2 (a superset of JSON).
    Yaml,
    /// TOML.
    Toml,
}

impl SpecFormat {
    /// Picks the format from a file name's extension (`.json`, `.yaml`/`.yml`, `.toml`).
    pub fn from_path(path: &str) -> Option<Self> {
        let lower = path.to_ascii_lowercase();
        if lower.ends_with(".json") {
            Some(SpecFormat::Json)
        } else if lower.ends_with(".yaml") || lower.ends_with(".yml") {
            Some(SpecFormat::Yaml)
        } else if lower.ends_with(".toml") {
            Some(SpecFormat::Toml)
        } else {
            None
        }
    }

    /// Parses a format name: `json`, `yaml`/`yml` or `toml`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "json" => Some(SpecFormat::Json),
            "yaml" | "yml" => Some(SpecFormat::Yaml),
            "toml" => Some(SpecFormat::Toml),
            _ => None,
        }
    }
}

/// Size limits applied before anything runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most rows (points × replicates) a run may have.
    pub max_rows: u64,
    /// Most replicates per point.
    pub max_replicates: u64,
    /// Most points per shard.
    pub max_shard_size: u64,
    /// Most explicit values in one list.
    pub max_list_len: usize,
    /// Largest spec text accepted, in bytes (checked before parsing).
    pub max_spec_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_rows: 10_000_000_000,
            max_replicates: 100_000,
            max_shard_size: 1_000_000,
            max_list_len: 100_000,
            max_spec_bytes: 1 << 20,
        }
    }
}

/// The values one parameter takes along its axis. Generated forms stay lazy, so a
/// `linspace` of 10^9 values costs three numbers of memory.
#[derive(Debug, Clone, PartialEq)]
pub enum AxisValues {
    /// One value for every point.
    Const(Value),
    /// Explicit values, in order.
    List(Vec<Value>),
    /// `n` evenly spaced values from `start` to `stop` inclusive.
    Linspace {
        /// First value.
        start: f64,
        /// Last value.
        stop: f64,
        /// Number of values (≥ 1).
        n: u64,
        /// Whether the parameter is an integer (values are then exact integers).
        int: bool,
    },
    /// `n` values `10^e` for `e` evenly spaced from `start` to `stop` inclusive.
    Logspace {
        /// First exponent.
        start: f64,
        /// Last exponent.
        stop: f64,
        /// Number of values (≥ 1).
        n: u64,
        /// Whether the parameter is an integer.
        int: bool,
    },
    /// `start, start + step, …` while below `stop` (above, for a negative step).
    Range {
        /// First value.
        start: f64,
        /// Exclusive end.
        stop: f64,
        /// Increment (non-zero).
        step: f64,
        /// Number of values, computed at validation.
        n: u64,
        /// Whether the parameter is an integer.
        int: bool,
    },
}

impl AxisValues {
    /// Number of values.
    pub fn len(&self) -> u64 {
        match self {
            AxisValues::Const(_) => 1,
            AxisValues::List(v) => v.len() as u64,
            AxisValues::Linspace { n, .. }
            | AxisValues::Logspace { n, .. }
            | AxisValues::Range { n, .. } => *n,
        }
    }

    /// Whether the axis has no values (never true for a validated spec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `j`-th value (`j < len()`).
    pub fn get(&self, j: u64) -> Value {
        let num = |x: f64, int: bool| {
            if int {
                Value::Int(x.round() as i64)
            } else {
                Value::Float(x)
            }
        };
        match self {
            AxisValues::Const(v) => v.clone(),
            AxisValues::List(v) => v[j as usize].clone(),
            AxisValues::Linspace {
                start,
                stop,
                n,
                int,
            } => num(linspace_at(*start, *stop, *n, j), *int),
            AxisValues::Logspace {
                start,
                stop,
                n,
                int,
            } => num(10f64.powf(linspace_at(*start, *stop, *n, j)), *int),
            AxisValues::Range {
                start, step, int, ..
            } => num(start + step * j as f64, *int),
        }
    }

    /// The normalized JSON form.
    pub fn to_json(&self) -> Json {
        let num = |x: f64, int: bool| {
            if int {
                Json::from(x as i64)
            } else {
                serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
            }
        };
        match self {
            AxisValues::Const(v) => v.to_json(),
            AxisValues::List(v) => Json::Array(v.iter().map(Value::to_json).collect()),
            AxisValues::Linspace {
                start,
                stop,
                n,
                int,
            } => {
                serde_json::json!({"linspace": [num(*start, *int), num(*stop, *int), n]})
            }
            AxisValues::Logspace { start, stop, n, .. } => {
                serde_json::json!({"logspace": [num(*start, false), num(*stop, false), n]})
            }
            AxisValues::Range {
                start,
                stop,
                step,
                int,
                ..
            } => {
                serde_json::json!({"range": [num(*start, *int), num(*stop, *int), num(*step, *int)]})
            }
        }
    }
}

fn linspace_at(start: f64, stop: f64, n: u64, j: u64) -> f64 {
    if n <= 1 || j == 0 {
        start
    } else if j == n - 1 {
        stop
    } else {
        start + (stop - start) * (j as f64 / (n - 1) as f64)
    }
}

/// One parameter's axis in a validated spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamAxis {
    /// Parameter name.
    pub name: String,
    /// Index of the parameter in the experiment's declarations.
    pub decl_index: usize,
    /// Its values.
    pub values: AxisValues,
}

/// A group of parameters that vary together (`zip:`): value `j` of every member at once.
#[derive(Debug, Clone, PartialEq)]
pub struct ZipAxis {
    /// Members: name, declaration index and values (all of one length).
    pub members: Vec<(String, usize, Vec<Value>)>,
}

impl ZipAxis {
    fn len(&self) -> u64 {
        self.members[0].2.len() as u64
    }
}

/// One axis of the point space. Points are decoded by mixed radix over the axes in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Axis {
    /// One grid parameter (from `params:`).
    Param(ParamAxis),
    /// A zipped group (from `zip:`).
    Zip(ZipAxis),
    /// A sampled design (from `sample:`), one axis of `n` points.
    Sample(Sample),
}

impl Axis {
    /// Number of positions along the axis.
    pub fn len(&self) -> u64 {
        match self {
            Axis::Param(p) => p.values.len(),
            Axis::Zip(z) => z.len(),
            Axis::Sample(s) => s.n,
        }
    }

    /// Whether the axis is empty (never for a validated spec).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn assign(&self, digit: u64, values: &mut [Value]) {
        match self {
            Axis::Param(p) => values[p.decl_index] = p.values.get(digit),
            Axis::Zip(z) => {
                for (_, decl_index, vals) in &z.members {
                    values[*decl_index] = vals[digit as usize].clone();
                }
            }
            Axis::Sample(s) => {
                for (k, dim) in s.dims.iter().enumerate() {
                    values[dim.decl_index] = s.value(digit, k);
                }
            }
        }
    }
}

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
    /// Axes in decode order: the last one varies fastest.
    pub axes: Vec<Axis>,
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
        if text.len() > limits.max_spec_bytes {
            return Err(SpecError::new(
                "",
                format!(
                    "the spec is {} bytes, over the limit of {} bytes",
                    text.len(),
                    limits.max_spec_bytes
                ),
            ));
        }
        let doc = parse_document(text, format)?;
        Spec::from_json(&doc, registry, limits)
    }

    /// Validates an already-parsed document.
    pub fn from_json(doc: &Json, registry: &Registry, limits: &Limits) -> Result<Spec, SpecError> {
        let obj = doc.as_object().ok_or_else(|| {
            SpecError::new(
                "",
                format!("a spec must be a mapping, got {}", describe(doc)),
            )
        })?;
        for key in obj.keys() {
            if !TOP_LEVEL_FIELDS.contains(&key.as_str()) {
                return Err(SpecError::new(
                    key.as_str(),
                    format!("unknown field; allowed: {}", TOP_LEVEL_FIELDS.join(", ")),
                ));
            }
        }
        let version = match obj.get("version") {
            None => SPEC_VERSION,
            Some(v) => {
                let version = int_field(v, "version", 0, u64::MAX)?;
                if version != SPEC_VERSION {
                    return Err(SpecError::new(
                        "version",
                        format!(
                            "unsupported spec version {version}; this engine reads version {SPEC_VERSION}"
                        ),
                    ));
                }
                version
            }
        };
        let experiment_name = match obj.get("experiment") {
            None => return Err(SpecError::new("experiment", "required field missing")),
            Some(Json::String(s)) => s.as_str(),
            Some(other) => {
                return Err(SpecError::new(
                    "experiment",
                    format!("expected a string, got {}", describe(other)),
                ));
            }
        };
        let experiment = registry.get(experiment_name).cloned().ok_or_else(|| {
            SpecError::new(
                "experiment",
                format!(
                    "unknown experiment {experiment_name:?}; available: {}",
                    registry.names().join(", ")
                ),
            )
        })?;
        let name = match obj.get("name") {
            None => experiment_name.to_string(),
            Some(Json::String(s)) => {
                if s.is_empty() || s.chars().count() > 128 || s.chars().any(char::is_control) {
                    return Err(SpecError::new(
                        "name",
                        "must be 1 to 128 printable characters",
                    ));
                }
                s.clone()
            }
            Some(other) => {
                return Err(SpecError::new(
                    "name",
                    format!("expected a string, got {}", describe(other)),
                ));
            }
        };
        let seed = match obj.get("seed") {
            None => 0,
            Some(v) => int_field(v, "seed", 0, i64::MAX as u64)?,
        };
        let replicates = match obj.get("replicates") {
            None => 1,
            Some(v) => int_field(v, "replicates", 1, limits.max_replicates)?,
        };
        let explicit_shard_size = match obj.get("shard_size") {
            None => None,
            Some(v) => Some(int_field(v, "shard_size", 1, limits.max_shard_size)?),
        };
        let empty = Map::new();
        let params = match obj.get("params") {
            None => &empty,
            Some(Json::Object(m)) => m,
            Some(other) => {
                return Err(SpecError::new(
                    "params",
                    format!(
                        "expected a mapping of parameter names to values, got {}",
                        describe(other)
                    ),
                ));
            }
        };
        let decls = experiment.params();
        let mut used: Vec<Option<String>> = vec![None; decls.len()];
        let find = |key: &str, path: &str| -> Result<usize, SpecError> {
            decls.iter().position(|d| d.name == key).ok_or_else(|| {
                let declared: Vec<&str> = decls.iter().map(|d| d.name).collect();
                SpecError::new(
                    path,
                    format!(
                        "unknown parameter for {}; declared: {}",
                        experiment.name(),
                        declared.join(", ")
                    ),
                )
            })
        };
        let mut claim = |decl_index: usize, path: &str| -> Result<(), SpecError> {
            if let Some(first) = &used[decl_index] {
                return Err(SpecError::new(
                    path,
                    format!("also set in {first}; give each parameter once"),
                ));
            }
            used[decl_index] = Some(path.to_string());
            Ok(())
        };
        let mut param_axes = Vec::with_capacity(decls.len());
        for (key, value) in params {
            let path = format!("params.{key}");
            let decl_index = find(key, &path)?;
            claim(decl_index, &path)?;
            let values = parse_axis(value, &decls[decl_index], &path, limits)?;
            param_axes.push(ParamAxis {
                name: key.clone(),
                decl_index,
                values,
            });
        }
        let mut zip_axes = Vec::new();
        if let Some(zip) = obj.get("zip") {
            let groups = zip.as_array().ok_or_else(|| {
                SpecError::new(
                    "zip",
                    format!("expected a list of mappings, got {}", describe(zip)),
                )
            })?;
            for (g, group) in groups.iter().enumerate() {
                let gpath = format!("zip[{g}]");
                let members_json = match group {
                    Json::Object(m) if !m.is_empty() => m,
                    other => {
                        return Err(SpecError::new(
                            gpath,
                            format!(
                                "expected a mapping of parameter names to lists, got {}",
                                describe(other)
                            ),
                        ));
                    }
                };
                let mut members: Vec<(String, usize, Vec<Value>)> = Vec::new();
                for (key, value) in members_json {
                    let path = format!("{gpath}.{key}");
                    let decl_index = find(key, &path)?;
                    claim(decl_index, &path)?;
                    let AxisValues::List(values) = (match value {
                        Json::Array(items) => parse_list(items, &decls[decl_index], &path, limits)?,
                        other => {
                            return Err(SpecError::new(
                                path,
                                format!("expected a list of values, got {}", describe(other)),
                            ));
                        }
                    }) else {
                        unreachable!("parse_list returns a list")
                    };
                    if let Some((first, _, first_values)) = members.first()
                        && first_values.len() != values.len()
                    {
                        return Err(SpecError::new(
                            path,
                            format!(
                                "has {} values but {gpath}.{first} has {}; zipped lists must have equal lengths",
                                values.len(),
                                first_values.len()
                            ),
                        ));
                    }
                    members.push((key.clone(), decl_index, values));
                }
                zip_axes.push(Axis::Zip(ZipAxis { members }));
            }
        }
        let sample_axis = match obj.get("sample") {
            None => None,
            Some(v) => Some(Axis::Sample(parse_sample(
                v, seed, decls, &find, &mut claim,
            )?)),
        };
        let mut axes: Vec<Axis> = param_axes.into_iter().map(Axis::Param).collect();
        for (decl_index, decl) in decls.iter().enumerate() {
            if used[decl_index].is_some() {
                continue;
            }
            let Some(default) = &decl.default else {
                return Err(SpecError::new(
                    format!("params.{}", decl.name),
                    format!("required parameter missing ({})", describe_decl(decl)),
                ));
            };
            axes.push(Axis::Param(ParamAxis {
                name: decl.name.to_string(),
                decl_index,
                values: AxisValues::Const(default.clone()),
            }));
        }
        axes.extend(zip_axes);
        axes.extend(sample_axis);
        let mut points: u64 = 1;
        for axis in &axes {
            points = points
                .checked_mul(axis.len())
                .ok_or_else(|| too_many(u64::MAX, replicates, limits))?;
        }
        let rows = points
            .checked_mul(replicates)
            .ok_or_else(|| too_many(points, replicates, limits))?;
        if rows > limits.max_rows {
            return Err(too_many(points, replicates, limits));
        }
        let shard_size = explicit_shard_size.unwrap_or_else(|| default_shard_size(points));
        Ok(Spec {
            version,
            experiment,
            name,
            seed,
            replicates,
            shard_size,
            axes,
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
        obj.insert("shard_size".into(), Json::from(self.shard_size));
        obj.insert("params".into(), Json::Object(params));
        if !zip.is_empty() {
            obj.insert("zip".into(), Json::Array(zip));
        }
        if let Some(sample) = sample {
            obj.insert("sample".into(), sample);
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

fn too_many(points: u64, replicates: u64, limits: &Limits) -> SpecError {
    let shown = if points == u64::MAX {
        "more than 1.8e19".to_string()
    } else {
        points.to_string()
    };
    SpecError::new(
        "params",
        format!(
            "the sweep has {shown} points x {replicates} replicates, over the limit of {} rows (SWEEP_MAX_POINTS)",
            limits.max_rows
        ),
    )
}

/// Parses spec text into a JSON document, keeping mapping order (it is the axis order).
///
/// YAML and TOML go through their own value types first so that NaN, infinities, dates and
/// non-string keys are refused with the path where they appear, instead of silently
/// becoming `null`.
pub fn parse_document(text: &str, format: SpecFormat) -> Result<Json, SpecError> {
    let invalid = |name: &str, e: &dyn std::fmt::Display| {
        let msg = e.to_string();
        let first_line = msg.lines().next().unwrap_or("").trim().to_string();
        SpecError::new("", format!("not valid {name}: {first_line}"))
    };
    match format {
        SpecFormat::Json => serde_json::from_str(text).map_err(|e| invalid("JSON", &e)),
        SpecFormat::Yaml => {
            let v: serde_norway::Value =
                serde_norway::from_str(text).map_err(|e| invalid("YAML", &e))?;
            yaml_to_json(v, "")
        }
        SpecFormat::Toml => {
            let v: toml::Table = toml::from_str(text).map_err(|e| invalid("TOML", &e))?;
            toml_to_json(toml::Value::Table(v), "")
        }
    }
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn finite(x: f64, path: &str) -> Result<Json, SpecError> {
    serde_json::Number::from_f64(x)
        .map(Json::Number)
        .ok_or_else(|| SpecError::new(path, format!("{x} is not allowed: numbers must be finite")))
}

fn yaml_to_json(v: serde_norway::Value, path: &str) -> Result<Json, SpecError> {
    use serde_norway::Value as Y;
    Ok(match v {
        Y::Null => Json::Null,
        Y::Bool(b) => Json::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Json::from(i)
            } else if let Some(u) = n.as_u64() {
                Json::from(u)
            } else {
                finite(n.as_f64().unwrap_or(f64::NAN), path)?
            }
        }
        Y::String(s) => Json::String(s),
        Y::Sequence(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, item) in m {
                let Y::String(key) = k else {
                    return Err(SpecError::new(path, "mapping keys must be strings"));
                };
                let p = child(path, &key);
                out.insert(key, yaml_to_json(item, &p)?);
            }
            Json::Object(out)
        }
        Y::Tagged(_) => return Err(SpecError::new(path, "YAML tags are not allowed in a spec")),
    })
}

fn toml_to_json(v: toml::Value, path: &str) -> Result<Json, SpecError> {
    use toml::Value as T;
    Ok(match v {
        T::String(s) => Json::String(s),
        T::Integer(i) => Json::from(i),
        T::Float(x) => finite(x, path)?,
        T::Boolean(b) => Json::Bool(b),
        T::Datetime(_) => return Err(SpecError::new(path, "dates are not allowed in a spec")),
        T::Array(items) => Json::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| toml_to_json(item, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        T::Table(t) => {
            let mut out = Map::new();
            for (key, item) in t {
                let p = child(path, &key);
                out.insert(key, toml_to_json(item, &p)?);
            }
            Json::Object(out)
        }
    })
}

/// Describes a JSON value for an error message: strings quoted, containers by kind.
pub fn describe(v: &Json) -> String {
    match v {
        Json::Null => "null".into(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::String(s) => {
            let short: String = s.chars().take(40).collect();
            format!("{short:?}")
        }
        Json::Array(_) => "a list".into(),
        Json::Object(_) => "a mapping".into(),
    }
}

fn describe_decl(decl: &ParamDecl) -> String {
    match decl.ty {
        ValueType::Float => format!("a number in {}", decl.bounds),
        ValueType::Int => format!("an integer in {}", decl.bounds),
        ValueType::Bool => "true or false".into(),
        ValueType::Str => format!("one of {}", quoted(decl.choices)),
    }
}

fn quoted(choices: &[&str]) -> String {
    choices
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn int_field(v: &Json, path: &str, min: u64, max: u64) -> Result<u64, SpecError> {
    let n = match v {
        Json::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|x| x.fract() == 0.0 && *x >= 0.0 && *x < 1.8e19)
                .map(|x| x as u64)
        }),
        _ => None,
    };
    match n {
        Some(n) if (min..=max).contains(&n) => Ok(n),
        Some(_) => Err(SpecError::new(
            path,
            format!(
                "{} is outside the allowed range [{min}, {max}]",
                describe(v)
            ),
        )),
        None if v.as_i64().is_some() || v.as_f64().is_some_and(|x| x.fract() == 0.0) => {
            Err(SpecError::new(
                path,
                format!(
                    "{} is outside the allowed range [{min}, {max}]",
                    describe(v)
                ),
            ))
        }
        None => Err(SpecError::new(
            path,
            format!("expected an integer, got {}", describe(v)),
        )),
    }
}

const AXIS_FORMS: &[&str] = &["values", "linspace", "logspace", "range"];

fn parse_axis(
    v: &Json,
    decl: &ParamDecl,
    path: &str,
    limits: &Limits,
) -> Result<AxisValues, SpecError> {
    match v {
        Json::Array(items) => parse_list(items, decl, path, limits),
        Json::Object(m) => {
            if m.len() != 1 {
                return Err(SpecError::new(
                    path,
                    format!(
                        "a mapping must have exactly one of: {}",
                        AXIS_FORMS.join(", ")
                    ),
                ));
            }
            let (form, args) = m.iter().next().expect("one entry");
            let form_path = format!("{path}.{form}");
            match form.as_str() {
                "values" => match args {
                    Json::Array(items) => parse_list(items, decl, &form_path, limits),
                    other => Err(SpecError::new(
                        form_path,
                        format!("expected a list, got {}", describe(other)),
                    )),
                },
                "linspace" | "logspace" | "range" => parse_generator(form, args, decl, &form_path),
                _ => Err(SpecError::new(
                    format!("{path}.{form}"),
                    format!("unknown form; allowed: {}", AXIS_FORMS.join(", ")),
                )),
            }
        }
        scalar => match typed_scalar(scalar, decl, path) {
            Some(value) => {
                check_value(&value, decl, path)?;
                Ok(AxisValues::Const(value))
            }
            None => Err(SpecError::new(
                path,
                format!(
                    "expected {} or list, got {}",
                    type_phrase(decl),
                    describe(scalar)
                ),
            )),
        },
    }
}

fn type_phrase(decl: &ParamDecl) -> String {
    match decl.ty {
        ValueType::Float => "a number".into(),
        ValueType::Int => "an integer".into(),
        ValueType::Bool => "true/false".into(),
        ValueType::Str if decl.choices.is_empty() => "a string".into(),
        ValueType::Str => format!("one of {}", quoted(decl.choices)),
    }
}

fn parse_list(
    items: &[Json],
    decl: &ParamDecl,
    path: &str,
    limits: &Limits,
) -> Result<AxisValues, SpecError> {
    if items.is_empty() {
        return Err(SpecError::new(path, "a list of values must not be empty"));
    }
    if items.len() > limits.max_list_len {
        return Err(SpecError::new(
            path,
            format!(
                "a list may hold at most {} values, got {}; use linspace/logspace/range",
                limits.max_list_len,
                items.len()
            ),
        ));
    }
    let mut values = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_path = format!("{path}[{i}]");
        let value = typed_scalar(item, decl, &item_path).ok_or_else(|| {
            SpecError::new(
                item_path.clone(),
                format!("expected {}, got {}", type_phrase(decl), describe(item)),
            )
        })?;
        check_value(&value, decl, &item_path)?;
        values.push(value);
    }
    Ok(AxisValues::List(values))
}

/// Converts a JSON scalar to the parameter's type, or `None` if it is of the wrong kind.
fn typed_scalar(v: &Json, decl: &ParamDecl, _path: &str) -> Option<Value> {
    match (decl.ty, v) {
        (ValueType::Float, Json::Number(n)) => {
            n.as_f64().filter(|x| x.is_finite()).map(Value::Float)
        }
        (ValueType::Int, Json::Number(n)) => n.as_i64().map(Value::Int).or_else(|| {
            n.as_f64()
                .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                .map(|x| Value::Int(x as i64))
        }),
        (ValueType::Bool, Json::Bool(b)) => Some(Value::Bool(*b)),
        (ValueType::Str, Json::String(s)) => Some(Value::Str(s.clone().into())),
        _ => None,
    }
}

fn check_value(value: &Value, decl: &ParamDecl, path: &str) -> Result<(), SpecError> {
    match value {
        Value::Float(_) | Value::Int(_) => {
            let x = value.as_f64().expect("numeric");
            if !decl.bounds.contains(x) {
                return Err(SpecError::new(
                    path,
                    format!("{value} is outside the allowed range {}", decl.bounds),
                ));
            }
        }
        Value::Str(s) => {
            if !decl.choices.is_empty() && !decl.choices.contains(&s.as_ref()) {
                return Err(SpecError::new(
                    path,
                    format!("{s:?} is not one of {}", quoted(decl.choices)),
                ));
            }
        }
        Value::Bool(_) => {}
    }
    Ok(())
}

/// `args` as a list of exactly `len` items, or an error saying `expected {what}`.
fn fixed_list<'a>(
    args: &'a Json,
    len: usize,
    path: &str,
    what: &str,
) -> Result<&'a [Json], SpecError> {
    match args {
        Json::Array(items) if items.len() == len => Ok(items),
        other => Err(SpecError::new(
            path,
            format!("expected {what}, got {}", describe(other)),
        )),
    }
}

/// Item `i` of `items` as a finite number; errors name `path[i]`.
fn finite_at(items: &[Json], i: usize, path: &str) -> Result<f64, SpecError> {
    items[i].as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
        SpecError::new(
            format!("{path}[{i}]"),
            format!("expected a number, got {}", describe(&items[i])),
        )
    })
}

fn parse_generator(
    form: &str,
    args: &Json,
    decl: &ParamDecl,
    path: &str,
) -> Result<AxisValues, SpecError> {
    let int = match decl.ty {
        ValueType::Float => false,
        ValueType::Int => true,
        _ => {
            return Err(SpecError::new(
                path,
                format!(
                    "{form} needs a numeric parameter; {} is {}",
                    decl.name,
                    type_phrase(decl)
                ),
            ));
        }
    };
    let shape = match form {
        "range" => "[start, stop, step]",
        _ => "[start, stop, n]",
    };
    let items = fixed_list(args, 3, path, &format!("a list {shape}"))?;
    let number = |i: usize| finite_at(items, i, path);
    let (start, stop) = (number(0)?, number(1)?);
    let values = if form == "range" {
        let step = number(2)?;
        if step == 0.0 {
            return Err(SpecError::new(format!("{path}[2]"), "step must not be 0"));
        }
        if int && (start.fract() != 0.0 || stop.fract() != 0.0 || step.fract() != 0.0) {
            return Err(SpecError::new(
                path,
                format!(
                    "{} is an integer parameter: start, stop and step must be integers",
                    decl.name
                ),
            ));
        }
        let span = (stop - start) / step;
        let n = if int {
            span.ceil()
        } else {
            (span - 1e-9).ceil()
        };
        if n < 1.0 {
            return Err(SpecError::new(
                path,
                format!("range [{start}, {stop}) with step {step} is empty"),
            ));
        }
        if n > 1e15 {
            return Err(SpecError::new(path, "range has too many values"));
        }
        AxisValues::Range {
            start,
            stop,
            step,
            n: n as u64,
            int,
        }
    } else {
        let n = match &items[2] {
            Json::Number(n) => n.as_i64().or_else(|| {
                n.as_f64()
                    .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                    .map(|x| x as i64)
            }),
            _ => None,
        };
        let n = match n {
            Some(n) if n >= 1 => n as u64,
            Some(n) => {
                return Err(SpecError::new(
                    format!("{path}[2]"),
                    format!("n must be at least 1, got {n}"),
                ));
            }
            None => {
                return Err(SpecError::new(
                    format!("{path}[2]"),
                    format!("expected an integer count n, got {}", describe(&items[2])),
                ));
            }
        };
        if form == "linspace" {
            if int {
                let step = if n > 1 {
                    (stop - start) / (n - 1) as f64
                } else {
                    0.0
                };
                if start.fract() != 0.0 || stop.fract() != 0.0 || step.fract() != 0.0 {
                    return Err(SpecError::new(
                        path,
                        format!(
                            "{} is an integer parameter: this linspace gives non-integer values",
                            decl.name
                        ),
                    ));
                }
            }
            AxisValues::Linspace {
                start,
                stop,
                n,
                int,
            }
        } else {
            if int {
                let step = if n > 1 {
                    (stop - start) / (n - 1) as f64
                } else {
                    0.0
                };
                if start.fract() != 0.0 || step.fract() != 0.0 || start < 0.0 || stop < 0.0 {
                    return Err(SpecError::new(
                        path,
                        format!(
                            "{} is an integer parameter: this logspace gives non-integer values",
                            decl.name
                        ),
                    ));
                }
            }
            if start.abs() > 300.0 || stop.abs() > 300.0 {
                return Err(SpecError::new(
                    path,
                    "exponents must lie within [-300, 300]",
                ));
            }
            AxisValues::Logspace {
                start,
                stop,
                n,
                int,
            }
        }
    };
    // Every generated form is monotone, so checking both ends checks every value.
    let (first, last) = (values.get(0), values.get(values.len() - 1));
    check_value(&first, decl, path)?;
    check_value(&last, decl, path)?;
    Ok(values)
}

fn number_json(x: f64) -> Json {
    serde_json::Number::from_f64(x).map_or(Json::Null, Json::Number)
}

fn sample_json(s: &Sample) -> Json {
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
        let dist = match &dim.dist {
            Dist::Uniform(a, b) => serde_json::json!({"uniform": [num(*a), num(*b)]}),
            Dist::LogUniform(a, b) => serde_json::json!({"loguniform": [num(*a), num(*b)]}),
            Dist::Normal(m, sd) => {
                serde_json::json!({"normal": [number_json(*m), number_json(*sd)]})
            }
            Dist::Choice(values) => {
                serde_json::json!({"choice": values.iter().map(Value::to_json).collect::<Vec<_>>()})
            }
        };
        params.insert(dim.name.clone(), dist);
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

const SAMPLE_FIELDS: &[&str] = &["method", "n", "params", "scramble", "seed"];
const SAMPLE_METHODS: &[&str] = &["random", "lhs", "sobol"];
const DISTRIBUTIONS: &[&str] = &["uniform", "loguniform", "normal", "choice"];

fn parse_sample(
    v: &Json,
    run_seed: u64,
    decls: &[ParamDecl],
    find: &dyn Fn(&str, &str) -> Result<usize, SpecError>,
    claim: &mut dyn FnMut(usize, &str) -> Result<(), SpecError>,
) -> Result<Sample, SpecError> {
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
    let method_name = match obj.get("method") {
        Some(Json::String(m)) if SAMPLE_METHODS.contains(&m.as_str()) => m.as_str(),
        Some(other) => {
            return Err(SpecError::new(
                "sample.method",
                format!(
                    "{} is not one of {}",
                    describe(other),
                    quoted(SAMPLE_METHODS)
                ),
            ));
        }
        None => return Err(SpecError::new("sample.method", "required field missing")),
    };
    let scramble = match obj.get("scramble") {
        None => false,
        Some(Json::Bool(b)) if method_name == "sobol" => *b,
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
    let method = match method_name {
        "random" => Method::Random,
        "lhs" => Method::Lhs,
        _ => Method::Sobol { scramble },
    };
    let n = match obj.get("n") {
        None => return Err(SpecError::new("sample.n", "required field missing")),
        Some(v) => int_field(v, "sample.n", 1, 1 << 40)?,
    };
    let seed = match obj.get("seed") {
        None => run_seed,
        Some(v) => int_field(v, "sample.seed", 0, i64::MAX as u64)?,
    };
    let params = match obj.get("params") {
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
        let decl_index = find(key, &path)?;
        claim(decl_index, &path)?;
        let decl = &decls[decl_index];
        dims.push(SampleDim {
            name: key.clone(),
            decl_index,
            ty: decl.ty,
            dist: parse_dist(value, decl, &path)?,
        });
    }
    Ok(Sample::new(method, n, seed, dims))
}

fn parse_dist(v: &Json, decl: &ParamDecl, path: &str) -> Result<Dist, SpecError> {
    let (form, args) = match v.as_object() {
        Some(m) if m.len() == 1 => m.iter().next().expect("one entry"),
        _ => {
            return Err(SpecError::new(
                path,
                format!(
                    "expected a mapping with one of {}, got {}",
                    DISTRIBUTIONS.join(", "),
                    describe(v)
                ),
            ));
        }
    };
    let fpath = format!("{path}.{form}");
    if form == "choice" {
        let AxisValues::List(values) = (match args {
            Json::Array(items) => parse_list(items, decl, &fpath, &Limits::default())?,
            other => {
                return Err(SpecError::new(
                    fpath,
                    format!("expected a list, got {}", describe(other)),
                ));
            }
        }) else {
            unreachable!("parse_list returns a list")
        };
        return Ok(Dist::Choice(values));
    }
    if !DISTRIBUTIONS.contains(&form.as_str()) {
        return Err(SpecError::new(
            fpath,
            format!(
                "unknown distribution; allowed: {}",
                DISTRIBUTIONS.join(", ")
            ),
        ));
    }
    let int = match decl.ty {
        ValueType::Float => false,
        ValueType::Int => true,
        _ => {
            return Err(SpecError::new(
                fpath,
                format!(
                    "{form} needs a numeric parameter; {} is {}; use choice",
                    decl.name,
                    type_phrase(decl)
                ),
            ));
        }
    };
    let pair = fixed_list(args, 2, &fpath, "a list of two numbers")?;
    let num = |i: usize| finite_at(pair, i, &fpath);
    let (a, b) = (num(0)?, num(1)?);
    let check = |x: f64, what: &str| -> Result<(), SpecError> {
        if decl.bounds.contains(x) {
            Ok(())
        } else {
            Err(SpecError::new(
                fpath.clone(),
                format!("{what} {x} is outside the allowed range {}", decl.bounds),
            ))
        }
    };
    match form.as_str() {
        "uniform" | "loguniform" => {
            if a > b {
                return Err(SpecError::new(fpath, format!("low {a} is above high {b}")));
            }
            if form == "loguniform" && a <= 0.0 {
                return Err(SpecError::new(
                    format!("{fpath}[0]"),
                    format!("must be positive, got {a}"),
                ));
            }
            if int && (a.fract() != 0.0 || b.fract() != 0.0) {
                return Err(SpecError::new(
                    fpath,
                    format!(
                        "{} is an integer parameter: low and high must be integers",
                        decl.name
                    ),
                ));
            }
            check(a, "low")?;
            check(b, "high")?;
            Ok(if form == "uniform" {
                Dist::Uniform(a, b)
            } else {
                Dist::LogUniform(a, b)
            })
        }
        _ => {
            if b <= 0.0 {
                return Err(SpecError::new(
                    format!("{fpath}[1]"),
                    format!("standard deviation must be positive, got {b}"),
                ));
            }
            // Draws are capped at NORMAL_Z_MAX standard deviations, so checking both caps
            // against the bounds guarantees every drawn value is allowed.
            check(a - NORMAL_Z_MAX * b, &format!("mean - {NORMAL_Z_MAX} sd ="))?;
            check(a + NORMAL_Z_MAX * b, &format!("mean + {NORMAL_Z_MAX} sd ="))?;
            Ok(Dist::Normal(a, b))
        }
    }
}
