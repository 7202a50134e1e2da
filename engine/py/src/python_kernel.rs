//! Kernels written in Python (`@sm.experiment`): declarations parsed from JSON, the function
//! called with the GIL attached for each row. They get the engine's validation, seeding,
//! sharding, layout and failure capture; they do not get parallel speed-up from threads (the
//! GIL serialises them), which the ray backend provides with processes instead.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping, PySequence};
use std::borrow::Cow;
use sweep_core::{Experiment, KernelError, MetricDecl, ParamDecl, Value, ValueType};

/// A registered Python kernel.
pub struct PyExperiment {
    name: &'static str,
    description: &'static str,
    params: Vec<ParamDecl>,
    metrics: Vec<MetricDecl>,
    func: Py<PyAny>,
}

fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

impl PyExperiment {
    /// Parses the declarations; errors name the offending parameter.
    pub fn new(
        name: &str,
        description: &str,
        params_json: &str,
        metrics_json: &str,
        func: Py<PyAny>,
    ) -> Result<Self, String> {
        let parse =
            |text: &str| serde_json::from_str::<serde_json::Value>(text).map_err(|e| e.to_string());
        let params = sweep_core::declare::params_from_json(&parse(params_json)?)?;
        let metrics = sweep_core::declare::metrics_from_json(&parse(metrics_json)?)?;
        Ok(PyExperiment {
            name: leak(name),
            description: leak(description),
            params,
            metrics,
            func,
        })
    }

    fn call<'py>(
        &self,
        py: Python<'py>,
        params: &[Value],
        seed: u64,
    ) -> PyResult<Bound<'py, PyAny>> {
        let kwargs = PyDict::new(py);
        for (decl, v) in self.params.iter().zip(params) {
            match v {
                Value::Float(x) => kwargs.set_item(decl.name, *x)?,
                Value::Int(i) => kwargs.set_item(decl.name, *i)?,
                Value::Bool(b) => kwargs.set_item(decl.name, *b)?,
                Value::Str(s) => kwargs.set_item(decl.name, s.as_ref())?,
            }
        }
        kwargs.set_item("seed", seed)?;
        self.func.bind(py).call((), Some(&kwargs))
    }

    fn metric(&self, item: &Bound<'_, PyAny>, decl: &MetricDecl) -> Result<Value, KernelError> {
        let wrong = |e: PyErr| {
            KernelError::new(
                "kernel_contract",
                format!("metric {}: expected {:?}: {e}", decl.name, decl.ty),
            )
        };
        Ok(match decl.ty {
            ValueType::Float => Value::Float(item.extract::<f64>().map_err(wrong)?),
            ValueType::Int => Value::Int(item.extract::<i64>().map_err(wrong)?),
            ValueType::Bool => Value::Bool(item.extract::<bool>().map_err(wrong)?),
            ValueType::Str => Value::Str(Cow::Owned(item.extract::<String>().map_err(wrong)?)),
        })
    }
}

fn kernel_error(py: Python<'_>, e: PyErr) -> KernelError {
    let kind = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "python_error".to_string());
    KernelError::new(kind, e.value(py).to_string())
}

impl Experiment for PyExperiment {
    fn name(&self) -> &'static str {
        self.name
    }

    fn description(&self) -> &'static str {
        self.description
    }

    fn params(&self) -> &[ParamDecl] {
        &self.params
    }

    fn metrics(&self) -> &[MetricDecl] {
        &self.metrics
    }

    fn origin(&self) -> &str {
        "python"
    }

    fn run(&self, params: &[Value], seed: u64) -> Result<Vec<Value>, KernelError> {
        Python::attach(|py| {
            let out = self
                .call(py, params, seed)
                .map_err(|e| kernel_error(py, e))?;
            if let Ok(mapping) = out.cast::<PyMapping>() {
                self.metrics
                    .iter()
                    .map(|m| {
                        let item = mapping.get_item(m.name).map_err(|_| {
                            KernelError::new(
                                "kernel_contract",
                                format!("the kernel's result has no metric {:?}", m.name),
                            )
                        })?;
                        self.metric(&item, m)
                    })
                    .collect()
            } else if let Ok(seq) = out.cast::<PySequence>() {
                let n = seq.len().unwrap_or(0);
                if n != self.metrics.len() {
                    return Err(KernelError::new(
                        "kernel_contract",
                        format!(
                            "the kernel returned {n} values, declared {} metrics",
                            self.metrics.len()
                        ),
                    ));
                }
                self.metrics
                    .iter()
                    .enumerate()
                    .map(|(i, m)| {
                        let item = seq.get_item(i).map_err(|e| kernel_error(py, e))?;
                        self.metric(&item, m)
                    })
                    .collect()
            } else {
                Err(KernelError::new(
                    "kernel_contract",
                    "a Python kernel must return a mapping of metric names to values, or a sequence in declared order",
                ))
            }
        })
    }
}
