"""End-to-end: `sam3m4 train --phase video --teacher <SAM 3 video folder>` distils a tiny random `Sam3VideoModel`'s masklets
of videos that have no annotation (an SA-V mp4 without its json, a folder of frames)."""
import json, shutil

from PIL import Image

from sam3m4.sav import decode_frames, video_info
from sam3m4.world import make_world, TINY_WORLD


def _annotation_free_videos(tmp_path):
    "An SA-V mp4 without `_manual.json` and a frame folder `clip/` (the other world video's frames as jpgs)."
    make_world(tmp_path/"w", TINY_WORLD, progress=False)
    vids = tmp_path/"vids"; (vids/"clip").mkdir(parents=True)
    shutil.copy(tmp_path/"w"/"sav"/"sav_000001.mp4", vids)
    mp4 = tmp_path/"w"/"sav"/"sav_000002.mp4"
    for i, f in enumerate(decode_frames(mp4, range(video_info(mp4)["frames"]))): Image.fromarray(f).save(vids/"clip"/f"{i:05d}.jpg")
    assert not list(vids.rglob("*.json"))
    return vids

def test_train_video_with_sam3_video_teacher(tmp_path, run_cli):
    from sam3m4.video_train import Sam3VideoTeacher
    sam3 = tmp_path/"sam3v"; Sam3VideoTeacher.random_init().model.save_pretrained(sam3)
    vids = _annotation_free_videos(tmp_path)
    args = ["train", "--phase", "video", "--data", vids, "--out", tmp_path/"v", "--teacher", sam3, "--student", "tiny",
            "--steps", "2", "--batch-size", "2", "--ckpt-every", "1", "--device", "cpu", "--json"]
    r = json.loads(run_cli(*args, check=True).stdout)
    assert r["teacher"] == f"sam3-video:{sam3.resolve()}" and r["steps"] == 2
    mc = r["masklet_cache"]
    assert mc["videos"] == 2 and mc["objects"] > 0 and mc["teacher"] == r["teacher"], mc
    index = json.loads((tmp_path/"v"/"teacher_masklets"/"index.json").read_text())
    assert sorted(index["videos"]) == ["clip", "sav_000001"] and all(e["frames"] == 4 for e in index["videos"].values())
    for ck in ("merged", "ckpt/step_000002"):
        assert json.loads((tmp_path/"v"/ck/"state.json").read_text())["teacher"] == r["teacher"], ck
    video = json.loads((tmp_path/"v"/"video.json").read_text())
    assert video["source"] == r["teacher"] and "video teacher's masklets" in video["scored_against"]
    # more steps with --resume reuse the cached masklets (SAM 3 is not run again)
    args[args.index("--steps") + 1] = "3"
    r2 = json.loads(run_cli(*args, "--resume", check=True).stdout)
    assert (r2["start"], r2["steps"]) == (2, 3) and r2["masklet_cache"]["teacher_seconds"] == mc["teacher_seconds"]

def test_video_teacher_errors_name_the_fix(tmp_path, run_cli):
    make_world(tmp_path/"w", TINY_WORLD, progress=False)
    base = ["train", "--phase", "video", "--data", tmp_path/"w", "--out", tmp_path/"v", "--student", "tiny", "--steps", "1", "--device", "cpu", "--json"]
    p = run_cli(*base, "--teacher", tmp_path/"nope")
    assert p.returncode == 2 and "SAM 3 not found" in json.loads(p.stdout)["error"] and str(tmp_path/"nope") in json.loads(p.stdout)["error"]
    (tmp_path/"img").mkdir(); (tmp_path/"img"/"config.json").write_text(json.dumps({"model_type": "sam3"}))
    p = run_cli(*base, "--teacher", tmp_path/"img")
    err = json.loads(p.stdout)["error"]
    assert p.returncode == 2 and "model_type is 'sam3'" in err and "sam3_video" in err, err

def test_pipeline_sam3_video_folder_teaches_both_stages(tmp_path, run_cli):
    "`pipeline --sam3` with a folder that has SAM 3's tracker (model_type sam3_video, what facebook/sam3 ships): the image"
    "teacher and the video teacher both read it; the video stage says which teacher it used and why."
    from sam3m4.video_train import Sam3VideoTeacher
    sam3 = tmp_path/"sam3v"; Sam3VideoTeacher.random_init().model.save_pretrained(sam3)
    work = tmp_path/"work"
    run_cli("pipeline", "--tiny", "--work", work, "--reports", tmp_path/"reports", "--sam3", sam3, "--until", "video",
            "--no-phase1-ablation", "--json", check=True)
    state = json.loads((work/"pipeline_state.json").read_text())
    assert state["teacher_cache"]["source"] == f"sam3:{sam3.resolve()}", state["teacher_cache"]
    v = state["video"]
    assert v["status"] == "done" and v["video_teacher"] == str(sam3) and v["teacher"] == f"sam3-video:{sam3.resolve()}", v
    doc = json.loads((work/"video"/"video.json").read_text())
    assert doc["source"] == v["teacher"] and doc["teacher_choice"] == f"SAM 3's tracker from {sam3} (model_type 'sam3_video')", doc
    assert doc["masklet_cache"]["objects"] > 0 and (work/"video"/"teacher_masklets"/"index.json").is_file()
    # without --sam3 the same work folder's video stage is stale: its teacher changed
    from sam3m4.pipeline import PipelineConfig, stage_video
    assert stage_video(PipelineConfig(work=str(work))).check(v) == f"the video teacher is now annotation (was {sam3})"
    assert stage_video(PipelineConfig(work=str(work), sam3=str(sam3))).check(v) is None
