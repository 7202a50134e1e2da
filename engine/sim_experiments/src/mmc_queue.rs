//! `mmc_queue`: an M/M/c queue — Poisson arrivals, exponential service times, `c` identical
//! servers sharing one first-come-first-served queue — simulated customer by customer.
//!
//! Under FCFS a customer's start of service is known the moment it arrives: it is the later of
//! its arrival time and the earliest time any server frees up (the workload recursion of Kiefer
//! & Wolfowitz, "On the theory of queues with many servers", Trans. AMS 78, 1955). The
//! simulation therefore keeps only a min-heap of server free times and does O(log c) work per
//! customer, with no event calendar.
//!
//! The system starts empty. The first `warmup` customers are discarded; the measured period
//! runs from the arrival of the first measured customer to the arrival that would follow the
//! last one, so it spans exactly `customers` inter-arrival gaps. Waits are those of the measured
//! customers; utilization and queue length are exact time averages over the measured period
//! (service and waiting that straddle its ends are clipped to it). Validated against the
//! closed-form steady state of [`mod@reference`] (Erlang C).

use crate::{f64_param, i64_param};
use std::cmp::Ordering;
use std::collections::{BinaryHeap, VecDeque};
use sweep_core::{
    Bounds, Experiment, KernelError, MetricDecl, ParamDecl, Value, ValueType, rng::Rng,
};

/// The `mmc_queue` experiment.
#[derive(Debug, Clone, Copy)]
pub struct MmcQueue;

const PARAMS: &[ParamDecl] = &[
    ParamDecl {
        name: "arrival_rate",
        ty: ValueType::Float,
        default: None,
        bounds: Bounds::open_closed(0.0, 1e6),
        choices: &[],
        unit: "1/time",
        description: "Mean number of customers arriving per unit time (a Poisson process).",
    },
    ParamDecl {
        name: "service_rate",
        ty: ValueType::Float,
        default: None,
        bounds: Bounds::open_closed(0.0, 1e6),
        choices: &[],
        unit: "1/time",
        description: "Mean number of customers one busy server completes per unit time \
                      (exponential service times).",
    },
    ParamDecl {
        name: "servers",
        ty: ValueType::Int,
        default: Some(Value::Int(1)),
        bounds: Bounds::closed(1.0, 1000.0),
        choices: &[],
        unit: "",
        description: "Number of identical servers fed by one first-come-first-served queue.",
    },
    ParamDecl {
        name: "customers",
        ty: ValueType::Int,
        default: Some(Value::Int(100_000)),
        bounds: Bounds::closed(1.0, 1e8),
        choices: &[],
        unit: "",
        description: "Number of customers, after the warmup, whose waits are measured.",
    },
    ParamDecl {
        name: "warmup",
        ty: ValueType::Int,
        default: Some(Value::Int(10_000)),
        bounds: Bounds::closed(0.0, 1e8),
        choices: &[],
        unit: "",
        description: "Customers simulated first from an empty system and discarded, so that \
                      measurement starts near steady state.",
    },
];

const METRICS: &[MetricDecl] = &[
    MetricDecl {
        name: "mean_wait",
        ty: ValueType::Float,
        unit: "time",
        description: "Mean time a measured customer spends in the queue before its service \
                      starts.",
    },
    MetricDecl {
        name: "p95_wait",
        ty: ValueType::Float,
        unit: "time",
        description: "95th percentile (nearest rank) of the measured customers' times in queue; \
                      0 when at least 95% of them do not wait.",
    },
    MetricDecl {
        name: "utilization",
        ty: ValueType::Float,
        unit: "",
        description: "Fraction of total server capacity that is busy over the measured period.",
    },
    MetricDecl {
        name: "mean_queue_length",
        ty: ValueType::Float,
        unit: "",
        description: "Time-average number of customers waiting, not counting those in \
                      service, over the measured period.",
    },
];

/// The inputs of one M/M/c simulation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueConfig {
    /// Poisson arrival rate λ (customers per unit time).
    pub arrival_rate: f64,
    /// Service rate μ of one server (customers per unit time).
    pub service_rate: f64,
    /// Number of servers c (at least 1).
    pub servers: usize,
    /// Customers whose waits are measured (at least 1).
    pub customers: u64,
    /// Customers simulated and discarded before measurement starts.
    pub warmup: u64,
}

impl QueueConfig {
    /// Traffic intensity ρ = λ / (c μ): the steady-state fraction of capacity in use; the
    /// queue has a steady state only when it is below 1.
    pub fn traffic_intensity(&self) -> f64 {
        self.arrival_rate / (self.servers as f64 * self.service_rate)
    }
}

