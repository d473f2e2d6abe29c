"""Find, check and load a Wan / CogVideoX folder: local, or a repo id already in the HF cache; safetensors only.

Every problem becomes one ModelError line naming the component and the path,
found before any weights are read. No torch import at module level: `iva0
models check` answers from the files alone. `check_folder` is the one set of rules for both `models check` and
`load_pipeline`: model_index.json names diffusers or transformers classes only (never another module, never code in
the folder), configs are read within limits, and every safetensors header is checked against its file
(iva0.backends.diffusion.checks).
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from iva0.backends.ttm.families import Family, read_model_index, require_family
from iva0.errors import ModelError, UserError, one_line

OFFLOADS = ("none", "model", "sequential", "group")
PICKLES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
LIBRARIES = ("diffusers", "transformers")  # where model_index.json's classes may come from
# components without weights, and the file each must have
SIDE_FILES = {"scheduler": "scheduler_config.json", "image_processor": "preprocessor_config.json"}

if TYPE_CHECKING:
    import torch


@dataclass
class Component:
    name: str
    class_name: str
    folder: Path
    problem: str = ""  # one line; empty when fine
    num_parameters: int | None = None

    @property
    def present(self) -> bool:
        return not self.problem


def resolve(source: str | Path) -> Path:
    """A local folder as is; an HF repo id from the local cache, offline."""
    from iva0.backends.diffusion.hub import resolve_source

    return resolve_source(source, "model")


def _check_one(folder: Path, name: str, entry: list, count: bool) -> Component:
    from iva0.backends.diffusion.checks import count_parameters, read_json_file

    library, cls = entry
    c = Component(name=name, class_name=str(cls)[:80], folder=folder / name)
    if library not in LIBRARIES or not isinstance(cls, str) or not cls.isidentifier():
        shown = json.dumps(f"{library}.{cls}"[:80])
        c.problem = (f"is listed as class {shown} in model_index.json; iva0 loads only diffusers and transformers "
                     f"classes, never other modules or code in the folder")
        return c
    if not c.folder.is_dir():
        c.problem = f"missing (looked for {c.folder})"
        return c
    if name == "tokenizer":
        if not any(c.folder.iterdir()):
            c.problem = f"empty folder {c.folder}"
        return c
    config = c.folder / SIDE_FILES.get(name, "config.json")
    if not config.is_file():
        c.problem = f"missing (looked for {config})"
        return c
    try:
        if not isinstance(read_json_file(config), dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError, UnicodeDecodeError) as e:
        c.problem = f"has a broken config ({config}: {one_line(e)})"
        return c
    if name in SIDE_FILES:
        return c
    weights = sorted(c.folder.glob("*.safetensors"))
    if not weights:
        pickles = sorted(p.name for p in c.folder.iterdir() if p.suffix in PICKLES)
        c.problem = (f"has only pickle weights ({c.folder / pickles[0]}); iva0 loads .safetensors only"
                     if pickles else f"has no .safetensors weights in {c.folder}")
        return c
    try:  # always (loading too): the headers are checked against their files
        params = count_parameters(weights)
    except (OSError, ValueError, KeyError, TypeError) as e:
        c.problem = f"has broken weights ({weights[0]}: {one_line(e)})"
        return c
    c.num_parameters = params if count else None
    return c


def check_folder(folder: str | Path, *, count: bool = False) -> tuple[Family, list[Component]]:
    """The family and each component model_index.json lists (null entries are absent on purpose)."""
    folder = Path(folder)
    family = require_family(folder)
    index = read_model_index(folder) or {}
    components = [_check_one(folder, name, entry, count) for name, entry in index.items()
                  if not name.startswith("_") and isinstance(entry, list) and len(entry) == 2 and entry[0] is not None]
    return family, components


def pick_device(device: str | None) -> "torch.device":
    import torch

    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise UserError(f"unknown device {device!r}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"device {device}: CUDA is not available here")
    return dev


def pick_dtype(dtype: str | None, device: "torch.device") -> "torch.dtype":
    """bf16 on CUDA by default, fp32 elsewhere; fp16 on the CPU is refused (too slow and unsupported ops)."""
    import torch

    if dtype is None:
        return torch.bfloat16 if device.type == "cuda" else torch.float32
    names = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if dtype not in names:
        raise UserError(f"--dtype must be float32, bfloat16 or float16, got {dtype!r}")
    if names[dtype] == torch.float16 and device.type == "cpu":
        raise UserError("--dtype float16 is not supported on the CPU; use float32 or bfloat16")
    return names[dtype]


def check_offload(offload: str, device: "torch.device") -> None:
    if offload not in OFFLOADS:
        raise UserError(f"--offload must be one of {', '.join(OFFLOADS)}, got {offload!r}")
    if offload != "none" and device.type == "cpu":
        raise UserError(f"--offload {offload} moves weights between the CPU and an accelerator; it needs --device cuda")


def load_pipeline(source: str | Path, *, dtype: str | None = None, device: str | None = None, offload: str = "none",
                  vae_tiling: bool = False, vae_slicing: bool = False):
    """(diffusers pipeline, family, folder, device, dtype), checked first, then loaded offline from safetensors."""
    import diffusers
    import torch

    from iva0.library_logs import quiet_libraries

    dev = pick_device(device)
    torch_dtype = pick_dtype(dtype, dev)
    check_offload(offload, dev)
    folder = resolve(source)
    family, components = check_folder(folder)
    bad = [c for c in components if c.problem]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ModelError(f"{folder}: component '{bad[0].name}' {bad[0].problem}{more}")
    try:
        with quiet_libraries(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # deprecation chatter of the libraries about each other's arguments
            cls = getattr(diffusers, family.pipeline_class)  # importing it imports transformers' image processors
            pipe = cls.from_pretrained(str(folder), torch_dtype=torch_dtype, use_safetensors=True, local_files_only=True)
    except Exception as e:  # noqa: BLE001 - the libraries raise anything here; the user gets one line
        raise ModelError(f"{folder}: could not be loaded as {family.pipeline_class}: "
                         f"{one_line(e)}") from None
    if family.kind == "wan":
        # diffusers' Wan examples keep the VAE (and CLIP image encoder) in float32: bf16 VAEs band and drift
        for part in (pipe.vae, getattr(pipe, "image_encoder", None)):
            if part is not None and part.dtype != torch.float32:
                torch.nn.Module.to(part, torch.float32)  # plain cast: nothing in them must stay in another dtype
    if vae_tiling:
        pipe.vae.enable_tiling()
    if vae_slicing:
        pipe.vae.enable_slicing()
    pipe.set_progress_bar_config(disable=True)
    if offload == "model":
        pipe.enable_model_cpu_offload(device=dev)
    elif offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=dev)
    elif offload == "group":
        pipe.enable_group_offload(onload_device=dev, offload_device=torch.device("cpu"), offload_type="leaf_level")
    else:
        pipe.to(dev)
    return pipe, family, folder, dev, torch_dtype


def is_random_weights(folder: Path) -> bool:
    try:
        return bool(json.loads((folder / "model_index.json").read_text()).get("_iva0", {}).get("random_weights"))
    except (OSError, ValueError, AttributeError, RecursionError):
        return False


@dataclass(frozen=True)
class Geometry:
    """What a folder's configs fix about sizes, read without loading any weights (as the pipelines compute it)."""

    spatial: int  # VAE spatial compression (Wan 2.1/A14B, CogVideoX 8; TI2V-5B 16)
    temporal: int  # VAE time compression (4)
    multiple: int  # sides must be multiples of this (spatial x the transformer's patch)
    native: tuple[int, int]  # (height, width) the model was made for
    fixed: bool  # CogVideoX's learned positions: the native size only


