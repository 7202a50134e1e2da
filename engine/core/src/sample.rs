//! Sampled parameter spaces: `random`, Latin hypercube (`lhs`) and Sobol' (`sobol`) designs
//! of `n` points, mapped onto `uniform`, `loguniform`, `normal` or `choice` distributions.
//!
//! Every design is decoded lazily: sample `j` of dimension `k` is computed from
//! `(key, j, k)` alone, in constant time and memory, like every other axis.

use crate::experiment::{Value, ValueType};
use crate::math::norm_ppf;
use crate::seed::{counter_bits, philox4x32_10};
use crate::sobol_table::SOBOL_TABLE;

pub use crate::sobol_table::SOBOL_DIMS;

/// Bits of precision of Sobol' points (exact in an `f64`).
const SOBOL_BITS: usize = 52;

/// The design a sample follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// Independent uniform draws.
    Random,
    /// Latin hypercube: each dimension's `n` strata get exactly one point each.
    Lhs,
    /// Sobol' low-discrepancy sequence, optionally scrambled.
    Sobol {
        /// Linear matrix scrambling plus a digital shift, seeded from the sample key.
        scramble: bool,
    },
}

impl Method {
    /// The name used in specs.
    pub fn name(self) -> &'static str {
        match self {
            Method::Random => "random",
            Method::Lhs => "lhs",
            Method::Sobol { .. } => "sobol",
        }
    }
}

/// The distribution a unit-interval coordinate is mapped onto.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// Uniform on `[a, b]` (integers: each of `a..=b` equally likely).
    Uniform(f64, f64),
    /// Log-uniform on `[a, b]`, `0 < a`.
    LogUniform(f64, f64),
    /// Normal with mean and standard deviation.
    Normal(f64, f64),
    /// One of the listed values, equally likely.
    Choice(Vec<Value>),
}

/// Largest |z| a `normal` parameter can take: coordinates are clamped to
/// `[2^-53, 1 - 2^-53]` before the normal quantile, which caps |z| at about 8.21.
pub const NORMAL_Z_MAX: f64 = 8.3;

/// One sampled parameter.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleDim {
    /// Parameter name.
    pub name: String,
    /// Index in the experiment's declarations.
    pub decl_index: usize,
    /// Parameter type.
    pub ty: ValueType,
    /// Its distribution.
    pub dist: Dist,
}

/// A validated sample: the design, its size and its dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The design.
    pub method: Method,
    /// Number of sample points.
    pub n: u64,
    /// The seed of the design (the run seed unless the spec gives `sample.seed`).
    pub seed: u64,
    /// Sampled parameters, in spec order.
    pub dims: Vec<SampleDim>,
    sobol: Vec<[u64; SOBOL_BITS]>,
    shift: Vec<u64>,
}

impl Sample {
    /// Builds the sample; `dims.len()` must be at most [`SOBOL_DIMS`] for Sobol'.
    pub fn new(method: Method, n: u64, seed: u64, dims: Vec<SampleDim>) -> Sample {
        let (sobol, shift) = match method {
            Method::Sobol { scramble } => {
                let key = design_key(seed);
                (0..dims.len())
                    .map(|k| {
                        let v = sobol_directions(k);
                        if scramble {
                            (
                                scramble_directions(&v, key, k),
                                split(key, 1 << 40 | k as u64) >> 12,
                            )
                        } else {
                            (v, 0)
                        }
                    })
                    .unzip()
            }
            _ => (Vec::new(), Vec::new()),
        };
        Sample {
            method,
            n,
            seed,
            dims,
            sobol,
            shift,
        }
    }

    /// Coordinate `k` of sample point `j`, in `[0, 1)`.
    pub fn unit(&self, j: u64, k: usize) -> f64 {
        let key = design_key(self.seed);
        match self.method {
            Method::Random => unit53(counter_bits(key, j, k as u32)),
            Method::Lhs => {
                let stratum = permute(j, self.n, split(key, 2 << 40 | k as u64));
                let jitter = unit53(counter_bits(key, j, k as u32 | 0x8000_0000));
                (stratum as f64 + jitter) / self.n as f64
            }
            Method::Sobol { .. } => {
                let gray = j ^ (j >> 1);
                let mut x = self.shift[k];
                let v = &self.sobol[k];
                let mut bits = gray;
                let mut b = 0;
                while bits != 0 && b < SOBOL_BITS {
                    if bits & 1 == 1 {
                        x ^= v[b];
                    }
                    bits >>= 1;
                    b += 1;
                }
                x as f64 / (1u64 << SOBOL_BITS) as f64
            }
        }
    }

