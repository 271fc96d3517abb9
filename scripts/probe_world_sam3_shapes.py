#!/usr/bin/env python
"""Where a world SAM 3 loses the shape word: its hard negatives by what they share with the image, its text features, and
how well its vision features tell the shapes apart.

    python scripts/probe_world_sam3_shapes.py SAM3 WORLD FIT_WORLD [IMAGE_SIZE]

SAM3: a world SAM 3 Hugging Face folder (e.g. `sam3m4/assets/world_sam3`) or a fit's checkpoint folder
(`OUT/run/ckpt/step_NNNNNN`, with IMAGE_SIZE its `WorldSam3Config.image_size`, default 112). WORLD: the world it is
scored on (its held-out split, as `score_world_sam3` scores it); FIT_WORLD: images it trained on (`OUT/world` of `fit-world`), where
the probes are fitted. Prints one JSON document:
- `hard_negatives`: the held-out hard negatives by kind, [count, answered present]: `swap` (the same colour as an object
  there, the other of circle and square), `same_colour` (the rest sharing a colour), `same_shape` (sharing only the shape);
- `text_eot_cosine`: cosine of the text encoder's end-of-text feature between prompts that differ in one word;
- `vision_probe`: accuracy of a logistic regression on the vision features pooled over each object's mask (fitted on
  FIT_WORLD's images, scored on all of WORLD's, which a `fit-world` fit never sees: it draws its own world with seed + 1)
  for circle against square, and triangle against the other two; for circle against square also
  `text_agreement_held_out`: how often an object's pooled feature is nearer its own prompt's pooled text feature than its
  swap's (what `WorldSam3Config.w_align` trains), no probe fitted."""
import json, sys
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F

from sam3m4.core import load_checkpoint
from sam3m4.evaluation import evaluate
from sam3m4.grounded import all_prompt_pairs, build_datasets, collate_samples
from sam3m4.prompts import DualTokenizer
from sam3m4.teacher import Sam3Teacher, TeacherConfig, eot_attention_mask, sam3_text_encode
from sam3m4.teacher_cache import make_teacher
from sam3m4.world_sam3 import WorldSam3Config, pool_over_mask, sam3_weights_only, world_sam3_model

SWAP = {"circle": "square", "square": "circle"}

@lru_cache
def splits(world: str):
    "(train, held-out) of `world` as `score_world_sam3` splits it; read once per world."
    return build_datasets(world, WorldSam3Config.student_size, val_fraction=WorldSam3Config.val_fraction, seed=WorldSam3Config.seed)

def load(spec: str, image_size: int):
    "A Sam3Teacher (features on) from a HF folder or a fit's checkpoint folder."
    if (Path(spec)/"config.json").is_file(): return make_teacher(spec, TeacherConfig(features=True))
    model = world_sam3_model(WorldSam3Config(image_size=image_size))
    model.load_state_dict(sam3_weights_only(load_checkpoint(spec)[0]))   # less a --align-head fit's head
    return Sam3Teacher(model.eval(), cfg=TeacherConfig(features=True))

def hard_negative_kinds(teacher, world) -> dict:
    "{kind: [held-out hard negatives, answered present]} (kinds above), from `score_world_sam3`'s errors."
    _, val = splits(world)
    errors = {(str(i), p) for i, p in evaluate(teacher, val, num=200, progress=False)["hard_negative_errors"]}   # as score_world_sam3
    pairs, out = all_prompt_pairs(val.records, val.prompts, val.tok, val.size), {}
    for j in range(len(pairs)):
        if pairs.negative_kind(j) != "hard": continue
        rec, prompt = pairs.records[pairs.samples[j][0]], pairs.samples[j][1]
        colour, shape = prompt.split()
        kind = ("swap" if f"{colour} {SWAP.get(shape)}" in rec.categories else
                "same_colour" if any(c.split()[0] == colour for c in rec.categories) else "same_shape")
        n = out.setdefault(kind, [0, 0]); n[0] += 1; n[1] += (str(rec.image_id), prompt) in errors
    return out

def text_eot_cosine(model, pairs) -> dict:
    "{'a | b': cosine of the end-of-text token's feature (after the text projection) of prompts a and b}."
    tok, res = DualTokenizer(), {}
    for a, b in pairs:
        ids = tok.teacher([a, b]); mask = eot_attention_mask(ids)
        with torch.no_grad():
            h = model.get_text_features(input_ids=ids, attention_mask=mask, return_dict=True).pooler_output
        eot = mask.sum(1) - 1                                  # the mask ends at the first end-of-text token
        f = F.normalize(h[torch.arange(2), eot], dim=-1)
        res[f"{a} | {b}"] = round(float(f[0] @ f[1]), 4)
    return res

