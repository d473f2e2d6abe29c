"""The web app's callbacks, called directly (no browser): boxes drawn in the page become the
layout file the CLI reads, uploaded layouts round-trip, bad input gives one clean message."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from iva0.errors import UserError  # noqa: E402
from iva0.layout import load_layout, make_layout  # noqa: E402
from iva0.ui import editor  # noqa: E402
from iva0.ui.callbacks import LOAD_OUTPUTS, SHOW_OUTPUTS, Callbacks  # noqa: E402
from iva0.ui.config import UiConfig  # noqa: E402
from iva0.ui.editor import DraftObject, Settings  # noqa: E402
from iva0.ui.messages import guarded  # noqa: E402

W, H = 200, 100
SETTINGS = ("16", 8, "a red square slides right", "", "linear")  # frames, fps, prompt, negative, interpolation
SHOW = {name: i for i, name in enumerate(SHOW_OUTPUTS)}
LOAD = {name: i for i, name in enumerate(LOAD_OUTPUTS)}
REFRESH = {name: i for i, name in enumerate(SHOW_OUTPUTS[4:])}  # on_text: (status, json, layout file)


def no_progress(*args, **kwargs) -> None:
    pass


@pytest.fixture
def picture(tmp_path) -> Path:
    """200x100: grey ground, a red square at x 20..60, y 30..70."""
    img = np.full((H, W, 3), 128, np.uint8)
    img[30:70, 20:60] = (220, 30, 30)
    path = tmp_path / "square.png"
    Image.fromarray(img).save(path)
    return path


@pytest.fixture
def cb(tmp_path) -> Callbacks:
    return Callbacks(UiConfig(max_frames=32, min_view_side=2 * W), tmp_path / "work")  # the picture shown at 2x


def drawn(x0, y0, x1, y1, label="") -> dict:
    """An annotator value's box, as the component sends it (px of the picture shown)."""
    return {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1, "label": label, "color": (0, 0, 0)}


# ---------------------------------------------------------------------------
# editor: pure functions
# ---------------------------------------------------------------------------
def test_pixel_boxes_normalise_and_back():
    from iva0.ui.band import Geometry

    geo = Geometry(W, H)  # the canvas without a camera: the picture itself
    assert geo.box_from_pixels(drawn(20, 30, 60, 70)) == (0.1, 0.3, 0.3, 0.7)
    assert geo.box_from_pixels(drawn(60, 70, 20, 30)) == (0.1, 0.3, 0.3, 0.7)  # dragged up-left
    assert geo.box_to_pixels((0.1, 0.3, 0.3, 0.7)) == {"xmin": 20, "ymin": 30, "xmax": 60, "ymax": 70}
    # a box leaving the frame is shown clipped to the picture
    assert geo.box_to_pixels((0.9, -0.2, 1.3, 0.5)) == {"xmin": 180, "ymin": 0, "xmax": 200, "ymax": 50}
    assert geo.same_box((0.1, 0.3, 0.3, 0.7), (0.105, 0.31, 0.3, 0.7), editor.MOVE_TOLERANCE_PX)  # 1 px: rounding
    assert not geo.same_box((0.1, 0.3, 0.3, 0.7), (0.12, 0.3, 0.32, 0.7), editor.MOVE_TOLERANCE_PX)  # 4 px: a move


def test_objects_need_unique_non_empty_names():
    d = editor.add_object((), "  red square ")
    assert d == (DraftObject("red square"),)
    with pytest.raises(UserError, match="type the object's name"):
        editor.add_object(d, "   ")
    with pytest.raises(UserError, match="already an object called 'red square'"):
        editor.add_object(d, "red square")
    for i in range(editor.MAX_OBJECTS - 1):
        d = editor.add_object(d, f"o{i}")
    with pytest.raises(UserError, match=f"at most {editor.MAX_OBJECTS} objects"):
        editor.add_object(d, "one too many")


def test_box_at_interpolates_between_keys_and_holds_after():
    obj = DraftObject("a", {0: (0.0, 0.0, 0.2, 0.2), 10: (0.5, 0.0, 0.7, 0.2)})
    np.testing.assert_allclose(editor.box_at(obj, 4, 16), (0.2, 0.0, 0.4, 0.2))
    np.testing.assert_allclose(editor.box_at(obj, 15, 16), (0.5, 0.0, 0.7, 0.2))
    assert editor.box_at(DraftObject("b"), 3, 16) is None


def test_draft_without_frame_0_key_says_what_to_draw():
    draft = (DraftObject("car", {5: (0.1, 0.1, 0.2, 0.2)}),)
    with pytest.raises(UserError, match='"car": draw its box at frame 0'):
        editor.build_layout(draft, Settings())
    with pytest.raises(UserError, match="add an object"):
        editor.build_layout((), Settings())


def test_key_past_the_last_frame_gets_the_cli_message():
    draft = (DraftObject("car", {0: (0.1, 0.1, 0.2, 0.2), 15: (0.5, 0.1, 0.6, 0.2)}),)
    with pytest.raises(UserError, match=r'objects\[0\] \("car"\)\.keyframes\[1\]\.frame: 15 is out of range 0\.\.9'):
        editor.build_layout(draft, Settings(num_frames=10))


