"""One-shot tuning (experimental; supplement section 2, DESIGN.md step 8).

Freeze the CLIP encoders and the VAE; optimise only each object's grounding
image embedding (the projected CLIP image embedding GLIGEN receives) and the
UNet's value projections (`to_v` of the spatial attention layers), with the
standard noise-prediction MSE restricted to the objects' frame-0 boxes: the
model learns to re-create the masked objects of frame 0 from their grounding.
The paper found this did not help object consistency; it stays an option the
benchmark can measure. The result is a small safetensors file:

    image_embeds          (J, D) float32, one row per layout object, layout order
    unet.<module>.weight  every tuned to_v weight, float32
    metadata: format, objects (JSON list of names), steps, lr, embed_lr
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

import numpy as np
import torch

from iva0.backends.base import ProgressFn, no_progress
from iva0.errors import ModelError, UserError
from iva0.io.atomic import atomic_path
from iva0.layout import Layout

FORMAT = "iva0-tuned-1"


@dataclass
class TuneConfig:
    steps: int = 200
    lr: float = 2e-5  # value projections
    embed_lr: float = 1e-3  # object image embeddings
    seed: int = 0


@dataclass
class TunedWeights:
    image_embeds: torch.Tensor  # (J, D)
    values: dict[str, torch.Tensor]  # "<module>.weight" of each tuned to_v -> tensor
    objects: list[str] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)


def value_projections(unet) -> dict[str, torch.nn.Linear]:
    """The to_v layers of the spatial attention (self, cross and GLIGEN fuser); motion modules excluded."""
    return {
        name: mod
        for name, mod in unet.named_modules()
        if name.endswith(".to_v") and "motion_modules" not in name and isinstance(mod, torch.nn.Linear)
    }


def object_loss_mask(layout: Layout, h: int, w: int) -> torch.Tensor:
    """Union of the objects' frame-0 boxes at latent resolution, (h, w)."""
    from iva0.masks import boxes_masks

    m = boxes_masks(layout.boxes()[:, :1], h, w).max(axis=(0, 1))  # (h, w)
    return torch.from_numpy(m)


def masked_eps_loss(pipe, z0, text, tokens, mask, t: int, noise) -> torch.Tensor:
    """Noise-prediction MSE inside `mask` (1, 1, h, w) for z0 (1, C, h, w) noised to timestep t, grounded by `tokens`."""
    from iva0.backends.diffusion.grounding import gligen_objs

    zt = pipe.scheduler.add_noise(z0, noise, torch.tensor([t]))  # (1, C, h, w)
    objs = gligen_objs(pipe.unet.position_net, tokens, uncond=False).to(z0.device)  # (1, 2 * 30, D): GLIGEN pads to 30 objects
    eps = pipe._unet_eps(zt[:, :, None], t, text, objs)[:, :, 0]  # (1, C, h, w): a one-frame video
    err = (eps - noise).pow(2) * mask
    return err.sum() / (mask.sum() * eps.shape[1]).clamp(min=1.0)


def tune(pipe, image: np.ndarray, layout: Layout, config: TuneConfig = TuneConfig(),
         progress: ProgressFn = no_progress) -> TunedWeights:
    """Tune `pipe.unet` in place and return the tuned tensors (the pipeline then uses them)."""
    from iva0.backends.diffusion.grounding import GroundingTokens, frame_boxes, set_grounding

    if config.steps < 1:
        raise UserError(f"--steps must be at least 1, got {config.steps}")
    device = pipe._execution_device
    gen = torch.Generator().manual_seed(config.seed)
    with torch.no_grad():
        z0 = pipe.encode_images(image[None], device)  # (1, C, h, w)
        text = pipe.encode_prompt(layout.prompt, device)  # (1, L, D)
        tokens = pipe.grounding_tokens(image, layout, device)
    h, w = z0.shape[-2:]
    mask = object_loss_mask(layout, h, w).to(device)[None, None]  # (1, 1, h, w)
    fb, fm = frame_boxes(layout.boxes()[:, :1])  # frame 0 only: (1, J, 4), (1, J)

    embeds = torch.nn.Parameter(tokens.image_embeds.detach().float().clone())  # (J, D)
    values = value_projections(pipe.unet)
    pipe.unet.requires_grad_(False)
    params = []
    for mod in values.values():
        mod.weight.requires_grad_(True)
        params.append(mod.weight)
    opt = torch.optim.AdamW([{"params": params, "lr": config.lr}, {"params": [embeds], "lr": config.embed_lr}],
                            weight_decay=0.0)
    num_train = pipe.scheduler.config.num_train_timesteps
    set_grounding(pipe.unet, True)
    pipe.mas_state.enabled = False  # one frame: no temporal attention to mask
    losses = []
    pipe.unet.train(False)
    try:
        for step in range(config.steps):
            t = int(torch.randint(0, num_train, (1,), generator=gen))
            noise = torch.randn(z0.shape, generator=gen).to(device)
            tok = GroundingTokens(boxes=fb, masks=fm, phrase_embeds=tokens.phrase_embeds, image_embeds=embeds)
            with torch.enable_grad():
                loss = masked_eps_loss(pipe, z0, text, tok, mask, t, noise)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
            progress(step + 1, config.steps, "tuning")
    finally:
        pipe.unet.requires_grad_(False)
    return TunedWeights(
        image_embeds=embeds.detach().cpu().float(),
        values={f"{n}.weight": m.weight.detach().cpu().float().clone() for n, m in values.items()},
        objects=list(layout.names),
        losses=losses,
        metadata={"steps": str(config.steps), "lr": str(config.lr), "embed_lr": str(config.embed_lr)},
    )


def save_tuned(tuned: TunedWeights, path: str | os.PathLike) -> None:
    """Write the tuned tensors as safetensors, atomically."""
    from safetensors.torch import save_file

    tensors = {"image_embeds": tuned.image_embeds.contiguous()}
    tensors.update({f"unet.{k}": v.contiguous() for k, v in tuned.values.items()})
    meta = {"format": FORMAT, "objects": json.dumps(tuned.objects), **tuned.metadata}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)


def load_tuned(path: str | os.PathLike) -> TunedWeights:
    """Read a file written by `save_tuned`; anything else is refused with one clear line."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != FORMAT:
                raise ModelError(f"--tuned: {path} is not an iva0 tuned-weights file (format {meta.get('format')!r})")
            keys = list(f.keys())
            if "image_embeds" not in keys:
                raise ModelError(f"--tuned: {path} holds no image_embeds")
            embeds = f.get_tensor("image_embeds")
            values = {k[len("unet."):]: f.get_tensor(k) for k in keys if k.startswith("unet.")}
    except ModelError:
        raise
    except Exception as e:  # safetensors raises its own error types for broken headers
        raise ModelError(f"--tuned: cannot read {path}: {e}") from None
    objects = json.loads(meta.get("objects", "[]"))
    extra = {k: v for k, v in meta.items() if k not in ("format", "objects")}
    return TunedWeights(image_embeds=embeds, values=values, objects=objects, metadata=extra)


@torch.no_grad()
def apply_tuned(unet, tuned: TunedWeights) -> None:
    """Load the tuned value projections into `unet` (same architecture as tuned on)."""
    params = dict(unet.named_parameters())
    for name, value in tuned.values.items():
        p = params.get(name)
        if p is None or p.shape != value.shape:
            raise ModelError(f"--tuned: the file does not match this model ({name} "
                             f"{'missing' if p is None else f'{tuple(p.shape)} vs {tuple(value.shape)}'})")
        p.copy_(value.to(device=p.device, dtype=p.dtype))
