//! `ising2d`: the ferromagnetic Ising model on an L×L periodic square lattice, sampled by
//! Metropolis single-spin flips or Wolff cluster flips.
//!
//! Energy `E = −Σ_<ij> s_i s_j` over the `2N` nearest-neighbour bonds of the torus (`J = 1`,
//! no field, `k_B = 1`, `N = L²`; for `L = 2` both neighbours in a direction are the same
//! site, so each neighbouring pair is joined by two bonds), magnetisation `M = Σ_i s_i`. After `burn_in` discarded
//! sweeps, `E` and `M` are recorded once per sweep for `sweeps` sweeps, and the metrics are
//! ensemble averages over those records:
//!
//! * `abs_magnetization` = ⟨|M|⟩/N (the modulus, because on a finite lattice without a field
//!   ⟨M⟩ = 0 by symmetry);
//! * `energy_per_site` = ⟨E⟩/N;
//! * `specific_heat` = N(⟨e²⟩ − ⟨e⟩²)/T² with `e = E/N`;
//! * `susceptibility` = N(⟨m²⟩ − ⟨|m|⟩²)/T with `m = M/N` (the usual finite-lattice estimator,
//!   which tends to the physical susceptibility on both sides of `T_c`).
//!
//! Moments are accumulated in exact integer arithmetic, so the variances suffer no
//! cancellation and the result depends on nothing but `(params, seed)`.
//!
//! **Start.** The lattice starts all up. Below `T_c` this is already one of the two
//! equilibrium phases, so burn-in only has to relax short-range fluctuations; a random start
//! would instead coarsen through slowly shrinking domains (and, with Metropolis, can freeze
//! into long-lived stripes on a torus). Above `T_c` an ordered start melts within a few sweeps.
//!
//! **Metropolis** (Metropolis et al. 1953): a sweep is `N` flip attempts at uniformly random
//! sites; a flip costing `ΔE ∈ {4, 8}` is accepted with the precomputed probability
//! `exp(−ΔE/T)`, one with `ΔE ≤ 0` always. Random rather than typewriter order, because with
//! a fixed order every downhill or neutral flip is forced, and the resulting chain is not
//! irreducible on small lattices: on a 2×2 torus only 12 of the 16 states can be reached from
//! the ordered start (504 of 512 on 3×3), which biases every average by far more than its
//! error bar. Random sites give detailed balance and irreducibility for every `L`.
//!
//! **Wolff** (Wolff 1989): a cluster is grown from a uniformly chosen seed site by adding
//! aligned neighbours with probability `1 − exp(−2/T)` and then flipped. A *Wolff sweep* is a
//! fixed number `k` of cluster flips chosen so that a sweep flips `N` spins on average, i.e.
//! the same number of spin updates as a Metropolis sweep, which makes `sweeps` and `burn_in`
//! mean comparable work and comparable measurement spacing for both algorithms. `k` is
//! calibrated during burn-in: burn-in sweeps flip clusters until at least `N` spins have been
//! flipped, and `k = max(1, round(N · clusters / flipped spins))` over the second half of the
//! burn-in. Measurement sweeps then use that fixed `k`, because stopping when a size target is
//! reached makes the measurement time depend on the cluster sizes, which are correlated with
//! the configuration, and could bias the measured states; a fixed power of the Wolff kernel
//! keeps the Boltzmann distribution exactly. With `burn_in = 0` the first measured sweep is
//! the calibration sweep.
//!
//! Validated (see the tests) against exact enumeration of 2×2 to 4×4 tori; against Onsager's
//! exact solution of the infinite lattice (Onsager 1944; spontaneous magnetisation: Yang
//! 1952), which a finite lattice approaches exponentially fast in `L/ξ` away from `T_c`;
//! against the high-temperature susceptibility series; and against the finite-size
//! specific-heat peak near `T_c` (Ferdinand & Fisher 1969).
//!
//! References:
//! * H. A. Kramers & G. H. Wannier, Phys. Rev. 60, 252 (1941) — the critical temperature.
//! * L. Onsager, Phys. Rev. 65, 117 (1944) — free and internal energy.
//! * C. N. Yang, Phys. Rev. 85, 808 (1952) — spontaneous magnetisation.
//! * N. Metropolis et al., J. Chem. Phys. 21, 1087 (1953).
//! * U. Wolff, Phys. Rev. Lett. 62, 361 (1989).
//! * A. E. Ferdinand & M. E. Fisher, Phys. Rev. 185, 832 (1969) — finite-size specific heat.