/// The measured statistics of one simulation (the experiment's metrics).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueStats {
    /// Mean time in queue of the measured customers.
    pub mean_wait: f64,
    /// 95th percentile (nearest rank) of the measured customers' times in queue.
    pub p95_wait: f64,
    /// Busy fraction of the total capacity of the c servers over the measured period.
    pub utilization: f64,
    /// Time-average number of customers waiting (not in service) over the measured period.
    pub mean_queue_length: f64,
}

/// Simulates the queue described by `config` with the random stream of `seed`.
///
/// # Errors
/// `unstable` when `arrival_rate >= servers * service_rate` (no steady state to measure),
/// `invalid_input` for non-positive or non-finite rates or zero servers or customers, and
/// `overflow` when the simulated times leave the range of `f64` (rates so small that a single
/// inter-arrival or service time is infinite).
pub fn simulate(config: &QueueConfig, seed: u64) -> Result<QueueStats, KernelError> {
    simulate_observed(config, seed, |_| {}).map(|run| run.stats)
}

/// One measured customer, as seen by the observer of [`simulate_observed`].
#[derive(Debug, Clone, Copy)]
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "only the tests observe customers")
)]
struct Customer {
    /// Arrival time, measured from the start of the measured period.
    arrival: f64,
    /// Time in queue.
    wait: f64,
    /// Service time.
    service: f64,
}

/// What [`simulate_observed`] returns besides the metrics.
#[derive(Debug, Clone, Copy)]
#[cfg_attr(
    not(test),
    expect(dead_code, reason = "only the tests read `measured_time`")
)]
struct Run {
    stats: QueueStats,
    /// Length of the measured period.
    measured_time: f64,
}

/// A server's free time, ordered in reverse so that `BinaryHeap` (a max-heap) keeps the
/// earliest on top.
#[derive(Debug, Clone, Copy)]
struct FreeAt(f64);

impl Ord for FreeAt {
    fn cmp(&self, other: &Self) -> Ordering {
        other.0.total_cmp(&self.0)
    }
}

