"""The camera's parallax (iva0.backends.composite.parallax, iva0.depth, iva0.depth_model): off is bit-identical;
near pixels move (1 + s (d - d_ref)) times as far as the window's motion; near wins (z-buffer); what they uncover is
unknown (and so not pinned in the ttm reference); bad input is one line, exit 2, nothing written; the tiny random
Depth Anything model runs end to end through the CLI."""

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iva0.backends.composite import CompositeBackend
from iva0.backends.composite import parallax as par_mod
from iva0.backends.composite.parallax import ParallaxModel, warp
from iva0.backends.composite.window import window_to_px
from iva0.depth import read_depth_file
from iva0.errors import LayoutError
from iva0.io.video import read_video
from iva0.layout import load_layout, parse_layout
from iva0.samples import get_sample
from iva0_test_helpers import run_cli as run

H, W = 120, 160
SQUARE = (40, 80, 60, 100)  # y0, y1, x0, x1: the near square on the far background
WHITE = (255, 255, 255)


def two_planes():
    """A picture (H, W, 3) with a white square on a ramp (no pure white), and its depth: square 1, background 0."""
    yy, xx = np.mgrid[0:H, 0:W]
    img = np.stack([xx * 200 // W, (yy * 3) % 200, np.full_like(xx, 60)], -1).astype(np.uint8)
    y0, y1, x0, x1 = SQUARE
    img[y0:y1, x0:x1] = WHITE
    depth = np.zeros((H, W), np.float32)
    depth[y0:y1, x0:x1] = 1.0
    return img, depth


def pan_layout(parallax=None, depth=None, frames=5):
    cam = {"keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.6, 0.6]}, {"frame": frames - 1, "box": [0.3, 0.1, 0.8, 0.6]}]}
    if parallax is not None:
        cam["parallax"] = parallax
    if depth is not None:
        cam["depth"] = depth
    return {"num_frames": frames, "objects": [], "camera": cam}


def white_columns(frame):
    cols = np.nonzero((frame == 255).all(-1).any(0))[0]
    return cols.min(), cols.max()


# ---- off: bit for bit as without parallax -----------------------------------------------------------------------
def test_parallax_off_is_bit_identical_and_never_warps(tmp_path, monkeypatch):
    img, depth = two_planes()
    np.save(tmp_path / "d.npy", depth)
    base = parse_layout(pan_layout())
    ref = CompositeBackend().render_video(img, base, known=True, alphas=True, out_size=(80, 60))

    def boom(*a, **k):
        raise AssertionError("parallax code ran with parallax off")

    monkeypatch.setattr(par_mod, "warp", boom)
    monkeypatch.setattr(ParallaxModel, "build", boom)
    for data in (pan_layout(parallax=0), pan_layout(parallax=0.0, depth="d.npy")):
        (tmp_path / "l.json").write_text(json.dumps(data))
        r = CompositeBackend().render_video(img, load_layout(tmp_path / "l.json"), known=True, alphas=True,
                                            out_size=(80, 60))
        for a, b in ((r.frames, ref.frames), (r.known, ref.known), (r.alphas, ref.alphas)):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    assert "parallax" not in base.to_dict()["camera"]  # a layout without parallax writes none


# ---- the model ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("s", [0.5, 1.0, 2.5])
def test_pan_moves_the_near_square_more_than_the_far_background(s):
    img, depth = two_planes()
    out = CompositeBackend().render_video(img, parse_layout(pan_layout(s)), out_size=(80, 60), depth=depth).frames
    cam = CompositeBackend().render_video(img, parse_layout(pan_layout()), out_size=(80, 60)).frames
    # window 0 shows mostly background: d_ref = 0, so the square moves (1 + s) times as far as the window's motion
    windows = window_to_px(parse_layout(pan_layout()).camera.windows(5), W, H)
    model = ParallaxModel.build(s, depth, windows[0])
    assert model.ref == 0.0
    left0 = white_columns(out[0])[0]
    assert left0 == white_columns(cam[0])[0]  # frame 0 is the input, through window 0
    checked = 0
    for f in (1, 2, 3):
        cam_shift = white_columns(cam[f])[0] - left0  # the window's motion on screen (px, scale 1: 80 px window)
        assert cam_shift < 0
        if left0 + (1 + s) * cam_shift < 1:
            continue  # the square has reached the frame's edge
        assert abs((white_columns(out[f])[0] - left0) - (1 + s) * cam_shift) <= 1
        checked += 1
    assert checked >= 1
    # the far background (d = d_ref) moves exactly with the window: equal to the camera-only video away from the
    # square and from what it uncovers
    f = 2
    far = np.zeros((60, 80), bool)
    far[:, :max(0, min(white_columns(out[f])[0], white_columns(cam[f])[0]) - 3)] = True  # left of both squares
    top = np.nonzero((cam[f] == 255).all(-1).any(1))[0].min()
    far[:top - 3] = True  # and above them
    assert far.sum() > 1000
    assert np.abs(out[f].astype(int) - cam[f].astype(int))[far].max() <= 1


def test_zoom_scales_near_pixels_about_the_window_centre():
    img, depth = two_planes()
    cam = {"keyframes": [{"frame": 0, "box": [0.2, 0.1, 0.8, 0.7]}, {"frame": 2, "box": [0.35, 0.25, 0.65, 0.55]}],
           "parallax": 1.0}
    lay = parse_layout({"num_frames": 3, "objects": [], "camera": cam})
    without = parse_layout({"num_frames": 3, "objects": [], "camera": {"keyframes": cam["keyframes"]}})
    out = CompositeBackend().render_video(img, lay, out_size=(96, 72), depth=depth).frames
    ref = CompositeBackend().render_video(img, without, out_size=(96, 72)).frames
    # zooming in 2x: the near square (d - d_ref = 1) grows by 1 + s (1 - r) = 1.5 in picture space, so it shows
    # 1.5 times as wide as through the camera alone
    width = lambda fr: np.diff(white_columns(fr))[0] + 1  # noqa: E731
    assert abs(width(out[1]) / width(ref[1]) - (1 + 1.0 * (1 - 0.75))) < 0.06  # frame 1: r = 0.75
    assert width(out[0]) == width(ref[0])


@pytest.mark.parametrize("mirrored", [False, True])
def test_z_buffer_the_nearer_pixel_wins(mirrored):
    # a red column (depth 0.5) and a blue one (depth 1) on a far background; the window pans by 10 px, so red
    # moves 5 px and blue 10 px against the pan, and blue lands where red lands: the nearer one shows, whichever
    # comes first in memory (mirrored: the same scene flipped, the pan the other way)
    h, w = 10, 40
    canvas = np.zeros((h, w, 3), np.float32)
    depth = np.zeros((h, w), np.float32)
    canvas[:, 10:14], depth[:, 10:14] = (255, 0, 0), 0.5
    canvas[:, 20:24], depth[:, 20:24] = (0, 0, 255), 1.0
    pan = np.array([10.0, 0.0, 10.0, 0.0])
    if mirrored:
        canvas, depth, pan = canvas[:, ::-1].copy(), depth[:, ::-1].copy(), -pan
    window0 = np.array([0.0, 0.0, 40.0, 10.0])
    model = ParallaxModel(strength=1.0, depth=depth, ref=0.0, window0=window0)
    assert model.reach(window0 + pan) == pytest.approx(10.0)  # the nearest pixels move by the whole pan
    out, _, holes = warp(model, window0 + pan, depth, (0, 0), canvas, [], "telea")
    red_lands = range(5, 9) if not mirrored else range(w - 9, w - 5)
    blue_lands = range(10, 14) if not mirrored else range(w - 14, w - 10)
    for x in blue_lands:  # red's old place: blue (nearer) covers it
        assert tuple(out[5, x].round()) == (0, 0, 255), (x, out[5, x])
    for x in red_lands:
        assert tuple(out[5, x].round()) == (255, 0, 0), (x, out[5, x])
    assert holes[:, (20 if not mirrored else w - 24):(24 if not mirrored else w - 20)].all()  # blue's old place


def test_disoccluded_pixels_are_unknown_and_not_pinned_in_the_ttm_reference():
    from iva0.backends.ttm.reference import build_reference

    img, depth = two_planes()
    lay, cam_only = parse_layout(pan_layout(2.0)), parse_layout(pan_layout())
    r = CompositeBackend().render_video(img, lay, known=True, alphas=True, out_size=(80, 60), depth=depth)
    r0 = CompositeBackend().render_video(img, cam_only, known=True, alphas=True, out_size=(80, 60))
    f = 2
    # what the square uncovers: where it was through the camera alone, and is no more with parallax
    was = (r0.frames[f] == 255).all(-1)
    now = (r.frames[f] == 255).all(-1)
    uncovered = was & ~now
    assert uncovered.sum() > 100
    inner = uncovered & np.roll(uncovered, 2, 1) & np.roll(uncovered, -2, 1)  # away from its soft edge
    assert (r.known[f][inner] == 0).all()
    assert (r0.known[f][inner] == 1).all()  # the same pixels are known without parallax
    assert (r.known[f][now] > 0.5).all()  # the moved square itself is the picture's own pixels
    assert not (r.frames[f][inner] == 255).all(-1).any()  # filled with the fill, not left white
    assert (r.known[0] == r0.known[0]).all()  # frame 0 is the input
    # the ttm backend's pinned mask is made of the known mask: the uncovered pixels stay on the weak clock
    pic = img
    ref = build_reference(pic, lay, composite=_DepthComposite(depth), out_size=(80, 60))
    ref0 = build_reference(pic, cam_only, composite=CompositeBackend(), out_size=(80, 60))
    assert (ref.mask[f][inner] == 0).all() and (ref0.mask[f][inner] == 1).all()
    assert np.array_equal(ref.frames, r.frames)


class _DepthComposite(CompositeBackend):
    """A composite backend that brings its own depth map (as a depth model would)."""

    def __init__(self, depth):
        super().__init__()
        self._depth = depth

    def render_video(self, image, layout, **kw):
        return super().render_video(image, layout, depth=self._depth, **kw)


def test_objects_carry_their_depth_and_the_plate_gets_the_background_depth():
    img, depth = two_planes()
    y0, y1, x0, x1 = SQUARE
    box = [x0 / W, y0 / H, x1 / W, y1 / H]
    data = pan_layout(1.0)
    data["objects"] = [{"name": "square", "keyframes": [{"frame": 0, "box": box},
                                                       {"frame": 4, "box": [box[0] - 0.1, box[1], box[2] - 0.1, box[3]]}]}]
    r = CompositeBackend(segmenter="grabcut").render_video(img, parse_layout(data), out_size=(80, 60), depth=depth,
                                                            known=True)
    assert r.frames.shape == (5, 60, 80, 3) and np.isfinite(r.known).all()


# ---- depth files ----------------------------------------------------------------------------------------------
def test_depth_files_png_8_16_bit_and_npy_normalised_larger_nearer(tmp_path):
    ramp = np.tile(np.arange(64, dtype=np.float64), (32, 1))  # nearer to the right
    Image.fromarray((ramp * 4).astype(np.uint8)).save(tmp_path / "d8.png")
    Image.fromarray((ramp * 1000).astype(np.uint16)).save(tmp_path / "d16.png")
    np.save(tmp_path / "d.npy", ramp.astype(np.float32) - 7)
    for name in ("d8.png", "d16.png", "d.npy"):
        d = read_depth_file(tmp_path / name)
        assert d.dtype == np.float32 and d.shape == (32, 64)
        assert d.min() == 0 and d.max() == 1 and d[0, -1] == 1 and d[0, 0] == 0, name
    Image.fromarray(np.zeros((8, 8, 3), np.uint8) + np.array([0, 0, 9], np.uint8)).save(tmp_path / "colour.png")
    with pytest.raises(LayoutError, match="greyscale"):
        read_depth_file(tmp_path / "colour.png")
    np.save(tmp_path / "d3.npy", np.zeros((2, 2, 2)))
    with pytest.raises(LayoutError, match="2-D"):
        read_depth_file(tmp_path / "d3.npy")


# ---- the command line ---------------------------------------------------------------------------------------------
COFFEE = get_sample("coffee")  # 600 x 400


def files(d: Path):
    return sorted(str(p.relative_to(d)) for p in d.rglob("*"))


def one_error(args, work, capsys, pattern):
    before = files(work)
    code, out, err = run(args, capsys)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, (out, err)
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err + out, err
    assert pattern in lines[0], lines[0]
    assert files(work) == before
    return lines[0]


def coffee_camera(**cam):
    return {"num_frames": 4, "objects": [],
            "camera": {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 0.6, 0.6]}, {"frame": 3, "box": [0.4, 0.2, 1.0, 0.8]}],
                       **cam}}


