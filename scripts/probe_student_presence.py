#!/usr/bin/env python
"""What decides a student's presence: its presence logit taken apart into the presence token's term and the heat-map term
(`presence_heat` × the soft maximum of the pixel–text heat map, 04_student), averaged over every (held-out image,
concept) pair of a world by how the concept relates to the image and what the student answered.

    python scripts/probe_student_presence.py CKPT WORLD

CKPT: a student checkpoint (a step folder or a run folder: its best); WORLD: a world folder (its held-out split, as the
report's). Prints one JSON document: {kind: {answered: [pairs, mean token term, mean heat term]}}, kind one of
`positive`, `same_colour` (absent, sharing the colour of an object there), `same_shape` (sharing only the shape), `easy`."""
import json, math, sys

import torch

from sam3m4.grounded import all_prompt_pairs, build_datasets, collate_samples
from sam3m4.student import load_student

def kind(pairs, j: int) -> str:
    "Pair `j` of `all_prompt_pairs`: positive, easy, or hard split by what it shares (a world concept is 'colour shape')."
    k = pairs.negative_kind(j)
    if k is None: return "positive"
    if k == "easy": return k
    rec, prompt = pairs.records[pairs.samples[j][0]], pairs.samples[j][1]
    return "same_colour" if any(c.split()[0] == prompt.split()[0] for c in rec.categories) else "same_shape"

@torch.no_grad()
def main(ckpt, world, batch_size: int = 16) -> dict:
    model, _ = load_student(ckpt); model.eval()
    _, val = build_datasets(world, model.cfg.image_size, val_fraction=0.15, seed=0)
    ds, rows = all_prompt_pairs(val.records, val.prompts, val.tok, val.size), {}
    kinds = [kind(ds, j) for j in range(len(ds))]
    for i in range(0, len(ds), batch_size):
        batch = collate_samples([ds[j] for j in range(i, min(i + batch_size, len(ds)))])
        out = model(batch["image"], batch["student_ids"])
        heat = out["heat_logits"].flatten(1)
        heat_term = model.image_path.presence_heat * (torch.logsumexp(2.0 * heat, -1) - math.log(heat.shape[-1])) / 2.0
        for k, (h, p) in enumerate(zip(heat_term.tolist(), out["presence_logit"].tolist())):
            rows.setdefault(kinds[i + k], {}).setdefault("present" if p > 0 else "absent", []).append((p - h, h))
    return {kd: {ans: [len(v), round(sum(t for t, _ in v) / len(v), 3), round(sum(h for _, h in v) / len(v), 3)] for ans, v in sorted(a.items())}
            for kd, a in sorted(rows.items())}

if __name__ == "__main__":
    if len(sys.argv) < 3: sys.exit(__doc__)
    torch.set_num_threads(1)
    print(json.dumps(main(*sys.argv[1:3]), indent=1))
