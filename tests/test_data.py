"""End-to-end tests of the data readers (sam3m4.data, .sa1b, .coco, .sav, .world, .grounded) on real-format fixtures
written here (SA-1B, COCO, SA-V), the built-in world,
the dual tokenizer, negative mixing, every bad-input case and the `sam3m4 data` CLI."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pycocotools import mask as mask_util

from sam3m4.core import ConfigError, DataError
from sam3m4.data import decode_rle, letterbox, letterbox_boxes, masks_to_boxes_cxcywh, VideoRecord
from sam3m4.prompts import DEFAULT_PROMPTS, DualTokenizer, load_prompts
from sam3m4.sa1b import load_sa1b
from sam3m4.coco import load_coco
from sam3m4.sav import load_sav, sav_clip
from sam3m4.world import load_world, make_world, TINY_WORLD, world_concepts, WorldConfig
from sam3m4.grounded import collate_samples, GroundedDataset, make_loader, VideoClipDataset

torch.set_num_threads(1)


# ---------------------------------------------------------------- fixtures in the real formats
def _rle(mask):
    "COCO RLE straight from pycocotools (independent of sam3m4.data.encode_rle)."
    r = mask_util.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(v) for v in r["size"]], "counts": r["counts"].decode("ascii")}

def _bbox(m):
    ys, xs = np.nonzero(m)
    return [int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)]

def _noise_image(h, w, seed):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)

H, W = 40, 60   # non-square on purpose: the letterbox pads

def _sa1b_masks(i):
    "Instance masks of fixture image i: rectangles with hand-computable areas."
    a = np.zeros((H, W), bool); a[2:12, 3:23] = True             # 10 x 20 = 200
    b = np.zeros((H, W), bool); b[20:35, 40:(40 + 5 + i)] = True  # 15 x (5 + i)
    return [a, b] if i != 3 else [a]

@pytest.fixture
def sa1b_dir(tmp_path):
    "Three SA-1B pairs sa_<id>.jpg + sa_<id>.json in the official schema."
    d = tmp_path/"sa1b"; d.mkdir()
    for i in (1, 2, 3):
        Image.fromarray(_noise_image(H, W, i)).save(d/f"sa_{i}.jpg", quality=95)
        anns = [{"id": 100 * i + k, "segmentation": _rle(m), "bbox": _bbox(m), "area": int(m.sum()),
                 "predicted_iou": 0.9, "stability_score": 0.95, "crop_box": [0, 0, W, H],
                 "point_coords": [[float(_bbox(m)[0]), float(_bbox(m)[1])]]} for k, m in enumerate(_sa1b_masks(i))]
        (d/f"sa_{i}.json").write_text(json.dumps({"image": {"image_id": i, "width": W, "height": H, "file_name": f"sa_{i}.jpg"},
                                                  "annotations": anns}))
    return d

@pytest.fixture
def coco_dir(tmp_path):
    "A COCO instances json: 2 images, 3 categories (one never present), an RLE and a polygon segmentation."
    d = tmp_path/"coco"; d.mkdir()
    for i in (1, 2): Image.fromarray(_noise_image(H, W, 10 + i)).save(d/f"img{i}.png")
    dog = np.zeros((H, W), bool); dog[5:15, 5:25] = True
    doc = {"images": [{"id": 1, "file_name": "img1.png", "height": H, "width": W},
                      {"id": 2, "file_name": "img2.png", "height": H, "width": W}],
           "categories": [{"id": 1, "name": "dog"}, {"id": 2, "name": "cat"}, {"id": 3, "name": "zebra"}],
           "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "segmentation": _rle(dog), "bbox": _bbox(dog), "area": 200, "iscrowd": 0},
                           {"id": 2, "image_id": 2, "category_id": 2, "segmentation": [[10, 10, 30, 10, 30, 30, 10, 30]],
                            "bbox": [10, 10, 20, 20], "area": 400, "iscrowd": 0}]}
    (d/"instances.json").write_text(json.dumps(doc))
    return d

@pytest.fixture
def sav_dir(tmp_path):
    "One SA-V video: a frame folder + sav_<id>_manual.json with 2 masklets (object 1 absent in frame 0)."
    d = tmp_path/"sav"; (d/"sav_000007").mkdir(parents=True)
    masklet = []
    for t in range(3):
        Image.fromarray(_noise_image(H, W, 20 + t)).save(d/"sav_000007"/f"{t:05d}.jpg")
        a = np.zeros((H, W), bool); a[5:15, 5 + 3 * t:15 + 3 * t] = True
        b = np.zeros((H, W), bool); b[20:30, 30:40] = True
        masklet.append([_rle(a), _rle(b) if t > 0 else None])
    (d/"sav_000007_manual.json").write_text(json.dumps({
        "video_id": "sav_000007", "video_height": H, "video_width": W, "video_frame_count": 3,
        "masklet": masklet, "masklet_id": [0, 1], "masklet_num": 2}))
    return d

@pytest.fixture(scope="module")
def tok(): return DualTokenizer()

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("world")/"w"
    make_world(d, TINY_WORLD, progress=False)
    return d


# ---------------------------------------------------------------- readers
def test_sa1b_reader(sa1b_dir):
    recs, skipped = load_sa1b(sa1b_dir)
    assert skipped == []
    assert [r.image_id for r in recs] == ["1", "2", "3"]
    for r, i in zip(recs, (1, 2, 3)):
        assert (r.height, r.width, r.file.name) == (H, W, f"sa_{i}.jpg")
        masks = _sa1b_masks(i)
        assert len(r.annotations) == len(masks) and r.categories == {"object"}
        for a, m in zip(r.annotations, masks):
            assert np.array_equal(decode_rle(a["rle"]), m) and a["bbox"] == _bbox(m)

def test_coco_reader(coco_dir):
    recs, skipped = load_coco(coco_dir/"instances.json", coco_dir)
    assert skipped == [] and [r.categories for r in recs] == [{"dog"}, {"cat"}]
    poly = decode_rle(recs[1].annotations[0]["rle"])   # polygon converted to RLE at the image size
    assert poly.shape == (H, W) and 380 <= poly.sum() <= 441 and poly[20, 20] and not poly[5, 5]

def test_sav_reader(sav_dir):
    vids, skipped = load_sav(sav_dir)
    assert skipped == [] and len(vids) == 1
    v = vids[0]
    assert (v.video_id, len(v.frames), v.height, v.width) == ("sav_000007", 3, H, W)
    assert [o["category"] for o in v.objects] == ["object", "object"] and v.frame_index == [0, 1, 2]   # every frame annotated: stride 1
    frames, masks, fi = sav_clip(v)                     # masks are decoded here, per clip, not by the scan
    assert frames.shape == (3, H, W, 3) and masks.shape == (3, 2, H, W) and fi == [0, 1, 2]
    assert not masks[0, 1].any() and masks[1, 1].sum() == 100   # object 1 absent (null RLE) in frame 0
    assert masks[2, 0][5, 11] and not masks[0, 0][5, 16]         # the box moved 3 px per frame

def test_world_through_real_readers(world):
    man = json.loads((world/"world.json").read_text())
    w = load_world(world)
    assert (len(w["images"]), len(w["videos"]), w["prompts"], w["skipped"]) == (TINY_WORLD.n_images, TINY_WORLD.n_videos, world_concepts(), [])
    assert len(w["prompts"]) == 12 and "red circle" in w["prompts"]
    sa, _ = load_sa1b(world/"sa1b")
    coco, _ = load_coco(world/"coco.json", world/"sa1b")
    assert sum(len(r.annotations) for r in sa) == sum(len(r.annotations) for r in coco) == man["instances"]
    assert any(len(r.annotations) >= 2 for r in coco)     # several instances per image
    vids, _ = load_sav(world/"sav")
    assert len(vids) == TINY_WORLD.n_videos and all(len(v.frames) == TINY_WORLD.video_frames for v in vids)
    assert all(o["category"] in world_concepts() for v in vids for o in v.objects)

def test_world_is_learnable_the_category_decides_the_pixels(world):
    "Pixels under a 'red …' mask are red, under a 'blue …' mask blue: the prompt determines the mask."
    recs, _ = load_coco(world/"coco.json", world/"sa1b")
    seen = set()
    for r in recs:
        img = np.asarray(Image.open(r.file).convert("RGB")).astype(float)
        for a in r.annotations:
            colour = a["category"].split()[0]
            m = decode_rle(a["rle"])
            mean = img[m].mean(0)
            dominant = {"red": mean[0] > mean[1] + 60 and mean[0] > mean[2] + 60,
                        "green": mean[1] > mean[0] + 60 and mean[1] > mean[2] + 40,
                        "blue": mean[2] > mean[0] + 60 and mean[2] > mean[1] + 60,
                        "yellow": min(mean[0], mean[1]) > mean[2] + 80}[colour]
            assert dominant, (r.file, a["category"], mean)
            seen.add(colour)
    assert len(seen) >= 3

def test_world_is_deterministic_and_default_is_bigger(tmp_path):
    make_world(tmp_path/"a", TINY_WORLD, progress=False); make_world(tmp_path/"b", TINY_WORLD, progress=False)
    assert (tmp_path/"a"/"coco.json").read_bytes() == (tmp_path/"b"/"coco.json").read_bytes()
    assert (tmp_path/"a"/"sav"/"sav_000001_manual.json").read_bytes() == (tmp_path/"b"/"sav"/"sav_000001_manual.json").read_bytes()
    d = WorldConfig()
    assert d.n_images >= 200 and d.image_size == 128 and d.video_frames == 8 and d.n_videos >= 4


# ---------------------------------------------------------------- prompts and tokenizers
def test_prompt_set_and_override(tmp_path):
    everyday = {"person", "car", "building", "dog", "cat", "chair", "table", "plant", "food", "bicycle", "face"}
    assert everyday <= set(DEFAULT_PROMPTS) and len(DEFAULT_PROMPTS) >= 21 and "all objects" in DEFAULT_PROMPTS
    (tmp_path/"p.json").write_text('["red car", "tall tree"]')
    assert load_prompts(tmp_path/"p.json") == ["red car", "tall tree"]
    with pytest.raises(ConfigError, match="not found"): load_prompts(tmp_path/"missing.txt")

PINNED = {  # CLIP BPE ids; "a photo of a dog" is CLIP's own documented example
    "a photo of a dog": [49406, 320, 1125, 539, 320, 1929, 49407],
    "red circle": [49406, 736, 7117, 49407],
    "person": [49406, 2533, 49407],
    "all objects": [49406, 615, 13770, 49407],
    "segment everything": [49406, 15615, 2410, 49407],
}

def test_tokenizers_pinned_ids(tok):
    texts = list(PINNED)
    t, s = tok.teacher(texts), tok.student(texts)
    assert t.shape == (len(texts), 32) and s.shape == (len(texts), 32) and t.dtype == s.dtype == torch.long
    for k, text in enumerate(texts):
        n = len(PINNED[text])
        assert t[k, :n].tolist() == PINNED[text] and (t[k, n:] == 49407).all()   # teacher pads with end-of-text
        assert s[k, :n].tolist() == PINNED[text] and (s[k, n:] == 0).all()       # OpenCLIP pads with 0

def test_tokenizers_match_open_clip(tok):
    "Both tokenizers agree with open_clip.tokenize (an independent implementation for the teacher's HF CLIPTokenizer)."
    import open_clip
    texts = ["Red  Circle!", "a dog on a chair", "segment everything", "yellow triangle", " ".join(["blue square"] * 30)]
    ref = open_clip.tokenize(texts, context_length=32)
    assert torch.equal(tok.student(texts), ref)
    teacher_ref = torch.where(ref == 0, torch.tensor(49407), ref)
    assert torch.equal(tok.teacher(texts), teacher_ref)
    assert tok.teacher(texts)[-1, -1] == 49407   # truncated prompts still end with end-of-text
    s16 = DualTokenizer(student_context=16).student(texts)
    assert torch.equal(s16, open_clip.tokenize(texts, context_length=16))

def test_prompt_text_reaches_the_ids(tok, world):
    concepts = world_concepts()
    t, s = tok.teacher(concepts), tok.student(concepts)
    assert len({tuple(r.tolist()) for r in t}) == len(concepts) and len({tuple(r.tolist()) for r in s}) == len(concepts)
    w = load_world(world)
    ds = GroundedDataset(w["images"], w["prompts"], tok, image_size=32, negative_ratio=0.3)
    prompts_seen = set()
    for i in range(len(ds)):
        it = ds[i]
        assert torch.equal(it["teacher_ids"], tok.teacher([it["prompt"]])[0])
        assert torch.equal(it["student_ids"], tok.student([it["prompt"]])[0])
        prompts_seen.add(it["prompt"])
    assert len(prompts_seen) > 3


# ---------------------------------------------------------------- grounded dataset, negatives, letterbox, loader
def test_item_keys_and_types(tok, world):
    w = load_world(world)
    ds = GroundedDataset(w["images"], w["prompts"], tok, image_size=48, negative_ratio=0.25)
    it = ds[0]
    assert set(it) == {"image", "prompt", "teacher_ids", "student_ids", "masks", "boxes", "presence", "image_id", "index", "file", "pair_id",
                       "exhaustive"}
    assert it["pair_id"] is None and it["exhaustive"]                       # an SA-Co pair's id and flag; the world's samples: none, exhaustive
    assert it["image"].shape == (3, 48, 48) and it["image"].dtype == torch.float32 and 0 <= it["image"].min() and it["image"].max() <= 1
    assert it["masks"].dtype == torch.bool and it["masks"].shape[1:] == (48, 48) and it["boxes"].shape == (len(it["masks"]), 4)
    assert it["presence"] == 1.0 and isinstance(it["image_id"], str) and it["index"] == 0
    b = collate_samples([ds[0], ds[1], ds[len(ds) - 1]])
    assert b["image"].shape == (3, 3, 48, 48) and b["teacher_ids"].shape == (3, 32) and b["student_ids"].shape == (3, 32)
    assert b["presence"].tolist()[-1] == 0.0 and isinstance(b["masks"], list) and len(b["prompt"]) == 3

@pytest.mark.parametrize("ratio", [0.05, 0.25, 0.5])
def test_negative_mixing_ratio(tok, world, ratio):
    w = load_world(world)
    ds = GroundedDataset(w["images"], w["prompts"], tok, image_size=32, negative_ratio=ratio, seed=3)
    n = len(ds)
    assert ds.n_positive + ds.n_negative == n
    assert abs(ds.n_negative / n - ratio) <= 1 / n + 1e-9
    for i in range(n):
        ri, prompt = ds.samples[i]
        is_neg = prompt not in ds.records[ri].categories
        assert is_neg == (i >= ds.n_positive)
    it = ds[n - 1]                                            # a negative: empty targets, presence 0
    assert it["presence"] == 0.0 and it["masks"].shape == (0, 32, 32) and it["boxes"].shape == (0, 4)

def test_default_ratio_and_everyday_prompts_as_negatives(tok, world, coco_dir):
    import inspect
    assert inspect.signature(GroundedDataset).parameters["negative_ratio"].default == 0.05
    recs, _ = load_coco(coco_dir/"instances.json", coco_dir)
    # categories absent from an image (zebra everywhere, cat in img1, dog in img2) are its negatives
    ds = GroundedDataset(recs, ["dog", "cat", "zebra"], tok, image_size=32, negative_ratio=0.5, seed=0)
    assert (ds.n_positive, ds.n_negative) == (2, 2)
    for i in range(ds.n_positive, len(ds)):
        it = ds[i]; ri, prompt = ds.samples[i]
        assert it["presence"] == 0.0 and prompt not in recs[ri].categories and len(it["masks"]) == 0
    with pytest.raises(ConfigError, match="negative_ratio"): GroundedDataset(recs, ["dog"], tok, 32, negative_ratio=1.0)

def test_letterbox_keeps_masks_and_boxes_aligned(sa1b_dir):
    recs, _ = load_sa1b(sa1b_dir)
    r = recs[0]
    img = np.asarray(Image.open(r.file).convert("RGB"))
    masks = np.stack([decode_rle(a["rle"]) for a in r.annotations])
    S = 96
    im, m, scale = letterbox(img, masks, S)
    assert scale == S / W and im.shape == (3, S, S) and m.shape == (2, S, S)
    assert (im[:, round(H * scale):, :] == 0).all() and not m[:, round(H * scale):, :].any()   # padding at the bottom
    ann_boxes = letterbox_boxes([a["bbox"] for a in r.annotations], scale, S)
    assert torch.allclose(ann_boxes, masks_to_boxes_cxcywh(m), atol=1.0 / S)
    assert abs(m[0].sum().item() - 200 * scale ** 2) <= 2 * (10 + 20) * scale   # area scales by scale² (edge rounding)

def test_loader_with_workers(tok, world):
    w = load_world(world)
    ds = GroundedDataset(w["images"], w["prompts"], tok, image_size=32, negative_ratio=0.2)
    seen = []
    for b in make_loader(ds, batch_size=4, shuffle=True, workers=2, seed=1):
        assert b["image"].shape[1:] == (3, 32, 32)
        seen += b["index"].tolist()
    assert sorted(seen) == list(range(len(ds)))

def test_video_clips(world):
    w = load_world(world)
    vds = VideoClipDataset(w["videos"], DualTokenizer(), image_size=32, clip_len=4)
    c = vds[0]
    v = next(v for v in w["videos"] if v.video_id == c["video_id"])
    assert c["frames"].shape == (4, 3, 32, 32) and c["masks"].shape[:2] == (4, len(c["object_ids"]))
    assert all(o["category"] == c["prompt"] for o in v.objects if o["id"] in c["object_ids"])
    assert c["masks"].flatten(2).any(-1).any()
    assert isinstance(v, VideoRecord)


# ---------------------------------------------------------------- bad input
def _truncate(p): p.write_bytes(p.read_bytes()[:300])

def test_truncated_jpeg(sa1b_dir):
    _truncate(sa1b_dir/"sa_2.jpg")
    with pytest.raises(DataError, match=r"sa_2\.jpg.*truncated"): load_sa1b(sa1b_dir)
    with pytest.warns(UserWarning, match=r"skipped 1 bad item.*sa_2\.jpg"):
        recs, skipped = load_sa1b(sa1b_dir, skip_bad=True)
    assert [r.image_id for r in recs] == ["1", "3"]
    assert skipped[0]["file"] == str(sa1b_dir/"sa_2.jpg") and "truncated" in skipped[0]["reason"]

def test_invalid_rle(sa1b_dir):
    doc = json.loads((sa1b_dir/"sa_1.json").read_text())
    doc["annotations"][1]["segmentation"]["counts"] = doc["annotations"][1]["segmentation"]["counts"][:3]   # cut short
    (sa1b_dir/"sa_1.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"sa_1\.json annotation 1: invalid RLE"): load_sa1b(sa1b_dir)
    with pytest.warns(UserWarning, match="sa_1.json"):
        recs, skipped = load_sa1b(sa1b_dir, skip_bad=True)
    assert len(recs) == 2 and skipped[0]["file"] == str(sa1b_dir/"sa_1.json")

def test_json_size_mismatch(sa1b_dir):
    doc = json.loads((sa1b_dir/"sa_3.json").read_text())
    doc["image"]["height"], doc["image"]["width"] = 80, 120
    (sa1b_dir/"sa_3.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"sa_3\.json: says the image is 80x120 but sa_3\.jpg is 40x60"): load_sa1b(sa1b_dir)
    with pytest.warns(UserWarning, match="skipped 1"):
        assert len(load_sa1b(sa1b_dir, skip_bad=True)[1]) == 1

def test_mask_size_mismatch(sa1b_dir):
    doc = json.loads((sa1b_dir/"sa_2.json").read_text())
    doc["annotations"][0]["segmentation"] = _rle(np.ones((20, 20), bool))
    (sa1b_dir/"sa_2.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"sa_2\.json annotation 0: mask size 20x20 does not match the image size 40x60"):
        load_sa1b(sa1b_dir)

def test_missing_files(sa1b_dir, coco_dir, sav_dir, tmp_path):
    (sa1b_dir/"sa_1.jpg").unlink()
    with pytest.raises(DataError, match=r"sa_1\.jpg: image file is missing"): load_sa1b(sa1b_dir)
    (sa1b_dir/"sa_3.json").unlink()   # an image without its json
    with pytest.warns(UserWarning, match="skipped 2"):
        recs, skipped = load_sa1b(sa1b_dir, skip_bad=True)
    assert [r.image_id for r in recs] == ["2"] and {Path(s["file"]).name for s in skipped} == {"sa_1.jpg", "sa_3.jpg"}
    assert any("sa_3.json is missing" in s["reason"] for s in skipped)
    (coco_dir/"img2.png").unlink()
    with pytest.raises(DataError, match=r"img2\.png: image file is missing"): load_coco(coco_dir/"instances.json", coco_dir)
    with pytest.raises(DataError, match=r"nope\.json: COCO annotation file not found"): load_coco(coco_dir/"nope.json", coco_dir)
    for f in (sav_dir/"sav_000007").iterdir(): f.unlink()
    with pytest.raises(DataError, match=r"sav_000007\.mp4: is missing, and so is a frame folder sav_000007/"): load_sav(sav_dir)
    with pytest.raises(DataError, match="not a world folder"): load_world(tmp_path)

def test_coco_and_sav_bad_input(coco_dir, sav_dir):
    doc = json.loads((coco_dir/"instances.json").read_text())
    doc["annotations"][0]["segmentation"] = {"size": [H, W], "counts": "!!broken"}
    doc["images"][1]["height"] = 99
    (coco_dir/"instances.json").write_text(json.dumps(doc))
    with pytest.raises(DataError, match=r"instances\.json annotation 1: invalid RLE"): load_coco(coco_dir/"instances.json", coco_dir)
    with pytest.warns(UserWarning, match="skipped 2"):
        recs, skipped = load_coco(coco_dir/"instances.json", coco_dir, skip_bad=True)
    assert recs == [] and "says img2.png is 99x60 but it is 40x60" in skipped[1]["reason"]
    js = sav_dir/"sav_000007_manual.json"
    doc = json.loads(js.read_text()); doc["masklet"][1][0] = {"size": [H, W], "counts": "xx"}
    js.write_text(json.dumps(doc))
    v = load_sav(sav_dir)[0][0]    # the scan checks sizes only; the clip that decodes the mask names it
    with pytest.raises(DataError, match=r"sav_000007_manual\.json annotated frame 1 masklet 0: invalid RLE"): sav_clip(v)
    doc["masklet"][1][0] = {"size": [H + 1, W], "counts": "xx"}; js.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=rf"sav_000007_manual\.json: masklet 0 at annotated frame 1 is {H + 1}x{W}, the video {H}x{W}"): load_sav(sav_dir)
    with pytest.warns(UserWarning, match="skipped 1 bad item"):
        assert load_sav(sav_dir, skip_bad=True)[0] == []

def test_bad_sample_mid_epoch_is_skipped_not_a_crash(tok, world, tmp_path, capsys):
    import shutil
    shutil.copytree(world, tmp_path/"w")
    w = load_world(tmp_path/"w")
    ds = GroundedDataset(w["images"], w["prompts"], tok, image_size=32, negative_ratio=0.2)
    _truncate(w["images"][0].file)                  # goes bad after the scan, as a disk error would
    n_bad = sum(1 for ri, _ in ds.samples if ri == 0)
    got = [b["index"].tolist() for b in make_loader(ds, batch_size=4, shuffle=False, workers=0)]
    assert sum(map(len, got)) == len(ds)            # the epoch completes with a full count of samples
    assert len(ds.bad_items) == n_bad and all("truncated" in b["reason"] and b["file"] == str(w["images"][0].file) for b in ds.bad_items)
    assert "sa_1.jpg" in capsys.readouterr().err


# ---------------------------------------------------------------- CLI
def test_cli_inspect_sa1b_json(run_cli, sa1b_dir):
    _truncate(sa1b_dir/"sa_2.jpg")
    p = run_cli("data", "inspect", sa1b_dir, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    expected_images = [{"file": f"sa_{i}.jpg", "instances": len(_sa1b_masks(i)), "areas": [int(m.sum()) for m in _sa1b_masks(i)]}
                       for i in (1, 3)]
    assert out["images"] == expected_images and list(out) == ["images", "skipped"]
    assert out["images"][0]["areas"] == [200, 15 * 6]
    assert len(out["skipped"]) == 1 and out["skipped"][0]["file"] == "sa_2.jpg" and "truncated" in out["skipped"][0]["reason"]
    assert "sa_2.jpg" in p.stderr   # the warning lists the file

def test_cli_make_world_and_inspect(run_cli, tmp_path, capsys):
    from sam3m4.cli import main   # in-process for the follow-up calls (a subprocess costs a torch import each)
    p = run_cli("data", "make-world", tmp_path/"w", "--tiny", "--json")
    assert p.returncode == 0, p.stderr
    man = json.loads(p.stdout)
    assert man["images"] == TINY_WORLD.n_images and (tmp_path/"w"/"sa1b"/"sa_1.json").is_file()
    def cli(*args):
        capsys.readouterr(); rc = main(["data", *map(str, args)]); return rc, capsys.readouterr().out
    rc, out = cli("inspect", tmp_path/"w", "--json"); r = json.loads(out)
    assert rc == 0 and (r["kind"], r["images"], r["videos"], r["instances"]) == ("world", TINY_WORLD.n_images, TINY_WORLD.n_videos, man["instances"])
    r = json.loads(cli("inspect", tmp_path/"w"/"sa1b", "--json")[1])
    assert len(r["images"]) == TINY_WORLD.n_images and sum(len(i["areas"]) for i in r["images"]) == man["instances"]
    assert json.loads(cli("inspect", tmp_path/"w"/"sav", "--json")[1])["kind"] == "sa-v"
    r = json.loads(cli("inspect", tmp_path/"w"/"coco.json", "--json")[1])   # its images are in sa1b/, a folder beside it
    assert (r["kind"], r["images"], r["instances"]) == ("coco", TINY_WORLD.n_images, man["instances"]) and not r["skipped"]
    rc, out = cli("inspect", tmp_path/"nothing", "--json")
    assert rc == 2 and "nothing" in json.loads(out)["error"]
    rc, human = cli("inspect", tmp_path/"w"/"sa1b")
    assert rc == 0 and "sa_1.jpg" in human and "instances" in human
