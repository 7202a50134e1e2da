//! Declarations (parameters, metrics), values, errors and the parameter accessor.

use crate::abi::RawValue;
use std::ffi::CString;
use std::fmt::Write as _;

/// The type of a parameter or metric column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    /// 64-bit float (`double`).
    Float,
    /// 64-bit signed integer (`bigint`).
    Int,
    /// Boolean.
    Bool,
    /// UTF-8 string.
    Str,
}

impl ValueType {
    /// The name the engine uses: `float`, `int`, `bool` or `str`.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Float => "float",
            ValueType::Int => "int",
            ValueType::Bool => "bool",
            ValueType::Str => "str",
        }
    }
}

/// A parameter default or a metric value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A float.
    Float(f64),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A string.
    Str(String),
}

impl Value {
    /// The value's type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Float(_) => ValueType::Float,
            Value::Int(_) => ValueType::Int,
            Value::Bool(_) => ValueType::Bool,
            Value::Str(_) => ValueType::Str,
        }
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Self {
        Value::Float(x)
    }
}

impl From<i64> for Value {
    fn from(x: i64) -> Self {
        Value::Int(x)
    }
}

impl From<bool> for Value {
    fn from(x: bool) -> Self {
        Value::Bool(x)
    }
}

impl From<&str> for Value {
    fn from(x: &str) -> Self {
        Value::Str(x.to_string())
    }
}

impl From<String> for Value {
    fn from(x: String) -> Self {
        Value::Str(x)
    }
}

/// Why one point failed: recorded in the failures table with `kind` and `message`; the run
/// goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelError {
    /// A short machine-readable kind, e.g. `invalid_input` or `diverged`.
    pub kind: String,
    /// One line for a person.
    pub message: String,
}

impl KernelError {
    /// An error of `kind` with `message`.
    pub fn new(kind: impl Into<String>, message: impl Into<String>) -> Self {
        KernelError {
            kind: kind.into(),
            message: message.into(),
        }
    }
}

/// A declared input. Build one with [`Param::float`] (or `int`, `bool`, `str`) and the
/// chained setters.
#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    name: &'static str,
    ty: ValueType,
    default: Option<Value>,
    min: Option<(f64, bool)>,
    max: Option<(f64, bool)>,
    choices: Vec<&'static str>,
    unit: &'static str,
    description: &'static str,
}

impl Param {
    fn new(name: &'static str, ty: ValueType) -> Self {
        Param {
            name,
            ty,
            default: None,
            min: None,
            max: None,
            choices: Vec::new(),
            unit: "",
            description: "",
        }
    }

    /// A float parameter named `name` (snake_case).
    pub fn float(name: &'static str) -> Self {
        Self::new(name, ValueType::Float)
    }

    /// An integer parameter.
    pub fn int(name: &'static str) -> Self {
        Self::new(name, ValueType::Int)
    }

    /// A boolean parameter.
    pub fn bool(name: &'static str) -> Self {
        Self::new(name, ValueType::Bool)
    }

    /// A string parameter (restrict it with [`Param::choices`]).
    pub fn str(name: &'static str) -> Self {
        Self::new(name, ValueType::Str)
    }

    /// The default; without one the spec must give the parameter.
    pub fn default(mut self, value: impl Into<Value>) -> Self {
        let mut value = value.into();
        if let (ValueType::Float, Value::Int(i)) = (self.ty, &value) {
            value = Value::Float(*i as f64);
        }
        self.default = Some(value);
        self
    }

    /// Allowed range `[lo, hi]`, both ends included.
    pub fn range(mut self, lo: f64, hi: f64) -> Self {
        self.min = Some((lo, false));
        self.max = Some((hi, false));
        self
    }

    /// Values must be `>= lo`.
    pub fn min(mut self, lo: f64) -> Self {
        self.min = Some((lo, false));
        self
    }

    /// Values must be `<= hi`.
    pub fn max(mut self, hi: f64) -> Self {
        self.max = Some((hi, false));
        self
    }

    /// Values must be strictly `> lo`.
    pub fn above(mut self, lo: f64) -> Self {
        self.min = Some((lo, true));
        self
    }

    /// Values must be strictly `< hi`.
    pub fn below(mut self, hi: f64) -> Self {
        self.max = Some((hi, true));
        self
    }