# ---------------------------------------------------------------------------
# callbacks: drawing in the page makes the CLI's layout file
# ---------------------------------------------------------------------------
def test_drawn_boxes_build_the_expected_layout_json(cb, picture):
    pic = cb.load_picture(picture)
    assert pic.size == (2 * W, 2 * H)  # a small picture is shown enlarged, to be drawn on
    VW, VH = pic.size
    draft, source, name_box, frame, *show = cb.on_add_object("red square", pic, (), *SETTINGS)
    obj = show[SHOW["objects"]]
    assert obj["value"] == 0 and obj["choices"] == [("red square · keys none yet", 0)] and name_box == "" and frame == 0
    assert source == "drawn"
    annot, shown = show[SHOW["annotator"]], show[SHOW["shown"]]
    assert shown == {"object": 0, "frame": 0, "box": None, "canvas": Path(annot["image"]).stem, "band": 0.0}  # no camera: no band
    assert show[SHOW["tool"]] == f"create|2.0000|{shown['canvas']}"
    assert "draw its box at frame 0" in show[SHOW["status"]] and show[SHOW["layout_file"]] is None

    # the user draws the square's box at frame 0 (view px: the picture is shown at 2x)
    value = {"image": annot["image"], "boxes": [drawn(40, 60, 120, 140)]}
    draft, *show = cb.on_boxes(value, pic, draft, shown, *SETTINGS)
    assert draft[0].keys == {0: (0.1, 0.3, 0.3, 0.7)}
    assert "**Ready:** 1 object, 16 frames" in show[SHOW["status"]]
    assert show[SHOW["objects"]]["choices"] == [("red square · keys 0", 0)]

    # frame 12 shows the box held from frame 0, ready to be moved; reading it back adds nothing
    show = cb.on_select(pic, draft, 0, 12, *SETTINGS)
    annot, shown = show[SHOW["annotator"]], show[SHOW["shown"]]
    box = annot["boxes"][0]
    assert (box["xmin"], box["ymin"], box["xmax"], box["ymax"], box["label"]) == (40, 60, 120, 140, "red square")
    assert shown == {"object": 0, "frame": 12, "box": (0.1, 0.3, 0.3, 0.7), "canvas": Path(annot["image"]).stem, "band": 0.0}
    assert show[SHOW["tool"]] == f"drag|2.0000|{shown['canvas']}"
    echoed = {"image": annot["image"], "boxes": [drawn(41, 60, 120, 141)]}  # the component's own rounding
    assert cb.on_boxes(echoed, pic, draft, shown, *SETTINGS) == gr.skip()

    # the user drags it 240 view px to the right: a key at frame 12
    moved = {"image": annot["image"], "boxes": [drawn(280, 60, 360, 140)]}
    draft, *show = cb.on_boxes(moved, pic, draft, shown, *SETTINGS)
    expected = {
        "num_frames": 16,
        "fps": 8,
        "prompt": "a red square slides right",
        "negative_prompt": "",
        "interpolation": "linear",
        "objects": [
            {
                "name": "red square",
                "keyframes": [
                    {"frame": 0, "box": [0.1, 0.3, 0.3, 0.7]},
                    {"frame": 12, "box": [0.7, 0.3, 0.9, 0.7]},
                ],
            }
        ],
    }
    assert json.loads(show[SHOW["json"]]) == expected
    # the download is that file, and the CLI's loader reads it
    path = Path(show[SHOW["layout_file"]])
    assert path.name == "layout.json" and json.loads(path.read_text()) == expected
    assert load_layout(path).to_dict() == expected
    # the canvas is redrawn at once: the path now runs to the new key (orange, (230, 159, 0)), mid-way at x 200
    canvas = np.asarray(Image.open(show[SHOW["annotator"]]["image"]))
    assert canvas[100, 200, 0] > 180 and canvas[100, 200, 2] < 90

    # removing the frame-12 box in the annotator removes that key, and the canvas forgets its path (defect 5)
    annot, shown = show[SHOW["annotator"]], show[SHOW["shown"]]
    draft, *show = cb.on_boxes({"image": annot["image"], "boxes": []}, pic, draft, shown, *SETTINGS)
    assert draft[0].keys == {0: (0.1, 0.3, 0.3, 0.7)}
    annot = show[SHOW["annotator"]]
    assert [(b["xmin"], b["xmax"]) for b in annot["boxes"]] == [(40, 120)]  # the held box, ready to move again
    canvas = np.asarray(Image.open(annot["image"]))
    assert canvas[100, 200, 0] < 160  # grey ground again where the path ran


def test_box_lands_on_the_object_and_frame_that_were_shown(cb, picture):
    """The browser may send a newer list/timeline value than the picture the user drew on."""
    pic = cb.load_picture(picture)
    draft = (DraftObject("a", {0: (0.1, 0.1, 0.2, 0.2)}), DraftObject("b", {0: (0.5, 0.5, 0.6, 0.6)}))
    shown = {"object": 1, "frame": 3, "box": (0.5, 0.5, 0.6, 0.6), "canvas": "canvas-x"}
    draft, *_ = cb.on_boxes({"image": "/cache/canvas-x.jpeg", "boxes": [drawn(200, 40, 280, 80)]}, pic, draft, shown, *SETTINGS)
    assert draft[0].keys == {0: (0.1, 0.1, 0.2, 0.2)}
    assert draft[1].keys == {0: (0.5, 0.5, 0.6, 0.6), 3: (0.5, 0.2, 0.7, 0.4)}


