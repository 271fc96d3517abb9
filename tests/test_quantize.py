"End-to-end tests of sam3m4.quantize: every mode on a tiny model, honest artifact sizes, the compare table, the CLI."
import json, warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from sam3m4.core import CheckpointError, save_checkpoint
from sam3m4.quantize import (OUTPUT_NAMES, QUANT_MODES, QuantConfig, compare_quantized, load_packed, quantize_with_info,
                             run_image_path, save_quantized)
from sam3m4.student import load_student

torch.set_num_threads(1)
warnings.filterwarnings("ignore")


class StandIn(nn.Module):
    "Tiny module with the student's image-path interface: conv stem (incl. depthwise), linear fusion, heads."
    def __init__(self, d=64, q=4):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, d, 3, stride=4, padding=1), nn.GELU(),
                                  nn.Conv2d(d, d, 3, padding=1, groups=d), nn.Conv2d(d, d, 1))
        self.q = nn.Parameter(torch.randn(q, d) * 0.1); self.fuse = nn.Linear(d, d); self.mlp = nn.Linear(d, d)
        self.box = nn.Linear(d, 4); self.score = nn.Linear(d, 1); self.pres = nn.Linear(d, 1)

    def forward(self, images, student_ids=None, text_embeddings=None):
        f = self.stem(images)
        t = self.fuse(text_embeddings.mean(1))
        qs = self.q[None] + t[:, None]
        qs = qs + self.mlp(torch.relu(qs))
        return {"mask_logits": torch.einsum("bqd,bdhw->bqhw", qs, f), "boxes": self.box(qs).sigmoid(),
                "scores": self.score(qs)[..., 0].sigmoid(), "presence_logit": self.pres(t)[:, 0], "source": "standin"}


