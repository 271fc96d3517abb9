"End-to-end tests of sam3m4.teacher: tiny SAM 3 teacher, annotation teacher, output contract, cache, CLI."
import json, re

import pytest
import torch

torch.set_num_threads(1)

from sam3m4.core import CheckpointError, DataError
from sam3m4.prompts import DualTokenizer
from sam3m4.grounded import build_datasets, GroundedDataset, load_records
from sam3m4.sam3_weights import sam3_config
from sam3m4.teacher import AnnotationTeacher, Sam3Teacher, TeacherConfig, check_output, eot_attention_mask
from sam3m4.teacher_cache import CachedTeacher, TeacherCache, build_teacher_cache, teacher_for, teacher_info


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def tok():
    return DualTokenizer()          # CLIP BPE built offline from open_clip's vocabulary file

@pytest.fixture(scope="module")
def world(tmp_path_factory):
    from sam3m4.world import make_world, TINY_WORLD
    d = tmp_path_factory.mktemp("world") / "w"
    make_world(d, TINY_WORLD, progress=False)
    return d

@pytest.fixture(scope="module")
def ds(world, tok):
    recs, prompts = load_records(world)
    return GroundedDataset(recs, prompts, tok, image_size=64, negative_ratio=0.3)      # every image: no split

@pytest.fixture(scope="module")
def tiny():
    return Sam3Teacher.random_init("tiny", TeacherConfig(top_q=6, min_score=0.0, features=True), seed=1)

def batch_of(ds, idx):
    from sam3m4.grounded import collate_samples
    return collate_samples([ds[i] for i in idx])


# ---------------------------------------------------------------- teachers and the contract
def test_tiny_sam3_forward_with_real_tokenizer(tiny, ds, tok):
    b = batch_of(ds, range(5))
    assert b["teacher_ids"][0, 0].item() == 49406            # <|startoftext|> from the real CLIP BPE
    outs = tiny(b)
    assert len(outs) == 5
    for o in outs:
        check_output(o)
        assert o["mask_logits"].shape == (6, 16, 16)        # top_q=6, 64 px // 4
        assert o["features"].shape == (32, 8, 8)            # FPN level 2 of the tiny model at 112 px
        assert o["source"] == "sam3:random-init(tiny,seed=1)"
        assert torch.all(o["scores"][:-1] >= o["scores"][1:])
    # prompts tokenised by the teacher itself give the same ids as the dataset's
    assert torch.equal(tiny.tokenize(b["prompt"]), b["teacher_ids"])

def test_min_score_filters_low_confidence(ds):
    t = Sam3Teacher.random_init("tiny", TeacherConfig(top_q=16, min_score=0.0), seed=1)
    b = batch_of(ds, range(3))
    full = t(b)
    final = full[0]["scores"] * full[0]["presence_logit"].sigmoid()      # SAM 3's own score: query x presence
    t.cfg.min_score = float(final.median())
    cut = t(b)
    assert 0 < len(cut[0]["scores"]) < len(full[0]["scores"])
    assert (cut[0]["scores"] * cut[0]["presence_logit"].sigmoid() >= t.cfg.min_score).all()

def test_annotation_teacher_contract(ds):
    b = batch_of(ds, range(len(ds)))
    outs = AnnotationTeacher()(b)
    assert any(p == 0 for p in b["presence"].tolist()), "the tiny world should hold a negative sample"
    for o, m, bx, p in zip(outs, b["masks"], b["boxes"], b["presence"]):
        check_output(o)
        assert o["source"] == "annotation-teacher(world)"
        assert o["mask_logits"].shape == (len(m), 16, 16)
        assert torch.equal(o["boxes"], bx) and torch.all(o["scores"] == 1)
        assert (o["presence_logit"] > 0) == (p > 0.5)
        if len(m):   # the 4x4-block majority of the exact mask
            want = torch.nn.functional.avg_pool2d(m.float()[:, None], 4)[:, 0] >= 0.5
            assert torch.equal(o["mask_logits"] > 0, want)

def test_check_output_rejects_bad_shapes():
    bad = {"mask_logits": torch.zeros(2, 4, 4), "boxes": torch.zeros(3, 4), "scores": torch.zeros(2),
           "presence_logit": torch.tensor(0.), "source": "x"}
    with pytest.raises(DataError, match=r"boxes must be \[2,4\]"): check_output(bad)

