"""The camera through the command line: bad camera input is one line, exit 2, nothing written; preview and
--overlay draw the window's path; the overlay's boxes are in output pixels."""

import json
from pathlib import Path

import numpy as np
import pytest

from iva0.camera import output_boxes_px
from iva0.io.overlay import CAMERA_COLOR, draw_boxes
from iva0.layout_overlay import draw_layout, draw_preview
from iva0.io.video import read_video
from iva0.layout import make_layout, parse_layout
from iva0.samples import get_sample
from iva0_test_helpers import run_cli as run
from test_camera import BAD_CAMERAS, cam_layout

COFFEE = get_sample("coffee")  # 600 x 400


def files(d: Path):
    return sorted(p.name for p in d.rglob("*"))


def write_layout(work: Path, data: dict) -> Path:
    p = work / "layout.json"
    p.write_text(json.dumps(data))
    return p


def one_error_nothing_written(args, work, capsys, pattern=None):
    before = files(work)
    code, out, err = run(args, capsys)
    assert code == 2, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err + out
    if pattern is not None:
        assert pattern in lines[0], lines[0]
    assert files(work) == before  # nothing written, no temporary left
    return lines[0]


@pytest.mark.parametrize("command", ["animate", "preview"])
@pytest.mark.parametrize("case", sorted(BAD_CAMERAS))
def test_bad_camera_is_one_line_exit_2_nothing_written(case, command, tmp_path, capsys):
    mutate, _ = BAD_CAMERAS[case]
    d = cam_layout()
    mutate(d)
    layout = write_layout(tmp_path, d)
    args = [command, COFFEE.image, "-l", layout, "-o", tmp_path / "o.mp4"] + (["-q"] if command == "animate" else [])
    line = one_error_nothing_written(args, tmp_path, capsys)
    assert line.startswith("error: camera") or "non-finite number" in line, line  # (the JSON reader refuses Infinity, NaN)


def test_window_aspect_unlike_the_output_is_refused(tmp_path, capsys):
    layout = write_layout(tmp_path, cam_layout())  # square windows in picture units: the picture's 3:2 in pixels
    one_error_nothing_written(["animate", COFFEE.image, "-l", layout, "-o", tmp_path / "o.mp4", "--width", "300",
                               "--height", "300", "-q", "--overlay"], tmp_path, capsys,
                              "camera.keyframes[frame 0].box: aspect ratio 1.500")


def test_iva0_backend_refuses_a_camera_before_any_work(tmp_path, capsys):
    layout = write_layout(tmp_path, cam_layout())
    one_error_nothing_written(["animate", COFFEE.image, "-l", layout, "-o", tmp_path / "o.mp4", "-b", "iva0",
                               "--model", tmp_path / "no-such-model", "-q"], tmp_path, capsys,
                              "camera: the iva0 backend has no camera motion")


def test_frames_option_below_a_camera_key_is_refused(tmp_path, capsys):
    layout = write_layout(tmp_path, cam_layout())
    one_error_nothing_written(["animate", COFFEE.image, "-l", layout, "-o", tmp_path / "o.mp4", "--frames", "8", "-q"],
                              tmp_path, capsys, "camera.keyframes[1].frame: 9 is out of range")


def test_animate_with_a_camera_and_overlay(tmp_path, capsys):
    layout = write_layout(tmp_path, cam_layout(num_frames=6, camera={"keyframes": [
        {"frame": 0, "box": [0.0, 0.0, 0.6, 0.6]}, {"frame": 5, "box": [0.4, 0.4, 1.0, 1.0]}]}))
    out = tmp_path / "o.mp4"
    code, stdout, err = run(["animate", COFFEE.image, "-l", layout, "-o", out, "--width", "300", "--overlay", "-q"], capsys)
    assert code == 0, err
    frames, _ = read_video(out)
    over, _ = read_video(tmp_path / "o_overlay.mp4")
    assert frames.shape == over.shape == (6, 200, 300, 3)


def test_pure_camera_motion_layout(tmp_path, capsys):
    layout = write_layout(tmp_path, {"num_frames": 4, "camera": {"keyframes": [{"frame": 0, "box": [0, 0, 0.5, 0.5]},
                                                                               {"frame": 3, "box": [0.5, 0.5, 1, 1]}]}})
    code, _, err = run(["animate", COFFEE.image, "-l", layout, "-o", tmp_path / "o.gif", "-q"], capsys)
    assert code == 0, err
    code, _, err = run(["preview", COFFEE.image, "-l", layout, "-o", tmp_path / "p.mp4"], capsys)
    assert code == 0, err


# ---- drawing ------------------------------------------------------------------
def test_overlay_boxes_are_in_output_pixels_through_the_window():
    lay = parse_layout(cam_layout())
    frames = np.zeros((16, 200, 300, 3), np.uint8)
    drawn = draw_layout(frames, lay, path=False)
    boxes = output_boxes_px(lay, 300, 200)  # (1, F, 4)
    expect = draw_boxes(frames, boxes, lay.names, path=False)
    below_map = slice(80, 200)  # the window's map is drawn top right, above this
    np.testing.assert_array_equal(drawn[:, below_map], expect[:, below_map])
    # without the window the box would be elsewhere: the picture-pixel box differs from the output one
    assert not np.allclose(boxes[0, 0], lay.boxes_px(300, 200)[0, 0])
    # the map: the window's colour top right, nowhere in plain boxes
    corner = (slice(None), slice(0, 80), slice(200, 300))
    assert (drawn[corner] == CAMERA_COLOR).all(-1).any() and not (expect[corner] == CAMERA_COLOR).all(-1).any()


def test_preview_draws_the_window_at_each_frame():
    lay = make_layout([], num_frames=5, camera=[(0, [0.1, 0.1, 0.5, 0.5]), (4, [0.5, 0.5, 0.9, 0.9])])
    drawn = draw_preview(np.zeros((5, 100, 200, 3), np.uint8), lay)
    white = (drawn == CAMERA_COLOR).all(-1)  # (F, H, W)
    # frame 0's window edge at x = 20 px, y 10..50; frame 4's at x = 100 px, y 50..90
    assert white[0, 20:45, 19:22].any(1).all() and not white[0, 60:85, 99:102].any()
    assert white[4, 55:85, 99:102].any(1).all()
