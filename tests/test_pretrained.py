"Pretrained starts from local files: --backbone-weights (timm / convnet) and --text-weights (open_clip) (issue 16)."
import json
from pathlib import Path

import pytest
import timm
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg, CustomTextCLIP
from safetensors.torch import load_file, save_file

from sam3m4.core import CheckpointError
from sam3m4.prompts import DualTokenizer
from sam3m4.world import make_world, TINY_WORLD
from sam3m4.student import Sam3m4Student, load_backbone_weights, load_text_tower, student_config

torch.set_num_threads(1)


def _save(sd: dict, path: Path) -> Path:
    save_file({k: v.detach().contiguous() for k, v in sd.items()}, str(path)); return path


def _tiny_clip(cls=CLIP, seed=1):
    "An open_clip model whose text tower has the tiny student's shape (width 32, 1 layer, 2 heads, context 32, embedding 32)."
    torch.manual_seed(seed)
    return cls(32, CLIPVisionCfg(layers=1, width=32, patch_size=16, image_size=32, head_width=16),
               CLIPTextCfg(context_length=32, vocab_size=49408, width=32, heads=2, layers=1))


@pytest.mark.parametrize("name", ["test_efficientnet", "test_convnext"])   # convnext's extractor flattens stages: stages.1 -> stages_1
def test_timm_backbone_loads_exactly(tmp_path, name):
    torch.manual_seed(3); full = timm.create_model(name)
    plain = tmp_path/"plain.pth"; torch.save(full.state_dict(), plain)
    torch.save({"state_dict": {f"module.{k}": v for k, v in full.state_dict().items()}}, tmp_path/"w.pth")   # a DDP-saved training ckpt
    st = Sam3m4Student(student_config("tiny", backbone=name))
    r = load_backbone_weights(st, tmp_path/"w.pth")
    body = st.image_path.image_encoder.body
    assert r["missing"] == [] and r["shape_mismatch"] == [] and r["loaded"] == r["of"] == len(body.state_dict())
    # independent reference: timm's own pretrained loading (from the local file) into the same features_only extractor
    ref = timm.create_model(name, pretrained=True, features_only=True, out_indices=body.feature_info.out_indices,
                            pretrained_cfg_overlay={"file": str(plain)}).state_dict()
    assert ref.keys() == body.state_dict().keys() and all(torch.equal(v, ref[k]) for k, v in body.state_dict().items())
    assert r["unused"] and all(k in full.state_dict() for k in r["unused"])      # the classifier / head the extractor drops
    out = st(torch.rand(1, 3, 64, 64), DualTokenizer().student(["a cat"]))
    assert torch.isfinite(out["mask_logits"]).all()


def test_wrong_architecture_is_a_named_error(tmp_path):
    conv = _save(timm.create_model("test_convnext").state_dict(), tmp_path/"convnext.safetensors")
    st = Sam3m4Student(student_config("tiny", backbone="test_efficientnet"))
    with pytest.raises(CheckpointError, match=r"convnext\.safetensors: does not fit the student's test_efficientnet backbone: 0 of \d+ tensors fit"):
        load_backbone_weights(st, conv)
    small = Sam3m4Student(student_config("small"))
    f = _save(small.image_path.image_encoder.body.state_dict(), tmp_path/"small_convnet.safetensors")
    with pytest.raises(CheckpointError, match=r"small_convnet\.safetensors: does not fit the student's convnet backbone: .* with wrong shape"):
        load_backbone_weights(Sam3m4Student(student_config("tiny")), f)
    wide = CLIP(32, CLIPVisionCfg(layers=1, width=32, patch_size=16, image_size=32, head_width=16),
                CLIPTextCfg(context_length=32, vocab_size=49408, width=64, heads=2, layers=2))
    g = _save(wide.state_dict(), tmp_path/"clip_w64.safetensors")
    with pytest.raises(CheckpointError, match=r"clip_w64\.safetensors: does not fit the student's text tower \(width 32, 1 layers, context 32\)"):
        load_text_tower(Sam3m4Student(student_config("tiny")), g)
    (tmp_path/"pickle.pt").write_bytes(b"\x80\x04not really a checkpoint")
    with pytest.raises(CheckpointError, match=r"pickle\.pt: cannot be read with torch\.load\(weights_only=True\)"):
        load_text_tower(Sam3m4Student(student_config("tiny")), tmp_path/"pickle.pt")


@pytest.mark.parametrize("cls", [CLIP, CustomTextCLIP])   # text keys at top level (CLIP) or under text. (CustomTextCLIP, as MobileCLIP)
def test_open_clip_text_tower_loads_exactly_and_encodes_the_same(tmp_path, cls):
    clip = _tiny_clip(cls).eval()
    f = _save(clip.state_dict(), tmp_path/"clip.safetensors")
    st = Sam3m4Student(student_config("tiny")).eval()
    r = load_text_tower(st, f)
    assert r["missing"] == [] and r["loaded"] == r["of"] and "logit_scale" not in r["unused"]
    ids = DualTokenizer().student(["a red circle", "dog"])
    with torch.no_grad():   # the student's tower now computes open_clip's text embedding
        assert torch.allclose(st.text_encoder.tower(ids)[0], clip.encode_text(ids), atol=1e-5)


def _world(tmp_path_factory):
    d = tmp_path_factory.mktemp("w")/"world"; make_world(d, TINY_WORLD, progress=False); return d


@pytest.fixture(scope="module")
def world(tmp_path_factory): return _world(tmp_path_factory)


