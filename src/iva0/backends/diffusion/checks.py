"""What a model folder holds, read from its config files and safetensors headers only.

No torch import here: `iva0 models check` answers in well under a second, and a
missing folder is reported before any library loads. Every problem becomes one
line naming the component and the path.

`check` and the loaders apply the same rules, from the same functions (`check_component` here, `check_folder` in
ttm/loading.py): a config or safetensors header is read within a size and nesting limit (`read_json_file`,
`safetensors_header`), every tensor's bytes must lie inside its file with the size its dtype and shape say (a header
cannot claim more parameters than the file holds), and a component must declare the class iva0 loads it as
(`class_problem`): never a name that points at other code, such as `os.system`.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

from iva0.backends.diffusion.hub import resolve_source
from iva0.errors import ModelError, one_line

# the on-disk components of an iva0 model folder, in the order they are listed
COMPONENTS = ("unet", "motion_adapter", "vae", "text_encoder", "tokenizer", "image_encoder", "image_project", "scheduler")
# What makes a component present: its config file, and (for models) weights: safetensors, or failing
# that the PyTorch `.bin` file diffusers / transformers name it, read as they do with
# torch.load(weights_only=True) -- tensors only, no code runs (`iva0 models convert` rewrites it)
CONFIG_FILE = {"scheduler": "scheduler_config.json", "tokenizer": "vocab.json"}
TRANSFORMERS_PARTS = ("text_encoder", "image_encoder")
WEIGHT_STEM = {name: ("model" if name in TRANSFORMERS_PARTS else "diffusion_pytorch_model") for name in COMPONENTS}
BIN_STEM = {name: ("pytorch_model" if name in TRANSFORMERS_PARTS else "diffusion_pytorch_model") for name in COMPONENTS}
PICKLE_SUFFIXES = (".bin", ".ckpt", ".pt", ".pth", ".pkl")
HAS_WEIGHTS = tuple(c for c in COMPONENTS if c not in ("tokenizer", "scheduler"))
# the class each component is loaded as (loading.py); a config that declares another is refused, not loaded as this
EXPECTED_CLASS = {"unet": "UNet2DConditionModel", "motion_adapter": "MotionAdapter", "vae": "AutoencoderKL",
                  "image_project": "CLIPImageProjection"}
MAX_CONFIG_BYTES = 16 * 2**20  # a config.json, model_index.json or weight index
MAX_HEADER_BYTES = 100_000_000  # a safetensors header (the format's own limit)
# bytes per element of the safetensors dtypes (a dtype not listed is checked for its place in the file only)
DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U64": 8, "U32": 4,
               "U16": 2, "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E8M0": 1}


def loads(text: str | bytes):
    """json.loads with the nesting and number limits as one ValueError (a RecursionError is no traceback)."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def read_json_file(path: Path, max_bytes: int = MAX_CONFIG_BYTES):
    """A config file's JSON, read within `max_bytes`; ValueError (one line) when too large, not UTF-8 or broken."""
    with open(path, "rb") as f:
        data = f.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ValueError(f"larger than {max_bytes // 2**20} MB")
    return loads(data)


def class_problem(name: str, class_name: str) -> str:
    """Why a component's declared class is not what iva0 loads it as ("" when fine; an absent class is fine)."""
    if not class_name:
        return ""
    shown = json.dumps(class_name[:80])
    if not class_name.isidentifier():
        return f"declares class {shown}, not a class name; iva0 loads only diffusers and transformers classes"
    want = EXPECTED_CLASS.get(name)
    if want and class_name != want:
        return f"declares class {shown}; iva0 loads it as {want}"
    if name in TRANSFORMERS_PARTS and not class_name.startswith("CLIP"):
        return f"declares class {shown}; iva0 loads a CLIP model here"
    if name == "scheduler" and not class_name.endswith("Scheduler"):
        return f"declares class {shown}, not a diffusers scheduler"
    return ""


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
    num_parameters: int | None = None  # from the safetensors headers, no weights read (None for .bin)
    pytorch_bin: bool = False  # weights are PyTorch .bin files (torch.load(weights_only=True)), not safetensors
    origin: str = ""  # which source it came from (model, base, gligen, motion adapter) when several

    def error(self, where: str) -> ModelError:
        hint = "; or pass --motion-adapter" if self.name == "motion_adapter" and "missing" in self.problem else ""
        return ModelError(f"{where}: component '{self.name}' {self.problem}{hint}")


def config_path(folder: Path, name: str) -> Path:
    return folder / CONFIG_FILE.get(name, "config.json")


def weight_files(folder: Path, name: str, suffix: str = ".safetensors") -> tuple[list[Path], str | None]:
    """The weight files of a component (single, sharded, or an fp16 variant) and the variant.

    suffix ".safetensors" (preferred) or ".bin" (the PyTorch files diffusers and
    transformers wrote before safetensors, named `BIN_STEM`).
    """
    stem = WEIGHT_STEM[name] if suffix == ".safetensors" else BIN_STEM[name]
    for variant in (None, "fp16", "bf16"):
        infix = f".{variant}" if variant else ""
        single = folder / f"{stem}{infix}{suffix}"
        if single.is_file():
            return [single], variant
        index = folder / f"{stem}{infix}{suffix}.index.json"
        if index.is_file():
            try:
                shards = sorted(set(read_json_file(index)["weight_map"].values()))
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                return [index], variant  # read_header reports it as broken
            return [folder / s for s in shards], variant
    return [], None


