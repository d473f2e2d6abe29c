"""Loading the models from disk into `IVA0Components`.

`load_components` reads them from a diffusers-style folder, from separate sources
(`base` SD1.x + `gligen` text-image + `motion_adapter`), or from a Hugging Face repo
id in the local cache. Every folder is checked (checks.py) before any weights load;
every problem becomes one `ModelError` line naming the component and the path.
"""

from __future__ import annotations

import functools
import json
import logging
import warnings
from pathlib import Path
from typing import Callable

import torch
from diffusers import AutoencoderKL, DDIMScheduler
from diffusers.pipelines.stable_diffusion.clip_image_project_model import CLIPImageProjection
from transformers import CLIPTextModel, CLIPTokenizer, CLIPVisionModelWithProjection

from iva0.backends.diffusion.checks import (
    TRANSFORMERS_PARTS,
    ComponentReport,
    check_component,
    check_unet_kind,
    config_path,
    is_single_file,
    read_json_file,
    require,
    safetensors_header,
)
from iva0.backends.diffusion.components import IVA0Components
from iva0.backends.diffusion.configs import (
    ADAPTERS,
    ANIMATEDIFF_SCHEDULER,
    load_tokenizer,
    make_feature_extractor,
    make_scheduler,
    model_configs_dir,
)
from iva0.backends.diffusion.hub import resolve_source
from iva0.backends.diffusion.motion_unet import gligen_feature_type
from iva0.backends.diffusion.single_file import load_single_file_base
from iva0.errors import ModelError, one_line
from iva0.library_logs import quiet_libraries

log = logging.getLogger("iva0")


def load_model(cls, report: ComponentReport, where: str, dtype: torch.dtype):
    """from_pretrained on a checked component folder; any failure becomes one ModelError line.

    PyTorch `.bin` weights (a component without safetensors) are read by the libraries
    themselves, which use torch.load(weights_only=True): tensors only, a pickle that
    asks to run code is refused. Each such file read is logged on the "iva0" logger.
    """
    safetensors = not report.pytorch_bin
    dtype_kw = {"dtype": dtype} if report.name in TRANSFORMERS_PARTS else {"torch_dtype": dtype}
    try:
        module = cls.from_pretrained(str(report.folder), use_safetensors=safetensors, local_files_only=True,
                                     variant=report.variant, **dtype_kw)
    except Exception as e:  # noqa: BLE001 - libraries raise anything from OSError to RuntimeError here
        reason = one_line(e)
        if report.pytorch_bin:  # diffusers words a refused pickle as "unable to load": say what torch.load said
            from iva0.backends.diffusion.convert import load_bin

            for weights in report.weights:
                try:
                    load_bin(weights)
                except ModelError as refused:
                    reason = str(refused)
                    break
        raise ModelError(f"{where}: component '{report.name}' could not be loaded from {report.folder}: "
                         f"{reason}") from None
    if report.pytorch_bin:
        log.warning("note: %s: read %s with torch.load(weights_only=True); `iva0 models convert %s` rewrites it as "
                    "safetensors", where, ", ".join(str(w) for w in report.weights), report.folder)
    return module


def load_scheduler(folder: Path, where: str) -> DDIMScheduler:
    """DDIM from the folder's scheduler config; another scheduler class (SD's PNDM) gets AnimateDiff's DDIM settings."""
    report = require(folder, "scheduler", where)
    config = json.loads(config_path(report.folder, "scheduler").read_text())
    if config.get("_class_name") == "DDIMScheduler":
        return DDIMScheduler.from_config(config)
    return DDIMScheduler.from_config(config, **ANIMATEDIFF_SCHEDULER)


def load_tokenizer_from(folder: Path, where: str) -> CLIPTokenizer:
    report = require(folder, "tokenizer", where)
    try:
        # a local folder, never CLIPTokenizer(vocab_file=...): transformers 5 ignores that argument
        return CLIPTokenizer.from_pretrained(str(report.folder), local_files_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"{where}: component 'tokenizer' could not be loaded from {report.folder}: {one_line(e)}") from None


def load_feature_extractor(folder: Path | None, image_size: int):
    """CLIP image preprocessing: the folder's feature_extractor/ or processor/ config, else CLIP's defaults."""
    for sub in ("feature_extractor", "processor"):
        path = folder / sub / "preprocessor_config.json" if folder else None
        if path and path.is_file():
            try:
                config = read_json_file(path)
                config = {k: v for k, v in config.items() if not k.startswith("_")}
                return make_feature_extractor(image_size, config=config)
            except (OSError, ValueError, TypeError, AttributeError) as e:
                raise ModelError(f"{path}: broken preprocessor config ({one_line(e)})") from None
    return make_feature_extractor(image_size)


