"""The editor in a real browser: JupyterLab on loopback, headless Chromium driven by
Playwright. Opens 02_editor, runs it, edits parameters in the widget, clicks Run, watches the
live plot beside the table redraw while shards complete, and waits for the progress bar to
finish and the result table to render. Saves screenshots (the page, and the live plot).

Without Chromium the test skips on a developer's machine, but fails under CI (``CI`` set) and
under scripts/test.sh (which sets ``SWEEP_REQUIRE_BROWSER=1``): there a missing browser is a
broken environment, not a reason to report success."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Monte Carlo paths per row in the clicked run: about a second per row on one core here
#: (10 rows on two threads: about 5 s to watch).
PATHS = 100_000_000
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"

pytestmark = pytest.mark.browser


_REQUIRED_BY = ("CI", "SWEEP_REQUIRE_BROWSER")


def _browser_required() -> bool:
    return any(os.environ.get(k, "").strip() not in ("", "0", "false") for k in _REQUIRED_BY)


@pytest.fixture(autouse=True)
def _chromium() -> None:
    if os.path.exists(CHROMIUM):
        return
    why = f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    if _browser_required():
        pytest.fail(f"{why}; the browser test is required here ({' or '.join(_REQUIRED_BY)} set)")
    pytest.skip(why)


KERNEL_IDLE = """() => {
    const w = window.jupyterapp.shell.currentWidget;
    const kernel = w && w.sessionContext && w.sessionContext.session
        && w.sessionContext.session.kernel;
    return !!kernel && kernel.status === 'idle';
}"""

# A prompt shows "[*]" while a cell runs and "[n]" once it has run.
CELL_STARTED = """() => Array.from(document.querySelectorAll('.jp-InputPrompt'))
    .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""


# The live plot's current image: its bytes' SHA-256 (the src is a blob: URL, new per draw),
# size, and the caption beside it ("k of n rows").
LIVE_PLOT = """async () => {
    const img = document.querySelector('.jp-OutputArea img.sweep-live-plot');
    if (!img || !img.src) return null;
    const box = img.closest('.sweep-live');
    const caption = box ? box.innerText : '';
    try {
        const bytes = await (await fetch(img.src)).arrayBuffer();
        if (bytes.byteLength === 0) return null;
        const digest = await crypto.subtle.digest('SHA-256', bytes);
        const hex = [...new Uint8Array(digest)].map(b => b.toString(16).padStart(2, '0')).join('');
        return {digest: hex, size: bytes.byteLength, caption: caption};
    } catch (e) {
        return null;  // replaced (and revoked) between reading src and fetching it
    }
}"""


