"""The image-to-video model families the ttm backend runs on, read from a folder's model_index.json.

A family fixes which diffusers pipeline class holds the parts, the video's
native length and frame rate (the layout is retimed to them), and TTM's
tuned tweak/tstrong indices for 50 steps (Singer et al., README of
github.com/time-to-move/TTM: Wan cut-and-drag 3/7, CogVideoX 4/9).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from iva0.errors import ModelError


@dataclass(frozen=True)
class Family:
    name: str  # wan21 | wan22-a14b | wan22-ti2v | cogvideox
    kind: str  # "wan" or "cogvideox": which loop runs it
    pipeline_class: str  # the diffusers class that loads the folder
    config_dir: str  # the real repository's configs, shipped in iva0/data/model_configs
    repo: str  # the Hub repository that holds the real weights
    num_frames: int  # native length
    frame_step: int  # lengths are frame_step*k+1: Wan 4 (its VAE's time compression); CogVideoX 8 (an odd
    # number of latent frames, else its VAE decodes 4 frames per latent and the count is off)
    fps: int
    height: int  # native size
    width: int
    tweak: int  # TTM's indices for REFERENCE_STEPS steps
    tstrong: int
    steps: int = 50
    guidance: float = 5.0
    guidance_2: float | None = None
    negative_prompt: str = ""  # used when neither the layout nor --negative-prompt gives one
    # indices for REFERENCE_STEPS steps when the layout has a camera: TTM's README gives 2/5 for camera control on
    # Wan ("good starting points"); TTM gives none for CogVideoX: 3/7 is ours (docs/ttm.md)
    camera_tweak: int = 2
    camera_tstrong: int = 5


    def indices50(self, camera: bool = False) -> tuple[int, int]:
        """TTM's (tweak, tstrong) for REFERENCE_STEPS steps: cut-and-drag, or camera control."""
        return (self.camera_tweak, self.camera_tstrong) if camera else (self.tweak, self.tstrong)

    @property
    def seconds(self) -> float:
        return (self.num_frames - 1) / self.fps


REFERENCE_STEPS = 50  # the step count TTM's indices were tuned for

# Wan's standard negative prompt (`sample_neg_prompt` of Wan 2.1's and Wan 2.2's shared_config.py; TTM's run_wan.py
# uses the same string). CogVideoX's scripts and TTM's run_cog.py pass none.
WAN_NEGATIVE_PROMPT = (
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走"
)

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family("wan21", "wan", "WanImageToVideoPipeline", "Wan-AI__Wan2.1-I2V-14B-480P-Diffusers",
               "Wan-AI/Wan2.1-I2V-14B-480P-Diffusers", 81, 4, 16, 480, 832, 3, 7, guidance=5.0,
               negative_prompt=WAN_NEGATIVE_PROMPT),
        Family("wan22-a14b", "wan", "WanImageToVideoPipeline", "Wan-AI__Wan2.2-I2V-A14B-Diffusers",
               "Wan-AI/Wan2.2-I2V-A14B-Diffusers", 81, 4, 16, 480, 832, 3, 7, guidance=3.5, guidance_2=3.5,
               negative_prompt=WAN_NEGATIVE_PROMPT),
        Family("wan22-ti2v", "wan", "WanImageToVideoPipeline", "Wan-AI__Wan2.2-TI2V-5B-Diffusers",
               "Wan-AI/Wan2.2-TI2V-5B-Diffusers", 121, 4, 24, 704, 1280, 3, 7, guidance=5.0,
               negative_prompt=WAN_NEGATIVE_PROMPT),
        Family("cogvideox", "cogvideox", "CogVideoXImageToVideoPipeline", "THUDM__CogVideoX-5b-I2V",
               "THUDM/CogVideoX-5b-I2V", 49, 8, 8, 480, 720, 4, 9, guidance=6.0,
               camera_tweak=3, camera_tstrong=7),
    )
}


def read_model_index(folder: str | Path) -> dict | None:
    path = Path(folder) / "model_index.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _present(entry) -> bool:
    return isinstance(entry, (list, tuple)) and len(entry) == 2 and entry[0] is not None


def family_of_index(index: dict) -> str | None:
    """The family a model_index.json describes, or None."""
    cls = index.get("_class_name")
    if cls == "CogVideoXImageToVideoPipeline":
        return "cogvideox"
    # TI2V-5B's repo names WanPipeline; diffusers' WanImageToVideoPipeline loads it for I2V
    if cls not in ("WanImageToVideoPipeline", "WanPipeline"):
        return None
    if index.get("expand_timesteps"):
        return "wan22-ti2v"
    if _present(index.get("transformer_2")) or index.get("boundary_ratio") is not None:
        return "wan22-a14b"
    if cls == "WanImageToVideoPipeline":
        return "wan21"
    return None  # a text-to-video WanPipeline


def detect_family(folder: str | Path) -> str | None:
    """'wan21' | 'wan22-a14b' | 'wan22-ti2v' | 'cogvideox' for a diffusers folder the ttm backend runs, else None."""
    index = read_model_index(folder)
    return None if index is None else family_of_index(index)


def require_family(folder: str | Path, where: str | None = None) -> Family:
    """The folder's family, or one ModelError line naming what was found."""
    where = where or str(folder)
    index = read_model_index(folder)
    if index is None:
        raise ModelError(f"{where}: no readable model_index.json; the ttm backend needs a diffusers folder of "
                         f"Wan 2.1/2.2 image-to-video or CogVideoX-5b-I2V")
    name = family_of_index(index)
    if name is None:
        found = index.get("_class_name") or "no _class_name"
        raise ModelError(f"{where}: model_index.json names {found}; the ttm backend runs WanImageToVideoPipeline "
                         f"(Wan 2.1 I2V, Wan 2.2 I2V-A14B / TI2V-5B) or CogVideoXImageToVideoPipeline folders")
    return FAMILIES[name]
