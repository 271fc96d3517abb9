"Metrics against hand-computed values and independent re-implementations (J&F, cgF1)."
import itertools, math, time

import numpy as np
import pytest
import torch
from scipy.ndimage import distance_transform_edt

from sam3m4.metrics import (boundary_f, cgf1, instance_ious, jf_video, latency_ms, mask_miou, masks_per_instance, param_count,
                            presence_confusion, prompt_sensitivity, region_j, seg2bmap, size_mb)


def box(h, w, y0, y1, x0, x1):
    m = np.zeros((h, w), bool); m[y0:y1, x0:x1] = True; return m


# ---------- independent J&F (loops + Euclidean distance transform, no dilation) ----------
def ref_bmap(m):
    "Boundary pixel: label differs from the right, lower or lower-right neighbour; last row: right only; last column: lower only."
    H, W = m.shape; b = np.zeros_like(m)
    for i in range(H):
        for j in range(W):
            if i == H - 1 and j == W - 1: continue
            if i == H - 1: b[i, j] = m[i, j] != m[i, j + 1]
            elif j == W - 1: b[i, j] = m[i, j] != m[i + 1, j]
            else: b[i, j] = m[i, j] != m[i, j + 1] or m[i, j] != m[i + 1, j] or m[i, j] != m[i + 1, j + 1]
    return b

def ref_f(p, g, bound_th=0.008):
    r = bound_th if bound_th >= 1 else math.ceil(bound_th * math.sqrt(p.shape[0] ** 2 + p.shape[1] ** 2))
    bp, bg = ref_bmap(p), ref_bmap(g)
    if not bp.any() and not bg.any(): return 1.0
    if not bp.any() or not bg.any(): return 0.0
    dist_to_g = distance_transform_edt(~bg); dist_to_p = distance_transform_edt(~bp)
    prec = (dist_to_g[bp] <= r).mean(); rec = (dist_to_p[bg] <= r).mean()
    return 0.0 if prec + rec == 0 else 2 * prec * rec / (prec + rec)

def ref_j(p, g):
    inter = sum(1 for a, b in zip(p.ravel(), g.ravel()) if a and b); union = sum(1 for a, b in zip(p.ravel(), g.ravel()) if a or b)
    return 1.0 if union == 0 else inter / union

def blob(rng, H, W):
    yy, xx = np.mgrid[:H, :W]; cy, cx = rng.uniform(5, H - 5), rng.uniform(5, W - 5); ry, rx = rng.uniform(2, H / 3), rng.uniform(2, W / 3)
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


def test_region_j_hand_values():
    a = box(10, 10, 0, 5, 0, 5); b = box(10, 10, 0, 5, 0, 10)
    assert region_j(a, b) == pytest.approx(25 / 50)
    assert region_j(np.zeros((4, 4)), np.zeros((4, 4))) == 1.0       # DAVIS: both empty
    assert region_j(a, np.zeros((10, 10))) == 0.0
    assert region_j(torch.from_numpy(a), torch.from_numpy(a)) == 1.0  # tensors too


def test_seg2bmap_matches_reference_including_image_edges():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = rng.random((13, 17)) > 0.6
        np.testing.assert_array_equal(seg2bmap(m), ref_bmap(m))
    edge = box(12, 12, 6, 12, 6, 12)                        # touches the bottom-right corner
    np.testing.assert_array_equal(seg2bmap(edge), ref_bmap(edge))


def test_boundary_f_hand_values_and_tolerance():
    sq = box(20, 20, 5, 15, 5, 15); sh = np.roll(sq, 1, axis=1)
    assert seg2bmap(sq).sum() == 40
    assert boundary_f(sq, sh, bound_th=0) == pytest.approx(0.5)   # 20 of 40 boundary pixels coincide on both sides
    assert boundary_f(sq, sh) == pytest.approx(1.0)               # tolerance ceil(0.008·28.28) = 1 px
    far = np.roll(sq, 3, axis=1)
    assert boundary_f(sq, far, bound_th=0.008) < 1.0 and boundary_f(sq, far, bound_th=3) == pytest.approx(1.0)
    # DAVIS tolerance on a 480x854 frame is ceil(0.008 * 979.7) = 8 px: a 8-px shift matches, 9 px does not fully
    big = box(480, 854, 100, 300, 200, 500)
    assert boundary_f(big, np.roll(big, 8, axis=1)) == pytest.approx(1.0)
    assert boundary_f(big, np.roll(big, 9, axis=1)) < 1.0
    assert boundary_f(np.zeros((5, 5)), np.zeros((5, 5))) == 1.0 and boundary_f(sq, np.zeros_like(sq)) == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_jf_video_against_independent_computation(seed):
    rng = np.random.default_rng(seed); T, H, W = 4, 24, 31
    gt = {o: np.stack([blob(rng, H, W) for _ in range(T)]) for o in (1, 2, 3)}
    pred = {o: np.stack([np.roll(g[t], rng.integers(-2, 3), axis=rng.integers(0, 2)) if rng.random() > 0.2 else np.zeros((H, W), bool)
                         for t in range(T)]) for o, g in gt.items() if o != 3}       # object 3 never predicted
    gt[2][1] = False; pred[2][1] = False                                              # both empty in one frame: J = F = 1
    r = jf_video(pred, gt)
    per = {o: (np.mean([ref_j(pred.get(o, np.zeros_like(g))[t], g[t]) for t in range(T)]),
               np.mean([ref_f(pred.get(o, np.zeros_like(g))[t], g[t]) for t in range(T)])) for o, g in gt.items()}
    J = np.mean([v[0] for v in per.values()]); F = np.mean([v[1] for v in per.values()])
    assert r["J"] == pytest.approx(J) and r["F"] == pytest.approx(F) and r["JF"] == pytest.approx((J + F) / 2)
    for o in gt: assert (r["objects"][o]["J"], r["objects"][o]["F"]) == pytest.approx(per[o])
    assert r["objects"][3] == {"J": 0.0, "F": 0.0}