def test_a_late_canvas_event_after_add_never_lands_on_the_new_object(cb, picture):
    """The race the browser showed: the user draws the rocket's box and presses Add; the annotator's
    echo of the rocket's canvas (its box) reaches the server after Add selected the new object. Taken
    for the new object's frame-0 box, it gave "star" the rocket's box. It is stale and changes nothing."""
    pic = cb.load_picture(picture)
    draft, _, _, _, *show = cb.on_add_object("rocket", pic, (), *SETTINGS)
    first = show[SHOW["annotator"]]
    draft, *show = cb.on_boxes({"image": first["image"], "boxes": [drawn(40, 60, 120, 140)]}, pic, draft,
                               show[SHOW["shown"]], *SETTINGS)  # fmt: skip
    rocket_canvas = show[SHOW["annotator"]]  # what the server sent back: the rocket's canvas with its box
    assert draft[0].keys == {0: (0.1, 0.3, 0.3, 0.7)}
    draft, _, _, _, *show = cb.on_add_object("star", pic, draft, *SETTINGS)
    shown = show[SHOW["shown"]]
    assert shown["object"] == 1 and shown["box"] is None
    # the late echo of the rocket's canvas, as Gradio hands it over (a cache copy under the same file name)
    late = {"image": f"/tmp/gradio/abc123/{Path(rocket_canvas['image']).stem}.jpeg", "boxes": rocket_canvas["boxes"]}
    assert cb.on_boxes(late, pic, draft, shown, *SETTINGS) == gr.skip()
    # ... and a box drawn before Add, arriving after it, neither
    drawn_before = {"image": rocket_canvas["image"], "boxes": [drawn(200, 40, 280, 80)]}
    assert cb.on_boxes(drawn_before, pic, draft, shown, *SETTINGS) == gr.skip()
    assert draft[1].keys == {} and draft[0].keys == {0: (0.1, 0.3, 0.3, 0.7)}
    # two showings that look the same (an object without boxes, then another) are still told apart
    _, _, _, _, *again = cb.on_add_object("moon", pic, draft, *SETTINGS)
    assert again[SHOW["shown"]]["canvas"] != shown["canvas"]
    # the star's own canvas still takes its box
    mine = {"image": show[SHOW["annotator"]]["image"], "boxes": [drawn(200, 40, 280, 80)]}
    draft, *_ = cb.on_boxes(mine, pic, draft, shown, *SETTINGS)
    assert draft[1].keys == {0: (0.5, 0.2, 0.7, 0.4)} and draft[0].keys == {0: (0.1, 0.3, 0.3, 0.7)}


def test_a_box_still_being_drawn_changes_nothing(cb, picture):
    """The annotator reports the mouse-down of a new box as a 0-px box; taking it as a key (and redrawing the
    canvas under the user's mouse) would lose the box being drawn."""
    pic = cb.load_picture(picture)
    draft = (DraftObject("a"),)
    shown = {"object": 0, "frame": 0, "box": None, "canvas": "canvas-x"}
    assert cb.on_boxes({"image": "canvas-x.jpg", "boxes": [drawn(66, 40, 66, 40)]}, pic, draft, shown, *SETTINGS) == gr.skip()


def test_a_box_drawn_before_add_object_warns_once_and_goes(cb, picture):
    """Defect 6: the stray box is taken off the canvas, with one warning."""
    pic = cb.load_picture(picture)
    shown = {"object": None, "frame": 0, "box": None, "canvas": "canvas-x"}
    with pytest.warns(UserWarning, match="add an object first") as caught:
        draft, *show = cb.on_boxes({"image": "canvas-x.jpg", "boxes": [drawn(10, 10, 50, 50)]}, pic, (), shown, *SETTINGS)
    assert len(caught) == 1 and draft == ()
    assert show[SHOW["annotator"]]["boxes"] == []  # the canvas no longer shows the stray box
    # ... and the canvas's echo of that (no boxes) says nothing more
    assert cb.on_boxes(show[SHOW["annotator"]], pic, (), show[SHOW["shown"]], *SETTINGS) == gr.skip()


def test_a_rotated_canvas_never_writes_a_box(cb, picture):
    """Defect 2: a box read off a rotated canvas would land in the wrong place; nothing is saved."""
    pic = cb.load_picture(picture)
    draft = (DraftObject("a", {0: (0.1, 0.1, 0.2, 0.2)}),)
    shown = {"object": 0, "frame": 5, "box": (0.1, 0.1, 0.2, 0.2), "canvas": "canvas-x"}
    value = {"image": "canvas-x.jpg", "boxes": [drawn(200, 40, 280, 80)], "orientation": 1}
    with pytest.warns(UserWarning, match="cannot be rotated"):
        out, *show = cb.on_boxes(value, pic, draft, shown, *SETTINGS)
    assert out == draft and show[SHOW["annotator"]]["boxes"][0]["xmin"] == 40  # 0.1 of the 400 px view


def test_objects_rename_and_delete(cb, picture):
    pic = cb.load_picture(picture)
    draft = (DraftObject("a", {0: (0.1, 0.1, 0.2, 0.2)}), DraftObject("b", {0: (0.5, 0.5, 0.6, 0.6)}))
    draft, name_box, *show = cb.on_rename_object(" cup ", pic, draft, 1, 0, *SETTINGS)
    assert [o.name for o in draft] == ["a", "cup"] and name_box == ""
    assert show[SHOW["objects"]]["choices"][1] == ("cup · keys 0", 1)
    with pytest.raises(UserError, match="already an object called 'a'"):
        cb.on_rename_object("a", pic, draft, 1, 0, *SETTINGS)
    draft, *show = cb.on_remove_object(pic, draft, 0, 0, *SETTINGS)
    assert [o.name for o in draft] == ["cup"] and show[SHOW["objects"]]["value"] == 0


def shown_text(markdown: str) -> tuple[str, str]:
    """(the HTML a Markdown line renders to, the text a person sees in it)."""
    import html

    from markdown_it import MarkdownIt

    rendered = MarkdownIt("commonmark").render(markdown)
    return rendered, html.unescape(re.sub(r"<[^>]*>", "", rendered)).strip()


