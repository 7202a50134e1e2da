//! Small helpers shared by every section's parser: describing values and declarations in
//! error messages, child paths, and reading integer fields and fixed-length number lists.

use crate::error::SpecError;
use crate::experiment::{ParamDecl, ValueType};
use serde_json::Value as Json;

/// A number for an error message, at 12 significant digits: a value computed by stepping
/// (`range`, `linspace`) shows as `-8.2`, not `-8.200000000000001`.
pub fn short_number(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    let r = format!("{x:.11e}").parse::<f64>().unwrap_or(x);
    if r != 0.0 && (r.abs() >= 1e16 || r.abs() < 1e-6) {
        format!("{r:e}")
    } else {
        r.to_string()
    }
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

/// What a parameter accepts, for "required parameter missing (...)".
pub(super) fn describe_decl(decl: &ParamDecl) -> String {
    match decl.ty {
        ValueType::Float => format!("a number in {}", decl.bounds),
        ValueType::Int => format!("an integer in {}", decl.bounds),
        ValueType::Bool => "true or false".into(),
        ValueType::Str => format!("one of {}", quoted(decl.choices)),
    }
}

/// The kind of scalar a parameter takes, for "expected ... got ..." messages.
pub(super) fn type_phrase(decl: &ParamDecl) -> String {
    match decl.ty {
        ValueType::Float => "a number".into(),
        ValueType::Int => "an integer".into(),
        ValueType::Bool => "true/false".into(),
        ValueType::Str if decl.choices.is_empty() => "a string".into(),
        ValueType::Str => format!("one of {}", quoted(decl.choices)),
    }
}

/// `"a", "b", "c"`: each choice debug-quoted, comma-separated.
pub(super) fn quoted(choices: &[&str]) -> String {
    choices
        .iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The path of field `key` inside `path` (`key` alone at the top level).
pub(super) fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// `v` as an integer in `[min, max]`; errors name `path` and the allowed range.
pub(super) fn int_field(v: &Json, path: &str, min: u64, max: u64) -> Result<u64, SpecError> {
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

/// `args` as a list of exactly `len` items, or an error saying `expected {what}`.
pub(super) fn fixed_list<'a>(
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
pub(super) fn finite_at(items: &[Json], i: usize, path: &str) -> Result<f64, SpecError> {
    items[i].as_f64().filter(|x| x.is_finite()).ok_or_else(|| {
        SpecError::new(
            format!("{path}[{i}]"),
            format!("expected a number, got {}", describe(&items[i])),
        )
    })
}

/// A single-entry JSON mapping `{key: value}`, the shape of every axis and distribution form.
pub(super) fn one_entry(key: &str, value: Json) -> Json {
    let mut m = serde_json::Map::new();
    m.insert(key.to_string(), value);
    Json::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::{Bounds, Value};
    use serde_json::json;

    fn decl(ty: ValueType, choices: &'static [&'static str]) -> ParamDecl {
        ParamDecl {
            name: "p",
            ty,
            default: Some(Value::Bool(false)),
            bounds: Bounds::closed(0.0, 5.0),
            choices,
            unit: "",
            description: "",
        }
    }

    #[test]
    fn describe_quotes_strings_truncates_them_and_names_containers() {
        assert_eq!(describe(&json!(null)), "null");
        assert_eq!(describe(&json!(true)), "true");
        assert_eq!(describe(&json!(1.5)), "1.5");
        assert_eq!(describe(&json!("a\"b")), r#""a\"b""#);
        assert_eq!(
            describe(&json!("x".repeat(50))),
            format!("{:?}", "x".repeat(40))
        );
        assert_eq!(describe(&json!([1])), "a list");
        assert_eq!(describe(&json!({"a": 1})), "a mapping");
    }

    #[test]
    fn declarations_are_described_by_type() {
        assert_eq!(
            describe_decl(&decl(ValueType::Float, &[])),
            "a number in [0, 5]"
        );
        assert_eq!(
            describe_decl(&decl(ValueType::Int, &[])),
            "an integer in [0, 5]"
        );
        assert_eq!(describe_decl(&decl(ValueType::Bool, &[])), "true or false");
        assert_eq!(
            describe_decl(&decl(ValueType::Str, &["a", "b"])),
            r#"one of "a", "b""#
        );
        assert_eq!(type_phrase(&decl(ValueType::Str, &[])), "a string");
        assert_eq!(type_phrase(&decl(ValueType::Bool, &[])), "true/false");
        assert_eq!(type_phrase(&decl(ValueType::Str, &["a"])), r#"one of "a""#);
    }

    #[test]
    fn child_paths_join_with_dots_below_the_top_level() {
        assert_eq!(child("", "params"), "params");
        assert_eq!(child("params", "x"), "params.x");
        assert_eq!(child("zip[0]", "x"), "zip[0].x");
    }

    #[test]
    fn int_field_accepts_whole_numbers_in_range() {
        assert_eq!(int_field(&json!(3), "f", 1, 5).unwrap(), 3);
        assert_eq!(int_field(&json!(3.0), "f", 1, 5).unwrap(), 3);
        assert_eq!(int_field(&json!(5), "f", 1, 5).unwrap(), 5);
    }

    #[test]
    fn int_field_bounds_message_names_the_allowed_range() {
        let e = int_field(&json!(0), "replicates", 1, 10).unwrap_err();
        assert_eq!(e.path, "replicates");
        assert_eq!(e.message, "0 is outside the allowed range [1, 10]");
        assert_eq!(short_number(-10.0 + 9.0 * 0.2), "-8.2");
        assert_eq!(short_number(0.1 + 0.2), "0.3");
        assert_eq!(short_number(1e300), "1e300");
        assert_eq!(short_number(123456.5), "123456.5");
        let e = int_field(&json!(-1), "seed", 0, 9).unwrap_err();
        assert_eq!(e.message, "-1 is outside the allowed range [0, 9]");
        let e = int_field(&json!(1e30), "seed", 0, 9).unwrap_err();
        assert_eq!(e.message, "1e+30 is outside the allowed range [0, 9]");
    }

    #[test]
    fn int_field_rejects_fractions_and_non_numbers() {
        let e = int_field(&json!(1.5), "n", 0, 9).unwrap_err();
        assert_eq!(e.message, "expected an integer, got 1.5");
        let e = int_field(&json!("two"), "n", 0, 9).unwrap_err();
        assert_eq!(e.message, "expected an integer, got \"two\"");
    }

    #[test]
    fn fixed_lists_check_length_and_items_check_finiteness_with_an_indexed_path() {
        let two = json!([1, "a"]);
        let items = fixed_list(&two, 2, "d", "a pair").unwrap();
        assert_eq!(finite_at(items, 0, "d").unwrap(), 1.0);
        let e = finite_at(items, 1, "d").unwrap_err();
        assert_eq!(
            (e.path.as_str(), e.message.as_str()),
            ("d[1]", "expected a number, got \"a\"")
        );
        let e = fixed_list(&json!([1]), 2, "d", "a pair").unwrap_err();
        assert_eq!(e.message, "expected a pair, got a list");
    }

    #[test]
    fn one_entry_builds_a_single_key_mapping() {
        assert_eq!(
            one_entry("range", json!([0, 1, 1])),
            json!({"range": [0, 1, 1]})
        );
    }
}
