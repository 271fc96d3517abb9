#!/usr/bin/env python
"""SA-1B throughput, unpacked folder vs tar shards: images/s at the teacher's input size (1008) and the student's, 0 vs 2 workers.

    python scripts/bench_sa1b_tar.py                         # 32 world images at 1500x1500, 4 shards; sizes 1008 and 128
    python scripts/bench_sa1b_tar.py --sizes 1008 --workers 0 2 4
    python scripts/bench_sa1b_tar.py --shards-dir /data/sa1b --images 400   # real shards (not run here: no data);
                                                                            # the folder column is then left out

Three readers of the same images, each timed for one pass through a DataLoader (first batch excluded: worker start-up):
  folder  GroundedDataset over `load_sa1b` records (the files unpacked),
  tar     GroundedDataset over `load_sa1b_tar` records (random access: one seek + read per image inside the shard),
  stream  SA1BShardStream (each worker reads whole shards front to back; no index).
Each sample: JPEG decode, every RLE mask decoded at the original resolution, letterbox to the input size, boxes, collation.
The table prints images/s side by side with the ratios tar/folder, stream/folder and 2-workers/0-workers. Figures on a
shared machine move with its load: compare ratios from one run, not absolute numbers across runs.
"""
import argparse, json, statistics, sys, tarfile, tempfile, time
from pathlib import Path

import torch


def one_pass(loader) -> tuple[float, int]:
    "Seconds and images for one pass, first batch excluded."
    it = iter(loader); next(it)
    t0 = time.perf_counter(); n = 0
    for b in it: n += len(b["image"])
    return time.perf_counter() - t0, n


def pack_shards(folder: Path, out: Path, shards: int) -> list[Path]:
    "Pack an SA-1B folder's jpg+json pairs into `shards` uncompressed tars, pairs adjacent (as SA-1B ships them)."
    stems = sorted(p.stem for p in folder.glob("sa_*.json"))
    out.mkdir(parents=True, exist_ok=True); paths = []
    for s in range(shards):
        p = out/f"sa_{s:06d}.tar"; paths.append(p)
        with tarfile.open(p, "w") as tf:
            for stem in stems[s::shards]:
                for ext in (".jpg", ".json"): tf.add(folder/(stem + ext), arcname=stem + ext)
    return paths


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shards-dir", type=Path, default=None, help="real SA-1B tar shards (default: write the world and pack it)")
    ap.add_argument("--write-size", type=int, default=1500, help="side of the world images written (px)")
    ap.add_argument("--images", type=int, default=32, help="images to write / read per pass")
    ap.add_argument("--shards", type=int, default=4, help="shards to pack the written images into (>= the largest worker count)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1008, 128], help="input sides: the teacher's 1008, the small student's 128")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2, help="passes per cell; the median is reported")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads in the main process")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from sam3m4.prompts import DualTokenizer
    from sam3m4.sa1b import load_sa1b, load_sa1b_tar, sa1b_shards, SA1BShardStream
    from sam3m4.world import make_world, WorldConfig
    from sam3m4.grounded import collate_samples, GroundedDataset, make_loader
    tok = DualTokenizer()
    folder = None
    if args.shards_dir is None:
        root = Path(tempfile.mkdtemp(prefix="bench_sa1b_tar_"))
        t0 = time.perf_counter()
        make_world(root/"world", WorldConfig(n_images=args.images, image_size=args.write_size, n_videos=0), progress=False)
        folder = root/"world"/"sa1b"
        shards = pack_shards(folder, root/"shards", args.shards)
        print(f"wrote {args.images} images at {args.write_size}px, packed into {len(shards)} shards in {time.perf_counter() - t0:.1f}s",
              file=sys.stderr)
        source = f"built-in world, {args.write_size}x{args.write_size} JPEG, {len(shards)} shards"
    else:
        shards, source = sa1b_shards(args.shards_dir), str(args.shards_dir)

    scan = {}
    t0 = time.perf_counter(); tar_recs, _ = load_sa1b_tar(shards, skip_bad=True, check_images=True, limit=args.images)
    scan["tar"] = len(tar_recs) / (time.perf_counter() - t0)
    readers = {"tar": tar_recs}
    if folder is not None:
        t0 = time.perf_counter(); recs, _ = load_sa1b(folder, skip_bad=True, check_masks=True, limit=args.images)
        scan["folder"] = len(recs) / (time.perf_counter() - t0)
        readers = {"folder": recs, **readers}
    masks = sum(len(r.annotations) for r in tar_recs) / max(1, len(tar_recs))

    def rate(make) -> float:
        runs = [one_pass(make()) for _ in range(args.repeats)]
        secs = statistics.median(s for s, _ in runs)
        return runs[0][1] / secs if secs > 0 else float("nan")

    table = []
    for size in args.sizes:
        for w in args.workers:
            row = {"size": size, "workers": w}
            for name, recs in readers.items():
                ds = GroundedDataset(recs, ["object"], tok, image_size=size, negative_ratio=0.0)
                row[name] = rate(lambda: make_loader(ds, batch_size=args.batch_size, shuffle=False, workers=w))
            st = SA1BShardStream(shards, tok, image_size=size, world_size=1, rank=0)
            row["stream"] = rate(lambda: torch.utils.data.DataLoader(st, batch_size=args.batch_size, num_workers=w,
                                                                     collate_fn=collate_samples))
            if "folder" in row:
                row["tar/folder"] = row["tar"] / row["folder"]; row["stream/folder"] = row["stream"] / row["folder"]
            table.append(row)
    w0 = min(args.workers)
    for row in table:   # speed-up of each reader over the fewest workers at the same size
        base = next(r for r in table if r["size"] == row["size"] and r["workers"] == w0)
        for name in ("folder", "tar", "stream"):
            if name in row: row[f"{name} w/w{w0}"] = row[name] / base[name]
    table = [{k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in table]
    result = {"source": source, "images": len(tar_recs), "masks_per_image": round(masks, 2), "threads": args.threads,
              "scan_images_per_s": {k: round(v, 2) for k, v in scan.items()}, "table": table}
    if args.json: print(json.dumps(result))
    else:
        print(f"SA-1B images/s, {result['images']} images ({source}; {result['masks_per_image']} masks/image); "
              f"scan images/s (json + masks + image checked): {result['scan_images_per_s']}")
        cols = list(table[0])
        print("  " + "  ".join(f"{c:>13}" for c in cols))
        for r in table: print("  " + "  ".join(f"{r.get(c, ''):>13}" for c in cols))
    return result


if __name__ == "__main__":
    main()
