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
    assert "3 points guide its cut-out" in editor.describe_keys(draft, 0)
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


# ---------------------------------------------------------------------------
# the cut-out view: clicks place points, the view is the segmenter's cut-out
# ---------------------------------------------------------------------------
from iva0.ui.callbacks import CUTOUT_OUTPUTS, POINT_OUTPUTS  # noqa: E402
from iva0.ui.editor import DraftObject  # noqa: E402

PT = {name: i for i, name in enumerate(POINT_OUTPUTS)}
CUT = {name: i for i, name in enumerate(CUTOUT_OUTPUTS)}
SETTINGS = (8, 8, "", "", "linear")  # frames, fps, prompt, negative, interpolation
BOX = (0.05, 0.2, 0.4, 0.8)  # around the red square (x 0.1..0.3, y 0.3..0.7)


def page_warning(fn, *args) -> str:
    """`fn` called as the page calls it: one warning toast, and the event changes nothing."""
    from iva0.ui.messages import guarded

    with pytest.warns(UserWarning) as caught:
        out = guarded(fn)(*args)
    assert out == gr.skip()
    assert len(caught) == 1, [str(w.message) for w in caught]
    return str(caught[0].message)


def click(cb, pic, draft, tag, x, y, label=1, current=0, seed=0):
    """A click on the view at normalised (x, y), as Gradio reports it: px of the view's picture."""
    w, h = pic.size
    evt = gr.SelectData(None, {"index": [round(x * w), round(y * h)], "value": None})
    return cb.on_cutout_click(evt, tag, pic, draft, current, 0, label, seed, *SETTINGS)


def test_clicks_add_points_in_order_and_clear_removes_them(cb, picture):
    pic = cb.load_picture(picture)
    draft = (DraftObject("square", {0: BOX, 7: (0.5, 0.2, 0.85, 0.8)}),)
    view, note, tag = cb.on_cutout(pic, draft, 0, 0)
    assert Path(view).is_file() and "square" in note and "grabcut" in note and tag
    assert "For SAM 2 cut-outs: `hf download facebook/sam2.1-hiera-tiny`" in note  # which segmenter, how to get SAM 2
    out = click(cb, pic, draft, tag, 0.2, 0.5, label=1)
    assert out[PT["draft"]][0].points == ((0.2, 0.5, 1),)
    assert out[PT["objects"]]["choices"] == [("square · keys 0, 7 · 1 point", 0)]
    assert "1 point guides its cut-out" in out[PT["status"]]
    out = click(cb, pic, out[PT["draft"]], out[PT["cutout_tag"]], 0.9, 0.1, label=0)  # not object: anywhere
    draft = out[PT["draft"]]
    assert draft[0].points == ((0.2, 0.5, 1), (0.9, 0.1, 0))  # in the order clicked
    assert out[PT["objects"]]["choices"] == [("square · keys 0, 7 · 2 points", 0)]
    assert json.loads(out[PT["json"]])["objects"][0]["points"] == [[0.2, 0.5, 1], [0.9, 0.1, 0]]
    assert load_layout(out[PT["layout_file"]]).objects[0].points == ((0.2, 0.5, 1), (0.9, 0.1, 0))  # the download
    assert out[PT["cutout"]] != view and "2 points" in out[PT["cutout_note"]]
    from iva0.ui import canvas

    # the layout Generate hands the backend (on_generate: canvas.checked_layout) has them
    assert canvas.checked_layout(draft, cb.settings(*SETTINGS), 32).objects[0].points == ((0.2, 0.5, 1), (0.9, 0.1, 0))
    out = cb.on_clear_points(pic, draft, 0, 0, 0, *SETTINGS)
    assert out[PT["draft"]][0].points == () and out[PT["objects"]]["choices"] == [("square · keys 0, 7", 0)]
    assert "points" not in json.loads(out[PT["json"]])["objects"][0]
    assert "no points to clear" in page_warning(cb.on_clear_points, pic, out[PT["draft"]], 0, 0, 0, *SETTINGS)


