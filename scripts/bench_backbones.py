#!/usr/bin/env python
"""Choose the `mobile` student's image encoder by measured latency: timm mobile backbones at 512 and 1024 px.

For each candidate (timm `features_only` with strides 4, 8, 16, 32; random init — latency does not depend on
the weights) it reports the backbone's parameters and its eager CPU latency, and the same for the whole
student image path (the `mobile` config with that backbone: FPN, fusion, decoder, heads; text embeddings
given, as on the device). Re-parameterizable nets (RepViT, FastViT, MobileOne) are timed after
`timm.utils.reparameterize_model`, i.e. in the form they are deployed. All timings are CPU-measured on the
machine this runs on (median of --runs after --warmup, torch threads = --threads); they rank backbones, they
are not phone latencies.

    python scripts/bench_backbones.py [--sizes 512 1024] [--runs 3] [--threads 1] [--backbones a b ...] [--no-image-path] [--json]
"""
from __future__ import annotations
import argparse, copy, json, platform, statistics, sys, time, warnings

import torch

CANDIDATES = ["repvit_m0_9", "repvit_m1_0", "efficientvit_b0", "efficientvit_b1", "mobilenetv4_conv_small",
              "mobilenetv4_conv_medium", "fastvit_t8", "mobileone_s1", "efficientformerv2_s0", "edgenext_x_small"]


def median_ms(fn, warmup: int, n: int) -> float:
    for _ in range(warmup): fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def deployable(m: torch.nn.Module) -> torch.nn.Module:
    "The inference form of `m` (re-parameterized branches fused where the net supports it)."
    from timm.utils.model import reparameterize_model
    return reparameterize_model(copy.deepcopy(m).eval())


@torch.no_grad()
def bench_one(name: str, sizes: list[int], runs: int, warmup: int, image_path: bool) -> dict:
    from sam3m4.student import ImageEncoder, Sam3m4Student, student_config
    cfg = student_config("mobile", backbone=name)
    row = {"backbone": name}
    try:
        enc = ImageEncoder(cfg)
    except Exception as e:   # recorded in the table, not hidden: the candidate cannot serve as a student backbone
        row["error"] = f"{type(e).__name__}: {e}"[:160]; return row
    row["backbone_params_m"] = round(sum(p.numel() for p in enc.parameters()) / 1e6, 2)
    enc = deployable(enc)
    model = None
    if image_path:
        model = Sam3m4Student(cfg).eval()
        row["image_path_params_m"] = round(sum(p.numel() for p in model.image_path.parameters()) / 1e6, 2)
        ip = deployable(model.image_path)
        emb = model.encode_text(torch.randint(1, 49000, (1, cfg.context_length)))[0]
    for s in sizes:
        x = torch.rand(1, 3, s, s)
        try:
            row[f"backbone_ms@{s}"] = round(median_ms(lambda: enc(x), warmup, runs), 1)
            if model is not None: row[f"image_path_ms@{s}"] = round(median_ms(lambda: ip(x, emb), warmup, runs), 1)
        except Exception as e:   # e.g. attention with a fixed input resolution
            row[f"backbone_ms@{s}"] = None; row["error"] = f"{s}px: {type(e).__name__}: {e}"[:160]
    return row


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1024])
    ap.add_argument("--backbones", nargs="+", default=CANDIDATES)
    ap.add_argument("--runs", type=int, default=3); ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (default 1)")
    ap.add_argument("--no-image-path", dest="image_path", action="store_false", help="time the backbones only")
    ap.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    a = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(a.threads)
    rows = []
    for name in a.backbones:
        print(f"[bench_backbones] {name} ...", file=sys.stderr, flush=True)
        rows.append(bench_one(name, a.sizes, a.runs, a.warmup, a.image_path))
    big = max(a.sizes)
    ok = [r for r in rows if r.get(f"backbone_ms@{big}") is not None]
    best = min(ok, key=lambda r: r.get(f"image_path_ms@{big}") or r[f"backbone_ms@{big}"])["backbone"] if ok else None
    doc = {"measured_on": f"CPU ({platform.processor() or platform.machine()}), torch threads {a.threads}, eager fp32, batch 1",
           "torch": torch.__version__, "runs": a.runs, "warmup": a.warmup, "fastest_at_largest_size": best, "table": rows}
    if a.json: print(json.dumps(doc))
    else:
        from sam3m4.render import table
        print(f"CPU-measured: {doc['measured_on']}, median of {a.runs} runs after {a.warmup} warm-up")
        print(table(rows)); print(f"fastest at {big} px: {best}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
