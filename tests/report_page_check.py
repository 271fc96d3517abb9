"""The report as a reviewer first sees it: open a `report.html` in headless Chromium at a laptop's window (1280 x 800),
and measure what the first screen holds, whether the page scrolls sideways and which headers are raw summary.json keys.
Used by tests/test_report_page.py and runnable by hand on any report (it also saves a screenshot of the first screen):

    .venv/bin/python tests/report_page_check.py outputs/<date>_pipeline_eval/report.html --shot first_screen.png

Needs Chromium (Debian: `apt-get install chromium`) and the `playwright` Python package (dev extra)."""
from __future__ import annotations
import argparse, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from jupyterlab_check import CHROMIUM_FLAGS, find_chromium

_MEASURE = """() => {
  const h = window.innerHeight, seen = el => el && el.getBoundingClientRect().bottom <= h && el.getBoundingClientRect().top >= 0;
  const verdict = document.querySelector('.verdict'), first = document.querySelector('table');
  const rows = first ? [...first.querySelectorAll('tbody tr')].map(r => r.cells[0].innerText.trim()) : [];
  const heads = [...document.querySelectorAll('th')].map(t => t.innerText.trim());
  const wide = [...document.querySelectorAll('table, img')].filter(t => t.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
                 .map(t => t.tagName + ': ' + (t.previousElementSibling ? t.previousElementSibling.innerText : '').slice(0, 60));
  return {verdict: verdict ? verdict.innerText : null, verdict_on_first_screen: seen(verdict),
          headline_rows: rows, headline_on_first_screen: seen(first), first_h2_top: (document.querySelector('h2') || {getBoundingClientRect: () => ({top: null})}).getBoundingClientRect().top,
          scroll_width: document.documentElement.scrollWidth, client_width: document.documentElement.clientWidth,
          raw_headers: heads.filter(t => /^[a-z0-9]+(_[a-z0-9]+)+$/.test(t)), headers: heads.length, wider_than_page: wide};
}"""

def check_report_page(html: Path, shot: Path | None = None, width: int = 1280, height: int = 800) -> dict:
    "What a reviewer sees of `html` in a `width` x `height` window: the measures of `_MEASURE`, and a screenshot to `shot`."
    from playwright.sync_api import sync_playwright
    chromium = find_chromium()
    if chromium is None: raise RuntimeError("Chromium not found: apt-get install chromium (or set CHROMIUM=/path)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(Path(html).resolve().as_uri()); page.wait_for_load_state("load")
            seen = page.evaluate(_MEASURE)
            if shot: Path(shot).parent.mkdir(parents=True, exist_ok=True); page.screenshot(path=str(shot)); seen["screenshot"] = str(shot)
        finally: browser.close()
    return seen

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("html", type=Path); ap.add_argument("--shot", type=Path, default=None)
    a = ap.parse_args()
    print(json.dumps(check_report_page(a.html, a.shot), indent=1))
