"""IPython magics: ``%load_ext sweep_magic``, then ``%sweep`` / ``%%sweep``.

A thin layer over the Python API. Subcommands::

    %sweep experiments                     experiments and their parameters, as a DataFrame
    %%sweep run [options]                  the cell body is the spec (YAML); {name} interpolates
    %sweep run -f spec.yaml [options]        a variable from the notebook's namespace
    %sweep status [RUN]                    progress of RUN (default: the last run)
    %sweep runs                            every run under the root
    %sweep cancel RUN / %sweep resume RUN
    %%sweep query [-o VAR]                 Athena-dialect SQL; table ``last_run`` = last results
    %sweep config                          effective configuration and where each value came from
    %sweep editor EXPERIMENT               a widget form that builds and runs a spec
    %sweep estimate -f SPEC / %%sweep estimate   predicted time and cost: local, ray, Lambda
    %%sweep kernel NAME                    the cell body is a Rust kernel: built, loaded as NAME

``--cloud`` sends ``run`` to the cloud backend (``SWEEP_API_URL``), makes ``status``, ``cancel``
and ``resume`` address cloud runs, and runs ``query`` on Athena (or on DuckDB over the S3
objects with ``SWEEP_CLOUD_QUERY=duckdb``, as in the local emulation).

Options of ``run``: ``--backend local|ray|cloud``, ``--cloud``, ``--root R``, ``--name N``,
``--no-block`` (return the live handle at once), ``-o VAR`` (store the handle in VAR),
``--threads N``. A mistake (bad spec, unknown run, bad flag) is one line, no traceback.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Int, Unicode

from .config import load_config
from .errors import SweepError
from .run import Run, open_run, resume, run, runs
from .spec import Spec, format_for_path

__all__ = ["SweepMagics", "load_ipython_extension"]

_NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")


SUBCOMMANDS = (
    "experiments",
    "run",
    "status",
    "runs",
    "cancel",
    "resume",
    "query",
    "config",
    "editor",
    "estimate",
    "kernel",
)


def _sql_literal(obj: Any, where: str) -> str:
    if obj is None:
        return "NULL"
    if isinstance(obj, bool):
        return "TRUE" if obj else "FALSE"
    if isinstance(obj, (int, float)):
        if obj != obj or obj in (float("inf"), float("-inf")):
            raise UsageError(f"{where}: {obj} has no SQL literal")
        return repr(obj)
    if isinstance(obj, str):
        return "'" + obj.replace("'", "''") + "'"
    if isinstance(obj, (list, tuple)) and obj:
        return ", ".join(_sql_literal(x, where) for x in obj)
    raise UsageError(f"{where}: a {type(obj).__name__} cannot be put into SQL")


@magics_class
class SweepMagics(Magics):
    """``%sweep`` and ``%%sweep``: declare, run, watch and query sweeps from a notebook."""

    default_backend = Unicode(
        "", help="Backend for %%sweep run when --backend is not given (default: SWEEP_BACKEND)."
    ).tag(config=True)
    display_rows = Int(20, help="Rows of a result or query shown in the notebook.").tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self.last_run: Run | None = None

    # -- helpers ----------------------------------------------------------------------------

    def _interpolate(self, text: str, *, sql: bool = False) -> str:
        """Replaces ``{name}`` by a notebook variable; leaves other braces alone.

        In specs the value goes in as JSON (YAML reads it back). In SQL (``sql=True``) it goes
        in as a SQL literal — strings single-quoted with quotes doubled, lists as
        comma-separated literals for ``IN (...)`` — so no value can change the statement.
        """
        ns = self.shell.user_ns if self.shell is not None else {}

        def value(match: re.Match[str]) -> str:
            head, *attrs = match.group(1).split(".")
            if head not in ns:
                return match.group(0)
            obj = ns[head]
            for attr in attrs:
                obj = getattr(obj, attr)
            if hasattr(obj, "tolist"):
                obj = obj.tolist()
            if sql:
                return _sql_literal(obj, match.group(0))
            try:
                return json.dumps(obj)
            except TypeError:
                return str(obj)

        return _NAME.sub(value, text)

    def _show(self, frame: Any) -> None:
        import pandas as pd

        with pd.option_context("display.max_rows", self.display_rows):
            display(frame.head(self.display_rows) if len(frame) > self.display_rows else frame)
        if len(frame) > self.display_rows:
            print(f"({len(frame)} rows, first {self.display_rows} shown)")

    def _run_handle(self, run_id: str | None, root: str | None, cloud: bool = False) -> Run:
        if run_id:
            return open_run(run_id, root=root, cloud=cloud or load_config().backend == "cloud")
        if self.last_run is None:
            raise UsageError("no run yet in this session: give a run id")
        return self.last_run

    # -- the magic ----------------------------------------------------------------------------

    @magic_arguments()
    @argument("subcommand", choices=SUBCOMMANDS, help="what to do")
    @argument(
        "target",
        nargs="?",
        default=None,
        help="RUN id (status, cancel, resume), EXPERIMENT (editor) or NAME (kernel)",
    )
    @argument("-f", "--file", default=None, help="run: read the spec from this file")
    @argument("--backend", default=None, help="run/resume: local, ray or cloud")
    @argument("--cloud", action="store_true", help="run/query: use the cloud backend")
    @argument("--root", default=None, help="result root (default: SWEEP_ROOT or ./sweep-data)")
    @argument("--name", default=None, help="run: label for the run")
    @argument("--threads", type=int, default=None, help="run: worker threads (local)")
    @argument("--no-block", action="store_true", help="run/resume: return the live handle at once")
    @argument("-o", "--output", default=None, help="run: store the handle; query: the DataFrame")
    @line_cell_magic
    def sweep(self, line: str, cell: str | None = None) -> Any:
        """Declare, run, watch and query parameter sweeps (``%load_ext sweep_magic``).

        Examples::

            %sweep experiments
            %%sweep run -o run            (the cell body is the spec, YAML; {var} interpolates)
            %sweep run -f spec.yaml --backend ray --no-block
            %sweep status [RUN] / %sweep runs / %sweep cancel RUN / %sweep resume RUN
            %%sweep query -o df           (Athena-dialect SQL; table last_run = last results)
            %sweep config / %sweep editor gbm_option
            %sweep estimate -f spec.yaml  (predicted wall time and cost, local / ray / Lambda)
            %%sweep run --cloud           (the cloud backend; status/cancel/resume/query --cloud)
            %%sweep kernel NAME           (the cell is a Rust kernel: params, metrics, run)
        """
        head, _, rest = line.strip().partition(" ")
        if head == "estimate":
            # Its own options (cluster size, prices): parsed by the estimator.
            from .estimate import magic_main

            try:
                magic_main(rest, self._interpolate(cell) if cell else cell)
            except SweepError as exc:
                raise UsageError(str(exc)) from None
            return None
        opts = parse_argstring(self.sweep, line)
        handler = getattr(self, f"_cmd_{opts.subcommand}")
        try:
            return handler(opts, cell)
        except SweepError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"%sweep {opts.subcommand}: {exc}") from None

    def _cmd_experiments(self, opts: argparse.Namespace, cell: str | None) -> Any:
        import pandas as pd

        from .experiments import experiments

        rows = [
            {
                "experiment": e.name,
                "param": p.name,
                "type": p.type,
                "default": "required" if p.required else p.default,
                "bounds": p.bounds or ", ".join(p.choices),
                "unit": p.unit,
                "description": p.description,
            }
            for e in experiments()
            for p in e.params
        ]
        return pd.DataFrame(rows)

    def _cmd_run(self, opts: argparse.Namespace, cell: str | None) -> Any:
        if opts.file and cell and cell.strip():
            raise UsageError("%%sweep run: give the spec in the cell or with -f, not both")
        if opts.file:
            with open(opts.file, encoding="utf-8") as f:
                text = f.read()
            fmt = format_for_path(opts.file)
        elif cell and cell.strip():
            text, fmt = cell, "yaml"
        else:
            raise UsageError("%%sweep run: put the spec (YAML) in the cell body, or use -f FILE")
        spec = Spec.from_text(self._interpolate(text), fmt)
        if opts.name:
            spec = Spec({**spec.normalized, "name": opts.name})
        backend = "cloud" if opts.cloud else (opts.backend or self.default_backend or None)
        handle = run(spec, backend=backend, root=opts.root, threads=opts.threads)
        self._remember(handle)
        if opts.output and self.shell is not None:
            self.shell.user_ns[opts.output] = handle
        if opts.no_block:
            print(f"run {handle.run_id} started: {spec.points} points, {spec.shards} shards")
            return handle if not opts.output else None
        try:
            handle.wait(progress=True)
        except KeyboardInterrupt:
            st = handle.status()
            print(
                f"run {handle.run_id} interrupted: {st.shards_done}/{st.shards_total} shards kept; "
                f"%sweep resume {handle.run_id} finishes it"
            )
            return None
        st = handle.status()
        print(
            f"run {handle.run_id}: {st.state}, {st.rows_ok} rows ok, {st.rows_failed} failed, "
            f"{st.elapsed_s:.2f} s; results in {handle.results_location}"
        )
        self._show(handle.to_pandas())
        return None

    def _cmd_status(self, opts: argparse.Namespace, cell: str | None) -> Any:
        return self._run_handle(opts.target, opts.root, opts.cloud).status()

    def _cmd_runs(self, opts: argparse.Namespace, cell: str | None) -> Any:
        return runs(root=opts.root)

    def _cmd_cancel(self, opts: argparse.Namespace, cell: str | None) -> Any:
        handle = self._run_handle(opts.target, opts.root, opts.cloud)
        handle.cancel()
        print(f"cancel requested for run {handle.run_id}")

    def _cmd_resume(self, opts: argparse.Namespace, cell: str | None) -> Any:
        if not opts.target:
            raise UsageError("%sweep resume: give the RUN id")
        backend = "cloud" if opts.cloud else opts.backend
        handle = resume(opts.target, root=opts.root, backend=backend)
        self._remember(handle)
        if opts.no_block:
            return handle
        handle.wait(progress=True)
        return handle.status()

    def _cmd_query(self, opts: argparse.Namespace, cell: str | None) -> Any:
        from .query import query

        sql = (cell or "").strip()
        if not sql:
            raise UsageError("%%sweep query: put the SQL in the cell body")
        frame = query(
            self._interpolate(sql, sql=True),
            root=opts.root,
            last_run=self.last_run,
            cloud=opts.cloud or load_config().backend == "cloud",
        )
        if opts.output and self.shell is not None:
            self.shell.user_ns[opts.output] = frame
        self._show(frame)
        return None

    def _cmd_config(self, opts: argparse.Namespace, cell: str | None) -> Any:
        import pandas as pd

        config = load_config()
        keys = (
            "backend",
            "root",
            "api_url",
            "region",
            "s3_root",
            "athena_database",
            "athena_workgroup",
            "cloud_query",
            "threads",
            "max_points",
            "max_spec_bytes",
        )
        rows = [
            {"setting": key, "value": str(getattr(config, key)), "source": config.sources[key]}
            for key in keys
        ]
        return pd.DataFrame(rows)

    def _cmd_editor(self, opts: argparse.Namespace, cell: str | None) -> Any:
        if not opts.target:
            raise UsageError("%sweep editor: give the EXPERIMENT name")
        from .editor import editor

        return editor(opts.target, root=opts.root, on_run=self._remember)

    def _cmd_kernel(self, opts: argparse.Namespace, cell: str | None) -> Any:
        if not opts.target:
            raise UsageError("%%sweep kernel: give the kernel's NAME: %%sweep kernel NAME")
        if cell is None:
            raise UsageError(
                "%%sweep kernel is a cell magic: write the kernel's Rust items in the cell"
            )
        from .kernel_cells import compile_cell

        kernel = compile_cell(opts.target, cell)
        if kernel.warnings:
            print(kernel.warnings)
        print(kernel.summary())
        return None

    def _remember(self, handle: Run) -> None:
        self.last_run = handle
        if self.shell is not None:
            self.shell.user_ns["_sweep_last_run"] = handle


def load_ipython_extension(ipython: Any) -> None:
    """Registers the magics: ``%load_ext sweep_magic``."""
    ipython.register_magics(SweepMagics)
