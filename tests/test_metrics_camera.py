"""The camera metric (iva0.metrics.camera) and `bench eval` of videos made through a camera window."""

import numpy as np
import pytest

from iva0.animate import animate
from iva0.bench.evaluate import EvalOptions, evaluate_frames
from iva0.camera import output_boxes_px
from iva0.layout import make_layout
from iva0.metrics.calibration import photo
from iva0.metrics.camera import camera_error, requested_motion

PW, PH = 600, 400  # the picture
OW, OH = 240, 160  # the output
PAN_ZOOM = [(0, [0.05, 0.1, 0.55, 0.6]), (7, [0.35, 0.3, 0.75, 0.7])]  # pans right and down, zooms in by 1.25


def test_requested_motion_by_hand():
    # windows 100 px wide on a 100 px output (1:1), moving 10 px right a frame: the picture moves 10 px left
    M = requested_motion(np.array([[0, 0, 100, 50], [10, 0, 110, 50]], float), 100, 50)
    np.testing.assert_allclose(M[0], [[1, 0, -10], [0, 1, 0]])
    # zooming in 2x about the window's top-left corner: output px scale by 2
    M = requested_motion(np.array([[0, 0, 100, 50], [0, 0, 50, 25]], float), 100, 50)
    np.testing.assert_allclose(M[0], [[2, 0, 0], [0, 2, 0]])


def camera_video(windows):
    """A still photo seen through `windows` (normalised), rendered by the composite."""
    img = photo("chelsea", PW, PH)
    lay = make_layout([], num_frames=8, camera=windows)
    return img, lay, animate(img, lay, width=OW, height=OH).frames


@pytest.fixture(scope="module")
def pan_zoom():
    return camera_video(PAN_ZOOM)


def test_camera_error_near_zero_for_the_requested_motion(pan_zoom):
    img, lay, frames = pan_zoom
    win = lay.camera.windows(8) * [PW, PH, PW, PH]
    score = camera_error(frames, win, (PW, PH))
    assert score.unmeasured == 0 and score.error < 0.3  # px per frame; the window moves ~10 px a frame


@pytest.mark.parametrize("wrong", ["still", "reversed", "half"])
def test_camera_error_large_for_another_motion(pan_zoom, wrong):
    img, lay, frames = pan_zoom
    if wrong == "still":
        frames = np.repeat(frames[:1], len(frames), axis=0)  # the camera never moved
    elif wrong == "reversed":
        frames = frames[::-1].copy()  # the camera went the other way
    else:
        _, _, frames = camera_video([(0, PAN_ZOOM[0][1]), (7, list(np.mean([PAN_ZOOM[0][1], PAN_ZOOM[1][1]], axis=0)))])
    win = lay.camera.windows(8) * [PW, PH, PW, PH]
    assert camera_error(frames, win, (PW, PH)).error > 3.0


def test_bench_eval_scores_boxes_through_the_window_and_the_camera():
    """A cup that stays put while the camera pans: it moves in the output, and bench eval tracks it there."""
    img = photo("coffee", PW, PH)
    cup = [0.29, 0.04, 0.7, 0.77]
    lay = make_layout([("cup", [(0, cup)])], num_frames=8, camera=[(0, [0.0, 0.0, 0.8, 0.8]), (7, [0.2, 0.2, 1.0, 1.0])])
    frames = animate(img, lay, width=OW, height=OH).frames
    got = evaluate_frames(frames, img, lay, EvalOptions(workers=1))
    assert got["size"] == [OW, OH]
    assert got["objects"][0]["viou"] > 0.95  # scored in output pixels, through the window
    assert got["camera_error"] < 0.5
    # the background against the picture through each window (picture space at half the picture's size here)
    assert got["background_psnr"] >= 35 and got["background_ssim"] >= 0.95
    assert got["objects"][0]["left_behind"] is None and got["afterimage"] is None  # the cup never leaves its place
    # the same video scored against boxes in picture space would be off: the window moved 48 px
    b = output_boxes_px(lay, OW, OH)[0]
    assert np.abs(b[-1] - b[0]).max() > 40
    plain = make_layout([("cup", [(0, cup)])], num_frames=8)  # no camera: samples score as before
    assert evaluate_frames(frames[:, :, :], img, plain, EvalOptions(workers=1))["camera_error"] is None
