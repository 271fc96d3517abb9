"End-to-end: `sam3m4 train --phase video` on the tiny world (train, resume, J&F, merged checkpoint)."
import json
from pathlib import Path
import pytest

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