@pytest.mark.parametrize("name", [
    "<img src=http://example.com/x.png>", "![x](http://example.com/x.png)", "[home](http://example.com)",
    "**bold** _it_ `code` <b>b</b> a\\b & c",
])  # fmt: skip
def test_an_object_name_is_shown_as_text_never_as_html_or_markdown(cb, picture, name):
    """A name is the object's phrase: the status line, the cut-out note and a toast show it as typed. Rendered,
    an image in a name would make the browser ask another site for it (the page talks to nothing else)."""
    import html

    from iva0.ui.messages import page_message

    pic = cb.load_picture(picture)
    draft, *_, status, _, _ = cb.on_add_object(name, pic, (), *SETTINGS)
    draft = editor.set_key(draft, 0, 0, (0.1, 0.3, 0.3, 0.7))
    note = cb.on_cutout(pic, draft, 0)[1]
    status_now = cb.on_select(pic, draft, 0, 0, *SETTINGS)[SHOW["status"]]
    for line, ours in ((status, {"p", "strong"}), (status_now, {"p", "strong"}), (note, {"p", "strong", "code"})):
        rendered, text = shown_text(line)
        assert set(re.findall(r"</?(\w+)", rendered)) <= ours, rendered  # no <img>, <a>, <em>, <b> of the name's
        assert rendered.count("<code>") <= 1, rendered  # the note's own: the SAM 2 hint
        assert name in text, text  # nothing of it taken as markup
    toast = page_warning(cb.on_add_object, name, pic, draft, *SETTINGS)  # the same name again: one warning
    said = page_message(f"object name: there is already an object called {name!r}")  # (a URL's "//host/" is cut)
    assert "<" not in toast and html.unescape(toast) == said, toast  # a toast's text is HTML: entities, shown as typed


def test_frames_out_of_range_keep_frames_timeline_and_layout_agreeing(cb, picture):
    """Defect 3: a typed 1000, 0 or -5 is clamped, written back, and the layout says the same."""
    pic = cb.load_picture(picture)
    draft = (DraftObject("a", {0: (0.1, 0.1, 0.2, 0.2), 5: (0.3, 0.1, 0.4, 0.2), 15: (0.7, 0.1, 0.8, 0.2)}),)
    rest = SETTINGS[1:]  # fps, prompt, negative, interpolation
    with pytest.warns(UserWarning, match="1000 is outside 2..32; using 32"):
        new, frames, timeline, *show = cb.on_settings(pic, draft, 0, 15, 1000, *rest)
    assert frames == 32 and timeline["maximum"] == 31 and json.loads(show[SHOW["json"]])["num_frames"] == 32
    assert new == draft
    for typed in (0, -5):
        with pytest.warns(UserWarning, match="using 2"):
            new, frames, timeline, *show = cb.on_settings(pic, draft, 0, 15, typed, *rest)
        assert frames == 2 and timeline == {"__type__": "update", "maximum": 1, "value": 1}
        assert json.loads(show[SHOW["json"]])["num_frames"] == 2 and "**Ready:**" in show[SHOW["status"]]
        assert new[0].keys == {0: (0.1, 0.1, 0.2, 0.2), 1: (0.7, 0.1, 0.8, 0.2)}  # the end key moved to frame 1
    # fewer frames: the last key moves to the new last frame, keys between are dropped, and the page says so
    new, frames, timeline, *show = cb.on_settings(pic, draft, 0, 3, 12, *rest)
    assert new[0].key_frames() == [0, 5, 11] and new[0].keys[11] == draft[0].keys[15] and frames == 12
    assert "**Ready:** 1 object, 12 frames" in show[SHOW["status"]]


def test_fit_frames_says_what_it_did():
    draft = (
        DraftObject("a", {0: (0.1, 0.1, 0.2, 0.2), 9: (0.2, 0.1, 0.3, 0.2), 15: (0.3, 0.1, 0.4, 0.2)}),
        DraftObject("b", {0: (0.5, 0.5, 0.6, 0.6), 7: (0.5, 0.5, 0.6, 0.6), 12: (0.5, 0.5, 0.6, 0.6)}),
        DraftObject("c", {0: (0.5, 0.5, 0.6, 0.6)}),
    )
    new, notes = editor.fit_frames(draft, 8)
    assert [o.key_frames() for o in new] == [[0, 7], [0, 7], [0]]
    assert notes == ["a: key frame 15 moved to 7, 9 dropped", "b: key frame(s) 12 dropped"]


def test_uploaded_layout_round_trips(cb, picture, tmp_path):
    layout = make_layout(
        [("cup", [(0, (0.2, 0.3, 0.5, 0.8)), (9, (0.05, 0.3, 0.35, 0.8))]), ("spoon", [(0, (0.6, 0.5, 0.7, 0.9))])],
        num_frames=10, fps=12, prompt="steam rises", interpolation="smooth",
    )  # fmt: skip
    path = tmp_path / "mine.json"
    layout.save(path)
    pic = cb.load_picture(picture)
    out = cb.on_upload_layout(str(path), pic)
    assert out[LOAD["source"]] == "layout" and out[LOAD["pic"]] is pic
    got = tuple(out[LOAD[k]] for k in ("frames", "fps", "prompt", "negative", "interpolation"))
    assert got == (10, 12, "steam rises", "", "smooth") and out[LOAD["frame"]]["maximum"] == 9
    show = out[LOAD["annotator"] :]
    assert show[SHOW["objects"]]["choices"] == [("cup · keys 0, 9", 0), ("spoon · keys 0", 1)]
    assert show[SHOW["json"]] == layout.to_json()
    assert load_layout(show[SHOW["layout_file"]]).to_dict() == layout.to_dict()
    # and unchanged back out of the draft
    draft = out[LOAD["draft"]]
    assert editor.build_layout(draft, Settings(10, 12, "steam rises", "", "smooth")).to_dict() == layout.to_dict()


