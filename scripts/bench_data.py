#!/usr/bin/env python
"""SA-1B reader throughput: images/s through the training DataLoader at the model's input size (default 1024 px).

    python scripts/bench_data.py                          # writes 24 world images at 1500x1500 in SA-1B layout, reads at 1024
    python scripts/bench_data.py --workers 0 2 4          # compare worker counts
    python scripts/bench_data.py --sa1b /data/sa1b/sa_000000 --images 200   # a real SA-1B folder (not run here: no data)

What is timed: the SA-1B folder is scanned with `load_sa1b` (json parse + every RLE checked + image decoded once, the
`scan` figure), then one pass of a `GroundedDataset` (prompt "object", every instance of the image is a target) through
`make_loader`: JPEG decode, RLE decode of every mask at the original resolution, resize/pad to --input-size (image
bilinear+antialias, masks nearest), boxes from the masks, collation. The first batch is excluded (worker start-up).
Real SA-1B images are ~1500x2250 with ~100 masks; the built-in world's images are square with few masks, so its mask
cost per image is lower than SA-1B's: the written size and the mask count are printed with the numbers.
"""
import argparse, json, statistics, sys, tempfile, time
from pathlib import Path

import torch


def one_pass(loader) -> tuple[float, int]:
    "Seconds and images for one pass, first batch excluded (worker start-up, first-touch costs)."
    it = iter(loader); first = next(it)
    t0 = time.perf_counter(); n = 0
    for b in it: n += len(b["image"])
    return time.perf_counter() - t0, n


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sa1b", type=Path, default=None, help="an SA-1B folder (default: write the built-in world in SA-1B layout)")
    ap.add_argument("--write-size", type=int, default=1500, help="side of the world images written (px) when --sa1b is not given")
    ap.add_argument("--images", type=int, default=24, help="images to write / read")
    ap.add_argument("--input-size", type=int, default=1024, help="model input side the reader resizes/pads to")
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader worker counts to time")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2, help="passes per worker count; the median is reported")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads in the main process")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    from sam3m4.prompts import DualTokenizer
    from sam3m4.sa1b import load_sa1b
    from sam3m4.world import make_world, WorldConfig
    from sam3m4.grounded import GroundedDataset, make_loader
    folder, source = args.sa1b, str(args.sa1b)
    if folder is None:
        folder = Path(tempfile.mkdtemp(prefix="bench_data_")) / "world"
        t0 = time.perf_counter()
        make_world(folder, WorldConfig(n_images=args.images, image_size=args.write_size, n_videos=0), progress=False)
        print(f"wrote {args.images} world images at {args.write_size}x{args.write_size} in {time.perf_counter() - t0:.1f}s",
              file=sys.stderr)
        folder, source = folder / "sa1b", f"built-in world, {args.write_size}x{args.write_size} JPEG (quality 95)"
    t0 = time.perf_counter()
    recs, skipped = load_sa1b(folder, skip_bad=True, limit=args.images)
    scan_s = time.perf_counter() - t0
    ds = GroundedDataset(recs, ["object"], DualTokenizer(), image_size=args.input_size, negative_ratio=0.0)
    masks = sum(len(r.annotations) for r in recs)
    result = {"source": source, "images": len(recs), "skipped": len(skipped), "masks_per_image": round(masks / max(1, len(recs)), 2),
              "original_size": f"{recs[0].height}x{recs[0].width}" if recs else None, "input_size": args.input_size,
              "scan_images_per_s": round(len(recs) / scan_s, 2), "table": []}
    for w in args.workers:
        runs = [one_pass(make_loader(ds, batch_size=args.batch_size, shuffle=False, workers=w)) for _ in range(args.repeats)]
        secs = statistics.median(s for s, _ in runs); n = runs[0][1]
        result["table"].append({"workers": w, "batch_size": args.batch_size, "images_timed": n, "seconds": round(secs, 3),
                                "images_per_s": round(n / secs, 2) if secs > 0 else None})
    if args.json: print(json.dumps(result))
    else:
        print(f"SA-1B reader at {args.input_size} px on {result['images']} images ({result['original_size']}, "
              f"{result['masks_per_image']} masks/image; {source}); scan: {result['scan_images_per_s']} images/s")
        for r in result["table"]:
            print(f"  workers={r['workers']:<2} batch={r['batch_size']}  {r['images_per_s']} images/s  ({r['images_timed']} images in {r['seconds']} s)")
    return result


if __name__ == "__main__":
    main()