use crate::{f64_param, i64_param};
use std::borrow::Cow;
use std::f64::consts::PI;
use sweep_core::{
    Bounds, Experiment, KernelError, MetricDecl, ParamDecl, Value, ValueType, rng::Rng,
};

/// The `ising2d` experiment.
#[derive(Debug, Clone, Copy)]
pub struct Ising2d;

const PARAMS: &[ParamDecl] = &[
    ParamDecl {
        name: "size",
        ty: ValueType::Int,
        default: Some(Value::Int(32)),
        bounds: Bounds::closed(2.0, 1024.0),
        choices: &[],
        unit: "sites",
        description: "Linear size L of the periodic LxL lattice.",
    },
    ParamDecl {
        name: "temperature",
        ty: ValueType::Float,
        default: None,
        bounds: Bounds::open_closed(0.0, 100.0),
        choices: &[],
        unit: "J/k_B",
        description: "Temperature in units of the coupling J (critical point T_c = 2.269).",
    },
    ParamDecl {
        name: "sweeps",
        ty: ValueType::Int,
        default: Some(Value::Int(10_000)),
        bounds: Bounds::closed(1.0, 1e8),
        choices: &[],
        unit: "sweeps",
        description: "Measurement sweeps (about L^2 spin updates each), one record per sweep.",
    },
    ParamDecl {
        name: "burn_in",
        ty: ValueType::Int,
        default: Some(Value::Int(1_000)),
        bounds: Bounds::closed(0.0, 1e8),
        choices: &[],
        unit: "sweeps",
        description: "Sweeps discarded before measuring, starting from the all-up state.",
    },
    ParamDecl {
        name: "algorithm",
        ty: ValueType::Str,
        default: Some(Value::Str(Cow::Borrowed("metropolis"))),
        bounds: Bounds::ANY,
        choices: &["metropolis", "wolff"],
        unit: "",
        description: "Update algorithm: Metropolis single-spin flips at random sites, or Wolff cluster flips.",
    },
];

const METRICS: &[MetricDecl] = &[
    MetricDecl {
        name: "abs_magnetization",
        ty: ValueType::Float,
        unit: "",
        description: "Mean absolute magnetisation per site, <|M|>/N.",
    },
    MetricDecl {
        name: "energy_per_site",
        ty: ValueType::Float,
        unit: "J",
        description: "Mean energy per site, <E>/N.",
    },
    MetricDecl {
        name: "specific_heat",
        ty: ValueType::Float,
        unit: "k_B",
        description: "Specific heat per site from energy fluctuations, N(<e^2> - <e>^2)/T^2.",
    },
    MetricDecl {
        name: "susceptibility",
        ty: ValueType::Float,
        unit: "1/J",
        description: "Susceptibility per site from |m| fluctuations, N(<m^2> - <|m|>^2)/T.",
    },
];

/// Critical temperature of the square-lattice Ising model, `2 / ln(1 + √2)` (Kramers & Wannier
/// 1941).
pub const TC: f64 = 2.269_185_314_213_022;

/// Spontaneous magnetisation per site of the infinite lattice, `(1 − sinh(2/T)^−4)^(1/8)`
/// below `T_c` and 0 at or above it (Yang 1952).
pub fn onsager_magnetization(t: f64) -> f64 {
    if t >= TC {
        return 0.0;
    }
    // sinh overflows to +inf for T ≲ 0.003; inf^-4 = 0 gives the right limit m = 1.
    (1.0 - (2.0 / t).sinh().powi(-4)).powf(0.125)
}

/// Energy per site of the infinite lattice at temperature `t > 0` (Onsager 1944),
/// `−coth(2β) [1 + (2/π)(2 tanh²(2β) − 1) K(κ)]` with `κ = 2 sinh(2β)/cosh²(2β)`, `β = 1/T`.
///
/// Evaluated through the identity `√(1 − κ²) = |2 tanh²(2β) − 1|` (expand
/// `cosh⁴ − 4 sinh² = (sinh² − 1)²`), so `K` comes straight from its complementary modulus:
/// no overflow at low `T`, and at `T_c`, where `K` diverges logarithmically while its
/// prefactor vanishes linearly, the exact limit `−coth(2β_c) = −√2` is returned.
pub fn exact_energy_per_site(t: f64) -> f64 {
    let two_beta = 2.0 / t;
    let tanh = two_beta.tanh();
    let q = 2.0 * tanh * tanh - 1.0;
    let coth = 1.0 / tanh;
    if q == 0.0 {
        return -coth;
    }
    -coth * (1.0 + 2.0 / PI * q * elliptic_k_complementary(q.abs()))
}