    /// The value of dimension `k` at sample point `j`.
    pub fn value(&self, j: u64, k: usize) -> Value {
        let dim = &self.dims[k];
        let u = self.unit(j, k);
        let int = dim.ty == ValueType::Int;
        match &dim.dist {
            Dist::Uniform(a, b) if int => {
                let span = b - a + 1.0;
                Value::Int((a + (u * span).floor()).min(*b) as i64)
            }
            Dist::Uniform(a, b) => Value::Float(a + (b - a) * u),
            Dist::LogUniform(a, b) => {
                let x = (a.ln() + (b.ln() - a.ln()) * u).exp();
                if int {
                    Value::Int(x.round().clamp(*a, *b) as i64)
                } else {
                    Value::Float(x.clamp(*a, *b))
                }
            }
            Dist::Normal(mean, sd) => {
                let eps = f64::EPSILON / 2.0;
                let x = mean + sd * norm_ppf(u.clamp(eps, 1.0 - eps));
                if int {
                    Value::Int(x.round() as i64)
                } else {
                    Value::Float(x)
                }
            }
            Dist::Choice(values) => {
                let i = ((u * values.len() as f64) as usize).min(values.len() - 1);
                values[i].clone()
            }
        }
    }
}

/// The key every draw of a design derives from; distinct from any point seed of the run.
fn design_key(seed: u64) -> u64 {
    let out = philox4x32_10(
        [0x5EED_5A3B, 0xD351_6E00, 0, 1],
        [seed as u32, (seed >> 32) as u32],
    );
    (u64::from(out[1]) << 32) | u64::from(out[0])
}

