//! Checks the Ornstein–Uhlenbeck kernel against its closed form, through the same C entry
//! point sweep_magic calls (`sweep_kernel_call`, written by `export_kernel!`). With the exact
//! transition, X(t) is Gaussian with
//!
//!   mean      mu + (x0 - mu) e^{-theta t}
//!   variance  sigma^2 (1 - e^{-2 theta t}) / (2 theta)
//!
//! whatever the number of steps, so the sample mean and variance over N independent seeds
//! must match them up to sampling error. The tolerance is 4 standard errors: sd/sqrt(N) for
//! the mean, and var * sqrt(2 / (N - 1)) for the variance (the standard error of a Gaussian
//! sample variance). A correct kernel fails one of these checks with probability about 1e-4,
//! and the seeds are fixed, so the verdict never changes between runs; a wrong transition
//! (an Euler step, a missing square root) is off by many standard errors.
//!
//! When you replace the model in src/lib.rs, replace these checks with ones for it.

use sweep_kernel_sdk::Value;

/// One row, `[x_t, path_mean]`, computed through the same C boundary sweep_magic calls.
fn row(theta: f64, mu: f64, sigma: f64, x0: f64, t: f64, steps: i64, seed: u64) -> [f64; 2] {
    let params = [theta, mu, sigma, x0, t].map(Value::Float);
    let params = [&params[..], &[Value::Int(steps)]].concat();
    match {{name}}::sweep_kernel_call(&params, seed).expect("the kernel failed a row")[..] {
        [Value::Float(x_t), Value::Float(path_mean)] => [x_t, path_mean],
        ref other => panic!("unexpected metrics {other:?}"),
    }
}

#[test]
fn x_t_has_the_closed_form_mean_and_variance() {
    let (theta, mu, sigma, x0, t, steps) = (0.7, 1.5, 0.8, -2.0, 2.0, 50);
    let n = 20_000;
    let xs: Vec<f64> = (0..n).map(|seed| row(theta, mu, sigma, x0, t, steps, seed)[0]).collect();
    let nf = n as f64;
    let mean = xs.iter().sum::<f64>() / nf;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (nf - 1.0);

    let want_mean = mu + (x0 - mu) * (-theta * t).exp();
    let want_var = sigma * sigma * (1.0 - (-2.0 * theta * t).exp()) / (2.0 * theta);
    let se_mean = (want_var / nf).sqrt();
    let se_var = want_var * (2.0 / (nf - 1.0)).sqrt();
    assert!(
        (mean - want_mean).abs() < 4.0 * se_mean,
        "mean {mean}, closed form {want_mean} (4 standard errors = {})",
        4.0 * se_mean
    );
    assert!(
        (var - want_var).abs() < 4.0 * se_var,
        "variance {var}, closed form {want_var} (4 standard errors = {})",
        4.0 * se_var
    );
}

#[test]
fn rows_depend_only_on_parameters_and_seed() {
    let a = row(1.0, 0.0, 1.0, 0.5, 1.0, 10, 42);
    assert_eq!(a, row(1.0, 0.0, 1.0, 0.5, 1.0, 10, 42));
    assert_ne!(a, row(1.0, 0.0, 1.0, 0.5, 1.0, 10, 43));
}

#[test]
fn without_noise_the_path_is_the_deterministic_decay() {
    let [x_t, _] = row(2.0, 1.0, 0.0, 3.0, 1.5, 30, 7);
    let want = 1.0 + 2.0 * (-2.0 * 1.5f64).exp();
    assert!((x_t - want).abs() < 1e-12, "{x_t} vs {want}");
}