def load_motion_adapter(source: Path, dtype: torch.dtype, where: str, config: str | Path | None = None):
    """A MotionAdapter from a folder (its own, or a model folder's motion_adapter/) or a single .safetensors file.

    A single file may hold AnimateDiff's original key names or diffusers' (diffusers'
    converter only renames keys); its config is `config` (a folder with config.json)
    or the shipped v1-5-2 / v1-5-3 one, told apart by the motion mid block.
    """
    from diffusers import MotionAdapter


    if is_single_file(source):
        try:
            keys = safetensors_header(source).keys()
        except (OSError, ValueError) as e:
            raise ModelError(f"{where}: {source} is not a readable safetensors file ({one_line(e)})") from None
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
            raise ModelError(f"{where}: motion adapter {source} could not be loaded: {one_line(e)}") from None
        empty = [n for n, t in adapter.named_parameters() if t.is_meta]
        if empty:  # a file for another adapter layout: never run with unfilled layers
            raise ModelError(f"{where}: {source} lacks {len(empty)} motion tensors, e.g. {empty[0]}")
        return adapter
    folder = source / "motion_adapter" if (source / "motion_adapter").is_dir() else source
    report = check_component(folder, "motion_adapter")
    if not report.present:
        raise report.error(where)
    return load_model(MotionAdapter, report, where, dtype)


def load_gligen_unet(folder: Path, where: str, dtype: torch.dtype):
    from diffusers import UNet2DConditionModel

    report = require(folder, "unet", where)
    check_unet_kind(report, where)
    unet = load_model(UNet2DConditionModel, report, where, dtype)
    if gligen_feature_type(unet) != "text-image":
        raise ModelError(f"{where}: the UNet in {report.folder} did not build GLIGEN text-image layers")
    return unet


def transplant_body(gligen_unet, body_state: dict[str, torch.Tensor], where: str) -> None:
    """Put a base model's UNet weights under GLIGEN's grounding layers (fusers + position_net stay GLIGEN's).

    GLIGEN trains its gated layers on a frozen SD1.x UNet, so they sit on any SD1.x
    fine-tune of the same architecture; the base decides the look.
    """
    result = gligen_unet.load_state_dict(body_state, strict=False)
    gligen_only = [k for k in result.missing_keys if ".fuser." not in k and not k.startswith("position_net.")]
    if gligen_only or result.unexpected_keys:
        bad = (gligen_only or result.unexpected_keys)[0]
        raise ModelError(f"{where}: the base UNet does not match the GLIGEN UNet's architecture (e.g. {bad})")



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
    base_file = base_src is not None and is_single_file(base_src)
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
        require(folder, name, where)

    done = 0

    def step() -> None:
        nonlocal done
        if progress:
            progress(done, 5, "loading models")
        done += 1

    with quiet_libraries():
        # 1. the parts that come from the base (SD1.x) side
        step()
        body_state = None
        if base_file:
            single = load_single_file_base(base_src, dtype, single_file_config)
            vae, text_encoder = single["vae"], single["text_encoder"]
            tokenizer, scheduler = load_tokenizer(), make_scheduler()
            body_state = single["unet"].state_dict()
            base_unet_report = None
        else:
            side, where = (base_src, where_base) if base_src is not None else (model_dir, where_model)
            if side is None:
                raise ModelError(f"{where_gligen}: VAE and text encoder missing; pass --base (an SD1.x model) or --model")
            vae = load_model(AutoencoderKL, require(side, "vae", where), where, dtype)
            text_encoder = load_model(CLIPTextModel, require(side, "text_encoder", where), where, dtype)
            tokenizer = load_tokenizer_from(side, where)
            scheduler = load_scheduler(side, where) if (side / "scheduler").is_dir() or side == model_dir else None
            if scheduler is None:
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
                check_unet_kind(report, where_base)  # a plain SD UNet: says to pass --gligen
            raise ModelError(f"{where_base}: no GLIGEN text-image UNet; pass --gligen FOLDER (e.g. anhnct/Gligen_Text_Image)")
        if base_unet_report is not None and base_unet_report.present:
            body = load_model(UNet2DConditionModel, base_unet_report, where_base, dtype)
            body_state = body.state_dict()
            del body
        if body_state is not None:
            transplant_body(unet2d, body_state, where_base)
            del body_state

        # 3. grounding image encoder + projection come with the GLIGEN UNet
        step()
        image_encoder = load_model(CLIPVisionModelWithProjection, require(grounding_side, "image_encoder", where_g),
                                    where_g, dtype)
        image_project = load_model(CLIPImageProjection, require(grounding_side, "image_project", where_g),
                                    where_g, dtype)

        # 4. motion modules
        step()
        if adapter_src is not None:
            adapter = load_motion_adapter(adapter_src, dtype, f"motion adapter {adapter_src}")
        elif model_dir is not None:
            adapter = load_motion_adapter(model_dir / "motion_adapter", dtype, where_model)
        else:
            raise ModelError("no motion adapter given: pass --motion-adapter (e.g. guoyww/animatediff-motion-adapter-v1-5-3)")
        check_dims(unet2d, text_encoder, image_encoder, image_project)
        step()
        try:
            unet = assemble_motion_unet(unet2d, adapter)
        except ValueError as e:  # diffusers' own compatibility checks (blocks, layers per block)
            raise ModelError(f"motion adapter does not fit the UNet: {one_line(e)}") from None
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


def check_dims(unet2d, text_encoder, image_encoder, image_project) -> None:
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

