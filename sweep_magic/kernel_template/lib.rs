//! {{name}}: an Ornstein–Uhlenbeck process, dX = theta (mu - X) dt + sigma dW from X(0) = x0,
//! stepped with its exact Gaussian transition, so X(t) has the closed-form mean and variance
//! that `tests/closed_form.rs` checks (`cargo test`). Replace it with your own model: keep
//! `run` a pure function of its parameters and `seed`, drawing randomness only from `Rng`.

use sweep_kernel_sdk::prelude::*;

const DESCRIPTION: &str = "Ornstein-Uhlenbeck process sampled exactly on a time grid.";

fn params() -> Vec<Param> {
    vec![
        Param::float("theta").default(1.0).above(0.0).max(100.0).unit("1/s")
            .describe("Mean-reversion rate."),
        Param::float("mu").default(0.0).range(-1e6, 1e6).describe("Long-run mean."),
        Param::float("sigma").default(1.0).min(0.0).max(1e3).describe("Noise scale."),
        Param::float("x0").default(0.0).range(-1e6, 1e6).describe("Starting value."),
        Param::float("t").default(1.0).above(0.0).max(1e3).unit("s").describe("Time horizon."),
        Param::int("steps").default(100).range(1.0, 1e6).describe("Time steps to the horizon."),
    ]
}

fn metrics() -> Vec<Metric> {
    vec![
        Metric::float("x_t").describe("X at the horizon."),
        Metric::float("path_mean").describe("Average of X over the steps."),
    ]
}

fn run(p: &Params, seed: u64) -> Result<Vec<Value>, KernelError> {
    let (theta, mu, sigma) = (p.f64("theta"), p.f64("mu"), p.f64("sigma"));
    let steps = p.i64("steps");
    let dt = p.f64("t") / steps as f64;
    let decay = (-theta * dt).exp();
    let spread = sigma * ((1.0 - decay * decay) / (2.0 * theta)).sqrt();
    let mut rng = Rng::new(seed);
    let mut x = p.f64("x0");
    let mut sum = 0.0;
    for _ in 0..steps {
        x = mu + (x - mu) * decay + spread * rng.normal();
        sum += x;
    }
    Ok(vec![Value::from(x), Value::from(sum / steps as f64)])
}

sweep_kernel_sdk::export_kernel!(
    name: "{{name}}", description: DESCRIPTION, params: params, metrics: metrics, run: run
);