def test_new_picture_clears_the_old_state(cb, picture):
    """Defect 7: after a sample (or hand-drawn objects) a new picture starts a clean layout and no result."""
    from iva0.samples import list_samples

    name = list_samples()[0].name
    before = cb.on_sample(name)
    assert before[LOAD["draft"]] and before[LOAD["prompt"]]
    for source in ("sample", "drawn", None):
        out = cb.on_upload_picture(str(picture), before[LOAD["draft"]], source, *SETTINGS)
        assert out[LOAD["draft"]] == () and out[LOAD["source"]] is None and out[LOAD["sample"]] is None
        assert (out[LOAD["frames"]], out[LOAD["fps"]], out[LOAD["prompt"]], out[LOAD["negative"]]) == (16, 8, "", "")
        cleared = tuple(out[LOAD[k]] for k in ("result", "result_video", "gen_status", "download_mp4", "download_overlay"))
        assert cleared == (None, None, "", None, None)
        show = out[LOAD["annotator"] :]
        assert show[SHOW["objects"]]["choices"] == [] and show[SHOW["annotator"]]["boxes"] == []
        assert "add an object" in show[SHOW["status"]]


def test_new_picture_keeps_an_uploaded_layout(cb, picture):
    mine = (DraftObject("red square", {0: (0.1, 0.3, 0.3, 0.7)}),)
    out = cb.on_upload_picture(str(picture), mine, "layout", *SETTINGS)
    assert out[LOAD["draft"]] == mine and out[LOAD["source"]] == "layout"
    assert out[LOAD["prompt"]] == gr.skip() and out[LOAD["result_video"]] is None  # its settings stay, the old result goes
    assert "**Ready:**" in out[LOAD["annotator"] :][SHOW["status"]]


def test_every_sample_loads_with_its_layout(cb):
    from iva0.samples import list_samples

    for s in list_samples():
        out = cb.on_sample(s.name)
        assert out[LOAD["source"]] == "sample"
        assert out[LOAD["pic"]].full.shape == np.asarray(Image.open(s.image)).shape
        assert json.loads(out[LOAD["annotator"] :][SHOW["json"]]) == load_layout(s.layout).to_dict()


def test_tiny_picture_is_drawable_and_the_video_size_is_said(cb, tmp_path):
    """Defect 9: an 8x8 picture is shown at a drawable size; the page says the video's size before generating."""
    tiny = tmp_path / "icon.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(tiny)
    cb = Callbacks(UiConfig(), tmp_path / "work")
    pic = cb.load_picture(tiny)
    assert pic.full.shape == (8, 8, 3) and pic.size == (1024, 1024)
    assert (pic.view[:128, :128] == pic.full[0, 0]).all()  # enlarged in blocks, not blurred
    note = cb.on_video_note(pic, 512, 16, 8)
    assert note.startswith("Video: 8×8 px, 16 frames at 8 fps (2.0 s).")
    assert "never larger than their picture" in note
    big = cb.load_picture(tmp_path / "icon.png")
    big.full = np.zeros((600, 1200, 3), np.uint8)
    assert cb.on_video_note(big, 320, 16, 8) == "Video: 320×160 px, 16 frames at 8 fps (2.0 s)."


@pytest.mark.parametrize("size", [(513, 1), (1, 513), (2000, 3)])
def test_a_strip_picture_previews_and_generates(cb, tmp_path, size):
    """A picture one or a few px high (or wide) is a picture like any other: the box preview and the video
    have even sides of at least 2 px (the preview scaled the strip to 0 px and OpenCV failed)."""
    from iva0.io.video import read_video

    strip = tmp_path / "strip.png"
    Image.new("RGB", size, "red").save(strip)
    pic = cb.load_picture(strip)
    # too thin for a box to be drawn on the canvas: one warning says so, and the picture is taken all the same
    with pytest.warns(UserWarning, match=rf"{size[0]}×{size[1]} px: too thin to draw a box on") as caught:
        assert cb.on_upload_picture(str(strip), (), None, 4, 4, "", "", "linear")[0].full.shape[:2] == size[::-1]
    assert len(caught) == 1
    draft = (DraftObject("line", {0: (0.1, 0.0, 0.3, 1.0), 3: (0.6, 0.0, 0.8, 1.0)}),)
    video, status = cb.on_preview(pic, draft, 4, 4, "", "", "linear")
    frames, _ = read_video(video)
    assert frames.shape[0] == 4 and min(frames.shape[1:3]) >= 2 and not np.any(np.array(frames.shape[1:3]) % 2)
    out = cb.on_generate(pic, draft, 4, 4, "", "", "linear", "composite", 0, 256, progress=no_progress)
    assert read_video(out[3])[0].shape[0] == 4


# ---------------------------------------------------------------------------
# generation, and the page's layout through the CLI
# ---------------------------------------------------------------------------
def test_a_picture_with_room_for_a_box_uploads_without_a_warning(cb, tmp_path):
    """The thin-picture warning is for pictures a box cannot be drawn on, not for small ones (an 8x8 icon is
    enlarged for the page)."""
    import warnings

    for size in ((8, 8), (64, 8), (640, 24)):
        f = tmp_path / f"p{size[0]}x{size[1]}.png"
        Image.new("RGB", size, "red").save(f)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            cb.on_upload_picture(str(f), (), None, 4, 4, "", "", "linear")


