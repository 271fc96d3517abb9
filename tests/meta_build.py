"""Build Meta's SAM 3 (the `sam3` package from the registry) on CPU with random weights, optionally at reduced size.

Test-side helper of tests/test_sam3_parity.py (and, for the path to Meta's evaluator, tests/test_saco_meta.py): the project never imports `sam3`. Nothing here copies Meta's code; it
calls Meta's builders and module constructors and only overrides constructor arguments. Workarounds for a CPU-only
machine (Meta's package hard-codes CUDA in places), none of which edits Meta's files:
  - `PositionEmbeddingSine(precompute_resolution=1008)` / `TransformerDecoder(resolution=1008)` allocate on "cuda" in their
    constructors: built with None instead (the same tables are then computed lazily on the first forward);
  - the geometry encoder calls `pin_memory()` on every forward: an identity while Meta's forward runs, only without CUDA;
  - CLIP's `positional_embedding` / `text_projection` are `torch.empty` until a checkpoint fills them: filled with noise;
  - the wheel ships no BPE vocabulary: open_clip's identical copy is passed.
"""
from __future__ import annotations
import contextlib, copy, sys
from pathlib import Path

import pytest
import torch

META = Path(__file__).resolve().parents[1]/".venv"/"meta-sam3"
INSTALL = ".venv/bin/pip install --no-deps --target .venv/meta-sam3 sam3==0.1.4 einops==0.8.2 iopath==0.1.10 portalocker==4.4.2"


def use_meta_or_skip(what: str) -> None:
    "Put Meta's `sam3` (installed beside the project) on the path, or skip the calling test module saying how to install it."
    if not (META/"sam3").is_dir():
        pytest.skip(f"{META} is absent: Meta's sam3 ({what}) is not installed; run `{INSTALL}`", allow_module_level=True)
    if str(META) not in sys.path: sys.path.insert(0, str(META))

# reduced size: the released layout scaled down 4x spatially (1008 -> 252 px, ViT grid 72 -> 18, pretrain grid 24 -> 6
# tiled 3x, 3x3 windows of 6), ViT 32x1024 -> 4x64, CLIP 24x1024 -> 2x64. Everything after the backbones (FPN neck,
# geometry encoder, DETR encoder/decoder with 200 queries, scoring, mask head) keeps the released sizes.
SMALL = dict(image_size=252, pretrain_image_size=84, window_size=6, vit_dim=64, vit_depth=4, vit_heads=2,
             vit_global=(1, 3), text_width=64, text_heads=2, text_layers=2)
FULL = dict(image_size=1008, pretrain_image_size=336, window_size=24, vit_dim=1024, vit_depth=32, vit_heads=16,
            vit_global=(7, 15, 23, 31), text_width=1024, text_heads=16, text_layers=24)


def bpe_path() -> str:
    "Meta's wheel ships no `assets/` (its default BPE path does not exist); open_clip ships the same CLIP BPE file."
    import open_clip
    p = Path(open_clip.__file__).parent/"bpe_simple_vocab_16e6.txt.gz"
    if not p.is_file(): raise FileNotFoundError(f"{p}: CLIP BPE vocabulary not found (open_clip_torch installed?)")
    return str(p)


def _override(cls, **over):
    "A stand-in for `cls` whose constructor gets `over` on top of the builder's keyword arguments."
    def make(*a, **kw): return cls(*a, **{**kw, **over})
    return make


@contextlib.contextmanager
def meta_cpu_build(size: dict | None = None):
    """Patch Meta's builder namespace so `build_sam3_image_model` / `build_sam3_video_model` run on a CPU-only machine.

    - `PositionEmbeddingSine(precompute_resolution=1008)` fills a cache with `torch.zeros(..., device="cuda")` in its
      constructor: pass `precompute_resolution=None` (the same cache is then filled lazily on the first forward).
    - `TransformerDecoder(resolution=1008, stride=14)` precomputes box-RPB coordinates with `device="cuda"`: pass
      `resolution=None` (computed lazily from the feature size, same values).
    - `size` (e.g. SMALL): override the ViT and CLIP constructor sizes and the decoder's resolution.
    The `pin_memory()` in the geometry encoder's box path is a forward-time problem: see `no_pin_memory`.
    """
    import sam3.model_builder as mb
    saved = {n: getattr(mb, n) for n in ("PositionEmbeddingSine", "TransformerDecoder", "ViT", "VETextEncoder")}
    try:
        mb.PositionEmbeddingSine = _override(saved["PositionEmbeddingSine"], precompute_resolution=None)
        mb.TransformerDecoder = _override(saved["TransformerDecoder"], resolution=None)
        if size is not None:
            mb.ViT = _override(saved["ViT"], img_size=size["image_size"], pretrain_img_size=size["pretrain_image_size"],
                               embed_dim=size["vit_dim"], depth=size["vit_depth"], num_heads=size["vit_heads"],
                               window_size=size["window_size"], global_att_blocks=tuple(size["vit_global"]))
            mb.VETextEncoder = _override(saved["VETextEncoder"], width=size["text_width"], heads=size["text_heads"],
                                         layers=size["text_layers"])
        yield mb
    finally:
        for n, v in saved.items(): setattr(mb, n, v)


@contextlib.contextmanager
def no_pin_memory():
    "Meta's geometry encoder calls `scale.pin_memory()` on every forward (even with no boxes); without CUDA that raises."
    if torch.cuda.is_available(): yield; return
    orig = torch.Tensor.pin_memory
    torch.Tensor.pin_memory = lambda self, *a, **k: self
    try: yield
    finally: torch.Tensor.pin_memory = orig


