"SA-V as it ships: 24 fps mp4 + 6 fps masklet json, the val/test PNG layout, lazy masks, bad input (issue 16)."
import json, shutil
from pathlib import Path

import av
import numpy as np
import pytest
import torch

import sam3m4.sav as sav_module
from sam3m4.data import encode_rle
from sam3m4.world import COLOURS
from sam3m4.core import ConfigError, DataError
from sam3m4.prompts import DualTokenizer
from sam3m4.sav import annotation_stride, load_sav, sav_clip, video_info, write_sav_masklets
from sam3m4.world import load_world, make_world, TINY_WORLD
from sam3m4.grounded import inspect_folder, VideoClipDataset

torch.set_num_threads(1)
H, W, F = 64, 96, 45            # 45 frames at 24 fps, annotated every 4th: 12 annotated frames
DISC, SQUARE, BG = 235, 130, 20  # grey levels: the objects are found again in the decoded frames by brightness


def _scene(F=F, H=H, W=W):
    "Frames uint8 [F,H,W,3] and the visible masks [F,2,H,W] of a disc (on top) and a square crossing it, both moving every frame."
    yy, xx = np.mgrid[:H, :W]
    frames = np.full((F, H, W, 3), BG, np.uint8); masks = np.zeros((F, 2, H, W), bool)
    for i in range(F):
        disc = (xx - 12 - 1.6 * i) ** 2 + (yy - 30) ** 2 <= 11 ** 2
        square = (abs(xx - 80 + 1.2 * i) <= 10) & (abs(yy - 20 - 0.5 * i) <= 10)
        masks[i, 0], masks[i, 1] = disc, square & ~disc
        frames[i][masks[i, 1]] = SQUARE; frames[i][masks[i, 0]] = DISC
    return frames, masks


def _iou(a, b) -> float:
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 1.0


def _seen(frame):
    "The objects as a viewer finds them in a decoded frame: brightness bands around each object's grey level."
    g = frame.astype(int).mean(-1)
    return np.stack([g > (DISC + SQUARE) / 2, (g > (SQUARE + BG) / 2) & (g <= (DISC + SQUARE) / 2)])


def _check_aligned(frames, masks, fi, truth):
    "Every decoded mask and every decoded frame's objects match the objects drawn in video frame fi[a]; returns the IoUs."
    ious = []
    for a, f in enumerate(fi):
        seen = _seen(frames[a])
        for k in range(truth.shape[1]):
            ious.append((_iou(masks[a, k], truth[f, k]), _iou(seen[k], truth[f, k])))
    assert min(min(p) for p in ious) >= 0.95, ious
    return ious


@pytest.fixture(scope="module")
def scene(): return _scene()


@pytest.fixture
def mp4_dir(tmp_path, scene):
    frames, masks = scene
    write_sav_masklets(tmp_path/"sav", "sav_000001", frames, masks[::4], gop=12)   # GOP 12: clips seek
    return tmp_path/"sav"


# ---------------------------------------------------------------- alignment
def test_mp4_clip_frames_and_masks_line_up(mp4_dir, scene):
    frames, masks, fi = sav_clip(mp4_dir, "sav_000001", start=2, length=5)
    assert fi == [8, 12, 16, 20, 24]                     # masklet t <-> frame 4t
    assert frames.dtype == np.uint8 and frames.shape == (5, H, W, 3) and masks.dtype == bool and masks.shape == (5, 2, H, W)
    ious = _check_aligned(frames, masks, fi, scene[1])
    print("mp4 mask IoU min %.4f, frame-object IoU min %.4f" % (min(p[0] for p in ious), min(p[1] for p in ious)))
    # the test can fail: the old pairing (masklet t with frame t) does not line up
    wrong = [_iou(_seen(frames[a])[0], scene[1][t, 0]) for a, t in enumerate(range(2, 7))]
    assert max(wrong) < 0.5, wrong


