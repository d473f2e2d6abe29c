"""A local Depth Anything V2 model (transformers' `DepthAnythingForDepthEstimation`), read offline, safetensors only.

The folder is transformers' own layout (config.json of `model_type` "depth_anything", model.safetensors,
optionally preprocessor_config.json), e.g. a download of depth-anything/Depth-Anything-V2-Small-hf, or a repo id
already in the Hugging Face cache (never downloaded). It is checked by the rules every iva0 loader applies
(iva0.backends.diffusion.checks): the config read within a size and nesting limit, the declared class the one
iva0 loads it as (never a name that points at other code), every safetensors header checked against its file,
pickles refused; then loaded with the libraries' own output silenced (iva0.library_logs).

The model's output is relative inverse depth (disparity): larger = nearer, as iva0's depth maps
(iva0.depth). The preprocessing is Depth Anything's own, done with OpenCV: the picture scaled (bicubic) so that
both sides are at least the model's size (518) and multiples of its patch (14), keeping the aspect ratio,
normalised with the ImageNet mean/std (or preprocessor_config.json's); the prediction is scaled back to the
picture (bilinear) and normalised to [0, 1].
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from iva0.errors import ModelError, one_line

ROLE = "depth model"
MODEL_TYPE = "depth_anything"
MODEL_CLASS = "DepthAnythingForDepthEstimation"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
DEFAULT_SIZE, PATCH = 518, 14
PICKLES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")


def check_depth_model(source: str | os.PathLike) -> tuple[Path, dict]:
    """(the folder, its preprocessing) once `source` passes every check that needs no weights; else one ModelError."""
    from iva0.backends.diffusion.checks import count_parameters, read_json_file
    from iva0.backends.diffusion.hub import resolve_source

    folder = resolve_source(source, f"--depth-model {ROLE}")
    if not folder.is_dir():
        raise ModelError(f"{ROLE} {folder}: a file; give the model folder (config.json + model.safetensors)")
    config = folder / "config.json"
    if not config.is_file():
        raise ModelError(f"{ROLE} {folder}: no config.json (not a transformers Depth Anything folder)")
    try:
        cfg = read_json_file(config)
        if not isinstance(cfg, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise ModelError(f"{ROLE} {folder}: broken config ({config}: {one_line(e)})") from None
    if cfg.get("model_type") != MODEL_TYPE:
        raise ModelError(f"{ROLE} {folder}: holds a {json.dumps(str(cfg.get('model_type'))[:80])} model, not "
                         f"{MODEL_TYPE!r} (Depth Anything V2)")
    archs = cfg.get("architectures")
    if archs is not None and archs != [MODEL_CLASS]:
        raise ModelError(f"{ROLE} {folder}: declares class {json.dumps(str(archs)[:80])}; iva0 loads it as {MODEL_CLASS}")
    weights = sorted(folder.glob("*.safetensors"))
    if not weights:
        pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLES)
        raise ModelError(f"{ROLE} {folder}: " + (f"only pickle weights ({pickles[0]}); iva0 loads .safetensors only"
                                                  if pickles else "no .safetensors weights"))
    try:  # the headers against their files, as every loader does
        count_parameters(weights)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ModelError(f"{ROLE} {folder}: broken weights ({weights[0].name}: {one_line(e)})") from None
    pre = {"size": DEFAULT_SIZE, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}
    pre_file = folder / "preprocessor_config.json"
    if pre_file.is_file():
        try:
            pc = read_json_file(pre_file)
            size = pc.get("size", {})
            side = size.get("height", DEFAULT_SIZE) if isinstance(size, dict) else size
            pre = {"size": int(side), "mean": tuple(map(float, pc.get("image_mean", IMAGENET_MEAN))),
                   "std": tuple(map(float, pc.get("image_std", IMAGENET_STD)))}
            if not (PATCH <= pre["size"] <= 4096 and len(pre["mean"]) == 3 and len(pre["std"]) == 3):
                raise ValueError("size or mean/std out of range")
        except (OSError, ValueError, TypeError, AttributeError, UnicodeDecodeError) as e:
            raise ModelError(f"{ROLE} {folder}: broken preprocessor_config.json ({one_line(e)})") from None
    return folder, pre


class DepthModel:
    """A loaded Depth Anything model: `estimate(image)` -> (H, W) float32 in [0, 1], larger = nearer."""

    def __init__(self, net, size: int = DEFAULT_SIZE, mean=IMAGENET_MEAN, std=IMAGENET_STD, device: str = "cpu") -> None:
        self.net = net.to(device).eval()
        self.size, self.device = int(size), device
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)

    @classmethod
    def load(cls, source: str | os.PathLike, device: str = "cpu") -> "DepthModel":
        folder, pre = check_depth_model(source)
        from transformers import DepthAnythingForDepthEstimation

        from iva0.library_logs import quiet_libraries

        try:
            with quiet_libraries():  # no "Loading weights" bar of transformers' own among iva0's
                net = DepthAnythingForDepthEstimation.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except Exception as e:  # noqa: BLE001 - a broken folder is the user's to fix: one line, not a traceback
            raise ModelError(f"{ROLE} {folder}: cannot load: {one_line(e) if str(e) else type(e).__name__}") from None
        return cls(net, pre["size"], pre["mean"], pre["std"], device)

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """Depth Anything's input size: both sides at least `size`, multiples of the patch, the aspect kept."""
        s = max(self.size / width, self.size / height)
        return (max(PATCH, int(round(width * s / PATCH)) * PATCH), max(PATCH, int(round(height * s / PATCH)) * PATCH))

    def estimate(self, image: np.ndarray) -> np.ndarray:
        import torch

        from iva0.depth import normalise

        H, W = image.shape[:2]
        w, h = self.input_size(W, H)
        x = cv2.resize(image, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32) / 255.0
        x = (x - self.mean) / self.std
        pixels = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)  # (1, 3, h, w)
        with torch.inference_mode():
            pred = self.net(pixel_values=pixels).predicted_depth[0].float().cpu().numpy()  # (h', w')
        return normalise(cv2.resize(pred, (W, H), interpolation=cv2.INTER_LINEAR))


