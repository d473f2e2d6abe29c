"""Issue 16, parts 1 and 2: shared layouts, zips, benchmarks and model folders are read within limits.

A layout's masks stay inside its own folder (the benchmark's for `bench`), are inputs of the output rule, and every
size or count is checked before any work: one `error:` line, exit 2, nothing written (helpers: test_output_rule.py).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iva0.errors import LayoutError
from iva0.layout import load_layout
from test_bench_run import make_bench
from test_output_rule import refused, run, scene  # noqa: F401 - scene is a fixture

BOX0 = [0.12, 0.2, 0.44, 0.62]


def _mask(path: Path, size=(64, 48)) -> Path:
    m = np.zeros((size[1], size[0]), np.uint8)
    m[10:30, 8:28] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(m).save(path)
    return path


def _layout(path: Path, mask=None, name="square", n_objects=1) -> Path:
    obj = {"name": name, "keyframes": [{"frame": 0, "box": BOX0}, {"frame": 3, "box": [0.5, 0.2, 0.82, 0.62]}]}
    if mask is not None:
        obj["mask"] = mask
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"num_frames": 4, "fps": 4, "objects": [obj] * n_objects}))
    return path


# ---------------------------------------------------------------- 1. masks stay inside the layout's folder
def test_mask_outside_the_layout_folder_is_refused_alike_whether_it_exists_or_not(scene, capsys):
    secret = _mask(scene / "secret.png")  # outside lay/, where the layout lives
    (scene / "lay").mkdir()
    os.symlink(secret, scene / "lay" / "link.png")  # a link inside that leaves the folder
    os.symlink(scene, scene / "lay" / "up")  # a folder link that leaves it
    lines = {}
    for given in ("../secret.png", "../missing.png", str(secret), str(scene / "missing.png"), "link.png",
                  "up/secret.png", "up/missing.png", "/etc/passwd", "/etc/no-such-file"):
        _layout(scene / "lay" / "L.json", given)
        line = refused(["animate", "photo.png", "-l", "lay/L.json", "-o", "out.mp4", "-q"], capsys, scene,
                       "must be inside the layout's folder")
        assert line.endswith(json.dumps(given)) or "…" in line  # the path as given (cut short if long), no other
        lines[given] = line.rsplit(", got ", 1)[0]
    assert len(set(lines.values())) == 1, lines  # the same words for an existing and a missing outside file
    assert "not found" not in next(iter(lines.values()))


def test_mask_inside_the_layout_folder_is_read(scene, capsys):
    _mask(scene / "lay" / "masks" / "sq.png")
    _layout(scene / "lay" / "L.json", "masks/sq.png")
    code, _, err = run(["animate", "photo.png", "-l", "lay/L.json", "-o", "out.mp4", "-q"], capsys)
    assert code == 0, err
    assert load_layout(scene / "lay" / "L.json").objects[0].mask == str((scene / "lay" / "masks" / "sq.png").resolve())


def test_bench_masks_stay_inside_the_benchmark_folder(tmp_path, capsys):
    root = make_bench(tmp_path / "b", n=1, size=(96, 80))
    _mask(root / "masks" / "m.png", size=(96, 80))
    lay = json.loads((root / "lay" / "s0.json").read_text())
    lay["objects"][0]["mask"] = "../masks/m.png"  # beside lay/, inside the benchmark: allowed
    (root / "lay" / "s0.json").write_text(json.dumps(lay))
    from iva0.bench.format import load_benchmark

    assert load_benchmark(root).samples[0].layout.objects[0].mask == str((root / "masks" / "m.png").resolve())
    _mask(tmp_path / "outside.png", size=(96, 80))
    for given in ("../../outside.png", "../../missing.png", str(tmp_path / "outside.png")):
        lay["objects"][0]["mask"] = given
        (root / "lay" / "s0.json").write_text(json.dumps(lay))
        refused(["bench", "run", str(root), "--method", "static", "-o", str(tmp_path / "run")], capsys, tmp_path,
                "must be inside the benchmark folder")


def test_frames_folder_holding_a_mask_the_layout_reads_is_not_replaced(scene, capsys):
    assert run(["animate", "photo.png", "-l", "L.json", "-o", "prev", "-q"], capsys)[0] == 0
    _layout(scene / "M.json", "prev/000.png")  # a frame iva0 wrote, used as a mask (its bright square is white)
    refused(["animate", "photo.png", "-l", "M.json", "-o", "prev", "-q"], capsys, scene, "holds an input")
    refused(["preview", "photo.png", "-l", "M.json", "-o", "prev"], capsys, scene, "holds an input")