def _rows_shown(caption: str) -> tuple[int, int] | None:
    found = re.search(r"([\d,]+) of ([\d,]+) rows", caption)
    if found is None:
        return None
    return int(found.group(1).replace(",", "")), int(found.group(2).replace(",", ""))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    work = tmp_path / "lab"
    work.mkdir()
    shutil.copy(REPO / "notebooks" / "02_editor.ipynb", work)
    root = tmp_path / "results"
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "SWEEP_ROOT": str(root),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
        # Two worker threads whatever the machine: the clicked run's 10 shards finish in
        # waves, so the live plot has partial results to draw on any number of cores.
        "SWEEP_THREADS": "2",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={work}",
            "--LabApp.expose_app_in_browser=True",
            "--ServerApp.allow_root=True",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise AssertionError("JupyterLab did not start") from None
            time.sleep(0.5)
    try:
        yield f"{base}/lab/tree/02_editor.ipynb?token={token}", root
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_editor_runs_from_a_click_in_jupyterlab(lab: tuple[str, Path]) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    url, root = lab
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1800})
        try:
            page.goto(url)
            page.wait_for_selector(".jp-Notebook", timeout=60_000)
            page.wait_for_function("window.jupyterapp !== undefined", timeout=60_000)
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator, .jp-KernelStatus", timeout=60_000
            )
            # "Run all" before the kernel is up runs nothing (seen on a loaded machine): wait
            # for the notebook's kernel to be idle, and ask again until a cell has started.
            page.wait_for_function(KERNEL_IDLE, timeout=120_000)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
                try:
                    page.wait_for_function(CELL_STARTED, timeout=15_000)
                    break
                except PlaywrightTimeout:
                    continue
            # The notebook's own programmatic run finishes first: one run on disk.
            while len(list(root.glob("runs/*/shards"))) < 1 and time.monotonic() < deadline:
                time.sleep(0.5)
            run_button = page.locator(".jp-OutputArea button.widget-button", has_text="Run").first
            run_button.wait_for(timeout=60_000)
            page.wait_for_function(
                "document.querySelectorAll("
                "'.jp-OutputArea .widget-hprogress .progress-bar-success').length > 0",
                timeout=120_000,
            )
            # Edit parameters as a user would: replicates 3 -> 1, and enough Monte Carlo paths
            # per row (about a second each) that the run lasts long enough to watch; then
            # click Run.
            replicates = (
                page.locator(".jp-OutputArea .widget-inline-hbox", has_text="replicates")
                .locator("input")
                .first
            )
            replicates.fill("1")
            replicates.press("Enter")
            paths = page.locator(".jp-OutputArea .widget-hbox", has_text="paths").locator("input")
            paths.first.fill(str(PATHS))
            paths.first.press("Enter")
            # The form re-estimates (timing three rows) before the YAML shows the new value.
            page.wait_for_function(
                "[...document.querySelectorAll('.jp-OutputArea textarea')]"
                f".some(t => t.value.includes('paths: {PATHS}'))",
                timeout=120_000,
            )
            runs_before = set(root.glob("runs/*"))
            run_button.click()
            deadline = time.monotonic() + 120
            new_runs: set[Path] = set()
            while time.monotonic() < deadline and not new_runs:
                new_runs = set(root.glob("runs/*")) - runs_before
                time.sleep(0.2)
            assert new_runs, "clicking Run started no run"
            (new_run,) = new_runs
            manifest = json.loads((new_run / "manifest.json").read_text())
            assert manifest["spec"]["replicates"] == 1
            assert manifest["spec"]["params"]["paths"] == PATHS
            total = manifest["plan"]["rows"]
            # Watch the live plot while the run goes: every distinct image, with its caption.
            progress_done = (
                "() => [...document.querySelectorAll("
                "'.jp-OutputArea .widget-hprogress .progress-bar')]"
                ".some(b => b.style.width === '100%'"
                " && b.classList.contains('progress-bar-success'))"
            )
            draws: dict[str, tuple[int, int] | None] = {}
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                seen = page.evaluate(LIVE_PLOT)
                if seen is not None:
                    draws.setdefault(seen["digest"], _rows_shown(seen["caption"]))
                if page.evaluate(progress_done) and any(
                    shown == (total, total) for shown in draws.values()
                ):
                    break
                time.sleep(0.15)
            page.wait_for_function(progress_done, timeout=120_000)
            partial = {d: shown for d, shown in draws.items() if shown and 0 < shown[0] < total}
            assert len(partial) >= 2, f"fewer than two draws during the run: {draws}"
            assert len({shown[0] for shown in partial.values()}) >= 2, draws
            assert (total, total) in draws.values(), draws
            print(f"live plot: {len(partial)} draws during the run, {len(draws)} in all")
            # The result table of the new run: 10 points x 1 replicate.
            page.wait_for_function(
                "(() => { const t = [...document.querySelectorAll("
                "'.jp-OutputArea .widget-output table')];"
                " return t.length === 1 && t[0].querySelectorAll('tbody tr').length === 10; })()",
                timeout=60_000,
            )
            marker_count = len(list((new_run / "shards").glob("*.json")))
            assert marker_count == manifest["plan"]["shards"]
            # The plot sits beside the table, and its dropdown switches the metric.
            live = page.locator(".jp-OutputArea .sweep-live").first
            live.screenshot(path=str(ARTIFACTS / "live_plot.png"))
            before = page.evaluate(LIVE_PLOT)
            assert before is not None
            live.locator("select").first.select_option("std_error")
            deadline = time.monotonic() + 60
            after = before
            while time.monotonic() < deadline and after["digest"] == before["digest"]:
                time.sleep(0.2)
                after = page.evaluate(LIVE_PLOT) or before
            assert after["digest"] != before["digest"], "switching the metric did not redraw"
            assert _rows_shown(after["caption"]) == (total, total)
        except Exception:
            html = page.evaluate(
                "[...document.querySelectorAll('.jp-OutputArea .widget-hprogress')]"
                ".map(e => e.outerHTML).join('\\n')"
            )
            (ARTIFACTS / "progress.html").write_text(html)
            raise
        finally:
            page.screenshot(path=str(ARTIFACTS / "editor.png"), full_page=True)
            browser.close()
