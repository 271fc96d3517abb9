"""Training speed on this machine: steps/s of `train_phase` for a student config, with the live annotation teacher vs its cache.

python scripts/bench_train.py --students tiny mobile --steps 6 --batch-size 2 [--threads 1] [--out DIR]
Prints one JSON row per (student, teacher); steps/s counts training steps only (no validation / checkpoint writes).
"""
import argparse, json, sys, tempfile, time
from pathlib import Path

import torch

from sam3m4.world import make_world, TINY_WORLD
from sam3m4.student import student_config
from sam3m4.teacher_cache import build_teacher_caches
from sam3m4.trainer import Phase2Config, train_phase

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", nargs="+", default=["tiny", "mobile"]); ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-size", type=int, default=2); ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu"); ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--sam3-random", action="store_true", help="teacher: a tiny random-weight SAM 3 (the real architecture) instead of annotations")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    root = a.out or Path(tempfile.mkdtemp(prefix="bench_train_"))
    world = root/"world"
    if not (world/"world.json").is_file(): make_world(world, TINY_WORLD, progress=False)
    rows = []
    for name in a.students:
        S = student_config(name).image_size
        live = "annotation"
        if a.sam3_random:
            from sam3m4.teacher import Sam3Teacher, TeacherConfig
            live = Sam3Teacher.random_init("tiny", TeacherConfig(top_q=8))
        t0 = time.time(); build_teacher_caches(live, world, root/f"cache_{name}", S, progress=False); cache_s = time.time() - t0
        for teacher in (live, root/f"cache_{name}"):
            cfg = Phase2Config(student=name, steps=a.steps + 1, batch_size=a.batch_size, ckpt_every=10_000, val_samples=a.batch_size,
                               warmup=1, device=a.device, tensorboard=False)
            tag = f"{name}_{'live' if teacher is live else 'cache'}"
            train_phase(cfg, world, root/f"warmup_{tag}", teacher=teacher, progress=False, from_scratch=True, stop_after=1)  # first-call costs
            cfg.steps = a.steps
            r = train_phase(cfg, world, root/f"run_{tag}", teacher=teacher, progress=False, from_scratch=True)
            rows.append({"student": name, "image_size": S, "teacher": ("live " + ("random SAM 3 (tiny)" if a.sam3_random else "annotation")) if teacher is live else "cache",
                         "batch_size": a.batch_size, "steps": r.steps - r.start, "steps_per_s": r.steps_per_s,
                         "samples_per_s": round(r.steps_per_s * a.batch_size, 3) if r.steps_per_s else None,
                         "cache_build_s": round(cache_s, 2), "threads": a.threads, "device": a.device})
            print(json.dumps(rows[-1]), flush=True)
    return rows

if __name__ == "__main__": main()
