#!/usr/bin/env python
"""Teacher-output cache benchmark: cache size per image, and one pass over the data with the cache vs the live teacher.

    python scripts/bench_cache.py                       # tiny built-in world, tiny random-init SAM 3 as the live teacher
    python scripts/bench_cache.py --sam3 full --n 4     # the full-size SAM 3 architecture (random init, 1008 px): slow on CPU
    python scripts/bench_cache.py --teacher /models/sam3 --data outputs/world   # a real local SAM 3 (not run here: no weights)

What is timed, per pass over the dataset (same DataLoader, batch size, order):
  data only      - loading + collating the samples (the floor both other passes pay),
  live teacher   - data + the teacher's forward on every batch,
  cached teacher - data + reading the same outputs from the cache (CachedTeacher).
The speed-up printed is live / cached for a whole pass. The student step is not included (it is the same in both
cases, so it only dilutes the ratio); the cache build time is printed separately (paid once).
Everything runs on this machine's CPU; the random-init teacher's outputs are noise, its timing is the real model's.
"""
import argparse, json, sys, tempfile, time
from pathlib import Path

import torch


def one_pass(loader, teacher=None) -> float:
    t0 = time.perf_counter()
    for b in loader:
        if teacher is not None: teacher(b)
    return time.perf_counter() - t0


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=None, help="built-in world folder (default: make the tiny world in a temp dir)")
    ap.add_argument("--sam3", default="tiny", choices=["tiny", "full"], help="random-init SAM 3 size for the live teacher")
    ap.add_argument("--teacher", default=None, help="a local SAM 3 folder / sam3.pt instead of a random-init one")
    ap.add_argument("--image-size", type=int, default=64, help="dataset image side")
    ap.add_argument("--n", type=int, default=None, help="use only the first N samples")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3, help="passes per variant; the median is reported")
    ap.add_argument("--no-features", action="store_true", help="the teacher returns (and the cache stores) no vision / text features "
                    "(by default it does, as `sam3m4 teacher cache`)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from sam3m4.prompts import DualTokenizer
    from sam3m4.world import make_world, TINY_WORLD
    from sam3m4.grounded import GroundedDataset, load_records, make_loader
    from sam3m4.teacher import AnnotationTeacher, Sam3Teacher, TeacherConfig
    from sam3m4.teacher_cache import CachedTeacher, TeacherCache, build_teacher_cache
    tmp = Path(tempfile.mkdtemp(prefix="bench_cache_"))
    data = args.data
    if data is None:
        data = tmp / "world"; make_world(data, TINY_WORLD, progress=False)
    recs, prompts = load_records(data)
    ds = GroundedDataset(recs, prompts, DualTokenizer(), image_size=args.image_size, negative_ratio=0.3)   # every image, no split
    if args.n: ds = torch.utils.data.Subset(ds, range(min(args.n, len(ds))))
    cfg = TeacherConfig(features=not args.no_features)
    live = Sam3Teacher.from_path(args.teacher, cfg) if args.teacher else Sam3Teacher.random_init(args.sam3, cfg)
    what = live.source if args.teacher else f"random-init SAM 3 '{args.sam3}' ({sum(p.numel() for p in live.model.parameters()) / 1e6:.1f} M params, {live.image_size} px input)"

    rows = []
    for name, teacher in [("annotation", AnnotationTeacher(cfg)), ("sam3", live)]:
        t0 = time.perf_counter()
        r = build_teacher_cache(teacher, ds, tmp / f"cache_{name}", batch_size=args.batch_size, progress=not args.json)
        build_s = time.perf_counter() - t0
        cached = CachedTeacher(TeacherCache(tmp / f"cache_{name}"))
        loader = make_loader(ds, batch_size=args.batch_size, shuffle=False)
        med = lambda xs: sorted(xs)[len(xs) // 2]
        t_data = med([one_pass(loader) for _ in range(args.repeats)])
        t_live = med([one_pass(loader, teacher) for _ in range(args.repeats)])
        t_cache = med([one_pass(loader, cached) for _ in range(args.repeats)])
        rows.append({"teacher": name, "source": teacher.source, "items": r["n_items"], "mask_format": cached.cache.index["options"]["mask_format"],
                     "cache_bytes": r["bytes"], "bytes_per_image": round(r["bytes_per_image"], 1),
                     "bytes_per_item": round(r["bytes_per_item"], 1), "build_s": round(build_s, 3),
                     "pass_data_s": round(t_data, 4), "pass_live_s": round(t_live, 4), "pass_cached_s": round(t_cache, 4),
                     "speedup_live_over_cached": round(t_live / t_cache, 2),
                     # teacher time alone; 'noise' when the live teacher costs less than run-to-run jitter of data loading
                     "teacher_only_speedup": round((t_live - t_data) / max(t_cache - t_data, 1e-4), 1) if t_live > t_data * 1.05 else "noise"})
    result = {"live_teacher": what, "device": "cpu", "threads": args.threads, "image_size": args.image_size,
              "batch_size": args.batch_size, "repeats": args.repeats, "table": rows}
    if args.json: print(json.dumps(result))
    else:
        print(f"live teacher: {what}; CPU, {args.threads} thread(s); median of {args.repeats} passes; batch {args.batch_size}")
        cols = list(rows[0])
        print("  ".join(cols)); [print("  ".join(str(r[c]) for c in cols)) for r in rows]
        print("speedup_live_over_cached = (data + live teacher) / (data + cache) for one pass; "
              "teacher_only_speedup removes the shared data-loading time (cache read floor 0.1 ms).")
    return result


if __name__ == "__main__":
    main()
