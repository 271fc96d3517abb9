#!/usr/bin/env python
"""What duplicate suppression changes in the report's figures: one checkpoint, the same validation samples, decoded with
each `DecodeConfig.nms` mode (none = the decoding before issue 15), for the student and the annotation teacher.

    python scripts/bench_decode.py CKPT DATA [NUM_VAL]

Prints one JSON line per (model, nms): mIoU, presence F1, prompt sensitivity, cgF1 / pmF1 / IL_MCC, masks kept per
ground-truth instance (mean, worst) and student-teacher agreement. Training never decodes, so the checkpoint is the same;
only the instances counted differ."""
import json, sys

import torch

from sam3m4.grounded import build_datasets
from sam3m4.decode import NMS_MODES, DecodeConfig
from sam3m4.evaluation import evaluate, student_predictor, teacher_predictor
from sam3m4.student import load_student
from sam3m4.teacher_cache import teacher_for

KEYS = ("miou", "presence_f1", "prompt_sensitivity", "cgf1", "pmf1", "il_mcc", "masks_per_gt", "masks_per_gt_worst", "miou_vs_reference")

def main(ckpt, data, num=48):
    torch.set_num_threads(1)
    model, state = load_student(ckpt)
    cfg = state.get("config", {})
    _, val = build_datasets(data, model.cfg.image_size, cfg.get("negative_ratio", 0.3), cfg.get("val_fraction", 0.15), cfg.get("seed", 0))
    teacher = teacher_predictor(teacher_for("annotation", val, "val"))
    for who, pred in (("student", student_predictor(model)), ("teacher", teacher)):
        for nms in NMS_MODES[::-1]:   # none first: the baseline
            r = evaluate(pred, val, num, detect=DecodeConfig(nms=nms), reference=teacher if who == "student" else None, progress=False)
            print(json.dumps({"model": who, "nms": nms, **{k: round(r[k], 4) if isinstance(r.get(k), float) else r.get(k) for k in KEYS}}), flush=True)

if __name__ == "__main__":
    if len(sys.argv) < 3: sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 48)
