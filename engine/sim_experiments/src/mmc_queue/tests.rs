//! Tests of the `mmc_queue` kernel, kept beside it so the kernel file stays short.

use super::reference::{erlang_c, steady_state};
use super::*;

fn config(arrival_rate: f64, service_rate: f64, servers: usize, customers: u64) -> QueueConfig {
    QueueConfig {
        arrival_rate,
        service_rate,
        servers,
        customers,
        warmup: 50_000,
    }
}

/// Runs `config` once and returns its metrics with a standard error for each, by the
/// method of batch means over `batches` consecutive equal batches of customers.
///
/// Successive waits are strongly correlated, so the naive i.i.d. standard error would be
/// far too small; means of long consecutive batches are nearly independent, and their
/// spread divided by √batches estimates the standard error of the whole-run metric. Each
/// batch's utilization and queue length divide its customers' service and waiting time by
/// the batch's span of arrivals: not exactly the clipped whole-run estimator, but the
/// difference is a boundary term of relative size 1/batch length, which does not matter
/// for a standard error.
fn with_batch_errors(config: &QueueConfig, seed: u64, batches: usize) -> (QueueStats, QueueStats) {
    let n = config.customers as usize;
    let len = n / batches;
    assert_eq!(len * batches, n, "customers must split into equal batches");
    let mut customers = Vec::with_capacity(n);
    let run = simulate_observed(config, seed, |c| customers.push(*c)).unwrap();
    assert_eq!(customers.len(), n);

    let mut per_batch: [Vec<f64>; 4] = Default::default();
    let mut sorted = Vec::with_capacity(len);
    for (b, batch) in customers.chunks(len).enumerate() {
        let end = customers
            .get((b + 1) * len)
            .map_or(run.measured_time, |c| c.arrival);
        let span = end - batch[0].arrival;
        let wait: f64 = batch.iter().map(|c| c.wait).sum();
        let service: f64 = batch.iter().map(|c| c.service).sum();
        sorted.clear();
        sorted.extend(batch.iter().map(|c| c.wait));
        sorted.sort_by(f64::total_cmp);
        let rank = (95 * len).div_ceil(100);
        per_batch[0].push(wait / len as f64);
        per_batch[1].push(sorted[rank - 1]);
        per_batch[2].push(service / (config.servers as f64 * span));
        per_batch[3].push(wait / span);
    }
    let se = per_batch.map(|xs| {
        let k = xs.len() as f64;
        let mean = xs.iter().sum::<f64>() / k;
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0);
        (var / k).sqrt()
    });
    let se = QueueStats {
        mean_wait: se[0],
        p95_wait: se[1],
        utilization: se[2],
        mean_queue_length: se[3],
    };
    (run.stats, se)
}

