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
    assert {"jf_tracker", "jf_per_frame"} <= set(s) and s["teacher"] == s["source"] == r["teacher"] == "annotation-teacher(sa-v masklets)"
    # a folder with checkpoints is refused without --resume; with it, more steps continue from the latest checkpoint
    args[args.index("--steps") + 1] = "3"
    p = run_cli(*args)
    assert p.returncode == 2 and "--resume" in json.loads(p.stdout)["error"]
    p = run_cli(*args, "--resume", check=True)
    assert (json.loads(p.stdout)["start"], json.loads(p.stdout)["steps"]) == (2, 3)

def test_video_teacher_missing_folder(tmp_path, run_cli):
    "A SAM 3 video teacher that is not there: exit 2, the path and the fix in the error (the teacher itself: test_video_teacher.py)."
    run_cli("data", "make-world", tmp_path/"w", "--tiny", check=True)
    p = run_cli("train", "--phase", "video", "--data", tmp_path/"w", "--out", tmp_path/"v", "--student", "tiny",
                "--teacher", tmp_path/"sam3", "--steps", "1", "--device", "cpu", "--json")
    err = json.loads(p.stdout)["error"]
    assert p.returncode == 2 and str(tmp_path/"sam3") in err and "SAM 3 not found" in err, err

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

@pytest.mark.slow
def test_step_tracker_on_xnnpack_pte_follows_tracker(tmp_path):
    "tracker.pte (init / predict / commit lowered with XNNPACK, one program) driven by `StepTracker` gives `Tracker`'s ids, events and masks."
    pytest.importorskip("executorch")
    import torch
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import to_edge_transform_and_lower
    from executorch.runtime import Runtime
    from sam3m4.layers import mask_iou
    from sam3m4.tracker import STEP_OUTPUTS, StepTracker, Tracker, TrackerConfig, oracle_video_student, step_programs, synthetic_clip
    torch.manual_seed(0)
    clip = synthetic_clip(T=8, S=64, speed=1.0, appear_at=4); vs = oracle_video_student(clip)
    with torch.no_grad():
        for p in vs.memory.parameters(): p.add_(torch.randn_like(p) * 0.02)
    progs = step_programs(vs.memory, 64, (4, 4), 4)
    eps = {k: torch.export.export(m, ins, strict=False) for k, (m, ins) in progs.items()}
    edge = to_edge_transform_and_lower(eps, partitioner={k: [XnnpackPartitioner()] for k in eps})
    for k in eps:   # everything on the delegate, one partition per method
        nodes = [n for n in edge.exported_program(k).graph.nodes if n.op == "call_function"]
        names = [getattr(n.target, "__name__", str(n.target)) for n in nodes]
        assert names.count("executorch_call_delegate") == 1 and all(n in ("executorch_call_delegate", "getitem") for n in names), (k, names)
    (tmp_path/"tracker.pte").write_bytes(edge.to_executorch().buffer)
    prog = Runtime.get().load_program(tmp_path/"tracker.pte"); methods = {k: prog.load_method(k) for k in STEP_OUTPUTS}
    cfg = TrackerConfig(lost_after=100); text = vs.prompt_embeddings("disc")
    outs = vs.frame_outputs(clip["frames"], text)
    tr, st = Tracker(vs, cfg), StepTracker(lambda name, xs: methods[name].execute(xs), cfg, 4, 64); tr.text = text
    with torch.no_grad():
        for t in range(len(clip["frames"])):
            o1 = {k: v[t:t + 1] for k, v in outs.items()}
            if t == 0: a, b = tr._start({k: v[0] for k, v in o1.items()}, clip["frames"][0], clip["masks"][0][:2], None), st.start(o1, clip["frames"][:1], clip["masks"][0][:2])
            else: a, b = tr._advance({k: v[0] for k, v in o1.items()}, clip["frames"][t]), st.step(o1, clip["frames"][t:t + 1])
            assert list(a) == list(b)
            for k in a: assert float(mask_iou(a[k][None], b[k][None])[0, 0]) >= 0.99, (t, k)
    assert st.events == tr.events and st.ids == [0, 1, 2]
