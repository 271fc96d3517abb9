"End-to-end: `sam3m4 train --phase video` on the tiny world (train, resume, kill -9 and resume, J&F, merged checkpoint)."
import json, os, subprocess, sys
import pytest

from sam3m4.core import load_checkpoint

def test_train_video_cli_tiny_world(tmp_path, run_cli):
    run_cli("data", "make-world", tmp_path/"w", "--tiny", check=True)
    args = ["train", "--phase", "video", "--data", tmp_path/"w", "--out", tmp_path/"v", "--student", "tiny",
            "--steps", "2", "--batch-size", "2", "--ckpt-every", "1", "--device", "cpu", "--json"]
    p = run_cli(*args, check=True)
    r = json.loads(p.stdout)
    assert r["steps"] == 2 and 0 <= r["jf_tracker"] <= 1 and 0 <= r["jf_per_frame"] <= 1 and r["objects"] > 0
    assert (tmp_path/"v"/"merged"/"state.json").is_file()
    assert json.loads((tmp_path/"v"/"merged"/"state.json").read_text())["kind"] == "merged"
    s = json.loads((tmp_path/"v"/"video.json").read_text())
    assert {"jf_tracker", "jf_per_frame"} <= set(s)
    # a folder with checkpoints is refused without --resume; with it, more steps continue from the latest checkpoint
    args[args.index("--steps") + 1] = "3"
    p = run_cli(*args)
    assert p.returncode == 2 and "--resume" in json.loads(p.stdout)["error"]
    p = run_cli(*args, "--resume", check=True)
    assert (json.loads(p.stdout)["start"], json.loads(p.stdout)["steps"]) == (2, 3)

def test_video_teacher_refused(tmp_path, run_cli):
    run_cli("data", "make-world", tmp_path/"w", "--tiny", check=True)
    p = run_cli("train", "--phase", "video", "--data", tmp_path/"w", "--out", tmp_path/"v", "--student", "tiny",
                "--teacher", tmp_path/"sam3", "--steps", "1", "--device", "cpu", "--json")
    assert p.returncode == 2 and "video predictor" in json.loads(p.stdout)["error"]

def _video_train(data, out, *extra):
    return [sys.executable, "-m", "sam3m4.cli", "train", "--phase", "video", "--data", str(data), "--out", str(out), "--student", "tiny",
            "--steps", "12", "--batch-size", "2", "--ckpt-every", "3", "--device", "cpu", "--json", *extra]

def _weights(ck) -> dict:
    sd, _, _ = load_checkpoint(ck)
    return {k: v for k, v in sd.items() if "running_" not in k and "num_batches_tracked" not in k}

@pytest.mark.slow
def test_video_sigkill_resume_is_exact_and_skips_a_corrupt_checkpoint(tmp_path, run_cli, kill_at_checkpoint):
    """`train --phase video` killed with SIGKILL, its newest checkpoint then corrupted on disk, resumes from the one before
    (checksum fallback, said on stderr) and ends with the weights of a straight run: the video loop is the phase-2 engine."""
    run_cli("data", "make-world", tmp_path/"w", "--tiny", check=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")   # same threads everywhere: same float sums
    straight = subprocess.run(_video_train(tmp_path/"w", tmp_path/"straight"), capture_output=True, text=True, env=env, timeout=900)
    assert straight.returncode == 0, straight.stderr[-3000:]
    kill_at_checkpoint(_video_train(tmp_path/"w", tmp_path/"killed"), tmp_path/"killed"/"ckpt", 6, env)
    latest = tmp_path/"killed"/"ckpt"/"latest"
    newest = tmp_path/"killed"/"ckpt"/latest.read_text().strip()
    assert newest.name < "step_000012", "killed too late to test anything"
    weights = next(f for f in newest.iterdir() if f.suffix == ".safetensors")
    data = bytearray(weights.read_bytes()); data[-1] ^= 0xFF; weights.write_bytes(bytes(data))   # a bit flipped on disk
    r = subprocess.run(_video_train(tmp_path/"w", tmp_path/"killed", "--resume"), capture_output=True, text=True, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert f"refusing checkpoint {newest.name}" in r.stderr
    assert res["steps"] == 12 and res["start"] == int(newest.name.split("_")[1]) - 3, (newest.name, res["start"])
    a, b = _weights(tmp_path/"straight"/"ckpt"/"step_000012"), _weights(tmp_path/"killed"/"ckpt"/"step_000012")
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst <= 1e-5, f"largest parameter difference {worst:g}"
