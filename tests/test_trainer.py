"End-to-end tests of `sam3m4 train`: kill -9 and resume, torchrun (gloo, CPU) vs one process, CLI errors."
import json, os, subprocess, sys
from pathlib import Path

import pytest
import torch

from sam3m4.cli import main
from sam3m4.core import load_checkpoint
from sam3m4.world import make_world, TINY_WORLD

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")   # same threads everywhere: same float sums

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("world")/"w"; make_world(d, TINY_WORLD, progress=False); return d

def _train(*args) -> list[str]:
    return [sys.executable, "-m", "sam3m4.cli", "train", "--phase", "2", "--student", "tiny", "--device", "cpu", *map(str, args)]

def _params(ck) -> dict:
    sd, _, _ = load_checkpoint(ck)
    return {k: v for k, v in sd.items() if "running_" not in k and "num_batches_tracked" not in k}

def _assert_same(a: dict, b: dict, tol: float):
    assert a.keys() == b.keys()
    worst = max(float((a[k].float() - b[k].float()).abs().max()) for k in a)
    assert worst <= tol, f"largest parameter difference {worst:g} > {tol:g}"

@pytest.mark.slow
def test_sigkill_then_resume_equals_straight_run(world, tmp_path, kill_at_checkpoint):
    "A run killed with SIGKILL mid-training resumes from its newest checkpoint (≤ one interval lost) and ends where a straight run ends."
    common = ["--data", world, "--steps", 30, "--batch-size", 4, "--ckpt-every", 5, "--warmup", 3, "--val-samples", 4, "--json"]
    straight = subprocess.run(_train(*common, "--out", tmp_path/"straight"), capture_output=True, text=True, env=ENV, timeout=600)
    assert straight.returncode == 0, straight.stderr[-3000:]
    kill_at_checkpoint(_train(*common, "--out", tmp_path/"killed"), tmp_path/"killed"/"ckpt", 10, ENV, timeout=300)
    log = [json.loads(l) for l in (tmp_path/"killed"/"metrics.jsonl").read_text().splitlines() if l.strip()]
    done = max(r["step"] for r in log)
    assert done < 30, "killed too late to test anything"
    r = subprocess.run(_train(*common, "--out", tmp_path/"killed", "--resume"), capture_output=True, text=True, env=ENV, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    res = json.loads(r.stdout)
    assert res["steps"] == 30 and done - res["start"] <= 5, (done, res["start"])
    _assert_same(_params(tmp_path/"straight"/"ckpt"/"step_000030"), _params(tmp_path/"killed"/"ckpt"/"step_000030"), 1e-5)
    steps = [r["step"] for r in map(json.loads, (tmp_path/"killed"/"metrics.jsonl").read_text().splitlines()) if "split" not in r]
    assert steps == sorted(set(steps)), "the resumed log repeats steps"

@pytest.mark.slow
def test_torchrun_matches_accumulation(world, tmp_path):
    "torchrun --nproc_per_node 2 (gloo, CPU, 2 samples per rank) == one process with 2 micro-batches of 2 (same global batch)."
    common = ["--data", world, "--steps", 4, "--batch-size", 2, "--ckpt-every", 4, "--warmup", 2, "--val-samples", 4, "--json"]
    one = subprocess.run(_train(*common, "--accum", 2, "--out", tmp_path/"one"), capture_output=True, text=True, env=ENV, timeout=600)
    assert one.returncode == 0, one.stderr[-3000:]
    ddp = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "sam3m4.cli",
                          *_train(*common, "--out", tmp_path/"ddp")[3:]], capture_output=True, text=True, env=ENV, timeout=600)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    res = [json.loads(l) for l in ddp.stdout.splitlines() if l.startswith("{")]
    assert [r["world_size"] for r in res] == [2]                  # rank 0 alone answers
    st = json.loads((tmp_path/"ddp"/"ckpt"/"step_000004"/"state.json").read_text())
    assert st["data_position"] == 16 and st["sampler"]["world_size"] == 2
    _assert_same(_params(tmp_path/"one"/"ckpt"/"step_000004"), _params(tmp_path/"ddp"/"ckpt"/"step_000004"), 1e-5)