def safetensors_header(path: Path) -> dict:
    """The JSON header of a .safetensors file (names, dtypes, shapes) -- no tensor data is read -- checked against
    the file: every tensor's data lies inside it, with the size its dtype and shape say. ValueError (one line)."""
    file_size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError("file too short for a safetensors header")
        size = struct.unpack("<Q", head)[0]
        if size > MAX_HEADER_BYTES or size > file_size - 8:
            raise ValueError("bad safetensors header length")
        header = loads(f.read(size))
    if not isinstance(header, dict):
        raise ValueError("safetensors header is not a JSON object")
    header.pop("__metadata__", None)
    data_bytes = file_size - 8 - size
    for name, info in header.items():
        _check_tensor(str(name)[:80], info, data_bytes)
    return header


def _check_tensor(name: str, info, data_bytes: int) -> None:
    shown = json.dumps(name)
    if not isinstance(info, dict):
        raise ValueError(f"tensor {shown}: not a JSON object")
    shape, offsets, dtype = info.get("shape"), info.get("data_offsets"), info.get("dtype")
    if not isinstance(shape, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise ValueError(f"tensor {shown}: shape is not a list of sizes")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) for n in offsets) or not 0 <= offsets[0] <= offsets[1]):
        raise ValueError(f"tensor {shown}: data_offsets is not [begin, end]")
    if offsets[1] > data_bytes:
        raise ValueError(f"tensor {shown}: its data runs past the end of the file ({offsets[1]:,} bytes > {data_bytes:,})")
    per = DTYPE_BYTES.get(dtype) if isinstance(dtype, str) else None
    if per is not None and math.prod(shape) * per != offsets[1] - offsets[0]:
        raise ValueError(f"tensor {shown}: {dtype} {shape} needs {math.prod(shape) * per:,} bytes, the file gives it "
                         f"{offsets[1] - offsets[0]:,}")


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
    config = config_path(folder, name)
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
            data = read_json_file(config)
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError, UnicodeDecodeError) as e:
            report.problem = f"has a broken config ({config}: {one_line(e)})"
            return report
        architectures = data.get("architectures")
        first = architectures[0] if isinstance(architectures, list) and architectures else ""
        report.class_name = str(data.get("_class_name") or first or "")
        problem = class_problem(name, report.class_name)
        if problem:
            report.problem = f"{problem} ({config})"
            return report
    if name in HAS_WEIGHTS:
        weights, variant = weight_files(folder, name)
        if not weights:
            weights, variant = weight_files(folder, name, ".bin")
            report.pytorch_bin = bool(weights)
        if not weights:
            pickles = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
            if pickles:
                report.problem = (f"has only pickle weights ({folder / pickles[0]}); iva0 loads .safetensors, or "
                                  f"{BIN_STEM[name]}.bin with torch.load(weights_only=True), never other pickles -- "
                                  "download the safetensors files")
            else:
                report.problem = f"has no weights (looked for {folder / (WEIGHT_STEM[name] + '.safetensors')})"
            return report
        missing = [w for w in weights if not w.is_file()]
        if missing:
            report.problem = f"is missing a weight shard (looked for {missing[0]})"
            return report
        report.weights, report.variant = weights, variant
        if report.pytorch_bin:  # no header to read without unpickling: counted when loaded
            report.present = True
            return report
        try:
            params = count_parameters(weights)
        except (OSError, ValueError, KeyError, TypeError) as e:
            report.problem = f"has broken weights ({weights[0]}: {one_line(e)})"
            return report
        report.num_parameters = params if count else None
    report.present = True
    return report



def check_unet_kind(report: ComponentReport, where: str) -> None:
    """Refuse a UNet without GLIGEN text-image layers, naming the fix."""
    attention = json.loads(config_path(report.folder, "unet").read_text()).get("attention_type", "default")
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


def require(folder: Path, name: str, where: str) -> ComponentReport:
    report = check_component(folder / name, name)
    if not report.present:
        raise report.error(where)
    return report


def is_single_file(path: Path) -> bool:
    if path.is_file():
        if path.suffix in PICKLE_SUFFIXES:
            raise ModelError(f"{path}: a pickle checkpoint; iva0 loads .safetensors only, never pickles")
        if path.suffix != ".safetensors":
            raise ModelError(f"{path}: not a .safetensors checkpoint or a model folder")
        return True
    return False


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
            check_unet_kind(report, "x")
        except ModelError as e:
            # "x: the UNet in F is a plain SD UNet ...; pass --gligen ..." -> "is a plain SD UNet ... (F); pass ..."
            text = str(e).split(": ", 1)[1].replace(f"the UNet in {report.folder} ", "")
            head, _, hint = text.partition("; ")
            report.present, report.problem = False, f"{head} ({report.folder}){'; ' + hint if hint else ''}"


def _check_single_file(path: Path, name: str, want_prefixes: tuple[str, ...]) -> ComponentReport:
    report = ComponentReport(name=name, folder=path.parent, present=False, class_name="single file")
    try:
        is_single_file(path)
        keys = list(safetensors_header(path))
        report.num_parameters = count_parameters([path])
    except (ModelError, OSError, ValueError, KeyError, TypeError) as e:
        report.problem = f"is not usable ({one_line(e)})"
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
        with contextlib.suppress(OSError, ValueError, AttributeError, TypeError):
            random_weights = bool(read_json_file(index).get("_iva0", {}).get("random_weights"))
    return ModelReport(folder=folder, components=reports, random_weights=random_weights)
