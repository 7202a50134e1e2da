//! The distributions of a sampled parameter: `uniform`, `loguniform`, `normal` over numbers,
//! `choice` over listed values. Each is checked so that every value it can give is allowed.

use super::fields::{describe, finite_at, fixed_list, type_phrase};
use super::grid::parse_list;
use super::limits::Limits;
use crate::error::SpecError;
use crate::experiment::{ParamDecl, ValueType};
use crate::sample::{Dist, NORMAL_Z_MAX};
use serde_json::Value as Json;

/// The distribution forms of a sampled parameter (`{uniform: [0, 1]}`), in the order error
/// messages and the JSON Schema list them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DistForm {
    /// `{uniform: [low, high]}`.
    Uniform,
    /// `{loguniform: [low, high]}`, `0 < low`.
    LogUniform,
    /// `{normal: [mean, sd]}`.
    Normal,
    /// `{choice: [values...]}`.
    Choice,
}

impl DistForm {
    /// Every form, in listing order.
    pub const ALL: [DistForm; 4] = [
        DistForm::Uniform,
        DistForm::LogUniform,
        DistForm::Normal,
        DistForm::Choice,
    ];

    /// The keyword used in specs.
    pub const fn name(self) -> &'static str {
        match self {
            DistForm::Uniform => "uniform",
            DistForm::LogUniform => "loguniform",
            DistForm::Normal => "normal",
            DistForm::Choice => "choice",
        }
    }

    /// The form a keyword names, if any.
    pub fn from_name(name: &str) -> Option<DistForm> {
        DistForm::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether the form draws numbers (all but `choice`), and so needs a numeric parameter.
    pub const fn is_numeric(self) -> bool {
        !matches!(self, DistForm::Choice)
    }

    /// The form of a parsed distribution.
    pub fn of(dist: &Dist) -> DistForm {
        match dist {
            Dist::Uniform(..) => DistForm::Uniform,
            Dist::LogUniform(..) => DistForm::LogUniform,
            Dist::Normal(..) => DistForm::Normal,
            Dist::Choice(_) => DistForm::Choice,
        }
    }
}

fn dist_names() -> String {
    DistForm::ALL.map(DistForm::name).join(", ")
}

pub(super) fn parse_dist(v: &Json, decl: &ParamDecl, path: &str) -> Result<Dist, SpecError> {
    let (form, args) = match v.as_object() {
        Some(m) if m.len() == 1 => m.iter().next().expect("one entry"),
        _ => {
            return Err(SpecError::new(
                path,
                format!(
                    "expected a mapping with one of {}, got {}",
                    dist_names(),
                    describe(v)
                ),
            ));
        }
    };
    let fpath = format!("{path}.{form}");
    match DistForm::from_name(form) {
        Some(DistForm::Choice) => match args {
            Json::Array(items) => Ok(Dist::Choice(parse_list(
                items,
                decl,
                &fpath,
                &Limits::default(),
            )?)),
            other => Err(SpecError::new(
                fpath,
                format!("expected a list, got {}", describe(other)),
            )),
        },
        Some(numeric) => parse_numeric_dist(numeric, args, decl, &fpath),
        None => Err(SpecError::new(
            fpath,
            format!("unknown distribution; allowed: {}", dist_names()),
        )),
    }
}

