"""Runs in a result folder (``local`` and ``ray``): the manifest is written here, then the
backend's shard executions compute the shards into the same folder."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from .. import _native
from ..config import load_config
from ..handle import Run
from ..spec import Spec
from .base import Execution

__all__ = ["FolderBackend"]


class FolderBackend:
    """A :class:`~sweep_magic.backends.base.RunBackend` over a result folder; subclasses say
    how shards execute (:meth:`submit`)."""

    name = "folder"

    def submit(self, root: Path, run_id: str, shards: list[int] | None) -> Execution:
        """Starts computing ``shards`` of the run under ``root`` (None = all pending)."""
        raise NotImplementedError

    def start(self, spec: Spec, root: str | os.PathLike[str] | None) -> Run:
        root_path = load_config().resolve_root(root)
        run_id = _native.new_run_id(secrets.randbits(32))
        manifest = _native.create_run(str(root_path), spec.to_json(), "json", run_id, spec.max_rows)
        return Run(root_path, manifest, self.submit(root_path, run_id, None))

    def open(self, run_id: str, root: str | os.PathLike[str] | None) -> Run:
        root_path = load_config().resolve_root(root)
        return Run(root_path, _native.open_run(str(root_path), run_id))

    def resume(self, run_id: str, root: str | os.PathLike[str] | None) -> Run:
        root_path = load_config().resolve_root(root)
        manifest = _native.open_run(str(root_path), run_id)
        # Opening the run to compute comes first: a run this process cannot compute (its
        # kernel, or that build of it, is not loaded) is refused before anything changes.
        pending = _native.pending_shards(str(root_path), run_id)
        _native.clear_cancel(str(root_path), run_id)
        handle = Run(root_path, manifest, self.submit(root_path, run_id, pending))
        handle._already_done = manifest["plan"]["shards"] - len(pending)
        return handle