def geometry(folder: str | Path, family: Family) -> Geometry:
    folder = Path(folder)

    def config(name: str) -> dict:
        try:
            return json.loads((folder / name / "config.json").read_text())
        except (OSError, ValueError) as e:
            raise ModelError(f"{folder}: component '{name}' has no readable config.json ({one_line(e)})") from None

    vae, transformer = config("vae"), config("transformer")
    if family.kind == "cogvideox":
        spatial = 2 ** (len(vae.get("block_out_channels", [0] * 4)) - 1)
        patch = transformer.get("patch_size", 2)
        native = (transformer.get("sample_height", 60) * spatial, transformer.get("sample_width", 90) * spatial)
        return Geometry(spatial, vae.get("temporal_compression_ratio", 4), spatial * patch, native, True)
    spatial = vae.get("scale_factor_spatial", 8)
    patch = transformer.get("patch_size", [1, 2, 2])[1]
    return Geometry(spatial, vae.get("scale_factor_temporal", 4), spatial * patch, (family.height, family.width), False)


def model_size(width: int, height: int, g: Geometry) -> tuple[int, int]:
    """(width, height) for a picture: the fixed size, or the picture's aspect ratio at the native area."""
    nh, nw = g.native
    if g.fixed:
        return nw, nh
    m = g.multiple
    scale = (nh * nw / (width * height)) ** 0.5
    return max(m, int(width * scale) // m * m), max(m, int(height * scale) // m * m)
