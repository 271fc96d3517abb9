"Shared pytest setup: the `slow` marker and the repo paths the end-to-end tests use."
import os, subprocess, sys
from pathlib import Path
import pytest

REPO = Path(__file__).resolve().parents[1]

def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes minutes (lowering, real-size models); run in CI, skip with -m 'not slow'")

@pytest.fixture
def run_cli(tmp_path):
    "Run `python -m sam3m4.cli ARGS` in a subprocess; returns the CompletedProcess (text)."
    def run(*args, check=False, timeout=900, cwd=None):
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        p = subprocess.run([sys.executable, "-m", "sam3m4.cli", *map(str, args)], capture_output=True,
                           text=True, timeout=timeout, cwd=cwd or tmp_path, env=env)
        if check and p.returncode != 0:
            raise AssertionError(f"sam3m4 {' '.join(map(str, args))} exited {p.returncode}\nstdout:\n{p.stdout}\nstderr:\n{p.stderr}")
        return p
    return run
