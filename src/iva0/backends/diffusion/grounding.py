"""Grounding tokens per frame and scheduled grounding (DESIGN.md steps 1 and 6).

GLIGEN text-image grounding: each object j is one phrase token and one image
token, both tagged with its box. For a video the frames are batched (b f), so
frame f gets b_j(f): the same phrase and image embedding, its own box. The
unconditional half of classifier-free guidance gets no grounding (every
object masked out, i.e. GLIGEN's learnt null tokens).

`UNetMotionModel.forward` does not run `position_net` (UNet2DConditionModel
does), so `gligen_objs` runs it on the (b f) batch and the pipeline passes
`cross_attention_kwargs={"gligen": {"objs": objs}}`; each spatial transformer
block feeds them to its gated self-attention "fuser".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

# GLIGEN scales the projected image embedding to the typical norm of a CLIP text pooler output
GLIGEN_NORMALIZE_CONSTANT = 28.7
# GLIGEN was trained with 30 grounding tokens per modality, unused ones masked (its learnt
# null tokens), and diffusers' GLIGEN pipelines always pass 30: the fusers attend over all of
# them, so fewer tokens change the output (by ~1 % of eps on random weights)
MAX_OBJECTS = 30
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


@dataclass
class GroundingTokens:
    """Everything position_net needs, per frame: boxes (F, J, 4), masks (F, J), embeddings (J, D)."""

    boxes: torch.Tensor  # (F, J, 4) normalised xyxy, clipped to the frame
    masks: torch.Tensor  # (F, J) 1 where object j has area inside frame f
    phrase_embeds: torch.Tensor  # (J, D) CLIP text pooler output of each name
    image_embeds: torch.Tensor  # (J, D) projected CLIP image embedding of each frame-0 crop

    @property
    def num_frames(self) -> int:
        return self.boxes.shape[0]


def frame_boxes(boxes: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Layout boxes (J, F, 4) -> per-frame GLIGEN boxes (F, J, 4) clipped to [0, 1] and masks (F, J).

    An object entirely outside the frame is masked out (GLIGEN's null token), not squeezed to a line.
    """
    b = np.clip(np.asarray(boxes, dtype=np.float64), 0.0, 1.0).transpose(1, 0, 2)  # (F, J, 4)
    area = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # (F, J)
    return torch.from_numpy(b).float(), torch.from_numpy(area > 1e-6).float()


def object_crops(image: np.ndarray, boxes0: np.ndarray, size: int) -> np.ndarray:
    """Square crops around each object's frame-0 box, resized to size x size: (J, size, size, 3) uint8.

    The square keeps the object's aspect ratio (CLIP saw square, undistorted
    images); it is shifted to stay inside the picture where it can.
    """
    H, W = image.shape[:2]
    out = []
    for x0, y0, x1, y1 in np.asarray(boxes0, dtype=np.float64):
        bx0, by0, bx1, by1 = max(x0, 0) * W, max(y0, 0) * H, min(x1, 1) * W, min(y1, 1) * H
        side = max(bx1 - bx0, by1 - by0, 2.0)
        side = min(side, max(W, H))
        cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
        left = int(round(min(max(cx - side / 2, 0), max(W - side, 0))))
        top = int(round(min(max(cy - side / 2, 0), max(H - side, 0))))
        s = int(round(side))
        crop = image[top : top + s, left : left + s]
        out.append(cv2.resize(crop, (size, size), interpolation=cv2.INTER_CUBIC))
    return np.stack(out)


def clip_pixel_values(crops: np.ndarray) -> torch.Tensor:
    """(J, S, S, 3) uint8 -> CLIP-normalised (J, 3, S, S) float32."""
    x = torch.from_numpy(crops).float().div(255.0).permute(0, 3, 1, 2)  # (J, 3, S, S)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