/// Each metric must lie within 4.5 batch-means standard errors of its Erlang C value.
///
/// With 40 batches the standardized error follows Student's t with 39 degrees of freedom,
/// which exceeds 4.5 in absolute value with probability about 6e-5; over the 16
/// comparisons below a correct simulation fails for about one seed in a thousand (and the
/// seeds are fixed). Batches hold at least 25 000 customers, far beyond the relaxation time
/// of the slowest case (c = 20, ρ = 0.9: about 1 / (cμ (1 − √ρ)²) ≈ 19 time units ≈ 340
/// arrivals), so batch means are close to independent, and the 50 000-customer warmup
/// leaves a start-up bias far below one standard error. Checked empirically over 300 seeds
/// at c = 1, ρ = 0.5 and c = 2, ρ = 0.8 (with batches 5 and 2.5 times shorter than here):
/// the z-scores had mean within ±0.1 and standard deviation 1.01–1.09.
///
/// `max_rel_se` asserts that the standard errors are as small as these run lengths give
/// (about 0.5–1.5% of the exact value for waits and queue length, 0.07–0.15% for
/// utilization), so the test keeps the power to see a bias of a few percent (0.5% for
/// utilization); the 5% relative bound guards against a standard error inflated by a bug.
#[test]
fn matches_erlang_c_within_batch_means_errors() {
    const BATCHES: usize = 40;
    let cases = [
        // servers, service_rate, rho, customers
        (1, 1.0, 0.5, 1_000_000),
        (2, 0.5, 0.8, 1_000_000),
        (5, 2.0, 0.7, 2_000_000),
        (20, 1.0, 0.9, 4_000_000),
    ];
    for (i, &(servers, mu, rho, customers)) in cases.iter().enumerate() {
        let lambda = rho * servers as f64 * mu;
        let cfg = config(lambda, mu, servers, customers);
        let (est, se) = with_batch_errors(&cfg, 100 + i as u64, BATCHES);
        let exact = steady_state(lambda, mu, servers);
        let metrics = [
            (
                "mean_wait",
                est.mean_wait,
                se.mean_wait,
                exact.mean_wait,
                0.02,
            ),
            ("p95_wait", est.p95_wait, se.p95_wait, exact.p95_wait, 0.02),
            (
                "utilization",
                est.utilization,
                se.utilization,
                exact.utilization,
                0.002,
            ),
            (
                "mean_queue_length",
                est.mean_queue_length,
                se.mean_queue_length,
                exact.mean_queue_length,
                0.02,
            ),
        ];
        for (name, value, se, exact, max_rel_se) in metrics {
            let z = (value - exact) / se;
            eprintln!(
                "c={servers} rho={rho} {name}: {value:.6} vs {exact:.6} (se {se:.2e}, z {z:+.2})"
            );
            assert!(
                se > 0.0 && se < max_rel_se * exact,
                "c={servers} rho={rho} {name}: se {se} too large for {exact}"
            );
            assert!(
                z.abs() < 4.5,
                "c={servers} rho={rho} {name}: {value} vs exact {exact}, {z:.2} se"
            );
            assert!(
                (value - exact).abs() < 0.05 * exact,
                "c={servers} rho={rho} {name}: {value} vs exact {exact}"
            );
        }
    }
}

#[test]
fn p95_is_the_nearest_rank_of_all_measured_waits() {
    let cfg = config(1.6, 1.0, 2, 20_001);
    let mut waits = Vec::new();
    let stats = simulate_observed(&cfg, 5, |c| waits.push(c.wait))
        .unwrap()
        .stats;
    waits.sort_by(f64::total_cmp);
    let rank = (95 * waits.len()).div_ceil(100);
    assert!(waits[rank - 1] > 0.0);
    assert_eq!(stats.p95_wait.to_bits(), waits[rank - 1].to_bits());
    let mean = waits.iter().sum::<f64>() / waits.len() as f64;
    assert!((stats.mean_wait - mean).abs() <= 1e-12 * mean);
}

#[test]
fn p95_is_zero_when_fewer_than_five_percent_wait() {
    // 50 servers at ρ = 0.72: Erlang C ≈ 0.018, so about 2% of customers wait — few enough
    // that the percentile is 0, yet enough that a wrongly placed rank would show.
    let (servers, mu, lambda) = (50, 1.0, 36.0);
    let c = erlang_c(servers, lambda / mu);
    assert!(c > 0.01 && c < 0.025, "{c}");
    let stats = simulate(&config(lambda, mu, servers, 200_000), 3).unwrap();
    assert_eq!(stats.p95_wait, 0.0);
    assert!(stats.mean_wait > 0.0);
}

#[test]
fn unstable_load_is_rejected_with_rho() {
    for (lambda, servers, mu, rho) in [(2.0, 2, 1.0, "1"), (3.0, 2, 1.0, "1.5")] {
        let err = simulate(&config(lambda, mu, servers, 10), 1).unwrap_err();
        assert_eq!(err.kind, "unstable");
        assert!(
            err.message.contains(&format!(
                "rho = arrival_rate / (servers * service_rate) = {rho} "
            )),
            "{}",
            err.message
        );
    }
    let err = MmcQueue
        .run(
            &[
                Value::Float(5.0),
                Value::Float(1.0),
                Value::Int(4),
                Value::Int(10),
                Value::Int(0),
            ],
            0,
        )
        .unwrap_err();
    assert_eq!(err.kind, "unstable");
}

