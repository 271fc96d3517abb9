#!/usr/bin/env python
"""What makes the student answer the concept: the same phase-2 run (the world's annotations teach; the main job's small
student, steps and batch) with each option, side by side.

    python scripts/ablate_mask_prior.py WORLD OUT [STEPS] [OPTIONS]
    python scripts/ablate_mask_prior.py --cost [ROUNDS]

`--cost`: the mask priors' cost alone, no training: the main job's `small` student (random init) with each `mask_prior`,
its image path timed in alternating rounds on this CPU (batch 1, one thread), so both see the same machine; prints the
parameters and median ms of each and the ratio box / none.

WORLD: a world folder (`sam3m4 data make-world`); OUT: one run folder per option. OPTIONS, comma-separated (default
none,box): `StudentConfig.mask_prior` (none | box), `+anchors` for `StudentConfig.query_anchors="grid"` (each query starts
at a grid point), `+groups` for `TrainConfig.group_by_image` (whole images per batch),
optionally with a training negative mix `:NEGATIVE_RATIO:HARD_SHARE` (default `TrainConfig`'s), e.g. `box+groups:0.5:0.75`.
Prints one JSON line per option: held-out mIoU (all, one-instance, several-instance prompts), false presence on hard and
easy negatives, presence F1, cgF1, masks per instance, image-path parameters and its batch-1 latency on this CPU (median
of 20; a figure for the cost, comparable only between runs made side by side on an idle machine)."""
import json, sys
from pathlib import Path

import torch

from sam3m4.prompts import DualTokenizer
from sam3m4.grounded import build_datasets
from sam3m4.evaluation import evaluate, model_cost
from sam3m4.metrics import param_count
from sam3m4.student import load_student, param_table
from sam3m4.trainer import TrainConfig, train_phase

KEYS = ("miou", "miou_one_instance", "miou_several_instances", "false_presence_hard", "false_presence_easy", "presence_f1", "cgf1",
        "masks_per_gt")

def main(world, out, steps=750, options="none,box"):
    torch.set_num_threads(1)
    for option in options.split(","):
        student, *mix = option.split(":")
        prior, *flags = student.split("+")
        cfg = TrainConfig(phase=2, student="small", steps=steps, batch_size=16, warmup=30, ckpt_every=steps, log_every=50, val_samples=48,
                          group_by_image="groups" in flags, **(dict(negative_ratio=float(mix[0]), hard_negative_share=float(mix[1])) if mix else {}))
        run = Path(out)/option.replace(":", "_").replace("+", "_")
        train_phase(cfg, world, run, teacher="annotation", progress=False, student_overrides={"mask_prior": prior, "query_anchors": "grid" if "anchors" in flags else "none"})
        model, _ = load_student(run)
        _, val = build_datasets(world, model.cfg.image_size, val_fraction=cfg.val_fraction, seed=cfg.seed,
                                tokenizer=DualTokenizer(student_context=model.cfg.context_length))
        r = evaluate(model, val, 200, progress=False)
        print(json.dumps({"option": option, "steps": steps, "negative_ratio": cfg.negative_ratio, "hard_negative_share": cfg.hard_negative_share,
                          "group_by_image": cfg.group_by_image,
                          **{k: round(r[k], 4) if isinstance(r.get(k), float) else r.get(k) for k in KEYS},
                          "image_path_params": param_table(model.cfg)["image_path_params"], "ms": round(model_cost(model, n=20)["ms"], 2)}),
              flush=True)

def cost(rounds: int = 15):
    import statistics, time
    from sam3m4.student import Sam3m4Student, student_config
    torch.set_num_threads(1); torch.manual_seed(0)
    models = {p: Sam3m4Student(student_config("small", mask_prior=p)).eval() for p in ("none", "box")}
    S, L = models["box"].cfg.image_size, models["box"].cfg.context_length
    img, ids = torch.rand(1, 3, S, S), torch.zeros(1, L, dtype=torch.long)
    times = {p: [] for p in models}
    with torch.no_grad():
        for _ in range(3):
            for m in models.values(): m(img, ids)
        for _ in range(rounds):
            for p, m in models.items():
                t0 = time.perf_counter(); m(img, ids); times[p].append((time.perf_counter() - t0) * 1e3)
    ms = {p: statistics.median(t) for p, t in times.items()}
    print(json.dumps({"image_size": S, "rounds": rounds, **{f"params_{p}": param_count(m) for p, m in models.items()},
                      **{f"ms_{p}": round(v, 2) for p, v in ms.items()}, "ratio_box_vs_none": round(ms["box"] / ms["none"], 3)}))

if __name__ == "__main__":
    if sys.argv[1:2] == ["--cost"]: cost(*map(int, sys.argv[2:3])); sys.exit()
    if len(sys.argv) < 3: sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2], *(int(sys.argv[3]),) if len(sys.argv) > 3 else (), *(sys.argv[4:5]))
