"End-to-end tests of sam3m4.export: XNNPACK .pte + runtime parity, CoreML lowering, QNN without its SDK, the CLI."
import json, os, warnings
from pathlib import Path

import pytest
import torch

from sam3m4.core import BackendUnavailable, Sam3m4Error, sha256_file
from sam3m4.export import ExportConfig, export_pte, run_pte
from sam3m4.quantize import OUTPUT_NAMES
from test_quantize import StandIn, standin_batches

torch.set_num_threads(1)
warnings.filterwarnings("ignore")
NO_QNN = not os.environ.get("QNN_SDK_ROOT")


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    return StandIn().eval(), standin_batches(n=3, b=1)


def test_xnnpack_fp32_parity(toy, tmp_path):
    model, calib = toy
    r = export_pte(model, calib[0], "xnnpack", tmp_path, name="m", calib=calib, prompts=["red circle"],
                   text_embeddings=calib[0]["text_embeddings"], cfg=ExportConfig(runs=3, warmup=1, stream_frames=3))
    assert r.status == "ok" and r.backend_used == "xnnpack"
    meta = json.loads((tmp_path/"m.pte.meta.json").read_text())
    assert meta["sha256"] == sha256_file(tmp_path/"m.pte") and meta["pte_bytes"] == (tmp_path/"m.pte").stat().st_size
    assert meta["backend_requested"] == meta["backend_used"] == "xnnpack"
    assert [o["name"] for o in meta["outputs"]] == list(OUTPUT_NAMES)
    assert meta["prompt_set"]["prompts"] == ["red circle"] and (tmp_path/meta["prompt_set"]["embeddings"]).is_file()
    assert meta["versions"]["executorch"] and meta["delegation"]["delegated_ops"] > 0
    # independent parity check: run the file ourselves on an input it was not timed with
    outs = run_pte(tmp_path/"m.pte", (calib[1]["images"], calib[1]["text_embeddings"]))
    with torch.no_grad(): eager = model(**calib[1])
    for name, o in zip(OUTPUT_NAMES, outs):
        torch.testing.assert_close(o, eager[name], rtol=1e-4, atol=1e-4)
    assert r.parity_max_abs < 1e-4 and r.mask_iou == 1.0 and r.latency_ms > 0
    # the decoding an app applies is recorded, and decoding the .pte's outputs keeps what decoding eager keeps
    assert meta["postprocess"]["decode"] == {"score_thr": 0.5, "nms": "mask", "nms_iou": 0.5} and meta["parity"]["same_instances"] is True
    from sam3m4.decode import DecodeConfig, decode
    from sam3m4.export import pte_instances
    dec = DecodeConfig(score_thr=0.0)
    got = pte_instances(tmp_path/"m.pte", calib[1]["images"], calib[1]["text_embeddings"], dec)
    want = decode({k: eager[k][0] for k in OUTPUT_NAMES}, dec)
    assert torch.equal(got[0]["index"], want["index"]) and got[0]["candidates"] == want["candidates"]
    # every op outside a delegate is listed as a fallback, with a reason in the meta
    if meta["delegation"]["fallback_count"]:
        assert meta["fallback_reason"].startswith(f"{meta['delegation']['fallback_count']} ops run on portable kernels")


def test_xnnpack_int8_smaller_and_close(toy, tmp_path):
    model, calib = toy
    r32 = export_pte(model, calib[0], "xnnpack", tmp_path, name="f", cfg=ExportConfig(parity=False))
    r8 = export_pte(model, calib[0], "xnnpack", tmp_path, name="q", calib=calib,
                    cfg=ExportConfig(quant="int8", runs=2, warmup=1, stream_frames=2))
    assert r8.status == "ok" and r8.pte_mb < 0.7 * r32.pte_mb, (r8.pte_mb, r32.pte_mb)
    with torch.no_grad(): rng = float(model(**calib[0])["mask_logits"].abs().max())
    assert r8.parity_max_abs < 0.05 * rng   # .pte vs the quantized eager graph
    meta = json.loads((tmp_path/"q.pte.meta.json").read_text())
    assert "XNNPACKQuantizer" in meta["quantization"]["method"] and meta["quantization"]["max_abs_vs_fp32"] > 0


