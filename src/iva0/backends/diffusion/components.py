"""`IVA0Components`: the models the IVA0 pipeline runs on.

How the pipeline drives GLIGEN in the motion UNet (checked against diffusers 0.42.1):
`UNet2DConditionModel.forward` turns `cross_attention_kwargs["gligen"]` (boxes,
masks, embeddings) into grounding tokens with `self.position_net`, but
`UNetMotionModel.forward` does not. So the caller runs `position_net` itself, once
per denoising call, with one row per (batch, frame) -- `(b f)` order, frames
fastest, matching how `UNetMotionModel` flattens its sample -- and passes
`cross_attention_kwargs={"gligen": {"objs": objs}}`. `UNetMotionModel` hands
`cross_attention_kwargs` to every spatial `Transformer2DModel` (down, mid, up),
whose `BasicTransformerBlock` pops "gligen" and runs `self.fuser(hidden, objs)`
after self-attention; the motion modules never see it. `grounding.gligen_objs`
does the `position_net` call. Leaving "gligen" out switches the fusers off
(GLIGEN's scheduled sampling after beta of the steps).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNetMotionModel
from diffusers.pipelines.stable_diffusion.clip_image_project_model import CLIPImageProjection
from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

from iva0.backends.diffusion.checks import COMPONENTS

__all__ = ["COMPONENTS", "IVA0Components"]


@dataclass
class IVA0Components:
    """Everything the IVA0 pipeline needs; `unet` is the assembled motion UNet with GLIGEN layers.

    `unet.position_net` is GLIGEN's grounding-token network (see the module docstring).
    `feature_extractor` preprocesses object crops for `image_encoder` (CLIP's 224 px
    resize, crop and normalisation); `source` says where the models came from.
    """

    unet: UNetMotionModel
    vae: AutoencoderKL
    text_encoder: CLIPTextModel
    tokenizer: CLIPTokenizer
    image_encoder: CLIPVisionModelWithProjection
    image_project: CLIPImageProjection
    scheduler: DDIMScheduler
    feature_extractor: object | None = None  # transformers CLIPImageProcessor
    source: str = ""

    def modules(self) -> dict[str, torch.nn.Module]:
        """The torch modules by name (the ones that hold weights)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if isinstance(getattr(self, f.name), torch.nn.Module)}

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> IVA0Components:
        """Move every module (in place) and return self, like `DiffusionPipeline.to`."""
        for module in self.modules().values():
            # plain Module.to: ModelMixin.to warns about fp32-kept modules that these models don't have
            torch.nn.Module.to(module, device=device, dtype=dtype)
        return self

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.unet.parameters()).dtype

    def eval(self) -> IVA0Components:
        for module in self.modules().values():
            module.eval().requires_grad_(False)
        return self

    def num_parameters(self) -> dict[str, int]:
        return {name: sum(p.numel() for p in m.parameters()) for name, m in self.modules().items()}
