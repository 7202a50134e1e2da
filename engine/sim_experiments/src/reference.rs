//! Closed-form references the kernels are validated against.

pub use sweep_core::math::{erf, norm_cdf};

/// Black–Scholes price of a European call (no dividends).
pub fn black_scholes_call(s0: f64, strike: f64, rate: f64, sigma: f64, maturity: f64) -> f64 {
    let vol = sigma * maturity.sqrt();
    let d1 = ((s0 / strike).ln() + (rate + 0.5 * sigma * sigma) * maturity) / vol;
    let d2 = d1 - vol;
    s0 * norm_cdf(d1) - strike * (-rate * maturity).exp() * norm_cdf(d2)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn black_scholes_textbook_value() {
        // Hull, Options, Futures and Other Derivatives, example 15.6: S=42, K=40, r=10%,
        // sigma=20%, T=0.5 gives c = 4.76.
        let c = black_scholes_call(42.0, 40.0, 0.1, 0.2, 0.5);
        assert!((c - 4.759_422).abs() < 1e-5, "{c}");
    }
}