/// Complete elliptic integral of the first kind `K(k) = ∫₀^{π/2} dθ / √(1 − k² sin²θ)` for
/// modulus `0 ≤ k ≤ 1` (not parameter `m = k²`), by the arithmetic–geometric mean:
/// `K(k) = π / (2 AGM(1, √(1 − k²)))` (Abramowitz & Stegun §17.6). `K(1) = ∞`.
pub fn elliptic_k(k: f64) -> f64 {
    elliptic_k_complementary(((1.0 - k) * (1.0 + k)).max(0.0).sqrt())
}

/// `K` as a function of the complementary modulus `k' = √(1 − k²)`, which callers can often
/// compute more accurately than `k` itself near `k = 1`.
fn elliptic_k_complementary(k_prime: f64) -> f64 {
    if k_prime == 0.0 {
        return f64::INFINITY;
    }
    PI / (2.0 * agm(1.0, k_prime))
}

/// Arithmetic–geometric mean of two positive numbers; converges quadratically, so a handful
/// of iterations reach full precision (the cap only guards against a NaN argument).
fn agm(mut a: f64, mut b: f64) -> f64 {
    for _ in 0..64 {
        if (a - b).abs() <= 1e-15 * a {
            break;
        }
        (a, b) = (0.5 * (a + b), (a * b).sqrt());
    }
    0.5 * (a + b)
}

/// The update algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// Single-spin Metropolis flips at uniformly random sites.
    Metropolis,
    /// Wolff single-cluster flips.
    Wolff,
}

impl Algorithm {
    /// Parses the `algorithm` parameter (`"metropolis"` or `"wolff"`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "metropolis" => Some(Algorithm::Metropolis),
            "wolff" => Some(Algorithm::Wolff),
            _ => None,
        }
    }
}

/// One simulation point.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IsingConfig {
    /// Linear lattice size L (at least 2).
    pub size: usize,
    /// Temperature in units of J/k_B (positive).
    pub temperature: f64,
    /// Measurement sweeps (at least 1).
    pub sweeps: u64,
    /// Discarded sweeps before measuring.
    pub burn_in: u64,
    /// Update algorithm.
    pub algorithm: Algorithm,
}

/// The metrics of one point, per site (see the module documentation for definitions).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IsingMetrics {
    /// ⟨|M|⟩/N.
    pub abs_magnetization: f64,
    /// ⟨E⟩/N.
    pub energy_per_site: f64,
    /// N(⟨e²⟩ − ⟨e⟩²)/T².
    pub specific_heat: f64,
    /// N(⟨m²⟩ − ⟨|m|⟩²)/T.
    pub susceptibility: f64,
}

/// Runs one point and returns its metrics.
pub fn run_ising(config: &IsingConfig, seed: u64) -> IsingMetrics {
    let mut moments = Moments::default();
    simulate(config, seed, |m, e| moments.add(m, e));
    moments.metrics(config.size * config.size, config.temperature)
}

/// Runs one point, calling `observe(M, E)` with the total magnetisation and energy after
/// each of the `config.sweeps` measurement sweeps (for time series, batch means and the like).
///
/// # Panics
/// If `config.size < 2` or `config.temperature` is not positive (the spec layer's bounds
/// exclude both).
pub fn simulate(config: &IsingConfig, seed: u64, mut observe: impl FnMut(i64, i64)) {
    assert!(config.size >= 2, "the lattice needs L >= 2");
    assert!(config.temperature > 0.0, "the temperature must be positive");
    let mut rng = Rng::new(seed);
    let mut lattice = Lattice::new(config.size);
    let t = config.temperature;
    match config.algorithm {
        Algorithm::Metropolis => {
            let accept = metropolis_thresholds(t);
            for _ in 0..config.burn_in {
                lattice.metropolis_sweep(&mut rng, &accept);
            }
            // Tracked incrementally: cheaper than recounting the bonds after every sweep.
            let (mut m, mut e) = (lattice.magnetization(), lattice.energy());
            for _ in 0..config.sweeps {
                let (dm, de) = lattice.metropolis_sweep(&mut rng, &accept);
                m += dm;
                e += de;
                observe(m, e);
            }
        }
        Algorithm::Wolff => {
            // 1 − exp(−2/T) without cancellation at high T.
            let add_below = below_53(-(-2.0 / t).exp_m1());
            let n = lattice.spins.len() as u64;
            let calibrate_from = config.burn_in / 2;
            let (mut clusters, mut flipped) = (0u64, 0u64);
            let mut per_sweep: Option<u64> = None;
            let mut m = lattice.magnetization();
            for sweep in 0..config.burn_in + config.sweeps {
                match per_sweep {
                    Some(k) => {
                        for _ in 0..k {
                            m += lattice.wolff_flip(&mut rng, add_below);
                        }
                    }
                    None => {
                        let mut this_sweep = 0u64;
                        while this_sweep < n {
                            let dm = lattice.wolff_flip(&mut rng, add_below);
                            m += dm;
                            this_sweep += dm.unsigned_abs() / 2;
                            if sweep >= calibrate_from {
                                clusters += 1;
                            }
                        }
                        if sweep >= calibrate_from {
                            flipped += this_sweep;
                        }
                        if sweep + 1 >= config.burn_in {
                            let k = (n as f64 * clusters as f64 / flipped as f64).round();
                            per_sweep = Some((k as u64).max(1));
                        }
                    }
                }
                if sweep >= config.burn_in {
                    // The cluster boundary is not tracked, so the bonds are recounted.
                    observe(m, lattice.energy());
                }
            }
        }
    }
}

