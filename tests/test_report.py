"""Evaluation on hand-made contract outputs, the summary schema / gates / merging, the papermill notebooks shipped in the
package, and the eval + qa reports end to end."""
import json, os, re, shutil, subprocess, sys, zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from sam3m4.decode import DecodeConfig
from sam3m4.evaluation import evaluate
from sam3m4.report import QUANT_KEYS, EXPORT_KEYS, SUMMARY_SECTIONS, GateConfig, build_summary, merge_summary, summary_markdown, write_summary

REPO = Path(__file__).resolve().parents[1]
S = 8


class TinyDS:
    "A GroundedDataset stand-in: (image, prompt) samples with hand-made S×S masks."
    def __init__(self, items):   # items: [(image_key, prompt, masks[M,S,S] bool)]
        self.size, self.items = S, items
        self.samples = [(k, p) for k, p, _ in items]
    def __len__(self): return len(self.items)
    def __getitem__(self, i):
        k, p, m = self.items[i]; m = torch.as_tensor(np.asarray(m, bool).reshape(-1, S, S))
        return {"image": torch.zeros(3, S, S), "prompt": p, "teacher_ids": torch.zeros(4, dtype=torch.long),
                "student_ids": torch.zeros(4, dtype=torch.long), "masks": m, "boxes": torch.zeros(len(m), 4),
                "presence": float(len(m) > 0), "image_id": str(k), "index": i}


def box(y0, y1, x0, x1):
    m = np.zeros((S, S), bool); m[y0:y1, x0:x1] = True; return m

def out(masks, scores, presence_logit):
    "A contract dict with full-resolution ±10 mask logits."
    m = torch.as_tensor(np.asarray(masks, bool).reshape(-1, S, S))
    return {"mask_logits": torch.where(m, 10.0, -10.0), "boxes": torch.zeros(len(m), 4), "scores": torch.tensor(scores, dtype=torch.float),
            "presence_logit": torch.tensor(float(presence_logit)), "source": "hand"}

A, B, C = box(0, 4, 0, 4), box(0, 4, 0, 8), box(4, 8, 0, 8)
NONE = np.zeros((0, S, S), bool)
DS = TinyDS([("img0", "a", np.stack([A, C])), ("img0", "b", NONE), ("img1", "a", np.stack([B])), ("img1", "b", NONE)])
PRED = {0: out(np.stack([A, B]), [0.9, 0.8], 10),   # A exact; B vs C IoU 0 -> GT C unmatched (0)
        1: out(np.stack([C]), [0.9], 10),           # a hallucination on a negative: presence FP
        2: out(np.stack([A]), [0.9], 10),           # IoU(A, B) = 0.5
        3: out(NONE, [], -10)}                      # correct negative

def hand_predictor(batch):
    return [PRED[int(i)] for i in batch["index"]]
hand_predictor.source = "hand"


def test_evaluate_hand_made_outputs():
    r = evaluate(hand_predictor, DS, num=4, progress=False, sens_images=2)
    assert r["source"] == "hand" and r["samples"] == 4 and (r["positives"], r["negatives"]) == (2, 2)
    assert r["miou"] == pytest.approx((1.0 + 0.0 + 0.5) / 3)             # Hungarian, unmatched GT = 0, over all GT instances
    assert (r["tp"], r["fp"], r["fn"], r["tn"]) == (2, 1, 0, 1)
    assert r["presence_f1"] == pytest.approx(0.8)                         # precision 2/3, recall 1
    # cgF1 (SA-Co): positives only for pmF1. τ=0.5: pair 0 TP=1 (A), FP=1, FN=1; pair 2 TP=1 (IoU 0.5) → tp 2, fp 1, fn 1
    # τ>0.5: pair 0 TP 1 FP 1 FN 1; pair 2 FP 1 FN 1 → tp 1, fp 2, fn 2
    f1 = [2 * 2 / (4 + 1 + 1)] + [2 * 1 / (2 + 2 + 2)] * 9
    assert r["pmf1"] == pytest.approx(np.mean(f1))
    assert r["il_mcc"] == pytest.approx((2 * 1 - 1 * 0) / np.sqrt(3 * 2 * 2 * 1)) and r["cgf1"] == pytest.approx(r["pmf1"] * r["il_mcc"])
    # prompt sensitivity: img0 unions A∪B=B (8x4... = B) vs C → disjoint → 1; img1: A vs empty → 1 - 0/16 = 1
    assert r["prompt_sensitivity"] == pytest.approx(1.0) and r["sensitivity_images"] == 2