def write(work: Path, data: dict, name="layout.json") -> Path:
    p = work / name
    p.write_text(json.dumps(data))
    return p


def animate_args(work, layout, *more):
    return ["animate", COFFEE.image, "-l", layout, "-o", work / "o.mp4", "-q", "--width", "96", *more]


def test_depth_outside_the_layout_folder_is_one_line_whether_or_not_it_exists(tmp_path, capsys):
    inner, outer = tmp_path / "in", tmp_path / "out"
    inner.mkdir()
    outer.mkdir()
    layout = write(inner, coffee_camera(parallax=1, depth="../out/d.png"))
    missing = one_error(animate_args(inner, layout), inner, capsys, "camera.depth: must be inside the layout's folder")
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(outer / "d.png")
    assert one_error(animate_args(inner, layout), inner, capsys, "must be inside") == missing  # learns nothing
    (inner / "link.png").symlink_to(outer / "d.png")  # a link that leaves the folder: the same words
    write(inner, coffee_camera(parallax=1, depth="link.png"))
    assert one_error(animate_args(inner, layout), inner, capsys, "must be inside").replace("link.png", "../out/d.png") == missing


@pytest.mark.parametrize("case,cam,extra,pattern", [
    ("wrong aspect", {"parallax": 1, "depth": "d_square.png"}, [], "camera.depth: depth map is 50x50, not the picture's aspect ratio"),
    ("parallax not a number", {"parallax": "lots"}, [], "camera.parallax: must be a number"),
    ("parallax a boolean", {"parallax": True}, [], "camera.parallax: must be a number"),
    ("parallax too large", {"parallax": 4.5}, [], "camera.parallax: must be from 0 (off) to 4"),
    ("parallax negative", {"parallax": -1}, [], "camera.parallax: must be from 0 (off) to 4"),
    ("depth not a string", {"parallax": 1, "depth": 3}, [], "camera.depth: must be the path of a depth map"),
    ("missing depth file", {"parallax": 1, "depth": "nope.png"}, [], "camera.depth: depth map file not found"),
    ("no depth at all", {"parallax": 1}, [], "camera.parallax: parallax needs a depth map"),
    ("--parallax not a number", {}, ["--parallax", "lots"], "--parallax"),
    ("--parallax too large", {}, ["--parallax", "5"], "--parallax"),
    ("--parallax without a depth", {}, ["--parallax", "1"], "parallax needs a depth map"),
    ("--depth-model missing", {"parallax": 1}, ["--depth-model", "no-such-folder"], "depth model no-such-folder: no such file or folder"),
    ("--depth-model not a model", {"parallax": 1}, ["--depth-model", "{work}/notamodel"], "no config.json"),
    ("--depth-model on iva0", {"parallax": 1}, ["--depth-model", "{work}/notamodel", "--backend", "iva0"], "--depth-model: the iva0 backend"),
    # a folder given is checked even when this layout does not need it (parallax off, or a depth file): a typo
    # is said at once, not on the first layout that needs it
    ("--depth-model unused, missing", {}, ["--depth-model", "no-such-folder"], "depth model no-such-folder: no such file or folder"),
    ("--depth-model unused, not a model", {"parallax": 0}, ["--depth-model", "{work}/notamodel"], "no config.json"),
])
def test_bad_parallax_input_is_one_line_exit_2_nothing_written(case, cam, extra, pattern, tmp_path, capsys):
    Image.fromarray(np.zeros((50, 50), np.uint8)).save(tmp_path / "d_square.png")
    (tmp_path / "notamodel").mkdir()
    layout = write(tmp_path, coffee_camera(**cam))
    one_error(animate_args(tmp_path, layout, *[e.format(work=tmp_path) for e in extra]), tmp_path, capsys, pattern)