def tiny_config():
    """A Depth Anything V2 config with a tiny DINOv2 backbone (random weights for tests): the real architecture,
    every width and depth shrunk."""
    from transformers import DepthAnythingConfig, Dinov2Config

    backbone = Dinov2Config(hidden_size=16, num_hidden_layers=4, num_attention_heads=2, mlp_ratio=2, image_size=56,
                            patch_size=PATCH, out_indices=[1, 2, 3, 4], reshape_hidden_states=False,
                            apply_layernorm=True)
    return DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=16, patch_size=PATCH,
                               neck_hidden_sizes=[8, 8, 16, 16], fusion_hidden_size=8, head_hidden_size=8,
                               depth_estimation_type="relative", architectures=[MODEL_CLASS])


def write_random_depth_model(folder: str | os.PathLike, seed: int = 0, size: int = 56) -> Path:
    """A Depth Anything folder in the real on-disk layout with random weights (config.json, model.safetensors,
    preprocessor_config.json); refuses an existing folder (nothing is replaced)."""
    import torch
    from transformers import DepthAnythingForDepthEstimation

    from iva0.io.atomic import atomic_path
    from iva0.library_logs import quiet_libraries

    out = Path(folder)
    if out.exists():
        raise ModelError(f"{out} already exists; choose a new folder")
    torch.manual_seed(seed)
    with atomic_path(out, directory=True) as tmp:
        tmp = Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        with quiet_libraries():
            DepthAnythingForDepthEstimation(tiny_config()).save_pretrained(tmp, safe_serialization=True)
        (tmp / "preprocessor_config.json").write_text(json.dumps({
            "image_processor_type": "DPTImageProcessor", "do_resize": True, "size": {"height": size, "width": size},
            "keep_aspect_ratio": True, "ensure_multiple_of": PATCH, "resample": 3, "do_rescale": True,
            "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": list(IMAGENET_MEAN),
            "image_std": list(IMAGENET_STD), "do_pad": False}, indent=2) + "\n", encoding="utf-8")
    return out


__all__ = ["DepthModel", "check_depth_model", "tiny_config", "write_random_depth_model"]
