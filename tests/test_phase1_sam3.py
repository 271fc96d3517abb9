"""Issue 14 (items 3-4): `sam3m4 pipeline --sam3 <HF folder>` caches SAM 3's vision and text features by default, phase 1
aligns the student to both (not skipped), phase 2 starts from phase 1's best checkpoint, and the phase-1 ablation trains phase 2
alone for the same total steps and scores both on the same held-out samples. The SAM 3 is a tiny random-init
`transformers.Sam3Model` the test writes with `save_pretrained`: the same folder layout as a user's copy."""
import json, math
from pathlib import Path

import torch
from safetensors import safe_open


def test_pipeline_sam3_folder_runs_phase1(tmp_path, run_cli):
    from transformers import Sam3Model
    from sam3m4.sam3_weights import sam3_config
    torch.manual_seed(0)
    sam3 = tmp_path/"sam3-tiny"
    Sam3Model(sam3_config("tiny")).save_pretrained(sam3)
    assert (sam3/"config.json").is_file() and (sam3/"model.safetensors").is_file()
    work = tmp_path/"work"
    p = run_cli("pipeline", "--tiny", "--work", work, "--reports", tmp_path/"reports", "--sam3", sam3, "--until", "phase1_ablation",
                "--json", check=True)
    state = json.loads((work/"pipeline_state.json").read_text())

    tc = state["teacher_cache"]
    assert tc["status"] == "done" and tc["source"] == f"sam3:{sam3.resolve()}", tc
    assert tc["stores"] == ["masks", "features", "text_features"] and tc["no_features"] is None, tc
    # text features once per distinct prompt: the table has as many rows as the split has distinct prompts
    idx = json.loads((work/"teacher_cache"/"train"/"index.json").read_text())
    with safe_open(str(work/"teacher_cache"/"train"/"text_features.safetensors"), framework="pt") as f:
        rows = f.get_tensor("text_features")
    assert rows.shape == (len(set(idx["text"]["prompts"])), 32) and rows.shape[0] < idx["n_items"], (rows.shape, idx["n_items"])

    p1 = state["phase1"]
    assert p1["status"] == "done" and "skipped_reason" not in p1, p1
    assert p1["teacher"] == tc["source"] and p1["steps"] == 4 and Path(p1["best"]).is_dir()
    assert p1["losses"]["first"]["step"] == 1 and p1["losses"]["last"]["step"] == 4, p1["losses"]
    for end in ("first", "last"):
        for k in ("loss", "vision", "text"):
            v = p1["losses"][end][k]
            assert math.isfinite(v) and v > 0, (end, k, v)
    print(f"phase-1 losses: first {p1['losses']['first']}, last {p1['losses']['last']}; "
          f"cache {tc['bytes_per_image']} bytes per image")

    p2 = state["phase2"]
    assert p2["status"] == "done" and p2["steps"] == 8, p2
    assert f"initialised from {Path(p1['best']).resolve()}" in p.stderr or f"initialised from {p1['best']}" in p.stderr, p.stderr[-3000:]

    # the ablation: phase 2 alone from the same (random) start for phase 1 + phase 2's steps, both scored on the same samples
    ab = state["phase1_ablation"]
    assert ab["status"] == "done" and "skipped_reason" not in ab and ab["enabled"], ab
    doc = json.loads((work/"phase1_ablation"/"ablation.json").read_text())
    assert doc["steps"] == {"phase1": 4, "phase2": 8, "total": 12, "phase2_alone": 12}, doc["steps"]
    rows = {r["run"]: r for r in doc["rows"]}
    assert list(rows) == ["phase 1 → phase 2", "phase 2 alone"], list(rows)
    main, alone = rows["phase 1 → phase 2"], rows["phase 2 alone"]
    assert main["steps"] == alone["steps"] == 12 and (main["phase1_steps"], main["phase2_steps"]) == (4, 8), (main, alone)
    assert (alone["phase1_steps"], alone["phase2_steps"]) == (0, 12) and main["start"] == alone["start"] == {"random_init": True}
    assert main["checkpoint"] == str(Path(p2["best"])) and Path(alone["checkpoint"]).is_dir() and alone["checkpoint"] != main["checkpoint"]
    assert main["samples"] == alone["samples"] > 0 and doc["same"]["batch_size"] == 4 and doc["teacher"] == tc["source"], doc
    for r in (main, alone):
        for k in ("miou", "cgf1", "presence_f1", "prompt_sensitivity"):
            assert isinstance(r[k], float) and math.isfinite(r[k]), (r["run"], k, r[k])
    print("ablation rows:", [{k: r[k] for k in ("run", "steps", "miou", "cgf1", "presence_f1", "prompt_sensitivity")} for r in doc["rows"]])
    from sam3m4.report import build_summary, normalize_section, report_sections
    table = dict(report_sections(build_summary(extra={"phase1_ablation": normalize_section("phase1_ablation", doc)})))["Phase-1 ablation"]
    assert [(r["run"], r["steps"], r["mIoU"]) for r in table] == [(r["run"], 12, r["miou"]) for r in doc["rows"]], table
    # done and current: a rerun skips it (no training)
    again = run_cli("pipeline", "--tiny", "--work", work, "--reports", tmp_path/"reports", "--sam3", sam3, "--until", "phase1_ablation",
                    "--json", check=True)
    assert "phase1_ablation: skipped, already done" in again.stderr, again.stderr[-2000:]


def test_pipeline_world_sam3_is_the_teacher(tmp_path, run_cli):
    "`pipeline --world-sam3`: the world's SAM 3 is fitted first and taught through the SAM 3 path (features cached, phase 1 runs);"
    " switching it off later (--no-world-sam3) changes the teacher, and the cache is rebuilt from the annotations rather than reused."
    work, reports = tmp_path/"work", tmp_path/"reports"
    run_cli("pipeline", "--tiny", "--work", work, "--reports", reports, "--world-sam3", "--until", "phase1", "--json", check=True)
    state = json.loads((work/"pipeline_state.json").read_text())
    ws = state["world_sam3"]
    folder = work/"world_sam3"/"sam3"
    assert ws["status"] == "done" and ws["sam3"] == str(folder) and ws["steps"] == 4, ws
    assert (folder/"config.json").is_file() and set(ws["held_out"]) >= {"miou", "presence_f1", "cgf1"}, ws
    tc = state["teacher_cache"]
    assert tc["teacher"] == str(folder) and tc["source"] == f"sam3:{folder.resolve()}", tc
    assert tc["stores"] == ["masks", "features", "text_features"], tc
    assert "skipped_reason" not in state["phase1"] and state["phase1"]["teacher"] == tc["source"], state["phase1"]
    p = run_cli("pipeline", "--tiny", "--work", work, "--reports", reports, "--no-world-sam3", "--until", "teacher_cache", "--json", check=True)
    assert "world_sam3: rerunning" in p.stderr and "teacher_cache: rerunning, the earlier result is not valid any more: the teacher is now annotation" in p.stderr, p.stderr[-3000:]
    state = json.loads((work/"pipeline_state.json").read_text())
    assert state["world_sam3"]["skipped_reason"] and state["teacher_cache"]["source"] == "annotation-teacher(world)", state["teacher_cache"]
