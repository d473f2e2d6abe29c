"""The real repositories' configs shipped in `iva0/data/model_configs/`, and the small parts built from them.

Used by loading (a folder without its own scheduler or preprocessing config) and by
tiny.py (random-weight folders); nothing here loads weights.
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

# which shipped config each full-size component uses (folder inside data/model_configs)
SD15 = "stable-diffusion-v1-5__stable-diffusion-v1-5"
GLIGEN_TEXT_IMAGE = "anhnct__Gligen_Text_Image"
ADAPTERS = {"v1-5-3": "guoyww__animatediff-motion-adapter-v1-5-3", "v1-5-2": "guoyww__animatediff-motion-adapter-v1-5-2"}
# v1-5-3 by default: AnimateDiff's latest SD1.5 motion module (v3), smaller (no motion
# mid block, 417.1 M vs 453.2 M) and its config carries no keys diffusers ignores
DEFAULT_ADAPTER = "v1-5-3"

# AnimateDiff's DDIM settings as diffusers documents them for AnimateDiffPipeline
# (the motion modules were trained on the linear beta schedule)
ANIMATEDIFF_SCHEDULER = {
    "beta_schedule": "linear",
    "clip_sample": False,
    "timestep_spacing": "linspace",
    "steps_offset": 1,
    "set_alpha_to_one": False,
}


def model_configs_dir() -> Path:
    """The real repositories' config files shipped inside the package."""
    return Path(str(files("iva0") / "data" / "model_configs"))


def read_config(*parts: str) -> dict:
    data = json.loads((model_configs_dir().joinpath(*parts)).read_text())
    # provenance notes of the shipped copies are not config
    return {k: v for k, v in data.items() if k != "_reconstructed_from"}


def make_scheduler(config: dict | None = None):
    """DDIM with AnimateDiff's settings, from SD1.5's scheduler config unless one is given."""
    from diffusers import DDIMScheduler

    config = read_config(SD15, "scheduler", "scheduler_config.json") if config is None else config
    return DDIMScheduler.from_config(config, **ANIMATEDIFF_SCHEDULER)


def tokenizer_dir() -> Path:
    return model_configs_dir() / SD15 / "tokenizer"


def load_tokenizer(folder: str | Path | None = None):
    """The CLIP BPE tokenizer from a folder (default: the real one shipped with iva0)."""
    from transformers import CLIPTokenizer

    # from a folder, never CLIPTokenizer(vocab_file=...): transformers 5 ignores that argument
    return CLIPTokenizer.from_pretrained(str(folder or tokenizer_dir()), local_files_only=True)


def feature_extractor_config(image_size: int = 224) -> dict:
    config = read_config("openai__clip-vit-large-patch14", "preprocessor_config.json")
    config.pop("feature_extractor_type", None)
    return {**config, "image_processor_type": "CLIPImageProcessor", "do_convert_rgb": True,
            "size": {"shortest_edge": image_size}, "crop_size": {"height": image_size, "width": image_size}}


def make_feature_extractor(image_size: int = 224, config: dict | None = None):
    """CLIP's image preprocessing (PIL backend: no torchvision needed)."""
    from transformers import CLIPImageProcessorPil

    config = feature_extractor_config(image_size) if config is None else dict(config)
    config.pop("image_processor_type", None)
    config.pop("feature_extractor_type", None)
    return CLIPImageProcessorPil(**config)
