//! Closed-form references the kernels are validated against.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

/// The error function, to about 1e-15 absolute: its Maclaurin series for |x| < 3 and a
/// continued fraction for erfc beyond.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let ax = x.abs();
    let value = if ax < 3.0 {
        // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
        let mut term = ax;
        let mut sum = ax;
        let x2 = ax * ax;
        let mut n = 0.0;
        loop {
            n += 1.0;
            term *= -x2 / n;
            let add = term / (2.0 * n + 1.0);
            sum += add;
            if add.abs() <= 1e-17 * sum.abs() || n > 200.0 {
                break;
            }
        }
        2.0 / PI.sqrt() * sum
    } else {
        1.0 - erfc_cf(ax)
    };
    value.copysign(x)
}

// erfc(x) = exp(-x^2)/sqrt(pi) * 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...)))), evaluated backwards.
fn erfc_cf(x: f64) -> f64 {
    let mut f = x;
    for k in (1..60).rev() {
        f = x + (k as f64 / 2.0) / f;
    }
    (-x * x).exp() / (PI.sqrt() * f)
}

/// Standard normal cumulative distribution function.
pub fn norm_cdf(x: f64) -> f64 {
    if x < -3.0 * std::f64::consts::SQRT_2 {
        0.5 * erfc_cf(-x * FRAC_1_SQRT_2)
    } else {
        0.5 * (1.0 + erf(x * FRAC_1_SQRT_2))
    }
}

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
    fn erf_matches_tabulated_values() {
        // Abramowitz & Stegun table 7.1 / high-precision values.
        let cases = [
            (0.0, 0.0),
            (0.5, 0.520_499_877_813_046_5),
            (1.0, 0.842_700_792_949_714_9),
            (2.0, 0.995_322_265_018_952_7),
            (3.5, 0.999_999_256_901_627_7),
        ];
        for (x, want) in cases {
            assert!((erf(x) - want).abs() < 1e-14, "erf({x}) = {}", erf(x));
            assert!((erf(-x) + want).abs() < 1e-14);
        }
        assert!((norm_cdf(1.959_963_984_540_054) - 0.975).abs() < 1e-14);
        assert!((norm_cdf(-6.0) - 9.865_876_450_376_98e-10).abs() < 1e-22);
    }

    #[test]
    fn black_scholes_textbook_value() {
        // Hull, Options, Futures and Other Derivatives, example 15.6: S=42, K=40, r=10%,
        // sigma=20%, T=0.5 gives c = 4.76.
        let c = black_scholes_call(42.0, 40.0, 0.1, 0.2, 0.5);
        assert!((c - 4.759_422).abs() < 1e-5, "{c}");
    }
}
