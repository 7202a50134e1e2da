//! The generated grid forms: `linspace`, `logspace` and `range`. Each is checked to give
//! values of the parameter's type, and at both ends (the forms are monotone) within its bounds.

use super::axis::AxisValues;
use super::fields::{describe, finite_at, fixed_list, type_phrase};
use super::grid::{GridForm, check_value};
use crate::error::SpecError;
use crate::experiment::{ParamDecl, ValueType};
use serde_json::Value as Json;

/// What every generator shares: a numeric parameter (`int`: whether it is an integer) and
/// a list of three items whose first two, start and stop, are finite numbers.
fn generator_args<'a>(
    form: GridForm,
    args: &'a Json,
    decl: &ParamDecl,
    path: &str,
) -> Result<(bool, &'a [Json], f64, f64), SpecError> {
    let int = match decl.ty {
        ValueType::Float => false,
        ValueType::Int => true,
        _ => {
            return Err(SpecError::new(
                path,
                format!(
                    "{} needs a numeric parameter; {} is {}",
                    form.name(),
                    decl.name,
                    type_phrase(decl)
                ),
            ));
        }
    };
    let shape = match form {
        GridForm::Range => "[start, stop, step]",
        _ => "[start, stop, n]",
    };
    let items = fixed_list(args, 3, path, &format!("a list {shape}"))?;
    let (start, stop) = (finite_at(items, 0, path)?, finite_at(items, 1, path)?);
    Ok((int, items, start, stop))
}

/// `{range: [start, stop, step]}`: `stop` excluded, `step` non-zero and of either sign.
pub(super) fn parse_range(
    args: &Json,
    decl: &ParamDecl,
    path: &str,
) -> Result<AxisValues, SpecError> {
    let (int, items, start, stop) = generator_args(GridForm::Range, args, decl, path)?;
    let step = finite_at(items, 2, path)?;
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
    let values = AxisValues::Range {
        start,
        stop,
        step,
        n: n as u64,
        int,
    };
    check_ends(values, decl, path)
}

/// `{linspace: [start, stop, n]}` or `{logspace: [start, stop, n]}`.
pub(super) fn parse_spaced(
    form: GridForm,
    args: &Json,
    decl: &ParamDecl,
    path: &str,
) -> Result<AxisValues, SpecError> {
    let (int, items, start, stop) = generator_args(form, args, decl, path)?;
    let n = count(&items[2], &format!("{path}[2]"))?;
    let step = if n > 1 {
        (stop - start) / (n - 1) as f64
    } else {
        0.0
    };
    let non_integer = || {
        SpecError::new(
            path,
            format!(
                "{} is an integer parameter: this {} gives non-integer values",
                decl.name,
                form.name()
            ),
        )
    };
    let values = if form == GridForm::Linspace {
        if int && (start.fract() != 0.0 || stop.fract() != 0.0 || step.fract() != 0.0) {
            return Err(non_integer());
        }
        AxisValues::Linspace {
            start,
            stop,
            n,
            int,
        }
    } else {
        if int && (start.fract() != 0.0 || step.fract() != 0.0 || start < 0.0 || stop < 0.0) {
            return Err(non_integer());
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
    };
    check_ends(values, decl, path)
}

/// The count `n` of a linspace or logspace: a whole number, at least 1.
fn count(v: &Json, path: &str) -> Result<u64, SpecError> {
    let n = match v {
        Json::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|x| x.fract() == 0.0 && x.abs() < 9.0e15)
                .map(|x| x as i64)
        }),
        _ => None,
    };
    match n {
        Some(n) if n >= 1 => Ok(n as u64),
        Some(n) => Err(SpecError::new(
            path,
            format!("n must be at least 1, got {n}"),
        )),
        None => Err(SpecError::new(
            path,
            format!("expected an integer count n, got {}", describe(v)),
        )),
    }
}

