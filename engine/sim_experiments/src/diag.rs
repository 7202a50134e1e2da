//! `diag_sleep`: a diagnostic kernel for measuring framework overhead and exercising failure
//! paths. It waits `micros` microseconds, then returns the first uniform draw of its stream —
//! or fails, or panics, when asked to.

use crate::{bool_param, i64_param};
use sweep_core::{
    Bounds, Experiment, KernelError, MetricDecl, ParamDecl, Value, ValueType, rng::Rng,
};

/// The `diag_sleep` experiment.
#[derive(Debug, Clone, Copy)]
pub struct DiagSleep;

const PARAMS: &[ParamDecl] = &[
    ParamDecl {
        name: "micros",
        ty: ValueType::Int,
        default: Some(Value::Int(0)),
        bounds: Bounds::closed(0.0, 60e6),
        choices: &[],
        unit: "us",
        description: "How long each point busy-waits (0 = return at once).",
    },
    ParamDecl {
        name: "fail",
        ty: ValueType::Bool,
        default: Some(Value::Bool(false)),
        bounds: Bounds::ANY,
        choices: &[],
        unit: "",
        description: "Return a kernel error instead of a result.",
    },
    ParamDecl {
        name: "panic",
        ty: ValueType::Bool,
        default: Some(Value::Bool(false)),
        bounds: Bounds::ANY,
        choices: &[],
        unit: "",
        description: "Panic inside the kernel (recorded as a failure of kind 'panic').",
    },
];

const METRICS: &[MetricDecl] = &[
    MetricDecl {
        name: "draw",
        ty: ValueType::Float,
        unit: "",
        description: "First uniform [0, 1) draw of the point's random stream.",
    },
    MetricDecl {
        name: "waited_us",
        ty: ValueType::Int,
        unit: "us",
        description: "The wait that was asked for.",
    },
];

impl Experiment for DiagSleep {
    fn name(&self) -> &'static str {
        "diag_sleep"
    }

    fn description(&self) -> &'static str {
        "Diagnostic kernel: waits `micros` microseconds and returns a seeded uniform draw; \
         can be told to fail or panic."
    }

    fn params(&self) -> &[ParamDecl] {
        PARAMS
    }

    fn metrics(&self) -> &[MetricDecl] {
        METRICS
    }

    fn run(&self, p: &[Value], seed: u64) -> Result<Vec<Value>, KernelError> {
        let micros = i64_param(p, 0);
        if micros > 0 {
            // Busy-wait rather than sleep so the point occupies a core, like a real kernel.
            let until = std::time::Instant::now() + std::time::Duration::from_micros(micros as u64);
            while std::time::Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        if bool_param(p, 2) {
            panic!("diag_sleep asked to panic");
        }
        if bool_param(p, 1) {
            return Err(KernelError::new("requested", "diag_sleep asked to fail"));
        }
        Ok(vec![
            Value::Float(Rng::new(seed).uniform()),
            Value::Int(micros),
        ])
    }
}
