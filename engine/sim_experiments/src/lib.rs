//! Simulation kernels for sweep_magic. Each kernel declares its parameters and metrics and is
//! tested against a closed-form or published reference (see each module's tests).

pub mod diag;
pub mod gbm_option;
pub mod ising2d;
pub mod mmc_queue;
pub mod reference;
pub mod sir;

use std::sync::Arc;
use sweep_core::Registry;

/// Every built-in experiment.
pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(Arc::new(gbm_option::GbmOption));
    r.register(Arc::new(diag::DiagSleep));
    r.register(Arc::new(diag::DiagFail));
    r.register(Arc::new(ising2d::Ising2d));
    r.register(Arc::new(mmc_queue::MmcQueue));
    r.register(Arc::new(sir::Sir));
    r
}

/// Reads parameter `i` as `f64` (the spec layer has already type-checked it).
pub(crate) fn f64_param(params: &[sweep_core::Value], i: usize) -> f64 {
    params[i].as_f64().expect("validated numeric parameter")
}

/// Reads parameter `i` as `i64`.
pub(crate) fn i64_param(params: &[sweep_core::Value], i: usize) -> i64 {
    params[i].as_i64().expect("validated integer parameter")
}

/// Reads parameter `i` as `bool`.
pub(crate) fn bool_param(params: &[sweep_core::Value], i: usize) -> bool {
    params[i].as_bool().expect("validated boolean parameter")
}

#[cfg(test)]
mod tests {
    #[test]
    fn registry_builds_and_lists() {
        let r = super::registry();
        assert_eq!(
            r.names(),
            vec![
                "diag_fail",
                "diag_sleep",
                "gbm_option",
                "ising2d",
                "mmc_queue",
                "sir"
            ]
        );
        let json = r.to_json();
        assert_eq!(json[2]["params"][0]["name"], "s0");
    }
}