def test_bad_clicks_are_one_warning_and_change_nothing(cb, picture, tmp_path):
    pic = cb.load_picture(picture)
    draft = (DraftObject("square", {0: BOX}), DraftObject("sky", {0: (0.5, 0.0, 1.0, 0.3)}))
    tag = cb.on_cutout(pic, draft, 0, 0)[CUT["cutout_tag"]]
    w, h = pic.size
    # an object click outside the frame-0 box: the layout's rule, said in the page's words
    msg = page_warning(cb.on_cutout_click, gr.SelectData(None, {"index": [round(0.8 * w), round(0.5 * h)], "value": None}),
                       tag, pic, draft, 0, 0, 1, 0, *SETTINGS)
    assert 'marking "square" as object must lie in its box at frame 0' in msg
    # a click made on the view of another object (the list moved on before it arrived) is not the new object's
    evt = gr.SelectData(None, {"index": [round(0.6 * w), round(0.1 * h)], "value": None})
    msg = page_warning(cb.on_cutout_click, evt, tag, pic, draft, 1, 0, 1, 0, *SETTINGS)
    assert "another object" in msg
    # no box at frame 0 yet; an object with its own mask (the mask is its cut-out, clicks would do nothing)
    no_box = (DraftObject("square", {3: BOX}),)
    assert "draw its box at frame 0 first" in page_warning(
        cb.on_cutout_click, evt, cb.cutouts.tag(pic, no_box, 0), pic, no_box, 0, 0, 1, 0, *SETTINGS)
    mask = np.zeros((H, W), np.uint8)
    mask[30:70, 20:60] = 255
    Image.fromarray(mask).save(tmp_path / "m.png")
    from iva0.ui.masks import mask_from_upload

    masked = (DraftObject("square", {0: BOX}, mask=mask_from_upload(cb.work, tmp_path / "m.png", pic, "square")),)
    assert "Remove mask first" in page_warning(
        cb.on_cutout_click, evt, cb.cutouts.tag(pic, masked, 0), pic, masked, 0, 0, 0, 0, *SETTINGS)
    assert "click on the picture" in page_warning(
        cb.on_cutout_click, gr.SelectData(None, {"index": None, "value": None}), tag, pic, draft, 0, 0, 1, 0, *SETTINGS)


def test_cutout_shown_is_the_segmenters_and_is_cached(cb, picture):
    from iva0.segment import create_segmenter

    pic = cb.load_picture(picture)
    obj = DraftObject("square", {0: BOX}, points=((0.2, 0.5, 1), (0.38, 0.25, 0)))
    draft = (DraftObject("other", {0: (0.6, 0.1, 0.9, 0.5)}), obj)
    small = pic.smaller(cb.config.preview_side)
    sh, sw = small.shape[:2]
    seed = 5
    # what the backend computes for this object (index 1 of the run: seed + 1), on the preview-size picture
    want = create_segmenter("grabcut").segment(small, np.array(BOX) * [sw, sh, sw, sh],
                                               np.array(obj.points) * [sw, sh, 1], seed=seed + 1)
    view, _, _ = cb.on_cutout(pic, draft, 1, seed)
    got = cb.cutouts.alpha(pic, obj, seed + 1)
    np.testing.assert_array_equal(got, want)
    assert 0.5 < (want >= 0.5)[30:70, 20:60].mean() and (want >= 0.5).sum() < 1.5 * 40 * 40  # the square
    # the view: the object at full colour, the rest dimmed (JPEG: a few levels off)
    shown = np.asarray(Image.open(view).convert("RGB"), np.float32)
    vh, vw = shown.shape[:2]
    assert (vw, vh) == pic.size
    inside = shown[int(0.45 * vh), int(0.15 * vw)]  # in the square, off the dots and the outline
    outside = shown[int(0.9 * vh), int(0.05 * vw)]  # the grey ground, outside every box
    np.testing.assert_allclose(inside, pic.view[int(0.45 * vh), int(0.15 * vw)], atol=12)
    np.testing.assert_allclose(outside, 0.3 * pic.view[int(0.9 * vh), int(0.05 * vw)].astype(float), atol=12)
    # cached per (picture, box, points, mask, seed): showing it again computes nothing, another point does
    n = cb.cutouts.segmentations
    assert cb.on_cutout(pic, draft, 1, seed)[0] == view and cb.cutouts.segmentations == n
    tag = cb.cutouts.tag(pic, draft, 1)
    out = click(cb, pic, draft, tag, 0.25, 0.6, label=1, current=1, seed=seed)
    assert cb.cutouts.segmentations == n + 1
    cb.on_clear_points(pic, out[PT["draft"]], 1, 0, seed, *SETTINGS)
    cb.on_cutout(pic, draft, 1, seed)  # back to the two points of before: from the cache
    assert cb.cutouts.segmentations == n + 2  # the cleared (box-only) cut-out was new; the two-point one was not