def test_generate_with_composite_and_cli_reads_the_same_layout(cb, picture, tmp_path):
    from iva0.cli import main
    from iva0.io.video import read_video

    pic = cb.load_picture(picture)
    draft = (DraftObject("red square", {0: (0.1, 0.3, 0.3, 0.7), 7: (0.6, 0.3, 0.8, 0.7)}),)
    settings = ("8", 4, "", "", "linear")
    result, video, status, mp4, overlay = cb.on_generate(pic, draft, *settings, "composite", 0, 200, progress=no_progress)
    assert video == mp4 == result["video"] and overlay == result["overlay"] != mp4
    assert status.startswith("**Done:** 8 frames, 200×100, 4 fps, composite backend")
    frames, fps = read_video(video)
    assert frames.shape == (8, H, W, 3) and round(fps) == 4
    # the square travelled: red at its last box, not at its first
    assert frames[-1][50, 140, 0] > 150 and frames[-1][50, 140, 1] < 100
    assert int(frames[-1][50, 40, 1]) > int(frames[0][50, 40, 1]) + 30  # the square left: less pure red there
    # the overlay video is the same video with the boxes drawn: the toggle switches between them
    boxed, _ = read_video(overlay)
    assert boxed.shape == frames.shape and np.abs(boxed.astype(int) - frames.astype(int)).max() > 100
    assert cb.on_overlay(True, result) == overlay and cb.on_overlay(False, result) == video
    assert cb.on_overlay(True, None) == gr.skip()

    layout_file = cb.refresh(pic, draft, 0, 0, cb.settings(*settings))[-1]
    out = tmp_path / "cli.mp4"
    assert main(["animate", str(picture), "--layout", layout_file, "--out", str(out), "-q"]) == 0
    cli_frames, _ = read_video(out)
    assert cli_frames.shape == frames.shape
    assert np.abs(cli_frames.astype(int) - frames.astype(int)).mean() < 2  # same backend, same layout


def test_generate_passes_the_seed_and_size_to_the_backend(monkeypatch, cb, picture):
    """The seed typed in the page reaches the backend's animate call (issue 8), and so does the size."""
    import iva0.ui.backend_choice as bc

    calls = []

    class Recorder:
        name, max_side, size_multiple = "recorder", None, 2

        def animate(self, image, layout, *, seed, progress):
            calls.append((seed, image.shape))
            return np.zeros((layout.num_frames, *image.shape), np.uint8)

    monkeypatch.setattr(bc.BackendPool, "get", lambda self, name, **kw: Recorder())
    pic = cb.load_picture(picture)
    draft = (DraftObject("a", {0: (0.1, 0.3, 0.3, 0.7)}),)
    for seed in (7, 123456):
        _, _, status, _, _ = cb.on_generate(pic, draft, 4, 4, "", "", "linear", "composite", seed, 100, progress=no_progress)
        assert f"seed {seed}," in status
    assert calls == [(7, (50, 100, 3)), (123456, (50, 100, 3))]


def test_backends_offered_follow_the_model_folder(tmp_path):
    from iva0.ui.backend_choice import available_backends

    assert [c.name for c in available_backends(None)] == ["composite"]
    (tmp_path / "unet").mkdir()  # an iva0 / SD folder (tests/test_ui_ttm.py: the ttm folders and the refusals)
    offered = available_backends(tmp_path)
    assert [c.name for c in offered] == ["composite", "iva0"]
    assert "no in-place motion" in offered[0].note.replace("nothing moves in place", "no in-place motion")
    assert "GPU" in offered[1].note and "weights" in offered[1].note
    assert UiConfig(model=tmp_path).backends == ["composite", "iva0"]


def test_diffusion_backend_is_loaded_once_and_steps_change_per_run(monkeypatch, tmp_path):
    """Models take long to load: the page keeps one backend; steps/guidance are per-run settings."""
    from dataclasses import dataclass

    import iva0.backends as backends

    @dataclass
    class FakeSettings:
        steps: int = 25
        guidance: float = 7.5

    made = []

    class Fake:
        def __init__(self, **options):
            made.append(options)
            self.settings = FakeSettings()

    def create(name, **options):
        return Fake(**options) if name == "iva0" else backends.create_backend(name, **options)

    monkeypatch.setattr(backends, "create_backend", create)
    (tmp_path / "unet").mkdir()
    cb = Callbacks(UiConfig(model=tmp_path, backend_options={"device": "cpu"}), tmp_path / "work")
    a = cb.gen.pool.get("iva0", steps=4, guidance=3.0)
    b = cb.gen.pool.get("iva0", steps=9.0, guidance=None)
    assert a is b and made == [{"model": tmp_path, "device": "cpu"}]
    assert (b.settings.steps, b.settings.guidance) == (9, 3.0)
    with pytest.raises(UserError, match="steps must be 1..1000"):
        cb.gen.pool.get("iva0", steps=0)


def test_preview_video_draws_every_frame(cb, picture):
    from iva0.io.video import read_video

    pic = cb.load_picture(picture)
    draft = (DraftObject("red square", {0: (0.1, 0.3, 0.3, 0.7), 5: (0.6, 0.3, 0.8, 0.7)}),)
    video, status = cb.on_preview(pic, draft, 6, 3, "", "", "linear")
    frames, fps = read_video(video)
    assert frames.shape[0] == 6 and round(fps) == 3 and "not generated" in status


