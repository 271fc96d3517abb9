"""JupyterLab experience check: open notebooks in a real JupyterLab (headless Chromium), run them, use a widget,
and screenshot it. Used by tests/test_jupyterlab.py and runnable by hand:

    .venv/bin/python tests/jupyterlab_check.py nbs/41_visual_qa.ipynb --out outputs/jupyterlab

Needs Chromium (Debian: `apt-get install chromium`) and the `playwright` Python package (dev extra)."""
from __future__ import annotations
import argparse, json, os, shutil, socket, subprocess, sys, tempfile, time, urllib.request
from pathlib import Path

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]

def find_chromium() -> str | None:
    for c in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium")):
        if c and Path(c).exists(): return c
    return None

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

def start_lab(root: Path, token: str = "sam3m4") -> tuple[subprocess.Popen, str]:
    "Start `jupyter lab` serving `root`; returns (process, base url) once it answers."
    port = _free_port()
    exe = Path(sys.executable).parent/"jupyter"
    proc = subprocess.Popen([str(exe), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
                             f"--ServerApp.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.allow_root=True",
                             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
                            stdout=subprocess.DEVNULL, stderr=open(root/"jupyterlab.log", "w"))
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2); return proc, url
        except OSError: time.sleep(1)
    proc.kill(); raise RuntimeError(f"jupyter lab did not start; see {root/'jupyterlab.log'}")

def check_notebook(nb: Path, out: Path, cwd_files: list[Path] = (), timeout_s: int = 600,
                   interact: str | None = None) -> dict:
    """Open `nb` in JupyterLab, run all cells, wait for a rendered ipywidget, optionally run JS-free interaction
    (`interact`: CSS selector of a widget to click/change), screenshot to `out`. Returns what was seen."""
    from playwright.sync_api import sync_playwright
    chromium = find_chromium()
    if chromium is None: raise RuntimeError("Chromium not found: apt-get install chromium (or set CHROMIUM=/path)")
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as t:
        root = Path(t)
        for f in (nb, *cwd_files):
            dst = root/f.name
            shutil.copytree(f, dst) if f.is_dir() else shutil.copy(f, dst)
        proc, url = start_lab(root)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{url}/lab/tree/{nb.name}?token=sam3m4", timeout=120_000)
                page.wait_for_selector(".jp-Notebook", timeout=120_000)
                page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle'], .jp-Notebook .jp-Cell", timeout=120_000)
                time.sleep(3)   # let the kernel connect
                page.click("text=Run", timeout=30_000)
                page.click("text=Run All Cells", timeout=30_000)
                deadline = time.time() + timeout_s
                while time.time() < deadline:
                    busy = page.locator(".jp-InputArea-prompt:has-text('[*]')").count()
                    if busy == 0 and page.locator(".jp-InputArea-prompt:has-text('[1]')").count(): break
                    time.sleep(2)
                errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']:has-text('Traceback'), .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']").count()
                widgets = page.locator(".jp-OutputArea-output .widget-box, .jp-OutputArea-output .jupyter-widgets")
                widgets.first.wait_for(timeout=120_000)
                seen = {"notebook": nb.name, "widgets": widgets.count(), "errors": errors}
                widgets.first.scroll_into_view_if_needed()
                page.screenshot(path=str(out/f"{nb.stem}_before.png"), full_page=False)
                no_news = page.get_by_role("button", name="No", exact=True)
                if no_news.count() and no_news.first.is_visible(): no_news.first.click()   # the "Jupyter news?" toast
                outputs_text = lambda: page.locator(".jp-OutputArea-output").all_inner_texts()
                if interact:
                    before = outputs_text()
                    el = page.locator(interact).first
                    el.scroll_into_view_if_needed(); el.click()
                    for _ in range(2): page.keyboard.press("ArrowRight")
                    time.sleep(5)
                    seen["interacted"] = interact
                    seen["outputs_changed"] = outputs_text() != before
                    page.screenshot(path=str(out/f"{nb.stem}_after.png"), full_page=False)
                browser.close()
        finally:
            proc.terminate(); proc.wait(timeout=30)
    seen["screenshots"] = sorted(str(p) for p in out.glob(f"{nb.stem}_*.png"))
    return seen

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("notebook", type=Path); ap.add_argument("--out", type=Path, default=Path("outputs/jupyterlab"))
    ap.add_argument("--interact", default=".widget-slider .noUi-handle")
    a = ap.parse_args()
    print(json.dumps(check_notebook(a.notebook.resolve(), a.out, interact=a.interact)))
