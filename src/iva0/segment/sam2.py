"""Segment Anything 2 box prompts through transformers' `Sam2Model`, read offline.

The model folder is a transformers SAM 2 folder (config.json and
model.safetensors, e.g. facebook/sam2.1-hiera-tiny in its "-hf" layout) or a
repo id already in the local Hugging Face cache. Only safetensors weights are
read and nothing is downloaded.

transformers' `Sam2Processor` needs torchvision, which iva0 does not install,
so the few steps it does are done here with OpenCV, as it does them: resize
the picture to the model's square input (no padding), normalise with the
ImageNet mean/std (or preprocessor_config.json's), boxes scaled to that
square; the low-resolution mask logits are resized back to the picture and
turned into a soft alpha by a sigmoid. One image encoding serves all boxes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from iva0.errors import ModelError
from iva0.segment.base import box_to_int

CONFIG_DIR = Path(__file__).resolve().parent.parent / "data" / "model_configs" / "facebook__sam2.1-hiera-tiny"
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def _locate(model: str | os.PathLike) -> Path:
    """The local folder of `model`: the folder itself, or its snapshot in the HF cache (offline)."""
    p = Path(model).expanduser()
    if p.is_dir():
        return p
    if p.exists():
        raise ModelError(f"sam2 model: {p} is a file; give the model folder (config.json + model.safetensors)")
    if str(model).count("/") == 1 and not str(model).startswith((".", "/")):
        try:
            from huggingface_hub import snapshot_download

            return Path(snapshot_download(str(model), local_files_only=True))
        except Exception:  # noqa: BLE001 - any miss in the cache is the same user mistake
            pass
    raise ModelError(f"sam2 model: {model} is neither a folder nor a repo id in the local Hugging Face cache")


class Sam2Segmenter:
    name = "sam2"

    def __init__(self, model, mean=IMAGENET_MEAN, std=IMAGENET_STD, device: str = "cpu") -> None:
        self.model = model.eval()
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.device = device
        self.side = int(model.config.prompt_encoder_config.image_size)

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike, device: str = "cpu") -> "Sam2Segmenter":
        folder = _locate(model)
        if not (folder / "config.json").is_file():
            raise ModelError(f"sam2 model: {folder} has no config.json (not a transformers SAM 2 folder)")
        if not any(folder.glob("*.safetensors")):
            raise ModelError(f"sam2 model: {folder} has no .safetensors weights (only safetensors are read)")
        try:
            cfg = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ModelError(f"sam2 model: cannot read {folder / 'config.json'}: {e}") from None
        if cfg.get("model_type") != "sam2":
            raise ModelError(f"sam2 model: {folder} holds a {cfg.get('model_type')!r} model, not 'sam2'")
        mean, std = IMAGENET_MEAN, IMAGENET_STD
        pre = folder / "preprocessor_config.json"
        if pre.is_file():
            try:
                pc = json.loads(pre.read_text(encoding="utf-8"))
                pc = pc.get("image_processor", pc)
                mean, std = pc.get("image_mean", mean), pc.get("image_std", std)
            except (OSError, ValueError) as e:
                raise ModelError(f"sam2 model: cannot read {pre}: {e}") from None
        from transformers import Sam2Model

        try:
            net = Sam2Model.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except Exception as e:  # noqa: BLE001 - a broken folder is the user's to fix: one line, not a traceback
            raise ModelError(f"sam2 model: cannot load {folder}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        return cls(net.to(device), mean, std, device)

    def _pixels(self, image: np.ndarray):
        import torch

        x = cv2.resize(image, (self.side, self.side), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        x = (x - self.mean) / self.std
        return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(self.device)  # (1, 3, S, S)

    def segment(self, image: np.ndarray, box_px: np.ndarray, points: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        return self.segment_many(image, np.asarray(box_px, np.float64)[None], [points], seed=seed)[0]

    def segment_many(self, image: np.ndarray, boxes_px: np.ndarray, points=None, seed: int = 0) -> list[np.ndarray]:
        """Alphas (H, W) of every box (J, 4); the picture is encoded once. Points are not used yet."""
        import torch

        H, W = image.shape[:2]
        clipped = np.array([box_to_int(b, W, H) for b in boxes_px], np.float32)  # (J, 4)
        scale = np.array([self.side / W, self.side / H] * 2, np.float32)
        boxes = torch.from_numpy(clipped * scale)[None].to(self.device)  # (1, J, 4) in the model's frame
        with torch.inference_mode():
            out = self.model(pixel_values=self._pixels(image), input_boxes=boxes, multimask_output=False)
        logits = out.pred_masks[0, :, 0].float().cpu().numpy()  # (J, h, w)
        alphas = []
        for j, lg in enumerate(logits):
            a = 1.0 / (1.0 + np.exp(-cv2.resize(lg, (W, H), interpolation=cv2.INTER_LINEAR)))
            x0, y0, x1, y1 = (int(v) for v in clipped[j])
            inside = np.zeros((H, W), np.float32)
            inside[y0:y1, x0:x1] = 1.0
            alphas.append((a * inside).astype(np.float32))  # never outside the box, as every cut-out
        return alphas


def sam2_config(tiny: bool = False):
    """The shipped sam2.1-hiera-tiny config (see CONFIG_DIR/README.md); `tiny`: every width and depth shrunk for tests."""
    from transformers import Sam2Config

    cfg = json.loads((CONFIG_DIR / "config.json").read_text(encoding="utf-8"))
    if tiny:
        v, b = cfg["vision_config"], cfg["vision_config"]["backbone_config"]
        b.update(hidden_size=8, embed_dim_per_stage=[8, 16, 32, 64], num_attention_heads_per_stage=[1, 1, 1, 1],
                 blocks_per_stage=[1, 1, 2, 1], global_attention_blocks=[3], image_size=[256, 256],
                 window_positional_embedding_background_size=[2, 2])
        v.update(backbone_channel_list=[64, 32, 16, 8], fpn_hidden_size=32, backbone_feature_sizes=[[64, 64], [32, 32], [16, 16]])
        cfg["prompt_encoder_config"].update(hidden_size=32, image_size=256)
        cfg["mask_decoder_config"].update(hidden_size=32, mlp_dim=64, num_attention_heads=2, iou_head_hidden_dim=32)
    return Sam2Config(**{k: v for k, v in cfg.items() if k not in ("transformers_version", "architectures")})


def write_random_sam2(folder: str | os.PathLike, tiny: bool = True, seed: int = 0) -> Path:
    """A SAM 2 folder in the real layout with random weights (config.json, model.safetensors, preprocessor_config.json)."""
    import torch
    from transformers import Sam2Model

    torch.manual_seed(seed)
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    Sam2Model(sam2_config(tiny)).save_pretrained(out, safe_serialization=True)
    (out / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "Sam2ImageProcessorFast", "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD),
        "size": {"height": 1024 if not tiny else 256, "width": 1024 if not tiny else 256},
        "mask_size": {"height": 256, "width": 256}, "do_resize": True, "do_normalize": True, "do_rescale": True,
        "rescale_factor": 1 / 255,
    }, indent=2) + "\n", encoding="utf-8")
    return out