# ---------------------------------------------------------------------------
# bad input: one clean warning in the page, nothing changed, no error badge
# ---------------------------------------------------------------------------
def page_warning(fn, *args, **kwargs) -> str:
    """Call `fn` as the page does; the one warning it shows. The event must change nothing (skip)."""
    with pytest.warns(UserWarning) as caught:
        out = guarded(fn)(*args, **kwargs)
    assert out == gr.skip()  # not gr.Error: that would badge every output of the event
    msgs = [str(w.message) for w in caught]
    assert len(msgs) == 1, msgs
    msg = msgs[0]
    assert "Traceback" not in msg and "\n" not in msg
    assert not re.search(r"(^|[\s'\"(])/\w", msg), msg  # no server path
    assert not re.search(r"\w+(Error|Exception)\b", msg), msg  # no Python exception name
    return msg


def test_page_messages_hide_server_paths_and_exception_names():
    from iva0.ui.messages import page_message

    raw = "cannot read image /tmp/gradio/3f2a9c/notimage.png: not a supported picture (UnidentifiedImageError)"
    assert page_message(raw) == "cannot read image notimage.png: not a supported picture"
    assert page_message("cannot read image '/srv/x/y.png': [Errno 13]\\nPermission denied") == (
        "cannot read image 'y.png': [Errno 13]\\nPermission denied"
    )
    assert page_message("keyframes[1].frame: 15 is out of range 0..1") == "keyframes[1].frame: 15 is out of range 0..1"


def test_bad_uploads_give_clean_messages(cb, tmp_path):
    gradio_tmp = tmp_path / "gradio" / "3f2a9c0d"  # as Gradio stores an upload: a hashed folder, the user's name
    gradio_tmp.mkdir(parents=True)
    text = gradio_tmp / "notimage.png"
    text.write_text("not a picture")
    msg = page_warning(cb.on_upload_picture, str(text), (), None, *SETTINGS)
    assert msg == "cannot read image notimage.png: not a supported picture"  # defect 1 / issue 8: no path, no type
    huge = gradio_tmp / "wide.png"
    Image.new("RGB", (5000, 8)).save(huge)
    assert page_warning(cb.on_upload_picture, str(huge), (), None, *SETTINGS) == "wide.png: image too large: 5000x8 px (at most 4096 px per side)"

    bad = gradio_tmp / "bad.json"
    bad.write_text('{"objects": [')
    assert page_warning(cb.on_upload_layout, str(bad), None).startswith("bad.json: not valid JSON")
    bad.write_text(json.dumps({"objects": [{"name": "x", "keyframes": [{"frame": 0, "box": [10, 10, 50, 50]}]}]}))
    assert "these look like pixels" in page_warning(cb.on_upload_layout, str(bad), None)
    long = make_layout([("x", [(0, (0.1, 0.1, 0.2, 0.2))])], num_frames=100)
    long.save(bad)
    assert "num_frames: 100 is more than this page allows (32)" in page_warning(cb.on_upload_layout, str(bad), None)
    many = make_layout([(f"o{i}", [(0, (0.1, 0.1, 0.2, 0.2))]) for i in range(editor.MAX_OBJECTS + 1)])
    many.save(bad)
    assert f"this page handles at most {editor.MAX_OBJECTS}" in page_warning(cb.on_upload_layout, str(bad), None)
    bad.write_bytes(b"\xff\xfe" * 10)
    assert "not UTF-8 text" in page_warning(cb.on_upload_layout, str(bad), None)
    bad.write_text('{"objects": ' + "[" * 100_000 + "]" * 100_000 + "}")  # deep enough to exhaust Python's stack
    assert page_warning(cb.on_upload_layout, str(bad), None) == "bad.json: JSON nested too deeply"
    # the other mistakes of defect 1: a 9th object, an empty name
    nine = tuple(DraftObject(f"o{i}") for i in range(editor.MAX_OBJECTS))
    assert "at most 8 objects" in page_warning(cb.on_add_object, "one more", None, nine, *SETTINGS)
    assert "type the object's name" in page_warning(cb.on_add_object, "  ", None, (), *SETTINGS)


def test_downloads_before_results_say_why(cb):
    """Defect 8."""
    assert "press Generate first" in page_warning(cb.on_download_mp4, None)
    assert "press Generate first" in page_warning(cb.on_download_overlay, None)
    assert "layout is not ready" in page_warning(cb.on_download_layout, None)
    assert cb.on_download_mp4("/some/run/video.mp4") == gr.skip()  # a file: the browser downloads it, nothing to say


def test_generate_refuses_clearly(cb, picture):
    pic = cb.load_picture(picture)
    ok = (DraftObject("a", {0: (0.1, 0.3, 0.3, 0.7)}),)
    assert "upload a picture" in page_warning(cb.on_generate, None, ok, *SETTINGS, "composite", 0, 256, progress=no_progress)
    assert "draw its box at frame 0" in page_warning(
        cb.on_generate, pic, (DraftObject("a"),), *SETTINGS, "composite", 0, 256, progress=no_progress
    )
    assert "backend 'iva0' is not available here" in page_warning(
        cb.on_generate, pic, ok, *SETTINGS, "iva0", 0, 256, progress=no_progress
    )
    for seed in (-1, 2**32, "x"):
        assert "seed: must be a whole number from 0 to 4294967295" in page_warning(
            cb.on_generate, pic, ok, *SETTINGS, "composite", seed, 256, progress=no_progress
        )


def test_a_bug_shows_one_line_and_no_traceback(caplog):
    def broken():
        return 1 / 0

    assert page_warning(broken) == "internal error; the details are in the server's log"
    assert "ZeroDivisionError" in caplog.text  # the traceback went to the server's log


