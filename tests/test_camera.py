"""The layout's camera (iva0.camera) and the composite's camera video."""

import json

import numpy as np
import pytest

from iva0.animate import animate
from iva0.backends.composite import CompositeBackend
from iva0.camera import Camera, output_boxes_px, output_to_picture, picture_space_size, picture_to_output
from iva0.errors import LayoutError, UserError
from iva0.io.image import read_image
from iva0.layout import load_layout, make_layout, parse_layout
from iva0.samples import get_sample


def cam_layout(**over):
    d = {
        "num_frames": 16,
        "objects": [{"name": "cup", "keyframes": [{"frame": 0, "box": [0.3, 0.1, 0.7, 0.8]}]}],
        "camera": {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 0.6, 0.6]},
                                 {"frame": 9, "box": [0.4, 0.1, 1.0, 0.7]},
                                 {"frame": 15, "box": [0.3, 0.3, 0.7, 0.7]}]},
    }
    d.update(over)
    return d


# ---- the layout ------------------------------------------------------------
def test_camera_parses_roundtrips_and_interpolates(tmp_path):
    lay = parse_layout(cam_layout())
    assert isinstance(lay.camera, Camera) and [k.frame for k in lay.camera.keyframes] == [0, 9, 15]
    p = tmp_path / "l.json"
    lay.save(p)
    assert load_layout(p) == lay and json.loads(p.read_text())["camera"] == cam_layout()["camera"]
    w = lay.camera.windows(16)
    assert w.shape == (16, 4)
    np.testing.assert_allclose(w[0], [0.0, 0.0, 0.6, 0.6])
    np.testing.assert_allclose(w[3], [0.4 / 3, 0.1 / 3, 0.6 + 0.4 / 3, 0.6 + 0.1 / 3])  # linear between keys
    np.testing.assert_allclose(w[15], [0.3, 0.3, 0.7, 0.7])
    smooth = lay.with_overrides(interpolation="smooth").camera.windows(16, "smooth")
    np.testing.assert_allclose(smooth[[0, 9, 15]], w[[0, 9, 15]], atol=1e-12)  # exact at the keys
    ratio = (smooth[:, 2] - smooth[:, 0]) / (smooth[:, 3] - smooth[:, 1])
    np.testing.assert_allclose(ratio, 1.0, rtol=1e-9)  # both interpolations keep the keys' aspect ratio


def test_windows_hold_after_the_last_key_and_without_a_camera_layout_is_unchanged():
    lay = parse_layout(cam_layout(camera={"keyframes": [{"frame": 0, "box": [0, 0, 0.5, 0.5]},
                                                        {"frame": 4, "box": [0.5, 0.5, 1, 1]}]}))
    w = lay.camera.windows(16)
    for f in range(4, 16):
        np.testing.assert_allclose(w[f], [0.5, 0.5, 1, 1])
    plain = cam_layout()
    del plain["camera"]
    lay = parse_layout(plain)
    assert lay.camera is None and "camera" not in lay.to_dict()


def test_camera_without_objects_is_valid():
    lay = parse_layout({"num_frames": 8, "camera": {"keyframes": [{"frame": 0, "box": [0, 0, 1, 1]}]}})
    assert lay.objects == () and lay.boxes().shape == (0, 8, 4)
    lay = parse_layout({"num_frames": 8, "objects": [], "camera": {"keyframes": [{"frame": 0, "box": [0, 0, 1, 1]}]}})
    assert lay.objects == ()
    with pytest.raises(LayoutError, match=r"^objects: empty"):
        parse_layout({"num_frames": 8, "objects": []})