def test_cutout_of_an_object_with_its_own_mask_is_the_mask(cb, picture, tmp_path):
    from iva0.ui.masks import mask_from_upload

    pic = cb.load_picture(picture)
    mask = np.zeros((H, W), np.uint8)
    mask[30:70, 20:40] = 255  # half the square: the mask, not what GrabCut would find
    Image.fromarray(mask).save(tmp_path / "half.png")
    obj = DraftObject("square", {0: BOX}, mask=mask_from_upload(cb.work, tmp_path / "half.png", pic, "square"))
    view, note, _ = cb.on_cutout(pic, (obj,), 0, 0)
    assert "its own mask is what moves" in note
    alpha = cb.cutouts.alpha(pic, obj)
    np.testing.assert_array_equal(alpha >= 0.5, mask >= 128)


def test_cutout_view_without_a_picture_object_or_box_says_what_to_do(cb, picture):
    pic = cb.load_picture(picture)
    assert cb.on_cutout(None, (), None)[:2] == (None, "Pick a sample or upload a picture first.")
    assert cb.on_cutout(pic, (), None)[0] is None
    view, note, _ = cb.on_cutout(pic, (DraftObject("square"),), 0)
    assert view is None and "draw its box at frame 0" in note


def test_the_page_wires_the_cutout_view(tmp_path):
    from iva0.ui import build_app

    demo = build_app(UiConfig(), tmp_path)
    fns = {f.fn.__name__: f for f in demo.fns.values() if f.fn is not None}
    click_fn = fns["on_cutout_click"]
    assert click_fn.concurrency_id == fns["on_boxes"].concurrency_id  # the draft's one line: clicks apply in order
    assert click_fn.trigger_mode == "multiple"  # a click while the last one is applied is queued, not dropped
    assert {"on_clear_points", "on_cutout"} <= set(fns)
    # Gradio hands the click's position to the guarded callback (an EventData-annotated first parameter)
    from gradio import helpers

    args, _, event_index, _ = helpers.special_args(click_fn.fn, list(range(12)),
                                                   event_data=gr.EventData(None, {"index": [3, 4], "value": None}))
    assert event_index == 0 and args[0].index == [3, 4]


def test_a_folded_cutout_view_computes_nothing(cb, picture):
    pic = cb.load_picture(picture)
    draft = (DraftObject("square", {0: BOX}),)
    assert cb.on_cutout(pic, draft, 0, 0, False) == gr.skip() and cb.cutouts.segmentations == 0
    shown, view, note, tag = cb.on_cutout_open(pic, draft, 0, 0)
    assert shown is True and Path(view).is_file() and cb.cutouts.segmentations == 1
    assert cb.on_cutout_closed() is False


def test_one_segmenter_serves_generate_and_the_cutout_view(tmp_path, picture, monkeypatch):
    """With IVA0_SAM2_MODEL set, the page loads the SAM 2 model once: Generate's composite backend is kept, and
    the Cut-out view uses its segmenter (before: a second model for the view, and a new load on every Generate)."""
    from iva0.segment.sam2 import Sam2Segmenter, write_random_sam2

    write_random_sam2(tmp_path / "sam2", tiny=True)
    monkeypatch.setenv("IVA0_SAM2_MODEL", str(tmp_path / "sam2"))
    made = []
    real = Sam2Segmenter.from_pretrained.__func__
    monkeypatch.setattr(Sam2Segmenter, "from_pretrained", classmethod(lambda cls, *a, **k: made.append(a) or real(cls, *a, **k)))
    cb = Callbacks(UiConfig(max_frames=32, min_view_side=2 * W), tmp_path / "work")
    pic = cb.load_picture(picture)
    draft = (DraftObject("square", {0: BOX}),)
    cb.on_cutout(pic, draft, 0, 0)
    first = cb.gen.pool.get("composite")
    assert cb.gen.pool.get("composite") is first  # kept between runs
    first.animate(pic.view, parse_layout({"num_frames": 4, "objects": [{"name": "square", "keyframes": [{"frame": 0, "box": list(BOX)}]}]}))
    cb.gen.pool.get("composite").animate(pic.view, parse_layout({"num_frames": 3, "objects": [{"name": "square", "keyframes": [{"frame": 0, "box": list(BOX)}]}]}))
    assert cb.cutouts._segmenter is first.segmenter
    assert first.segmenter.name == "sam2" and len(made) == 1
