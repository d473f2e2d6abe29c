"""The models iva0's diffusion backend runs on, and how they are found on disk.

`IVA0Components` holds them; `load_components` reads them from a diffusers-style
folder, from separate sources (`base` SD1.x + `gligen` text-image + `motion_adapter`),
or from a Hugging Face repo id in the local cache. Safetensors only; every problem
with a folder becomes one `ModelError` line naming the component and the path.

How the pipeline drives GLIGEN in the motion UNet (checked against diffusers 0.42.1):
`UNet2DConditionModel.forward` turns `cross_attention_kwargs["gligen"]` (boxes,
masks, embeddings) into grounding tokens with `self.position_net`, but
`UNetMotionModel.forward` does not. So the caller runs `position_net` itself, once
per denoising call, with one row per (batch, frame) -- `(b f)` order, frames
fastest, matching how `UNetMotionModel` flattens its sample -- and passes
`cross_attention_kwargs={"gligen": {"objs": objs}}`. `UNetMotionModel` hands
`cross_attention_kwargs` to every spatial `Transformer2DModel` (down, mid, up),
whose `BasicTransformerBlock` pops "gligen" and runs `self.fuser(hidden, objs)`
after self-attention; the motion modules never see it. `encode_grounding` below
does the `position_net` call. Leaving "gligen" out switches the fusers off
(GLIGEN's scheduled sampling after beta of the steps).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
import struct
import warnings
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch
from diffusers import AutoencoderKL, DDIMScheduler, UNetMotionModel
from diffusers.pipelines.stable_diffusion.clip_image_project_model import CLIPImageProjection
from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

from iva0.backends.diffusion.motion_unet import gligen_feature_type
from iva0.errors import ModelError

# the on-disk components of an iva0 model folder, in the order they are listed
COMPONENTS = ("unet", "motion_adapter", "vae", "text_encoder", "tokenizer", "image_encoder", "image_project", "scheduler")


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


# ====================================================================== on disk
# What makes a component present: its config file, and (for models) safetensors weights.
CONFIG_FILE = {"scheduler": "scheduler_config.json", "tokenizer": "vocab.json"}
TRANSFORMERS_PARTS = ("text_encoder", "image_encoder")
WEIGHT_STEM = {name: ("model" if name in TRANSFORMERS_PARTS else "diffusion_pytorch_model") for name in COMPONENTS}
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
HAS_WEIGHTS = tuple(c for c in COMPONENTS if c not in ("tokenizer", "scheduler"))


@dataclass
class ComponentReport:
    """What `check_component` found for one component of a folder."""

    name: str
    folder: Path
    present: bool
    problem: str = ""  # one line, empty when fine
    class_name: str = ""
    weights: list[Path] = field(default_factory=list)
    variant: str | None = None
    num_parameters: int | None = None  # from the safetensors headers, no weights read
    origin: str = ""  # which source it came from (model, base, gligen, motion adapter) when several

    def error(self, where: str) -> ModelError:
        hint = "; or pass --motion-adapter" if self.name == "motion_adapter" and "missing" in self.problem else ""
        return ModelError(f"{where}: component '{self.name}' {self.problem}{hint}")


def _config_path(folder: Path, name: str) -> Path:
    return folder / CONFIG_FILE.get(name, "config.json")


def _weight_files(folder: Path, name: str) -> tuple[list[Path], str | None]:
    """The safetensors files of a component (single, sharded, or an fp16 variant) and the variant."""
    stem = WEIGHT_STEM[name]
    for variant in (None, "fp16", "bf16"):
        infix = f".{variant}" if variant else ""
        single = folder / f"{stem}{infix}.safetensors"
        if single.is_file():
            return [single], variant
        index = folder / f"{stem}{infix}.safetensors.index.json"
        if index.is_file():
            try:
                shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
            except (ValueError, KeyError, TypeError):
                return [index], variant  # read_header reports it as broken
            return [folder / s for s in shards], variant
    return [], None


def safetensors_header(path: Path) -> dict:
    """The JSON header of a .safetensors file (names, dtypes, shapes) -- no tensor data is read."""
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError("file too short for a safetensors header")
        size = struct.unpack("<Q", head)[0]
        if size > 100_000_000 or size > path.stat().st_size - 8:
            raise ValueError("bad safetensors header length")
        header = json.loads(f.read(size))
    if not isinstance(header, dict):
        raise ValueError("safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    return header


def count_parameters(paths: list[Path]) -> int:
    total = 0
    for path in paths:
        for info in safetensors_header(path).values():
            total += math.prod(info["shape"])
    return total


def check_component(folder: str | Path, name: str, *, count: bool = False) -> ComponentReport:
    """Whether `folder` (the component's own folder, e.g. model/vae) holds a loadable component."""
    folder = Path(folder)
    report = ComponentReport(name=name, folder=folder, present=False)
    config = _config_path(folder, name)
    if name == "tokenizer" and (folder / "tokenizer.json").is_file():
        config = folder / "tokenizer.json"  # a fast tokenizer saved by transformers 5 needs no vocab.json
    if not folder.is_dir() or not config.is_file():
        report.problem = f"missing (looked for {config})"
        return report
    if name == "tokenizer":
        merges = folder / "merges.txt"
        if config.name == "vocab.json" and not merges.is_file():
            report.problem = f"incomplete (looked for {merges})"
            return report
        report.class_name = "CLIPTokenizer"
    else:
        try:
            data = json.loads(config.read_text())
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (ValueError, UnicodeDecodeError) as e:
            report.problem = f"has a broken config ({config}: {_one_line(e)})"
            return report
        report.class_name = str(data.get("_class_name") or (data.get("architectures") or [""])[0])
    if name in HAS_WEIGHTS:
        weights, variant = _weight_files(folder, name)
        if not weights:
            pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
            if pickles:
                report.problem = (f"has only pickle weights ({folder / pickles[0]}); iva0 loads .safetensors only, "
                                  "never pickles -- convert it or download the safetensors files")
            else:
                report.problem = f"has no weights (looked for {folder / (WEIGHT_STEM[name] + '.safetensors')})"
            return report
        missing = [w for w in weights if not w.is_file()]
        if missing:
            report.problem = f"is missing a weight shard (looked for {missing[0]})"
            return report
        report.weights, report.variant = weights, variant
        try:
            params = count_parameters(weights)
        except (OSError, ValueError, KeyError, TypeError) as e:
            report.problem = f"has broken weights ({weights[0]}: {_one_line(e)})"
            return report
        report.num_parameters = params if count else None
    report.present = True
    return report


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]


