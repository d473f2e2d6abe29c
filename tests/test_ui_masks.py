"""Object masks in the web app: upload one per object, download the layout as layout.zip (layout.json + masks/)
that `iva0 animate --layout` reads, upload that zip again; bad masks are one warning and change nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from iva0.ui.callbacks import LOAD_OUTPUTS, SHOW_OUTPUTS, Callbacks  # noqa: E402
from iva0.ui.config import UiConfig  # noqa: E402
from iva0.ui.editor import DraftObject  # noqa: E402
from test_ui import page_warning  # noqa: E402

W, H = 200, 100
SETTINGS = (8, 4, "a red square slides right", "", "linear")
SHOW = {name: i for i, name in enumerate(SHOW_OUTPUTS)}
LOAD = {name: i for i, name in enumerate(LOAD_OUTPUTS)}


def no_progress(*args, **kwargs) -> None:
    pass


@pytest.fixture
def picture(tmp_path) -> Path:
    img = np.full((H, W, 3), 128, np.uint8)
    img[30:70, 20:60] = (220, 30, 30)  # a red square
    path = tmp_path / "square.png"
    Image.fromarray(img).save(path)
    return path


@pytest.fixture
def cb(tmp_path) -> Callbacks:
    return Callbacks(UiConfig(max_frames=32, min_view_side=2 * W), tmp_path / "work")


def mask_png(path: Path, size=(W, H), box=(20, 30, 60, 70), mode="L") -> Path:
    """White inside `box` (px of a `size` picture), black elsewhere."""
    m = np.zeros((size[1], size[0]), np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = 255
    Image.fromarray(m).convert(mode).save(path)
    return path


DRAFT = (DraftObject("red square", {0: (0.1, 0.3, 0.3, 0.7), 7: (0.6, 0.3, 0.8, 0.7)}),)


def test_mask_upload_download_zip_and_cli_round_trip(cb, picture, tmp_path):
    from iva0.cli import main
    from iva0.io.video import read_video
    from iva0.layout import load_layout
    from iva0.segment.mask import read_mask

    pic = cb.load_picture(picture)
    # a mask of another size with the picture's aspect is fitted to the picture
    up = cb.on_upload_mask(str(mask_png(tmp_path / "cup.png", size=(400, 200), box=(40, 60, 120, 140))), pic, DRAFT, 0,
                           0, *SETTINGS)
    draft = up[0]
    assert draft[0].mask and draft[0].keys == DRAFT[0].keys
    show = up[1:]
    assert "· mask" in show[SHOW["objects"]]["choices"][0][0]
    text = show[SHOW["json"]]
    assert json.loads(text)["objects"][0]["mask"] == "masks/0-red_square.png"
    assert str(cb.work.root) not in text  # the page never shows a server path
    zipped = Path(show[SHOW["layout_file"]])
    assert zipped.name == "layout.zip"
    with zipfile.ZipFile(zipped) as z:
        assert sorted(z.namelist()) == ["layout.json", "masks/0-red_square.png"]
        assert json.loads(z.read("layout.json")) == json.loads(text)
        z.extractall(tmp_path / "unzipped")
    # the CLI reads the unzipped layout: the mask resolves relative to layout.json
    layout = load_layout(tmp_path / "unzipped" / "layout.json")
    mask = read_mask(layout.objects[0].mask)
    assert mask.shape == (H, W) and mask[50, 40] == 1.0 and mask[50, 100] == 0.0 and mask.sum() == 40 * 40
    # and animates it as the page does
    _, video, status, _, _ = cb.on_generate(pic, draft, *SETTINGS, "composite", 0, 200, progress=no_progress)
    out = tmp_path / "cli.mp4"
    assert main(["animate", str(picture), "--layout", str(tmp_path / "unzipped" / "layout.json"), "--out", str(out),
                 "-q"]) == 0
    page_frames, _ = read_video(video)
    cli_frames, _ = read_video(out)
    assert page_frames.shape == cli_frames.shape == (8, H, W, 3)
    assert np.abs(page_frames.astype(int) - cli_frames.astype(int)).mean() < 2

    # the zip uploaded again gives the same draft (its mask copied into the page's folder) and the same download
    loaded = cb.on_upload_layout(str(zipped), pic)
    again = loaded[LOAD["draft"]]
    assert again[0].keys == draft[0].keys and again[0].mask
    assert np.array_equal(read_mask(again[0].mask), read_mask(draft[0].mask))
    assert Path(loaded[LOAD["layout_file"]]).read_bytes() == zipped.read_bytes()

    # Remove mask: back to the backend's own cut-out, and a plain layout.json
    removed = cb.on_remove_mask(pic, draft, 0, 0, *SETTINGS)
    assert removed[0][0].mask is None and Path(removed[1:][SHOW["layout_file"]]).name == "layout.json"


def test_bad_masks_are_one_warning_and_change_nothing(cb, picture, tmp_path):
    pic = cb.load_picture(picture)
    fake = tmp_path / "notimage.png"
    fake.write_text("not a picture")
    msg = page_warning(cb.on_upload_mask, str(fake), pic, DRAFT, 0, 0, *SETTINGS)
    assert "cannot read mask image notimage.png" in msg and 'mask for "red square"' in msg
    empty = mask_png(tmp_path / "black.png", box=(0, 0, 0, 0))
    assert "black.png is empty" in page_warning(cb.on_upload_mask, str(empty), pic, DRAFT, 0, 0, *SETTINGS)
    square = mask_png(tmp_path / "square-mask.png", size=(100, 100), box=(10, 10, 50, 50))
    assert "not the picture's aspect ratio" in page_warning(cb.on_upload_mask, str(square), pic, DRAFT, 0, 0, *SETTINGS)
    ok = str(mask_png(tmp_path / "ok.png"))
    assert "no object selected" in page_warning(cb.on_upload_mask, ok, pic, DRAFT, None, 0, *SETTINGS)
    assert "upload a picture" in page_warning(cb.on_upload_mask, ok, None, DRAFT, 0, 0, *SETTINGS)
    assert "has no mask of its own" in page_warning(cb.on_remove_mask, pic, DRAFT, 0, 0, *SETTINGS)
    # an alpha-channel mask: opaque is the object
    rgba = np.zeros((H, W, 4), np.uint8)
    rgba[30:70, 20:60] = (255, 0, 0, 255)
    Image.fromarray(rgba).save(tmp_path / "alpha.png")
    assert cb.on_upload_mask(str(tmp_path / "alpha.png"), pic, DRAFT, 0, 0, *SETTINGS)[0][0].mask


def test_layout_uploads_with_masks_are_checked(cb, picture, tmp_path):
    pic = cb.load_picture(picture)
    data = {"num_frames": 8, "fps": 4, "objects": [{"name": "sq", "keyframes": [{"frame": 0, "box": [0.1, 0.3, 0.3, 0.7]}],
                                                    "mask": "masks/sq.png"}]}
    bare = tmp_path / "layout.json"
    bare.write_text(json.dumps(data))
    assert "upload the .zip" in page_warning(cb.on_upload_layout, str(bare), pic)  # its mask did not come with it
    bare.write_text("\ufeff" + json.dumps(data), encoding="utf-8")  # a BOM (Windows editors) changes nothing
    assert "upload the .zip" in page_warning(cb.on_upload_layout, str(bare), pic)

    def zipped(name, members):
        path = tmp_path / name
        with zipfile.ZipFile(path, "w") as z:
            for arc, payload in members.items():
                z.writestr(arc, payload)
        return str(path)

    good = mask_png(tmp_path / "m.png").read_bytes()
    assert "masks/sq.png is not in the .zip" in page_warning(
        cb.on_upload_layout, zipped("missing.zip", {"layout.json": json.dumps(data)}), pic)
    escape = {**data, "objects": [{**data["objects"][0], "mask": "../../etc/passwd"}]}
    assert "is not in the .zip" in page_warning(
        cb.on_upload_layout, zipped("escape.zip", {"layout.json": json.dumps(escape), "masks/sq.png": good}), pic)
    assert "masks/sq.png is empty" in page_warning(
        cb.on_upload_layout, zipped("empty.zip", {"layout.json": json.dumps(data),
                                                  "masks/sq.png": mask_png(tmp_path / "e.png", box=(0, 0, 0, 0)).read_bytes()}), pic)
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK not really")
    assert "not a readable .zip" in page_warning(cb.on_upload_layout, str(broken), pic)
    ok = cb.on_upload_layout(zipped("ok.zip", {"layout.json": json.dumps(data), "masks/sq.png": good}), pic)
    assert ok[LOAD["draft"]][0].mask and "· mask" in ok[LOAD["objects"]]["choices"][0][0]


def test_a_refused_layout_zip_leaves_no_mask_behind(cb, picture, tmp_path):
    """A .zip refused after one of its masks was read (the next mask is not a picture, a box is wrong, too many
    frames) writes nothing: the masks it had copied into the work folder go again. A mask a draft already uses
    stays."""
    pic = cb.load_picture(picture)
    used = cb.on_upload_mask(str(mask_png(tmp_path / "used.png")), pic, DRAFT, 0, 0, *SETTINGS)[0][0].mask
    good = mask_png(tmp_path / "m.png", box=(100, 10, 150, 60)).read_bytes()
    key = {"frame": 0, "box": [0.1, 0.3, 0.3, 0.7]}
    two = {"objects": [{"name": "a", "keyframes": [key], "mask": "a.png"}, {"name": "b", "keyframes": [key], "mask": "b.png"}]}
    bad_box = {"objects": [{"name": "a", "keyframes": [{"frame": 0, "box": [0.3, 0.3, 0.1, 0.7]}], "mask": "a.png"}]}
    long = {"num_frames": 100, "objects": [{"name": "a", "keyframes": [key], "mask": "a.png"}]}
    cases = [
        (two, {"a.png": good, "b.png": b"not a picture"}, "cannot read mask image b.png"),
        (bad_box, {"a.png": good}, "x0 must be &lt; x1"),  # (a toast is HTML)
        (long, {"a.png": good}, "is more than this page allows"),
        (two, {"a.png": (tmp_path / "used.png").read_bytes(), "b.png": b"junk"}, "cannot read mask image b.png"),
    ]
    for i, (data, members, said) in enumerate(cases):
        path = tmp_path / f"refused{i}.zip"
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("layout.json", json.dumps(data))
            for arc, payload in members.items():
                z.writestr(arc, payload)
        assert said in page_warning(cb.on_upload_layout, str(path), pic)
        assert sorted(cb.work.root.glob("masks/*")) == [Path(used)], i  # the draft's mask only
