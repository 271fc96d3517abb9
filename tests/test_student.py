"The student end to end: the `sam3m4 models` table, the output contract, prompts that matter, cached text, checkpoints."
import json
import pytest
import torch
from sam3m4.core import CheckpointError, ConfigError
from sam3m4.data import DualTokenizer
from sam3m4.student import (STUDENT_CONFIGS, Sam3m4Student, TextEmbeddingCache, load_student, param_table, save_student,
                            student_config, unbatch)

torch.set_num_threads(1)

@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return Sam3m4Student(student_config("tiny")).eval()

@pytest.fixture(scope="module")
def tok():
    return DualTokenizer(student_context=student_config("tiny").context_length)

def test_models_cli_json(run_cli):
    p = run_cli("models", "--student", "tiny", "--json", check=True)
    doc = json.loads(p.stdout)
    assert doc["student"] == "tiny" and doc["image_path_params"] == param_table("tiny")["image_path_params"]
    per_frame = sum(r["params"] for r in doc["table"] if r["per_frame"])
    assert per_frame == doc["image_path_params"] and doc["image_path_params"] + doc["text_encoder_params"] == doc["total_params"]
    # the count is the model's own parameter count, not a number the table made up
    m = Sam3m4Student(student_config("tiny"))
    assert doc["image_path_params"] == sum(p.numel() for p in m.image_path.parameters())

def test_models_cli_all_and_bad_name(run_cli):
    doc = json.loads(run_cli("models", "--json", check=True).stdout)
    assert [r["student"] for r in doc["table"]] == list(STUDENT_CONFIGS)
    mobile = next(r for r in doc["table"] if r["student"] == "mobile")
    assert mobile["image_path_params"] <= 25_000_000
    assert run_cli("models", "--student", "huge").returncode != 0

def test_tiny_contract_forward_backward(tok):
    torch.manual_seed(0)
    m = Sam3m4Student(student_config("tiny"))
    ids = tok.student(["red circle", "blue square", "green triangle"])
    out = m(torch.rand(3, 3, 64, 64), ids)
    Q = m.cfg.num_queries
    shapes = {"mask_logits": (3, Q, 16, 16), "boxes": (3, Q, 4), "scores": (3, Q), "score_logits": (3, Q),
              "presence_logit": (3,), "features": (3, m.cfg.dim, 4, 4), "text_features": (3, m.cfg.dim)}
    for k, s in shapes.items(): assert tuple(out[k].shape) == s, k
    assert out["source"] == "student:tiny"
    assert ((out["scores"] >= 0) & (out["scores"] <= 1)).all() and ((out["boxes"] >= 0) & (out["boxes"] <= 1)).all()
    torch.testing.assert_close(out["scores"], out["score_logits"].sigmoid())
    loss = out["mask_logits"].square().mean() + out["boxes"].sum() + out["scores"].sum() + out["presence_logit"].sum()
    loss.backward()
    assert [n for n, p in m.named_parameters() if p.grad is None] == []
    one = unbatch(out)[2]
    assert one["mask_logits"].shape == (Q, 16, 16) and one["presence_logit"].shape == () and one["source"] == "student:tiny"

def test_prompt_changes_outputs_and_cache_matches(tok, tmp_path):
    torch.manual_seed(0)
    m = Sam3m4Student(student_config("tiny")).eval()
    img = torch.rand(1, 3, 64, 64).expand(2, -1, -1, -1)
    prompts = ["red circle", "blue square"]
    with torch.no_grad(): live = m(img, tok.student(prompts))
    assert not torch.allclose(live["scores"][0], live["scores"][1])
    assert not torch.allclose(live["mask_logits"][0], live["mask_logits"][1])
    assert not torch.allclose(live["presence_logit"][0], live["presence_logit"][1])
    cache = TextEmbeddingCache.build(m, ["green triangle", *prompts])
    cache.save(tmp_path / "t.safetensors")
    back = TextEmbeddingCache.load(tmp_path / "t.safetensors", model=m)
    assert back.prompts == ["green triangle", *prompts] and back.context_length == m.cfg.context_length
    m.text_encoder = None   # the cached path must not need the text tower at all
    with torch.no_grad(): cached = m(img, text_embeddings=back.lookup(prompts))
    for k in ("mask_logits", "boxes", "scores", "presence_logit", "text_features"): torch.testing.assert_close(cached[k], live[k])

def test_stale_cache_refused(tiny, tmp_path):
    TextEmbeddingCache.build(tiny, ["red circle"]).save(tmp_path / "t.safetensors")
    other = Sam3m4Student(student_config("tiny"))   # other random weights: other text tower
    with pytest.raises(CheckpointError, match="fingerprint"):
        TextEmbeddingCache.load(tmp_path / "t.safetensors", model=other)

def test_context_mismatch_refused(tok):
    m = Sam3m4Student(student_config("tiny"))
    with pytest.raises(ConfigError, match="student_context"):
        m(torch.rand(1, 3, 64, 64), DualTokenizer(student_context=16).student(["red circle"]))

def test_checkpoint_round_trip_and_wrong_keys(tmp_path):
    torch.manual_seed(1)
    m = Sam3m4Student(student_config("tiny"))
    save_student(m, tmp_path / "ok", {"step": 5})
    m2, st = load_student(tmp_path / "ok")
    assert st["step"] == 5 and all(torch.equal(v, m2.state_dict()[k]) for k, v in m.state_dict().items())
    # a checkpoint of another architecture: the error names the offending keys
    save_student(Sam3m4Student(student_config("tiny", decoder_layers=2)), tmp_path / "other")
    with pytest.raises(CheckpointError) as e:
        load_student(tmp_path / "other", cfg=student_config("tiny"))
    assert "unexpected" in str(e.value) and "image_path.decoder.1." in str(e.value)
    # a checkpoint with a key removed: named as missing
    from safetensors.torch import load_file, save_file
    from sam3m4.core import save_checkpoint
    sd = load_file(str(tmp_path / "ok" / "model.safetensors")); del sd["image_path.box_head.0.weight"]
    save_checkpoint(tmp_path / "cut", sd, {"student_config": st["student_config"]})
    with pytest.raises(CheckpointError, match=r"1 missing.*image_path\.box_head\.0\.weight"):
        load_student(tmp_path / "cut")
    _, st = load_student(tmp_path / "cut", allow_partial=True)
    assert st["load_report"]["missing"] == ["image_path.box_head.0.weight"]

def test_image_path_exports():
    m = Sam3m4Student(student_config("tiny")).eval()
    emb = m.encode_text(DualTokenizer(student_context=32).student(["red circle"]))[0]
    x = torch.rand(1, 3, 64, 64)
    ep = torch.export.export(m.image_path, (x, emb))
    with torch.no_grad(): torch.testing.assert_close(ep.module()(x, emb)["mask_logits"], m.image_path(x, emb)["mask_logits"])