def test_attention_mask():
    ids = torch.tensor([[49406, 736, 49407, 49407]])
    assert eot_attention_mask(ids).tolist() == [[1, 1, 1, 0]]


# ---------------------------------------------------------------- loading from local files
def test_missing_path_is_clear_error(tmp_path):
    with pytest.raises(CheckpointError, match="SAM 3 not found.*sam3.pt.*never downloads"):
        Sam3Teacher.from_path(tmp_path / "nope")

def test_hf_folder_round_trip(tmp_path, tiny, ds, tok):
    from transformers import Sam3ImageProcessor, Sam3Processor
    tiny.model.save_pretrained(tmp_path / "sam3")
    Sam3Processor(image_processor=Sam3ImageProcessor(), tokenizer=tok.hf).save_pretrained(tmp_path / "sam3")
    t = Sam3Teacher.from_path(tmp_path / "sam3", tiny.cfg)
    assert t.processor is not None and t.load_report["missing"] == []
    assert t.source == f"sam3:{(tmp_path / 'sam3').resolve()}"
    b = batch_of(ds, range(3))
    for a, c in zip(tiny(b), t(b)):
        torch.testing.assert_close(a["mask_logits"], c["mask_logits"])
        torch.testing.assert_close(a["boxes"], c["boxes"])
    info = teacher_info(tmp_path / "sam3")
    assert info["kind"] == "sam3" and info["processor"] and info["missing"] == [] and info["loaded"] == len(tiny.model.state_dict())
    cpi = info["cache_per_image"]["512"]                               # tiny SAM 3: 16 queries, 32 x 8² features; masks at 512 / 4
    assert (cpi["masks"], cpi["features"], cpi["total"]) == (16 * 128 * 128 * 2, 32 * 8 * 8 * 2, sum(cpi[k] for k in ("masks", "features", "text", "rest")))
    # new weights in the same folder: the old cache is refused (the fingerprint covers the weight files)
    build_teacher_cache(t, ds, tmp_path / "c", progress=False)
    Sam3Teacher.random_init("tiny", seed=7).model.save_pretrained(tmp_path / "sam3")
    t2 = Sam3Teacher.from_path(tmp_path / "sam3", tiny.cfg)
    with pytest.raises(DataError, match="another dataset/teacher/options"):
        build_teacher_cache(t2, ds, tmp_path / "c", progress=False)