def test_cli_flags_and_errors(world, tmp_path, capsys):
    base = ["train", "--phase", "2", "--student", "tiny", "--device", "cpu", "--data", str(world), "--out", str(tmp_path/"r"),
            "--steps", "2", "--batch-size", "4", "--ckpt-every", "2", "--val-samples", "4", "--json"]
    capsys.readouterr()                                             # drop what fixtures printed
    assert main(base) in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == 2 and out["latest"].endswith("step_000002") and out["table"][0]["step"] == 2
    assert main(base) == 2                                          # checkpoints there: neither --resume nor --from-scratch
    err = json.loads(capsys.readouterr().out)["error"]
    assert "--resume" in err and "--from-scratch" in err
    assert main(base + ["--resume", "--from-scratch"]) == 2
    assert "exclude each other" in json.loads(capsys.readouterr().out)["error"]
    assert main(base + ["--resume"]) in (0, None)                   # already at its last step: nothing to do, same checkpoint
    out = json.loads(capsys.readouterr().out)
    assert (out["start"], out["steps"]) == (2, 2)
    assert main(base + ["--from-scratch"]) in (0, None)
    out = json.loads(capsys.readouterr().out)
    assert out["start"] == 0 and (Path(out["moved_aside"])/"ckpt"/"step_000002"/"state.json").is_file()
    assert main(base[:-1] + ["--student", "huge", "--out", str(tmp_path/"h"), "--json"]) == 2
    assert "unknown student config" in json.loads(capsys.readouterr().out)["error"]
    assert main(["train", "--phase", "2", "--data", str(tmp_path/"nowhere"), "--out", str(tmp_path/"x"), "--json"]) == 2
    assert "make-world" in json.loads(capsys.readouterr().out)["error"]

def test_resume_needs_a_checkpoint_and_refuses_a_tampered_trainer_state(world, tmp_path, capsys):
    """--resume on a folder with nothing to continue is a named error; a trainer.pt carrying a pickle payload (checksums updated to
    match) is refused by name — no traceback, no advice to turn the weights-only protection off — and the run resumes from the
    checkpoint before it."""
    base = ["train", "--phase", "2", "--student", "tiny", "--device", "cpu", "--data", str(world), "--out", str(tmp_path/"r"),
            "--steps", "4", "--batch-size", "4", "--ckpt-every", "2", "--val-samples", "4", "--json"]
    capsys.readouterr()
    assert main(base + ["--resume"]) == 2
    assert "nothing to continue" in json.loads(capsys.readouterr().out)["error"]
    assert main(base) in (0, None); capsys.readouterr()
    ck = tmp_path/"r"/"ckpt"/"step_000004"
    class Payload:
        def __reduce__(self): return (os.system, (f"touch {tmp_path/'pwned'}",))
    torch.save({"optimizer": {}, "x": Payload()}, ck/"trainer.pt")
    st = json.loads((ck/"state.json").read_text())
    from sam3m4.core import sha256_file
    st["checksums"]["trainer.pt"] = sha256_file(ck/"trainer.pt"); (ck/"state.json").write_text(json.dumps(st))
    assert main(base + ["--resume"]) in (0, None)
    cap = capsys.readouterr(); out = json.loads(cap.out)
    assert out["start"] == 2 and out["steps"] == 4, out                    # fell back to step 2 and redid steps 3-4
    assert "trainer.pt: refused" in cap.err and "weights_only" not in cap.err and "Traceback" not in cap.err
    assert not (tmp_path/"pwned").exists()

@pytest.mark.slow
def test_torchrun_from_sa1b_tar_shards_resumes_exactly(world, tmp_path):
    "Two gloo ranks train phase 2 from SA-1B tar shards read in place; resumed from step 2's checkpoint == 4 straight (issue 33)."
    import shutil, tarfile
    (tmp_path/"shards").mkdir()
    for k, ids in enumerate([range(1, 7), range(7, 13)]):               # the world's SA-1B folder as two shards
        with tarfile.open(tmp_path/"shards"/f"sa_{k:06d}.tar", "w") as tf:
            for i in ids:
                for ext in ("jpg", "json"): tf.add(world/"sa1b"/f"sa_{i}.{ext}", arcname=f"sa_{i}.{ext}")
    def ddp(steps, out, *extra):
        args = _train("--data", tmp_path/"shards", "--batch-size", 2, "--ckpt-every", 2, "--warmup", 1, "--val-samples", 2,
                      "--steps", steps, "--out", out, "--json", *extra)[3:]
        p = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "sam3m4.cli", *args],
                           capture_output=True, text=True, env=ENV, timeout=900)
        assert p.returncode == 0, p.stderr[-3000:]
        return json.loads(p.stdout)
    ddp(4, tmp_path/"straight")
    shutil.copytree(tmp_path/"straight", tmp_path/"resumed")
    shutil.rmtree(tmp_path/"resumed"/"ckpt"/"step_000004")             # as if stopped after step 2's checkpoint
    r = ddp(4, tmp_path/"resumed", "--resume")
    assert (r["start"], r["steps"]) == (2, 4)
    _assert_same(_params(tmp_path/"straight"/"ckpt"/"step_000004"), _params(tmp_path/"resumed"/"ckpt"/"step_000004"), 1e-6)