def test_evaluate_agreement_and_score_threshold():
    r = evaluate(hand_predictor, DS, num=4, progress=False, reference=hand_predictor)
    assert r["miou_vs_reference"] == pytest.approx(1.0) and r["reference"] == "hand"
    r = evaluate(hand_predictor, DS, num=4, progress=False, detect=DecodeConfig(score_thr=0.85))   # drops B (0.8): miou unchanged, fewer FPs in cgF1
    assert r["miou"] == pytest.approx(0.5) and r["pmf1"] == pytest.approx((4 / 5 + 9 * 2 / 5) / 10)


def test_prompt_insensitive_model_scores_zero():
    def same(batch): return [out(np.stack([B]), [0.9], 10) for _ in batch["index"]]
    same.source = "same"
    r = evaluate(same, DS, num=4, progress=False)
    assert r["prompt_sensitivity"] == 0.0 and r["fp"] == 2 and r["tn"] == 0


def test_evaluate_duplicates_suppressed_and_counted():
    "A predictor answering sample 0 with A twice (IoU 1) and a shifted copy of A: mask NMS keeps one A; off, all three count."
    A2 = box(0, 4, 1, 5)                                                                 # IoU(A, A2) = 12/20 = 0.6
    def dup(batch): return [out(np.stack([A, A, A2, C]), [0.9, 0.8, 0.7, 0.6], 10) if i == 0 else PRED[int(i)] for i in batch["index"]]
    dup.source = "dup"
    r = evaluate(dup, DS, num=4, progress=False)
    # sample 0 keeps A and C (2 masks, 2 GT instances); sample 2 keeps A for GT B (1 for 1)
    assert (r["masks_per_gt"], r["masks_per_gt_worst"]) == (1.0, 1.0) and r["miou"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert (r["masks_per_gt_no_nms"], r["masks_per_gt_no_nms_worst"]) == ((4 / 2 + 1) / 2, 2.0)
    # τ = 0.5: tp 3, fp 0, fn 0 → 1; τ > 0.5: pair 2 misses (IoU 0.5): tp 2, fp 1, fn 1 → 2/3. Without NMS sample 0 adds 2 FPs.
    assert r["pmf1"] == pytest.approx((1 + 9 * 2 / 3) / 10)
    assert r["pmf1_no_nms"] == pytest.approx((2 * 3 / (6 + 2) + 9 * 2 * 2 / (4 + 3 + 1)) / 10)
    assert r["cgf1_no_nms"] == pytest.approx(r["pmf1_no_nms"] * r["il_mcc_no_nms"]) and r["il_mcc_no_nms"] == r["il_mcc"]
    off = evaluate(dup, DS, num=4, progress=False, detect=DecodeConfig(nms="none"))
    assert off["pmf1"] == off["pmf1_no_nms"] == pytest.approx(r["pmf1_no_nms"]) and off["nms"] == "none"


def test_instance_figures_are_gated(tmp_path):
    "Issue 15's and 30's figures reach the summary, its tables and the headline, and five of them decide the verdict."
    from sam3m4.report import headline, instance_rows
    fig = {"pmf1": 0.5, "cgf1_no_nms": 0.3, "masks_per_gt": 1.6, "masks_per_gt_worst": 5.0, "masks_per_gt_no_nms": 2.5}
    s = _summary(student_extra=fig)
    write_summary(s, tmp_path)
    md, page = (tmp_path/"summary.md").read_text(), (tmp_path/"report.html").read_text()
    assert "## One mask per instance" in md and "<h2>One mask per instance</h2>" in page
    assert md.count("shown, not gated") == 7 and md.count("| gated |") == 5
    quality = md.split("## Model quality")[1].split("##")[0]
    from sam3m4.render import label   # one row per figure (human label), a column per model: teacher, student
    assert quality.splitlines()[2] == "| figure | teacher | student |", quality
    for k in ("cgf1", "pmf1", "il_mcc", "cgf1_no_nms", "masks_per_gt", "masks_per_gt_worst"): assert f"| {label(k)} |" in quality, k
    assert "| masks per instance |  | 1.6 |" in quality and "| masks per instance, worst sample |  | 5 |" in quality and "each instance is one mask" in md
    rows = {r["figure"]: r for r in instance_rows(s)}
    assert rows["masks kept per GT instance (mean)"]["meets target"] is False and rows["cgF1"]["student / teacher"] == pytest.approx(0.6 / 0.7)
    assert not s["go"] and [k for k, v in s["gates"].items() if not v["pass"]] == ["cgf1_no_nms_vs_teacher", "masks_per_gt"]
    h = headline(s)
    assert h["student"]["masks_per_gt"] == 1.6 and h["student"]["cgf1_no_nms"] == 0.3 and h["gates"]["masks_per_gt"] is False
    assert _summary()["go"]


def _summary(student_extra=None, **kw):
    st = {"miou": 0.76, "presence_f1": 0.96, "prompt_sensitivity": 0.85, "cgf1": 0.6, "cgf1_no_nms": 0.5, "masks_per_gt": 1.0, "il_mcc": 0.8,
          "miou_several_instances": 0.7, "false_presence_hard": 0.05,
          "tp": 5, "fp": 1, "fn": 1, "tn": 3, **(student_extra or {})}   # passes every gate (0.95 x mIoU, 0.86 x cgF1, ...)
    te = {"miou": 0.8, "presence_f1": 1.0, "prompt_sensitivity": 0.9, "cgf1": 0.7, "il_mcc": 1.0, "miou_several_instances": 0.75,
          "tp": 6, "fp": 0, "fn": 0, "tn": 4}
    return build_summary(student=st, teacher_metrics=te, teacher="annotation-teacher(world)", checkpoints={"student": "ck"}, **kw)


def test_summary_schema_and_gates():
    s = _summary(why={"quant": "no quantized variants given"})
    assert set(SUMMARY_SECTIONS) <= set(s)
    assert s["quant"] == {"not_run": "no quantized variants given"} and "not_run" in s["export"] and "not_run" in s["video"]
    assert s["gates"]["miou_vs_teacher"] == {"pass": True, "value": pytest.approx(0.95), "threshold": 0.9}
    assert s["gates"]["prompt_sensitivity_vs_teacher"]["pass"] and s["gates"]["presence_f1"]["pass"] and s["go"]
    s = _summary(gates_cfg=GateConfig(miou_vs_teacher=0.96))
    assert not s["gates"]["miou_vs_teacher"]["pass"] and not s["go"]
    md = summary_markdown(s)
    for t in ("Appendix: run summary", "Model quality", "Visual QA checklist", "Quantization", "Deployment", "Storage", "Gates", "Appendix: artifacts"):
        assert f"## {t}" in md
    assert "Not run:" in md


def test_merge_summary_regates_and_rerenders(tmp_path):
    write_summary(_summary(), tmp_path)
    q = {"table": [{"mode": "fp32", "status": "ok", "size_mb": 4.0, "miou": 0.6, "drop_rel": 0.0, "ms": 3.0},
                   {"mode": "int8", "status": "ok", "size_mb": 1.0, "miou": 0.57, "drop_rel": 0.05, "ms": 2.0},
                   {"mode": "int4", "status": "unsupported", "reason": "no <kernel> here"}]}
    s = merge_summary(tmp_path, "quant", q)
    doc = json.loads((tmp_path/"summary.json").read_text())
    assert [r["mode"] for r in doc["quant"]] == ["fp32", "int8", "int4"] and all(set(QUANT_KEYS) <= set(r) for r in doc["quant"])
    assert doc["gates"]["quant_drop_int8"] == {"pass": False, "value": 0.05, "threshold": 0.02} and doc["go"] is False and not s["go"]
    md = (tmp_path/"summary.md").read_text(); page = (tmp_path/"report.html").read_text()
    assert "int8" in md and "no &lt;kernel&gt; here" in md and "<kernel>" not in page
    merge_summary(tmp_path/"summary.json", "export", [{"backend": "xnnpack", "status": "failed", "reason": "boom"}])
    doc = json.loads((tmp_path/"summary.json").read_text())
    assert set(EXPORT_KEYS) <= set(doc["export"][0]) and doc["merged"] == ["quant", "export"]
    with pytest.raises(Exception, match="status"):
        merge_summary(tmp_path, "export", [{"backend": "x", "status": "great"}])


# ---------------- end to end: the report notebook and the CLIs on the built-in world ----------------
@pytest.fixture(scope="module")
def world_and_student(tmp_path_factory):
    from sam3m4.world import make_world, TINY_WORLD
    from sam3m4.trainer import TrainConfig, train_phase
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp("e2e"); make_world(d/"world", TINY_WORLD, progress=False)
    r = train_phase(TrainConfig(student="tiny", steps=6, batch_size=4, ckpt_every=3, val_samples=4, device="cpu"), d/"world", d/"run", progress=False)
    return d, d/"world", Path(r.best)


@pytest.mark.slow
def test_eval_cli_writes_dated_report_with_every_section(world_and_student, run_cli):
    d, world, ckpt = world_and_student
    quant = d/"quant.json"; quant.write_text(json.dumps({"eval": "fidelity", "table": [
        {"mode": "fp32", "status": "ok", "reason": "", "size_mb": 6.8, "miou": 0.5, "drop_rel": 0.0, "ms": 10.0},
        {"mode": "int8", "status": "ok", "reason": "", "size_mb": 1.9, "miou": 0.495, "drop_rel": 0.01, "ms": 8.0},
        {"mode": "int4", "status": "unsupported", "reason": "no kernel"}]}))
    export = d/"export.json"; export.write_text(json.dumps([{"backend": "xnnpack", "status": "ok", "reason": "", "pte_mb": 2.0, "parity_max_abs": 1e-4, "latency_ms": 40.0},
                                                            {"backend": "coreml", "status": "unsupported", "reason": "not macOS"}]))
    video = d/"video.json"; video.write_text(json.dumps({"jf_tracker": 0.4, "jf_per_frame": 0.3}))
    storage = d/"storage.json"; storage.write_text(json.dumps([{"what": "before (MB)", "value": 10}, {"what": "after (MB)", "value": 4}]))
    ablation = d/"ablation.json"; ablation.write_text(json.dumps({"steps": {"phase1": 4, "phase2": 8, "total": 12, "phase2_alone": 12}, "rows": [
        {"run": "phase 1 → phase 2", "steps": 12, "phase1_steps": 4, "phase2_steps": 8, "miou": 0.61, "cgf1": 0.3, "samples": 8},
        {"run": "phase 2 alone", "steps": 12, "phase1_steps": 0, "phase2_steps": 12, "miou": 0.55, "cgf1": 0.25, "samples": 8}]}))
    bundle = d/"bundle.json"; bundle.write_text(json.dumps({"backend": "xnnpack", "quant": "int8", "bundle_mb": 4.0, "programs": [
        {"program": "image", "method": "forward", "mb": 3.0, "delegated_share": 1.0, "partitions_total": 1, "fallback_count": 0, "ms": 7.1}],
        "image": {"miou_bundle": 0.50, "miou_eager": 0.52, "miou_diff": -0.02}}))
    p = run_cli("eval", "--ckpt", ckpt, "--data", world, "--num-val", 8, "--include-teacher", "--out", d/"reports", "--quant", quant,
                "--export", export, "--video", video, "--storage", storage, "--compare", ckpt, "--ablation", ablation, "--bundle", bundle,
                "--json", check=True, timeout=600)
    r = json.loads(p.stdout)
    rep = Path(r["report"])
    assert rep.parent == d/"reports" and re.fullmatch(r"\d{8}_\d{6}_eval", rep.name)
    assert Path(r["summary"]) == rep/"summary.json" and "miou" in r["student"] and "miou" in r["teacher"]
    for f in ("eval.ipynb", "summary.json", "summary.md", "report.html", "mask_grid.png"): assert (rep/f).is_file(), f
    assert [p.name for p in rep.glob("*.html")] == ["report.html"]                      # one HTML page per evaluation
    s = json.loads((rep/"summary.json").read_text())
    assert set(SUMMARY_SECTIONS) <= set(s) and s["teacher"] == "annotation-teacher(world)" and s["checkpoints"]["student"] == str(ckpt.resolve())
    st = s["student"]
    assert st["tp"] + st["fp"] + st["fn"] + st["tn"] == st["samples"] <= 8 and st["params"] > 0 and st["ms"] > 0
    assert s["teacher_metrics"]["fp"] == 0 and s["teacher_metrics"]["fn"] == 0 and s["teacher_metrics"]["il_mcc"] == 1.0
    assert s["video"]["jf_tracker"] == 0.4 and [q["mode"] for q in s["quant"]] == ["fp32", "int8", "int4"] and s["export"][1]["status"] == "unsupported"
    assert s["gates"]["quant_drop_int8"]["pass"] is True and set(s["gates"]) >= {"miou_vs_teacher", "prompt_sensitivity_vs_teacher", "presence_f1"}
    for k in ("cgf1_no_nms", "pmf1_no_nms", "masks_per_gt", "masks_per_gt_worst"): assert k in st and k in s["teacher_metrics"], k
    assert s["teacher_metrics"]["masks_per_gt"] == 1.0 and st["nms"] == "mask" and "masks_per_gt" in r["student"]
    assert all(c["change"] == 0 for c in s["compare"] if c["change"] is not None)   # same checkpoint, same samples: no change
    assert all(c["new"] == st[c["metric"]] for c in s["compare"]) and s["checkpoints"]["previous"] == str(ckpt.resolve())
    assert "eval.ipynb" in s["artifacts"] and "report.html" in s["artifacts"]
    assert [r["run"] for r in s["phase1_ablation"]["rows"]] == ["phase 1 → phase 2", "phase 2 alone"], s["phase1_ablation"]
    assert s["bundle"]["bundle_mb"] == 4.0 and s["gates"]["bundle_miou_parity"]["pass"] is False   # the app lost 0.02 mIoU: caught
    md = (rep/"summary.md").read_text()
    for t in ("Appendix: run summary", "Model quality", "Visual QA checklist", "Quantization", "Deployment", "Video", "Storage", "Phase-1 ablation",
              "App bundle (on-device programs)",
              "Compared with the previous checkpoint", "Gates", "Appendix: artifacts", "Training curves"):
        assert f"## {t}" in md, t
    assert "Not run" not in md.split("## Gates")[0].split("## Visual QA checklist")[0]   # everything above was measured
    page = (rep/"report.html").read_text()
    assert "<h2>Model quality</h2>" in page and "import" not in page and '<img src="mask_grid.png"' in page   # no code, the grid shown
    assert list(s["curves"]) == ["phase 2 (run)"] and [r["step"] for r in s["curves"]["phase 2 (run)"]] == [3, 6]   # its run's checkpoints
    assert page.index("<h2>Training curves</h2>") < page.index('<img src="curves.png"') < page.index("<h2>Phase-1 ablation</h2>")
    assert page.index("<h2>Quantization</h2>") < page.index('<img src="quant.png"') < page.index("<h2>Deployment</h2>")


def test_eval_with_another_teacher_reports_the_ground_truth_ceiling(world_and_student, run_cli):
    "With a teacher other than the annotations (here a teacher cache), the report's first quality row is the ground truth scored"
    " through the same decoding; the cache holds the annotations, so that row must equal the teacher's row figure for figure."
    from sam3m4.report import CEILING_ROW
    from sam3m4.teacher_cache import build_teacher_caches
    d, world, ckpt = world_and_student
    build_teacher_caches("annotation", world, d/"tcache", 64, features=False, progress=False)
    p = run_cli("eval", "--ckpt", ckpt, "--data", world, "--num-val", 6, "--teacher", d/"tcache", "--out", d/"ceil", "--json", check=True, timeout=600)
    s = json.loads((Path(json.loads(p.stdout)["report"])/"summary.json").read_text())
    keys = ("miou", "presence_f1", "cgf1", "masks_per_gt", "tp", "fp", "fn", "tn")
    assert s["ceiling"]["source"] == "annotation-teacher(world)" and s["checkpoints"]["teacher"] == str(d/"tcache"), (s["checkpoints"], s["ceiling"])
    assert {k: s["ceiling"][k] for k in keys} == {k: s["teacher_metrics"][k] for k in keys}
    assert f"| {CEILING_ROW} |" in (Path(json.loads(p.stdout)["report"])/"summary.md").read_text()
    q = run_cli("eval", "--ckpt", ckpt, "--data", world, "--num-val", 6, "--out", d/"plain", "--json", check=True, timeout=600)
    assert json.loads((Path(json.loads(q.stdout)["report"])/"summary.json").read_text())["ceiling"] == {"not_run": "the annotations are the teacher"}


def _fake_checkout(root: Path) -> Path:
    "A folder that `core.project_outputs` takes for a sam3m4 checkout (settings.ini naming the library), with an nbs/ inside."
    (root/"nbs").mkdir(parents=True); (root/"settings.ini").write_text("[DEFAULT]\nlib_name = sam3m4\n")
    return root


@pytest.mark.slow
def test_papermill_acceptance_command(world_and_student):
    "The design card's command, typed at a checkout's root and in its nbs/: the dated report lands in the project's outputs/."
    d, world, ckpt = world_and_student
    proj = _fake_checkout(d/"proj")
    for cwd in (proj, proj/"nbs"):
        cmd = [sys.executable, "-m", "papermill", str(REPO/"nbs"/"40_eval.ipynb"), str(d/"executed.ipynb"), "-p", "ckpt", str(ckpt),
               "-p", "data", str(world), "-p", "num_val", "6", "-p", "include_teacher", "False"]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=cwd)
        assert p.returncode == 0, p.stderr[-3000:]
        assert "Unable to parse" not in p.stderr and "unknown parameter" not in p.stderr, p.stderr[-2000:]
    reports = sorted((proj/"outputs").glob("*_eval"))
    assert len(reports) == 2 and not (d/"outputs").exists() and not (proj/"nbs"/"outputs").exists()
    s = json.loads((reports[0]/"summary.json").read_text())
    assert s["teacher_metrics"] == {"not_run": "include_teacher=False: the teacher was not scored"}
    assert s["gates"]["miou_vs_teacher"]["pass"] is False and s["go"] is False       # no baseline: the ratio gates cannot pass
    assert "Not run: no quantized variants given" in (reports[0]/"summary.md").read_text()


