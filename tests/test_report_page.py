"""The report judged in a minute (issue 34), in headless Chromium at 1 280 x 800: the first screen holds the verdict and the
headline table (ceiling, teacher, student), the page never scrolls sideways, and no header is a raw summary.json key. The page
is rendered by today's code from the main job's summary (tests/data/main_job_summary.json, written by `sam3m4 pipeline`: every
section filled, the widest real report there is), and from the same summary with every gate failing (the longest verdict line)."""
import importlib.util, json, sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jupyterlab_check import find_chromium

from sam3m4.report import write_summary

SUMMARY = Path(__file__).parent/"data"/"main_job_summary.json"

pytestmark = [pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (apt-get install chromium)"),
              pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright not installed (pip install -e '.[dev]')")]

def _page(tmp_path, change=None) -> Path:
    s = json.loads(SUMMARY.read_text())
    if change: change(s)
    from PIL import Image   # a mask grid twice the window's width: figures scale down, the page does not widen
    Image.new("RGB", (2560, 400), (200, 200, 200)).save(tmp_path/"mask_grid.png")
    write_summary(s, tmp_path)
    return tmp_path/"report.html"

def _check(html, shot):
    from report_page_check import check_report_page
    seen = check_report_page(html, shot)
    assert seen["verdict_on_first_screen"] and seen["headline_on_first_screen"], seen
    assert seen["headline_rows"][:3] == ["ground truth as teacher (ceiling)", "teacher", "student"], seen["headline_rows"]
    assert seen["scroll_width"] <= seen["client_width"] and not seen["wider_than_page"], seen
    assert seen["headers"] > 30 and seen["raw_headers"] == [], seen["raw_headers"]
    return seen

def test_main_job_report_first_screen(tmp_path):
    seen = _check(_page(tmp_path), tmp_path/"first_screen.png")
    assert seen["verdict"].startswith("Verdict: ") and ("gates pass" in seen["verdict"] or "gates fail" in seen["verdict"])

def test_every_gate_failing_still_fits(tmp_path):
    def fail_all(s):
        for g in s["gates"].values(): g["pass"] = False
        s["go"] = False
    seen = _check(_page(tmp_path, fail_all), tmp_path/"all_fail.png")
    n = len(json.loads(SUMMARY.read_text())["gates"])
    assert f"{n} of {n} gates fail" in seen["verdict"]
