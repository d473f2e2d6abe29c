"""The camera in the page (issue 17): a "camera window" entry in the objects list whose key windows are drawn on
the canvas, snap to the video's shape, travel with the layout (download, upload) and move the generated video."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from iva0.layout import load_layout  # noqa: E402
from iva0.ui import editor  # noqa: E402
from iva0.ui.band import Geometry  # noqa: E402
from iva0.ui.callbacks import LOAD_OUTPUTS, SHOW_OUTPUTS, Callbacks  # noqa: E402
from iva0.ui.config import UiConfig  # noqa: E402
from iva0.ui.render import CAMERA_COLOUR  # noqa: E402
from test_ui import page_warning  # noqa: E402

W, H = 200, 100
SETTINGS = ("10", 8, "", "", "linear")  # frames, fps, prompt, negative, interpolation
SHOW = {name: i for i, name in enumerate(SHOW_OUTPUTS)}
LOAD = {name: i for i, name in enumerate(LOAD_OUTPUTS)}
ADD = 4  # on_add_object / on_add_camera: (draft, source, name box, frame, *show)


@pytest.fixture
def picture(tmp_path) -> Path:
    """200x100: a horizontal grey ramp with a red square at x 20..60, y 30..70 (every column differs)."""
    img = np.zeros((H, W, 3), np.uint8)
    img[...] = np.linspace(0, 255, W, dtype=np.uint8)[None, :, None]
    img[30:70, 20:60] = (220, 30, 30)
    path = tmp_path / "ramp.png"
    Image.fromarray(img).save(path)
    return path


@pytest.fixture
def cb(tmp_path) -> Callbacks:
    return Callbacks(UiConfig(max_frames=32, min_view_side=2 * W), tmp_path / "work")  # the picture shown at 2x


def px(x0, y0, x1, y1) -> dict:
    return {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1, "label": "", "color": (0, 0, 0)}


def on_canvas(shown, pic, x0, y0, x1, y1) -> dict:
    """An annotator box at (x0, y0, x1, y1) px of the picture shown, in px of the showing's canvas (the picture
    on its band, band.py)."""
    ox, oy = Geometry(*pic.size, band=shown["band"]).offset
    return px(x0 + ox, y0 + oy, x1 + ox, y1 + oy)


def drag_window(cb, pic, draft, frame, box_px) -> tuple:
    """Show the camera at `frame` and drag its window to `box_px` (px of the picture shown): (draft, *show)."""
    cam = editor.camera_index(draft)
    show = cb.on_select(pic, draft, cam, frame, *SETTINGS)
    annot, shown = show[SHOW["annotator"]], show[SHOW["shown"]]
    return cb.on_boxes({"image": annot["image"], "boxes": [on_canvas(shown, pic, *box_px)]}, pic, draft, shown, *SETTINGS)


def test_the_camera_entry_draws_its_windows_snaps_to_the_video_shape_and_is_in_the_layout(cb, picture, tmp_path):
    pic = cb.load_picture(picture)
    out = cb.on_add_camera(pic, (), *SETTINGS)
    draft, show = out[0], out[ADD:]
    assert editor.camera_index(draft) == 0 and draft[0].keys == {0: (0.0, 0.0, 1.0, 1.0)}
    assert show[SHOW["objects"]]["choices"] == [("camera window · keys 0", 0)]
    assert "Ready:** 0 objects" in show[SHOW["status"]] and "Camera: windows at frame(s) 0" in show[SHOW["status"]]
    assert show[SHOW["annotator"]]["boxes"][0]["color"] == CAMERA_COLOUR  # its own colour, not an object's

    # an object added later comes before the camera, which stays last; the object is selected
    out = cb.on_add_object("red square", pic, draft, *SETTINGS)
    draft, show = out[0], out[ADD:]
    assert [o.camera for o in draft] == [False, True] and show[SHOW["objects"]]["value"] == 0

    # at frame 9 the user drags the window's corner to a box twice as wide as the picture's shape: when let go
    # it snaps to the video's shape (the picture's, 2:1), about the same centre
    draft, *show = drag_window(cb, pic, draft, 9, (160, 20, 360, 100))  # 200x80 view px: 2.5:1
    x0, y0, x1, y1 = draft[1].keys[9]
    assert (x1 - x0) * W / ((y1 - y0) * H) == pytest.approx(2.0, rel=1e-6)
    assert ((x0 + x1) / 2, (y0 + y1) / 2) == pytest.approx((0.65, 0.3), abs=1e-6)
    assert (y1 - y0) == pytest.approx(0.4)  # the side changed most (the height, from the whole picture's) is kept
    assert show[SHOW["objects"]]["choices"][1] == ("camera window · keys 0, 9", 1)

    # the canvas at frame 4 draws the camera's window at each key frame in white, on the picture
    show = cb.on_select(pic, draft, 0, 4, *SETTINGS)
    canvas = np.asarray(Image.open(show[SHOW["annotator"]]["image"]))
    ox, oy = Geometry(*pic.size, band=show[SHOW["shown"]]["band"]).offset  # the picture on its band
    kx0, ky0, kx1, ky1 = (np.array(draft[1].keys[9]) * [2 * W, 2 * H, 2 * W, 2 * H] + [ox, oy, ox, oy]).round().astype(int)
    grey = canvas.astype(int).min(axis=2)  # white is bright in every channel (the red square is not)
    edge = grey[ky0 + 8 : ky1 - 8, kx0 - 2 : kx0 + 3].max(axis=1)  # the key-9 window's left edge, per row
    beside = grey[ky0 + 8 : ky1 - 8, kx0 - 8]  # the ramp just left of it (darker there)
    assert (edge - beside).min() > 40, "the frame-9 window is not drawn (a bright line, dimmed: another is selected)"

    # the layout: the download and the JSON carry the camera (the same schema as `iva0 animate --layout`)
    out = cb.on_add_object("x", pic, draft, *SETTINGS)  # needs a frame-0 box: not ready, says so
    assert "Not ready" in out[ADD + SHOW["status"]]
    status, text, file = cb.refresh(pic, draft, 1, 0, cb.settings(*SETTINGS))
    assert file is None or Path(file).suffix == ".json"
    layout = json.loads(text)
    assert layout["camera"] == {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 1.0, 1.0]},
                                              {"frame": 9, "box": [round(v, 6) for v in draft[1].keys[9]]}]}
    assert layout["objects"][0]["name"] == "red square" and len(layout["objects"]) == 1


def test_a_layout_with_a_camera_round_trips_through_upload_and_download(cb, picture, tmp_path):
    pic = cb.load_picture(picture)
    data = {"num_frames": 10, "fps": 8, "objects": [
        {"name": "sq", "keyframes": [{"frame": 0, "box": [0.1, 0.3, 0.3, 0.7]}]}],
        "camera": {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 0.6, 0.6]}, {"frame": 9, "box": [0.4, 0.1, 1.0, 0.7]}]}}
    path = tmp_path / "cam.json"
    path.write_text(json.dumps(data))
    out = cb.on_upload_layout(str(path), pic)
    draft = out[LOAD["draft"]]
    assert [o.camera for o in draft] == [False, True]
    assert draft[1].keys == {0: (0.0, 0.0, 0.6, 0.6), 9: (0.4, 0.1, 1.0, 0.7)}
    choices = out[LOAD["objects"]]["choices"]
    assert choices == [("sq · keys 0", 0), ("camera window · keys 0, 9", 1)]
    file = out[LOAD["layout_file"]]
    again = load_layout(file)
    assert again.camera is not None and again.camera.to_dict() == data["camera"]


def test_a_layout_whose_camera_has_parallax_says_the_page_keeps_its_windows_only(cb, picture, tmp_path):
    """The page has no place for the camera's parallax and depth map: an uploaded layout with them says so in one
    warning (it dropped them without a word), and keeps the windows; one without them says nothing."""
    import warnings

    pic = cb.load_picture(picture)
    windows = {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 0.6, 0.6]}, {"frame": 9, "box": [0.4, 0.1, 1.0, 0.7]}]}
    data = {"num_frames": 10, "objects": [{"name": "sq", "keyframes": [{"frame": 0, "box": [0.1, 0.3, 0.3, 0.7]}]}],
            "camera": {**windows, "parallax": 1.5}}
    path = tmp_path / "cam.json"
    path.write_text(json.dumps(data))
    with pytest.warns(UserWarning, match="keeps its windows only, not its parallax") as caught:
        out = cb.on_upload_layout(str(path), pic)
    assert len(caught) == 1
    assert load_layout(out[LOAD["layout_file"]]).camera.to_dict() == windows
    path.write_text(json.dumps({**data, "camera": windows}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        cb.on_upload_layout(str(path), pic)


def test_generate_moves_the_view_along_the_camera(cb, picture):
    """Generate passes the camera: each frame shows its window of the picture (a pure camera layout, no objects)."""
    pic = cb.load_picture(picture)
    draft, *_ = cb.on_add_camera(pic, (), *SETTINGS)
    draft, *_ = drag_window(cb, pic, draft, 0, (0, 0, 200, 100))  # the picture's left half: 100x50 px
    draft, *_ = drag_window(cb, pic, draft, 9, (200, 100, 400, 200))  # its bottom-right quarter
    assert draft[0].keys[0] == pytest.approx((0.0, 0.0, 0.5, 0.5)) and draft[0].keys[9] == pytest.approx((0.5, 0.5, 1.0, 1.0))
    result, video, status, mp4, _ = cb.on_generate(pic, draft, *SETTINGS, "composite", 0, 200, progress=lambda *a, **k: None)
    from iva0.io.video import read_video
    from iva0.metrics.consistency import psnr

    frames = read_video(mp4)[0] if isinstance(read_video(mp4), tuple) else read_video(mp4)
    frames = np.asarray(frames)
    F, h, w = frames.shape[:3]
    assert F == 10 and abs(w / h - 2.0) < 0.05
    full = np.asarray(Image.open(picture).convert("RGB"))
    for f, (x0, y0, x1, y1) in ((0, (0, 0, 100, 50)), (9, (100, 50, 200, 100))):
        want = np.asarray(Image.fromarray(full[y0:y1, x0:x1]).resize((w, h), Image.BILINEAR))
        assert psnr(frames[f], want) > 28, f  # the window's pixels (H.264 and a resample apart)
    assert psnr(frames[0], frames[9]) < 20  # and the view did move


def test_what_only_objects_have_is_refused_for_the_camera(cb, picture, tmp_path):
    pic = cb.load_picture(picture)
    draft, *_ = cb.on_add_camera(pic, (), *SETTINGS)
    assert "camera is a view window" in page_warning(cb.on_rename_object, "cam", pic, draft, 0, 0, *SETTINGS)
    mask = tmp_path / "m.png"
    Image.fromarray(np.full((H, W), 255, np.uint8)).save(mask)
    assert "camera is a view window" in page_warning(cb.on_upload_mask, str(mask), pic, draft, 0, 0, *SETTINGS)
    assert "camera is a view window" in page_warning(cb.on_clear_points, pic, draft, 0, 0, 0, *SETTINGS)
    assert "there is a camera already" in page_warning(cb.on_add_camera, pic, draft, *SETTINGS)
    assert "nothing is cut out" in cb.on_cutout(pic, draft, 0, 0, True)[1]
    # Delete with the camera selected removes it: back to a layout without a camera
    draft, *show = cb.on_remove_object(pic, draft, 0, 0, *SETTINGS)
    assert draft == () and "camera" not in show[SHOW["json"]]


def test_fit_window_keeps_the_side_changed_most_and_stays_inside_the_picture():
    # the width changed most (0.8 -> 0.5): kept; the height follows (aspect 1.0: the picture's shape)
    assert editor.fit_window((0.1, 0.1, 0.6, 0.4), 1.0, prev=(0.1, 0.1, 0.9, 0.4)) == pytest.approx((0.1, 0.0, 0.6, 0.5))
    # the height changed most: kept
    assert editor.fit_window((0.2, 0.2, 0.5, 0.6), 1.0, prev=(0.2, 0.2, 0.5, 0.3)) == pytest.approx((0.15, 0.2, 0.55, 0.6))
    # too tall for the picture once snapped: shrunk about its centre, then moved inside
    x0, y0, x1, y1 = editor.fit_window((0.0, 0.0, 1.0, 0.5), 0.5)
    assert (x0, y0, x1, y1) == pytest.approx((0.25, 0.0, 0.75, 1.0))


def test_the_preview_draws_the_camera_windows(cb, picture):
    pic = cb.load_picture(picture)
    draft, *_ = cb.on_add_camera(pic, (), *SETTINGS)
    draft, *_ = drag_window(cb, pic, draft, 9, (200, 100, 400, 200))
    video, status = cb.on_preview(pic, draft, *SETTINGS)
    from iva0.io.video import read_video

    frames = read_video(video)[0]
    assert frames.shape[0] == 10 and "not generated" in status
    # the window at frame 9 (the bottom-right quarter) is drawn in white: its top-left corner area is bright
    h, w = frames.shape[1:3]
    grey = frames[9].astype(int).min(axis=2)
    assert grey[h // 2 - 1 : h // 2 + 2, w // 2 + 10 : w - 10].max() > 230


def test_a_window_takes_the_shape_of_the_video_the_chosen_backend_makes(picture, tmp_path):
    """CogVideoX makes 720x480 (3:2) whatever the picture: on a 2:1 picture the camera's windows are 3:2, from the
    first one (the largest such window in the picture) to every one dragged."""
    from iva0.backends.ttm.tiny import write_model_folder

    cb = Callbacks(UiConfig(max_frames=32, min_view_side=2 * W, model=write_model_folder(tmp_path / "cog", "cogvideox")),
                   tmp_path / "work")
    pic = cb.load_picture(picture)
    assert cb.window_aspect(pic, "composite", 200) == pytest.approx(1.0, abs=0.02)
    assert cb.window_aspect(pic, "ttm", 200) == pytest.approx(1.5 / 2.0)
    draft, *_ = cb.on_add_camera(pic, (), *SETTINGS, "ttm", 200)
    x0, y0, x1, y1 = draft[0].keys[0]
    assert (x1 - x0) * W / ((y1 - y0) * H) == pytest.approx(1.5) and (y0, y1) == pytest.approx((0.0, 1.0))
    show = cb.on_select(pic, draft, 0, 9, *SETTINGS)
    annot, shown = show[SHOW["annotator"]], show[SHOW["shown"]]
    draft, *_ = cb.on_boxes({"image": annot["image"], "boxes": [on_canvas(shown, pic, 0, 0, 200, 160)]}, pic, draft,
                            shown, *SETTINGS, "ttm", 200)
    x0, y0, x1, y1 = draft[0].keys[9]
    assert (x1 - x0) * W / ((y1 - y0) * H) == pytest.approx(1.5)
    # the page's script holds a dragged window to this shape (canvas px w/h), told with the size line in one event
    note, shape = cb.on_video_size(pic, 200, 10, 8, "ttm")
    assert note == cb.on_video_note(pic, 200, 10, 8, "ttm") and float(shape) == pytest.approx(1.5, abs=1e-5)
    assert float(cb.on_video_size(pic, 200, 10, 8, "composite")[1]) == pytest.approx(W / H, abs=0.04)
    assert cb.on_video_size(None, 200, 10, 8, "composite")[1] == ""


# ---------------------------------------------------------------------------
# the band around the picture (band.py): windows past the picture's edges
# ---------------------------------------------------------------------------
def test_the_canvas_geometry_maps_boxes_through_the_band_and_back():
    from iva0.ui.band import Geometry

    geo = Geometry(400, 200, band=0.25)
    assert geo.offset == (100, 50) and geo.size == (600, 300)  # the picture's shape, on a quarter of it per side
    box = (0.1, 0.3, 0.3, 0.7)
    pixels = geo.box_to_pixels(box)
    assert pixels == {"xmin": 140, "ymin": 110, "xmax": 220, "ymax": 190}
    assert geo.box_from_pixels(pixels) == pytest.approx(box)
    window = (-0.2, -0.1, 0.9, 1.2)  # past the picture: a window keeps it, an object's box is clipped to the picture
    assert geo.box_from_pixels(geo.box_to_pixels(window, clip_to_picture=False)) == pytest.approx(window)
    assert geo.box_from_pixels(geo.box_to_pixels(window)) == pytest.approx((0.0, 0.0, 0.9, 1.0))
    assert geo.box_to_pixels((-2.0, 0.0, 3.0, 1.0), clip_to_picture=False)["xmin"] == 0  # never past the canvas
    # band 0 is the picture itself: px of the picture, a box past it clipped to it (the page without a camera)
    flat = Geometry(400, 200)
    assert flat.box_to_pixels(box) == {"xmin": 40, "ymin": 60, "xmax": 120, "ymax": 140}
    assert flat.box_to_pixels(window) == {"xmin": 0, "ymin": 0, "xmax": 360, "ymax": 200}
    assert flat.box_from_pixels(pixels) == (0.35, 0.55, 0.55, 0.95)


def test_the_band_grows_while_a_window_reaches_its_edge():
    from iva0.ui.band import BAND_MAX, BAND_START, BAND_STEP, REACH, band_for

    assert band_for([], has_camera=False) == 0.0
    assert band_for([(0.0, 0.0, 1.0, 1.0)], has_camera=True) == BAND_START
    assert band_for([(-0.1, 0.0, 0.9, 1.0)], has_camera=True) == BAND_START
    at_edge = (-BAND_START, 0.0, 1.0 - BAND_START, 1.0)  # dragged against the band's edge
    assert band_for([at_edge], has_camera=True) == pytest.approx(BAND_START + BAND_STEP)
    for reach in (0.26, 0.4, 0.61, 0.87):
        band = band_for([(0.0, 0.0, 1.0, 1.0), (0.2, 0.1, 1.0 + reach, 0.9)], has_camera=True)
        assert band - reach > REACH - 1e-9 and band - BAND_STEP - reach <= REACH + 1e-9  # the next step out
        assert round((band - BAND_START) / BAND_STEP, 6).is_integer()
    assert band_for([(-1.0, -1.0, 2.0, 2.0)], has_camera=True) == BAND_MAX  # as far as a layout's window reaches


def test_the_canvas_shows_the_hatched_band_only_with_a_camera(cb, picture):
    from iva0.ui.band import HATCH

    pic = cb.load_picture(picture)
    out = cb.on_add_object("sq", pic, (), *SETTINGS)
    plain = np.asarray(Image.open(out[ADD + SHOW["annotator"]]["image"]))
    assert plain.shape[:2] == (2 * H, 2 * W)  # the picture itself, as before
    draft = out[0]
    out = cb.on_add_camera(pic, draft, *SETTINGS)
    show = out[ADD:]
    banded = np.asarray(Image.open(show[SHOW["annotator"]]["image"])).astype(int)
    assert show[SHOW["shown"]]["band"] == 0.25 and banded.shape[:2] == (3 * H, 3 * W)
    corner = banded[: H // 2 - 4, : W // 2 - 4].reshape(-1, 3)  # the band's top-left corner: the two stripes' greys
    near = [np.abs(corner - np.array(c)).max(axis=1) < 12 for c in HATCH]
    assert (near[0] | near[1]).mean() > 0.9 and near[0].mean() > 0.2 and near[1].mean() > 0.2
    assert show[SHOW["tool"]].split("|")[3:] == ["camera", "100,50,500,250", "600,300"]  # for window_lock.py


def test_a_window_dragged_past_the_picture_stays_there_and_an_objects_box_is_clipped(cb, picture):
    pic = cb.load_picture(picture)
    draft = cb.on_add_object("sq", pic, (), *SETTINGS)[0]
    draft = cb.on_add_camera(pic, draft, *SETTINGS)[0]
    # the camera's window at frame 5: moved left and up, a fifth of it past the picture (px of the picture shown)
    draft, *show = drag_window(cb, pic, draft, 5, (-80, -40, 240, 120))
    assert draft[1].keys[5] == pytest.approx((-0.2, -0.2, 0.6, 0.6))
    # dragged against the band's edge (a quarter of the picture): the next showing has a wider band
    draft, *show = drag_window(cb, pic, draft, 7, (-100, 0, 300, 200))
    assert draft[1].keys[7] == pytest.approx((-0.25, 0.0, 0.75, 1.0)) and show[SHOW["shown"]]["band"] == 0.3
    # an object's box drawn partly on the band: the part on the picture
    show = cb.on_select(pic, draft, 0, 0, *SETTINGS)
    shown = show[SHOW["shown"]]
    box = on_canvas(shown, pic, -60, 20, 100, 90)
    draft, *show = cb.on_boxes({"image": show[SHOW["annotator"]]["image"], "boxes": [box]}, pic, draft, shown, *SETTINGS)
    assert draft[0].keys[0] == pytest.approx((0.0, 0.1, 0.25, 0.45))
    assert "Ready" in show[SHOW["status"]]  # the windows past the picture are a valid layout's
    # wholly on the band: a warning, no key
    show = cb.on_select(pic, draft, 0, 3, *SETTINGS)
    shown = show[SHOW["shown"]]
    box = on_canvas(shown, pic, -90, 10, -20, 60)
    with pytest.warns(UserWarning, match="on the picture itself"):
        out = cb.on_boxes({"image": show[SHOW["annotator"]]["image"], "boxes": [box]}, pic, draft, shown, *SETTINGS)
    assert out[0] == draft and 3 not in out[0][0].keys


def test_fit_window_may_reach_past_the_picture_by_the_band():
    # a window moved past the left edge stays there, within the band, and still shows part of the picture
    assert editor.fit_window((-0.2, 0.1, 0.3, 0.6), 1.0, reach=0.25) == pytest.approx((-0.2, 0.1, 0.3, 0.6))
    assert editor.fit_window((-0.4, 0.1, 0.1, 0.6), 1.0, reach=0.25) == pytest.approx((-0.25, 0.1, 0.25, 0.6))
    x0, y0, x1, y1 = editor.fit_window((1.1, 0.1, 1.3, 0.3), 1.0, reach=1.0)  # wholly outside: moved back onto it
    assert x0 < 1.0 and x1 - x0 == pytest.approx(0.2)
    # larger than the picture and its band: shrunk to fit them
    assert editor.fit_window((-0.5, -0.5, 1.5, 1.5), 1.0, reach=0.25) == pytest.approx((-0.25, -0.25, 1.25, 1.25))
    assert editor.fit_box((-0.2, 0.1, 0.5, 1.3)) == (0.0, 0.1, 0.5, 1.0) and editor.fit_box((-0.5, 0.1, -0.1, 0.3)) is None


def test_a_layout_with_windows_past_the_picture_round_trips_exactly(cb, picture, tmp_path):
    """The band never changes a box: every object and window shown on the banded canvas, and the annotator's echo
    of it fed back, leaves the layout as uploaded, to the last digit."""
    pic = cb.load_picture(picture)
    data = {"num_frames": 10, "fps": 8, "prompt": "", "negative_prompt": "", "interpolation": "linear",
            "objects": [{"name": "sq", "keyframes": [{"frame": 0, "box": [0.103, 0.301, 0.297, 0.699]},
                                                     {"frame": 9, "box": [0.0, 0.55, 0.123457, 1.0]}]}],
            "camera": {"keyframes": [{"frame": 0, "box": [-0.3, -0.2, 0.7, 0.8]},
                                     {"frame": 9, "box": [0.55, 0.35, 1.2, 1.0]}]}}
    path = tmp_path / "past.json"
    path.write_text(json.dumps(data))
    out = cb.on_upload_layout(str(path), pic)
    draft = out[LOAD["draft"]]
    assert out[LOAD["shown"]]["band"] == pytest.approx(0.35)  # the frame-0 window reaches 0.3 past: the band is wider
    for index in range(len(draft)):
        for frame in range(10):
            show = cb.on_select(pic, draft, index, frame, *SETTINGS)
            annot, shown = show[SHOW["annotator"]], show[SHOW["shown"]]
            echo = cb.on_boxes(annot, pic, draft, shown, *SETTINGS)  # the annotator reports what it was shown
            assert echo == gr.skip(), (index, frame)  # nothing moved: no key made, none changed
    status, text, file = cb.refresh(pic, draft, 0, 0, cb.settings(*SETTINGS))
    assert json.loads(text) == {**data, "num_frames": 10} and "Ready" in status
    assert json.loads(Path(file).read_text()) == json.loads(text)