def test_tiny_papermill_report_carries_issue15_figures(tmp_path):
    "The report notebook on its tiny defaults (a tiny world, a random-init student, the annotation teacher), suppression off:"
    " cgF1 / pmF1 / IL_MCC, cgF1 without suppression and masks per GT instance reach summary.json, summary.md and report.html."
    out = tmp_path/"rep"; out.mkdir()
    cmd = [sys.executable, "-m", "papermill", str(REPO/"nbs"/"40_eval.ipynb"), str(out/"eval.ipynb"), "-p", "num_val", "8",
           "-p", "nms", "none", "-p", "out", str(out)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=tmp_path, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert p.returncode == 0, p.stderr[-3000:]
    s = json.loads((out/"summary.json").read_text())
    for who in ("student", "teacher_metrics"):
        for k in ("cgf1", "pmf1", "il_mcc", "cgf1_no_nms", "masks_per_gt", "masks_per_gt_worst", "masks_per_gt_no_nms"): assert k in s[who], (who, k)
    t = s["teacher_metrics"]
    assert (t["masks_per_gt"], t["masks_per_gt_worst"], t["il_mcc"]) == (1.0, 1.0, 1.0) and s["student"]["nms"] == "none"
    assert s["student"]["cgf1"] == s["student"]["cgf1_no_nms"] and s["scope"]["decoding"].endswith("duplicate suppression: off")
    md, page = (out/"summary.md").read_text(), (out/"report.html").read_text()
    assert "## One mask per instance" in md and "masks kept per GT instance (mean)" in page and "shown, not gated" in page
    assert {"cgf1_vs_teacher", "cgf1_no_nms_vs_teacher", "masks_per_gt"} <= set(s["gates"]) and "| gated |" in md
    assert s["gates"]["masks_per_gt"]["value"] == s["student"]["masks_per_gt"]


def _papermill_notebooks() -> list[Path]:
    def has_parameters(nb): return any("parameters" in c.get("metadata", {}).get("tags", []) for c in json.loads(nb.read_text())["cells"])
    return [nb for nb in sorted((REPO/"nbs").glob("*.ipynb")) if has_parameters(nb)]


@pytest.mark.parametrize("nb", _papermill_notebooks(), ids=lambda p: p.name)
def test_papermill_parameters_parse_without_warnings(nb, caplog):
    "papermill reads every parameter of the shipped notebooks (a comment holding '=' makes it warn on every run)."
    import papermill as pm
    with caplog.at_level("WARNING", logger="papermill"): params = pm.inspect_notebook(str(nb))
    assert [r.getMessage() for r in caplog.records] == [] and params


def test_wheel_ships_papermill_notebooks(tmp_path):
    "A built wheel holds nbs/'s papermill notebooks as sam3m4/notebooks/, and an installed copy finds them there."
    src = tmp_path/"src"; src.mkdir()
    for f in ("setup.py", "settings.ini", "pyproject.toml", "README.md", "MANIFEST.in"): shutil.copy(REPO/f, src/f)
    shutil.copytree(REPO/"sam3m4", src/"sam3m4", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO/"nbs", src/"nbs", ignore=shutil.ignore_patterns(".ipynb_checkpoints", "_tmp*", "outputs"))
    p = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path/"wh"), str(src)],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    whl = next((tmp_path/"wh").glob("sam3m4-*.whl"))
    shipped = sorted(n.split("/")[-1] for n in zipfile.ZipFile(whl).namelist() if n.startswith("sam3m4/notebooks/"))
    assert shipped == [nb.name for nb in _papermill_notebooks()] and "40_eval.ipynb" in shipped
    p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(tmp_path/"site"), str(whl)], capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]
    q = subprocess.run([sys.executable, "-c", "from sam3m4.report import report_notebook; print(report_notebook('40_eval.ipynb'))"],
                       capture_output=True, text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(tmp_path/"site")), timeout=300)
    assert q.returncode == 0, q.stderr[-2000:]
    assert Path(q.stdout.strip()) == tmp_path/"site"/"sam3m4"/"notebooks"/"40_eval.ipynb"