#[test]
fn same_seed_same_bits_other_seed_other_values() {
    let bits = |s: QueueStats| {
        [s.mean_wait, s.p95_wait, s.utilization, s.mean_queue_length].map(f64::to_bits)
    };
    let cfg = config(2.4, 1.0, 3, 20_000);
    let a = bits(simulate(&cfg, 9).unwrap());
    let b = bits(simulate(&cfg, 9).unwrap());
    let c = bits(simulate(&cfg, 10).unwrap());
    assert_eq!(a, b);
    for (x, y) in a.iter().zip(&c) {
        assert_ne!(x, y);
    }
}

#[test]
fn run_returns_the_declared_metrics() {
    let params = [
        Value::Float(2.0),
        Value::Float(1.5),
        Value::Int(2),
        Value::Int(1_000),
        Value::Int(100),
    ];
    let values = MmcQueue.run(&params, 4).unwrap();
    assert_eq!(values.len(), MmcQueue.metrics().len());
    let s = simulate(
        &QueueConfig {
            warmup: 100,
            ..config(2.0, 1.5, 2, 1_000)
        },
        4,
    )
    .unwrap();
    let expected = [s.mean_wait, s.p95_wait, s.utilization, s.mean_queue_length];
    for (v, e) in values.iter().zip(expected) {
        assert_eq!(v.as_f64().unwrap().to_bits(), e.to_bits());
    }
}

#[test]
fn tiny_runs_and_light_traffic_give_sane_values() {
    // One customer and no warmup: the system is empty, nobody waits.
    let s = simulate(
        &QueueConfig {
            warmup: 0,
            ..config(0.5, 1.0, 1, 1)
        },
        7,
    )
    .unwrap();
    assert_eq!(
        (s.mean_wait, s.p95_wait, s.mean_queue_length),
        (0.0, 0.0, 0.0)
    );
    assert!(s.utilization > 0.0 && s.utilization <= 1.0);
    // Service a million times faster than arrivals, so the clock passes 1e11 mean service
    // times: utilization is still resolved (2% is over 6 standard errors, √(2/n) ≈ 0.3%).
    let (lambda, mu) = (1e-3, 1e3);
    let s = simulate(&config(lambda, mu, 1, 200_000), 8).unwrap();
    let rho = lambda / mu;
    assert!(
        (s.utilization - rho).abs() < 0.02 * rho,
        "{}",
        s.utilization
    );
}

#[test]
fn erlang_c_agrees_with_closed_forms_and_stays_finite() {
    for rho in [0.1, 0.5, 0.9, 0.999] {
        assert!((erlang_c(1, rho) - rho).abs() < 1e-15);
        let two = 2.0 * rho * rho / (1.0 + rho);
        assert!((erlang_c(2, 2.0 * rho) - two).abs() < 1e-14);
    }
    // The textbook form, fine for small c:
    // C = (aᶜ/c!)/(1 − ρ) / (Σ_{k<c} aᵏ/k! + (aᶜ/c!)/(1 − ρ)).
    for c in [3usize, 7, 15, 30] {
        for rho in [0.3, 0.8, 0.95] {
            let a = rho * c as f64;
            let mut term = 1.0;
            let mut sum = 0.0;
            for k in 0..c {
                sum += term;
                term *= a / (k + 1) as f64;
            }
            let tail = term / (1.0 - rho);
            let direct = tail / (sum + tail);
            assert!(
                (erlang_c(c, a) - direct).abs() < 1e-12 * direct,
                "c={c} rho={rho}"
            );
        }
    }
    for a in [1.0, 500.0, 950.0, 999.0] {
        let x = erlang_c(1000, a);
        assert!(x.is_finite() && (0.0..1.0).contains(&x), "a={a}: {x}");
    }
    assert_eq!(erlang_c(4, 4.0), 1.0);
}
