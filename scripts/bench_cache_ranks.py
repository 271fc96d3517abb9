"""The teacher cache on one process vs two ranks (torchrun, gloo) on this machine, side by side in one run: wall time of the
whole command (start-up included) and of the caching itself, for the shipped world SAM 3 over a world of N images. One
process runs with all cores' threads and with one; the faster is the baseline of the speed-ups.

    .venv/bin/python scripts/bench_cache_ranks.py [--images 120] [--json]
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

from sam3m4.world import WorldConfig, make_world
from sam3m4.world_sam3 import shipped_world_sam3_dir


def run(cmd: list, env: dict) -> tuple[dict, float]:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0: raise SystemExit(p.stderr[-3000:])
    return json.loads(p.stdout), time.perf_counter() - t


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=120)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        d = Path(d); make_world(d/"w", WorldConfig(n_images=a.images, n_videos=0), progress=False)
        args = ["teacher", "cache", "--data", str(d/"w"), "--teacher", str(shipped_world_sam3_dir()), "--image-size", "128",
                "--shard-size", "8", "--batch-size", "8", "--json"]
        cores = os.cpu_count() or 1
        one, t1 = run([sys.executable, "-m", "sam3m4.cli", *args, "--out", str(d/"one")], dict(os.environ, OMP_NUM_THREADS=str(cores)))
        one1, t11 = run([sys.executable, "-m", "sam3m4.cli", *args, "--out", str(d/"one1")], dict(os.environ, OMP_NUM_THREADS="1"))
        two, t2 = run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "sam3m4.cli", *args,
                       "--out", str(d/"two")], dict(os.environ, OMP_NUM_THREADS=str(max(1, cores // 2))))
    best = min((t1, one), (t11, one1), key=lambda x: x[1]["seconds"])   # the faster one-process setting is the baseline
    r = {"items": one["n_items"], "cores": cores, "one_process_s": round(t1, 1), "one_process_1_thread_s": round(t11, 1), "two_ranks_s": round(t2, 1),
         "one_process_caching_s": one["seconds"], "one_process_1_thread_caching_s": one1["seconds"], "two_ranks_caching_s": two["seconds"],
         "ranks": two["ranks"], "speedup_command": round(best[0] / t2, 2), "speedup_caching": round(best[1]["seconds"] / two["seconds"], 2)}
    print(json.dumps(r) if a.json else "\n".join(f"{k}: {v}" for k, v in r.items()))
