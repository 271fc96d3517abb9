"Shared pytest setup: the `slow` marker, the repo paths the end-to-end tests use, a CLI runner and a kill-at-checkpoint helper."
import os, signal, subprocess, sys, time
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

@pytest.fixture
def kill_at_checkpoint():
    "Start a training command and SIGKILL it as soon as `ckpt_dir/latest` names `step` or a later checkpoint."
    def run(cmd, ckpt_dir: Path, step: int, env: dict, timeout: float = 600):
        p = subprocess.Popen(list(map(str, cmd)), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        latest, t0 = Path(ckpt_dir)/"latest", time.time()
        while not (latest.is_file() and latest.read_text() >= f"step_{step:06d}") and time.time() - t0 < timeout:
            assert p.poll() is None, "the run ended before it could be killed"
            time.sleep(0.02)
        p.send_signal(signal.SIGKILL); p.wait()
    return run