def test_with_overrides_keeps_replaces_and_removes_the_camera():
    lay = parse_layout(cam_layout())
    assert lay.with_overrides(num_frames=20).camera == lay.camera
    other = lay.with_overrides(camera={"keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.9, 0.9]}]})
    assert other.camera.keyframes[0].box == (0.1, 0.1, 0.9, 0.9)
    assert lay.with_overrides(camera={}).camera is None
    with pytest.raises(LayoutError, match=r"^camera\.keyframes\[1\]\.frame: 9 is out of range"):
        lay.with_overrides(num_frames=8)  # a key past the new frame count, like objects


def _set(path, value):
    def mutate(d):
        target = d
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return mutate


BAD_CAMERAS = {
    "not an object": (_set(["camera"], [0, 0, 1, 1]), r"^camera: must be an object"),
    "unknown field": (_set(["camera", "zoom"], 2), r"^camera: unknown field\(s\) 'zoom'"),
    "no keyframes": (_set(["camera", "keyframes"], []), r"^camera\.keyframes: must be a non-empty list"),
    "unknown key field": (_set(["camera", "keyframes", 1, "ease"], "in"), r"^camera\.keyframes\[1\]: unknown field"),
    "missing frame 0": (_set(["camera", "keyframes", 0, "frame"], 2), r"^camera\.keyframes: needs a key window at frame 0"),
    "duplicate frame": (_set(["camera", "keyframes", 2, "frame"], 9), r"^camera\.keyframes\[2\]\.frame: duplicate key frame 9"),
    "frame out of range": (_set(["camera", "keyframes", 2, "frame"], 16), r"^camera\.keyframes\[2\]\.frame: 16 is out of range"),
    "frame not an integer": (_set(["camera", "keyframes", 1, "frame"], 2.5), r"^camera\.keyframes\[1\]\.frame: must be an integer"),
    "missing box": (lambda d: d["camera"]["keyframes"][1].pop("box"), r"^camera\.keyframes\[1\]\.box: missing"),
    "box of 3": (_set(["camera", "keyframes", 1, "box"], [0, 0, 1]), r"^camera\.keyframes\[1\]\.box: must be a list of 4"),
    "no area": (_set(["camera", "keyframes", 1, "box"], [0.4, 0.1, 0.4, 0.7]), r"^camera\.keyframes\[1\]\.box: a window with no area"),
    "upside down": (_set(["camera", "keyframes", 1, "box"], [0.4, 0.7, 1.0, 0.1]), r"^camera\.keyframes\[1\]\.box: a window with no area"),
    "infinite": (_set(["camera", "keyframes", 1, "box"], [0.4, 0.1, float("inf"), 0.7]), r"^camera\.keyframes\[1\]\.box: non-finite"),
    "nan": (_set(["camera", "keyframes", 0, "box"], [float("nan"), 0, 0.6, 0.6]), r"^camera\.keyframes\[0\]\.box: non-finite"),
    "text": (_set(["camera", "keyframes", 0, "box"], [0, 0, "1", 1]), r"^camera\.keyframes\[0\]\.box: must be 4 numbers"),
    "pixels": (_set(["camera", "keyframes", 0, "box"], [0, 0, 320, 240]), r"these look like pixels"),
    "off the picture": (_set(["camera", "keyframes", 0, "box"], [1.2, 0, 1.8, 0.6]), r"^camera\.keyframes\[0\]\.box: the window must show part"),
}


@pytest.mark.parametrize("case", sorted(BAD_CAMERAS))
def test_bad_camera_names_the_field(case):
    mutate, pattern = BAD_CAMERAS[case]
    d = cam_layout()
    mutate(d)
    with pytest.raises(LayoutError, match=pattern) as e:
        parse_layout(d)
    assert "\n" not in str(e.value)


def test_aspect_ratio_checked_against_the_output():
    cam = parse_layout(cam_layout()).camera  # square windows in normalised units
    cam.check_aspect(600, 400, 600, 400)  # the picture's aspect: fine
    cam.check_aspect(600, 400, 606, 400)  # 1 % off: fine
    with pytest.raises(LayoutError, match=r"^camera\.keyframes\[frame 0\]\.box: aspect ratio 1\.500 .*640x400"):
        cam.check_aspect(600, 400, 640, 400)  # 6.7 % off
    wide = parse_layout(cam_layout(camera={"keyframes": [{"frame": 0, "box": [0, 0, 1, 0.5]}]})).camera
    wide.check_aspect(400, 400, 800, 400)


# ---- coordinates -----------------------------------------------------------
def test_picture_to_output_and_back():
    window = np.array([0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(picture_to_output([0.25, 0.5, 0.5, 0.75], window, 200, 100), [0, 0, 100, 50])
    boxes = np.random.default_rng(0).uniform(-0.5, 1.5, (3, 5, 4))  # (J, F, 4)
    windows = np.random.default_rng(1).uniform(0, 0.4, (5, 4)) + [0, 0, 0.6, 0.6]  # (F, 4)
    out = picture_to_output(boxes, windows[None], 320, 240)
    assert out.shape == (3, 5, 4)
    np.testing.assert_allclose(output_to_picture(out, windows[None], 320, 240), boxes)
    lay = parse_layout(cam_layout())
    np.testing.assert_allclose(output_boxes_px(lay, 300, 200)[0, 0], [0.5 * 300, 1 / 6 * 200, 7 / 6 * 300, 8 / 6 * 200])
    plain = make_layout([("a", [(0, [0.1, 0.2, 0.3, 0.4])])], num_frames=4)
    np.testing.assert_allclose(output_boxes_px(plain, 300, 200), plain.boxes_px(300, 200))


def test_picture_space_size_serves_the_tightest_window_up_to_the_picture():
    w = np.array([[0, 0, 1, 1], [0, 0, 0.5, 0.5]])
    assert picture_space_size(1200, 800, 300, 200, w) == (600, 400)  # the 0.5 window is 1:1 at 600 px
    assert picture_space_size(600, 400, 600, 400, w) == (600, 400)  # never above the picture
    assert picture_space_size(4000, 3000, 2000, 1500, w, max_side=2048) == (2048, 1536)


# ---- the composite ---------------------------------------------------------
def _area_or_linear(n_out: int, start: float, width: float, n_in: int) -> np.ndarray:
    """(n_out, n_in) weights, written out independently of the code under test: each output pixel is the exact
    area average of the input over its footprint when zooming out, linear interpolation at its centre when not;
    past the edges the edge pixel repeats."""
    step = width / n_out
    A = np.zeros((n_out, n_in))
    for u in range(n_out):
        if step > 1:
            a, b = start + u * step, start + (u + 1) * step
            for i in range(int(np.floor(a)), int(np.ceil(b))):
                ov = min(b, i + 1) - max(a, i)
                if ov > 0:
                    A[u, min(max(i, 0), n_in - 1)] += ov / step
        else:
            x = start + (u + 0.5) * step - 0.5
            i = int(np.floor(x))
            A[u, min(max(i, 0), n_in - 1)] += 1 - (x - i)
            A[u, min(max(i + 1, 0), n_in - 1)] += x - i
    return A


def expected_crop(img: np.ndarray, win_px, out_w: int, out_h: int) -> np.ndarray:
    H, W = img.shape[:2]
    x0, y0, x1, y1 = win_px
    ax, ay = _area_or_linear(out_w, x0, x1 - x0, W), _area_or_linear(out_h, y0, y1 - y0, H)
    f = img.astype(np.float64)
    return np.stack([ay @ f[..., c] @ ax.T for c in range(3)], -1)  # (out_h, out_w, 3)


def psnr(a, b) -> float:
    mse = np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


CAMERAS = {
    "pan": [(0, [0.0, 0.0, 0.5, 0.5]), (8, [0.5, 0.5, 1.0, 1.0])],
    "zoom in": [(0, [0.0, 0.0, 1.0, 1.0]), (8, [0.3, 0.2, 0.63, 0.53])],
    "zoom out past the edges": [(0, [0.1, 0.3, 0.4, 0.6]), (8, [-0.2, -0.1, 0.9, 1.0])],
}


@pytest.mark.parametrize("camera", sorted(CAMERAS))
def test_still_picture_through_a_moving_window_reproduces_its_pixels(camera):
    """No objects: frame f must be window f of the picture at the output size (>= 35 dB PSNR, every frame),
    whether the window pans, zooms in (magnified) or out (area filtered) at sub-pixel places."""
    img = read_image(get_sample("coffee").image)  # 600 x 400, a photo
    H, W = img.shape[:2]
    lay = make_layout([], num_frames=9, camera=CAMERAS[camera])
    r = CompositeBackend().render_video(img, lay, out_size=(240, 160), known=True)
    assert r.frames.shape == (9, 160, 240, 3) and r.frames.dtype == np.uint8
    windows = lay.camera.windows(9) * [W, H, W, H]
    scores = [psnr(r.frames[f], expected_crop(img, windows[f], 240, 160)) for f in range(9)]
    assert min(scores) >= 35.0, scores


def disc_scene(W=300, H=200, cx=100, cy=100, r=30):
    """A red textured disc (the object) on a smooth textured background; its box, normalised."""
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.stack([60 + 40 * np.sin(xx / 9.0), 90 + 30 * np.cos(yy / 7.0), 120 + 0 * xx], -1).astype(np.float32)
    disc = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    img[disc] = np.stack([230 + 20 * np.sin(xx / 2.0), 40 + 30 * np.sin(yy / 2.0), 30 + 0 * xx], -1)[disc]
    return np.clip(img, 0, 255).astype(np.uint8), [(cx - r - 4) / W, (cy - r - 4) / H, (cx + r + 4) / W, (cy + r + 4) / H]


def test_known_marks_revealed_borders_and_uncovered_fill():
    img, box = disc_scene()
    moved = [box[0] + 0.4, box[1], box[2] + 0.4, box[3]]  # the disc moves right, from x=100 to 220 px
    lay = make_layout([("disc", [(0, box), (4, moved)])], num_frames=5,
                      camera=[(0, [0.0, 0.0, 1.0, 1.0]), (4, [-0.25, 0.0, 0.75, 1.0])])  # pans left past the edge
    r = CompositeBackend().render_video(img, lay, out_size=(300, 200), known=True, alphas=True)
    assert r.known.shape == r.alphas.shape == (5, 200, 300) and r.known.dtype == np.float32
    assert r.known[0].min() == 1.0  # frame 0 is the input, all on the picture
    last = r.known[4]  # frame 4 shows picture x in [-75, 225] px, 1:1
    assert last[:, :74].max() == 0.0 and last[:, 76:].max() == 1.0  # past the picture's left edge: revealed, unknown
    assert last[90:110, 165:185].max() == 0.0  # where the disc was (x=100 -> output 175): the fill, unknown
    assert last[90:110, 285:300].min() == 1.0 and r.alphas[4, 90:110, 285:300].min() > 0.9  # where it is now: known
    assert last[:40, 100:].min() == 1.0  # the camera-moved background is known
    frame = r.frames[4].astype(int)
    assert (frame[90:110, 285:300, 0] > 180).all()  # and shows the disc, moved through the window


def test_known_without_a_camera_is_the_plate_rule():
    img, box = disc_scene()
    lay = make_layout([("disc", [(0, box), (4, [box[0] + 0.4, box[1], box[2] + 0.4, box[3]])])], num_frames=5)
    be = CompositeBackend()
    r = be.render_video(img, lay, known=True, alphas=True)
    frames, alphas = be.render(img, lay, alphas=True)  # the older call gives the same frames and alphas
    np.testing.assert_array_equal(r.frames, frames)
    np.testing.assert_array_equal(r.alphas, alphas)
    assert r.known[0].min() == 1.0
    assert r.known[4][90:110, 90:110].max() == 0.0  # the vacated hole, filled: unknown
    assert r.known[4][90:110, 210:230].min() == 1.0  # where the disc arrived
    assert r.known[4][:50].min() == 1.0  # the background


def test_objects_move_in_picture_space_and_show_through_the_window():
    """An object standing still while the camera pans: in the output it moves the other way, by the window's shift."""
    img = read_image(get_sample("coffee").image)
    lay = make_layout([("cup", [(0, [0.29, 0.04, 0.7, 0.77])])], num_frames=5,
                      camera=[(0, [0.0, 0.0, 0.8, 0.8]), (4, [0.2, 0.2, 1.0, 1.0])])
    anim = animate(img, lay, width=300)
    F, h, w = anim.frames.shape[:3]
    assert (w, h) == (300, 200)
    b = output_boxes_px(lay, w, h)  # (1, F, 4)
    np.testing.assert_allclose(b[0, 4] - b[0, 0], [-75, -50, -75, -50])
    # inside the cup, frame 4 shows what frame 0 showed, shifted by the window's move (the cup stays put)
    a, c = anim.frames[0, 60:150, 150:220], anim.frames[4, 10:100, 75:145]
    assert psnr(a, c) > 30
    assert psnr(a, anim.frames[4, 60:150, 150:220]) < 25  # (not the same place in the output)


def test_animate_checks_the_aspect_ratio_and_refuses_backends_without_a_camera(tmp_path):
    img = read_image(get_sample("coffee").image)
    lay = parse_layout(cam_layout())
    with pytest.raises(LayoutError, match=r"^camera\.keyframes\[frame 0\]\.box: aspect ratio"):
        animate(img, lay, width=400, height=400)  # square output, 3:2 windows
    with pytest.raises(UserError, match=r"^camera: the iva0 backend has no camera motion"):
        animate(img, lay, "iva0", model=tmp_path / "nowhere")  # refused before the backend (and its models) load


def test_retiming_moves_the_camera_keys_too():
    """`bench run --frames` (and ttm's model frame count) spread the keys over the new length: the camera's too."""
    from iva0.retime import retime_layout

    lay = parse_layout(cam_layout())
    short = retime_layout(lay, 6)
    assert [k.frame for k in short.camera.keyframes] == [0, 3, 5]
    np.testing.assert_allclose(short.camera.windows(6)[-1], lay.camera.windows(16)[-1])