def standin_batches(n=2, b=2, s=32, L=4, d=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [{"images": torch.rand(b, 3, s, s, generator=g), "text_embeddings": torch.randn(b, L, d, generator=g)}
            for _ in range(n)]


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    return StandIn().eval(), standin_batches()


# Relative tolerance on mask logits (max |Δ| / max |logit|) per mode, from the quantization step:
# fp16 ~1e-3, int8 per-channel weights ≪ 5 %, int4 groups of 32 (8 levels a side) a few percent, with margin.
TOL = {"fp32": 1e-6, "fp16": 0.01, "int8": 0.05, "int8_int4": 0.25, "int4": 0.25, "qat_int4": 0.25, "qat_int8_int4": 0.25}


@pytest.mark.parametrize("mode", QUANT_MODES)
def test_each_mode_close_to_fp32(toy, mode):
    model, batches = toy
    ref = run_image_path(model, **batches[0])
    qm, info = quantize_with_info(model, mode, QuantConfig(qat_steps=3), batches=batches)
    out = run_image_path(qm, **batches[0])
    rel = float((out["mask_logits"] - ref["mask_logits"]).abs().max().detach() / ref["mask_logits"].abs().max().detach())
    assert rel <= TOL[mode], (mode, rel, info)
    for k in OUTPUT_NAMES: assert out[k].shape == ref[k].shape
    if mode not in ("fp32", "fp16"):
        assert info["linear_quantized"] == info["linear_total"] == 5, info
    if mode == "int4" and not torch.cuda.is_available():   # Int4WeightOnlyConfig has no CPU kernel: the intx path ran
        assert "Int4WeightOnlyConfig unavailable" in info["int4_fallback_reason"] and info["linear"].startswith("IntxWeightOnlyConfig")
    if mode.startswith("qat_"):
        assert info["qat_prepared_linear"] == 5 and len(info["qat_losses"]) == 3


def test_qat_finetune_trains_the_fake_quantized_model(toy):
    "With a loss of our own (presence logit -> 3), the QAT fine-tune must move the converted int4 model there."
    model, batches = toy
    loss_fn = lambda out, b: (out["presence_logit"] - 3.0).pow(2).mean()
    before = float(run_image_path(model, **batches[0])["presence_logit"].detach().sub(3).pow(2).mean())
    qm, info = quantize_with_info(model, "qat_int4", QuantConfig(qat_steps=30, qat_lr=1e-2), batches=batches, loss_fn=loss_fn)
    after = float(run_image_path(qm, **batches[0])["presence_logit"].detach().sub(3).pow(2).mean())
    assert info["qat_losses"][-1] < 0.5 * info["qat_losses"][0] and after < 0.5 * before, (info["qat_losses"], before, after)
    assert type(qm.pres.weight).__name__ == "IntxUnpackedToInt8Tensor"   # converted after the fine-tune


def test_packed_artifact_is_honest(toy, tmp_path):
    model, _ = toy
    sizes = {}
    for mode in ("fp32", "fp16", "int8", "int4"):
        qm, _ = quantize_with_info(model, mode)
        r = save_quantized(qm, tmp_path/f"{mode}.safetensors")
        assert r["bytes"] == (tmp_path/f"{mode}.safetensors").stat().st_size
        sizes[mode] = r["bytes"]
        back = load_packed(r["path"])
        for k, v in qm.state_dict().items():
            want = v.dequantize() if hasattr(type(v), "tensor_data_names") else v
            torch.testing.assert_close(back[k].float(), want.float(), rtol=0, atol=1e-6)
    # the int4 1x1 conv + 5 linears shrink to half a byte per weight (+ scales), the kept stem/depthwise stay fp32
    n4 = sum(m.weight.numel() for m in model.modules() if isinstance(m, nn.Linear)) + 64 * 64
    # int8: 1 B/weight (+ a 4 B scale per row); int4: 0.5 B/weight + a 4 B scale and 1 B zero point per group of 32
    assert sizes["int8"] - sizes["int4"] > (0.5 - 5 / 32 - 0.02) * n4, sizes
    assert sizes["fp16"] < 0.55 * sizes["fp32"] and sizes["int4"] < sizes["int8"] < sizes["fp16"], sizes


def test_compare_rows(toy, tmp_path):
    model, batches = toy
    rows = compare_quantized(model, batches, ["fp16", "int8", "int8_int4", "int4", "qat_int4"],
                             cfg=QuantConfig(qat_steps=2, timed_runs=1), out_dir=tmp_path)
    assert [r["mode"] for r in rows] == ["fp32", "fp16", "int8", "int8_int4", "int4", "qat_int4"]
    for r in rows:
        assert {"mode", "status", "reason", "size_mb", "miou", "drop_rel", "ms"} <= set(r), r
        assert r["status"] == "ok" and r["ms"] > 0
        assert r["size_mb"] == pytest.approx((tmp_path/f"{r['mode']}.safetensors").stat().st_size / 2**20)
    assert rows[0]["miou"] == 1.0 and rows[0]["drop_rel"] == 0.0
    assert all(0.5 < r["miou"] <= 1.0 for r in rows)
    assert rows[2]["compression_vs_fp32"] > 2 and rows[2]["compression_vs_fp16"] > 1


def test_failed_mode_is_reported_not_dropped(toy):
    model, batches = toy
    def eval_fn(m):
        if any(hasattr(type(p), "tensor_data_names") for p in m.parameters()): raise RuntimeError("boom in eval")
        return {"miou": 0.5}
    rows = compare_quantized(model, batches, ["int8"], eval_fn=eval_fn, cfg=QuantConfig(timed_runs=1))
    assert [(r["mode"], r["status"]) for r in rows] == [("fp32", "ok"), ("int8", "failed")]
    assert "boom in eval" in rows[1]["reason"]


def test_bad_checkpoints(tmp_path, run_cli):
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_student(tmp_path/"nope")
    ck = save_checkpoint(tmp_path/"ckpt"/"step_000001", {"w": torch.zeros(3)}, {"step": 1})
    with pytest.raises(CheckpointError, match="student_config"):
        load_student(ck)
    (ck/"model.safetensors").write_bytes(b"truncated")
    p = run_cli("quantize", "--ckpt", ck, "--json")
    assert p.returncode == 2 and "checksum mismatch" in json.loads(p.stdout)["error"]
    p = run_cli("quantize", "--ckpt", tmp_path/"missing", "--json")
    assert p.returncode == 2 and "no such checkpoint" in json.loads(p.stdout)["error"]


def test_cli_tiny_student_compare(tmp_path, run_cli):
    "The real tiny student (random init) through `sam3m4 quantize`: table rows, quant.json and artifacts."
    p = run_cli("quantize", "--student", "tiny", "--modes", "fp16,int8,int4,qat_int4", "--qat-steps", "2",
                "--batches", "1", "--out", tmp_path/"q", "--json", check=True)
    doc = json.loads(p.stdout)
    rows = {r["mode"]: r for r in doc["table"]}
    assert list(rows) == ["fp32", "fp16", "int8", "int4", "qat_int4"]
    assert all(r["status"] == "ok" for r in rows.values()), doc
    assert json.loads((tmp_path/"q"/"quant.json").read_text())["table"] == json.loads(json.dumps(doc["table"]))
    for m, r in rows.items(): assert Path(r["artifact"]).stat().st_size == pytest.approx(r["size_mb"] * 2**20)
    assert rows["int4"]["size_mb"] < rows["int8"]["size_mb"] < rows["fp16"]["size_mb"] < rows["fp32"]["size_mb"]
    assert rows["fp16"]["drop_rel"] < 0.02   # fp16 agrees with fp32 on (nearly) every mask pixel


def test_cli_scores_modes_on_held_out_data(tmp_path, run_cli):
    "`--data`: calibration from the training split, every mode scored against the ground truth of the held-out split."
    from sam3m4.world import make_world, TINY_WORLD
    make_world(tmp_path/"w", TINY_WORLD, progress=False)
    p = run_cli("quantize", "--student", "tiny", "--modes", "fp16,int8", "--batches", "1", "--data", tmp_path/"w",
                "--num-val", "8", "--out", tmp_path/"q", "--json", check=True)
    doc = json.loads(p.stdout)
    assert "held-out" in doc["eval"] and str(tmp_path/"w") in doc["eval"]
    rows = {r["mode"]: r for r in doc["table"]}
    assert list(rows) == ["fp32", "fp16", "int8"] and all(r["status"] == "ok" for r in rows.values()), doc
    for r in rows.values():   # report metrics, not the fidelity ones
        assert 0 < r["samples"] == rows["fp32"]["samples"] <= 8 and r["presence_f1"] is not None and "presence_agreement" not in r
    p = run_cli("quantize", "--student", "tiny", "--data", tmp_path/"nowhere", "--json")
    assert p.returncode == 2 and "nowhere" in json.loads(p.stdout)["error"]
