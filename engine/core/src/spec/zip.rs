//! The `zip:` section: groups of parameters given as equal-length lists that vary together,
//! each group one axis.

use super::axis::{Axis, ZipAxis};
use super::claims::Claims;
use super::fields::describe;
use super::grid::parse_list;
use super::limits::Limits;
use crate::error::SpecError;
use crate::experiment::Value;
use serde_json::Value as Json;

/// Parses the `zip:` section into one axis per group, in spec order.
pub(super) fn parse_zip(
    section: Option<&Json>,
    claims: &mut Claims,
    limits: &Limits,
) -> Result<Vec<Axis>, SpecError> {
    let Some(zip) = section else {
        return Ok(Vec::new());
    };
    let groups = zip.as_array().ok_or_else(|| {
        SpecError::new(
            "zip",
            format!("expected a list of mappings, got {}", describe(zip)),
        )
    })?;
    groups
        .iter()
        .enumerate()
        .map(|(g, group)| parse_group(group, &format!("zip[{g}]"), claims, limits))
        .collect()
}

fn parse_group(
    group: &Json,
    gpath: &str,
    claims: &mut Claims,
    limits: &Limits,
) -> Result<Axis, SpecError> {
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
        let (decl_index, decl) = claims.take(key, &path)?;
        let values = match value {
            Json::Array(items) => parse_list(items, decl, &path, limits)?,
            other => {
                return Err(SpecError::new(
                    path,
                    format!("expected a list of values, got {}", describe(other)),
                ));
            }
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
    Ok(Axis::Zip(ZipAxis { members }))
}

#[cfg(test)]
mod tests {
    use super::super::tests::Probe;
    use super::*;
    use serde_json::json;

    fn zip(v: Json) -> Result<Vec<Axis>, SpecError> {
        parse_zip(Some(&v), &mut Claims::new(&Probe), &Limits::default())
    }

    fn err(v: Json) -> (String, String) {
        let e = zip(v).unwrap_err();
        (e.path, e.message)
    }

    #[test]
    fn each_group_is_one_axis_of_its_common_length() {
        let axes = zip(json!([{"a": [1, 2], "k": [5, 6]}, {"on": [true, false, true]}])).unwrap();
        assert_eq!(axes.iter().map(Axis::len).collect::<Vec<_>>(), [2, 3]);
        let Axis::Zip(first) = &axes[0] else {
            panic!("not a zip axis")
        };
        assert_eq!(
            first.members[1],
            ("k".to_string(), 1, vec![Value::Int(5), Value::Int(6)])
        );
    }

    #[test]
    fn no_section_means_no_axes() {
        let axes = parse_zip(None, &mut Claims::new(&Probe), &Limits::default()).unwrap();
        assert!(axes.is_empty());
    }

    #[test]
    fn unequal_lengths_name_both_members() {
        assert_eq!(
            err(json!([{"a": [1, 2], "k": [5]}])),
            (
                "zip[0].k".into(),
                "has 1 values but zip[0].a has 2; zipped lists must have equal lengths".into()
            )
        );
    }

    #[test]
    fn malformed_groups_are_refused_with_their_path() {
        assert_eq!(
            err(json!({"a": [1]})),
            (
                "zip".into(),
                "expected a list of mappings, got a mapping".into()
            )
        );
        assert_eq!(
            err(json!([{}])),
            (
                "zip[0]".into(),
                "expected a mapping of parameter names to lists, got a mapping".into()
            )
        );
        assert_eq!(
            err(json!([{"a": [1]}, {"k": 3}])),
            ("zip[1].k".into(), "expected a list of values, got 3".into())
        );
        assert_eq!(
            err(json!([{"a": [1]}, {"a": [2]}])),
            (
                "zip[1].a".into(),
                "also set in zip[0].a; give each parameter once".into()
            )
        );
    }
}