@pytest.mark.skipif(not NO_QNN, reason="a QNN SDK is installed here")
def test_qnn_without_sdk(toy, tmp_path):
    model, calib = toy
    with pytest.raises(BackendUnavailable, match="QNN_SDK_ROOT is unset"):
        export_pte(model, calib[0], "qnn", tmp_path, name="n")
    meta = json.loads((tmp_path/"n.pte.meta.json").read_text())
    assert meta["status"] == "unsupported" and meta["backend_used"] is None and "qualcomm" in meta["fallback_reason"].lower()
    assert meta["exported_graph_ops"] and not (tmp_path/"n.pte").exists()
    assert "QNN_SDK_ROOT" not in os.environ   # nothing set up (or downloaded) an SDK behind our back
    row = export_pte(model, calib[0], "qnn", tmp_path, name="n", strict=False).row()
    assert row["status"] == "unsupported" and row["pte_mb"] is None and "QNN_SDK_ROOT" in row["reason"]


@pytest.mark.slow
def test_coreml_lowers_here(toy, tmp_path):
    model, calib = toy
    r = export_pte(model, calib[0], "coreml", tmp_path, name="c")
    meta = json.loads((tmp_path/"c.pte.meta.json").read_text())
    assert r.status == "ok" and (tmp_path/"c.pte").stat().st_size > 0 and meta["backend_used"] == "coreml"
    assert meta["delegation"]["partitions"].get("CoreMLBackend", 0) >= 1
    if os.uname().sysname != "Darwin":
        assert r.parity_max_abs is None and "not run here" in r.reason and "runtime_error" in meta


def test_cli_errors(tmp_path, run_cli):
    p = run_cli("export", "--ckpt", tmp_path/"missing", "--backend", "xnnpack", "--json")
    assert p.returncode == 2 and "no such checkpoint" in json.loads(p.stdout)["error"]
    p = run_cli("export", "--backend", "xnnpack", "--json")
    assert p.returncode == 2 and "exactly one of" in json.loads(p.stdout)["error"]


def test_cli_tiny_student_xnnpack(tmp_path, run_cli):
    p = run_cli("export", "--student", "tiny", "--backend", "xnnpack", "--out", tmp_path, "--runs", "2", "--json", check=True)
    row = json.loads(p.stdout)["table"][0]
    assert row["status"] == "ok" and row["backend_used"] == "xnnpack" and row["parity_max_abs"] < 1e-4, row
    meta = json.loads(Path(json.loads(p.stdout)["meta"]).read_text())
    assert meta["source"] == "random-init student:tiny" and meta["inputs"][0]["shape"] == [1, 3, 64, 64]
    assert len(meta["prompt_set"]["prompts"]) == meta["prompt_set"]["shape"][0] == 4


@pytest.mark.skipif(not NO_QNN, reason="a QNN SDK is installed here")
def test_cli_qnn_missing_sdk(tmp_path, run_cli):
    p = run_cli("export", "--student", "tiny", "--backend", "qnn", "--out", tmp_path, "--json")
    assert p.returncode == 2 and "QNN_SDK_ROOT is unset" in json.loads(p.stdout)["error"]
    assert "QNN_SDK_ROOT" in p.stderr   # the human-readable message too
    meta = json.loads((tmp_path/"tiny_qnn_none.pte.meta.json").read_text())
    assert meta["status"] == "unsupported" and "qualcomm" in meta["fallback_reason"].lower()


class DataDependent(StandIn):
    "torch.export cannot trace a Python branch on a tensor's value: the export must fail, and say so."
    def forward(self, images, student_ids=None, text_embeddings=None):
        out = super().forward(images, text_embeddings=text_embeddings)
        if float(images.mean()) > 0.5: out["presence_logit"] = out["presence_logit"] + 1
        return out


def test_failed_lowering_is_recorded(toy, tmp_path):
    _, calib = toy
    with pytest.raises(Sam3m4Error, match="lowering to xnnpack failed"):
        export_pte(DataDependent().eval(), calib[0], "xnnpack", tmp_path, name="bad")
    meta = json.loads((tmp_path/"bad.pte.meta.json").read_text())
    assert meta["status"] == "failed" and meta["error"] and not (tmp_path/"bad.pte").exists()
    assert export_pte(DataDependent().eval(), calib[0], "xnnpack", tmp_path, name="bad", strict=False).row()["status"] == "failed"


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SAM3M4_HEAVY"), reason="~15 min on a 2-core CPU; set SAM3M4_HEAVY=1 to run it")
def test_mobile_int8_size_budget(tmp_path):
    "The mobile image path (1008 px, random init) as an int8 XNNPACK .pte: <= 50 MB is the floor, <= 20 MB the aim."
    from sam3m4.export import export_student
    doc = export_student(student="mobile", backend="xnnpack", quant="int8", out=tmp_path, parity=False)
    row = doc["table"][0]
    assert row["status"] == "ok" and row["backend_used"] == "xnnpack", row
    assert row["pte_mb"] <= 20, row   # measured 13.4 MB (fp32: 56.5 MB)