/// Metropolis acceptance `min(1, exp(−2 s h / T))` indexed by `s h + 4`, as thresholds on
/// 53-bit draws: only `s h = 2` and `4` (`ΔE = 4` and `8`) are uphill.
fn metropolis_thresholds(t: f64) -> [u64; 9] {
    let mut accept = [below_53(1.0); 9];
    accept[6] = below_53((-4.0 / t).exp());
    accept[8] = below_53((-8.0 / t).exp());
    accept
}

/// The integer `k` with `x < k ⇔ x · 2⁻⁵³ < p` for 53-bit `x`: an event of probability `p`
/// tested on raw bits, without converting each draw to a float.
fn below_53(p: f64) -> u64 {
    (p * (1u64 << 53) as f64).ceil() as u64
}

/// Exact running sums of the per-sweep records. Within the declared bounds (|E| ≤ 2N ≤ 2²¹,
/// at most 10⁸ < 2²⁷ records) `n Σ E²` and `(Σ E)²` stay below 2⁹⁷, far inside `i128`.
#[derive(Debug, Clone, Copy, Default)]
struct Moments {
    n: i128,
    abs_m: i128,
    m2: i128,
    e: i128,
    e2: i128,
}

impl Moments {
    fn add(&mut self, m: i64, e: i64) {
        let (m, e) = (i128::from(m), i128::from(e));
        self.n += 1;
        self.abs_m += m.abs();
        self.m2 += m * m;
        self.e += e;
        self.e2 += e * e;
    }

    fn metrics(&self, sites: usize, t: f64) -> IsingMetrics {
        let n = self.n as f64;
        let sites = sites as f64;
        // n² Var(X) = n Σ X² − (Σ X)², exact in integers.
        let var_e = (self.n * self.e2 - self.e * self.e) as f64 / (n * n);
        let var_abs_m = (self.n * self.m2 - self.abs_m * self.abs_m) as f64 / (n * n);
        IsingMetrics {
            abs_magnetization: self.abs_m as f64 / (n * sites),
            energy_per_site: self.e as f64 / (n * sites),
            specific_heat: var_e / (sites * t * t),
            susceptibility: var_abs_m / (sites * t),
        }
    }
}

/// Spins in row-major order with precomputed periodic neighbours, so the hot loops index
/// tables instead of taking remainders.
struct Lattice {
    l: usize,
    spins: Vec<i8>,
    /// Row above / below row `r`.
    row_up: Vec<usize>,
    row_down: Vec<usize>,
    /// Column to the left / right of column `c`.
    col_left: Vec<usize>,
    col_right: Vec<usize>,
    /// Cluster growth frontier as (row, column), kept to reuse its allocation.
    stack: Vec<(u32, u32)>,
}

impl Lattice {
    fn new(l: usize) -> Lattice {
        Lattice {
            l,
            spins: vec![1; l * l],
            row_up: (0..l).map(|r| (r + l - 1) % l).collect(),
            row_down: (0..l).map(|r| (r + 1) % l).collect(),
            col_left: (0..l).map(|c| (c + l - 1) % l).collect(),
            col_right: (0..l).map(|c| (c + 1) % l).collect(),
            stack: Vec::new(),
        }
    }

    fn magnetization(&self) -> i64 {
        self.spins.iter().map(|&s| i64::from(s)).sum()
    }

    /// Counts each site's right and down bond once, covering all 2N bonds. (For L = 2 the
    /// left and right neighbour coincide, so each pair is joined by two bonds; the updates see
    /// a neighbour twice as well, so the model stays self-consistent.)
    fn energy(&self) -> i64 {
        let s = &self.spins;
        let mut e = 0i64;
        for r in 0..self.l {
            let row = r * self.l;
            let down = self.row_down[r] * self.l;
            for c in 0..self.l {
                let bonds = s[row + self.col_right[c]] + s[down + c];
                e -= i64::from(s[row + c] * bonds);
            }
        }
        e
    }