impl PartialOrd for FreeAt {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for FreeAt {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for FreeAt {}

fn validate(config: &QueueConfig) -> Result<(), KernelError> {
    let positive = |x: f64| x > 0.0 && x.is_finite();
    if !positive(config.arrival_rate) || !positive(config.service_rate) {
        return Err(KernelError::new(
            "invalid_input",
            "arrival_rate and service_rate must be positive and finite",
        ));
    }
    if config.servers == 0 || config.customers == 0 {
        return Err(KernelError::new(
            "invalid_input",
            "servers and customers must be at least 1",
        ));
    }
    if config.arrival_rate >= config.servers as f64 * config.service_rate {
        return Err(KernelError::new(
            "unstable",
            format!(
                "traffic intensity rho = arrival_rate / (servers * service_rate) = {} >= 1: \
                 the queue grows without bound and has no steady state",
                config.traffic_intensity()
            ),
        ));
    }
    Ok(())
}

/// [`simulate`], calling `observe` on every measured customer in arrival order (the tests use
/// it to form batch means from the very run whose metrics they check).
fn simulate_observed(
    config: &QueueConfig,
    seed: u64,
    mut observe: impl FnMut(&Customer),
) -> Result<Run, KernelError> {
    validate(config)?;
    let QueueConfig {
        arrival_rate,
        service_rate,
        servers,
        customers,
        warmup,
    } = *config;
    let mut rng = Rng::new(seed);

    // Free times of servers used since the system was last empty; the other `idle` servers are
    // free. Entries already in the past stay in the heap: only the earliest one matters, and a
    // customer who takes it starts at its own arrival.
    let mut busy: BinaryHeap<FreeAt> = BinaryHeap::with_capacity(servers);
    let mut idle = servers;
    // Latest free time of any server: an arrival at or after it finds the system empty.
    let mut last_free = 0.0f64;
    // Service start times of customers who had to wait and may still be waiting. FCFS starts
    // never decrease, so those still waiting at any time form the back of this queue.
    let mut waiting: VecDeque<f64> = VecDeque::new();

    // Times count from the last moment an arrival found the system empty: that is a renewal
    // point, so nothing earlier is needed, and keeping times small keeps waits accurate to
    // full precision even when millions of mean service times have elapsed (light traffic).
    let mut clock = 0.0f64;
    // Length of the measured period up to `clock == 0`.
    let mut measured_offset = 0.0f64;

    // Time averages over [T0, T1], with T0 the first measured arrival and T1 the end: all work
    // and waiting from T0 on (that of warmup customers still in the system at T0 included),
    // minus what lies beyond T1. Each server's work from T0 (or T1) on is one unbroken stretch,
    // because a server only idles before a customer who arrives while it is free, and every
    // such customer arrived before then; so the server's free time bounds it.
    let mut work_before_t0 = 0.0f64;
    let mut waiting_before_t0 = 0.0f64;
    let mut wait_sum = 0.0f64;
    let mut service_sum = 0.0f64;
    // Waits are kept for the exact percentile; most are often exactly zero, so only the
    // positive ones are stored and the zeros counted.
    let mut zero_waits = 0u64;
    let mut positive_waits: Vec<f64> = Vec::new();

    for k in 0..warmup + customers {
        clock += rng.exponential(arrival_rate);
        let service = rng.exponential(service_rate);
        while waiting.front().is_some_and(|&start| start <= clock) {
            waiting.pop_front();
        }
        if clock >= last_free {
            measured_offset += clock;
            clock = 0.0;
            last_free = 0.0;
            busy.clear();
            idle = servers;
        }
        if k == warmup {
            measured_offset = -clock;
            work_before_t0 = busy.iter().map(|f| (f.0 - clock).max(0.0)).sum();
            waiting_before_t0 = waiting.iter().map(|&start| start - clock).sum();
        }

        let start = if idle > 0 {
            idle -= 1;
            busy.push(FreeAt(clock + service));
            clock
        } else {
            let mut earliest = busy
                .peek_mut()
                .expect("no idle server, so the heap is full");
            let start = earliest.0.max(clock);
            *earliest = FreeAt(start + service);
            start
        };
        last_free = last_free.max(start + service);
        let wait = start - clock;
        if wait > 0.0 {
            waiting.push_back(start);
        }

        if k >= warmup {
            wait_sum += wait;
            service_sum += service;
            if wait > 0.0 {
                positive_waits.push(wait);
            } else {
                zero_waits += 1;
            }
            observe(&Customer {
                arrival: measured_offset + clock,
                wait,
                service,
            });
        }
    }

    let end = clock + rng.exponential(arrival_rate);
    let measured_time = measured_offset + end;
    let work_after_t1: f64 = busy.iter().map(|f| (f.0 - end).max(0.0)).sum();
    let waiting_after_t1: f64 = waiting.iter().map(|&start| (start - end).max(0.0)).sum();
    let busy_time = work_before_t0 + service_sum - work_after_t1;
    let waiting_time = waiting_before_t0 + wait_sum - waiting_after_t1;

    let stats = QueueStats {
        mean_wait: wait_sum / customers as f64,
        p95_wait: nearest_rank(&mut positive_waits, zero_waits, 95),
        // The clamps only absorb rounding in the clipping sums; mathematically both hold.
        utilization: (busy_time / (servers as f64 * measured_time)).clamp(0.0, 1.0),
        mean_queue_length: (waiting_time / measured_time).max(0.0),
    };
    let finite = [
        stats.mean_wait,
        stats.p95_wait,
        stats.utilization,
        stats.mean_queue_length,
        measured_time,
    ]
    .iter()
    .all(|x| x.is_finite());
    if !finite {
        return Err(KernelError::new(
            "overflow",
            "simulated times overflowed f64; the arrival or service rate is too small",
        ));
    }
    Ok(Run {
        stats,
        measured_time,
    })
}

/// The `percent` percentile by nearest rank (the ⌈n·percent/100⌉-th smallest, in integers so
/// that no rounding moves the rank) of a sample made of `zeros` zeros and the values of
/// `positive`, which it reorders.
fn nearest_rank(positive: &mut [f64], zeros: u64, percent: u64) -> f64 {
    let n = zeros + positive.len() as u64;
    let rank = (percent * n).div_ceil(100).clamp(1, n);
    if rank <= zeros {
        return 0.0;
    }
    let index = (rank - zeros - 1) as usize;
    *positive.select_nth_unstable_by(index, f64::total_cmp).1
}

pub mod reference {
    //! Closed-form steady state of the M/M/c queue, from Erlang's delay formula.
    //!
    //! With offered load a = λ/μ and traffic intensity ρ = a/c < 1, the probability that an
    //! arriving customer has to wait is Erlang C, C(c, a); the time in queue W_q is 0 with
    //! probability 1 − C and otherwise exponential with rate cμ − λ, so
    //! P(W_q > t) = C e^{−(cμ−λ)t} and E(W_q) = C / (cμ − λ); Little's law gives
    //! L_q = λ E(W_q). See L. Kleinrock, *Queueing Systems, Vol. 1: Theory* (Wiley, 1975),
    //! §3.5 (the M/M/m queue).

