"""Random-weight Wan / CogVideoX folders in the real diffusers layout (tests, smoke and speed runs).

Built from the real repositories' configs shipped in `iva0/data/model_configs/`:
`--full-size` uses them unchanged (the device speed run), tiny keeps every
structural key (patch sizes, VAE compression, z channels, image encoder,
two experts, expand_timesteps, learned positions) and shrinks widths, depths
and the text vocabulary. The real T5/UMT5 SentencePiece tokenizers are not
shipped; every folder gets the CLIP BPE tokenizer that iva0 ships (49,408
tokens) and a text encoder whose vocabulary matches it. Real folders use their
own tokenizer; nothing else differs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Callable

import torch

from iva0.backends.ttm.families import FAMILIES

CLIP_VOCAB = 49408
ProgressFn = Callable[[int, int, str], None]


def _configs_dir() -> Path:
    from iva0.backends.diffusion.configs import model_configs_dir

    return model_configs_dir()


def _read(family: str, *parts: str) -> dict:
    data = json.loads((_configs_dir() / FAMILIES[family].config_dir).joinpath(*parts).read_text())
    return {k: v for k, v in data.items() if k != "_reconstructed_from"}


def parts_of(family: str) -> tuple[str, ...]:
    """The weight-carrying components of a family, in build order (the order fixes each part's seed)."""
    if family == "wan21":
        return ("transformer", "vae", "text_encoder", "image_encoder")
    if family == "wan22-a14b":
        return ("transformer", "transformer_2", "vae", "text_encoder")
    return ("transformer", "vae", "text_encoder")


def component_configs(family: str, full_size: bool = False) -> dict[str, dict]:
    """Config dicts per part: the real ones, or tiny ones with the same structure."""
    real = {name: _read(family, name, "config.json") for name in parts_of(family)}
    if full_size:
        return real
    text = {"d_model": 32, "d_ff": 64, "d_kv": 8, "num_heads": 4, "num_layers": 2, "num_decoder_layers": 2,
            "vocab_size": CLIP_VOCAB}
    tiny = {"text_encoder": {**real["text_encoder"], **text}}
    if family == "cogvideox":
        tiny["transformer"] = {**real["transformer"], "num_attention_heads": 2, "attention_head_dim": 16,
                               "num_layers": 2, "text_embed_dim": 32, "time_embed_dim": 16,
                               # learned positions fix the size: 32x48 px (4x6 latent cells of 8 px)
                               "sample_height": 4, "sample_width": 6, "sample_frames": 9}
        tiny["vae"] = {**real["vae"], "block_out_channels": [8, 8, 16, 16], "norm_num_groups": 4,
                       "layers_per_block": 1, "sample_height": 32, "sample_width": 48}
        return tiny
    inner = 2 * 12  # heads x head_dim; Wan's 3-axis RoPE splits a head of 12 into 4 + 4 + 4
    transformer = {**real["transformer"], "num_attention_heads": 2, "attention_head_dim": 12, "ffn_dim": 32,
                   "num_layers": 2, "text_dim": 32, "freq_dim": 16, "rope_max_seq_len": 64}
    if transformer.get("image_dim") is not None:  # Wan 2.1: CLIP image tokens through added K/V
        transformer.update(image_dim=32, added_kv_proj_dim=inner)
    tiny["transformer"] = transformer
    if "transformer_2" in real:
        tiny["transformer_2"] = {**real["transformer_2"], **{k: v for k, v in transformer.items() if k != "_class_name"}}
    vae = {**real["vae"], "base_dim": 8, "num_res_blocks": 1}
    if vae.get("decoder_base_dim") is not None:
        vae["decoder_base_dim"] = 8
    tiny["vae"] = vae
    if "image_encoder" in real:
        tiny["image_encoder"] = {**real["image_encoder"], "hidden_size": 32, "intermediate_size": 64,
                                 "num_hidden_layers": 3, "num_attention_heads": 2, "projection_dim": 16,
                                 "image_size": 32, "patch_size": 8}
    return tiny


def build_part(family: str, name: str, config: dict, *, seed: int = 0) -> torch.nn.Module:
    """One randomly initialised part (the models' own init); same seed, same weights."""
    import diffusers
    import transformers

    index = _read(family, "model_index.json")
    library, cls_name = index[name]
    if name == "text_encoder":  # the shipped configs name the class in `architectures`
        cls_name = config.get("architectures", [cls_name])[0]
    cls = getattr(diffusers if library == "diffusers" else transformers, cls_name)
    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
        torch.manual_seed(seed * 1000 + parts_of(family).index(name))
        if library == "diffusers":
            module = cls.from_config(config)
        else:
            config_cls = cls.config_class
            # not the config's torch_dtype: transformers would build in it (Wan 2.1's CLIP says bfloat16)
            skip = ("architectures", "torch_dtype", "dtype")
            module = cls(config_cls(**{k: v for k, v in config.items() if k not in skip}))
    return module.eval()


def model_index(family: str, full_size: bool, seed: int, dtype: torch.dtype) -> dict:
    import diffusers

    index = _read(family, "model_index.json")
    index["_diffusers_version"] = diffusers.__version__
    index["tokenizer"] = ["transformers", "CLIPTokenizer"]  # see the module's docstring
    if family == "wan22-ti2v":
        # the real repo says WanPipeline (text-to-video); WanImageToVideoPipeline loads it the same
        index["_class_name"] = "WanPipeline"
    # says plainly that these weights are noise, so tools can warn
    index["_iva0"] = {"random_weights": True, "family": family, "size": "full" if full_size else "tiny",
                      "seed": seed, "dtype": str(dtype).removeprefix("torch.")}
    return index


def _write_side_files(family: str, folder: Path, configs: dict[str, dict]) -> None:
    from iva0.backends.diffusion.configs import tokenizer_dir

    shutil.copytree(tokenizer_dir(), folder / "tokenizer")
    (folder / "scheduler").mkdir()
    (folder / "scheduler" / "scheduler_config.json").write_text(
        json.dumps(_read(family, "scheduler", "scheduler_config.json"), indent=2) + "\n")
    if "image_encoder" in configs:
        pre = _read(family, "image_processor", "preprocessor_config.json")
        size = configs["image_encoder"].get("image_size", 224)
        pre.update(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
        (folder / "image_processor").mkdir()
        (folder / "image_processor" / "preprocessor_config.json").write_text(json.dumps(pre, indent=2) + "\n")


def write_model_folder(
    folder: str | Path,
    family: str,
    full_size: bool = False,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
) -> Path:
    """Write a random-weight folder of `family`, atomically; parts are built and saved one at a time."""
    from iva0.library_logs import quiet_libraries
    from iva0.backends.diffusion.tiny import _cast, _check_target
    from iva0.io.atomic import atomic_path
    from iva0.io.output_rule import replaceable_folder

    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")
    folder = Path(folder)
    _check_target(folder, overwrite)
    configs = component_configs(family, full_size)
    names = parts_of(family)
    total = len(names) + 1
    with atomic_path(folder, directory=True, may_replace=replaceable_folder) as tmp:
        tmp = Path(tmp)
        tmp.mkdir(parents=True, exist_ok=True)
        for i, name in enumerate(names):
            if progress:
                progress(i, total, f"building {name}")
            module = _cast(build_part(family, name, configs[name], seed=seed), dtype)
            with quiet_libraries():
                module.save_pretrained(str(tmp / name), safe_serialization=True)
            del module  # full-size parts are GBs: free before the next
        _write_side_files(family, tmp, configs)
        (tmp / "model_index.json").write_text(json.dumps(model_index(family, full_size, seed, dtype), indent=2) + "\n")
        if progress:
            progress(total, total, "done")
    return folder


def build_pipeline(family: str, full_size: bool = False, *, seed: int = 0, dtype: torch.dtype = torch.float32,
                   device: str | torch.device = "cpu", place: str | torch.device | None = None):
    """The family's diffusers pipeline with random weights, in memory (no folder): for speed runs.

    Parts are created directly on `device` in `dtype` (a full-size Wan 2.1 transformer is 16 B parameters:
    building it in float32 first would need 66 GB; initialising 11 B parameters on a GPU takes seconds, on
    a CPU minutes), then each is moved to `place` (default: `device`) before the next is built, so a GPU
    build for a CPU-offloaded run holds one part at a time.
    """
    import diffusers
    from transformers import CLIPImageProcessorPil

    from iva0.backends.diffusion.configs import load_tokenizer

    configs = component_configs(family, full_size)
    parts = {}
    previous = torch.get_default_dtype()
    try:
        for name in parts_of(family):
            torch.set_default_dtype(dtype if name not in ("vae", "image_encoder") or family == "cogvideox"
                                    else torch.float32)  # Wan keeps its VAE and CLIP in float32, as diffusers' examples
            with torch.device(device):
                part = build_part(family, name, configs[name], seed=seed)
            parts[name] = part.to(place) if place is not None and torch.device(place) != torch.device(device) else part
    finally:
        torch.set_default_dtype(previous)
    index = _read(family, "model_index.json")
    scheduler_cls = getattr(diffusers, index["scheduler"][1])
    extra = {}
    if "image_encoder" in parts:
        pre = _read(family, "image_processor", "preprocessor_config.json")
        size = configs["image_encoder"].get("image_size", 224)
        pre.update(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
        pre.pop("image_processor_type", None)
        extra["image_processor"] = CLIPImageProcessorPil(**pre)
    if FAMILIES[family].kind == "wan":
        extra.update(boundary_ratio=index.get("boundary_ratio"), expand_timesteps=bool(index.get("expand_timesteps")))
    cls = getattr(diffusers, FAMILIES[family].pipeline_class)
    return cls(tokenizer=load_tokenizer(), scheduler=scheduler_cls.from_config(_read(family, "scheduler", "scheduler_config.json")),
               **parts, **extra)
