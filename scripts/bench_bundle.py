#!/usr/bin/env python
"""The app bundle, side by side in one run: fp32 vs int8 XNNPACK bundles of one student (random init unless --ckpt), each
program method timed interleaved through the ExecuTorch runtime (the reference app's `Bundle.run`), the tracker step
against the image path, the reference app's end-to-end streaming fps on a synthetic clip, sizes and delegation, and
(--sam3) the full SAM 3 architecture's eager image path at 1008 px as the reference. Absolute figures are this CPU's (recorded under `cpu`);
the ratios are the result. `image_macs` says where a frame's time goes (student.macs_table: shares per part).

    python scripts/bench_bundle.py [--student small] [--image-size N] [--objects 2] [--runs 10] [--threads 2] [--w8] [--sam3] [--json]
"""
from __future__ import annotations
import argparse, json, os, platform, statistics, sys, tempfile, time
from pathlib import Path

import torch

from sam3m4.app import Bundle, BundleTracker
from sam3m4.bundle import BundleConfig, export_bundle
from sam3m4.student import load_student, macs_table, student_config
from sam3m4.tracker import synthetic_clip


def cpu() -> dict:
    "This machine's CPU as the figures depend on it: model name, cores, and the vector extensions XNNPACK picks kernels by."
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    field = lambda k: next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.startswith(k)), "")
    isa = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "asimddp", "i8mm")
    return {"model": field("model name") or platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "isa": [f for f in isa if f in field("flags").split() + field("Features").split()]}