    /// The allowed strings of a string parameter.
    pub fn choices(mut self, choices: &[&'static str]) -> Self {
        self.choices = choices.to_vec();
        self
    }

    /// Unit of the value, e.g. `s` or `1/s`.
    pub fn unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// One sentence for forms and `sweep experiments`.
    pub fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    /// The parameter's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The parameter's type.
    pub fn value_type(&self) -> ValueType {
        self.ty
    }
}

/// A declared output. Build one with [`Metric::float`] (or `int`, `bool`, `str`).
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    name: &'static str,
    ty: ValueType,
    unit: &'static str,
    description: &'static str,
}

impl Metric {
    fn new(name: &'static str, ty: ValueType) -> Self {
        Metric {
            name,
            ty,
            unit: "",
            description: "",
        }
    }

    /// A float metric named `name` (snake_case).
    pub fn float(name: &'static str) -> Self {
        Self::new(name, ValueType::Float)
    }

    /// An integer metric.
    pub fn int(name: &'static str) -> Self {
        Self::new(name, ValueType::Int)
    }

    /// A boolean metric.
    pub fn bool(name: &'static str) -> Self {
        Self::new(name, ValueType::Bool)
    }

    /// A string metric.
    pub fn str(name: &'static str) -> Self {
        Self::new(name, ValueType::Str)
    }

    /// Unit of the value.
    pub fn unit(mut self, unit: &'static str) -> Self {
        self.unit = unit;
        self
    }

    /// One sentence for docs and catalogs.
    pub fn describe(mut self, description: &'static str) -> Self {
        self.description = description;
        self
    }

    /// The metric's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The metric's type.
    pub fn value_type(&self) -> ValueType {
        self.ty
    }
}

/// A kernel's declarations, as exported through the ABI. The engine checks them (snake_case
/// names, no reserved or repeated column, defaults within bounds) when it loads the library.
#[derive(Debug)]
pub struct Declaration {
    /// Experiment name.
    pub name: &'static str,
    /// What it simulates.
    pub description: &'static str,
    /// Parameters, in the order `run` sees them.
    pub params: Vec<Param>,
    /// Metrics, in the order `run` returns them.
    pub metrics: Vec<Metric>,
    json: CString,
}

impl Declaration {
    /// Collects the declarations and renders their JSON once.
    pub fn new(
        name: &'static str,
        description: &'static str,
        params: Vec<Param>,
        metrics: Vec<Metric>,
    ) -> Self {
        let mut d = Declaration {
            name,
            description,
            params,
            metrics,
            json: CString::default(),
        };
        d.json = CString::new(d.to_json()).unwrap_or_else(|_| {
            CString::new(r#"{"error":"a declaration contains a NUL byte"}"#).expect("no NUL")
        });
        d
    }

    /// The declarations as JSON (the format the engine's registry uses for parameters).
    pub fn to_json(&self) -> String {
        let mut s = String::new();
        s.push_str("{\"abi\":");
        s.push_str(&crate::ABI_VERSION.to_string());
        s.push_str(",\"name\":");
        json_str(&mut s, self.name);
        s.push_str(",\"description\":");
        json_str(&mut s, self.description);
        s.push_str(",\"params\":[");
        for (i, p) in self.params.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            json_str(&mut s, p.name);
            let _ = write!(s, ",\"type\":\"{}\",\"default\":", p.ty.name());
            match &p.default {
                None => s.push_str("null"),
                Some(v) => json_value(&mut s, v),
            }
            for (key, bound) in [("min", p.min), ("max", p.max)] {
                let _ = write!(s, ",\"{key}\":");
                json_f64(&mut s, bound.map(|b| b.0));
                let _ = write!(s, ",\"{key}_exclusive\":{}", bound.is_some_and(|b| b.1));
            }
            s.push_str(",\"choices\":[");
            for (j, c) in p.choices.iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                json_str(&mut s, c);
            }
            s.push_str("],\"unit\":");
            json_str(&mut s, p.unit);
            s.push_str(",\"description\":");
            json_str(&mut s, p.description);
            s.push('}');
        }
        s.push_str("],\"metrics\":[");
        for (i, m) in self.metrics.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str("{\"name\":");
            json_str(&mut s, m.name);
            let _ = write!(s, ",\"type\":\"{}\",\"unit\":", m.ty.name());
            json_str(&mut s, m.unit);
            s.push_str(",\"description\":");
            json_str(&mut s, m.description);
            s.push('}');
        }
        s.push_str("]}");
        s
    }

    /// The NUL-terminated JSON, valid as long as the declaration.
    pub fn json_ptr(&self) -> *const std::ffi::c_char {
        self.json.as_ptr()
    }

    /// Position of parameter `name`.
    pub(crate) fn param_index(&self, name: &str) -> Option<usize> {
        self.params.iter().position(|p| p.name == name)
    }
}

