//! Special functions the engine needs: the error function and the normal distribution's
//! CDF and quantile (for `normal` sampled parameters). Also used by kernel references.

use std::f64::consts::{FRAC_1_SQRT_2, PI, SQRT_2};

/// The error function, to about 1e-15 absolute: its Maclaurin series for |x| < 3 and a
/// continued fraction for erfc beyond.
pub fn erf(x: f64) -> f64 {
    if x.is_nan() {
        return f64::NAN;
    }
    let ax = x.abs();
    let value = if ax < 3.0 {
        // erf(x) = 2/sqrt(pi) * sum_n (-1)^n x^(2n+1) / (n! (2n+1))
        let (mut term, mut sum, x2) = (ax, ax, ax * ax);
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
        1.0 - erfc_tail(ax)
    };
    value.copysign(x)
}

/// The complementary error function `1 - erf(x)`, accurate in the far tail too.
pub fn erfc(x: f64) -> f64 {
    if x >= 3.0 { erfc_tail(x) } else { 1.0 - erf(x) }
}

// erfc(x) = exp(-x^2)/sqrt(pi) / (x + (1/2)/(x + 1/(x + (3/2)/(x + ...)))), for x >= 3.
fn erfc_tail(x: f64) -> f64 {
    let mut f = x;
    for k in (1..60).rev() {
        f = x + (k as f64 / 2.0) / f;
    }
    (-x * x).exp() / (PI.sqrt() * f)
}

/// Standard normal cumulative distribution function.
pub fn norm_cdf(x: f64) -> f64 {
    if x < 0.0 {
        0.5 * erfc(-x * FRAC_1_SQRT_2)
    } else {
        1.0 - 0.5 * erfc(x * FRAC_1_SQRT_2)
    }
}

/// Standard normal density.
pub fn norm_pdf(x: f64) -> f64 {
    (-0.5 * x * x).exp() / (2.0 * PI).sqrt()
}

/// Standard normal quantile (inverse CDF) for `p` in (0, 1): Acklam's rational approximation
/// refined by Newton steps on [`norm_cdf`], to about 1e-14.
pub fn norm_ppf(p: f64) -> f64 {
    if p <= 0.0 {
        return f64::NEG_INFINITY;
    }
    if p >= 1.0 {
        return f64::INFINITY;
    }
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    let mut x = if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    };
    for _ in 0..2 {
        // Newton on cdf(x) - p, computed from the tail that keeps its precision.
        let err = if x < 0.0 {
            norm_cdf(x) - p
        } else {
            (1.0 - p) - 0.5 * erfc(x / SQRT_2)
        };
        x -= err / norm_pdf(x);
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erf_matches_tabulated_values() {
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
    fn ppf_inverts_cdf() {
        assert!((norm_ppf(0.975) - 1.959_963_984_540_054).abs() < 1e-13);
        assert_eq!(norm_ppf(0.5), 0.0);
        for &p in &[1e-300, 1e-12, 1e-5, 0.01, 0.3, 0.7, 0.99, 1.0 - 1e-12] {
            let x = norm_ppf(p);
            let back = if x < 0.0 {
                norm_cdf(x)
            } else {
                1.0 - norm_cdf(-x)
            };
            assert!(
                ((back - p) / p.min(1.0 - p)).abs() < 1e-9 || (back - p).abs() < 1e-15,
                "{p}: {x} -> {back}"
            );
        }
    }

    // The ziggurat lives in the kernel SDK (which has no maths library); its distribution is
    // checked here against this module's normal CDF.
    #[test]
    fn ziggurat_normal_matches_the_normal_distribution() {
        let mut rng = crate::rng::Rng::new(11);
        let n = 1_000_000;
        let mut draws: Vec<f64> = (0..n).map(|_| rng.normal_ziggurat()).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|z| (z - mean) * (z - mean)).sum::<f64>() / n as f64;
        let kurt = draws.iter().map(|z| (z - mean).powi(4)).sum::<f64>() / n as f64 / (var * var);
        // SEs at n = 1e6: mean 0.001, variance 0.0014, kurtosis 0.0049 (all < 5 SE here).
        assert!(mean.abs() < 0.005, "{mean}");
        assert!((var - 1.0).abs() < 0.007, "{var}");
        assert!((kurt - 3.0).abs() < 0.025, "{kurt}");
        // Kolmogorov-Smirnov distance to the normal CDF: the 1% critical value is 1.63/sqrt(n).
        draws.sort_by(f64::total_cmp);
        let d = draws
            .iter()
            .enumerate()
            .map(|(k, &z)| {
                let c = norm_cdf(z);
                (c - k as f64 / n as f64)
                    .abs()
                    .max(((k + 1) as f64 / n as f64 - c).abs())
            })
            .fold(0.0, f64::max);
        assert!(d < 1.63 / (n as f64).sqrt(), "KS distance {d}");
        // The tail beyond R = 3.44 is reached (P = 5.8e-4 per side) and looks right.
        let tail = draws.iter().filter(|z| z.abs() > 3.442619855899).count() as f64 / n as f64;
        assert!(
            (tail - 2.0 * (1.0 - norm_cdf(3.442619855899))).abs() < 1.5e-4,
            "{tail}"
        );
    }
}