/// Every generated form is monotone, so checking both ends checks every value.
fn check_ends(values: AxisValues, decl: &ParamDecl, path: &str) -> Result<AxisValues, SpecError> {
    let (first, last) = (values.get(0), values.get(values.len() - 1));
    check_value(&first, decl, path)?;
    check_value(&last, decl, path)?;
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::super::tests::Probe;
    use super::*;
    use crate::experiment::{Experiment, Value};
    use serde_json::json;

    fn decl(name: &str) -> &'static ParamDecl {
        Probe.params().iter().find(|d| d.name == name).unwrap()
    }

    /// Parses `{form: args}` for parameter `name`, as `params.{name}` would.
    fn axis(name: &str, v: Json) -> Result<AxisValues, SpecError> {
        let (form, args) = v.as_object().unwrap().iter().next().unwrap();
        let path = format!("params.{name}.{form}");
        match GridForm::from_name(form).unwrap() {
            GridForm::Range => parse_range(args, decl(name), &path),
            spaced => parse_spaced(spaced, args, decl(name), &path),
        }
    }

    fn err(name: &str, v: Json) -> (String, String) {
        let e = axis(name, v).unwrap_err();
        (e.path, e.message)
    }

    fn floats(a: &AxisValues) -> Vec<f64> {
        (0..a.len()).map(|j| a.get(j).as_f64().unwrap()).collect()
    }

    #[test]
    fn linspace_includes_both_ends_and_allows_one_value() {
        assert_eq!(
            floats(&axis("a", json!({"linspace": [0, 1, 5]})).unwrap()),
            [0.0, 0.25, 0.5, 0.75, 1.0]
        );
        assert_eq!(
            floats(&axis("a", json!({"linspace": [3, 9, 1]})).unwrap()),
            [3.0]
        );
        assert_eq!(
            err("a", json!({"linspace": [0, 1, 0]})),
            (
                "params.a.linspace[2]".into(),
                "n must be at least 1, got 0".into()
            )
        );
        assert_eq!(
            err("a", json!({"linspace": [0, 1, 2.5]})),
            (
                "params.a.linspace[2]".into(),
                "expected an integer count n, got 2.5".into()
            )
        );
    }

    #[test]
    fn logspace_gives_powers_of_ten_within_the_exponent_limit() {
        let a = axis("k", json!({"logspace": [0, 2, 3]})).unwrap();
        assert_eq!(
            (0..3).map(|j| a.get(j)).collect::<Vec<_>>(),
            [Value::Int(1), Value::Int(10), Value::Int(100)]
        );
        assert_eq!(
            err("a", json!({"logspace": [0, 400, 3]})),
            (
                "params.a.logspace".into(),
                "exponents must lie within [-300, 300]".into()
            )
        );
        assert_eq!(
            err("k", json!({"logspace": [0, 1, 3]})),
            (
                "params.k.logspace".into(),
                "k is an integer parameter: this logspace gives non-integer values".into()
            )
        );
    }

    #[test]
    fn range_excludes_stop_and_steps_either_way() {
        assert_eq!(
            floats(&axis("a", json!({"range": [0, 1, 0.25]})).unwrap()),
            [0.0, 0.25, 0.5, 0.75]
        );
        assert_eq!(
            floats(&axis("a", json!({"range": [4, 1, -1]})).unwrap()),
            [4.0, 3.0, 2.0]
        );
        assert_eq!(
            floats(&axis("k", json!({"range": [1, 4, 2]})).unwrap()),
            [1.0, 3.0]
        );
        assert_eq!(
            err("a", json!({"range": [1, 0, 1]})),
            (
                "params.a.range".into(),
                "range [1, 0) with step 1 is empty".into()
            )
        );
    }

    #[test]
    fn range_rejects_step_zero_with_the_field_path() {
        assert_eq!(
            err("a", json!({"range": [0, 1, 0]})),
            ("params.a.range[2]".into(), "step must not be 0".into())
        );
    }

    #[test]
    fn generators_need_numbers_and_stay_within_bounds() {
        assert_eq!(
            err("mode", json!({"range": [0, 1, 1]})),
            (
                "params.mode.range".into(),
                r#"range needs a numeric parameter; mode is one of "lo", "hi""#.into()
            )
        );
        assert_eq!(
            err("a", json!({"linspace": [0, 20, 3]})),
            (
                "params.a.linspace".into(),
                "20 is outside the allowed range [0, 10]".into()
            )
        );
        assert_eq!(
            err("a", json!({"range": [0, 1]})),
            (
                "params.a.range".into(),
                "expected a list [start, stop, step], got a list".into()
            )
        );
        assert_eq!(
            err("a", json!({"linspace": [0, "x", 3]})),
            (
                "params.a.linspace[1]".into(),
                "expected a number, got \"x\"".into()
            )
        );
    }
}
