"""What SAM 3's teacher cache costs on disk at scale, from SAM 3's config alone (nothing runs): bytes per SA-1B image (one
prompt, "object") for a student at 512 and 1008 px, with SAM 3's own feature grid and with the student's, and the totals
for 1 % and 10 % of SA-1B (110 k and 1.1 M images). `--sam3 PATH`: your SAM 3 folder or sam3.pt instead of the released
config. The README's figures come from this script.

    .venv/bin/python scripts/cache_cost.py [--sam3 PATH] [--json]
"""
import argparse, json

from sam3m4.sam3_weights import sam3_config
from sam3m4.teacher import TeacherConfig
from sam3m4.teacher_cache import per_image_bytes, sam3_dims, teacher_dims

SA1B_IMAGES = 11_000_000   # SA-1B: about 11 M images


def rows(dims: dict) -> list[dict]:
    out = []
    for S in (512, 1008):
        for grid in (None, S // 16):               # SAM 3's own grid; the student's stride-16 map
            b = per_image_bytes(dims, S, feature_size=grid)
            out.append({"student_px": S, "feature_grid": b["feature_grid"], "MB_per_image": round(b["total"] / 1e6, 2),
                        "masks_MB": round(b["masks"] / 1e6, 2), "features_MB": round(b["features"] / 1e6, 2),
                        "SA-1B 1% (GB)": round(b["total"] * SA1B_IMAGES * 0.01 / 1e9), "SA-1B 10% (TB)": round(b["total"] * SA1B_IMAGES * 0.1 / 1e12, 2)})
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sam3", default=None, help="a SAM 3 folder or sam3.pt (default: the released SAM 3's config)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    dims = teacher_dims(a.sam3) if a.sam3 else sam3_dims(sam3_config("full"), TeacherConfig(), "SAM 3 (released config)")
    r = {"teacher": dims, "rows": rows(dims)}
    if a.json: print(json.dumps(r))
    else:
        print(f"teacher: {dims['source']}: {dims['queries']} queries kept per item at most, features {dims['feature_channels']} x "
              f"{dims['feature_grid']}², text {dims['text_dim']}")
        for x in r["rows"]: print("  ".join(f"{k} {v}" for k, v in x.items()))