def test_parallax_flag_needs_a_camera(tmp_path, capsys):
    layout = write(tmp_path, {"num_frames": 4, "objects": [{"name": "cup", "keyframes": [{"frame": 0, "box": [0.3, 0.1, 0.7, 0.8]}]}]})
    one_error(animate_args(tmp_path, layout, "--parallax", "1"), tmp_path, capsys, "--parallax: the layout has no camera")


def coffee_depth(path: Path) -> None:
    """A depth map of the coffee picture's aspect: the cup's region near, the rest far (16-bit)."""
    d = np.zeros((200, 300), np.uint16)
    d[40:170, 90:210] = 60000
    Image.fromarray(d).save(path)


def test_layout_depth_file_and_parallax_flag_through_the_cli(tmp_path, capsys):
    coffee_depth(tmp_path / "depth.png")
    layout = write(tmp_path, coffee_camera(depth="depth.png"))
    args = ["animate", COFFEE.image, "-l", layout, "-q", "--width", "96", "-o"]  # PNG frames: exact pixels
    code, out, err = run(args + [tmp_path / "flat"], capsys)  # parallax off: the depth is not read
    assert code == 0, err
    flat = read_video(tmp_path / "flat")[0]
    code, out, err = run(args + [tmp_path / "moved", "--parallax", "2"], capsys)
    assert code == 0, err
    moved = read_video(tmp_path / "moved")[0]
    assert np.array_equal(moved[0], flat[0])  # frame 0: the input through window 0
    assert np.abs(moved[-1].astype(int) - flat[-1].astype(int)).mean() > 1  # the last frame moved


