"""`iva0 models convert DIR`: rewrite a model's PyTorch `.bin` weights as safetensors, once.

Reads each file the way diffusers and transformers do, with
torch.load(weights_only=True) (tensors and plain containers only: a pickle that
asks to run code is refused, and stays refused here), and writes the
safetensors file the libraries look for first, under a temporary name renamed
at the end. The `.bin` files are never touched or deleted. Sharded weights get
their shards first and their index last, so a half-finished conversion is never
taken for a complete one.
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from iva0.errors import ModelError, one_line, torch_load_reason

# the names diffusers / transformers give PyTorch weights, and the safetensors name that replaces each
_SINGLE = re.compile(r"^(diffusion_pytorch_model|pytorch_model)((?:\.fp16|\.bf16)?)\.bin$")
_INDEX = re.compile(r"^(diffusion_pytorch_model|pytorch_model)((?:\.fp16|\.bf16)?)\.bin\.index\.json$")


def safetensors_name(bin_name: str) -> str:
    """pytorch_model[-00001-of-00002][.fp16].bin -> model[...].safetensors; diffusion_pytorch_model keeps its stem."""
    stem = bin_name.removesuffix(".bin")
    if stem.startswith("pytorch_model"):
        stem = "model" + stem.removeprefix("pytorch_model")
    return stem + ".safetensors"


@dataclass
class Conversion:
    source: Path  # the .bin file (or .bin index)
    target: Path  # the .safetensors file (or index) written
    tensors: int = 0
    done: bool = False  # False: the target already existed, nothing written


def plan(folder: str | Path) -> list[Conversion]:
    """What `convert` would write for `folder` and its component subfolders (one level), in order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: no such folder")
    out: list[Conversion] = []
    for sub in [folder, *sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))]:
        for path in sorted(sub.iterdir()):
            if _SINGLE.match(path.name):
                out.append(Conversion(path, sub / safetensors_name(path.name)))
            elif _INDEX.match(path.name):
                try:
                    shards = sorted(set(json.loads(path.read_text())["weight_map"].values()))
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    raise ModelError(f"{path}: not a weight index ({one_line(e)})") from None
                out += [Conversion(sub / s, sub / safetensors_name(s)) for s in shards]
                index_target = sub / (safetensors_name(path.name.removesuffix(".index.json")) + ".index.json")
                out.append(Conversion(path, index_target))  # the index last
    return out


def load_bin(path: Path) -> dict:
    """A .bin state dict via torch.load(weights_only=True), as diffusers' `load_state_dict` reads it."""
    import torch

    if not path.is_file():
        raise ModelError(f"{path}: missing (named by the weight index)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as e:  # noqa: BLE001 - UnpicklingError for refused pickles, RuntimeError for broken files
        raise ModelError(f"{path}: refused by torch.load(weights_only=True) ({torch_load_reason(e)})") from None
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ModelError(f"{path}: not a state dict of named tensors")
    return state


def _write_safetensors(state: dict, target: Path) -> None:
    from safetensors.torch import save_file

    from iva0.io.atomic import atomic_path

    seen: set[int] = set()
    tensors = {}
    for name, tensor in state.items():
        t = tensor.contiguous()
        storage = t.untyped_storage()
        # safetensors stores no shared memory (tied weights, views): give such a name its own copy
        shared = storage.data_ptr() in seen or storage.nbytes() != t.nbytes
        tensors[name] = t.clone() if shared else t
        seen.add(storage.data_ptr())
    with atomic_path(target) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt"})  # transformers reads "pt"-format files only


def convert(folder: str | Path, progress=None) -> list[Conversion]:
    """Write the safetensors twin of every .bin weight file in `folder` (and its subfolders); returns what was done."""
    from iva0.io.atomic import atomic_write_text

    steps = plan(folder)
    for i, step in enumerate(steps):
        if progress:
            progress(i, len(steps), "converting")
        if step.target.exists():
            continue  # converted before (or shipped both): never overwrite
        if step.source.name.endswith(".index.json"):
            index = json.loads(step.source.read_text())
            index["weight_map"] = {k: safetensors_name(v) for k, v in index["weight_map"].items()}
            atomic_write_text(step.target, json.dumps(index, indent=2) + "\n")
            step.tensors = len(index["weight_map"])
        else:
            state = load_bin(step.source)
            _write_safetensors(state, step.target)
            step.tensors = len(state)
        step.done = True
    if progress:
        progress(len(steps), len(steps), "converting")
    return steps