@pytest.mark.slow
def test_qa_cli_static_html(world_and_student, run_cli):
    d, world, ckpt = world_and_student
    q = run_cli("qa", "--ckpt", ckpt, "--data", world, "--out", d/"qa", "--images", 2, "--teacher", "annotation", "--nms", "box", "--json", check=True)
    r = json.loads(q.stdout)
    top = (d/"qa"/"index.html").read_text()
    assert "teacher = annotation-teacher(world)" in top and "box NMS" in top and r["images"] == 2 and r["models"] == ["teacher", "student"]
    assert len(list((d/"qa").glob("*/index.html"))) == r["prompts"] and r["masks_kept"]["teacher"] == r["gt_instances"]
    page = next((d/"qa").glob("*/index.html")).read_text()
    assert "<th>ground truth</th><th>teacher</th><th>student</th>" in page
    bad = run_cli("qa", "--ckpt", d/"nope", "--data", world, "--out", d/"qa2", "--json")
    assert bad.returncode == 2 and "nope" in json.loads(bad.stdout)["error"]


@pytest.mark.slow
def test_qa_cli_links_visual_qa_into_its_report(world_and_student, run_cli):
    "Visual QA written into a report's folder (the pipeline's layout) is named by the report's checklist and linked from report.html."
    d, world, ckpt = world_and_student
    rep = d/"rep_with_qa"; write_summary(build_summary(), rep)
    run_cli("qa", "--ckpt", ckpt, "--data", world, "--out", rep/"visual_qa", "--images", 1, "--report", rep, "--json", check=True)
    s = json.loads((rep/"summary.json").read_text())
    assert s["visual_qa"] == "visual_qa/index.html" and '<a href="visual_qa/index.html">' in (rep/"report.html").read_text()
    assert "not run: no visual QA" not in (rep/"summary.md").read_text()
