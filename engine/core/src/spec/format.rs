//! The text formats a spec can be written in, and their conversion to one JSON document.

use super::fields::child;
use crate::error::SpecError;
use serde_json::{Map, Value as Json};

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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(text: &str, format: SpecFormat) -> (String, String) {
        let e = parse_document(text, format).unwrap_err();
        (e.path, e.message)
    }

    #[test]
    fn format_names_are_case_insensitive() {
        assert_eq!(SpecFormat::from_name("JSON"), Some(SpecFormat::Json));
        assert_eq!(SpecFormat::from_name("yml"), Some(SpecFormat::Yaml));
        assert_eq!(SpecFormat::from_name("Yaml"), Some(SpecFormat::Yaml));
        assert_eq!(SpecFormat::from_name("toml"), Some(SpecFormat::Toml));
        assert_eq!(SpecFormat::from_name("ini"), None);
    }

    #[test]
    fn the_three_formats_give_the_same_document_in_mapping_order() {
        let want = json!({"b": 1, "a": [1.5, "x", true], "c": {"z": null, "y": 2}});
        let yaml = "b: 1\na: [1.5, x, true]\nc: {z: null, y: 2}\n";
        let toml = "b = 1\na = [1.5, \"x\", true]\n[c]\ny = 2\n";
        let json = r#"{"b": 1, "a": [1.5, "x", true], "c": {"z": null, "y": 2}}"#;
        let y = parse_document(yaml, SpecFormat::Yaml).unwrap();
        assert_eq!(y, want);
        let keys: Vec<&String> = y.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["b", "a", "c"]);
        assert_eq!(parse_document(json, SpecFormat::Json).unwrap(), want);
        // TOML has no null; otherwise the same.
        assert_eq!(
            parse_document(toml, SpecFormat::Toml).unwrap(),
            json!({"b": 1, "a": [1.5, "x", true], "c": {"y": 2}})
        );
    }

    #[test]
    fn yaml_non_finite_numbers_are_refused_with_their_path() {
        assert_eq!(
            err("params:\n  x: [1, .nan]\n", SpecFormat::Yaml),
            (
                "params.x[1]".into(),
                "NaN is not allowed: numbers must be finite".into()
            )
        );
        assert_eq!(
            err("a: -.inf\n", SpecFormat::Yaml),
            (
                "a".into(),
                "-inf is not allowed: numbers must be finite".into()
            )
        );
    }

    #[test]
    fn yaml_non_string_keys_and_tags_are_refused_with_their_path() {
        assert_eq!(
            err("params:\n  1: 2\n", SpecFormat::Yaml),
            ("params".into(), "mapping keys must be strings".into())
        );
        assert_eq!(
            err("? [1]\n: 2\n", SpecFormat::Yaml),
            ("".into(), "mapping keys must be strings".into())
        );
        assert_eq!(
            err("a: [!t 1]\n", SpecFormat::Yaml),
            ("a[0]".into(), "YAML tags are not allowed in a spec".into())
        );
    }

    #[test]
    fn toml_non_finite_numbers_and_dates_are_refused_with_their_path() {
        assert_eq!(
            err("[params]\nx = nan\n", SpecFormat::Toml),
            (
                "params.x".into(),
                "NaN is not allowed: numbers must be finite".into()
            )
        );
        assert_eq!(
            err("a = [1.0, inf]\n", SpecFormat::Toml),
            (
                "a[1]".into(),
                "inf is not allowed: numbers must be finite".into()
            )
        );
        assert_eq!(
            err("a = 1979-05-27\n", SpecFormat::Toml),
            ("a".into(), "dates are not allowed in a spec".into())
        );
    }

    #[test]
    fn syntax_errors_name_the_format_on_one_line() {
        for (text, format, name) in [
            ("{", SpecFormat::Json, "JSON"),
            ("a: [1\n", SpecFormat::Yaml, "YAML"),
            ("a = = 1\n", SpecFormat::Toml, "TOML"),
        ] {
            let (path, message) = err(text, format);
            assert_eq!(path, "");
            assert!(
                message.starts_with(&format!("not valid {name}: ")),
                "{message}"
            );
            assert!(!message.contains('\n'), "{message}");
        }
    }
}