/// `uniform`, `loguniform` or `normal`: two finite numbers, checked so that every value
/// the distribution can give lies within the parameter's bounds.
fn parse_numeric_dist(
    form: DistForm,
    args: &Json,
    decl: &ParamDecl,
    fpath: &str,
) -> Result<Dist, SpecError> {
    let int = match decl.ty {
        ValueType::Float => false,
        ValueType::Int => true,
        _ => {
            return Err(SpecError::new(
                fpath,
                format!(
                    "{} needs a numeric parameter; {} is {}; use choice",
                    form.name(),
                    decl.name,
                    type_phrase(decl)
                ),
            ));
        }
    };
    let pair = fixed_list(args, 2, fpath, "a list of two numbers")?;
    let (a, b) = (finite_at(pair, 0, fpath)?, finite_at(pair, 1, fpath)?);
    let check = |x: f64, what: &str| -> Result<(), SpecError> {
        if decl.bounds.contains(x) {
            Ok(())
        } else {
            Err(SpecError::new(
                fpath,
                format!(
                    "{what} {} is outside the allowed range {}",
                    super::fields::short_number(x),
                    decl.bounds
                ),
            ))
        }
    };
    if form == DistForm::Normal {
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
        return Ok(Dist::Normal(a, b));
    }
    if a > b {
        return Err(SpecError::new(fpath, format!("low {a} is above high {b}")));
    }
    if form == DistForm::LogUniform && a <= 0.0 {
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
    Ok(if form == DistForm::Uniform {
        Dist::Uniform(a, b)
    } else {
        Dist::LogUniform(a, b)
    })
}

#[cfg(test)]
mod tests {
    use super::super::tests::Probe;
    use super::*;
    use crate::experiment::{Experiment, Value};
    use serde_json::json;

    fn dist(name: &str, v: Json) -> Result<Dist, SpecError> {
        let decl = Probe.params().iter().find(|d| d.name == name).unwrap();
        parse_dist(&v, decl, &format!("sample.params.{name}"))
    }

    fn err(name: &str, v: Json) -> (String, String) {
        let e = dist(name, v).unwrap_err();
        (e.path, e.message)
    }

    #[test]
    fn form_keywords_round_trip_in_listing_order() {
        assert_eq!(dist_names(), "uniform, loguniform, normal, choice");
        for form in DistForm::ALL {
            assert_eq!(DistForm::from_name(form.name()), Some(form));
        }
        assert_eq!(DistForm::from_name("beta"), None);
        assert_eq!(
            DistForm::of(&Dist::LogUniform(1.0, 2.0)),
            DistForm::LogUniform
        );
        assert!(!DistForm::Choice.is_numeric() && DistForm::Normal.is_numeric());
    }

    #[test]
    fn each_form_parses_to_its_distribution() {
        assert_eq!(
            dist("a", json!({"uniform": [1, 2]})),
            Ok(Dist::Uniform(1.0, 2.0))
        );
        assert_eq!(
            dist("k", json!({"loguniform": [1, 64]})),
            Ok(Dist::LogUniform(1.0, 64.0))
        );
        assert_eq!(
            dist("a", json!({"normal": [5, 0.5]})),
            Ok(Dist::Normal(5.0, 0.5))
        );
        assert_eq!(
            dist("mode", json!({"choice": ["hi"]})),
            Ok(Dist::Choice(vec![Value::Str("hi".into())]))
        );
    }

    #[test]
    fn distribution_errors_name_the_form_and_the_allowed_ones() {
        assert_eq!(
            err("a", json!({"beta": [0, 1]})),
            (
                "sample.params.a.beta".into(),
                "unknown distribution; allowed: uniform, loguniform, normal, choice".into()
            )
        );
        assert_eq!(
            err("a", json!(3)),
            (
                "sample.params.a".into(),
                "expected a mapping with one of uniform, loguniform, normal, choice, got 3".into()
            )
        );
        assert_eq!(
            err("a", json!({"uniform": [2, 1]})),
            (
                "sample.params.a.uniform".into(),
                "low 2 is above high 1".into()
            )
        );
        assert_eq!(
            err("a", json!({"loguniform": [0, 1]})),
            (
                "sample.params.a.loguniform[0]".into(),
                "must be positive, got 0".into()
            )
        );
        assert_eq!(
            err("a", json!({"uniform": [0, 20]})),
            (
                "sample.params.a.uniform".into(),
                "high 20 is outside the allowed range [0, 10]".into()
            )
        );
        assert_eq!(
            err("mode", json!({"choice": "lo"})),
            (
                "sample.params.mode.choice".into(),
                "expected a list, got \"lo\"".into()
            )
        );
    }

    #[test]
    fn normal_tails_must_stay_within_bounds() {
        assert_eq!(
            err("a", json!({"normal": [5, 0]})),
            (
                "sample.params.a.normal[1]".into(),
                "standard deviation must be positive, got 0".into()
            )
        );
        let (path, message) = err("a", json!({"normal": [5, 1]}));
        assert_eq!(path, "sample.params.a.normal");
        assert!(message.starts_with("mean - 8.3 sd = "), "{message}");
    }

    #[test]
    fn numeric_forms_need_numeric_parameters() {
        assert_eq!(
            err("mode", json!({"uniform": [0, 1]})),
            (
                "sample.params.mode.uniform".into(),
                r#"uniform needs a numeric parameter; mode is one of "lo", "hi"; use choice"#
                    .into()
            )
        );
        assert_eq!(
            err("k", json!({"uniform": [1.5, 3]})).1,
            "k is an integer parameter: low and high must be integers"
        );
    }
}