@torch.no_grad()
def encode_phrases(tokenizer, text_encoder, phrases: list[str], device, dtype) -> torch.Tensor:
    """CLIP text pooler output per phrase (J, D), as GLIGEN uses for its text tokens."""
    ids = tokenizer(
        phrases, padding="max_length", max_length=tokenizer.model_max_length, truncation=True, return_tensors="pt"
    ).input_ids.to(device)
    return text_encoder(ids).pooler_output.to(dtype)


@torch.no_grad()
def encode_object_images(image_encoder, image_project, image: np.ndarray, boxes0: np.ndarray, device, dtype) -> torch.Tensor:
    """Projected, GLIGEN-normalised CLIP image embedding of each object's frame-0 crop, (J, D)."""
    size = image_encoder.config.image_size
    pixels = clip_pixel_values(object_crops(image, boxes0, size)).to(device=device, dtype=image_encoder.dtype)
    emb = image_project(image_encoder(pixel_values=pixels).image_embeds.to(image_project.dtype))  # (J, D)
    emb = emb / emb.norm(dim=-1, keepdim=True) * GLIGEN_NORMALIZE_CONSTANT
    return emb.to(dtype)


def gligen_objs(position_net, tokens: GroundingTokens, *, uncond: bool, cond: bool = True) -> torch.Tensor:
    """Grounding tokens for a (b f) batch: [uncond frames][cond frames] -> (B*F, 2 * MAX_OBJECTS, D).

    The J objects are padded to GLIGEN's 30 slots with masked (null) tokens, as
    diffusers' `StableDiffusionGLIGENTextImagePipeline` does: 30 text tokens, then
    30 image tokens. The unconditional entries have every object masked (no
    grounding); each conditional frame f carries boxes b_j(f).
    """
    p = next(position_net.parameters())
    F_, J = tokens.masks.shape
    if J > MAX_OBJECTS:
        raise ValueError(f"GLIGEN grounds at most {MAX_OBJECTS} objects, got {J}")
    pad = MAX_OBJECTS - J
    boxes = torch.nn.functional.pad(tokens.boxes.to(p.device, p.dtype), (0, 0, 0, pad))  # (F, 30, 4)
    phrases = torch.nn.functional.pad(tokens.phrase_embeds.to(p.device, p.dtype), (0, 0, 0, pad))  # (30, D)
    images = torch.nn.functional.pad(tokens.image_embeds.to(p.device, p.dtype), (0, 0, 0, pad))  # (30, D)
    phrases = phrases[None].expand(F_, MAX_OBJECTS, -1)  # (F, 30, D)
    images = images[None].expand(F_, MAX_OBJECTS, -1)  # (F, 30, D)
    on = torch.nn.functional.pad(tokens.masks.to(p.device, p.dtype), (0, pad))  # (F, 30): padding is masked
    parts = []
    if uncond:
        parts.append(torch.zeros_like(on))
    if cond:
        parts.append(on)
    masks = torch.cat(parts)  # (B*F, 30)
    reps = len(parts)
    return position_net(
        boxes=boxes.repeat(reps, 1, 1),  # (B*F, 30, 4)
        masks=masks,
        phrases_masks=masks,
        image_masks=masks,
        phrases_embeddings=phrases.repeat(reps, 1, 1),
        image_embeddings=images.repeat(reps, 1, 1),
    )


def fusers(unet) -> list:
    """The GLIGEN gated self-attention layers of a UNet."""
    return [m for m in unet.modules() if type(m).__name__ == "GatedSelfAttentionDense"]


def set_grounding(unet, enabled: bool) -> None:
    """Turn the gated layers on or off; off, each returns its input unchanged."""
    for m in fusers(unet):
        m.enabled = enabled


def grounding_active(step: int, num_steps: int, beta: float) -> bool:
    """GLIGEN scheduled sampling: grounding during the first round(beta * steps) steps."""
    return step < int(round(beta * num_steps))


def blend_active(step: int, num_steps: int, lam: float) -> bool:
    """The background latent blend runs during the first round(lambda * steps) steps."""
    return step < int(round(lam * num_steps))