def test_whole_video_and_seek_agree(mp4_dir, scene):
    full, _, fi = sav_clip(mp4_dir, "sav_000001")
    assert fi == list(range(0, 45, 4)) and len(full) == 12
    late, _, fi2 = sav_clip(mp4_dir, "sav_000001", start=9)  # seeks past three keyframes
    assert fi2 == [36, 40, 44] and np.array_equal(late, full[9:])
    _check_aligned(full, sav_clip(mp4_dir, "sav_000001")[1], fi, scene[1])


def test_png_layout_lines_up(tmp_path, scene):
    frames, masks = scene
    root = tmp_path/"sav_val"
    write_sav_masklets(root, "sav_000002", frames, masks[::4], layout="png")
    assert (root/"JPEGImages_24fps"/"sav_000002"/"00044.jpg").is_file() and (root/"Annotations_6fps"/"sav_000002"/"001"/"00008.png").is_file()
    vids, skipped = load_sav(root)
    assert skipped == [] and [v.layout for v in vids] == ["png"] and vids[0].frame_index == list(range(0, 45, 4))
    f, m, fi = sav_clip(root, "sav_000002", start=3, length=4)
    assert fi == [12, 16, 20, 24]
    ious = _check_aligned(f, m, fi, masks)
    print("png mask IoU min %.4f, frame-object IoU min %.4f" % (min(p[0] for p in ious), min(p[1] for p in ious)))


def test_frame_folder_of_all_24fps_frames(tmp_path, scene):
    frames, masks = scene
    write_sav_masklets(tmp_path/"sav", "sav_000003", frames, masks[::4], layout="frames")
    f, m, fi = sav_clip(tmp_path/"sav", "sav_000003", start=1, length=2)
    assert fi == [4, 8]
    _check_aligned(f, m, fi, masks)


# ---------------------------------------------------------------- the stride
def test_annotation_stride_read_from_the_data(tmp_path, scene):
    assert annotation_stride(483, 121) == 4          # SA-V's own example video: 483 frames, 121 masklet entries
    assert annotation_stride(8, 8) == 1 and annotation_stride(10, 5) == 2 and annotation_stride(1, 1) == 4
    with pytest.raises(DataError, match="do not divide"): annotation_stride(10, 7)
    frames, masks = scene
    write_sav_masklets(tmp_path/"s2", "sav_000004", frames[:9], masks[:9:2], stride=2)   # 9 frames, every 2nd annotated
    assert load_sav(tmp_path/"s2")[0][0].frame_index == [0, 2, 4, 6, 8]
    _check_aligned(*sav_clip(tmp_path/"s2", "sav_000004"), masks)
    # a json without video_frame_count: the video's own frame count decides
    js = tmp_path/"s2"/"sav_000004_manual.json"; doc = json.loads(js.read_text()); del doc["video_frame_count"]; js.write_text(json.dumps(doc))
    assert load_sav(tmp_path/"s2")[0][0].frame_index == [0, 2, 4, 6, 8]
    assert load_sav(tmp_path/"s2", stride=2)[0][0].frame_index == [0, 2, 4, 6, 8]
    with pytest.raises(DataError, match=r"has 5 annotated frames, but sav_000004\.mp4 has 9 frames, i\.e\. 3 at stride 4"):
        load_sav(tmp_path/"s2", stride=4)


# ---------------------------------------------------------------- lazy masks
def test_scan_decodes_no_mask_and_a_clip_only_its_own(mp4_dir, monkeypatch):
    calls = []
    real = sav_module.decode_rle
    monkeypatch.setattr(sav_module, "decode_rle", lambda *a, **k: calls.append(1) or real(*a, **k))
    vids, _ = load_sav(mp4_dir)
    assert calls == [] and len(vids) == 1               # opening a video decodes no RLE
    sav_clip(vids[0], start=4, length=2, objects=[1])
    assert len(calls) == 2                              # 2 frames x 1 object


