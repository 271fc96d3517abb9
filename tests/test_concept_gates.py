"""The concept gates on hand-made models (issue 30): a model that reads only the colour word fails the hard-negative gate,
and a model that answers a concept with one mask over all its instances fails the several-instance and masks-per-instance
gates, while the ground truth itself passes them; each through the real evaluation on a world."""
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from sam3m4.world import make_world, TINY_WORLD
from sam3m4.grounded import build_datasets, GroundedDataset
from sam3m4.evaluation import evaluate
from sam3m4.report import evaluate_gates
from sam3m4.teacher import AnnotationTeacher, TeacherConfig

CONCEPT_GATES = ("false_presence_hard", "miou_several_vs_teacher", "masks_per_gt")

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    w = tmp_path_factory.mktemp("w")/"world"
    make_world(w, replace(TINY_WORLD, n_images=40, n_videos=0), progress=False)
    return w

def _answer(masks: torch.Tensor) -> dict:
    "A contract dict answering with `masks` [K,S,S] (bool), each sure of itself."
    lg = (F.interpolate(masks[None].float(), size=(16, 16), mode="area")[0] - 0.5) * 20 if len(masks) else torch.zeros(0, 16, 16)
    return {"mask_logits": lg, "boxes": torch.zeros(len(masks), 4), "scores": torch.full((len(masks),), 0.9),
            "presence_logit": torch.tensor(10.0 if len(masks) else -10.0)}

def _model(ds: GroundedDataset, rule):
    "A predictor that answers each (image, prompt) with `rule(prompt, {present concept: its GT masks})`."
    by_id = {r.image_id: r for r in ds.records}
    def predict(batch):
        outs = []
        for rid, prompt in zip(batch["image_id"], batch["prompt"]):
            one = GroundedDataset([by_id[rid]], [], ds.tok, ds.size, 0.0)
            outs.append(_answer(rule(prompt, {c: one[k]["masks"] for k, (_, c) in enumerate(one.samples)})))
        return outs
    return predict

def _colour_only(prompt, present):
    ms = [m for c, m in present.items() if c.split()[0] == prompt.split()[0]]
    return torch.cat(ms) if ms else torch.zeros(0, 64, 64, dtype=torch.bool)

def _one_mask_per_concept(prompt, present):
    m = present.get(prompt)
    return m.any(0, keepdim=True) if m is not None and len(m) else torch.zeros(0, 64, 64, dtype=torch.bool)

@pytest.fixture(scope="module")
def scored(world):
    _, val = build_datasets(world, 64, val_fraction=0.5)
    teacher = evaluate(AnnotationTeacher(TeacherConfig()), val, progress=False)
    def gates(rule):
        student = evaluate(_model(val, rule), val, progress=False)
        return student, evaluate_gates({"student": student, "teacher_metrics": teacher})
    return teacher, gates

def test_ground_truth_passes_the_concept_gates(scored):
    teacher, gates = scored
    student, g = gates(lambda prompt, present: present.get(prompt, torch.zeros(0, 64, 64, dtype=torch.bool)))
    assert teacher["gt_instances_several"] > 0 and teacher["hard_negatives"] > 0
    assert all(g[k]["pass"] for k in CONCEPT_GATES), {k: g[k] for k in CONCEPT_GATES}

def test_colour_only_model_fails_the_hard_negative_gate(scored):
    student, g = scored[1](_colour_only)
    assert student["false_presence_easy"] == 0.0 and student["false_presence_hard"] > 0.10
    assert not g["false_presence_hard"]["pass"] and g["miou_several_vs_teacher"]["pass"]

def test_one_mask_over_several_instances_fails_the_several_instance_gate(scored):
    student, g = scored[1](_one_mask_per_concept)
    assert student["miou_one_instance"] > 0.8 and student["masks_per_gt"] < 0.9
    assert not g["miou_several_vs_teacher"]["pass"] and not g["masks_per_gt"]["pass"] and g["false_presence_hard"]["pass"]