_INV = [  # transformers name -> official sam3.pt name (independent of the loader's table; written from the original modules)
    (r"^vision_encoder\.backbone\.embeddings\.position_embeddings$", "backbone.vision_backbone.trunk.pos_embed"),
    (r"^vision_encoder\.backbone\.embeddings\.patch_embeddings\.projection\.", "backbone.vision_backbone.trunk.patch_embed.proj."),
    (r"^vision_encoder\.backbone\.layer_norm\.", "backbone.vision_backbone.trunk.ln_pre."),
    (r"^vision_encoder\.backbone\.layers\.(\d+)\.layer_norm(\d)\.", r"backbone.vision_backbone.trunk.blocks.\1.norm\2."),
    (r"^vision_encoder\.backbone\.layers\.(\d+)\.attention\.o_proj\.", r"backbone.vision_backbone.trunk.blocks.\1.attn.proj."),
    (r"^vision_encoder\.backbone\.layers\.(\d+)\.attention\.([qkv])_proj\.", r"backbone.vision_backbone.trunk.blocks.\1.attn.qkv.\2."),
    (r"^vision_encoder\.backbone\.layers\.(\d+)\.mlp\.", r"backbone.vision_backbone.trunk.blocks.\1.mlp."),
    (r"^vision_encoder\.neck\.fpn_layers\.0\.scale_layers\.0\.", "backbone.vision_backbone.convs.0.dconv_2x2_0."),
    (r"^vision_encoder\.neck\.fpn_layers\.0\.scale_layers\.2\.", "backbone.vision_backbone.convs.0.dconv_2x2_1."),
    (r"^vision_encoder\.neck\.fpn_layers\.(\d+)\.scale_layers\.0\.", r"backbone.vision_backbone.convs.\1.dconv_2x2."),
    (r"^vision_encoder\.neck\.fpn_layers\.(\d+)\.proj1\.", r"backbone.vision_backbone.convs.\1.conv_1x1."),
    (r"^vision_encoder\.neck\.fpn_layers\.(\d+)\.proj2\.", r"backbone.vision_backbone.convs.\1.conv_3x3."),
    (r"^text_encoder\.text_model\.embeddings\.token_embedding\.", "backbone.language_backbone.encoder.token_embedding."),
    (r"^text_encoder\.text_model\.embeddings\.position_embedding\.weight$", "backbone.language_backbone.encoder.positional_embedding"),
    (r"^text_encoder\.text_model\.final_layer_norm\.", "backbone.language_backbone.encoder.ln_final."),
    (r"^text_encoder\.text_projection\.weight$", "backbone.language_backbone.encoder.text_projection"),
    (r"^text_encoder\.text_model\.encoder\.layers\.(\d+)\.self_attn\.([qkv])_proj\.", r"backbone.language_backbone.encoder.transformer.resblocks.\1.attn.in_proj.\2."),
    (r"^text_encoder\.text_model\.encoder\.layers\.(\d+)\.self_attn\.out_proj\.", r"backbone.language_backbone.encoder.transformer.resblocks.\1.attn.out_proj."),
    (r"^text_encoder\.text_model\.encoder\.layers\.(\d+)\.layer_norm(\d)\.", r"backbone.language_backbone.encoder.transformer.resblocks.\1.ln_\2."),
    (r"^text_encoder\.text_model\.encoder\.layers\.(\d+)\.mlp\.fc1\.", r"backbone.language_backbone.encoder.transformer.resblocks.\1.mlp.c_fc."),
    (r"^text_encoder\.text_model\.encoder\.layers\.(\d+)\.mlp\.fc2\.", r"backbone.language_backbone.encoder.transformer.resblocks.\1.mlp.c_proj."),
    (r"^text_projection\.", "backbone.language_backbone.resizer."),
    (r"^geometry_encoder\.layers\.(\d+)\.cross_attn\.", r"geometry_encoder.encode.\1.cross_attn_image."),
    (r"^geometry_encoder\.layers\.(\d+)\.mlp\.fc(\d)\.", r"geometry_encoder.encode.\1.linear\2."),
    (r"^geometry_encoder\.layers\.(\d+)\.layer_norm(\d)\.", r"geometry_encoder.encode.\1.norm\2."),
    (r"^geometry_encoder\.layers\.(\d+)\.", r"geometry_encoder.encode.\1."),
    (r"^geometry_encoder\.vision_layer_norm\.", "geometry_encoder.img_pre_norm."),
    (r"^geometry_encoder\.prompt_layer_norm\.", "geometry_encoder.norm."),
    (r"^geometry_encoder\.output_layer_norm\.", "geometry_encoder.encode_norm."),
    (r"^detr_encoder\.layers\.(\d+)\.cross_attn\.", r"transformer.encoder.layers.\1.cross_attn_image."),
    (r"^detr_encoder\.layers\.(\d+)\.mlp\.fc(\d)\.", r"transformer.encoder.layers.\1.linear\2."),
    (r"^detr_encoder\.layers\.(\d+)\.layer_norm(\d)\.", r"transformer.encoder.layers.\1.norm\2."),
    (r"^detr_encoder\.", "transformer.encoder."),
    (r"^detr_decoder\.presence_head\.layer(\d)\.", lambda m: f"transformer.decoder.presence_token_head.layers.{int(m[1]) - 1}."),
    (r"^detr_decoder\.presence_layer_norm\.", "transformer.decoder.presence_token_out_norm."),
    (r"^detr_decoder\.output_layer_norm\.", "transformer.decoder.norm."),
    (r"^detr_decoder\.box_head\.layer(\d)\.", lambda m: f"transformer.decoder.bbox_embed.layers.{int(m[1]) - 1}."),
    (r"^detr_decoder\.ref_point_head\.layer(\d)\.", lambda m: f"transformer.decoder.ref_point_head.layers.{int(m[1]) - 1}."),
    (r"^detr_decoder\.box_rpb_embed_(x|y)\.layer(\d)\.", lambda m: f"transformer.decoder.boxRPB_embed_{m[1]}.layers.{int(m[2]) - 1}."),
    (r"^detr_decoder\.layers\.(\d+)\.vision_cross_attn_layer_norm\.", r"transformer.decoder.layers.\1.norm1."),
    (r"^detr_decoder\.layers\.(\d+)\.text_cross_attn_layer_norm\.", r"transformer.decoder.layers.\1.catext_norm."),
    (r"^detr_decoder\.layers\.(\d+)\.self_attn_layer_norm\.", r"transformer.decoder.layers.\1.norm2."),
    (r"^detr_decoder\.layers\.(\d+)\.mlp_layer_norm\.", r"transformer.decoder.layers.\1.norm3."),
    (r"^detr_decoder\.layers\.(\d+)\.text_cross_attn\.", r"transformer.decoder.layers.\1.ca_text."),
    (r"^detr_decoder\.layers\.(\d+)\.vision_cross_attn\.", r"transformer.decoder.layers.\1.cross_attn."),
    (r"^detr_decoder\.layers\.(\d+)\.mlp\.fc(\d)\.", r"transformer.decoder.layers.\1.linear\2."),
    (r"^detr_decoder\.", "transformer.decoder."),
    (r"^dot_product_scoring\.text_mlp\.layer(\d)\.", lambda m: f"dot_prod_scoring.prompt_mlp.layers.{int(m[1]) - 1}."),
    (r"^dot_product_scoring\.text_mlp_out_norm\.", "dot_prod_scoring.prompt_mlp.out_norm."),
    (r"^dot_product_scoring\.text_proj\.", "dot_prod_scoring.prompt_proj."),
    (r"^dot_product_scoring\.query_proj\.", "dot_prod_scoring.hs_proj."),
    (r"^mask_decoder\.pixel_decoder\.", "segmentation_head.pixel_decoder."),
    (r"^mask_decoder\.mask_embedder\.layers\.", "segmentation_head.mask_predictor.mask_embed.layers."),
    (r"^mask_decoder\.instance_projection\.", "segmentation_head.instance_seg_head."),
    (r"^mask_decoder\.semantic_projection\.", "segmentation_head.semantic_seg_head."),
    (r"^mask_decoder\.prompt_cross_attn_norm\.", "segmentation_head.cross_attn_norm."),
    (r"^mask_decoder\.prompt_cross_attn\.", "segmentation_head.cross_attend_prompt."),
]

