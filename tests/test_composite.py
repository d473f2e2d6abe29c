import numpy as np
import pytest

from iva0.animate import animate
from iva0.backends.composite import CompositeBackend, background_plate
from iva0.errors import UserError
from iva0.layout import make_layout
from iva0.masks import never_occupied


def scene(H=96, W=128):
    """A textured disc (the object) on a smooth, textured background."""
    yy, xx = np.mgrid[0:H, 0:W]
    bg = np.stack([60 + 40 * np.sin(xx / 9.0), 90 + 30 * np.cos(yy / 7.0), 120 + 0 * xx], -1)
    img = bg.astype(np.float32)
    cx, cy, r = 32, 48, 14
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    pattern = np.stack([230 + 20 * np.sin(xx / 2.0), 40 + 30 * np.sin(yy / 2.0), 30 + 0 * xx], -1)
    img[disc] = pattern[disc]
    return np.clip(img, 0, 255).astype(np.uint8), (cx - r - 3) / W, (cy - r - 3) / H, (cx + r + 3) / W, (cy + r + 3) / H


def test_object_moves_along_its_boxes_and_frame0_is_input():
    img, x0, y0, x1, y1 = scene()
    lay = make_layout([("disc", [(0, [x0, y0, x1, y1]), (7, [x0 + 0.4, y0, x1 + 0.4, y1])])], num_frames=8)
    fr = CompositeBackend().animate(img, lay)
    assert fr.shape == (8,) + img.shape and fr.dtype == np.uint8
    np.testing.assert_array_equal(fr[0], img)
    H, W = img.shape[:2]
    red = (fr[..., 0] > 200) & (fr[..., 1] < 100)  # the disc's colour
    # centre of the red pixels follows the box centre
    for f in (0, 3, 7):
        ys, xs = np.nonzero(red[f])
        box = lay.boxes_px(W, H)[0, f]
        assert abs(xs.mean() - (box[0] + box[2]) / 2) < 2.5
        assert abs(ys.mean() - (box[1] + box[3]) / 2) < 2.5
    # the vacated place no longer shows the disc
    assert red[7, 40:56, 24:40].mean() < 0.05
    # far background untouched
    bg = never_occupied(lay, H, W)
    assert np.abs(fr[7][bg].astype(int) - img[bg]).max() <= 1


def test_scaling_and_leaving_the_frame():
    img, x0, y0, x1, y1 = scene()
    lay = make_layout(
        [("disc", [(0, [x0, y0, x1, y1]), (3, [x0, y0, x0 + 2 * (x1 - x0), y0 + 2 * (y1 - y0)]), (5, [0.9, y0, 1.2, y1])])],
        num_frames=6,
    )
    fr = CompositeBackend().animate(img, lay)
    red = (fr[..., 0] > 200) & (fr[..., 1] < 100)
    assert red[3].sum() > 3.0 * red[0].sum()  # twice the side, ~4x the area
    assert 0 < red[5].sum() < 0.6 * red[0].sum()  # partly out of the frame


def test_lower_object_in_front():
    H, W = 64, 64
    img = np.full((H, W, 3), 128, np.uint8)
    img[8:24, 8:24] = (255, 0, 0)
    img[40:56, 40:56] = (0, 0, 255)
    lay = make_layout(
        [("red", [(0, [0.1, 0.1, 0.4, 0.4]), (3, [0.35, 0.35, 0.65, 0.65])]),
         ("blue", [(0, [0.6, 0.6, 0.9, 0.9]), (3, [0.4, 0.4, 0.7, 0.7])])],
        num_frames=4,
    )
    fr = CompositeBackend().animate(img, lay)
    # blue's box bottom (0.7) is lower than red's (0.65): blue is in front where they overlap
    c = fr[3, 30, 30]
    assert c[2] > 200 and c[0] < 60


def test_plate_removes_object():
    img, x0, y0, x1, y1 = scene()
    lay = make_layout([("disc", [(0, [x0, y0, x1, y1])])], num_frames=2)
    plate = background_plate(img, lay)
    red = (plate[..., 0] > 200) & (plate[..., 1] < 100)
    assert red.sum() < 10


def test_sample_photo_end_to_end():
    from iva0.samples import default_sample

    s = default_sample()
    anim = animate(s.image, s.layout, width=240)
    assert anim.frames.shape[0] == anim.layout.num_frames and anim.frames.shape[2] == 240


def test_unknown_option():
    with pytest.raises(UserError, match="unknown option"):
        CompositeBackend(colour=3)
    with pytest.raises(UserError, match="fill"):
        CompositeBackend(fill="magic")
