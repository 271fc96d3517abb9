"""Side by side, in one run on this machine: eager latency of the `mobile` student's per-frame image path at
512 and 1008 px vs the full-size SAM 3 architecture (transformers Sam3Model, random init: timing only) at 1008 px,
the ratios, and parameter counts.

    .venv/bin/python scripts/bench_student_vs_sam3.py [--runs 3] [--sam3-runs 1] [--threads 2] [--json]
"""
import argparse, json, sys, time
import torch
from sam3m4.metrics import latency_ms
from sam3m4.student import Sam3m4Student, param_table, student_config

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[512, 1008]); ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sam3-runs", type=int, default=1); ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu"); ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads); dev = torch.device(a.device); torch.manual_seed(0)
    cfg = student_config("mobile"); m = Sam3m4Student(cfg).eval().to(dev)
    ids = torch.zeros(1, cfg.context_length, dtype=torch.long); ids[0, :3] = torch.tensor([49406, 736, 49407])
    with torch.no_grad(): emb = m.encode_text(ids.to(dev))[0]
    rows = []
    for s in a.sizes:
        x = torch.rand(1, 3, s, s, device=dev)
        with torch.no_grad(): ms = latency_ms(lambda: m.image_path(x, emb), warmup=1, n=a.runs)
        rows.append({"model": "student mobile (image path)", "px": s, "ms": round(ms, 1), "params_M": round(param_table(cfg)["image_path_params"] / 1e6, 2)})
        print(f"student mobile @ {s}px: {ms:.1f} ms", file=sys.stderr)
    from transformers import Sam3Config, Sam3Model
    sam3 = Sam3Model(Sam3Config()).eval().to(dev)
    px = torch.rand(1, 3, 1008, 1008, device=dev)
    with torch.no_grad():   # the prompt's text features, computed once and cached (not timed), as for the student
        text = sam3.get_text_features(input_ids=torch.randint(0, 49408, (1, 32), device=dev), return_dict=True)
    with torch.no_grad(): ms = latency_ms(lambda: sam3(pixel_values=px, text_embeds=text), warmup=0, n=a.sam3_runs)
    rows.append({"model": "SAM 3 (random init, full architecture)", "px": 1008, "ms": round(ms, 1),
                 "params_M": round(sum(p.numel() for p in sam3.parameters()) / 1e6, 1)})
    for r in rows: r["sam3_over_this"] = round(rows[-1]["ms"] / r["ms"], 1)
    doc = {"device": str(dev), "threads": a.threads, "rows": rows}
    if a.json: print(json.dumps(doc))
    else:
        for r in rows: print(f"{r['model']:<42} {r['px']:>5}px {r['ms']:>10.1f} ms {r['params_M']:>8} M params  SAM3/this = {r['sam3_over_this']}x")

if __name__ == "__main__": main()