def to_official(sd: dict) -> dict:
    "A transformers Sam3Model state dict written the way the official sam3.pt stores it."
    out, fused = {}, {}
    for k, v in sd.items():
        if k.endswith("rope_embeddings"): continue
        n = k
        for pat, rep in _INV: n = re.sub(pat, rep, n)
        n = re.sub(r"\.o_proj\.", ".out_proj.", n)
        m = re.match(r"^(.*)\.(?:qkv|in_proj)\.([qkv])\.(weight|bias)$", n) or re.match(r"^(.*)\.([qkv])_proj\.(weight|bias)$", n)
        if m:
            fused.setdefault((m[1], m[3], ".qkv." in n), {})[m[2]] = v; continue
        if n.endswith("trunk.pos_embed"): v = torch.cat([torch.zeros_like(v[:, :1]), v], 1)   # + class-token row
        if n.endswith("encoder.text_projection"): v = v.T
        out["detector." + n] = v
    for (base, kind, vit), parts in fused.items():
        name = f"{base}.qkv.{kind}" if vit else f"{base}.in_proj_{kind}"
        out["detector." + name] = torch.cat([parts["q"], parts["k"], parts["v"]], 0)
    out["tracker.maskmem_tpos_enc"] = torch.zeros(3)     # the video tracker's weights are ignored, and counted
    return out

def test_official_checkpoint_round_trip(tmp_path, tiny, ds):
    sd = tiny.model.state_dict()
    off = to_official(sd)
    assert not any(".q_proj." in k or "detr_decoder" in k for k in off)   # really renamed
    torch.save(off, tmp_path / "sam3.pt")
    t = Sam3Teacher.from_path(tmp_path / "sam3.pt", tiny.cfg, config=sam3_config("tiny"))
    rep = t.load_report
    assert rep["missing"] == [] and rep["unexpected"] == [] and rep["shape_mismatch"] == []
    assert rep["loaded"] == rep["model_keys"] == len(sd)
    assert rep["ignored_tracker_keys"] == 1
    for k, v in t.model.state_dict().items():
        torch.testing.assert_close(v, sd[k], msg=k)
    b = batch_of(ds, range(2))
    for a, c in zip(tiny(b), t(b)): torch.testing.assert_close(a["mask_logits"], c["mask_logits"])