def test_train_phase2_tiny_starts_from_the_files(world, tmp_path, capsys):
    """`train --phase 2 --student tiny --backbone-weights F --text-weights G` with lr 0 and one step: the first checkpoint's
    parameters equal the files' tensors where names match. The files come from other random models (other seeds) than the
    trainer's seeded init, and the same run without the flags is checked to differ, so equality can only come from the load.
    BatchNorm running statistics move by one momentum step in that training forward: they are checked to, not to be equal."""
    from sam3m4.cli import main
    from sam3m4.core import load_checkpoint
    torch.manual_seed(123)
    conv = Sam3m4Student(student_config("tiny")).image_path.image_encoder.body.state_dict()
    F = _save(conv, tmp_path/"convnet.safetensors")
    G = _save(_tiny_clip(CustomTextCLIP, seed=7).state_dict(), tmp_path/"mobileclip_like.safetensors")
    args = ["train", "--phase", "2", "--student", "tiny", "--data", str(world), "--steps", "1", "--lr", "0", "--ckpt-every", "1",
            "--batch-size", "2", "--val-samples", "2", "--device", "cpu", "--json"]
    def run(out, *extra):
        capsys.readouterr(); rc = main([*args, "--out", str(out), *extra]); o = capsys.readouterr()
        assert rc == 0, o.err
        sd, state, _ = load_checkpoint(out/"ckpt"/"step_000001")
        return sd, state, json.loads(o.out)
    sd, state, res = run(tmp_path/"run", "--backbone-weights", str(F), "--text-weights", str(G))
    text = {k[5:]: v for k, v in load_file(str(G)).items() if k.startswith("text.")}
    n_body = n_text = 0
    for k, v in conv.items():
        ck = sd["image_path.image_encoder.body." + k]
        if k.endswith(("running_mean", "running_var")): assert not torch.equal(ck, v), k      # one BN momentum step
        elif k.endswith("num_batches_tracked"): assert int(ck) == int(v) + 1
        else: assert torch.equal(ck, v), k; n_body += v.ndim == 4   # conv kernels: random, so equal only if loaded
    for k, v in text.items(): assert torch.equal(sd["text_encoder.tower." + k], v), k; n_text += 1
    assert n_body >= 8 and n_text == len(text) >= 10
    assert state["pretrained"]["backbone"]["loaded"] == len(conv) and state["pretrained"]["text"]["file"] == str(G)
    assert res["pretrained"]["text"]["missing"] == []
    # control: without the flags the same run starts elsewhere
    sd0, state0, _ = run(tmp_path/"run0")
    assert state0["pretrained"] is None
    assert not any(torch.equal(sd0["image_path.image_encoder.body." + k], v) for k, v in conv.items() if v.ndim == 4)   # (BN starts at 1 / 0 anyway)
    assert not torch.equal(sd0["text_encoder.tower.token_embedding.weight"], text["token_embedding.weight"])
    # --init already holds every weight
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path/"run2"), "--init", str(tmp_path/"run"), "--backbone-weights", str(F)]) == 2
    assert "exclude each other" in capsys.readouterr().out


def test_pipeline_and_notebook_parameters_reach_train_phase(monkeypatch, tmp_path):
    import sam3m4.pipeline as pl
    from sam3m4.cli import build_parser
    seen = {}
    monkeypatch.setattr(pl, "run_pipeline", lambda cfg, force=(), until=None: seen.setdefault("cfg", cfg) and {})
    a = build_parser("pipeline").parse_args(["--work", str(tmp_path), "--tiny", "--backbone-weights", "b.pth", "--text-weights", "t.safetensors", "--video-prompt", "thing"])
    a.func(a)
    assert (seen["cfg"].backbone_weights, seen["cfg"].text_weights, seen["cfg"].video_prompt) == ("b.pth", "t.safetensors", "thing")
    for nb in ("20_phase1", "21_phase2"):   # the phase notebooks take them as papermill parameters and pass them on
        src = json.loads((Path(__file__).parents[1]/"nbs"/f"{nb}.ipynb").read_text())
        code = "".join("".join(c["source"]) for c in src["cells"] if c["cell_type"] == "code")
        assert "backbone_weights = None" in code and "backbone_weights=backbone_weights, text_weights=text_weights" in code


def test_video_prompt_flag_reaches_the_video_config(monkeypatch, tmp_path):
    import sam3m4.pipeline as pl
    from sam3m4.cli import build_parser
    seen = {}
    def fake_run_video(cfg, data, out, **kw):
        seen["prompt"] = cfg.prompt
        return {"out": str(out), "steps": 0, "start": 0, "best": None, "merged": None, "history": [],
                "summary": {"jf_tracker": 0, "jf_per_frame": 0, "objects": 0, "feature_cache_bytes_per_frame": 0,
                            "teacher": "annotation-teacher(sa-v masklets)", "masklet_cache": None}}   # run_video's summary keys
    monkeypatch.setattr(pl, "run_video", fake_run_video)
    p = build_parser("train")
    a = p.parse_args(["--phase", "video", "--data", str(tmp_path), "--out", str(tmp_path/"v"), "--video-prompt", "thing"])
    a.func(a)
    assert seen["prompt"] == "thing"
    a = p.parse_args(["--phase", "video", "--data", str(tmp_path), "--out", str(tmp_path/"v")]); a.func(a)
    assert seen["prompt"] == "object"   # VideoTrainConfig's default: SA-V masklets carry no category
