"""Random-weight model folders in the real on-disk layout (for tests, smoke runs and speed runs).

Tiny: the real block structure (4 UNet levels with 3 cross-attention levels,
2 layers per block, GLIGEN gated-text-image fusers in every transformer block,
AnimateDiff motion modules like v1-5-3, a 4-level VAE that keeps the 8x
downsampling, CLIP text/vision with the real 49408-token BPE tokenizer) with few
channels, so it builds and loads in seconds. Full size: the real repositories'
configs shipped in `iva0/data/model_configs/`, unchanged.

Folder layout (what `load_components` reads, what real checkpoints look like):
    model_index.json
    unet/            GLIGEN text-image UNet2DConditionModel  config.json + diffusion_pytorch_model.safetensors
    motion_adapter/  AnimateDiff MotionAdapter               config.json + diffusion_pytorch_model.safetensors
    vae/             AutoencoderKL                           config.json + diffusion_pytorch_model.safetensors
    text_encoder/    CLIPTextModel                           config.json + model.safetensors
    tokenizer/       CLIPTokenizer                           vocab.json, merges.txt, tokenizer_config.json, special_tokens_map.json
    image_encoder/   CLIPVisionModelWithProjection           config.json + model.safetensors
    image_project/   CLIPImageProjection                     config.json + diffusion_pytorch_model.safetensors
    scheduler/       DDIMScheduler                           scheduler_config.json
    feature_extractor/ CLIPImageProcessor                    preprocessor_config.json
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import torch
from accelerate import init_empty_weights

from iva0.backends.diffusion.components import IVA0Components
from iva0.backends.diffusion.configs import (  # noqa: F401 - re-exported: tiny.X is how tests and tools reach them
    ADAPTERS,
    ANIMATEDIFF_SCHEDULER,
    DEFAULT_ADAPTER,
    GLIGEN_TEXT_IMAGE,
    SD15,
    feature_extractor_config,
    load_tokenizer,
    make_feature_extractor,
    make_scheduler,
    model_configs_dir,
    read_config,
    tokenizer_dir,
)
from iva0.library_logs import quiet_libraries

# the parts written to disk, in build order (the order fixes each part's seed)
PARTS = ("unet", "motion_adapter", "vae", "text_encoder", "image_encoder", "image_project")

ProgressFn = Callable[[int, int, str], None]


def component_configs(full_size: bool = False, adapter: str = DEFAULT_ADAPTER) -> dict[str, dict]:
    """Config dicts per part: the real ones (full size) or tiny ones with the same structure."""
    if adapter not in ADAPTERS:
        raise ValueError(f"unknown motion adapter version {adapter!r}; known: {', '.join(ADAPTERS)}")
    real = {
        "unet": read_config(GLIGEN_TEXT_IMAGE, "unet", "config.json"),
        "motion_adapter": read_config(ADAPTERS[adapter], "config.json"),
        "vae": read_config(SD15, "vae", "config.json"),
        "text_encoder": read_config(SD15, "text_encoder", "config.json"),
        "image_encoder": read_config(GLIGEN_TEXT_IMAGE, "image_encoder", "config.json"),
        "image_project": read_config(GLIGEN_TEXT_IMAGE, "image_project", "config.json"),
    }
    if full_size:
        return real
    width = 32  # text hidden size = cross-attention dim = grounding token dim
    channels = [32, 32, 64, 64]
    tiny = {
        "unet": {**real["unet"], "block_out_channels": channels, "attention_head_dim": 2, "norm_num_groups": 8,
                 "cross_attention_dim": width, "sample_size": 16},
        "motion_adapter": {**real["motion_adapter"], "block_out_channels": channels, "motion_norm_num_groups": 8,
                           "motion_num_attention_heads": 2},
        "vae": {**real["vae"], "block_out_channels": [8, 16, 16, 16], "norm_num_groups": 8, "layers_per_block": 1,
                "sample_size": 128},
        # vocabulary and special-token ids stay real: the real tokenizer is used
        "text_encoder": {**real["text_encoder"], "hidden_size": width, "intermediate_size": 64,
                         "num_hidden_layers": 2, "num_attention_heads": 2, "projection_dim": width},
        "image_encoder": {**real["image_encoder"], "hidden_size": 32, "intermediate_size": 64,
                          "num_hidden_layers": 2, "num_attention_heads": 2, "projection_dim": width},
        "image_project": {**real["image_project"], "hidden_size": width},
    }
    return tiny


def build_part(name: str, config: dict, *, seed: int = 0, meta: bool = False) -> torch.nn.Module:
    """One randomly initialised part (the models' own init, O(parameters)); on the meta device if `meta`."""
    from diffusers import AutoencoderKL, MotionAdapter, UNet2DConditionModel
    from diffusers.pipelines.stable_diffusion.clip_image_project_model import CLIPImageProjection
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    def make() -> torch.nn.Module:
        if name == "unet":
            return UNet2DConditionModel.from_config(config)
        if name == "motion_adapter":
            return MotionAdapter.from_config(config)
        if name == "vae":
            return AutoencoderKL.from_config(config)
        if name == "image_project":
            return CLIPImageProjection.from_config(config)
        if name == "text_encoder":
            return CLIPTextModel(CLIPTextConfig(**config))
        if name == "image_encoder":
            return CLIPVisionModelWithProjection(CLIPVisionConfig(**config))
        raise ValueError(f"unknown part {name!r}")

    if meta:
        with init_empty_weights():
            return make()
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
        torch.manual_seed(seed * 1000 + PARTS.index(name))
        module = make()
        if name == "unet":
            _open_gates(module)
    return module.eval()


def _open_gates(unet: torch.nn.Module) -> None:
    """GLIGEN fusers start with tanh(alpha) = 0, i.e. switched off; trained ones are not.

    Random-weight models get gates in [0.3, 1) so grounding really changes the output
    (tests can see it) and speed runs take the same path as real weights.
    """
    with torch.no_grad():
        for name, param in unet.named_parameters():
            if name.endswith(".fuser.alpha_attn") or name.endswith(".fuser.alpha_dense"):
                param.uniform_(0.3, 1.0)


def build_parts(
    full_size: bool = False, seed: int = 0, dtype: torch.dtype = torch.float32, adapter: str = DEFAULT_ADAPTER,
    meta: bool = False,
) -> dict[str, torch.nn.Module]:
    configs = component_configs(full_size, adapter)
    return {name: _cast(build_part(name, configs[name], seed=seed, meta=meta), dtype) for name in PARTS}


def _cast(module: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    # plain Module.to: ModelMixin.to warns about fp32-kept modules that these models don't have
    return torch.nn.Module.to(module, dtype=dtype) if dtype != torch.float32 else module


def build_components(
    full_size: bool = False, seed: int = 0, dtype: torch.dtype = torch.float32, adapter: str = DEFAULT_ADAPTER
):
    """Random-weight `IVA0Components` (motion UNet assembled), same seed -> same weights."""
    from iva0.backends.diffusion.motion_unet import assemble_motion_unet

    parts = build_parts(full_size, seed, dtype, adapter)
    return IVA0Components(
        unet=assemble_motion_unet(parts["unet"], parts["motion_adapter"]),
        vae=parts["vae"],
        text_encoder=parts["text_encoder"],
        tokenizer=load_tokenizer(),
        image_encoder=parts["image_encoder"],
        image_project=parts["image_project"],
        scheduler=make_scheduler(),
        feature_extractor=make_feature_extractor(parts["image_encoder"].config.image_size),
        source=f"random weights ({'full size' if full_size else 'tiny'}, seed {seed})",
    ).eval()


def model_index(full_size: bool, seed: int, adapter: str, dtype: torch.dtype) -> dict:
    import diffusers

    return {
        "_class_name": "IVA0Pipeline",
        "_diffusers_version": diffusers.__version__,
        "unet": ["diffusers", "UNet2DConditionModel"],
        "motion_adapter": ["diffusers", "MotionAdapter"],
        "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "image_project": ["diffusers", "CLIPImageProjection"],
        "scheduler": ["diffusers", "DDIMScheduler"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        # says plainly that these weights are noise, so tools can warn
        "_iva0": {"random_weights": True, "size": "full" if full_size else "tiny", "seed": seed,
                  "motion_adapter": adapter, "dtype": str(dtype).removeprefix("torch.")},
    }


def _save_part(name: str, module: torch.nn.Module, folder: Path) -> None:
    # diffusers and transformers write their own config.json + safetensors (the real file names)
    with quiet_libraries():
        module.save_pretrained(str(folder / name), safe_serialization=True)


def _write_side_files(folder: Path, image_size: int, scheduler=None) -> None:
    shutil.copytree(tokenizer_dir(), folder / "tokenizer")
    (scheduler or make_scheduler()).save_pretrained(str(folder / "scheduler"))
    (folder / "feature_extractor").mkdir()
    (folder / "feature_extractor" / "preprocessor_config.json").write_text(
        json.dumps(feature_extractor_config(image_size), indent=2) + "\n"
    )


def _check_target(folder: Path, overwrite: bool) -> None:
    from iva0.errors import ModelError
    from iva0.io.output_rule import check_output

    if folder.exists() and not overwrite:
        # an existing folder is replaced only when asked, and only after the new one is complete
        raise ModelError(f"{folder} already exists; choose a new folder")
    check_output(folder, "model")  # and only a model folder iva0 wrote (the output rule)


def write_model_folder(
    folder: str | Path,
    full_size: bool = False,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    adapter: str = DEFAULT_ADAPTER,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> Path:
    """Write a random-weight model folder, atomically (a temp folder beside it, renamed at the end).

    Parts are built and saved one at a time, so a full-size fp32 folder peaks at the
    largest part (the 1.07 B-parameter UNet, ~4.3 GB) rather than all ~9 GB.
    """
    from iva0.io.atomic import atomic_path
    from iva0.io.output_rule import replaceable_folder

    folder = Path(folder)
    _check_target(folder, overwrite)
    configs = component_configs(full_size, adapter)
    total = len(PARTS) + 1
    with atomic_path(folder, directory=True, may_replace=replaceable_folder) as tmp:
        tmp = Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(PARTS):
            if progress:
                progress(i, total, f"building {name}")
            module = _cast(build_part(name, configs[name], seed=seed), dtype)
            _save_part(name, module, tmp)
            del module  # free before the next part: full-size parts are GBs
        _write_side_files(tmp, configs["image_encoder"].get("image_size", 224))
        (tmp / "model_index.json").write_text(json.dumps(model_index(full_size, seed, adapter, dtype), indent=2) + "\n")
        if progress:
            progress(total, total, "done")
    return folder