def mask_pooled_features(teacher, world, split: str, shapes, limit: int = 600):
    """(features [N, C], shape index [N], prompt [N]) of the objects of `shapes` in `world`'s train split (`split="train"`) or all its
    images (`"all"`), vision features pooled over each mask; the positive samples of at most `limit` prompts."""
    tr, val = splits(world)
    rows = [ds[i] for ds in ((tr,) if split == "train" else (tr, val)) for i in range(len(ds)) if ds.samples[i][1].split()[-1] in shapes]
    rows = rows[:limit]
    X, y, names = [], [], []
    with torch.no_grad():
        for b in range(0, len(rows), 16):
            batch = collate_samples(rows[b:b + 16])
            for o, masks, prompt in zip(teacher(batch), batch["masks"], batch["prompt"]):
                f = o["features"]
                for m in masks:
                    if (v := pool_over_mask(f, m)) is None: continue
                    X.append(v); y.append(shapes.index(prompt.split()[-1])); names.append(prompt)
    return torch.stack(X), torch.tensor(y), names

def text_agreement(model, X, prompts) -> float:
    """Share of the circle and square objects whose pooled feature is nearer (cosine) the pooled text feature of its own
    prompt than that of its swap: what `region_phrase_loss` trains, read without a fitted probe."""
    tok = DualTokenizer()
    swapped = [f"{p.split()[0]} {SWAP[p.split()[1]]}" for p in prompts]
    with torch.no_grad():
        own, other = (F.normalize(sam3_text_encode(model, tok.teacher(ps))[1], dim=-1) for ps in (prompts, swapped))
    x = F.normalize(X, dim=-1)
    return float(((x * own).sum(1) > (x * other).sum(1)).float().mean())

def probe_accuracy(Xtr, ytr, Xte, yte, steps: int = 300) -> tuple[float, float]:
    "(train, held-out) accuracy of an L2-regularised logistic regression (LBFGS) on standardised features."
    mu, sd = Xtr.mean(0), Xtr.std(0).clamp_min(1e-6)
    Xtr, Xte = (Xtr - mu) / sd, (Xte - mu) / sd
    lin = torch.nn.Linear(Xtr.shape[1], int(ytr.max()) + 1)
    opt = torch.optim.LBFGS(lin.parameters(), max_iter=steps)
    def closure():
        opt.zero_grad(); loss = F.cross_entropy(lin(Xtr), ytr) + 1e-3 * lin.weight.square().sum(); loss.backward(); return loss
    opt.step(closure)
    with torch.no_grad(): return float((lin(Xtr).argmax(1) == ytr).float().mean()), float((lin(Xte).argmax(1) == yte).float().mean())

def main(spec, world, fit_world, image_size=112):
    torch.manual_seed(0)
    teacher = load(spec, int(image_size))
    res = {"sam3": spec, "hard_negatives": hard_negative_kinds(teacher, world),
           "text_eot_cosine": text_eot_cosine(teacher.model, [("green circle", "green square"), ("red circle", "red square"),
                                                               ("green circle", "green triangle"), ("green circle", "red circle")])}
    probes = {}
    for name, shapes in (("circle_vs_square", ["circle", "square"]), ("triangle_vs_rest", ["triangle", "circle", "square"])):
        Xtr, ytr, _ = mask_pooled_features(teacher, fit_world, "train", shapes)
        Xte, yte, names = mask_pooled_features(teacher, world, "all", shapes)
        if name == "triangle_vs_rest": ytr, yte = (ytr == 0).long(), (yte == 0).long()
        tr, te = probe_accuracy(Xtr, ytr, Xte, yte)
        probes[name] = {"objects": [len(ytr), len(yte)], "train_acc": round(tr, 3), "held_out_acc": round(te, 3),
                        "majority_held_out": round(float(max(yte.float().mean(), 1 - yte.float().mean())), 3)}
        if name == "circle_vs_square": probes[name]["text_agreement_held_out"] = round(text_agreement(teacher.model, Xte, names), 3)
    print(json.dumps(res | {"vision_probe": probes}))

if __name__ == "__main__":
    if len(sys.argv) < 4: sys.exit(__doc__)
    main(*sys.argv[1:5])
