"""Code the tests share that iva0 itself does not need: a plain DDIM sampler, a GLIGEN check, saving built components."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import torch

from iva0.backends.diffusion import tiny
from iva0.backends.diffusion.inversion import EpsFn, NoiseLevels, ddim_step
from iva0.backends.diffusion.motion_unet import split_motion_unet
from iva0.io.atomic import atomic_path
from iva0.io.output_rule import replaceable_folder


def is_gligen_unet(unet: torch.nn.Module) -> bool:
    """True when the UNet carries GLIGEN grounding layers (a `position_net` and gated fusers)."""
    return hasattr(unet, "position_net") and any(n.endswith(".fuser") for n, _ in unet.named_modules())


def ddim_sample(
    eps_fn: EpsFn,
    zT: torch.Tensor,
    levels: NoiseLevels,
    step_hook: Callable[[int, torch.Tensor], torch.Tensor] | None = None,
) -> torch.Tensor:
    """Plain DDIM sampling from zT (the mirror of ddim_invert); step_hook(i, z) may edit z after each step."""
    z = zT
    for i, t in enumerate(levels.timesteps):
        z = ddim_step(eps_fn(z, t), z, levels.alpha[i], levels.alpha_prev[i])
        if step_hook is not None:
            z = step_hook(i, z)
    return z


def save_components(components, folder: str | Path, *, overwrite: bool = False) -> Path:
    """Write `IVA0Components` in the on-disk layout (the motion UNet split back into unet/ + motion_adapter/)."""
    folder = Path(folder)
    configs = getattr(components.unet, "iva0_part_configs", None)
    if configs is None:
        raise ValueError("this motion UNet was not made by assemble_motion_unet; its part configs are unknown")
    unet2d, adapter = split_motion_unet(components.unet, configs["unet"], configs["motion_adapter"])
    tiny._check_target(folder, overwrite)
    with atomic_path(folder, directory=True, may_replace=replaceable_folder) as tmp:
        tmp = Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        parts = {"unet": unet2d, "motion_adapter": adapter, "vae": components.vae,
                 "text_encoder": components.text_encoder, "image_encoder": components.image_encoder,
                 "image_project": components.image_project}
        for name, module in parts.items():
            tiny._save_part(name, module, tmp)
        components.tokenizer.save_pretrained(str(tmp / "tokenizer"))
        components.scheduler.save_pretrained(str(tmp / "scheduler"))
        (tmp / "feature_extractor").mkdir()
        (tmp / "feature_extractor" / "preprocessor_config.json").write_text(
            json.dumps(tiny.feature_extractor_config(components.image_encoder.config.image_size), indent=2) + "\n"
        )
        index = tiny.model_index(False, 0, "", components.dtype)
        index["_iva0"] = {"source": components.source}
        (tmp / "model_index.json").write_text(json.dumps(index, indent=2) + "\n")
    return folder


def encode_grounding(
    unet: torch.nn.Module,
    boxes: torch.Tensor,
    phrases_embeddings: torch.Tensor,
    image_embeddings: torch.Tensor,
    masks: torch.Tensor | None = None,
    phrases_masks: torch.Tensor | None = None,
    image_masks: torch.Tensor | None = None,
) -> torch.Tensor:
    """GLIGEN text-image grounding tokens for `cross_attention_kwargs={"gligen": {"objs": objs}}`.

    boxes (B, N, 4) normalised xyxy; phrases_embeddings / image_embeddings (B, N, D) with
    D = cross_attention_dim (CLIP text pooler output; projected, rescaled CLIP image
    embedding); masks (B, N) 1 for real objects, 0 for padding (default all 1);
    phrases_masks / image_masks (B, N) drop one modality per object (default = masks).
    For the motion UNet, B = batch * frames in `(b f)` order, so each frame can carry
    its own boxes. Returns objs (B, 2N, C): N text tokens then N image tokens.
    """
    net = getattr(unet, "position_net", None)
    if net is None or not hasattr(net, "linears_image"):
        raise ValueError("this UNet has no GLIGEN text-image position_net (attention_type 'gated-text-image')")
    param = next(net.parameters())
    if masks is None:
        masks = torch.ones(boxes.shape[:2], device=param.device, dtype=param.dtype)
    phrases_masks = masks if phrases_masks is None else phrases_masks
    image_masks = masks if image_masks is None else image_masks
    cast = {"device": param.device, "dtype": param.dtype}
    return net(
        boxes=boxes.to(**cast),
        masks=masks.to(**cast),
        phrases_masks=phrases_masks.to(**cast),
        image_masks=image_masks.to(**cast),
        phrases_embeddings=phrases_embeddings.to(**cast),
        image_embeddings=image_embeddings.to(**cast),
    )


def run_cli(args, capsys):
    """Run the CLI in-process; returns (exit code, stdout, stderr)."""
    from iva0.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err