# ---------- instance mIoU ----------
def test_mask_miou_matching_rule():
    a = box(8, 8, 0, 4, 0, 4); b = box(8, 8, 0, 4, 0, 8); c = box(8, 8, 4, 8, 0, 8)
    # Hungarian: b↔b (1.0), a↔... a is the only other prediction, GT c unmatched overlap 0 -> IoU 0
    assert instance_ious(np.stack([a, b]), [0.9, 0.9], np.stack([b, c])) == [1.0, 0.0]
    # one-to-one: a single prediction cannot serve two GT instances
    assert instance_ious(np.stack([b]), [0.9], np.stack([a, b])) == [0.0, 1.0]
    assert instance_ious(np.stack([b]), [0.3], np.stack([b])) == [0.0]         # below score_thr: dropped
    # negatives (no GT) do not enter mIoU; extra predictions do not lower it (cgF1 counts those)
    assert mask_miou([(np.stack([a, c]), [0.9, 0.9], np.stack([a])), (np.stack([b]), [0.9], np.zeros((0, 8, 8), bool))]) == 1.0
    assert mask_miou([(np.stack([a]), [0.9], np.stack([b, c]))]) == pytest.approx((0.5 + 0.0) / 2)
    assert math.isnan(mask_miou([]))


# ---------- presence confusion on a set with negatives ----------
def test_presence_confusion_with_negatives():
    gt =   [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    pred = [1, 1, 1, 0, 1, 0, 0, 0, 0, 0]
    c = presence_confusion(pred, gt)
    assert (c["tp"], c["fp"], c["fn"], c["tn"]) == (3, 1, 1, 5)
    assert c["precision"] == pytest.approx(0.75) and c["recall"] == pytest.approx(0.75) and c["f1"] == pytest.approx(0.75)
    assert c["mcc"] == pytest.approx((3 * 5 - 1 * 1) / math.sqrt(4 * 4 * 6 * 6))
    assert presence_confusion([1, 1], [1, 1])["mcc"] == 0.0                 # no negatives: MCC undefined -> 0


# ---------- cgF1 against a brute-force reference ----------
def ref_cgf1(pairs, thr=0.5):
    taus = [0.5 + 0.05 * k for k in range(10)]; tp = np.zeros(10); fp = np.zeros(10); fn = np.zeros(10); c = [0, 0, 0, 0]
    for pm, ps, gm in pairs:
        p = [m for m, s in zip(pm, ps) if s >= thr]; pp, gp = len(p) > 0, len(gm) > 0
        c[0 if pp and gp else 1 if pp else 2 if gp else 3] += 1
        if not gp: continue
        iou = np.array([[ref_j(x, y) if (x.any() or y.any()) else 0.0 for y in gm] for x in p]).reshape(len(p), len(gm))
        best = []                                   # max total IoU over every one-to-one assignment (brute force)
        n = min(len(p), len(gm))
        best_sum = -1
        for rows in itertools.permutations(range(len(p)), n):
            for cols in itertools.permutations(range(len(gm)), n):
                s = sum(iou[r, cc] for r, cc in zip(rows, cols))
                if s > best_sum + 1e-12: best_sum, best = s, [iou[r, cc] for r, cc in zip(rows, cols)]
        for k, t in enumerate(taus):
            m = sum(v >= t - 1e-9 for v in best); tp[k] += m; fp[k] += len(p) - m; fn[k] += len(gm) - m
    f1 = [2 * a / (2 * a + b + d) if 2 * a + b + d else 0.0 for a, b, d in zip(tp, fp, fn)]
    TP, FP, FN, TN = c; den = math.sqrt((TP + FP) * (TP + FN) * (TN + FP) * (TN + FN))
    mcc = (TP * TN - FP * FN) / den if den else 0.0
    return np.mean(f1), mcc, (TP, FP, FN, TN)

@pytest.mark.parametrize("seed", range(4))
def test_cgf1_against_brute_force(seed):
    rng = np.random.default_rng(seed); H, W = 16, 16; pairs = []
    for _ in range(8):
        gl = [blob(rng, H, W) for _ in range(rng.integers(1, 4))] if rng.random() > 0.3 else []
        gm = np.stack(gl) if gl else np.zeros((0, H, W), bool)
        preds = [np.roll(g, rng.integers(-2, 3), axis=1) for g in gm if rng.random() > 0.25] + [blob(rng, H, W) for _ in range(rng.integers(0, 2))]
        pm = np.stack(preds) if preds else np.zeros((0, H, W), bool)
        pairs.append((pm, rng.uniform(0.2, 1.0, len(pm)), gm))
    r = cgf1(pairs, 0.5); pm1, mcc, conf = ref_cgf1(pairs, 0.5)
    assert r["pmF1"] == pytest.approx(pm1) and r["IL_MCC"] == pytest.approx(mcc) and (r["tp"], r["fp"], r["fn"], r["tn"]) == conf
    assert r["cgF1"] == pytest.approx(pm1 * mcc)


def test_cgf1_hand_values():
    sq = box(20, 20, 5, 15, 5, 15)[None]; none = np.zeros((0, 20, 20), bool)
    half = box(20, 20, 5, 15, 5, 11)[None]                         # IoU 0.6: TP at τ = 0.50, 0.55, 0.60 only
    assert cgf1([(sq, [0.9], sq), (none, [], none)])["cgF1"] == pytest.approx(1.0)
    assert cgf1([(half, [0.9], sq), (none, [], none)])["pmF1"] == pytest.approx(3 / 10)
    # a hallucination on a negative: pmF1 untouched (FP on negatives not counted), IL_MCC drops
    r = cgf1([(sq, [0.9], sq), (sq, [0.9], none), (none, [], none), (sq, [0.9], sq)])
    assert r["pmF1"] == pytest.approx(1.0) and (r["tp"], r["fp"], r["fn"], r["tn"]) == (2, 1, 0, 1)
    assert r["IL_MCC"] == pytest.approx(1 / math.sqrt(3)) and r["cgF1"] == pytest.approx(1 / math.sqrt(3))


def test_masks_per_instance_hand_values_and_duplicates():
    "Kept masks / GT instances per positive pair: exact duplicates raise it, a score below the threshold and negatives do not."
    sq = box(20, 20, 5, 15, 5, 15)[None]; none = np.zeros((0, 20, 20), bool); two = np.stack([sq[0], box(20, 20, 0, 4, 0, 4)])
    r = masks_per_instance([(np.repeat(sq, 3, 0), [0.9, 0.9, 0.4], sq), (two, [0.9, 0.8], two), (sq, [0.9], none)], 0.5)
    assert (r["mean"], r["worst"], r["positive_pairs"]) == ((2 + 1) / 2, 2.0, 2)
    # total masks / total instances would be 4 / 3: the figure averages per pair, so one crowded scene cannot hide a duplicate
    assert masks_per_instance([(np.repeat(sq, 5, 0), [0.9] * 5, np.repeat(sq, 5, 0)), (np.repeat(sq, 2, 0), [0.9] * 2, sq)])["mean"] == 1.5
    assert math.isnan(masks_per_instance([])["worst"])


# ---------- prompt sensitivity, latency, size ----------
def test_prompt_sensitivity_definition():
    a = box(10, 10, 0, 5, 0, 10); b = box(10, 10, 5, 10, 0, 10); half = box(10, 10, 0, 5, 0, 5); e = np.zeros((10, 10), bool)
    assert prompt_sensitivity({"i": {"p": a, "q": a}}) == 0.0                 # same answer to both prompts
    assert prompt_sensitivity({"i": {"p": a, "q": b}}) == 1.0                 # disjoint answers
    assert prompt_sensitivity({"i": {"p": a, "q": half}, "j": {"p": e, "q": e}}) == pytest.approx((0.5 + 0.0) / 2)
    assert prompt_sensitivity({"i": {"p": a, "q": b, "r": half}}) == pytest.approx((1 + 0.5 + 1) / 3)
    assert math.isnan(prompt_sensitivity({"i": {"p": a}}))                  # one prompt: no pair


def test_latency_size_params(tmp_path):
    ms = latency_ms(lambda: time.sleep(0.01), warmup=1, n=5)
    assert 9 <= ms < 200
    (tmp_path/"a.bin").write_bytes(b"x" * 1_500_000); (tmp_path/"d").mkdir(); (tmp_path/"d"/"b.bin").write_bytes(b"x" * 500_000)
    assert size_mb(tmp_path/"a.bin") == pytest.approx(1.5) and size_mb(tmp_path) == pytest.approx(2.0)
    assert param_count(torch.nn.Linear(3, 2)) == 8