# ---------------------------------------------------------------- bad input
def _faststart_copy(src: Path, dst: Path):
    "Remux with the index (moov) first, as streaming-friendly mp4s are: a cut then still opens, and fails mid-decode."
    with av.open(str(src)) as i, av.open(str(dst), "w", options={"movflags": "faststart"}) as o:
        s = o.add_stream_from_template(i.streams.video[0])
        for p in i.demux(i.streams.video[0]):
            if p.dts is None: continue
            p.stream = s; o.mux(p)


def test_truncated_mp4_is_a_named_error_or_a_counted_skip(mp4_dir, scene, tmp_path):
    frames, masks = scene
    write_sav_masklets(mp4_dir, "sav_000009", frames, masks[::4])
    mp4 = mp4_dir/"sav_000001.mp4"; good = mp4.read_bytes()
    mp4.write_bytes(good[: len(good) // 2])                              # the index (at the end) is gone
    with pytest.raises(DataError, match=r"sav_000001\.mp4: cannot be read as a video .*truncated"): load_sav(mp4_dir)
    with pytest.warns(UserWarning, match=r"skipped 1 bad item"):
        vids, skipped = load_sav(mp4_dir, skip_bad=True)
    assert [v.video_id for v in vids] == ["sav_000009"] and Path(skipped[0]["file"]).name == "sav_000001.mp4"
    # index first, data cut: the scan opens it; the clip that needs the lost frames names the file
    mp4.write_bytes(good); _faststart_copy(mp4, tmp_path/"fs.mp4")
    fs = (tmp_path/"fs.mp4").read_bytes(); mp4.write_bytes(fs[: int(len(fs) * 0.6)])
    vids, _ = load_sav(mp4_dir)
    assert video_info(mp4)["frames"] == F
    with pytest.raises(DataError, match=r"sav_000001\.mp4: .*(truncated|re-download)"): sav_clip(vids[0], start=8)
    ds = VideoClipDataset(vids, DualTokenizer(), image_size=32, clip_len=4)
    items = [ds[i] for i in range(len(ds))]              # the broken clips are replaced by good ones and counted
    assert ds.bad_items and all("sav_000001.mp4" in b["file"] for b in ds.bad_items)
    assert all(it["frames"].shape == (4, 3, 32, 32) for it in items)


def test_json_that_does_not_fit_its_video(mp4_dir, scene):
    frames, masks = scene
    write_sav_masklets(mp4_dir, "sav_000005", frames[:20], masks[:20:4])     # 20 frames, 5 annotated
    shutil.copy(mp4_dir/"sav_000001_manual.json", mp4_dir/"sav_000005_manual.json")   # 12 annotated frames of a 45-frame video
    with pytest.raises(DataError, match=r"sav_000005_manual\.json: has 12 annotated frames, but sav_000005\.mp4 has 20 frames"):
        load_sav(mp4_dir)
    with pytest.warns(UserWarning, match="skipped 1"):
        assert [v.video_id for v in load_sav(mp4_dir, skip_bad=True)[0]] == ["sav_000001"]


def test_masklet_of_the_wrong_size(mp4_dir, tmp_path, scene):
    js = mp4_dir/"sav_000001_manual.json"; doc = json.loads(js.read_text())
    small = encode_rle(np.zeros((H // 2, W // 2), bool))
    doc["masklet"][3][1] = small; js.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=rf"sav_000001_manual\.json: masklet 1 at annotated frame 3 is {H // 2}x{W // 2}, the video {H}x{W}"):
        load_sav(mp4_dir)
    doc["video_height"] = 2 * H; doc["masklet"][3][1] = doc["masklet"][2][1]; js.write_text(json.dumps(doc))
    with pytest.raises(DataError, match=rf"says the video is {2 * H}x{W} but sav_000001\.mp4 is {H}x{W}"): load_sav(mp4_dir)
    frames, masks = scene   # PNG layout: a mask of the wrong size is named when its clip is read
    write_sav_masklets(tmp_path/"val", "sav_000006", frames[:9], masks[:9:4], layout="png")
    from PIL import Image
    bad = tmp_path/"val"/"Annotations_6fps"/"sav_000006"/"000"/"00004.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(bad)
    with pytest.raises(DataError, match=r"000/00004\.png: mask is 10x10 but the frame is 64x96"): sav_clip(tmp_path/"val", "sav_000006")
    (tmp_path/"val"/"JPEGImages_24fps"/"sav_000006"/"00008.jpg").unlink()
    with pytest.raises(DataError, match=r"00008\.jpg: is missing but sav_000006/ annotates it"): load_sav(tmp_path/"val")


# ---------------------------------------------------------------- prompts, auto masklets
def test_prompt_is_a_parameter_and_auto_masklets(mp4_dir):
    assert {o["category"] for o in load_sav(mp4_dir)[0][0].objects} == {"object"}      # SA-V masklets have no category
    assert {o["category"] for o in load_sav(mp4_dir, prompt="thing")[0][0].objects} == {"thing"}
    doc = json.loads((mp4_dir/"sav_000001_manual.json").read_text())
    auto = {**doc, "masklet": [[per[1]] for per in doc["masklet"]], "masklet_id": [0], "masklet_num": 1, "masklet_type": ["auto"]}
    (mp4_dir/"sav_000001_auto.json").write_text(json.dumps(auto))
    v = load_sav(mp4_dir, annotations="both")[0][0]
    assert [(o["id"], o["source"]) for o in v.objects] == [(0, "manual"), (1, "manual"), (2, "auto")]
    _, m, _ = sav_clip(v, start=1, length=2)
    assert np.array_equal(m[:, 2], m[:, 1])                # the auto masklet is the manual object 1 here
    assert [o["id"] for o in load_sav(mp4_dir, annotations="auto")[0][0].objects] == [0]
    with pytest.raises(ConfigError, match="annotations must be one of"): load_sav(mp4_dir, annotations="all")


# ---------------------------------------------------------------- the world, the dataset, inspect
def test_world_videos_are_24fps_mp4_and_deterministic(tmp_path):
    make_world(tmp_path/"a", TINY_WORLD, progress=False); make_world(tmp_path/"b", TINY_WORLD, progress=False)
    a, b = (tmp_path/"a"/"sav"/"sav_000001.mp4").read_bytes(), (tmp_path/"b"/"sav"/"sav_000001.mp4").read_bytes()
    assert a == b
    w = load_world(tmp_path/"a")
    v = w["videos"][0]
    assert v.layout == "mp4" and v.frame_index == [0, 4, 8, 12] and video_info(v.video)["frames"] == 13
    frames, masks, fi = sav_clip(v)
    for a_, f in enumerate(frames):   # the world's colours sit under their masks in the decoded frames
        for k, o in enumerate(v.objects):
            if masks[a_, k].sum() > 40:
                colour = np.array(COLOURS[o["category"].split()[0]])
                assert np.abs(f[masks[a_, k]].mean(0) - colour).max() < 45
    ds = VideoClipDataset(w["videos"], DualTokenizer(), image_size=32, clip_len=4)
    it = ds[0]
    assert it["frame_index"] == [0, 4, 8, 12] and it["frames"].shape == (4, 3, 32, 32) and it["masks"].shape[:2] == (4, len(it["object_ids"]))
    r = inspect_folder(tmp_path/"a"/"sav")
    assert r["kind"] == "sa-v" and r["videos"][0]["layout"] == "mp4" and r["videos"][0]["frame_index"] == [0, 4, 8, "..."]


def test_load_videos_reads_the_png_layout_with_the_prompt(tmp_path, scene):
    from sam3m4.grounded import load_videos
    frames, masks = scene
    write_sav_masklets(tmp_path/"val", "sav_000007", frames[:17], masks[:17:4], layout="png")
    vids = load_videos(tmp_path/"val", prompt="object")
    assert [v.video_id for v in vids] == ["sav_000007"] and vids[0].frame_index == [0, 4, 8, 12, 16]
