"""The benchmark sections of ``benchmarks/run.py``, one module per comparison.

Importing this package prepares the environment every section relies on, before NumPy or
sweep_magic load: ``benchmarks/`` on ``sys.path`` and ``PYTHONPATH`` (the peers' worker
processes, started by Ray and Lithops, import ``pykernels`` and ``bench.workers`` by name),
this interpreter's directory first on ``PATH`` (Lithops' localhost executor starts
``python`` from ``PATH``), and single-threaded BLAS so each process uses one core.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent.parent


def _prepend(var: str, entry: str) -> None:
    parts = [p for p in os.environ.get(var, "").split(os.pathsep) if p]
    if entry not in parts:
        os.environ[var] = os.pathsep.join([entry, *parts])


if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))
_prepend("PYTHONPATH", str(BENCH_DIR))
_prepend("PATH", str(Path(sys.executable).parent))
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")
