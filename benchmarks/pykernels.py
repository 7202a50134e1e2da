"""The `gbm_option` and `ising2d` estimators in pure Python and in NumPy, for the kernel-speed
comparison: same estimator, same number of paths / sweeps as the Rust kernels in
`engine/sim_experiments` (random streams differ, so results agree statistically, not bitwise).
"""

from __future__ import annotations

import math
import random

import numpy as np


def gbm_python(
    s0: float,
    strike: float,
    rate: float,
    sigma: float,
    maturity: float,
    paths: int,
    antithetic: bool,
    seed: int,
) -> tuple[float, float]:
    """European call by Monte Carlo under GBM: exact terminal sampling, antithetic pairs,
    Welford mean/variance, discounted. Returns (price, std_error)."""
    rng = random.Random(seed)
    gauss = rng.gauss
    exp = math.exp
    drift = (rate - 0.5 * sigma * sigma) * maturity
    vol = sigma * math.sqrt(maturity)
    samples = paths // 2 if antithetic else paths
    mean = m2 = 0.0
    for k in range(samples):
        z = gauss(0.0, 1.0)
        if antithetic:
            a = s0 * exp(drift + vol * z) - strike
            b = s0 * exp(drift - vol * z) - strike
            y = 0.5 * ((a if a > 0.0 else 0.0) + (b if b > 0.0 else 0.0))
        else:
            a = s0 * exp(drift + vol * z) - strike
            y = a if a > 0.0 else 0.0
        delta = y - mean
        mean += delta / (k + 1)
        m2 += delta * (y - mean)
    var = m2 / (samples - 1) if samples > 1 else 0.0
    disc = math.exp(-rate * maturity)
    return disc * mean, disc * math.sqrt(var / samples)


def gbm_numpy(
    s0: float,
    strike: float,
    rate: float,
    sigma: float,
    maturity: float,
    paths: int,
    antithetic: bool,
    seed: int,
) -> tuple[float, float]:
    """The same estimator, vectorised over all paths at once."""
    rng = np.random.default_rng(seed)
    drift = (rate - 0.5 * sigma * sigma) * maturity
    vol = sigma * math.sqrt(maturity)
    samples = paths // 2 if antithetic else paths
    z = rng.standard_normal(samples)
    if antithetic:
        y = 0.5 * (
            np.maximum(s0 * np.exp(drift + vol * z) - strike, 0.0)
            + np.maximum(s0 * np.exp(drift - vol * z) - strike, 0.0)
        )
    else:
        y = np.maximum(s0 * np.exp(drift + vol * z) - strike, 0.0)
    disc = math.exp(-rate * maturity)
    return disc * float(y.mean()), disc * float(y.std(ddof=1)) / math.sqrt(samples)


def _ising_metrics(
    ms: list[int] | np.ndarray, es: list[int] | np.ndarray, n: int, t: float
) -> tuple[float, float, float, float]:
    m = np.abs(np.asarray(ms, dtype=np.float64)) / n
    e = np.asarray(es, dtype=np.float64) / n
    return (
        float(m.mean()),
        float(e.mean()),
        n * float(e.var()) / (t * t),
        n * float((m * m).mean() - m.mean() ** 2) / t,
    )


def ising_python(
    size: int, temperature: float, sweeps: int, burn_in: int, seed: int
) -> tuple[float, float, float, float]:
    """Metropolis on an L x L torus from the all-up state: a sweep is N flip attempts at
    uniformly random sites; E and M recorded after each measurement sweep. Returns
    (abs_magnetization, energy_per_site, specific_heat, susceptibility)."""
    rng = random.Random(seed)
    rand = rng.random
    below = rng.randrange
    n_side = size
    n = n_side * n_side
    s = [1] * n
    up = [((r - 1) % n_side) * n_side for r in range(n_side)]
    down = [((r + 1) % n_side) * n_side for r in range(n_side)]
    left = [(c - 1) % n_side for c in range(n_side)]
    right = [(c + 1) % n_side for c in range(n_side)]
    accept = {4: math.exp(-4.0 / temperature), 8: math.exp(-8.0 / temperature)}
    m, e = n, -2 * n
    ms: list[int] = []
    es: list[int] = []
    for sweep in range(burn_in + sweeps):
        for _ in range(n):
            r = below(n_side)
            c = below(n_side)
            row = r * n_side
            i = row + c
            si = s[i]
            h = s[up[r] + c] + s[down[r] + c] + s[row + left[c]] + s[row + right[c]]
            de = 2 * si * h
            if de <= 0 or rand() < accept[de]:
                s[i] = -si
                m -= 2 * si
                e += de
        if sweep >= burn_in:
            ms.append(m)
            es.append(e)
    return _ising_metrics(ms, es, n, temperature)


def ising_numpy(
    size: int, temperature: float, sweeps: int, burn_in: int, seed: int
) -> tuple[float, float, float, float]:
    """Metropolis vectorised the usual NumPy way: checkerboard half-lattice updates (each
    sweep updates every site once, in two vectorised half-steps). Same stationary
    distribution and estimator as the random-site kernel; needs an even L."""
    rng = np.random.default_rng(seed)
    n = size * size
    s = np.ones((size, size), dtype=np.int8)
    rr, cc = np.indices((size, size))
    masks = [(rr + cc) % 2 == k for k in (0, 1)]
    accept = np.array(
        [
            1.0,
            1.0,
            1.0,
            1.0,
            1.0,
            1.0,
            math.exp(-4.0 / temperature),
            1.0,
            math.exp(-8.0 / temperature),
        ]
    )
    ms = np.empty(sweeps, dtype=np.int64)
    es = np.empty(sweeps, dtype=np.int64)
    for sweep in range(burn_in + sweeps):
        for mask in masks:
            h = np.roll(s, 1, 0) + np.roll(s, -1, 0) + np.roll(s, 1, 1) + np.roll(s, -1, 1)
            sh = (s * h).astype(np.int64)
            flip = mask & (rng.random((size, size)) < accept[sh + 4])
            s = np.where(flip, -s, s).astype(np.int8)
        if sweep >= burn_in:
            k = sweep - burn_in
            ms[k] = int(s.sum(dtype=np.int64))
            es[k] = -int((s * (np.roll(s, -1, 0) + np.roll(s, -1, 1))).sum(dtype=np.int64))
    return _ising_metrics(ms, es, n, temperature)