def test_layout_zip_carries_the_depth_map(tmp_path, capsys):
    coffee_depth(tmp_path / "depth.png")
    z = tmp_path / "layout.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("layout.json", json.dumps(coffee_camera(parallax=1, depth="depth/d.png")))
        zf.write(tmp_path / "depth.png", "depth/d.png")
    code, out, err = run(animate_args(tmp_path, z), capsys)
    assert code == 0, err
    assert (tmp_path / "o.mp4").is_file()
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr("layout.json", json.dumps(coffee_camera(parallax=1, depth="../depth.png")))
    one_error(["animate", COFFEE.image, "-l", bad, "-o", tmp_path / "p.mp4", "-q", "--width", "96"], tmp_path, capsys,
              "camera.depth: ../depth.png is not in the .zip")


@pytest.fixture(scope="module")
def tiny_depth_model(tmp_path_factory):
    from iva0.depth_model import write_random_depth_model

    return write_random_depth_model(tmp_path_factory.mktemp("depth") / "depth-anything-tiny")


def test_tiny_depth_model_in_the_real_layout(tiny_depth_model):
    from iva0.depth_model import DepthModel, check_depth_model

    assert {p.name for p in tiny_depth_model.iterdir()} == {"config.json", "model.safetensors", "preprocessor_config.json"}
    cfg = json.loads((tiny_depth_model / "config.json").read_text())
    assert cfg["model_type"] == "depth_anything" and cfg["architectures"] == ["DepthAnythingForDepthEstimation"]
    assert cfg["backbone_config"]["model_type"] == "dinov2"
    check_depth_model(tiny_depth_model)
    d = DepthModel.load(tiny_depth_model).estimate(np.asarray(Image.open(COFFEE.image).convert("RGB"))[::4, ::4])
    assert d.shape == (100, 150) and d.dtype == np.float32 and d.min() == 0 and d.max() == 1


