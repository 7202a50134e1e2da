//! A small experiment for the engine's own tests: `y = x * scale + noise(seed)`, failing when
//! `x` is negative and panicking when `x` is 13.

use std::sync::Arc;
use sweep_core::{
    Bounds, Experiment, KernelError, MetricDecl, ParamDecl, Registry, Value, ValueType, rng::Rng,
};

pub struct Toy;

const PARAMS: &[ParamDecl] = &[
    ParamDecl {
        name: "x",
        ty: ValueType::Float,
        default: None,
        bounds: Bounds::closed(-100.0, 100.0),
        choices: &[],
        unit: "",
        description: "input",
    },
    ParamDecl {
        name: "n",
        ty: ValueType::Int,
        default: Some(Value::Int(1)),
        bounds: Bounds::closed(1.0, 1e12),
        choices: &[],
        unit: "",
        description: "an integer",
    },
    ParamDecl {
        name: "scale",
        ty: ValueType::Float,
        default: Some(Value::Float(1.0)),
        bounds: Bounds::open_closed(0.0, 1e6),
        choices: &[],
        unit: "",
        description: "multiplier",
    },
    ParamDecl {
        name: "mode",
        ty: ValueType::Str,
        default: Some(Value::Str(std::borrow::Cow::Borrowed(""))),
        bounds: Bounds::ANY,
        choices: &["", "fast", "slow"],
        unit: "",
        description: "a choice",
    },
    ParamDecl {
        name: "flag",
        ty: ValueType::Bool,
        default: Some(Value::Bool(false)),
        bounds: Bounds::ANY,
        choices: &[],
        unit: "",
        description: "a switch",
    },
];

const METRICS: &[MetricDecl] = &[
    MetricDecl {
        name: "y",
        ty: ValueType::Float,
        unit: "",
        description: "output",
    },
    MetricDecl {
        name: "k",
        ty: ValueType::Int,
        unit: "",
        description: "n doubled",
    },
];

impl Experiment for Toy {
    fn name(&self) -> &'static str {
        "toy"
    }
    fn description(&self) -> &'static str {
        "test experiment"
    }
    fn params(&self) -> &[ParamDecl] {
        PARAMS
    }
    fn metrics(&self) -> &[MetricDecl] {
        METRICS
    }
    fn run(&self, p: &[Value], seed: u64) -> Result<Vec<Value>, KernelError> {
        let x = p[0].as_f64().unwrap();
        if x == 13.0 {
            panic!("unlucky");
        }
        if x < 0.0 {
            return Err(KernelError::new("negative", format!("x = {x}")));
        }
        let noise = Rng::new(seed).uniform();
        Ok(vec![
            Value::Float(x * p[2].as_f64().unwrap() + noise),
            Value::Int(2 * p[1].as_i64().unwrap()),
        ])
    }
}

pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(Toy));
    r
}
