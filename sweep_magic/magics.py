"""IPython magics: ``%load_ext sweep_magic``, then ``%sweep`` / ``%%sweep``.

A thin layer over the Python API. Subcommands::

    %sweep experiments                     experiments and their parameters, as a DataFrame
    %%sweep run [options]                  the cell body is the spec (YAML); {name} interpolates
    %sweep run -f spec.yaml [options]        a variable from the notebook's namespace
    %sweep status [RUN]                    progress of RUN (default: the last run)
    %sweep runs                            every run under the root
    %sweep cancel RUN / %sweep resume RUN
    %sweep retry [RUN] [--error-kind K]    compute the failed rows again, into the same run
    %%sweep query [-o VAR]                 Athena-dialect SQL; table ``last_run`` = last results
    %sweep query [-o VAR] SQL...            the same on one line (options before the SQL)
    %sweep config                          effective configuration and where each value came from
    %sweep editor EXPERIMENT               a widget form that builds and runs a spec
    %sweep estimate -f SPEC / %%sweep estimate   predicted time and cost: local, ray, Lambda
    %%sweep kernel NAME                    the cell body is a Rust kernel: built, loaded as NAME

``--cloud`` sends ``run`` to the cloud backend (``SWEEP_API_URL``), makes ``status``, ``cancel``
and ``resume`` address cloud runs, and runs ``query`` on Athena (or on DuckDB over the S3
objects with ``SWEEP_CLOUD_QUERY=duckdb``, as in the local emulation).

Options of ``run``: ``--backend local|ray|cloud``, ``--cloud``, ``--root R``, ``--name N``,
``--no-block`` (return the live handle at once), ``-o VAR`` (store the handle in VAR),
``--threads N``, ``--max-failures N`` and ``--max-failure-rate R`` (the failure threshold,
over the spec's own). A mistake (bad spec, unknown run, bad flag, a ``{name}`` naming no variable)
is one line, no traceback; ``%sweep run --help`` prints every option.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from IPython.display import display
from traitlets import Int, Unicode

from .cli import name_the_root, plural, threads_option, with_threshold
from .config import load_config
from .errors import RunNotFoundError, SweepError
from .run import Run, open_run, resume, run, runs
from .spec import Spec, format_for_path

__all__ = ["SweepMagics", "load_ipython_extension"]

_NAME = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\}")
# The options `%sweep query` takes before its SQL.
_QUERY_OPTION = re.compile(r"\s*(?:(?:-o|--output|--root)(?:\s+|=)\S+|--cloud)(?=\s|$)")


SUBCOMMANDS = (
    "experiments",
    "run",
    "status",
    "runs",
    "cancel",
    "resume",
    "retry",
    "query",
    "config",
    "editor",
    "estimate",
    "kernel",
)


def _read_spec_file(path: str) -> str:
    """The text of spec file ``path``, or a one-line :class:`UsageError` saying why not."""
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            return f.read()
    except FileNotFoundError:
        raise UsageError(f"spec file {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"cannot read spec file {path}: {reason}") from None


def _path_of(node: Any, marker: str, path: str) -> str | None:
    """Field path (``params.strike``, ``zip[0].s0``) of the first value containing ``marker``
    in a parsed YAML document, or None."""
    if isinstance(node, str):
        return path if marker in node else None
    if isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            if marker in str(key):
                return child
            found = _path_of(value, marker, child)
            if found is not None:
                return found
    if isinstance(node, list):
        for i, value in enumerate(node):
            found = _path_of(value, marker, f"{path}[{i}]")
            if found is not None:
                return found
    return None


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
        # The last run lives on in the user's namespace, so `%reload_ext sweep_magic` (a new
        # instance of this class) still knows it.
        kept = shell.user_ns.get("_sweep_last_run") if shell is not None else None
        self.last_run: Run | None = kept if isinstance(kept, Run) else None

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
                if not hasattr(obj, attr):
                    raise UsageError(f"{match.group(0)}: {head} has no attribute {attr!r}")
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

    def _spec_text(self, text: str) -> str:
        """Spec text with the notebook's variables put in (:meth:`_interpolate`).

        A ``{name}`` that names no variable would reach the validator as a YAML mapping
        (``{strikez: null}``) and be reported as an unknown form: it is reported here instead,
        with the field it stands in. Braces in comments are left alone.
        """
        ns = self.shell.user_ns if self.shell is not None else {}
        filled = self._interpolate(text)
        undefined = sorted(
            {m.group(0) for m in _NAME.finditer(filled) if m.group(1).split(".")[0] not in ns}
        )
        if not undefined:
            return filled
        try:
            import yaml  # type: ignore[import-untyped,unused-ignore]
        except ImportError:  # pyyaml comes with the [jupyter] extra; without it, no check
            return filled
        markers = {f"__sweep_undefined_{i}__": name for i, name in enumerate(undefined)}
        marked = filled
        for marker, name in markers.items():
            marked = marked.replace(name, marker)
        try:
            document = yaml.safe_load(marked)
        except yaml.YAMLError:
            return filled  # the validator names the syntax error
        for marker, name in markers.items():
            path = _path_of(document, marker, "")
            if path is not None:
                variable = name.strip("{}").split(".")[0]
                where = f"{path}: " if path else ""
                raise UsageError(
                    f"{where}{variable} is not defined in the notebook (in {name}); define it "
                    "in a cell above, or check its spelling"
                )
        return filled

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
        help="RUN id (status, cancel, resume, retry), EXPERIMENT (editor) or NAME (kernel)",
    )
    @argument("-f", "--file", default=None, help="run: read the spec from this file")
    @argument("--backend", default=None, help="run/resume: local, ray or cloud")
    @argument("--cloud", action="store_true", help="run/query: use the cloud backend")
    @argument("--root", default=None, help="result root (default: SWEEP_ROOT or ./sweep-data)")
    @argument("--name", default=None, help="run: label for the run")
    @argument(
        "--threads", type=threads_option, default=None, help="run: worker threads, 0 = all cores"
    )
    @argument(
        "--max-failures",
        type=int,
        default=None,
        help="run: stop (state failed) once more than N rows have failed",
    )
    @argument(
        "--max-failure-rate",
        type=float,
        default=None,
        help="run: stop once more than this fraction of the rows have failed, in (0, 1]",
    )
    @argument(
        "--error-kind",
        dest="error_kinds",
        action="append",
        default=None,
        help="retry: only failed rows of this error_kind (repeatable; default every kind)",
    )
    @argument(
        "--no-block", action="store_true", help="run/resume/retry: return the live handle at once"
    )
    @argument("-o", "--output", default=None, help="run: store the handle; query: the DataFrame")
    @line_cell_magic
    def sweep(self, line: str, cell: str | None = None) -> Any:
        """Declare, run, watch and query parameter sweeps (``%load_ext sweep_magic``).

        Examples::

            %sweep experiments
            %%sweep run -o run            (the cell body is the spec, YAML; {var} interpolates)
            %sweep run -f spec.yaml --backend ray --no-block
            %sweep status [RUN] / %sweep runs / %sweep cancel RUN / %sweep resume RUN
            %sweep retry [RUN] [--error-kind TimeoutError]   (failed rows again, same run)
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
                magic_main(rest, self._spec_text(cell) if cell else cell)
            except SweepError as exc:
                raise UsageError(str(exc)) from None
            return None
        if head == "query":
            # The rest of the line is SQL, quotes and all: only leading options are parsed.
            opts, sql = self._query_line(rest)
            if sql in ("-h", "--help"):
                print(self.sweep.parser.format_help())
                return None
            if sql and cell is not None and cell.strip():
                raise UsageError("%%sweep query: give the SQL on the line or in the cell, not both")
            cell = sql or cell
        elif {"-h", "--help"} & set(line.split()):
            print(self.sweep.parser.format_help())
            return None
        else:
            opts = parse_argstring(self.sweep, line)
        handler = getattr(self, f"_cmd_{opts.subcommand}")
        try:
            return handler(opts, cell)
        except RunNotFoundError as exc:
            cloud = bool(opts.cloud) or load_config().backend == "cloud"
            raise UsageError(str(name_the_root(exc, opts.root, cloud))) from None
        except SweepError as exc:
            raise UsageError(str(exc)) from None
        except OSError as exc:
            raise UsageError(f"%sweep {opts.subcommand}: {exc}") from None

    def _query_line(self, rest: str) -> tuple[argparse.Namespace, str]:
        """Options and SQL of ``%sweep query [-o VAR] [--root R] [--cloud] SQL...``: the
        options come first; everything after them is the SQL, exactly as written."""
        pos = 0
        while match := _QUERY_OPTION.match(rest, pos):
            pos = match.end()
        return parse_argstring(self.sweep, "query " + rest[:pos]), rest[pos:].strip()

    def _cmd_experiments(self, opts: argparse.Namespace, cell: str | None) -> Any:
        from .experiments import experiments

        return experiments().to_pandas()

    def _cmd_run(self, opts: argparse.Namespace, cell: str | None) -> Any:
        if opts.file and cell and cell.strip():
            raise UsageError("%%sweep run: give the spec in the cell or with -f, not both")
        if opts.file:
            text = _read_spec_file(opts.file)
            fmt = format_for_path(opts.file)
        elif cell and cell.strip():
            text, fmt = cell, "yaml"
        else:
            raise UsageError("%%sweep run: put the spec (YAML) in the cell body, or use -f FILE")
        spec = Spec.from_text(self._spec_text(text), fmt)
        if opts.name:
            spec = Spec({**spec.normalized, "name": opts.name})
        spec = with_threshold(spec, opts.max_failures, opts.max_failure_rate)
        backend = "cloud" if opts.cloud else (opts.backend or self.default_backend or None)
        handle = run(spec, backend=backend, root=opts.root, threads=opts.threads)
        self._remember(handle)
        if opts.output and self.shell is not None:
            self.shell.user_ns[opts.output] = handle
        if opts.no_block:
            print(
                f"run {handle.run_id} started: {plural(spec.points, 'point')}, "
                f"{plural(spec.shards, 'shard')}"
            )
            return handle if not opts.output else None
        from .live_plot import shown_while_running

        try:
            # A plot of the results that fills in as shards complete (text in a terminal).
            with shown_while_running(handle, self.shell):
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
        if handle.status().state == "complete":
            print(f"run {handle.run_id} is already complete: nothing to cancel")
            return
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

    def _cmd_retry(self, opts: argparse.Namespace, cell: str | None) -> Any:
        from .run import retry_failed

        target = self._run_handle(opts.target, opts.root, opts.cloud)
        in_folder = isinstance(target.root, Path)
        backend = opts.backend if in_folder and not opts.cloud else "cloud"
        handle = retry_failed(
            target.run_id,
            opts.error_kinds or [],
            root=target.root if in_folder else None,
            backend=backend,
            threads=opts.threads,
        )
        self._remember(handle)
        if opts.no_block:
            return handle
        handle.wait(progress=True)
        if in_folder:
            record = handle.retries()[-1]
            retried, recovered = record["rows_retried"] or 0, record["rows_recovered"] or 0
            print(
                f"retry {record['attempt']} of run {handle.run_id}: "
                f"{plural(retried, 'row')} retried, {recovered:,} recovered, "
                f"{retried - recovered:,} failed again"
            )
        return handle.status()

    def _cmd_query(self, opts: argparse.Namespace, cell: str | None) -> Any:
        import difflib

        from .query import QueryError, query

        sql = (cell or "").strip()
        if not sql:
            raise UsageError("%%sweep query: put the SQL in the cell body")
        text = self._interpolate(sql, sql=True)
        try:
            frame = query(
                text,
                root=opts.root,
                last_run=self.last_run,
                cloud=opts.cloud or load_config().backend == "cloud",
            )
        except QueryError as err:
            # A {name} still in the SQL names a notebook variable that does not exist: say so
            # first, since it is the likely cause of the failure.
            ns = self.shell.user_ns if self.shell is not None else {}
            names = [n for n in ns if not n.startswith("_")]
            hints: dict[str, None] = {}
            for match in _NAME.finditer(text):
                head = match.group(1).split(".")[0]
                if head not in ns:
                    close = difflib.get_close_matches(head, names, n=1)
                    guess = f"; did you mean {{{close[0]}}}?" if close else ""
                    hints[f"notebook variable {{{head}}} is not defined{guess}"] = None
            if not hints:
                raise
            raise QueryError("\n".join([*hints, str(err)])) from None
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
