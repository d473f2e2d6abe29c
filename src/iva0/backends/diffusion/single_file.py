"""SD1.x single-file checkpoints (original LDM key names) turned into diffusers parts."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderKL
from transformers import CLIPTextModel

from iva0.backends.diffusion.configs import SD15, model_configs_dir
from iva0.errors import ModelError, one_line


def load_single_file_base(path: Path, dtype: torch.dtype, config: str | Path | None = None) -> dict:
    """UNet, VAE and CLIP text encoder from one SD1.x .safetensors checkpoint (original LDM key names).

    Configs come from `config` (a diffusers folder with unet/, vae/, text_encoder/) or
    the shipped SD1.5 ones, so nothing is fetched; the tokenizer and scheduler are SD1.5's.
    """
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm, load_single_file_checkpoint

    config = Path(config) if config else model_configs_dir() / SD15
    where = f"base checkpoint {path}"
    try:
        checkpoint = load_single_file_checkpoint(str(path), local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{where}: not a readable safetensors checkpoint ({one_line(e)})") from None
    parts = {}
    for name, cls in (("unet", UNet2DConditionModel), ("vae", AutoencoderKL)):
        try:
            # the checkpoint dict, read once, serves all three parts
            parts[name] = cls.from_single_file(checkpoint, config=str(config), subfolder=name, torch_dtype=dtype,
                                               local_files_only=True)
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"{where}: no SD1.x {name} in it ({one_line(e)})") from None
    try:
        parts["text_encoder"] = create_diffusers_clip_model_from_ldm(
            CLIPTextModel, checkpoint, subfolder="text_encoder", config=str(config), torch_dtype=dtype,
            local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{where}: no SD1.x CLIP text encoder in it ({one_line(e)})") from None
    for name, module in parts.items():
        # diffusers fills the text encoder non-strictly: a tensor the file lacks would stay unallocated
        empty = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
        if empty:
            raise ModelError(f"{where}: its {name} lacks {len(empty)} tensors, e.g. {empty[0]}")
    return parts

