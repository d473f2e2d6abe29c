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

Points (x, y px, label 1 = object / 0 = background) go in with their object's
box, as `input_points` (1, J, N, 2) scaled to the square like the boxes and
`input_labels` (1, J, N). Sam2Processor pads objects with fewer points with
label -10 points, which still enter the mask decoder as (zero) tokens, so one
object's clicks would change another object's mask; objects are instead
prompted in groups of equal point counts (no padding), the image encoded once.

`dtype="bfloat16"` runs the model in bfloat16 (SAM 2's own predictor runs in
bfloat16 autocast): faster on a GPU and on recent CPUs; the logits come back
as float32.
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
DTYPES = ("float32", "bfloat16")


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

    def __init__(self, model, mean=IMAGENET_MEAN, std=IMAGENET_STD, device: str = "cpu", dtype: str = "float32") -> None:
        import torch

        if dtype not in DTYPES:
            raise ValueError(f"sam2 dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        self.dtype = getattr(torch, dtype)
        self.model = model.to(device=device, dtype=self.dtype).eval()
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.device = device
        self.side = int(model.config.prompt_encoder_config.image_size)

    @classmethod
    def from_pretrained(cls, model: str | os.PathLike, device: str = "cpu", dtype: str = "float32") -> "Sam2Segmenter":
        if dtype not in DTYPES:
            raise ValueError(f"sam2 dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
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

        from iva0.library_logs import quiet_libraries

        try:
            with quiet_libraries():  # no "Loading weights" bar of transformers' own among iva0's
                net = Sam2Model.from_pretrained(folder, local_files_only=True, use_safetensors=True)
        except Exception as e:  # noqa: BLE001 - a broken folder is the user's to fix: one line, not a traceback
            raise ModelError(f"sam2 model: cannot load {folder}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
        return cls(net, mean, std, device, dtype)

    def _pixels(self, image: np.ndarray):
        import torch

        x = cv2.resize(image, (self.side, self.side), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        x = (x - self.mean) / self.std
        x = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]  # (1, 3, S, S)
        return x.to(device=self.device, dtype=self.dtype)

    def segment(self, image: np.ndarray, box_px: np.ndarray, points: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
        return self.segment_many(image, np.asarray(box_px, np.float64)[None], [points], seed=seed)[0]

    def mask_logits(self, image: np.ndarray, boxes_px: np.ndarray, points=None) -> list[np.ndarray]:
        """The decoder's low-resolution mask logits (h, w) float32 of every box (J, 4) with its points (N, 3) or None.

        Boxes are clipped to the picture in whole pixels (`box_to_int`); boxes and
        points are scaled to the model's square as Sam2Processor scales them.
        """
        import torch

        H, W = image.shape[:2]
        J = len(boxes_px)
        points = list(points) if points is not None else [None] * J
        if len(points) != J:
            raise ValueError(f"sam2: {J} boxes but {len(points)} point sets")
        points = [None if p is None or len(p) == 0 else np.asarray(p, np.float32).reshape(-1, 3) for p in points]
        clipped = np.array([box_to_int(b, W, H) for b in boxes_px], np.float32)  # (J, 4)
        scale = np.array([self.side / W, self.side / H], np.float32)
        groups: dict[int, list[int]] = {}  # number of points -> objects: equal counts need no padding
        for j, p in enumerate(points):
            groups.setdefault(0 if p is None else len(p), []).append(j)
        logits: list[np.ndarray] = [None] * J  # type: ignore[list-item]
        embeddings = None
        with torch.inference_mode():
            for n, idx in sorted(groups.items()):
                prompt = {"input_boxes": torch.from_numpy(clipped[idx] * np.tile(scale, 2))[None].to(self.device)}  # (1, G, 4)
                if n:
                    pts = np.stack([points[j] for j in idx])  # (G, n, 3)
                    prompt["input_points"] = torch.from_numpy(pts[..., :2] * scale)[None].to(self.device)  # (1, G, n, 2)
                    prompt["input_labels"] = torch.from_numpy(pts[..., 2].astype(np.int64))[None].to(self.device)  # (1, G, n)
                image_in = {"pixel_values": self._pixels(image)} if embeddings is None else {"image_embeddings": embeddings}
                out = self.model(**image_in, **prompt, multimask_output=False)
                embeddings = out.image_embeddings  # the picture is encoded once, for the first group
                for j, lg in zip(idx, out.pred_masks[0, :, 0].float().cpu().numpy()):  # (G, h, w)
                    logits[j] = lg
        return logits

    def segment_many(self, image: np.ndarray, boxes_px: np.ndarray, points=None, seed: int = 0) -> list[np.ndarray]:
        """Alphas (H, W) of every box (J, 4), each with its points (N, 3) or None; the picture is encoded once."""
        H, W = image.shape[:2]
        alphas = []
        for b, lg in zip(boxes_px, self.mask_logits(image, boxes_px, points)):
            a = 1.0 / (1.0 + np.exp(-cv2.resize(lg, (W, H), interpolation=cv2.INTER_LINEAR)))
            x0, y0, x1, y1 = box_to_int(b, W, H)
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
