"""Streaming tracker speed: `Tracker.step` (image path + memory for K objects) vs the image path alone, same frames, one run.

    python scripts/bench_streaming.py --student mobile --frames 5 --objects 2 --threads 2

Random weights (speed does not depend on them); median over N frames after a warm-up; CPU of this machine.
"""
import argparse, json
from sam3m4.tracker import benchmark_streaming

if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--student", default="mobile", help="student config (tiny | small | mobile)")
    ap.add_argument("--frames", type=int, default=5, help="timed frames (median)")
    ap.add_argument("--objects", type=int, default=2, help="tracked objects")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    a = ap.parse_args()
    r = benchmark_streaming(a.student, n_frames=a.frames, objects=a.objects, threads=a.threads)
    print(json.dumps(r))
    print(f"{r['student']} @ {r['image_size']} px, {r['objects']} objects, {r['threads']} threads: tracker step {r['ms_median']} ms "
          f"({r['fps_median']} FPS) vs image path alone {r['image_path_ms_median']} ms -> tracker / image path = {r['tracker_vs_image_path']}x")
