//! `bench_sleep`: the same computation as the built-in `diag_sleep` (busy-wait `micros`, then
//! the first uniform draw of the row's stream), exported through the kernel ABI.

use sweep_kernel_sdk::prelude::*;

fn params() -> Vec<Param> {
    vec![Param::int("micros").default(0).range(0.0, 60e6).unit("us")
        .describe("How long each point busy-waits (0 = return at once).")]
}

fn metrics() -> Vec<Metric> {
    vec![
        Metric::float("draw").describe("First uniform [0, 1) draw of the point's random stream."),
        Metric::int("waited_us").unit("us").describe("The wait that was asked for."),
    ]
}

fn run(p: &Params, seed: u64) -> Result<Vec<Value>, KernelError> {
    let micros = p.i64_at(0);
    if micros > 0 {
        let until = std::time::Instant::now() + std::time::Duration::from_micros(micros as u64);
        while std::time::Instant::now() < until {
            std::hint::spin_loop();
        }
    }
    Ok(vec![Value::Float(Rng::new(seed).uniform()), Value::Int(micros)])
}

sweep_kernel_sdk::export_kernel!(
    name: "bench_sleep", description: "diag_sleep through the kernel ABI.",
    params: params, metrics: metrics, run: run
);