def _check_unet_kind(report: ComponentReport, where: str) -> None:
    """Refuse a UNet without GLIGEN text-image layers, naming the fix."""
    attention = json.loads(_config_path(report.folder, "unet").read_text()).get("attention_type", "default")
    if attention == "gated-text-image":
        return
    if attention == "gated":
        raise ModelError(
            f"{where}: the UNet in {report.folder} is a GLIGEN box-text UNet (attention_type 'gated'); iva0 needs "
            "the text-image one ('gated-text-image'), e.g. anhnct/Gligen_Text_Image -- pass it with --gligen"
        )
    raise ModelError(
        f"{where}: the UNet in {report.folder} is a plain SD UNet without GLIGEN gated-text-image layers; "
        "pass --gligen FOLDER (a GLIGEN text-image model such as anhnct/Gligen_Text_Image)"
    )


# ---------------------------------------------------------------- resolving sources
REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_source(source: str | Path, role: str, *, allow_download: bool = False) -> Path:
    """A local file/folder as is; an HF repo id from the local cache (or the Hub when `allow_download`)."""
    path = Path(source).expanduser()
    if path.exists():
        return path
    text = str(source)
    if REPO_ID.match(text) and not text.startswith((".", "/")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

        try:
            return Path(snapshot_download(
                text,
                local_files_only=not allow_download,
                # never fetch pickles, whatever the repo holds
                allow_patterns=["*.json", "*.txt", "*.safetensors", "*.safetensors.index.json"],
            ))
        except (LocalEntryNotFoundError, FileNotFoundError):
            hint = "download it first (huggingface-cli download " + text + ")" if not allow_download else "check the name"
            raise ModelError(f"{role} {text}: not a local path and not in the Hugging Face cache; {hint}") from None
        except (HFValidationError, OSError, ValueError) as e:
            raise ModelError(f"{role} {text}: {_one_line(e)}") from None
    raise ModelError(f"{role} {text}: no such file or folder")


def _require(folder: Path, name: str, where: str) -> ComponentReport:
    report = check_component(folder / name, name)
    if not report.present:
        raise report.error(where)
    return report


def _is_single_file(path: Path) -> bool:
    if path.is_file():
        if path.suffix in PICKLE_SUFFIXES:
            raise ModelError(f"{path}: a pickle checkpoint; iva0 loads .safetensors only, never pickles")
        if path.suffix != ".safetensors":
            raise ModelError(f"{path}: not a .safetensors checkpoint or a model folder")
        return True
    return False


# ---------------------------------------------------------------- loading parts
@contextlib.contextmanager
def _quiet_libraries():
    """Silence the libraries' per-file progress bars and info chatter while we load."""
    import diffusers.utils.logging as dlog
    import transformers.utils.logging as tlog

    levels = (dlog.get_verbosity(), tlog.get_verbosity())
    bars = (dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled())
    dlog.set_verbosity_error()
    tlog.set_verbosity_error()
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        dlog.set_verbosity(levels[0])
        tlog.set_verbosity(levels[1])
        if bars[0]:
            dlog.enable_progress_bar()
        if bars[1]:
            tlog.enable_progress_bar()


def _load_model(cls, report: ComponentReport, where: str, dtype: torch.dtype):
    """from_pretrained on a checked component folder; any failure becomes one ModelError line."""
    try:
        if report.name in TRANSFORMERS_PARTS:
            return cls.from_pretrained(str(report.folder), dtype=dtype, use_safetensors=True, local_files_only=True,
                                       variant=report.variant)
        return cls.from_pretrained(str(report.folder), torch_dtype=dtype, use_safetensors=True, local_files_only=True,
                                   variant=report.variant)
    except Exception as e:  # noqa: BLE001 - libraries raise anything from OSError to RuntimeError here
        raise ModelError(f"{where}: component '{report.name}' could not be loaded from {report.folder}: "
                         f"{_one_line(e)}") from None


def load_scheduler(folder: Path, where: str) -> DDIMScheduler:
    """DDIM from the folder's scheduler config; another scheduler class (SD's PNDM) gets AnimateDiff's DDIM settings."""
    from iva0.backends.diffusion.tiny import ANIMATEDIFF_SCHEDULER

    report = _require(folder, "scheduler", where)
    config = json.loads(_config_path(report.folder, "scheduler").read_text())
    if config.get("_class_name") == "DDIMScheduler":
        return DDIMScheduler.from_config(config)
    return DDIMScheduler.from_config(config, **ANIMATEDIFF_SCHEDULER)


def load_tokenizer_from(folder: Path, where: str) -> CLIPTokenizer:
    report = _require(folder, "tokenizer", where)
    try:
        # a local folder, never CLIPTokenizer(vocab_file=...): transformers 5 ignores that argument
        return CLIPTokenizer.from_pretrained(str(report.folder), local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{where}: component 'tokenizer' could not be loaded from {report.folder}: {_one_line(e)}") from None


def load_feature_extractor(folder: Path | None, image_size: int):
    """CLIP image preprocessing: the folder's feature_extractor/ or processor/ config, else CLIP's defaults."""
    from iva0.backends.diffusion.tiny import make_feature_extractor

    for sub in ("feature_extractor", "processor"):
        path = folder / sub / "preprocessor_config.json" if folder else None
        if path and path.is_file():
            try:
                config = json.loads(path.read_text())
                config = {k: v for k, v in config.items() if not k.startswith("_")}
                return make_feature_extractor(image_size, config=config)
            except (ValueError, TypeError) as e:
                raise ModelError(f"{path}: broken preprocessor config ({_one_line(e)})") from None
    return make_feature_extractor(image_size)


def load_motion_adapter(source: Path, dtype: torch.dtype, where: str, config: str | Path | None = None):
    """A MotionAdapter from a folder (its own, or a model folder's motion_adapter/) or a single .safetensors file.

    A single file may hold AnimateDiff's original key names or diffusers' (diffusers'
    converter only renames keys); its config is `config` (a folder with config.json)
    or the shipped v1-5-2 / v1-5-3 one, told apart by the motion mid block.
    """
    from diffusers import MotionAdapter

    from iva0.backends.diffusion.tiny import ADAPTERS, model_configs_dir

    if _is_single_file(source):
        try:
            keys = safetensors_header(source).keys()
        except (OSError, ValueError) as e:
            raise ModelError(f"{where}: {source} is not a readable safetensors file ({_one_line(e)})") from None
        if not any(".motion_modules." in k for k in keys):
            raise ModelError(f"{where}: {source} holds no AnimateDiff motion modules")
        if config is None:
            version = "v1-5-2" if any(k.startswith("mid_block.motion_modules.") for k in keys) else "v1-5-3"
            config = model_configs_dir() / ADAPTERS[version]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # v1-5-2's config carries 3 keys diffusers ignores, by design
                adapter = MotionAdapter.from_single_file(str(source), config=str(config), torch_dtype=dtype,
                                                         local_files_only=True)
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"{where}: motion adapter {source} could not be loaded: {_one_line(e)}") from None
        empty = [n for n, t in adapter.named_parameters() if t.is_meta]
        if empty:  # a file for another adapter layout: never run with unfilled layers
            raise ModelError(f"{where}: {source} lacks {len(empty)} motion tensors, e.g. {empty[0]}")
        return adapter
    folder = source / "motion_adapter" if (source / "motion_adapter").is_dir() else source
    report = check_component(folder, "motion_adapter")
    if not report.present:
        raise report.error(where)
    return _load_model(MotionAdapter, report, where, dtype)


def load_gligen_unet(folder: Path, where: str, dtype: torch.dtype):
    from diffusers import UNet2DConditionModel

    report = _require(folder, "unet", where)
    _check_unet_kind(report, where)
    unet = _load_model(UNet2DConditionModel, report, where, dtype)
    if gligen_feature_type(unet) != "text-image":
        raise ModelError(f"{where}: the UNet in {report.folder} did not build GLIGEN text-image layers")
    return unet


def _transplant_body(gligen_unet, body_state: dict[str, torch.Tensor], where: str) -> None:
    """Put a base model's UNet weights under GLIGEN's grounding layers (fusers + position_net stay GLIGEN's).

    GLIGEN trains its gated layers on a frozen SD1.x UNet, so they sit on any SD1.x
    fine-tune of the same architecture; the base decides the look.
    """
    result = gligen_unet.load_state_dict(body_state, strict=False)
    gligen_only = [k for k in result.missing_keys if ".fuser." not in k and not k.startswith("position_net.")]
    if gligen_only or result.unexpected_keys:
        bad = (gligen_only or result.unexpected_keys)[0]
        raise ModelError(f"{where}: the base UNet does not match the GLIGEN UNet's architecture (e.g. {bad})")


# ---------------------------------------------------------------- single-file base checkpoints
def load_single_file_base(path: Path, dtype: torch.dtype, config: str | Path | None = None) -> dict:
    """UNet, VAE and CLIP text encoder from one SD1.x .safetensors checkpoint (original LDM key names).

    Configs come from `config` (a diffusers folder with unet/, vae/, text_encoder/) or
    the shipped SD1.5 ones, so nothing is fetched; the tokenizer and scheduler are SD1.5's.
    """
    from diffusers import UNet2DConditionModel
    from diffusers.loaders.single_file_utils import create_diffusers_clip_model_from_ldm, load_single_file_checkpoint

    from iva0.backends.diffusion.tiny import SD15, model_configs_dir

    config = Path(config) if config else model_configs_dir() / SD15
    where = f"base checkpoint {path}"
    try:
        checkpoint = load_single_file_checkpoint(str(path), local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{where}: not a readable safetensors checkpoint ({_one_line(e)})") from None
    parts = {}
    for name, cls in (("unet", UNet2DConditionModel), ("vae", AutoencoderKL)):
        try:
            # the checkpoint dict, read once, serves all three parts
            parts[name] = cls.from_single_file(checkpoint, config=str(config), subfolder=name, torch_dtype=dtype,
                                               local_files_only=True)
        except Exception as e:  # noqa: BLE001
            raise ModelError(f"{where}: no SD1.x {name} in it ({_one_line(e)})") from None
    try:
        parts["text_encoder"] = create_diffusers_clip_model_from_ldm(
            CLIPTextModel, checkpoint, subfolder="text_encoder", config=str(config), torch_dtype=dtype,
            local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{where}: no SD1.x CLIP text encoder in it ({_one_line(e)})") from None
    for name, module in parts.items():
        # diffusers fills the text encoder non-strictly: a tensor the file lacks would stay unallocated
        empty = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t.is_meta]
        if empty:
            raise ModelError(f"{where}: its {name} lacks {len(empty)} tensors, e.g. {empty[0]}")
    return parts


# ---------------------------------------------------------------- load_components
def load_components(
    model: str | Path | None = None,
    *,
    base: str | Path | None = None,
    gligen: str | Path | None = None,
    motion_adapter: str | Path | None = None,
    torch_dtype: torch.dtype = torch.float32,
    allow_download: bool = False,
    single_file_config: str | Path | None = None,
    progress: Callable[[int, int, str], None] | None = None,
) -> IVA0Components:
    """Load the models from one iva0 folder, or assemble them from separate sources.

    model: an iva0 model folder (the layout `iva0 tiny-models` writes) or an HF repo id
        of one; every component comes from it unless a source below replaces it.
    base: an SD1.x diffusers folder / repo id, or a single-file `.safetensors`
        checkpoint: VAE, CLIP text encoder, tokenizer, scheduler, and the UNet's body.
    gligen: a GLIGEN text-image folder / repo id (like anhnct/Gligen_Text_Image):
        the UNet with its gated layers, image_encoder, image_project. With `base`,
        the UNet's weights are the base's and only the grounding layers are GLIGEN's.
    motion_adapter: an AnimateDiff MotionAdapter folder / repo id, or a single file.
    Repo ids are read from the local HF cache only, unless `allow_download`.
    `progress(done, total, "loading models")` is called as the parts load.
    Raises ModelError (one line: which component, where it was looked for).
    """
    from diffusers import UNet2DConditionModel

    from iva0.backends.diffusion.motion_unet import assemble_motion_unet

    if model is None and base is None and gligen is None:
        raise ModelError("no model given: pass --model FOLDER, or --base, --gligen and --motion-adapter")
    dtype = torch_dtype
    resolve = functools.partial(resolve_source, allow_download=allow_download)
    model_dir = resolve(model, "model") if model is not None else None
    base_src = resolve(base, "base model") if base is not None else None
    gligen_dir = resolve(gligen, "GLIGEN model") if gligen is not None else None
    adapter_src = resolve(motion_adapter, "motion adapter") if motion_adapter is not None else None
    if model_dir is not None and not model_dir.is_dir():
        raise ModelError(f"model {model_dir}: not a folder (a single-file checkpoint goes to --base)")
    if gligen_dir is not None and not gligen_dir.is_dir():
        raise ModelError(f"GLIGEN model {gligen_dir}: not a folder (expected unet/, image_encoder/, image_project/)")
    where_model = f"model folder {model_dir}"
    base_file = base_src is not None and _is_single_file(base_src)
    where_base = f"base model {base_src}"
    where_gligen = f"GLIGEN model {gligen_dir}"

    # check every folder component up front: a missing VAE should not wait for a 4 GB UNet to load
    side = base_src if base_src is not None and not base_file else model_dir
    where_side = where_base if side is base_src else where_model
    needs = []
    if side is not None:
        needs += [(side, n, where_side) for n in ("vae", "text_encoder", "tokenizer")]
    grounding = gligen_dir if gligen_dir is not None else model_dir
    where_grounding = where_gligen if gligen_dir is not None else where_model
    if grounding is not None:
        needs += [(grounding, n, where_grounding) for n in ("unet", "image_encoder", "image_project")]
    if model_dir is not None and adapter_src is None:
        needs.append((model_dir, "motion_adapter", where_model))
    if model_dir is not None:
        needs.append((model_dir, "scheduler", where_model))
    for folder, name, where in needs:
        _require(folder, name, where)

    done = 0

    def step() -> None:
        nonlocal done
        if progress:
            progress(done, 5, "loading models")
        done += 1

    with _quiet_libraries():
        # 1. the parts that come from the base (SD1.x) side
        step()
        body_state = None
        if base_file:
            single = load_single_file_base(base_src, dtype, single_file_config)
            vae, text_encoder = single["vae"], single["text_encoder"]
            from iva0.backends.diffusion.tiny import load_tokenizer, make_scheduler

            tokenizer, scheduler = load_tokenizer(), make_scheduler()
            body_state = single["unet"].state_dict()
            base_unet_report = None
        else:
            side, where = (base_src, where_base) if base_src is not None else (model_dir, where_model)
            if side is None:
                raise ModelError(f"{where_gligen}: VAE and text encoder missing; pass --base (an SD1.x model) or --model")
            vae = _load_model(AutoencoderKL, _require(side, "vae", where), where, dtype)
            text_encoder = _load_model(CLIPTextModel, _require(side, "text_encoder", where), where, dtype)
            tokenizer = load_tokenizer_from(side, where)
            scheduler = load_scheduler(side, where) if (side / "scheduler").is_dir() or side == model_dir else None
            if scheduler is None:
                from iva0.backends.diffusion.tiny import make_scheduler

                scheduler = make_scheduler()
            base_unet_report = check_component(base_src / "unet", "unet") if base_src is not None else None

        # 2. the UNet: GLIGEN's (with the base's body when a base UNet is given)
        step()
        if gligen_dir is not None:
            unet2d = load_gligen_unet(gligen_dir, where_gligen, dtype)
            grounding_side, where_g = gligen_dir, where_gligen
        elif model_dir is not None:
            unet2d = load_gligen_unet(model_dir, where_model, dtype)
            grounding_side, where_g = model_dir, where_model
        else:
            report = check_component(base_src / "unet", "unet")
            if report.present:
                _check_unet_kind(report, where_base)  # a plain SD UNet: says to pass --gligen
            raise ModelError(f"{where_base}: no GLIGEN text-image UNet; pass --gligen FOLDER (e.g. anhnct/Gligen_Text_Image)")
        if base_unet_report is not None and base_unet_report.present:
            body = _load_model(UNet2DConditionModel, base_unet_report, where_base, dtype)
            body_state = body.state_dict()
            del body
        if body_state is not None:
            _transplant_body(unet2d, body_state, where_base)
            del body_state

        # 3. grounding image encoder + projection come with the GLIGEN UNet
        step()
        image_encoder = _load_model(CLIPVisionModelWithProjection, _require(grounding_side, "image_encoder", where_g),
                                    where_g, dtype)
        image_project = _load_model(CLIPImageProjection, _require(grounding_side, "image_project", where_g),
                                    where_g, dtype)

        # 4. motion modules
        step()
        if adapter_src is not None:
            adapter = load_motion_adapter(adapter_src, dtype, f"motion adapter {adapter_src}")
        elif model_dir is not None:
            adapter = load_motion_adapter(model_dir / "motion_adapter", dtype, where_model)
        else:
            raise ModelError("no motion adapter given: pass --motion-adapter (e.g. guoyww/animatediff-motion-adapter-v1-5-3)")
        _check_dims(unet2d, text_encoder, image_encoder, image_project)
        step()
        try:
            unet = assemble_motion_unet(unet2d, adapter)
        except ValueError as e:  # diffusers' own compatibility checks (blocks, layers per block)
            raise ModelError(f"motion adapter does not fit the UNet: {_one_line(e)}") from None
    feature_extractor = load_feature_extractor(gligen_dir or model_dir, image_encoder.config.image_size)
    if progress:
        progress(5, 5, "loading models")
    sources = [f"{k}={v}" for k, v in (("model", model_dir), ("base", base_src), ("gligen", gligen_dir),
                                        ("motion_adapter", adapter_src)) if v is not None]
    return IVA0Components(
        unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, image_encoder=image_encoder,
        image_project=image_project, scheduler=scheduler, feature_extractor=feature_extractor,
        source=", ".join(sources),
    ).eval()


def _check_dims(unet2d, text_encoder, image_encoder, image_project) -> None:
    """The widths that must agree across separately kept parts, checked up front with a clear message."""
    cross = unet2d.config.cross_attention_dim
    widths = {
        "text encoder hidden size": text_encoder.config.hidden_size,
        "image encoder projection": image_encoder.config.projection_dim,
        "image projection": image_project.config.hidden_size,
    }
    for what, width in widths.items():
        if width != cross:
            raise ModelError(f"the parts do not fit together: UNet cross-attention width {cross} but {what} {width}")


# ---------------------------------------------------------------- checking a folder
@dataclass
class ModelReport:
    """`check_model`'s answer: one ComponentReport per component, in loading order."""

    folder: Path | None  # the model folder, None when only separate sources were checked
    components: list[ComponentReport]
    random_weights: bool = False  # a folder written by `iva0 tiny-models`

    @property
    def ok(self) -> bool:
        return all(c.present for c in self.components)

    @property
    def problems(self) -> list[str]:
        return [f"{c.origin + ': ' if c.origin else ''}component '{c.name}' {c.problem}"
                for c in self.components if c.problem]


def _unet_kind_problem(report: ComponentReport) -> None:
    """Mark a present UNet without GLIGEN text-image layers as a problem (check_model, not load)."""
    if report.present:
        try:
            _check_unet_kind(report, "x")
        except ModelError as e:
            # "x: the UNet in F is a plain SD UNet ...; pass --gligen ..." -> "is a plain SD UNet ... (F); pass ..."
            text = str(e).split(": ", 1)[1].replace(f"the UNet in {report.folder} ", "")
            head, _, hint = text.partition("; ")
            report.present, report.problem = False, f"{head} ({report.folder}){'; ' + hint if hint else ''}"


def _check_single_file(path: Path, name: str, want_prefixes: tuple[str, ...]) -> ComponentReport:
    report = ComponentReport(name=name, folder=path.parent, present=False, class_name="single file")
    try:
        _is_single_file(path)
        keys = list(safetensors_header(path))
        report.num_parameters = count_parameters([path])
    except (ModelError, OSError, ValueError, KeyError, TypeError) as e:
        report.problem = f"is not usable ({_one_line(e)})"
        return report
    lacking = [p for p in want_prefixes if not any(k.startswith(p) or p in k for k in keys)]
    if lacking:
        report.problem = f"lacks {lacking[0]}* tensors ({path})"
        return report
    report.present, report.weights = True, [path]
    return report


def check_model(
    path: str | Path | None = None,
    *,
    base: str | Path | None = None,
    gligen: str | Path | None = None,
    motion_adapter: str | Path | None = None,
    allow_download: bool = False,
) -> ModelReport:
    """What the given model sources hold, without loading weights (sizes from the safetensors headers).

    Takes the same sources as `load_components`; a component a source replaces is
    not required from the model folder.
    """
    if path is None and base is None and gligen is None and motion_adapter is None:
        raise ModelError("nothing to check: give a model folder, or --base / --gligen / --motion-adapter")
    resolve = functools.partial(resolve_source, allow_download=allow_download)
    folder = resolve(path, "model") if path is not None else None
    if folder is not None and not folder.is_dir():
        raise ModelError(f"model {folder}: not a folder")
    replaced: set[str] = set()
    reports: list[ComponentReport] = []

    def add(origin: str, report: ComponentReport) -> None:
        report.origin = origin
        reports.append(report)

    if base is not None:
        src = resolve(base, "base model")
        if src.is_file():
            add("base", _check_single_file(src, "base checkpoint",
                                           ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.")))
        else:
            for name in ("vae", "text_encoder", "tokenizer"):
                add("base", check_component(src / name, name, count=True))
            if (src / "unet").is_dir():  # optional: the UNet body under GLIGEN's layers
                add("base", check_component(src / "unet", "unet", count=True))
            if (src / "scheduler").is_dir():
                add("base", check_component(src / "scheduler", "scheduler"))
        replaced |= {"vae", "text_encoder", "tokenizer", "scheduler"}
    if gligen is not None:
        src = resolve(gligen, "GLIGEN model")
        for name in ("unet", "image_encoder", "image_project"):
            report = check_component(src / name, name, count=True)
            if name == "unet":
                _unet_kind_problem(report)
            add("gligen", report)
        replaced |= {"unet", "image_encoder", "image_project"}
    if motion_adapter is not None:
        src = resolve(motion_adapter, "motion adapter")
        if src.is_file():
            add("motion adapter", _check_single_file(src, "motion_adapter", (".motion_modules.",)))
        else:
            sub = src / "motion_adapter" if (src / "motion_adapter").is_dir() else src
            add("motion adapter", check_component(sub, "motion_adapter", count=True))
        replaced.add("motion_adapter")
    if folder is not None:
        for name in COMPONENTS:
            if name not in replaced:
                report = check_component(folder / name, name, count=True)
                if name == "unet":
                    _unet_kind_problem(report)
                add("model" if len(replaced) else "", report)
    else:  # no model folder: what no source supplies is missing
        for name, needs in (("vae", "--base (an SD1.x model)"), ("unet", "--gligen (a GLIGEN text-image model)"),
                            ("motion_adapter", "--motion-adapter")):
            if name not in replaced:
                reports.append(ComponentReport(name=name, folder=Path("."), present=False,
                                               problem=f"missing: no source for it; pass {needs}"))
    random_weights = False
    index = folder / "model_index.json" if folder else None
    if index is not None and index.is_file():
        with contextlib.suppress(ValueError, AttributeError, TypeError):
            random_weights = bool(json.loads(index.read_text()).get("_iva0", {}).get("random_weights"))
    return ModelReport(folder=folder, components=reports, random_weights=random_weights)
