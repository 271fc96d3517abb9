"""The app bundle through its doors: `sam3m4 export --bundle` and `sam3m4 run` as an app developer calls them, the CoreML
bundle lowered here (it runs only on Apple), and the mobile bundle's size and delegation (SAM3M4_HEAVY)."""
import json, os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from sam3m4.bundle import BundleConfig, build_bundle
from sam3m4.evaluation import score_predictions
from sam3m4.grounded import eval_dataset
from sam3m4.tracker import make_video_student, synthetic_clip


def test_cli_bundle_then_run_an_image_and_frames(tmp_path, run_cli):
    b = tmp_path/"bundle"
    p = run_cli("export", "--bundle", "--student", "tiny", "--quant", "int8", "--max-objects", "2", "--out", str(b), "--json", check=True)
    doc = json.loads(p.stdout)
    assert doc["programs"]["image"]["forward"]["fallback_count"] == 0 and doc["programs"]["image"]["forward"]["partitions_total"] == 1
    assert sorted(doc["programs"]["tracker"]) == ["bytes", "commit", "init", "predict"] and doc["memory"] == "random init"
    manifest = json.loads((b/"manifest.json").read_text())
    assert manifest["programs"]["text_encoder"]["quantization"]["embedding_bits"] == 4 and manifest["image_size"] == 64
    assert [manifest["programs"][k]["quantization"]["linear_weight_bits"] for k in ("text_encoder", "image", "tracker")] == [4, 4, 8]
    tq = manifest["programs"]["tracker"]["quantization"]                      # the step is int8 too, its state fp32 at the boundary
    assert tq["quant"] == "int8" and tq["calibration"] and manifest["programs"]["tracker"]["methods"]["predict"]["delegation"]["fallback_count"] == 0
    assert all(t["dtype"] == "float32" for t in manifest["programs"]["tracker"]["methods"]["predict"]["inputs"])
    clip = synthetic_clip(T=3, S=80)
    (tmp_path/"frames").mkdir()
    for t in range(3):
        Image.fromarray((clip["frames"][t].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(tmp_path/"frames"/f"{t:03d}.jpg")
    # a prompt nobody trained on runs on its own ids; the image keeps its own size in the masks
    p = run_cli("run", "--bundle", str(b), "--prompt", "a zebra-striped teapot", str(tmp_path/"frames"/"000.jpg"),
                "--out", str(tmp_path/"o1"), "--json", check=True)
    r = json.loads(p.stdout)
    assert r["prompt"] == "a zebra-striped teapot" and np.load(tmp_path/"o1"/"000.masks.npz")["masks"].shape[1:] == (80, 80)
    p = run_cli("run", "--bundle", str(b), "--prompt", "object", str(tmp_path/"frames"), "--out", str(tmp_path/"o2"), "--json", check=True)
    r = json.loads(p.stdout)
    assert r["frames"] == 3 and r["fps_end_to_end"] > 0 and (tmp_path/"o2"/"002.overlay.png").is_file()
    p = run_cli("run", "--bundle", str(tmp_path), "--prompt", "x", str(tmp_path/"frames"), "--json")
    assert p.returncode == 2 and "no manifest" in json.loads(p.stdout)["error"]
    # SA-Co: every pair of a world-made file on the bundle, written as COCO results and scored as `eval --predictions` scores them
    run_cli("data", "make-world", tmp_path/"w", "--tiny", "--json", check=True)
    run_cli("data", "make-saco", tmp_path/"w", "--split", "all", "--json", check=True)
    saco = tmp_path/"w"/"saco_all.json"
    r = json.loads(run_cli("run", "--bundle", str(b), str(saco), "--predictions", str(tmp_path/"pred.json"), "--json", check=True).stdout)
    entries = json.loads((tmp_path/"pred.json").read_text())
    assert r["entries"] == len(entries) and r["pairs"] == r["scored_pairs"] > 0 and r["source"] == "bundle:bundle"
    again = score_predictions(entries, eval_dataset(saco, 64))
    assert {k: r[k] for k in again} == again
    p = run_cli("run", "--bundle", str(b), str(saco), "--json")
    assert p.returncode == 2 and "add --predictions FILE" in json.loads(p.stdout)["error"]


@pytest.mark.slow
def test_coreml_bundle_lowers_here_and_says_where_it_runs(tmp_path):
    from sam3m4.app import Bundle
    from sam3m4.core import ConfigError
    torch.manual_seed(0)
    doc = build_bundle(make_video_student("tiny"), tmp_path, BundleConfig(backend="coreml", quant="none", max_objects=2))
    for name, prog in doc["programs"].items():
        for method, spec in prog["methods"].items():
            d = spec["delegation"]
            assert (d["backend_used"], d["partitions_total"], d["fallback_count"]) == ("coreml", 1, 0), (name, method, d)
    b = Bundle(tmp_path)   # manifest, checksums and tokenizer are checked; the programs are not loaded off Apple
    with pytest.raises(ConfigError, match="CoreML"): b.run("image.forward")


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SAM3M4_HEAVY"), reason="mobile bundle at 512 px: set SAM3M4_HEAVY=1 (about 5 minutes)")
def test_mobile_int8_bundle_size_and_delegation(tmp_path):
    doc = build_bundle(make_video_student("mobile"), tmp_path, BundleConfig(quant="int8", image_size=512))
    print({k: p["bytes"] for k, p in doc["programs"].items()}, doc["bundle_bytes"])   # shown with -s, for the record
    assert doc["bundle_bytes"] <= 25e6, doc["bundle_bytes"] / 1e6                      # 25 MB, decimal: the stricter reading
    for name, prog in doc["programs"].items():
        for method, spec in prog["methods"].items():
            d = spec["delegation"]
            assert d["delegated_share"] >= 0.9 and d["partitions_total"] <= 8, (name, method, d)
