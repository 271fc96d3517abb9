"""The main job end to end on the tiny world: SIGKILL mid-training and a rerun that completes, every report
section present, the unavailable backend recorded, and a truncated checkpoint refused by its checksum."""
import json, os, re, signal, subprocess, sys, time
from pathlib import Path
import pytest

def _cmd(work, reports, *extra):
    return [sys.executable, "-m", "sam3m4.cli", "pipeline", "--tiny", "--work", str(work), "--reports", str(reports),
            "--phase2-steps", "24", "--json", *extra]

@pytest.mark.slow
def test_pipeline_kill_resume_and_report(tmp_path):
    work, reports = tmp_path/"work", tmp_path/"reports"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    p = subprocess.Popen(_cmd(work, reports), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True)
    latest = work/"phase2"/"ckpt"/"latest"
    deadline = time.time() + 900
    while not latest.exists() and p.poll() is None and time.time() < deadline: time.sleep(0.5)
    assert p.poll() is None, f"pipeline ended before phase 2 checkpointed:\n{p.stderr.read().decode()[-3000:]}"
    os.killpg(p.pid, signal.SIGKILL); p.wait()
    killed_at = latest.read_text().strip()
    r = subprocess.run(_cmd(work, reports), capture_output=True, text=True, env=env, timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    res = json.loads(r.stdout)
    noise = [l for l in r.stderr.splitlines() if re.search(r"Warning|^W\d{4} |^\[\w+\.cpp:\d+\]", l)]   # issue 34: a quiet console
    assert not noise, noise[:10]
    stages = {row["stage"]: row for row in res["table"]}
    assert stages["world"]["skipped"] and stages["teacher_cache"]["skipped"]          # finished stages are not redone
    state = json.loads((work/"pipeline_state.json").read_text())
    assert state["phase2"]["resumed_from"] >= int(killed_at.split("_")[1]) > 0     # at most one interval lost
    s = json.loads(Path(res["report"], "summary.json").read_text())
    for k in ("student", "teacher_metrics", "video", "quant", "export", "gates", "teacher", "checkpoints"): assert k in s, k
    assert s["teacher"] == "annotation-teacher(world)"
    assert s["phase1_ablation"]["skipped"] == state["phase1"]["skipped_reason"] and "Phase-1 ablation" in Path(res["report"], "report.html").read_text()
    qnn = [row for row in s["export"] if row["backend"] == "qnn"][0]
    assert qnn["status"] == "unsupported" and "QNN" in qnn["reason"]
    assert Path(res["report"], "report.html").is_file() and Path(res["report"], "visual_qa", "index.html").is_file()
    qa = json.loads(Path(res["report"], "visual_qa", "qa.json").read_text())
    assert list(qa["models"]) == ["teacher", "student"] and qa["decode"]["nms"] == "mask"       # side by side, decoded as the report
    for k in ("cgf1_no_nms", "masks_per_gt", "masks_per_gt_worst"): assert k in s["student"] and k in s["teacher_metrics"], k
    b = s["bundle"]   # the app bundle: three programs, the reference app against eager, a prompt never trained on
    assert {(r["program"], r["method"]) for r in b["programs"]} == {("text_encoder", "forward"), ("image", "forward"),
                                                                    ("tracker", "init"), ("tracker", "predict"), ("tracker", "commit")}
    assert "bundle_miou_parity" in s["gates"] and "bundle_jf_parity" in s["gates"] and b["unseen_prompt"]["same_ids_as"] == []
    assert s["gates"]["bundle_fp32_miou_parity"]["pass"], b["image"]      # an fp32 bundle: the runtime and the app alone, two-sided
    assert Path(b["image"]["fp32_bundle"], "manifest.json").is_file()
    assert Path(work, "bundle", "manifest.json").is_file() and "App bundle" in Path(res["report"], "report.html").read_text()
    # a truncated checkpoint is refused by its checksum; the stage reruns from the last good one
    best = Path(state["phase2"]["best"])
    f = best/"model.safetensors"; f.write_bytes(f.read_bytes()[:1000])
    r = subprocess.run(_cmd(work, reports, "--until", "phase2"), capture_output=True, text=True, env=env, timeout=1800)
    assert r.returncode == 0, r.stderr[-4000:]
    assert "checksum mismatch" in r.stderr


def test_pipeline_annotation_teacher_skips_phase1_ablation(tmp_path, run_cli):
    "With the world's annotation teacher phase 1 is skipped, so the ablation trains nothing and records phase 1's reason."
    work = tmp_path/"work"
    run_cli("pipeline", "--tiny", "--work", work, "--reports", tmp_path/"reports", "--until", "phase1_ablation", "--json", check=True)
    state = json.loads((work/"pipeline_state.json").read_text())
    why = state["phase1"]["skipped_reason"]
    assert "has no vision features" in why, why
    ab = state["phase1_ablation"]
    assert ab["status"] == "done" and ab["skipped_reason"] == why and ab["seconds"] < 5, ab
    assert json.loads((work/"phase1_ablation"/"ablation.json").read_text()) == {"skipped": why, "by": "phase1"}
    assert not any((work/"phase1_ablation").glob("phase2_alone_*")), "the ablation trained although phase 1 did not run"


def test_pipeline_changed_settings_retrain_and_redo_what_follows(tmp_path, run_cli):
    "A finished phase whose settings changed is trained again from scratch (not 'continued' at its last step), and the stages after it are redone."
    work, reports = tmp_path/"work", tmp_path/"reports"
    base = ("pipeline", "--tiny", "--work", work, "--reports", reports, "--until", "phase1_ablation", "--json")
    run_cli(*base, check=True)
    first = json.loads((work/"pipeline_state.json").read_text())
    p = run_cli(*base, "--phase2-steps", "12", check=True)
    assert "phase2: rerunning, the earlier result is not valid any more: its training settings changed" in p.stderr, p.stderr[-3000:]
    assert "phase2: starting over" in p.stderr and "phase1_ablation: rerunning" in p.stderr, p.stderr[-3000:]
    state = json.loads((work/"pipeline_state.json").read_text())
    assert state["phase1"]["skipped"] and state["phase2"]["steps"] == 12 and state["phase2"]["resumed_from"] == 0, state["phase2"]
    assert state["phase2"]["best"] != first["phase2"]["best"] or state["phase2"]["finished_at"] != first["phase2"]["finished_at"]
    assert any((work/"phase2").glob("replaced_*/ckpt")), "the old checkpoints were not kept aside"
    again = run_cli(*base, "--phase2-steps", "12", check=True)
    assert "phase2: skipped, already done" in again.stderr and "phase1_ablation: skipped, already done" in again.stderr
