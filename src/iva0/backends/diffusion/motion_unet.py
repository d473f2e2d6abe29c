"""Assemble an AnimateDiff motion UNet that keeps a GLIGEN UNet's grounding layers.

Why not `UNetMotionModel.from_unet2d`: in diffusers 0.42 `UNetMotionModel.__init__`
has no `attention_type` argument, so `from_unet2d` drops the GLIGEN config key,
builds spatial transformer blocks without `fuser` layers, and then fails in
`down_blocks[i].attentions.load_state_dict(...)` with
`RuntimeError: Unexpected key(s) in state_dict: "0.transformer_blocks.0.fuser.alpha_attn", ...`;
it also never creates `position_net` (only `UNet2DConditionModel` does).

What we do instead: let `from_unet2d(..., load_weights=False)` derive the motion
config (it checks adapter compatibility too) and build the skeleton on the meta
device (no memory, no random init), then *move* the real sub-modules in: every
spatial part (resnets, `Transformer2DModel`s with their gated fusers, samplers,
conv/time layers) from the 2D UNet, every motion module from the adapter, and
`position_net` on top. Nothing is copied, so a full-size graft costs no extra
memory; the 2D UNet and the adapter share their modules with the result and
should not be used on their own afterwards (pass `copy=True` to keep them apart).
"""

from __future__ import annotations

import copy as _copy

import torch
from accelerate import init_empty_weights
from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

GLIGEN_ATTENTION_TYPES = ("gated", "gated-text-image")


def gligen_feature_type(unet: torch.nn.Module) -> str | None:
    """'text-image' for a GLIGEN text+image UNet, 'text-only' for a box-text one, None without GLIGEN."""
    net = getattr(unet, "position_net", None)
    if net is None:
        return None
    return "text-image" if hasattr(net, "linears_image") else "text-only"


def _graft(dst: torch.nn.Module, src: torch.nn.Module, names: tuple[str, ...]) -> None:
    for name in names:
        part = getattr(src, name, None)
        if getattr(dst, name, None) is None and part is None:
            continue
        if part is None:
            raise ValueError(f"cannot graft {name!r}: the source block has none")
        setattr(dst, name, part)


def assemble_motion_unet(
    unet2d: UNet2DConditionModel, adapter: MotionAdapter, *, copy: bool = False
) -> UNetMotionModel:
    """A `UNetMotionModel` = the 2D UNet's spatial layers (GLIGEN fusers included) + the adapter's motion modules.

    `unet.position_net` is grafted too, because `UNetMotionModel.forward` does not run it:
    the caller computes the grounding tokens with it and passes them in (see
    `iva0.backends.diffusion.grounding.gligen_objs`).
    """
    if copy:
        unet2d, adapter = _copy.deepcopy(unet2d), _copy.deepcopy(adapter)
    with init_empty_weights():
        # the meta skeleton: config conversion + compatibility checks by diffusers itself
        model = UNetMotionModel.from_unet2d(unet2d, adapter, load_weights=False)

    _graft(model, unet2d, ("conv_in", "time_proj", "time_embedding", "conv_norm_out", "conv_act", "conv_out"))
    for dst, src, mot in zip(model.down_blocks, unet2d.down_blocks, adapter.down_blocks):
        _graft(dst, src, ("resnets", "attentions", "downsamplers"))
        dst.motion_modules = mot.motion_modules
    for dst, src, mot in zip(model.up_blocks, unet2d.up_blocks, adapter.up_blocks):
        _graft(dst, src, ("resnets", "attentions", "upsamplers"))
        dst.motion_modules = mot.motion_modules
    if hasattr(model.mid_block, "motion_modules"):  # adapters with a motion mid block (v1-5-2)
        _graft(model.mid_block, unet2d.mid_block, ("resnets", "attentions"))
        model.mid_block.motion_modules = adapter.mid_block.motion_modules
    else:  # v1-5-3: the mid block is the 2D UNet's own, unchanged
        model.mid_block = unet2d.mid_block
    if hasattr(unet2d, "position_net"):
        model.position_net = unet2d.position_net

    # a shape-only graft (parts on the meta device, e.g. to check names at full size) is meta throughout
    shapes_only = any(t.is_meta for t in unet2d.parameters())
    left = [n for n, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta and not shapes_only]
    if left:  # a block diffusers added that we do not know how to fill: fail loudly, never run half-random
        raise RuntimeError(f"motion UNet graft left {len(left)} tensors unfilled, e.g. {left[:3]}")
    # keep the grounding type in the config so saved/printed configs say what this UNet is
    if unet2d.config.get("attention_type") in GLIGEN_ATTENTION_TYPES:
        model.register_to_config(attention_type=unet2d.config["attention_type"])
    # the configs of the parts, so the model can be split and saved in the on-disk layout again
    model.iva0_part_configs = {"unet": dict(unet2d.config), "motion_adapter": dict(adapter.config)}
    dtype = unet2d.dtype
    if any(p.dtype != dtype for p in model.parameters()):
        # plain Module.to: ModelMixin.to warns about fp32-kept modules, and this model has none
        torch.nn.Module.to(model, dtype=dtype)
    return model


def split_motion_unet(
    unet: UNetMotionModel, unet2d_config: dict, adapter_config: dict
) -> tuple[UNet2DConditionModel, MotionAdapter]:
    """The inverse of `assemble_motion_unet`: a 2D UNet and a MotionAdapter sharing `unet`'s tensors.

    Parameter names line up by construction (the graft moved whole sub-modules), so
    the 2D UNet takes every tensor outside `motion_modules` and the adapter the rest;
    both are loaded strictly, so a missing or extra tensor fails here, not on disk.
    """
    state = unet.state_dict()
    spatial = {k: v for k, v in state.items() if ".motion_modules." not in k}
    motion = {k: v for k, v in state.items() if ".motion_modules." in k}
    with init_empty_weights():
        unet2d = UNet2DConditionModel.from_config(unet2d_config)
        adapter = MotionAdapter.from_config(adapter_config)
    unet2d.load_state_dict(spatial, strict=True, assign=True)
    adapter.load_state_dict(motion, strict=True, assign=True)
    return unet2d, adapter
