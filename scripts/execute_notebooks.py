"""Executes notebooks in place to store their outputs (the outputs nbval checks)."""

import os
import sys
import tempfile

import nbformat
from nbclient import NotebookClient

from sweep_magic.local_cloud import LocalCloud

os.environ["SWEEP_ROOT"] = tempfile.mkdtemp()
os.environ["MPLBACKEND"] = "Agg"
# Cloud notebooks run against the local emulation, as under nbval (notebooks/conftest.py).
emulation = None
if any("cloud" in os.path.basename(p) for p in sys.argv[1:]):
    emulation = LocalCloud(features=("fault-injection",)).start()
    os.environ.update(emulation.client_env())
for path in sys.argv[1:]:
    nb = nbformat.read(path, as_version=4)
    skip = [c for c in nb.cells if "nbval-skip" in c.get("metadata", {}).get("tags", [])]
    for c in skip:
        c["metadata"]["_skip_src"] = c["source"]
        c["source"] = ""
    NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(path)}},
    ).execute()
    for c in skip:
        c["source"] = c["metadata"].pop("_skip_src")
        c["outputs"] = []
        c["execution_count"] = None
    nbformat.write(nb, path)
    print("executed", path)
if emulation is not None:
    emulation.stop()
