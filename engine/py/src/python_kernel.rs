//! Kernels written in Python (`@sm.experiment`): declarations parsed from JSON, the function
//! called with the GIL attached for each row. They get the engine's validation, seeding,
//! sharding, layout and failure capture; they do not get parallel speed-up from threads (the
//! GIL serialises them), which the ray backend provides with processes instead.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyMapping, PySequence};
use std::borrow::Cow;
use sweep_core::{
    Bound as Limit, Bounds, Experiment, KernelError, MetricDecl, ParamDecl, Value, ValueType,
};

/// A registered Python kernel.
pub struct PyExperiment {
    name: &'static str,
    description: &'static str,
    params: Vec<ParamDecl>,
    metrics: Vec<MetricDecl>,
    func: Py<PyAny>,
}

// Declarations must be `'static` like the built-ins'; a Python kernel's strings are leaked
// once per registration, which is bounded by the user's own definitions.
fn leak(s: &str) -> &'static str {
    Box::leak(s.to_string().into_boxed_str())
}

fn value_type(name: &str) -> Result<ValueType, String> {
    match name {
        "float" => Ok(ValueType::Float),
        "int" => Ok(ValueType::Int),
        "bool" => Ok(ValueType::Bool),
        "str" => Ok(ValueType::Str),
        other => Err(format!(
            "unsupported type {other:?}; use float, int, bool or str"
        )),
    }
}

fn typed(v: &serde_json::Value, ty: ValueType, what: &str) -> Result<Value, String> {
    let bad = || format!("{what}: {v} is not a {ty:?}");
    match ty {
        ValueType::Float => v.as_f64().map(Value::Float).ok_or_else(bad),
        ValueType::Int => v.as_i64().map(Value::Int).ok_or_else(bad),
        ValueType::Bool => v.as_bool().map(Value::Bool).ok_or_else(bad),
        ValueType::Str => v
            .as_str()
            .map(|s| Value::Str(Cow::Owned(s.to_string())))
            .ok_or_else(bad),
    }
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
        let params_raw: Vec<serde_json::Value> =
            serde_json::from_str(params_json).map_err(|e| e.to_string())?;
        let metrics_raw: Vec<serde_json::Value> =
            serde_json::from_str(metrics_json).map_err(|e| e.to_string())?;
        let mut params = Vec::new();
        for p in &params_raw {
            let pname = p["name"].as_str().unwrap_or_default();
            let ty = value_type(p["type"].as_str().unwrap_or_default())
                .map_err(|e| format!("params.{pname}: {e}"))?;
            let bound = |key: &str| p[key].as_f64().map_or(Limit::Unbounded, Limit::Inclusive);
            let default = match &p["default"] {
                serde_json::Value::Null => None,
                d => Some(typed(d, ty, &format!("params.{pname}.default"))?),
            };
            let choices: Vec<&'static str> = p["choices"]
                .as_array()
                .map(|a| a.iter().filter_map(|c| c.as_str()).map(leak).collect())
                .unwrap_or_default();
            params.push(ParamDecl {
                name: leak(pname),
                ty,
                default,
                bounds: Bounds {
                    lo: bound("min"),
                    hi: bound("max"),
                },
                choices: Box::leak(choices.into_boxed_slice()),
                unit: leak(p["unit"].as_str().unwrap_or_default()),
                description: leak(p["description"].as_str().unwrap_or_default()),
            });
        }
        let mut metrics = Vec::new();
        for m in &metrics_raw {
            let mname = m["name"].as_str().unwrap_or_default();
            let ty = value_type(m["type"].as_str().unwrap_or_default())
                .map_err(|e| format!("metrics.{mname}: {e}"))?;
            metrics.push(MetricDecl {
                name: leak(mname),
                ty,
                unit: leak(m["unit"].as_str().unwrap_or_default()),
                description: leak(m["description"].as_str().unwrap_or_default()),
            });
        }
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
