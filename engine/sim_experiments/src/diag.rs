//! Diagnostic kernels. They simulate nothing: `diag_sleep` measures framework overhead (a
//! point that costs exactly what you ask), `diag_fail` exercises the failure paths (errors,
//! panics, non-finite metrics) at a chosen rate.

use crate::{f64_param, i64_param};
use std::borrow::Cow;
use sweep_core::{
    Bounds, Experiment, KernelError, MetricDecl, ParamDecl, Value, ValueType, rng::Rng,
};

/// `diag_sleep`: busy-waits `micros` microseconds, then returns a seeded uniform draw.
#[derive(Debug, Clone, Copy)]
pub struct DiagSleep;

const SLEEP_PARAMS: &[ParamDecl] = &[ParamDecl {
    name: "micros",
    ty: ValueType::Int,
    default: Some(Value::Int(0)),
    bounds: Bounds::closed(0.0, 60e6),
    choices: &[],
    unit: "us",
    description: "How long each point busy-waits (0 = return at once).",
}];

const SLEEP_METRICS: &[MetricDecl] = &[
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
        "Diagnostic: busy-waits `micros` microseconds and returns a seeded uniform draw. \
         For measuring framework overhead and parallel efficiency."
    }

    fn params(&self) -> &[ParamDecl] {
        SLEEP_PARAMS
    }

    fn metrics(&self) -> &[MetricDecl] {
        SLEEP_METRICS
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
        Ok(vec![
            Value::Float(Rng::new(seed).uniform()),
            Value::Int(micros),
        ])
    }
}

/// `diag_fail`: fails a seeded fraction `fail_rate` of its rows, in the way `mode` says.
#[derive(Debug, Clone, Copy)]
pub struct DiagFail;

const FAIL_PARAMS: &[ParamDecl] = &[
    ParamDecl {
        name: "fail_rate",
        ty: ValueType::Float,
        default: Some(Value::Float(0.5)),
        bounds: Bounds::closed(0.0, 1.0),
        choices: &[],
        unit: "",
        description: "Probability that a row fails (decided by the row's seed).",
    },
    ParamDecl {
        name: "mode",
        ty: ValueType::Str,
        default: Some(Value::Str(Cow::Borrowed("error"))),
        bounds: Bounds::ANY,
        choices: &["error", "panic", "nan"],
        unit: "",
        description: "How a failing row fails: a kernel error, a panic, or a NaN metric.",
    },
];

const FAIL_METRICS: &[MetricDecl] = &[MetricDecl {
    name: "draw",
    ty: ValueType::Float,
    unit: "",
    description: "The uniform draw that decided the row (>= fail_rate for rows that succeed).",
}];

impl Experiment for DiagFail {
    fn name(&self) -> &'static str {
        "diag_fail"
    }

    fn description(&self) -> &'static str {
        "Diagnostic: fails a seeded fraction `fail_rate` of rows by error, panic or NaN metric. \
         For testing that every row lands exactly once in results or failures."
    }

    fn params(&self) -> &[ParamDecl] {
        FAIL_PARAMS
    }

    fn metrics(&self) -> &[MetricDecl] {
        FAIL_METRICS
    }

    fn run(&self, p: &[Value], seed: u64) -> Result<Vec<Value>, KernelError> {
        let draw = Rng::new(seed).uniform();
        if draw < f64_param(p, 0) {
            match p[1].as_str().unwrap_or("error") {
                "panic" => panic!("diag_fail asked to panic (draw {draw})"),
                "nan" => return Ok(vec![Value::Float(f64::NAN)]),
                _ => {
                    return Err(KernelError::new(
                        "requested",
                        format!("diag_fail draw {draw}"),
                    ));
                }
            }
        }
        Ok(vec![Value::Float(draw)])
    }
}
