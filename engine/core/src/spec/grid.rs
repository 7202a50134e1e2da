//! The `params:` section: each grid parameter as a constant, an explicit list, or a
//! generator (`linspace`, `logspace`, `range`), typed and bounds-checked against its
//! declaration.

use super::axis::{Axis, AxisValues, ParamAxis};
use super::claims::Claims;
use super::fields::{describe, quoted, type_phrase};
use super::generators::{parse_range, parse_spaced};
use super::limits::Limits;
use crate::error::SpecError;
use crate::experiment::{ParamDecl, Value, ValueType};
use serde_json::Value as Json;

/// The mapping forms of a grid axis (`{linspace: [0, 1, 5]}`), in the order error messages
/// and the JSON Schema list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GridForm {
    /// `{values: [...]}`: an explicit list, the same as a bare list.
    Values,
    /// `{linspace: [start, stop, n]}`.
    Linspace,
    /// `{logspace: [start, stop, n]}`: exponents of 10.
    Logspace,
    /// `{range: [start, stop, step]}`: `stop` excluded.
    Range,
}

impl GridForm {
    /// Every form, in listing order.
    pub const ALL: [GridForm; 4] = [
        GridForm::Values,
        GridForm::Linspace,
        GridForm::Logspace,
        GridForm::Range,
    ];

    /// The keyword used in specs.
    pub const fn name(self) -> &'static str {
        match self {
            GridForm::Values => "values",
            GridForm::Linspace => "linspace",
            GridForm::Logspace => "logspace",
            GridForm::Range => "range",
        }
    }

    /// The form a keyword names, if any.
    pub fn from_name(name: &str) -> Option<GridForm> {
        GridForm::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the form generates numbers (all but `values`), and so needs a numeric
    /// parameter.
    pub const fn is_generator(self) -> bool {
        !matches!(self, GridForm::Values)
    }
}

fn form_names() -> String {
    GridForm::ALL.map(GridForm::name).join(", ")
}

