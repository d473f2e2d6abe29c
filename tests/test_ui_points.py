"""A layout's "points" survive the web app: uploaded, shown, edited and downloaded again (the page cannot
place points, but must not lose those a layout brings)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from iva0.layout import load_layout, parse_layout  # noqa: E402
from iva0.ui import editor  # noqa: E402
from iva0.ui.callbacks import LOAD_OUTPUTS, SHOW_OUTPUTS, Callbacks  # noqa: E402
from iva0.ui.config import UiConfig  # noqa: E402
from iva0.ui.editor import Settings  # noqa: E402

W, H = 200, 100
SHOW = {name: i for i, name in enumerate(SHOW_OUTPUTS)}
LOAD = {name: i for i, name in enumerate(LOAD_OUTPUTS)}
POINTS = [[0.3, 0.5, 1], [0.45, 0.35, 0], [0.9, 0.9, 0]]


@pytest.fixture
def picture(tmp_path) -> Path:
    img = np.full((H, W, 3), 128, np.uint8)
    img[30:70, 20:60] = (220, 30, 30)
    Image.fromarray(img).save(tmp_path / "square.png")
    return tmp_path / "square.png"


@pytest.fixture
def cb(tmp_path) -> Callbacks:
    return Callbacks(UiConfig(max_frames=32, min_view_side=2 * W), tmp_path / "work")


def layout_with_points(mask: str | None = None) -> dict:
    cup = {"name": "cup", "keyframes": [{"frame": 0, "box": [0.1, 0.3, 0.5, 0.7]}, {"frame": 7, "box": [0.4, 0.3, 0.8, 0.7]}],
           "points": POINTS}
    if mask:
        cup["mask"] = mask
    return {"num_frames": 8, "fps": 8, "prompt": "", "negative_prompt": "", "interpolation": "linear",
            "objects": [cup, {"name": "spoon", "keyframes": [{"frame": 0, "box": [0.6, 0.5, 0.7, 0.9]}]}]}


def test_uploaded_layout_keeps_its_points_through_draft_and_download(cb, picture, tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(layout_with_points()))
    out = cb.on_upload_layout(str(path), cb.load_picture(picture))
    show = out[LOAD["annotator"] :]
    assert json.loads(show[SHOW["json"]])["objects"][0]["points"] == POINTS
    assert "points" not in json.loads(show[SHOW["json"]])["objects"][1]
    assert load_layout(show[SHOW["layout_file"]]).objects[0].points == parse_layout(layout_with_points()).objects[0].points
    draft = out[LOAD["draft"]]
    assert "3 point(s) from the layout guide its cut-out" in editor.describe_keys(draft, 0)
    # editing another key keeps them; a new frame-0 box keeps the object points inside it (and every background one)
    moved = editor.set_key(draft, 0, 3, (0.2, 0.3, 0.6, 0.7))
    assert moved[0].points == draft[0].points
    shrunk = editor.set_key(draft, 0, 0, (0.35, 0.3, 0.5, 0.7))  # the object point at x 0.3 is now outside
    assert shrunk[0].points == ((0.45, 0.35, 0), (0.9, 0.9, 0))
    settings = Settings(8, 8, "", "", "linear")
    assert editor.build_layout(shrunk, settings).objects[0].points == ((0.45, 0.35, 0), (0.9, 0.9, 0))


def test_layout_zip_with_a_mask_keeps_points(cb, picture, tmp_path):
    mask = np.zeros((H, W), np.uint8)
    mask[30:70, 20:60] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    path = tmp_path / "layout.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("layout.json", json.dumps(layout_with_points("masks/m.png")))
        z.write(tmp_path / "m.png", "masks/m.png")
    pic = cb.load_picture(picture)
    out = cb.on_upload_layout(str(path), pic)
    down = out[LOAD["annotator"] :][SHOW["layout_file"]]
    assert down.endswith(".zip")
    with zipfile.ZipFile(down) as z:
        data = json.loads(z.read("layout.json"))
    assert data["objects"][0]["points"] == POINTS and data["objects"][0]["mask"].startswith("masks/")