fn json_str(s: &mut String, text: &str) {
    s.push('"');
    for c in text.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(s, "\\u{:04x}", c as u32);
            }
            c => s.push(c),
        }
    }
    s.push('"');
}

fn json_f64(s: &mut String, x: Option<f64>) {
    match x {
        // `{:?}` keeps a decimal point or exponent, so the value reads back as a float.
        Some(x) if x.is_finite() => {
            let _ = write!(s, "{x:?}");
        }
        _ => s.push_str("null"),
    }
}

fn json_value(s: &mut String, v: &Value) {
    match v {
        Value::Float(x) => json_f64(s, Some(*x)),
        Value::Int(i) => {
            let _ = write!(s, "{i}");
        }
        Value::Bool(b) => {
            let _ = write!(s, "{b}");
        }
        Value::Str(t) => json_str(s, t),
    }
}

/// The parameters of one row, read by name (or by position, in declaration order). The
/// engine has already checked types and bounds; asking for an undeclared name or the wrong
/// type is a bug in the kernel, reported as a failure row.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    pub(crate) decl: &'a Declaration,
    pub(crate) raw: &'a [RawValue],
}

impl<'a> Params<'a> {
    fn at(&self, name: &str) -> &'a RawValue {
        match self.decl.param_index(name) {
            Some(i) => &self.raw[i],
            None => panic!("the kernel read parameter {name:?}, which it does not declare"),
        }
    }

    fn wrong(name: &str, want: ValueType) -> ! {
        panic!("parameter {name:?} is not declared as {}", want.name())
    }

    /// Float parameter `name` (an integer parameter is widened).
    pub fn f64(&self, name: &str) -> f64 {
        let v = self.at(name);
        v.as_f64()
            .unwrap_or_else(|| Self::wrong(name, ValueType::Float))
    }

    /// Integer parameter `name`.
    pub fn i64(&self, name: &str) -> i64 {
        let v = self.at(name);
        v.as_i64()
            .unwrap_or_else(|| Self::wrong(name, ValueType::Int))
    }

    /// Boolean parameter `name`.
    pub fn bool(&self, name: &str) -> bool {
        let v = self.at(name);
        v.as_bool()
            .unwrap_or_else(|| Self::wrong(name, ValueType::Bool))
    }

    /// String parameter `name`.
    pub fn str(&self, name: &str) -> &'a str {
        let v = self.at(name);
        // SAFETY: the engine passes valid UTF-8 that outlives the call (abi::run's contract).
        unsafe { v.as_str() }.unwrap_or_else(|| Self::wrong(name, ValueType::Str))
    }

    /// Float parameter at position `i` (no name lookup, for the hottest kernels).
    pub fn f64_at(&self, i: usize) -> f64 {
        self.raw[i]
            .as_f64()
            .unwrap_or_else(|| Self::wrong(self.decl.params[i].name, ValueType::Float))
    }

    /// Integer parameter at position `i`.
    pub fn i64_at(&self, i: usize) -> i64 {
        self.raw[i]
            .as_i64()
            .unwrap_or_else(|| Self::wrong(self.decl.params[i].name, ValueType::Int))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declaration_json_has_every_field() {
        let d = Declaration::new(
            "ou",
            "An \"OU\" process\n",
            vec![
                Param::float("theta")
                    .default(1)
                    .above(0.0)
                    .max(10.0)
                    .unit("1/s")
                    .describe("Mean reversion rate."),
                Param::str("method")
                    .default("exact")
                    .choices(&["exact", "euler"]),
                Param::int("steps"),
            ],
            vec![Metric::float("mean").unit("m"), Metric::bool("ok")],
        );
        assert_eq!(
            d.to_json(),
            concat!(
                r#"{"abi":1,"name":"ou","description":"An \"OU\" process\n","params":["#,
                r#"{"name":"theta","type":"float","default":1.0,"min":0.0,"min_exclusive":true,"max":10.0,"max_exclusive":false,"choices":[],"unit":"1/s","description":"Mean reversion rate."},"#,
                r#"{"name":"method","type":"str","default":"exact","min":null,"min_exclusive":false,"max":null,"max_exclusive":false,"choices":["exact","euler"],"unit":"","description":""},"#,
                r#"{"name":"steps","type":"int","default":null,"min":null,"min_exclusive":false,"max":null,"max_exclusive":false,"choices":[],"unit":"","description":""}],"#,
                r#""metrics":[{"name":"mean","type":"float","unit":"m","description":""},{"name":"ok","type":"bool","unit":"","description":""}]}"#
            )
        );
    }
}