    use super::QueueStats;

    /// Erlang C: the steady-state probability that an arrival must wait, for `servers`
    /// servers and offered load `offered_load` = λ/μ (in Erlangs); 1 when the load reaches
    /// the number of servers, where there is no steady state.
    ///
    /// Computed from Erlang B by its recursion B(0) = 1, B(k) = a B(k−1) / (k + a B(k−1)),
    /// whose terms stay in (0, 1], then C = B / (1 − ρ (1 − B)) with ρ = a/c. The textbook
    /// form with aᶜ/c! overflows long before c = 1000; this one cannot.
    pub fn erlang_c(servers: usize, offered_load: f64) -> f64 {
        let a = offered_load;
        let c = servers as f64;
        if a >= c {
            return 1.0;
        }
        let mut b = 1.0;
        for k in 1..=servers {
            b = a * b / (k as f64 + a * b);
        }
        b / (1.0 - (a / c) * (1.0 - b))
    }

    /// Steady-state mean time in queue, C / (cμ − λ).
    pub fn mean_wait(arrival_rate: f64, service_rate: f64, servers: usize) -> f64 {
        let c = erlang_c(servers, arrival_rate / service_rate);
        c / (servers as f64 * service_rate - arrival_rate)
    }

    /// The `q` quantile of the steady-state time in queue: 0 when C ≤ 1 − q (at least a
    /// fraction q of customers do not wait), else the t with C e^{−(cμ−λ)t} = 1 − q.
    pub fn wait_quantile(arrival_rate: f64, service_rate: f64, servers: usize, q: f64) -> f64 {
        let c = erlang_c(servers, arrival_rate / service_rate);
        if c <= 1.0 - q {
            0.0
        } else {
            (c / (1.0 - q)).ln() / (servers as f64 * service_rate - arrival_rate)
        }
    }

    /// Steady-state utilization ρ = λ / (cμ).
    pub fn utilization(arrival_rate: f64, service_rate: f64, servers: usize) -> f64 {
        arrival_rate / (servers as f64 * service_rate)
    }

    /// Steady-state mean number waiting, L_q = λ E(W_q) (Little's law).
    pub fn mean_queue_length(arrival_rate: f64, service_rate: f64, servers: usize) -> f64 {
        arrival_rate * mean_wait(arrival_rate, service_rate, servers)
    }

    /// All four metrics of the experiment in steady state (requires λ < cμ).
    pub fn steady_state(arrival_rate: f64, service_rate: f64, servers: usize) -> QueueStats {
        QueueStats {
            mean_wait: mean_wait(arrival_rate, service_rate, servers),
            p95_wait: wait_quantile(arrival_rate, service_rate, servers, 0.95),
            utilization: utilization(arrival_rate, service_rate, servers),
            mean_queue_length: mean_queue_length(arrival_rate, service_rate, servers),
        }
    }
}

impl Experiment for MmcQueue {
    fn name(&self) -> &'static str {
        "mmc_queue"
    }

    fn description(&self) -> &'static str {
        "M/M/c queue (Poisson arrivals, exponential service, c servers, first come first \
         served) simulated customer by customer after a warmup; validated against the Erlang C \
         steady state for mean and 95th-percentile wait, utilization and mean queue length."
    }

    fn params(&self) -> &[ParamDecl] {
        PARAMS
    }

    fn metrics(&self) -> &[MetricDecl] {
        METRICS
    }

    fn run(&self, p: &[Value], seed: u64) -> Result<Vec<Value>, KernelError> {
        let config = QueueConfig {
            arrival_rate: f64_param(p, 0),
            service_rate: f64_param(p, 1),
            servers: i64_param(p, 2) as usize,
            customers: i64_param(p, 3) as u64,
            warmup: i64_param(p, 4) as u64,
        };
        let s = simulate(&config, seed)?;
        Ok(vec![
            Value::Float(s.mean_wait),
            Value::Float(s.p95_wait),
            Value::Float(s.utilization),
            Value::Float(s.mean_queue_length),
        ])
    }
}

#[cfg(test)]
mod tests;
