"""Functions the peers run in their own worker processes (ProcessPoolExecutor, Ray Tune,
Lithops). They are pickled by reference, so each worker imports this module: it must stay
light, importing only ``pykernels`` (and through it NumPy), not sweep_magic."""

from __future__ import annotations

from typing import Any

import pykernels


def numpy_point(args: tuple[float, float, int, int]) -> float:
    strike, sigma, paths, seed = args
    return pykernels.gbm_numpy(100.0, strike, 0.0, sigma, 1.0, paths, True, seed)[0]


def tune_trainable(config: dict[str, Any]) -> dict[str, float]:
    price, _ = pykernels.gbm_numpy(
        100.0, config["strike"], 0.0, config["sigma"], 1.0, config["paths"], True, config["seed"]
    )
    return {"price": price}


def tune_indexed(config: dict[str, Any], configs: list[dict[str, Any]]) -> dict[str, float]:
    return tune_trainable(configs[config["i"]])


def lithops_point(strike: float, sigma: float, paths: int, seed: int) -> float:
    # Lithops spreads a tuple item over the function's positional parameters.
    return pykernels.gbm_numpy(100.0, strike, 0.0, sigma, 1.0, paths, True, seed)[0]