def test_frame_label_text_sits_inside_its_box():
    """Defect 4: the frame label's letters and their dark backing stay together."""
    from iva0.ui.render import draw_draft

    out = draw_draft(np.full((400, 600, 3), 128, np.uint8), (), 10, 156)
    ys, xs = np.nonzero((out > 200).all(-1))  # the white letters
    dy, dx = np.nonzero((out < 30).all(-1))  # their dark backing
    assert len(xs) > 20 and len(dx) > 20
    assert dx.min() <= xs.min() and xs.max() <= dx.max() and dy.min() <= ys.min() and ys.max() <= dy.max()


def test_selected_object_is_bold_and_the_others_dimmed():
    from iva0.io.overlay import color
    from iva0.ui.render import draw_draft

    draft = (DraftObject("a", {0: (0.1, 0.1, 0.3, 0.3)}), DraftObject("b", {0: (0.6, 0.6, 0.8, 0.8)}))
    img = draw_draft(np.zeros((200, 200, 3), np.uint8), draft, 0, 8, selected=0)
    edge_a, edge_b = img[40, 20].astype(int), img[140, 120].astype(int)  # left edges of a's and b's boxes
    assert np.abs(edge_a - color(0)).max() < 30  # full colour
    assert 0 < edge_b.max() < 0.6 * max(color(1))  # dimmed


def test_page_wires_guarded_events_and_one_generation_at_a_time(tmp_path):
    from iva0.ui import build_app

    demo = build_app(UiConfig(), tmp_path)
    fns = [f for f in demo.fns.values() if f.fn is not None]
    names = {f.fn.__name__ for f in fns}
    assert {"on_sample", "on_upload_picture", "on_upload_layout", "on_boxes", "on_generate", "on_download_mp4"} <= names
    assert all(hasattr(f.fn, "__wrapped__") for f in fns)  # every callback goes through guarded
    generate = next(f for f in fns if f.fn.__name__ == "on_generate")
    assert generate.concurrency_limit == 1


def test_typed_slider_values_are_clamped_not_refused():
    """Gradio's own slider answers a typed 1000 with an error that badges the event's outputs (defect 3)."""
    from iva0.ui.app import ClampedSlider

    s = ClampedSlider(2, 64, value=16, step=1)
    assert (s.preprocess(1000), s.preprocess(0), s.preprocess(-5), s.preprocess(12)) == (64, 2, 2, 12)
    assert s.get_block_name() == "slider"


def test_an_object_index_the_list_no_longer_has_reads_as_no_selection():
    """An event sent before a new picture emptied the objects list names an index it no longer has: no
    selection, not Gradio's error toast ("Value: 0 ... is not in the list of choices: []")."""
    from iva0.ui.app import ObjectList

    empty = ObjectList(choices=[], value=None)
    two = ObjectList(choices=[("cup", 0), ("saucer", 1)], value=0)
    assert (empty.preprocess(0), empty.preprocess(None), two.preprocess(1), two.preprocess(2)) == (None, None, 1, None)
    assert empty.get_block_name() == "radio"


# ---------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------
def test_cli_refuses_bad_options(capsys):
    from iva0.cli import main

    with pytest.raises(SystemExit) as e:
        main(["ui", "--model", "/no/such/folder"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == "error: --model: model folder not found: /no/such/folder"
    with pytest.raises(SystemExit):
        main(["ui", "--device", "cuda"])
    assert "only apply with --model" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit):
            main(["ui", "--port", str(port)])
    assert capsys.readouterr().err.strip() == f"error: cannot serve on 127.0.0.1:{port}: already in use; pick another --port"
    with pytest.raises(SystemExit):
        main(["ui", "--host", "no-such-host.invalid"])
    assert capsys.readouterr().err.startswith("error: --host no-such-host.invalid: unknown address")


@pytest.mark.slow
def test_iva0_ui_serves_the_page_on_localhost_within_a_minute(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "True"}  # the app turns it off by itself
    proc = subprocess.Popen(
        [sys.executable, "-m", "iva0", "ui", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        t0 = time.monotonic()
        line = proc.stdout.readline()
        assert line.strip() == f"iva0 ui: serving on http://127.0.0.1:{port}/  (Ctrl+C to stop)", line
        html = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        assert time.monotonic() - t0 < 60
        assert "iva0: animate a picture along boxes" in html
        config = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30).read())
        assert config.get("analytics_enabled") is False
        # uploads over the page's limit (20 MB) are refused before any callback sees them
        assert upload(port, b"x" * 1000) == 200
        assert upload(port, b"x" * (20 * 2**20 + 1)) == 413
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def upload(port: int, data: bytes) -> int:
    """POST a file to the page's upload route; the HTTP status."""
    import urllib.error

    boundary = "iva0testboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/gradio_api/upload", data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_old_drawings_and_runs_are_pruned(cb):
    work = cb.work
    old = Path(work.image_file(np.zeros((8, 8, 3), np.uint8)))
    old_run = work.run_dir()
    (old_run / "x.mp4").write_bytes(b"x")
    for p in (old, old_run):
        os.utime(p, (time.time() - 7200, time.time() - 7200))
    work._last_prune = 0.0  # as if the last pruning were long ago
    new = Path(work.image_file(np.full((8, 8, 3), 255, np.uint8)))
    assert new.exists() and not old.exists() and not old_run.exists()
    assert Path(work.image_file(np.full((8, 8, 3), 255, np.uint8))) == new  # same drawing, same file
