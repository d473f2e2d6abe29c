"""Installs that fit into an existing environment (issue 18): the core install runs the CLI's composite path and
the ComfyUI nodes; every optional library is an extra, and a missing one is one `error:` line naming the extra."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from iva0.extras import EXTRA_OF, missing_extra

ROOT = Path(__file__).resolve().parent.parent
OPTIONAL = ["torch", "diffusers", "transformers", "accelerate", "safetensors", "huggingface_hub", "einops", "ftfy",
            "gradio", "gradio_image_annotation"]


def run_blocked(blocked: list[str], args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """`iva0 ARGS` in a fresh Python where the `blocked` libraries cannot be imported (as if not installed)."""
    code = (
        "import sys\n"
        f"for m in {blocked!r}: sys.modules[m] = None\n"
        "from iva0.cli import main\n"
        f"sys.exit(main({args!r}))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
                          env={"PYTHONPATH": str(ROOT / "src"), "HF_HUB_OFFLINE": "1"}, timeout=300)


def test_composite_animate_and_preview_need_no_optional_library(tmp_path):
    from iva0.samples import get_sample

    s = get_sample("coffee")
    r = run_blocked(OPTIONAL, ["animate", str(s.image), "-l", str(s.layout), "-o", "out.gif", "--width", "96", "-q"],
                    tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out.gif").is_file()
    r = run_blocked(OPTIONAL, ["preview", str(s.image), "-l", str(s.layout), "-o", "p.gif", "--width", "64"], tmp_path)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("blocked, args, extra", [
    (["diffusers"], ["animate", "IMG", "-l", "LAYOUT", "-o", "o.mp4", "--backend", "ttm", "--model", "MODEL"], "diffusion"),
    (["diffusers"], ["animate", "IMG", "-l", "LAYOUT", "-o", "o.mp4", "--backend", "iva0", "--model", "MODEL"], "diffusion"),
    (["gradio"], ["ui", "--port", "1"], "ui"),
])
def test_a_missing_extra_is_one_error_line_naming_it(tmp_path, blocked, args, extra):
    from iva0.samples import get_sample

    s = get_sample("coffee")
    # a Wan folder's configs (shipped, no weights): the backends get as far as their imports
    shutil.copytree(ROOT / "src/iva0/data/model_configs/Wan-AI__Wan2.2-TI2V-5B-Diffusers", tmp_path / "model")
    for config in (tmp_path / "model").glob("*/config.json"):
        # a valid safetensors file holding no tensor: the folder checks pass, and the backend's import comes next
        (config.parent / "model.safetensors").write_bytes((2).to_bytes(8, "little") + b"{}")
    (tmp_path / "model" / "tokenizer").mkdir()
    (tmp_path / "model" / "tokenizer" / "tokenizer_config.json").write_text("{}")
    args = [{"IMG": str(s.image), "LAYOUT": str(s.layout), "MODEL": str(tmp_path / "model")}.get(a, a) for a in args]
    r = run_blocked(blocked, args, tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    # the blocked library, or another of the same extra met first where the extra is not installed at all
    m = re.fullmatch(rf"error: (\w+) is not installed: it comes with iva0's \[{extra}\] extra \(pip install 'iva0\[{extra}\]'\)",
                     lines[0])
    assert len(lines) == 1 and m and EXTRA_OF[m.group(1)] == extra, lines
    assert not list(tmp_path.glob("o.*"))


def test_missing_extra_knows_only_the_optional_libraries():
    err = ModuleNotFoundError("No module named 'diffusers.models'", name="diffusers.models")
    assert "[diffusion]" in missing_extra(err)
    assert missing_extra(ModuleNotFoundError("x", name="numpy")) is None  # a core library: not an extra's
    assert missing_extra(ValueError("x")) is None


def test_dependencies_are_ranges_and_extras_split_the_heavy_parts():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = meta["dependencies"]
    assert not [d for d in core if "==" in d], "a library declares ranges; exact pins go to constraints.txt"
    names = {d.split("[")[0].split(">")[0].split("<")[0].split("=")[0].strip().lower() for d in core}
    assert not names & {"torch", "diffusers", "transformers", "accelerate", "gradio", "gradio-image-annotation"}
    extras = meta["optional-dependencies"]
    assert {"ui", "diffusion", "comfy", "test", "all"} <= set(extras)
    comfy = " ".join(extras["comfy"]).lower()
    assert "torch" in comfy and "gradio" not in comfy and "diffusers" not in comfy
    # every library iva0.extras names is in the extra it names
    for module, extra in EXTRA_OF.items():
        dist = module.replace("_", "-")
        assert any(d.lower().startswith(dist) for d in extras[extra]), (module, extra)


def test_constraints_pin_every_declared_library_exactly():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip().lower()] = version.strip()
    declared = list(meta["dependencies"]) + [d for k, v in meta["optional-dependencies"].items() if k != "all" for d in v]
    for d in declared:
        name = d.split("[")[0].split(">")[0].split("<")[0].split("=")[0].split("~")[0].split(";")[0].strip().lower()
        assert name in pins, f"{name} has no pin in constraints.txt"
    assert pins["torch"] == "2.13.0"
