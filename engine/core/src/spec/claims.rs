//! Which section set each declared parameter: every parameter must be on exactly one axis,
//! set once in `params`, `zip` or `sample`, or else take its declared default.

use super::axis::{Axis, AxisValues, ParamAxis};
use super::fields::describe_decl;
use crate::error::SpecError;
use crate::experiment::{Experiment, ParamDecl};

/// The parameters of one experiment and where in the spec each was set so far.
pub(super) struct Claims<'a> {
    experiment: &'a dyn Experiment,
    used: Vec<Option<String>>,
}

impl<'a> Claims<'a> {
    /// No parameter set yet.
    pub(super) fn new(experiment: &'a dyn Experiment) -> Self {
        Claims {
            experiment,
            used: vec![None; experiment.params().len()],
        }
    }

    /// Finds the parameter named `key` and records that `path` sets it; errors name `path`
    /// if the experiment does not declare it or another section already set it.
    pub(super) fn take(
        &mut self,
        key: &str,
        path: &str,
    ) -> Result<(usize, &'a ParamDecl), SpecError> {
        let decls = self.experiment.params();
        let decl_index = decls.iter().position(|d| d.name == key).ok_or_else(|| {
            let declared: Vec<&str> = decls.iter().map(|d| d.name).collect();
            SpecError::new(
                path,
                format!(
                    "unknown parameter for {}; declared: {}",
                    self.experiment.name(),
                    declared.join(", ")
                ),
            )
        })?;
        if let Some(first) = &self.used[decl_index] {
            return Err(SpecError::new(
                path,
                format!("also set in {first}; give each parameter once"),
            ));
        }
        self.used[decl_index] = Some(path.to_string());
        Ok((decl_index, &decls[decl_index]))
    }

    /// Constant axes holding the default of every parameter not set, in declaration order;
    /// an error for the first one that has no default.
    pub(super) fn defaults(&self) -> Result<Vec<Axis>, SpecError> {
        let mut axes = Vec::new();
        for (decl_index, decl) in self.experiment.params().iter().enumerate() {
            if self.used[decl_index].is_some() {
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
        Ok(axes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::Probe;
    use super::*;
    use crate::experiment::Value;

    #[test]
    fn each_parameter_can_be_taken_once() {
        let mut claims = Claims::new(&Probe);
        let (i, decl) = claims.take("k", "params.k").unwrap();
        assert_eq!((i, decl.name), (1, "k"));
        let e = claims.take("k", "zip[0].k").unwrap_err();
        assert_eq!(e.path, "zip[0].k");
        assert_eq!(e.message, "also set in params.k; give each parameter once");
    }

    #[test]
    fn unknown_parameters_list_the_declared_ones() {
        let e = Claims::new(&Probe)
            .take("zz", "sample.params.zz")
            .unwrap_err();
        assert_eq!(e.path, "sample.params.zz");
        assert_eq!(
            e.message,
            "unknown parameter for probe; declared: a, k, mode, on"
        );
    }

    #[test]
    fn parameters_not_taken_get_their_defaults_in_declaration_order() {
        let mut claims = Claims::new(&Probe);
        claims.take("a", "params.a").unwrap();
        claims.take("mode", "params.mode").unwrap();
        let axes = claims.defaults().unwrap();
        let got: Vec<(usize, Value)> = axes
            .iter()
            .map(|axis| match axis {
                Axis::Param(p) => (p.decl_index, p.values.get(0)),
                other => panic!("not a constant: {other:?}"),
            })
            .collect();
        assert_eq!(got, [(1, Value::Int(3)), (3, Value::Bool(false))]);
    }

    #[test]
    fn a_required_parameter_left_out_is_named() {
        let e = Claims::new(&Probe).defaults().unwrap_err();
        assert_eq!(e.path, "params.a");
        assert_eq!(
            e.message,
            "required parameter missing (a number in [0, 10])"
        );
    }
}