def test_official_checkpoint_wrong_keys_named(tmp_path, tiny):
    off = to_official(tiny.model.state_dict())
    off.pop("detector.transformer.decoder.presence_token.weight")
    off["detector.some_new_head.weight"] = torch.zeros(2)
    torch.save({"model": off}, tmp_path / "sam3.pt")
    with pytest.raises(CheckpointError) as e:
        Sam3Teacher.from_path(tmp_path / "sam3.pt", config=sam3_config("tiny"))
    msg = str(e.value)
    assert "1 missing" in msg and "detr_decoder.presence_token.weight" in msg
    assert "1 unexpected" in msg and "some_new_head.weight" in msg
    t = Sam3Teacher.from_path(tmp_path / "sam3.pt", config=sam3_config("tiny"), allow_partial=True)
    assert t.load_report["missing"] == ["detr_decoder.presence_token.weight"]

def test_official_checkpoint_not_weights_only(tmp_path):
    (tmp_path / "sam3.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="weights_only=True"):
        Sam3Teacher.from_path(tmp_path / "sam3.pt", config=sam3_config("tiny"))


# ---------------------------------------------------------------- cache
def test_cache_round_trip_equals_live(tmp_path, tiny, ds):
    r = build_teacher_cache(tiny, ds, tmp_path / "c", shard_size=7, batch_size=4, progress=False)
    assert r["complete"] and r["computed_items"] == len(ds) and r["n_shards"] == -(-len(ds) // 7)
    cache = TeacherCache(tmp_path / "c", dataset=ds, expect=r["fingerprint"])
    live = tiny(batch_of(ds, range(len(ds))))
    for i, lv in enumerate(live):
        c = check_output(cache[i])
        assert c["source"] == lv["source"]
        torch.testing.assert_close(c["mask_logits"], lv["mask_logits"], atol=1e-3 * (1 + lv["mask_logits"].abs().max().item()), rtol=1e-3)
        torch.testing.assert_close(c["features"], lv["features"], atol=1e-3 * (1 + lv["features"].abs().max().item()), rtol=1e-3)
        for k in ("boxes", "scores", "presence_logit"): torch.testing.assert_close(c[k], lv[k])
    assert cache.info()["bytes_per_image"] > cache.info()["bytes_per_item"]   # several prompts per image

def test_cache_reduced_mask_resolution(tmp_path, tiny, ds):
    build_teacher_cache(tiny, ds, tmp_path / "c", mask_size=8, progress=False)
    c = TeacherCache(tmp_path / "c")[3]
    lv = tiny(batch_of(ds, [3]))[0]["mask_logits"]
    want = torch.nn.functional.interpolate(lv[None], (8, 8), mode="bilinear", align_corners=False)[0]
    assert c["mask_logits"].shape[-1] == 8
    torch.testing.assert_close(c["mask_logits"], want, atol=1e-2, rtol=1e-3)

def test_annotation_cache_exact_and_cached_teacher_in_loader(tmp_path, ds):
    from sam3m4.grounded import make_loader
    at = AnnotationTeacher()
    r = build_teacher_cache(at, ds, tmp_path / "c", shard_size=5, progress=False)
    assert r["complete"]
    ct = CachedTeacher(tmp_path / "c", dataset=ds)
    assert ct.source == "annotation-teacher(world)"
    for b in make_loader(ds, batch_size=4, shuffle=True, seed=3):      # the trainer's path: shuffled batches
        for c, lv in zip(ct(b), at(b)):
            for k in ("mask_logits", "boxes", "scores", "presence_logit"): assert torch.equal(c[k], lv[k]), k

class Interrupting:
    "Wraps a teacher; raises KeyboardInterrupt on call number `at` (a kill mid-build), counts calls."
    def __init__(self, inner, at=None): self.inner, self.at, self.calls = inner, at, 0
    source = property(lambda s: s.inner.source)
    binary_masks = property(lambda s: getattr(s.inner, "binary_masks", False))
    def fingerprint(self): return self.inner.fingerprint()
    def __call__(self, batch):
        self.calls += 1
        if self.at is not None and self.calls == self.at: raise KeyboardInterrupt("simulated kill")
        return self.inner(batch)

def test_resume_after_interruption(tmp_path, tiny, ds):
    n = len(ds); shard, bs = 4, 2
    first = Interrupting(tiny, at=6)              # dies in the 2nd batch of shard 2: shards 0 and 1 are done
    with pytest.raises(KeyboardInterrupt): build_teacher_cache(first, ds, tmp_path / "c", shard_size=shard, batch_size=bs, progress=False)
    idx = json.loads((tmp_path / "c" / "index.json").read_text())
    assert idx["complete"] is False and sorted(idx["shards"]) == ["shard_00000.safetensors", "shard_00001.safetensors"]
    assert not list((tmp_path / "c").glob(".*tmp"))                     # no half-written file left behind
    with pytest.raises(DataError, match="incomplete teacher cache"): TeacherCache(tmp_path / "c")
    second = Interrupting(tiny)
    r = build_teacher_cache(second, ds, tmp_path / "c", shard_size=shard, batch_size=bs, progress=False)
    assert r["complete"] and r["reused_shards"] == 2 and r["computed_items"] == n - 2 * shard
    n_shards = -(-n // shard)
    assert second.calls == sum(-(-(min(n, (s + 1) * shard) - s * shard) // bs) for s in range(2, n_shards))
    # a corrupted finished shard is detected by its checksum and recomputed
    p = tmp_path / "c" / "shard_00001.safetensors"; raw = p.read_bytes(); p.write_bytes(raw[:-8] + bytes(x ^ 0xFF for x in raw[-8:]))
    r = build_teacher_cache(Interrupting(tiny), ds, tmp_path / "c", shard_size=shard, batch_size=bs, progress=False)
    assert r["computed_items"] == shard and r["reused_shards"] == n_shards - 1
    fresh = build_teacher_cache(tiny, ds, tmp_path / "fresh", shard_size=shard, batch_size=bs, progress=False)
    assert fresh["fingerprint"] == r["fingerprint"]
    a, b = TeacherCache(tmp_path / "c"), TeacherCache(tmp_path / "fresh")
    for i in range(n): assert torch.equal(a[i]["mask_logits"], b[i]["mask_logits"])

def test_fingerprint_refusal(tmp_path, tiny, ds, world, tok):
    build_teacher_cache(AnnotationTeacher(), ds, tmp_path / "c", progress=False)
    with pytest.raises(DataError, match="another dataset/teacher/options"):
        build_teacher_cache(tiny, ds, tmp_path / "c", progress=False)        # other teacher, same folder
    other = build_datasets(world, 64, tokenizer=tok)[0]
    with pytest.raises(DataError, match="built for another dataset"):
        TeacherCache(tmp_path / "c", dataset=other)
    with pytest.raises(DataError, match="does not match the expected"):
        TeacherCache(tmp_path / "c", expect="f" * 64)
    r = build_teacher_cache(tiny, ds, tmp_path / "c", overwrite=True, progress=False)
    assert TeacherCache(tmp_path / "c").source == tiny.source and r["computed_items"] == len(ds)

def test_not_a_cache(tmp_path):
    with pytest.raises(DataError, match="no index.json"): TeacherCache(tmp_path)


# ---------------------------------------------------------------- CLI
def test_cli_cache_and_info(run_cli, world, tmp_path, tok):
    p = run_cli("teacher", "cache", "--data", world, "--out", tmp_path / "c", "--image-size", "64",
                "--shard-size", "8", "--json", check=True)
    r = json.loads(p.stdout)
    assert r["complete"] and r["source"] == "annotation-teacher(world)" and r["bytes_per_image"] > r["bytes_per_item"] > 0
    assert set(r["splits"]) == {"train", "val"}
    # the trainer's own datasets accept these caches (same fingerprint), and its teacher_for picks them up
    tr, va = build_datasets(world, 64, tokenizer=tok)
    for name, ds in (("train", tr), ("val", va)):
        t = teacher_for(tmp_path / "c", ds, name)
        assert isinstance(t, CachedTeacher) and len(t.cache) == len(ds) == r["splits"][name]["n_items"]
    p = run_cli("teacher", "info", tmp_path / "c" / "train", "--json", check=True)
    info = json.loads(p.stdout)
    assert info["kind"] == "teacher-cache" and info["n_items"] == len(tr) and info["complete"]
    both = json.loads(run_cli("teacher", "info", tmp_path / "c", "--json", check=True).stdout)
    assert both["splits"]["val"]["n_items"] == len(va)
    p = run_cli("teacher", "info", tmp_path / "missing_sam3", "--json")
    assert p.returncode == 2 and "SAM 3 not found" in json.loads(p.stdout)["error"]