def fill_uninitialised(model: torch.nn.Module, seed: int = 0) -> list[str]:
    "Meta's CLIP leaves `positional_embedding` and `text_projection` as `torch.empty` (a checkpoint fills them): fill them."
    g = torch.Generator().manual_seed(seed)
    done = []
    for name, p in model.named_parameters():
        if name.endswith(("encoder.positional_embedding", "encoder.text_projection")):
            with torch.no_grad(): p.copy_(torch.randn(p.shape, generator=g) * 0.02)
            done.append(name)
    return done


def perturb(model: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> int:
    """Add noise to every bias, every norm weight and every constant-valued parameter (zero-init heads, LayerScale, ...)
    so no swapped or dropped key can hide behind an identical default. Returns how many tensors were changed."""
    g = torch.Generator().manual_seed(seed)
    n = 0
    with torch.no_grad():
        for name, p in model.named_parameters():
            const = p.numel() > 1 and bool((p == p.flatten()[0]).all())
            if name.endswith("bias") or "norm" in name or "ln_" in name or const:
                p.add_(torch.randn(p.shape, generator=g) * scale); n += 1
    return n


def _build_random(builder: str, size: dict | None, seed: int, **kw):
    "Meta's `builder` (a name in sam3.model_builder) on CPU with random weights: CLIP filled, norms/biases perturbed, eval mode."
    torch.manual_seed(seed)
    with meta_cpu_build(size) as mb:
        model = getattr(mb, builder)(bpe_path=bpe_path(), device="cpu", checkpoint_path=None, load_from_HF=False, **kw)
    fill_uninitialised(model, seed)
    perturb(model, seed)
    return model.eval()


def build_meta_image(size: dict | None = SMALL, seed: int = 0):
    "Meta's image model (detector), random, on CPU."
    return _build_random("build_sam3_image_model", size, seed, eval_mode=True, enable_segmentation=True, enable_inst_interactivity=False)


def build_meta_video(size: dict | None = SMALL, seed: int = 0):
    "Meta's video model (detector + tracker: the full released sam3.pt layout), random, on CPU."
    return _build_random("build_sam3_video_model", size, seed)


def official_file(model, path, prefix: str = "detector.") -> Path:
    "Save `model`'s state dict in the official layout {'model': {prefix + key: tensor}} (torch.save, as sam3.pt is)."
    sd = {prefix + k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    torch.save({"model": sd}, path)
    return Path(path)


@torch.inference_mode()
def meta_forward(model, image_uint8_hwc, prompt: str, resolution: int) -> dict:
    "Meta's own text-prompt inference (its Sam3Processor: transforms, backbone, empty geometric prompt), raw outputs."
    from sam3.model.sam3_image_processor import Sam3Processor as MetaProcessor
    from PIL import Image
    proc = MetaProcessor(model, resolution=resolution, device="cpu", confidence_threshold=0.0)
    with no_pin_memory():
        state = proc.set_image(Image.fromarray(image_uint8_hwc))
        state["backbone_out"].update(model.backbone.forward_text([prompt], device="cpu"))
        out = model.forward_grounding(backbone_out=state["backbone_out"], find_input=proc.find_stage,
                                      geometric_prompt=model._get_dummy_prompt(), find_target=None)
    h, w = image_uint8_hwc.shape[:2]
    from sam3.model.box_ops import box_cxcywh_to_xyxy
    boxes = box_cxcywh_to_xyxy(out["pred_boxes"][0]) * torch.tensor([w, h, w, h], dtype=torch.float32)
    return {"presence_logit": out["presence_logit_dec"].reshape(()).float(), "query_logits": out["pred_logits"][0, :, 0].float(),
            "boxes_xyxy": boxes.float(), "mask_logits": out["pred_masks"][0].float(),
            "encoder_memory": out["encoder_hidden_states"].float()}



def hf_config(size: dict = SMALL, base=None, vit_eps: float | None = None):
    """The transformers `Sam3Config` matching `build_meta_image(size)`: `base` (the project's `sam3_config('full')`,
    so every non-size setting the project makes, e.g. the ViT eps, is under test) with the backbone sizes replaced.
    Without `base`: transformers' defaults (`vit_eps` may then set the ViT eps)."""
    from transformers import Sam3Config
    cfg = copy.deepcopy(base) if base is not None else Sam3Config()
    vit, text, g = cfg.vision_config.backbone_config, cfg.text_config, size["image_size"] // 14
    vit.hidden_size, vit.intermediate_size = size["vit_dim"], int(size["vit_dim"] * 4.625)
    vit.num_hidden_layers, vit.num_attention_heads = size["vit_depth"], size["vit_heads"]
    vit.image_size, vit.pretrain_image_size, vit.window_size = size["image_size"], size["pretrain_image_size"], size["window_size"]
    vit.global_attn_indexes = list(size["vit_global"])
    if vit_eps is not None: vit.layer_norm_eps = vit_eps
    cfg.vision_config.backbone_feature_sizes = [[4 * g, 4 * g], [2 * g, 2 * g], [g, g]]
    text.hidden_size, text.intermediate_size = size["text_width"], 4 * size["text_width"]
    text.num_hidden_layers, text.num_attention_heads = size["text_layers"], size["text_heads"]
    return cfg
