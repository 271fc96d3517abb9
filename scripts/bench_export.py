#!/usr/bin/env python
"""Benchmark the student's image path on device formats, side by side, in one run.

For one student config (default `mobile`, random init: size and latency do not depend on the weights) it
exports fp32 and int8 (PT2E, XNNPACKQuantizer) XNNPACK `.pte` files, checks them against eager with the
ExecuTorch runtime, and prints: `.pte` size, runtime latency (median of N after warm-up), eager latency,
streaming fps, parity. With `--sam3` (default) it also times the full SAM 3 architecture (transformers
`Sam3Model`, random init, default config) eagerly at 1008 px with cached text embeddings, as the
reference the student must beat. All timings on this machine's CPU with the same torch thread count.

    python scripts/bench_export.py [--student mobile] [--runs 10] [--threads 1] [--no-sam3] [--out DIR] [--json]
"""
from __future__ import annotations
import argparse, json, statistics, sys, tempfile, time, warnings
from pathlib import Path

import torch


from sam3m4.metrics import latency_ms as _median_ms   # warm-up, then the median of n runs (ms)


@torch.no_grad()
def bench_sam3(image_size: int, runs: int, warmup: int) -> dict:
    "Eager latency of transformers' Sam3Model (random init, default config) at `image_size`, text embeddings cached."
    from transformers import Sam3Config, Sam3Model
    t0 = time.perf_counter()
    model = Sam3Model(Sam3Config()).eval()
    build_s = time.perf_counter() - t0
    n_params = sum(p.numel() for p in model.parameters())
    ids = torch.randint(0, 49408, (1, 32))
    text = model.get_text_features(input_ids=ids, return_dict=True)   # the cached prompt (not timed)
    px = torch.rand(1, 3, image_size, image_size)
    ms = _median_ms(lambda: model(pixel_values=px, text_embeds=text), warmup, runs)
    return {"variant": f"SAM 3 eager ({image_size} px)", "params_m": n_params / 1e6, "fp32_mb": n_params * 4 / 2**20,
            "pte_mb": None, "runtime_ms": None, "eager_ms": ms, "runs": runs, "build_s": round(build_s, 1),
            "note": "transformers Sam3Model (params: whole model), random init, image path timed with cached text embeddings; not exported"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--student", default="mobile", help="student config (tiny|small|mobile)")
    ap.add_argument("--image-size", type=int, help="input size (default: the student's)")
    ap.add_argument("--runs", type=int, default=10); ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads for eager (default 1)")
    ap.add_argument("--sam3", dest="sam3", action="store_true", default=True)
    ap.add_argument("--no-sam3", dest="sam3", action="store_false", help="skip the full SAM 3 reference")
    ap.add_argument("--sam3-size", type=int, default=1008); ap.add_argument("--sam3-runs", type=int, default=2)
    ap.add_argument("--sam3-warmup", type=int, default=1)
    ap.add_argument("--out", type=Path, help="where the .pte files go (default: a temp folder)")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(a.threads)
    from sam3m4.render import table
    from sam3m4.export import ExportConfig, export_pte
    from sam3m4.quantize import prompt_embeddings, random_student, student_inputs
    model = random_student(a.student)
    per_frame = getattr(model, "image_path", model)   # what ships in the .pte (the text tower's output is cached)
    n_params = sum(p.numel() for p in per_frame.parameters())
    prompts = ["red circle", "blue square", "green triangle", "object"]
    calib = student_inputs(model, n=4, batch=1, image_size=a.image_size, prompts=prompts)
    emb = prompt_embeddings(model, prompts)
    out = a.out or Path(tempfile.mkdtemp(prefix="sam3m4_bench_"))
    rows = []
    for quant in ("none", "int8"):
        print(f"[bench] exporting {a.student} xnnpack quant={quant} ...", file=sys.stderr)
        r = export_pte(model, calib[0], "xnnpack", out, name=f"{a.student}_xnnpack_{quant}", calib=calib, prompts=prompts,
                       text_embeddings=emb, source=f"random-init student:{a.student}",
                       cfg=ExportConfig(quant=quant, runs=a.runs, warmup=a.warmup, stream_frames=a.runs))
        rows.append({"variant": f"{a.student} .pte xnnpack {'fp32' if quant == 'none' else 'int8'}",
                     "params_m": n_params / 1e6, "fp32_mb": n_params * 4 / 2**20, "pte_mb": r.pte_mb,
                     "runtime_ms": r.latency_ms, "eager_ms": r.eager_ms,   # int8 row: the PT2E-converted eager graph
                     "stream_fps": r.stream_fps, "mask_iou": r.mask_iou, "box_max_abs_px": r.box_max_abs_px,
                     "score_max_abs": r.score_max_abs, "same_instances": r.same_instances,
                     "delegated_share": r.delegated_share, "partitions": r.partitions,
                     "fallback_ops": sum(r.fallback_ops.values()), "status": r.status, "meta": r.meta_path})
    if a.sam3:
        print(f"[bench] building SAM 3 ({a.sam3_size} px) ...", file=sys.stderr)
        try: rows.append(bench_sam3(a.sam3_size, a.sam3_runs, a.sam3_warmup))
        except Exception as e:   # reported, not hidden: e.g. out of memory on a small machine
            rows.append({"variant": f"SAM 3 eager ({a.sam3_size} px)", "status": "failed", "note": f"{type(e).__name__}: {e}"})
    ref = next((r["eager_ms"] for r in rows if r["variant"].startswith("SAM 3") and r.get("eager_ms")), None)
    fp32_eager = rows[0].get("eager_ms")   # the common baseline: the student's fp32 eager forward
    for r in rows:
        if r.get("runtime_ms"):
            r["speedup_vs_fp32_eager"] = fp32_eager / r["runtime_ms"] if fp32_eager else None
            if ref: r["x_faster_than_sam3"] = ref / r["runtime_ms"]
    doc = {"student": a.student, "image_size": tuple(calib[0]["images"].shape[-2:]), "threads": a.threads,
           "runs": a.runs, "out": str(out), "table": rows}
    if a.json: print(json.dumps(doc, default=str))
    else:
        print(f"student {a.student} at {doc['image_size']} px, torch threads {a.threads}, median of {a.runs} runs")
        print(table([{k: v for k, v in r.items() if k not in ("meta",)} for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