/// Parses the `params:` section into one axis per parameter, in spec order.
pub(super) fn parse_params(
    section: Option<&Json>,
    claims: &mut Claims,
    limits: &Limits,
) -> Result<Vec<Axis>, SpecError> {
    let params = match section {
        None => return Ok(Vec::new()),
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
    let mut axes = Vec::with_capacity(params.len());
    for (key, value) in params {
        let path = format!("params.{key}");
        let (decl_index, decl) = claims.take(key, &path)?;
        let values = parse_axis(value, decl, &path, limits)?;
        axes.push(Axis::Param(ParamAxis {
            name: key.clone(),
            decl_index,
            values,
        }));
    }
    Ok(axes)
}

fn parse_axis(
    v: &Json,
    decl: &ParamDecl,
    path: &str,
    limits: &Limits,
) -> Result<AxisValues, SpecError> {
    match v {
        Json::Array(items) => parse_list(items, decl, path, limits).map(AxisValues::List),
        Json::Object(m) => {
            if m.len() != 1 {
                return Err(SpecError::new(
                    path,
                    format!("a mapping must have exactly one of: {}", form_names()),
                ));
            }
            let (form, args) = m.iter().next().expect("one entry");
            let form_path = format!("{path}.{form}");
            match GridForm::from_name(form) {
                Some(GridForm::Values) => match args {
                    Json::Array(items) => {
                        parse_list(items, decl, &form_path, limits).map(AxisValues::List)
                    }
                    other => Err(SpecError::new(
                        form_path,
                        format!("expected a list, got {}", describe(other)),
                    )),
                },
                Some(GridForm::Range) => parse_range(args, decl, &form_path),
                Some(spaced) => parse_spaced(spaced, args, decl, &form_path),
                None => Err(SpecError::new(
                    format!("{path}.{form}"),
                    format!("unknown form; allowed: {}", form_names()),
                )),
            }
        }
        scalar => match typed_scalar(scalar, decl) {
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

/// An explicit list of values, each typed and checked (errors name `path[i]`).
pub(super) fn parse_list(
    items: &[Json],
    decl: &ParamDecl,
    path: &str,
    limits: &Limits,
) -> Result<Vec<Value>, SpecError> {
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
        let value = typed_scalar(item, decl).ok_or_else(|| {
            SpecError::new(
                item_path.clone(),
                format!("expected {}, got {}", type_phrase(decl), describe(item)),
            )
        })?;
        check_value(&value, decl, &item_path)?;
        values.push(value);
    }
    Ok(values)
}

/// Converts a JSON scalar to the parameter's type, or `None` if it is of the wrong kind.
fn typed_scalar(v: &Json, decl: &ParamDecl) -> Option<Value> {
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

/// Checks a typed value against the declaration's bounds or choices.
pub(super) fn check_value(value: &Value, decl: &ParamDecl, path: &str) -> Result<(), SpecError> {
    match value {
        Value::Float(_) | Value::Int(_) => {
            let x = value.as_f64().expect("numeric");
            if !decl.bounds.contains(x) {
                let shown = match value {
                    Value::Float(f) => super::fields::short_number(*f),
                    other => other.to_string(),
                };
                return Err(SpecError::new(
                    path,
                    format!("{shown} is outside the allowed range {}", decl.bounds),
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

#[cfg(test)]
mod tests {
    use super::super::tests::Probe;
    use super::*;
    use crate::experiment::Experiment;
    use serde_json::json;

    fn decl(name: &str) -> &'static ParamDecl {
        Probe.params().iter().find(|d| d.name == name).unwrap()
    }

    fn axis(name: &str, v: Json) -> Result<AxisValues, SpecError> {
        parse_axis(
            &v,
            decl(name),
            &format!("params.{name}"),
            &Limits::default(),
        )
    }

    fn err(name: &str, v: Json) -> (String, String) {
        let e = axis(name, v).unwrap_err();
        (e.path, e.message)
    }

    #[test]
    fn form_keywords_round_trip_in_listing_order() {
        assert_eq!(form_names(), "values, linspace, logspace, range");
        for form in GridForm::ALL {
            assert_eq!(GridForm::from_name(form.name()), Some(form));
        }
        assert_eq!(GridForm::from_name("grid"), None);
        assert!(!GridForm::Values.is_generator() && GridForm::Range.is_generator());
    }

    #[test]
    fn scalars_lists_and_values_mappings() {
        assert_eq!(
            axis("a", json!(2)).unwrap(),
            AxisValues::Const(Value::Float(2.0))
        );
        assert_eq!(
            axis("k", json!(4.0)).unwrap(),
            AxisValues::Const(Value::Int(4))
        );
        let list = AxisValues::List(vec![Value::Float(1.0), Value::Float(2.0)]);
        assert_eq!(axis("a", json!([1, 2])).unwrap(), list);
        assert_eq!(axis("a", json!({"values": [1, 2]})).unwrap(), list);
        assert_eq!(
            err("mode", json!(["lo", "mid"])),
            (
                "params.mode[1]".into(),
                r#""mid" is not one of "lo", "hi""#.into()
            )
        );
        assert_eq!(
            err("on", json!(1)),
            (
                "params.on".into(),
                "expected true/false or list, got 1".into()
            )
        );
    }

    #[test]
    fn generator_forms_go_to_their_parsers_with_the_form_in_the_path() {
        assert_eq!(axis("a", json!({"linspace": [0, 1, 2]})).unwrap().len(), 2);
        assert_eq!(axis("a", json!({"range": [0, 1, 0.5]})).unwrap().len(), 2);
        assert_eq!(
            err("a", json!({"logspace": [0, 1]})),
            (
                "params.a.logspace".into(),
                "expected a list [start, stop, n], got a list".into()
            )
        );
    }

    #[test]
    fn mappings_need_exactly_one_known_form() {
        assert_eq!(
            err("a", json!({})),
            (
                "params.a".into(),
                "a mapping must have exactly one of: values, linspace, logspace, range".into()
            )
        );
        assert_eq!(
            err("a", json!({"grid": [1]})),
            (
                "params.a.grid".into(),
                "unknown form; allowed: values, linspace, logspace, range".into()
            )
        );
    }

    #[test]
    fn lists_respect_the_length_limit() {
        let limits = Limits {
            max_list_len: 2,
            ..Limits::default()
        };
        let e = parse_list(&[json!(1), json!(2), json!(3)], decl("a"), "p", &limits).unwrap_err();
        assert_eq!(
            e.message,
            "a list may hold at most 2 values, got 3; use linspace/logspace/range"
        );
        let e = parse_list(&[], decl("a"), "p", &limits).unwrap_err();
        assert_eq!(e.message, "a list of values must not be empty");
    }
}
