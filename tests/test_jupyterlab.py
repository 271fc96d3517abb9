"""JupyterLab experience check: the visual QA notebook opened in a real JupyterLab (headless Chromium), run,
its explorer widget used (image slider moved), and screenshots taken. Skips, saying why, where Chromium or
playwright is missing (`.ci/run` installs Chromium when it can)."""
import importlib.util, sys
from pathlib import Path
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from jupyterlab_check import check_notebook, find_chromium

REPO = Path(__file__).resolve().parents[1]

@pytest.mark.slow
@pytest.mark.skipif(find_chromium() is None, reason="Chromium not installed (apt-get install chromium)")
@pytest.mark.skipif(importlib.util.find_spec("playwright") is None, reason="playwright not installed (pip install -e '.[dev]')")
def test_visual_qa_explorer_in_jupyterlab(tmp_path):
    seen = check_notebook(REPO/"nbs"/"41_visual_qa.ipynb", tmp_path/"shots", interact=".widget-slider .noUi-handle", timeout_s=600)
    assert seen["errors"] == 0, seen
    assert seen["widgets"] >= 1 and seen["outputs_changed"], seen      # moving the slider redrew the overlay
    assert len(seen["screenshots"]) == 2 and all(Path(p).stat().st_size > 10_000 for p in seen["screenshots"])
