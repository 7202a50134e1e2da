//! The random stream kernels draw from, owned here so results never change with a dependency
//! upgrade: xoshiro256++ (Blackman & Vigna) seeded through SplitMix64, with uniform and
//! standard-normal draws.

/// SplitMix64 step: advances `state` and returns a well-mixed 64-bit output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Start of the normal tail and area of each layer for a 128-layer ziggurat.
const ZIG_R: f64 = 3.442619855899;
const ZIG_V: f64 = 9.91256303526217e-3;

/// Layer edges `x[i]` (decreasing, `x[0] = V / f(R)` is the base layer's virtual width,
/// `x[128] = 0`) and `ratio[i] = x[i + 1] / x[i]`.
struct Ziggurat {
    x: [f64; 129],
    ratio: [f64; 128],
}

fn ziggurat() -> &'static Ziggurat {
    static TABLE: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let mut x = [0.0; 129];
        let mut f = (-0.5 * ZIG_R * ZIG_R).exp();
        x[0] = ZIG_V / f;
        x[1] = ZIG_R;
        for i in 2..128 {
            x[i] = (-2.0 * (ZIG_V / x[i - 1] + f).ln()).sqrt();
            f = (-0.5 * x[i] * x[i]).exp();
        }
        let mut ratio = [0.0; 128];
        for i in 0..128 {
            ratio[i] = x[i + 1] / x[i];
        }
        Ziggurat { x, ratio }
    })
}

/// A xoshiro256++ generator.
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
    spare_normal: Option<f64>,
}

impl Rng {
    /// A generator whose whole stream is determined by `seed`.
    pub fn new(seed: u64) -> Self {
        let mut sm = seed;
        let s = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Rng {
            s,
            spare_normal: None,
        }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.s;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    #[inline]
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `(0, 1)`: never exactly zero, for logarithms.
    #[inline]
    pub fn uniform_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
    }

    /// A standard normal draw (Marsaglia's polar method; the second value of each pair is kept
    /// for the next call).
    #[inline]
    pub fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare_normal.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let f = (-2.0 * s.ln() / s).sqrt();
                self.spare_normal = Some(v * f);
                return u * f;
            }
        }
    }

    /// A standard normal draw by the ziggurat method (Marsaglia & Tsang, in Doornik's
    /// formulation with 128 layers): about 99% of draws cost one 64-bit output, a compare and
    /// a multiply. A different stream from [`Rng::normal`] for the same seed.
    #[inline]
    pub fn normal_ziggurat(&mut self) -> f64 {
        let zig = ziggurat();
        loop {
            let bits = self.next_u64();
            let i = (bits & 0x7f) as usize;
            // Signed uniform in (-1, 1) from the top 53 bits (disjoint from the layer bits).
            let u = ((bits >> 11) as f64 + 0.5) * (2.0 / (1u64 << 53) as f64) - 1.0;
            if u.abs() < zig.ratio[i] {
                return u * zig.x[i];
            }
            if i == 0 {
                // The base layer's overhang: a draw from the tail beyond R.
                loop {
                    let a = self.uniform_open().ln() / ZIG_R;
                    let b = self.uniform_open().ln();
                    if -2.0 * b >= a * a {
                        return if u < 0.0 { a - ZIG_R } else { ZIG_R - a };
                    }
                }
            }
            let x = u * zig.x[i];
            let f0 = (-0.5 * (zig.x[i] * zig.x[i] - x * x)).exp();
            let f1 = (-0.5 * (zig.x[i + 1] * zig.x[i + 1] - x * x)).exp();
            if f1 + self.uniform() * (f0 - f1) < 1.0 {
                return x;
            }
        }
    }

    /// Exponential with the given `rate`.
    #[inline]
    pub fn exponential(&mut self, rate: f64) -> f64 {
        -self.uniform_open().ln() / rate
    }

    /// Uniform integer in `[0, n)` (Lemire's nearly-divisionless method); `n` must be > 0.
    #[inline]
    pub fn below(&mut self, n: u64) -> u64 {
        let mut m = u128::from(self.next_u64()) * u128::from(n);
        if (m as u64) < n {
            let threshold = n.wrapping_neg() % n;
            while (m as u64) < threshold {
                m = u128::from(self.next_u64()) * u128::from(n);
            }
        }
        (m >> 64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_reference_values() {
        // First outputs of SplitMix64 seeded with 1234567 (Vigna's reference implementation).
        let mut s = 1234567u64;
        assert_eq!(splitmix64(&mut s), 6457827717110365317);
        assert_eq!(splitmix64(&mut s), 3203168211198807973);
    }

    #[test]
    fn normal_moments() {
        let mut rng = Rng::new(7);
        let n = 200_000;
        let (mut sum, mut sum2) = (0.0, 0.0);
        for _ in 0..n {
            let z = rng.normal();
            sum += z;
            sum2 += z * z;
        }
        let mean = sum / n as f64;
        let var = sum2 / n as f64 - mean * mean;
        // Standard errors: 1/sqrt(n) ≈ 0.0022 for the mean, sqrt(2/n) ≈ 0.0032 for the variance.
        assert!(mean.abs() < 0.01, "{mean}");
        assert!((var - 1.0).abs() < 0.015, "{var}");
    }

    #[test]
    fn below_is_in_range_and_covers() {
        let mut rng = Rng::new(3);
        let mut counts = [0u32; 7];
        for _ in 0..70_000 {
            counts[rng.below(7) as usize] += 1;
        }
        for c in counts {
            assert!((9_400..10_600).contains(&c), "{counts:?}");
        }
    }
}