/// A 64-bit hash of `(key, x)` (SplitMix64's finalizer over a keyed input).
fn split(key: u64, x: u64) -> u64 {
    let mut z = key ^ x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn unit53(bits: u64) -> f64 {
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A keyed pseudo-random permutation of `0..n`, evaluated at `x`: a balanced Feistel network
/// over the smallest even-bit power of two covering `n`, with cycle walking back into range.
pub fn permute(x: u64, n: u64, key: u64) -> u64 {
    if n <= 1 {
        return 0;
    }
    let bits = 64 - (n - 1).leading_zeros();
    let half = bits.div_ceil(2);
    let mask = (1u64 << half) - 1;
    let mut y = x;
    loop {
        let (mut l, mut r) = (y >> half, y & mask);
        for round in 0..8u64 {
            let f = split(key ^ round.wrapping_mul(0xA24B_AED4_963E_E407), r) & mask;
            (l, r) = (r, l ^ f);
        }
        y = (l << half) | r;
        if y < n {
            return y;
        }
    }
}

/// Unscrambled direction numbers of dimension `k`, as `SOBOL_BITS`-bit integers, following
/// the initialisation SciPy uses (dimension 0 all ones; others by the Joe–Kuo recurrence).
fn sobol_directions(k: usize) -> [u64; SOBOL_BITS] {
    let mut m = [0u64; SOBOL_BITS];
    if k == 0 {
        m = [1; SOBOL_BITS];
    } else {
        let (poly, init) = SOBOL_TABLE[k];
        let degree = (32 - poly.leading_zeros() - 1) as usize;
        for (j, &mj) in init.iter().enumerate().take(degree) {
            m[j] = u64::from(mj);
        }
        for j in degree..SOBOL_BITS {
            let mut v = m[j - degree];
            for i in 0..degree {
                if (poly >> (degree - 1 - i)) & 1 == 1 {
                    v ^= m[j - i - 1] << (i + 1);
                }
            }
            m[j] = v;
        }
    }
    let mut v = [0u64; SOBOL_BITS];
    for j in 0..SOBOL_BITS {
        v[j] = m[j] << (SOBOL_BITS - 1 - j);
    }
    v
}

/// Linear matrix scrambling: multiplies each direction number by a random lower-triangular
/// binary matrix with unit diagonal (bit 0 = most significant), which keeps the net property.
fn scramble_directions(v: &[u64; SOBOL_BITS], key: u64, k: usize) -> [u64; SOBOL_BITS] {
    let top = SOBOL_BITS - 1;
    let rows: Vec<u64> = (0..SOBOL_BITS)
        .map(|r| {
            // Row r reads input bits 0..=r: integer bit positions top-r ..= top.
            let diag = 1u64 << (top - r);
            let above = if r == 0 {
                0
            } else {
                (split(key, (3 << 40) | ((k as u64) << 8) | r as u64) << (top - r + 1))
                    & ((1u64 << SOBOL_BITS) - 1)
            };
            diag | above
        })
        .collect();
    let mut out = [0u64; SOBOL_BITS];
    for (o, &x) in out.iter_mut().zip(v) {
        for (r, &row) in rows.iter().enumerate() {
            if (row & x).count_ones() & 1 == 1 {
                *o |= 1 << (top - r);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dims(n: usize) -> Vec<SampleDim> {
        (0..n)
            .map(|k| SampleDim {
                name: format!("p{k}"),
                decl_index: k,
                ty: ValueType::Float,
                dist: Dist::Uniform(0.0, 1.0),
            })
            .collect()
    }

    #[test]
    fn sobol_starts_like_scipy() {
        // scipy.stats.qmc.Sobol(2, scramble=False).random(8)
        let s = Sample::new(Method::Sobol { scramble: false }, 8, 0, dims(2));
        let got: Vec<(f64, f64)> = (0..8).map(|j| (s.unit(j, 0), s.unit(j, 1))).collect();
        let want = [
            (0.0, 0.0),
            (0.5, 0.5),
            (0.75, 0.25),
            (0.25, 0.75),
            (0.375, 0.375),
            (0.875, 0.875),
            (0.625, 0.125),
            (0.125, 0.625),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn scrambled_sobol_is_seeded_and_still_stratified() {
        let a = Sample::new(Method::Sobol { scramble: true }, 64, 1, dims(3));
        let b = Sample::new(Method::Sobol { scramble: true }, 64, 1, dims(3));
        let c = Sample::new(Method::Sobol { scramble: true }, 64, 2, dims(3));
        assert_eq!(a.unit(5, 2), b.unit(5, 2));
        assert_ne!(a.unit(5, 2), c.unit(5, 2));
        // A (0, m, s)-net in base 2 in each single dimension: 64 points, one per 1/64 cell.
        for k in 0..3 {
            let mut cells: Vec<u64> = (0..64).map(|j| (a.unit(j, k) * 64.0) as u64).collect();
            cells.sort_unstable();
            assert_eq!(cells, (0..64).collect::<Vec<_>>(), "dimension {k}");
        }
    }

    #[test]
    fn lhs_has_one_point_per_stratum_in_every_dimension() {
        for n in [1, 2, 7, 100, 1000] {
            let s = Sample::new(Method::Lhs, n, 9, dims(4));
            for k in 0..4 {
                let mut strata: Vec<u64> =
                    (0..n).map(|j| (s.unit(j, k) * n as f64) as u64).collect();
                strata.sort_unstable();
                assert_eq!(strata, (0..n).collect::<Vec<_>>(), "n={n} k={k}");
            }
        }
    }

    #[test]
    fn permutations_are_bijections() {
        for n in [2u64, 3, 10, 1000, 4097] {
            let mut seen: Vec<u64> = (0..n).map(|x| permute(x, n, 42)).collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
    }

    #[test]
    fn random_is_uniform_and_distributions_map_correctly() {
        let n = 20_000;
        let mut s = Sample::new(Method::Random, n, 3, dims(1));
        let mean = (0..n).map(|j| s.unit(j, 0)).sum::<f64>() / n as f64;
        // SE of the mean of U(0,1) is 1/sqrt(12 n) = 0.002.
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
        s.dims[0].ty = ValueType::Int;
        s.dims[0].dist = Dist::Uniform(1.0, 3.0);
        let mut counts = [0; 4];
        for j in 0..3000 {
            counts[s.value(j, 0).as_i64().unwrap() as usize] += 1;
        }
        assert_eq!(counts[0], 0);
        assert!(
            counts[1..].iter().all(|&c| (850..1150).contains(&c)),
            "{counts:?}"
        );
        s.dims[0].ty = ValueType::Float;
        s.dims[0].dist = Dist::LogUniform(1e-3, 1e3);
        let below_one = (0..n)
            .filter(|&j| s.value(j, 0).as_f64().unwrap() < 1.0)
            .count();
        assert!((below_one as f64 / n as f64 - 0.5).abs() < 0.02);
    }
}
