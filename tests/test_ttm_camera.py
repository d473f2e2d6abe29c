"""The ttm backend with a layout's camera (tiny random-weight Wan 2.1): the reference is the composite's camera
video, the pinned mask covers every pixel whose reference is known (objects and the camera-moved background),
revealed borders and filled holes stay on the weak clock, and the camera's own default indices."""

import numpy as np
import pytest
import torch

from iva0.layout import parse_layout

PICTURE = (64, 96)  # (H, W) picture space: the video is 32x48, windows 0.5 of the picture wide: 1:1 pixels
OUT = (48, 32)  # (width, height)
FRAMES = 17  # 1 s at Wan's 16 fps: 17 frames, latent frames stand for pixel frames 0, 1, 5, 9, 13
KEY = 8  # the ball and the window reach their last key at frame 8 and hold


def picture(h=PICTURE[0], w=PICTURE[1]):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (xx * 255 // (w - 1)).astype(np.uint8)
    img[..., 1] = (yy * 255 // (h - 1)).astype(np.uint8)
    img[..., 2] = 90
    img[((xx - 19) ** 2 + (yy - 32) ** 2) < 36] = (240, 30, 30)  # a red ball of radius 6 at (19, 32)
    return img


BALL0 = [0.1, 0.375, 0.3, 0.625]  # the ball's box at frame 0 (x 9.6..28.8, y 24..40 px)


def camera_layout(mask_path):
    """The ball moves right; the window pans right from the top-left quarter and ends 0.1 past the picture's right
    edge (from frame 7 on). The ball's own mask: the cut-out (and so the hole it leaves) is exactly the disc."""
    return parse_layout({"num_frames": FRAMES, "fps": 16, "prompt": "a red ball", "objects": [
        {"name": "ball", "mask": str(mask_path),
         "keyframes": [{"frame": 0, "box": BALL0}, {"frame": KEY, "box": [0.6, 0.375, 0.8, 0.625]}]}],
        "camera": {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 0.5, 0.5]},
                                 {"frame": KEY, "box": [0.6, 0.25, 1.1, 0.75]}]}})