    /// One Metropolis sweep: `N` flip attempts at uniformly random sites. A flip with
    /// `s h = k − 4` (`ΔE = 2 s h`) is accepted when the draw's top 53 bits fall below
    /// `accept_below[k]`. Returns the changes `(ΔM, ΔE)`.
    fn metropolis_sweep(&mut self, rng: &mut Rng, accept_below: &[u64; 9]) -> (i64, i64) {
        let l = self.l;
        let s = &mut self.spins;
        let (mut dm, mut de) = (0i64, 0i64);
        for _ in 0..l * l {
            // Row and column drawn separately so that no division is needed to find the
            // neighbours.
            let r = rng.below(l as u64) as usize;
            let c = rng.below(l as u64) as usize;
            let row = r * l;
            let i = row + c;
            let si = s[i];
            let h = s[self.row_up[r] * l + c]
                + s[self.row_down[r] * l + c]
                + s[row + self.col_left[c]]
                + s[row + self.col_right[c]];
            let sh = si * h;
            // Branch-free: drawing for every attempt, downhill ones included, is cheaper than
            // mispredicting an accept test that is close to a coin flip near T_c.
            let flip = i8::from((rng.next_u64() >> 11) < accept_below[(sh + 4) as usize]);
            let ds = 2 * si * flip;
            s[i] = si - ds;
            dm -= i64::from(ds);
            de += i64::from(2 * sh * flip);
        }
        (dm, de)
    }

    /// Grows and flips one Wolff cluster, adding an aligned neighbour when the draw's top 53
    /// bits fall below `add_below`; returns the change in magnetisation
    /// (`−2 s₀ × cluster size`).
    fn wolff_flip(&mut self, rng: &mut Rng, add_below: u64) -> i64 {
        let l = self.l;
        let s = &mut self.spins;
        let start = rng.below(s.len() as u64) as usize;
        let s0 = s[start];
        // Flipping on admission doubles as the visited mark: a flipped site no longer matches
        // s0, so every bond is tried at most once.
        s[start] = -s0;
        self.stack.clear();
        // (row, column) rather than the flat index, to avoid a division per popped site.
        self.stack.push(((start / l) as u32, (start % l) as u32));
        let mut size = 1i64;
        while let Some((r, c)) = self.stack.pop() {
            let (r, c) = (r as usize, c as usize);
            for (nr, nc) in [
                (self.row_up[r], c),
                (self.row_down[r], c),
                (r, self.col_left[c]),
                (r, self.col_right[c]),
            ] {
                let j = nr * l + nc;
                if s[j] == s0 && (rng.next_u64() >> 11) < add_below {
                    s[j] = -s0;
                    self.stack.push((nr as u32, nc as u32));
                    size += 1;
                }
            }
        }
        -2 * i64::from(s0) * size
    }
}

impl Experiment for Ising2d {
    fn name(&self) -> &'static str {
        "ising2d"
    }

    fn description(&self) -> &'static str {
        "2-D Ising ferromagnet on a periodic LxL square lattice (J = 1, no field), sampled by \
         Metropolis or Wolff cluster updates from an ordered start; reports |magnetisation|, \
         energy, specific heat and susceptibility per site. Validated against exact \
         enumeration of small lattices, Onsager's exact energy, Yang's spontaneous \
         magnetisation, the high-temperature susceptibility series and the finite-size \
         specific-heat peak near T_c."
    }

    fn params(&self) -> &[ParamDecl] {
        PARAMS
    }

    fn metrics(&self) -> &[MetricDecl] {
        METRICS
    }

    fn run(&self, p: &[Value], seed: u64) -> Result<Vec<Value>, KernelError> {
        let name = p[4].as_str().unwrap_or_default();
        let algorithm = Algorithm::from_name(name).ok_or_else(|| {
            KernelError::new(
                "invalid_input",
                format!("unknown algorithm {name:?}; expected \"metropolis\" or \"wolff\""),
            )
        })?;
        let config = IsingConfig {
            size: i64_param(p, 0) as usize,
            temperature: f64_param(p, 1),
            sweeps: i64_param(p, 2) as u64,
            burn_in: i64_param(p, 3) as u64,
            algorithm,
        };
        let m = run_ising(&config, seed);
        Ok(vec![
            Value::Float(m.abs_magnetization),
            Value::Float(m.energy_per_site),
            Value::Float(m.specific_heat),
            Value::Float(m.susceptibility),
        ])
    }
}

#[cfg(test)]
mod tests;