def _inputs(b: Bundle, method: str, objects: int) -> list:
    "Inputs of the manifest's shapes for `method`: a real prompt, a random frame, a state started from `objects` boxes."
    S = b.image_size
    if method == "text_encoder.forward": return [b.tokenizer("red circle")]
    frame = torch.rand(1, 3, S, S, generator=torch.Generator().manual_seed(0))
    if method == "image.forward": return [frame, *b.prompt("red circle")]
    feats = b.image_outputs(frame, "red circle")["features"]
    N = b.manifest["tracking"]["max_objects"]; H = S // 4
    masks = torch.zeros(N, H, H)
    for k in range(min(objects, N)): masks[k, (k * H) // N:((k + 1) * H) // N, H // 4:H // 2] = 1
    state = b.run("tracker.init", feats, frame, masks)
    if method == "tracker.init": return [feats, frame, masks]
    if method == "tracker.predict": return [feats, frame, *state]
    logits, _, ptr_new = b.run("tracker.predict", feats, frame, *state)
    return [feats, ptr_new, (logits > 0).float(), *state[:3]]


def _streaming_fps(b: Bundle, frames: torch.Tensor, objects: torch.Tensor) -> float:
    "Frames per second of the reference app's loop (image.pte + tracker.pte + host glue) after the first frame."
    tr = BundleTracker(b); tr.init(frames[0], "red circle", masks=objects)
    t0 = time.perf_counter()
    for f in frames[1:]: tr.step(f)
    return (len(frames) - 1) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", default="small"); ap.add_argument("--ckpt"); ap.add_argument("--image-size", type=int)
    ap.add_argument("--objects", type=int, default=2, help="objects tracked (state rows in use); the bundle has max(4, this) rows")
    ap.add_argument("--runs", type=int, default=10); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--frames", type=int, default=12, help="frames of the streaming run")
    ap.add_argument("--w8", action="store_true", help="also an int8 bundle with 8-bit linear weights (the default stores them at 4 bits)")
    ap.add_argument("--sam3", action="store_true", help="also time SAM 3's eager image path at 1008 px (random init)")
    ap.add_argument("--out", help="keep the bundles here (default: a temporary folder)"); ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    root = Path(a.out or tempfile.mkdtemp(prefix="bench_bundle_"))
    src = {"ckpt": a.ckpt} if a.ckpt else {"student": a.student}
    built, bundles = {}, {}
    variants = {"none": {"quant": "none"}, "int8": {"quant": "int8"}, **({"int8_w8": {"quant": "int8", "linear_weight_bits": 8}} if a.w8 else {})}
    for q, kw in variants.items():
        t0 = time.perf_counter()
        built[q] = export_bundle(root/q, cfg=BundleConfig(**kw, image_size=a.image_size, max_objects=max(4, a.objects)), **src)
        print(f"[bench] {q} bundle lowered in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        bundles[q] = Bundle(root/q)
    methods = list(bundles["none"].specs)
    ins = {q: {m: _inputs(b, m, a.objects) for m in methods} for q, b in bundles.items()}
    ms = {q: {m: [] for m in methods} for q in bundles}
    for q, b in bundles.items():                                   # warm up (the first call packs weights)
        for m in methods: b.run(m, *ins[q][m])
    for _ in range(a.runs):                                        # interleaved: both variants see the same machine load
        for m in methods:
            for q, b in bundles.items():
                t0 = time.perf_counter(); b.run(m, *ins[q][m]); ms[q][m].append((time.perf_counter() - t0) * 1000)
    med = {q: {m: statistics.median(v) for m, v in d.items()} for q, d in ms.items()}
    rows = [{"method": m, "fp32_ms": round(med["none"][m], 2), "int8_ms": round(med["int8"][m], 2),
             "int8_speedup": round(med["none"][m] / med["int8"][m], 3),
             **({"int8_w8_ms": round(med["int8_w8"][m], 2), "w4_vs_w8_speedup": round(med["int8_w8"][m] / med["int8"][m], 3)} if a.w8 else {})}
            for m in methods]
    S = bundles["none"].image_size
    scfg = load_student(a.ckpt)[0].cfg if a.ckpt else student_config(a.student)
    macs = macs_table(scfg, S)
    step = {q: med[q]["tracker.predict"] + med[q]["tracker.commit"] for q in bundles}
    clip = synthetic_clip(T=a.frames, S=S); vis = clip["masks"][0].flatten(1).any(1)
    fps = {q: _streaming_fps(b, clip["frames"], clip["masks"][0][vis][: a.objects]) for q, b in bundles.items()}
    res = {"student": a.ckpt or a.student, "image_size": S, "objects": a.objects, "threads": a.threads,
           "runs": a.runs, "cpu": cpu(), "methods": rows,
           "image_macs": {"total_g": macs["total_gmacs"], **{r["part"]: r["share"] for r in macs["table"]}},
           "tracker_step_vs_image": {q: round(step[q] / med[q]["image.forward"], 3) for q in bundles},
           "streaming_fps": {q: round(v, 2) for q, v in fps.items()},
           "bundle_mb": {q: built[q]["bundle_mb"] for q in bundles},
           "program_mb": {q: {k: round(p["bytes"] / 2**20, 2) for k, p in built[q]["programs"].items()} for q in bundles},
           "delegation": {q: built[q]["programs"] for q in bundles},
           "note": "tracker step = predict + commit for the state's rows; streaming = image.pte + tracker.pte + host glue per frame"}
    if a.sam3:
        sys.path.insert(0, str(Path(__file__).parent))
        from bench_export import bench_sam3
        sam3 = bench_sam3(1008, runs=1, warmup=0)
        res["sam3_eager_ms_1008"] = round(sam3["eager_ms"], 1)
        res["sam3_vs_bundle_image"] = {q: round(sam3["eager_ms"] / med[q]["image.forward"], 1) for q in bundles}
    if a.json: print(json.dumps(res, indent=1))
    else:
        print(f"CPU: {res['cpu']['model']} ({', '.join(res['cpu']['isa'])})")
        print(f"image path: {macs['total_gmacs']:.2f} GMAC per frame: " + ", ".join(f"{r['part']} {r['share']:.0%}" for r in macs["table"]))
        for r in rows: print(f"{r['method']:<22} fp32 {r['fp32_ms']:8.2f} ms  int8 {r['int8_ms']:8.2f} ms  int8 speed-up {r['int8_speedup']:.2f}x")
        print(f"tracker step / image path: {res['tracker_step_vs_image']}; streaming fps: {res['streaming_fps']}; MB: {res['bundle_mb']}")
        if a.sam3: print(f"SAM 3 eager image path at 1008 px: {res['sam3_eager_ms_1008']} ms; ratio to the bundle's image.pte: {res['sam3_vs_bundle_image']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