def test_tiny_models_command_writes_a_depth_anything_folder(tmp_path, capsys):
    code, out, err = run(["tiny-models", tmp_path / "da", "--family", "depth-anything", "-q"], capsys)
    assert code == 0, err
    assert {p.name for p in (tmp_path / "da").iterdir()} == {"config.json", "model.safetensors", "preprocessor_config.json"}
    code, out, err = run(["tiny-models", tmp_path / "da", "--family", "depth-anything", "-q"], capsys)
    assert code == 2 and "already exists" in err  # never replaced


def test_depth_model_folder_checks(tmp_path, tiny_depth_model):
    import shutil

    from iva0.depth_model import check_depth_model
    from iva0.errors import ModelError

    bad = tmp_path / "m"
    shutil.copytree(tiny_depth_model, bad)
    cfg = json.loads((bad / "config.json").read_text())
    (bad / "config.json").write_text(json.dumps({**cfg, "architectures": ["os.system"]}))
    with pytest.raises(ModelError, match="declares class"):
        check_depth_model(bad)
    (bad / "config.json").write_text(json.dumps({**cfg, "model_type": "sam2"}))
    with pytest.raises(ModelError, match="not 'depth_anything'"):
        check_depth_model(bad)
    (bad / "config.json").write_text(json.dumps(cfg))
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])  # truncated: its header claims more
    with pytest.raises(ModelError, match="broken weights"):
        check_depth_model(bad)
    (bad / "model.safetensors").unlink()
    (bad / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(ModelError, match="only pickle weights"):
        check_depth_model(bad)


@pytest.mark.parametrize("backend", ["composite", "ttm"])
def test_tiny_depth_model_end_to_end_through_the_cli(backend, tmp_path, capsys, tiny_depth_model):
    layout = write(tmp_path, coffee_camera())
    extra = []
    if backend == "ttm":
        from iva0.backends.ttm.tiny import write_model_folder

        write_model_folder(tmp_path / "wan", "wan21")
        extra = ["--model", tmp_path / "wan", "--steps", "2", "--width", "48", "--height", "32"]
        layout = write(tmp_path, {**coffee_camera(), "camera": {"keyframes": [
            {"frame": 0, "box": [0.0, 0.0, 0.5, 0.5]}, {"frame": 3, "box": [0.5, 0.5, 1.0, 1.0]}]}})
    args = ["animate", COFFEE.image, "-l", layout, "-o", tmp_path / "o.mp4", "-q", "--backend", backend,
            "--parallax", "1.5", "--depth-model", tiny_depth_model, *extra]
    if backend == "composite":
        args += ["--width", "96"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert read_video(tmp_path / "o.mp4")[0].shape[0] >= 4