@pytest.fixture(scope="module")
def mask_path(tmp_path_factory):
    from PIL import Image

    yy, xx = np.mgrid[0:PICTURE[0], 0:PICTURE[1]]
    path = tmp_path_factory.mktemp("ttm-camera-mask") / "ball.png"
    Image.fromarray(((((xx - 19) ** 2 + (yy - 32) ** 2) < 36) * 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture(scope="module")
def wan(tmp_path_factory):
    from iva0.backends.ttm.tiny import write_model_folder

    return write_model_folder(tmp_path_factory.mktemp("ttm-camera") / "wan21", "wan21")


@pytest.fixture(scope="module")
def run(wan, mask_path):
    """One camera run of the backend (steps 4: tweak 0, tstrong 1 from TTM's camera 2/5), and its composite."""
    from iva0.backends.ttm.backend import TTMBackend

    be = TTMBackend(model=str(wan), steps=4, mask_dilate=2)
    lay = camera_layout(mask_path)
    frames = be.animate(picture(), lay, seed=3, out_size=OUT)
    return be, lay, frames


def output_x_to_picture(f, layout, width=OUT[0]):
    """Picture x (normalised) of each output column's centre at frame f, from the window alone."""
    x0, _, x1, _ = layout.camera.windows(layout.num_frames, layout.interpolation)[f]
    return x0 + (np.arange(width) + 0.5) / width * (x1 - x0)


def test_reference_is_the_composites_camera_video_and_frame_0_its_window_0(run):
    from iva0.backends.composite import CompositeBackend

    be, lay, frames = run
    out = be.last
    assert out.info["camera"] and frames.shape == (FRAMES, OUT[1], OUT[0], 3)
    want = CompositeBackend().render_video(picture(), out.layout, seed=3, out_size=OUT).frames
    assert np.array_equal(out.reference, want)
    assert np.array_equal(frames[0], want[0])  # the model starts from window 0 of the picture, at the video's size
    assert np.abs(want[0].astype(int) - picture()[0:32, 0:48].astype(int)).max() <= 1  # window 0 is the top-left half


def test_pinned_mask_is_the_known_reference_not_the_revealed_border_nor_the_hole(run):
    be, lay, _ = run
    out = be.last
    mask = out.masks
    assert mask.shape == (FRAMES, OUT[1], OUT[0])
    assert mask[0].all()  # frame 0: the whole window is on the picture
    last = FRAMES - 1
    px = output_x_to_picture(last, out.layout)
    past = px > 1.0 + 1.0 / PICTURE[1]  # columns that show no picture pixel: the revealed border
    assert past.sum() >= 8  # 0.1 of the picture past its edge = 9.6 output px
    for f in range(FRAMES):
        revealed = output_x_to_picture(f, out.layout) > 1.0 + 1.0 / PICTURE[1]
        assert revealed.any() == (f >= KEY - 1)  # the window passes x = 1 between frames 6 and 7
        assert not mask[f][:, revealed].any(), f
    inside = px < 1.0 - 1.0 / PICTURE[1]
    assert mask[last][:, inside].all()  # the background the camera moves is pinned (not only the ball)
    # the hole the ball left (its frame-0 place, filled), once the ball has moved off it: not pinned
    f = 2  # window x 0.15..0.65 (14.4..62.4 px): the old centre (19, 32) in view; the ball at x 25.2..37.2 px
    wx0, wy0, wx1, wy1 = out.layout.camera.windows(FRAMES, out.layout.interpolation)[f]
    ox = (19 - wx0 * PICTURE[1]) / (wx1 - wx0) / PICTURE[1] * OUT[0]  # the old centre in output px
    oy = (32 - wy0 * PICTURE[0]) / (wy1 - wy0) / PICTURE[0] * OUT[1]
    yy, xx = np.mgrid[0:OUT[1], 0:OUT[0]] + 0.5
    old = (xx - ox) ** 2 + (yy - oy) ** 2 < 2.5 ** 2
    assert old.sum() >= 12 and not mask[f][old].any()
    assert mask[f][(xx - ox) ** 2 + (yy - oy) ** 2 > 14 ** 2].all()  # well off the hole and the ball: known


def test_latent_mask_pools_the_camera_mask(run):
    be, _, _ = run
    out = be.last
    picked = out.masks[[0, 1, 5, 9, 13]]  # the pixel frames latent frames 0..4 stand for
    cells = picked.reshape(5, OUT[1] // 8, 8, OUT[0] // 8, 8).mean(axis=(2, 4))  # (F', h, w) share in each 8x8 cell
    assert np.array_equal(out.latent_mask.numpy(), (cells >= 0.5).astype(np.float32))
    assert out.latent_mask[0].all()
    assert not out.latent_mask[3, :, 5].any() and out.latent_mask[3, :, :4].all()  # cells past the edge are free


def test_camera_indices_are_ttms_camera_defaults_and_overridable(run, wan):
    from iva0.backends.ttm.families import FAMILIES

    be, lay, _ = run
    assert (be.last.info["tweak_index"], be.last.info["tstrong_index"]) == (0, 1)  # 2/5 of 50 at 4 steps
    assert be.pipe.default_indices(50, camera=True) == (2, 5) and be.pipe.default_indices(50) == (3, 7)
    assert FAMILIES["cogvideox"].indices50(camera=True) == (3, 7) and FAMILIES["wan22-ti2v"].indices50(True) == (2, 5)
    assert be.pipe.default_indices(10, camera=True) == (0, 1) and be.pipe.default_indices(10) == (1, 2)
    be.settings.steps, be.settings.tweak_index = 10, 1
    try:
        be.animate(picture(), lay, seed=3, out_size=OUT)
        assert (be.last.info["tweak_index"], be.last.info["tstrong_index"]) == (1, 2)  # the camera's 5 of 50 -> 1, dragged
    finally:
        be.settings.steps, be.settings.tweak_index = 4, None


def test_no_camera_keeps_only_the_objects_pinned(run, mask_path):
    be, _, _ = run
    from iva0.animate import animate

    lay = camera_layout(mask_path).with_overrides(camera={})
    animate(picture(), lay, be, width=OUT[0], height=OUT[1], seed=3)
    assert not be.last.info["camera"]
    assert 0 < be.last.masks[-1].mean() < 0.5  # the ball and its margin only


def test_check_inputs_refuses_a_camera_without_the_dual_clock_and_out_size_without_a_camera(run, mask_path):
    be, lay, _ = run
    p = be.pipe
    ok = dict(num_frames=FRAMES, num_inference_steps=4, tweak_index=0, tstrong_index=1, guidance_scale=4.0,
              guidance_scale_2=None, reference=None, motion_mask=None, dual_clock_on=True, layout=lay, out_size=OUT)
    p.check_inputs(picture(), **ok)
    with pytest.raises(ValueError, match="has no camera"):
        p.check_inputs(picture(), **{**ok, "dual_clock_on": False})
    with pytest.raises(ValueError, match="out_size is for a layout with a camera"):
        p.check_inputs(picture(), **{**ok, "layout": lay.with_overrides(camera={})})
    with pytest.raises(ValueError, match="multiples of 16"):
        p.check_inputs(picture(), **{**ok, "out_size": (40, 32)})  # the video's size is checked, not the picture's


def test_cogvideox_camera_run(tmp_path_factory, mask_path):
    """CogVideoX's latents are (B, F', C, h, w) and its frames 8k+1: the same camera mask, its own indices (3/7)."""
    from iva0.backends.ttm.backend import TTMBackend
    from iva0.backends.ttm.tiny import write_model_folder

    folder = write_model_folder(tmp_path_factory.mktemp("ttm-camera-cog") / "cog", "cogvideox")
    be = TTMBackend(model=str(folder), steps=8, mask_dilate=2)
    lay = camera_layout(mask_path).with_overrides(num_frames=17, fps=8)  # 2 s at 8 fps: 17 frames, 5 latent frames
    frames = be.animate(picture(), lay, seed=1, out_size=OUT)
    out = be.last
    assert frames.shape == (17, 32, 48, 3) and out.info["camera"]
    assert (out.info["tweak_index"], out.info["tstrong_index"]) == (0, 1)  # 3/7 of 50 at 8 steps: 0.48 -> 0, 1.12 -> 1
    cells = out.masks[[0, 1, 5, 9, 13]].reshape(5, 4, 8, 6, 8).mean(axis=(2, 4))
    assert np.array_equal(out.latent_mask.numpy(), (cells >= 0.5).astype(np.float32))
    assert out.latent_mask[0].all() and not out.latent_mask[4].all()  # the revealed border at the end is free
