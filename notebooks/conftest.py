"""nbval runs these notebooks with results in a throw-away root, never in the repository."""

import os
import tempfile

os.environ.setdefault("SWEEP_ROOT", tempfile.mkdtemp(prefix="sweep-notebooks-"))
os.environ.setdefault("MPLBACKEND", "Agg")
