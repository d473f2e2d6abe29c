"""iva0.comfy: the ComfyUI nodes, tested without ComfyUI (calling them as ComfyUI does)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from iva0.comfy import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS
from iva0.retime import retime_layout
from iva0.io.image import read_image, resize_image
from iva0.io.video import read_video
from iva0.layout import load_layout
from iva0.samples import get_sample

ROOT = Path(__file__).resolve().parent.parent
LINK_TYPES = {"IMAGE", "MASK"}  # inputs ComfyUI fills from another node's output, never from a widget
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN"}
W, H = 160, 120


# ------------------------------------------------------------------ helpers
def comfy_image(rgb: np.ndarray) -> torch.Tensor:
    """RGB uint8 (H, W, 3) -> ComfyUI IMAGE [1, H, W, 3] float32 in 0..1 (as LoadImage gives it)."""
    return torch.from_numpy(rgb.astype(np.float32) / 255.0)[None]


def call_node(name: str, **links):
    """Call a node as ComfyUI's executor does: every required widget input from its default, links given."""
    cls = NODE_CLASS_MAPPINGS[name]
    kwargs = {}
    for key, spec in cls.INPUT_TYPES()["required"].items():
        if key in links:
            continue
        kind, opts = spec[0], (spec[1] if len(spec) > 1 else {})
        kwargs[key] = opts["default"] if "default" in opts else kind[0]
    kwargs.update(links)
    out = getattr(cls(), cls.FUNCTION)(**kwargs)
    assert isinstance(out, tuple) and len(out) == len(cls.RETURN_TYPES)
    return out


def check_image(t, frames: int | None = None) -> None:
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.ndim == 4 and t.shape[-1] == 3
    assert frames is None or t.shape[0] == frames
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0


def check_mask(t, frames: int | None = None) -> None:
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32 and t.ndim == 3
    assert frames is None or t.shape[0] == frames
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0


def to_uint8(t: torch.Tensor) -> np.ndarray:
    return np.round(t.numpy() * 255.0).astype(np.uint8)


@pytest.fixture(scope="module")
def coffee(tmp_path_factory):
    """The coffee sample at 160x120 as a PNG, and its layout file."""
    d = tmp_path_factory.mktemp("coffee")
    s = get_sample("coffee")
    rgb = resize_image(read_image(s.image), W, H)
    Image.fromarray(rgb).save(d / "coffee.png")
    lay = retime_layout(load_layout(s.layout), 6)
    lay.save(d / "layout.json")
    return rgb, d / "coffee.png", d / "layout.json", lay


def object_masks(layout, width: int, height: int) -> np.ndarray:
    """One rectangular mask per object: the middle of its frame-0 box, (J, H, W) float32."""
    out = np.zeros((len(layout.objects), height, width), np.float32)
    for j, b in enumerate(layout.boxes_px(width, height)[:, 0]):
        x0, y0, x1, y1 = b
        cx, cy, hw, hh = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 4, (y1 - y0) / 4
        out[j, int(cy - hh):int(cy + hh), int(cx - hw):int(cx + hw)] = 1.0
    return out


# ------------------------------------------------------------------ the module and its node definitions
def test_import_needs_no_comfyui_nor_anything_heavy():
    """Importing iva0.comfy (and reading every node's definition) imports neither ComfyUI, torch, OpenCV,
    gradio, diffusers nor transformers: they are blocked here and the import still works."""
    code = (
        "import sys\n"
        "blocked = ['comfy', 'torch', 'cv2', 'gradio', 'diffusers', 'transformers', 'scipy', 'skimage', 'av']\n"
        "for m in blocked: sys.modules[m] = None\n"
        "import iva0.comfy as c\n"
        "for cls in c.NODE_CLASS_MAPPINGS.values(): cls.INPUT_TYPES()\n"
        "print(sorted(c.NODE_CLASS_MAPPINGS))\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src")})
    assert r.returncode == 0, r.stderr
    assert "IVA0CutAndDrag" in r.stdout


def test_mappings_name_every_node_and_display_name():
    assert set(NODE_CLASS_MAPPINGS) == set(NODE_DISPLAY_NAME_MAPPINGS) == {
        "IVA0CutAndDrag", "IVA0LayoutFromFile", "IVA0LayoutPreview", "IVA0Evaluate", "IVA0Animate"}
    assert NODE_DISPLAY_NAME_MAPPINGS["IVA0CutAndDrag"] == "iva0 Cut and Drag"


@pytest.mark.parametrize("name", sorted(NODE_CLASS_MAPPINGS))
def test_input_types_are_valid_comfyui(name):
    cls = NODE_CLASS_MAPPINGS[name]
    assert cls.CATEGORY == "iva0"
    assert callable(getattr(cls, cls.FUNCTION))
    assert len(cls.RETURN_TYPES) == len(cls.RETURN_NAMES)
    assert set(cls.RETURN_TYPES) <= LINK_TYPES | {"STRING", "INT"}
    spec = cls.INPUT_TYPES()
    assert set(spec) <= {"required", "optional"} and spec["required"]
    for section, inputs in spec.items():
        for key, entry in inputs.items():
            assert isinstance(entry, tuple) and 1 <= len(entry) <= 2, key
            kind, opts = entry[0], (entry[1] if len(entry) > 1 else {})
            assert isinstance(opts, dict)
            if isinstance(kind, list):  # a combo: its default is one of its choices
                assert kind and all(isinstance(c, str) for c in kind), key
                assert opts.get("default", kind[0]) in kind, key
                continue
            assert kind in LINK_TYPES | WIDGET_TYPES, (key, kind)
            if kind in LINK_TYPES:
                continue
            # every widget has a default (required ones above all), within its range
            assert "default" in opts, key
            d = opts["default"]
            if kind == "INT":
                assert isinstance(d, int) and not isinstance(d, bool), key
                assert opts["min"] <= d <= opts["max"], key
                assert opts["max"] <= 2**64, key
            elif kind == "FLOAT":
                assert isinstance(d, float) and opts["min"] <= d <= opts["max"], key
            elif kind == "STRING":
                assert isinstance(d, str), key


def test_every_node_called_as_comfyui_calls_it_gives_the_documented_types(coffee):
    """Required widget inputs from their defaults (the default layout is the coffee sample's)."""
    rgb = coffee[0]
    frames, motion, first = call_node("IVA0CutAndDrag", image=comfy_image(rgb))
    F = load_layout(get_sample("coffee").layout).num_frames
    check_image(frames, F)
    check_mask(motion, F)
    check_image(first, 1)
    assert frames.shape[1:3] == motion.shape[1:] == (H, W)
    (preview,) = call_node("IVA0LayoutPreview", image=comfy_image(rgb))
    check_image(preview, F)
    assert preview.shape[1:3] == (H, W)
    metrics, overlay = call_node("IVA0Evaluate", frames=frames)
    assert isinstance(metrics, str)
    m = json.loads(metrics)
    assert m["frames"] == F and [o["name"] for o in m["objects"]] == ["espresso cup", "spoon"]
    assert 0.0 <= m["objects"][0]["viou"] <= 1.0
    check_image(overlay, F)


# ------------------------------------------------------------------ cut and drag
def test_cut_and_drag_frames_equal_the_clis_composite_frames(coffee, tmp_path, capsys):
    """`iva0 animate --backend composite` to PNG frames (no video coding) and the node give the same pixels."""
    from iva0.cli import main

    rgb, png, layout_path, lay = coffee
    assert main(["animate", str(png), "-l", str(layout_path), "-o", str(tmp_path / "frames"), "-q", "--seed", "3"]) in (0, None)
    cli, _ = read_video(tmp_path / "frames")
    frames, motion, first = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=layout_path.read_text(), seed=3)
    assert cli.shape == (6, H, W, 3)
    np.testing.assert_array_equal(to_uint8(frames), cli)
    assert not np.array_equal(cli[-1], cli[0])  # the objects did move


def test_frame_zero_and_first_frame_are_the_picture(coffee):
    rgb, _, layout_path, _ = coffee
    frames, _, first = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=layout_path.read_text())
    np.testing.assert_array_equal(to_uint8(frames[0]), rgb)
    assert torch.equal(first[0], frames[0])


def test_image_batch_uses_its_first_item(coffee):
    rgb, _, layout_path, _ = coffee
    batch = torch.cat([comfy_image(rgb), comfy_image(255 - rgb)])
    frames, _, _ = call_node("IVA0CutAndDrag", image=batch, layout=layout_path.read_text())
    np.testing.assert_array_equal(to_uint8(frames[0]), rgb)


def test_masks_input_equals_the_same_masks_named_in_the_layout(coffee, tmp_path, capsys):
    """A MASK batch replaces the cut-outs exactly as mask files in the layout do on the CLI."""
    from iva0.cli import main

    rgb, png, _, lay = coffee
    masks = object_masks(lay, W, H)
    data = lay.to_dict()
    for j, obj in enumerate(data["objects"]):
        Image.fromarray((masks[j] * 255).astype(np.uint8)).save(tmp_path / f"m{j}.png")
        obj["mask"] = f"m{j}.png"
    (tmp_path / "masked.json").write_text(json.dumps(data))
    assert main(["animate", str(png), "-l", str(tmp_path / "masked.json"), "-o", str(tmp_path / "frames"), "-q"]) in (0, None)
    cli, _ = read_video(tmp_path / "frames")
    frames, motion, _ = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=lay.to_json(),
                                  masks=torch.from_numpy(masks), mask_dilate=0)
    np.testing.assert_array_equal(to_uint8(frames), cli)
    # frame 0's motion mask is the given masks themselves (their union), binarised
    np.testing.assert_array_equal(motion[0].numpy(), (masks.max(axis=0) >= 0.5).astype(np.float32))


def test_motion_mask_is_the_moved_cutouts(coffee):
    """Object-only mask: at frame f, 1 exactly where the objects' cut-outs are at their frame-f boxes."""
    rgb, _, _, lay = coffee
    one = lay.to_dict()
    one["objects"] = one["objects"][:1]
    x0, y0, x1, y1 = 0.2, 0.2, 0.4, 0.5
    one["objects"][0]["keyframes"] = [{"frame": 0, "box": [x0, y0, x1, y1]}, {"frame": 5, "box": [x0 + 0.4, y0, x1 + 0.4, y1]}]
    mask = np.zeros((1, H, W), np.float32)
    mask[0, 30:54, 40:60] = 1.0  # inside the frame-0 box (32..64 x 24..60 px)
    _, motion, _ = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=json.dumps(one),
                             masks=torch.from_numpy(mask), mask_dilate=0)
    m = motion.numpy()
    assert set(np.unique(m)) <= {0.0, 1.0}
    np.testing.assert_array_equal(m[0], mask[0])
    shift = round(0.4 * W)  # 64 px to the right at the last frame, same size
    np.testing.assert_array_equal(m[5], np.roll(mask[0], shift, axis=1))
    # in between: the same area, moved part of the way
    assert [int(m[f].sum()) for f in range(6)] == [int(mask.sum())] * 6
    cols = [np.nonzero(m[f].any(axis=0))[0][0] for f in range(6)]
    assert cols == sorted(cols) and cols[0] == 40 and cols[-1] == 40 + shift


def test_mask_dilate_grows_the_motion_mask(coffee):
    rgb, _, layout_path, _ = coffee
    text = layout_path.read_text()
    _, thin, _ = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=text, mask_dilate=0)
    _, thick, _ = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=text, mask_dilate=4)
    assert bool((thick >= thin).all()) and float(thick.sum()) > float(thin.sum())


def test_frames_width_and_height_inputs(coffee):
    rgb, _, layout_path, _ = coffee
    frames, motion, first = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=layout_path.read_text(),
                                      frames=9, width=80)
    assert frames.shape == (9, 60, 80, 3) and motion.shape == (9, 60, 80) and first.shape == (1, 60, 80, 3)


# ------------------------------------------------------------------ bad input: one clear ValueError
@pytest.mark.parametrize("case, words", [
    ("bad json", "not valid JSON"),
    ("empty layout", "layout: empty"),
    ("no objects", "objects"),
    ("too many masks", "3 mask(s) for 2 layout object(s)"),
    ("mask aspect", "not the picture's aspect ratio"),
    ("empty mask", "masks[1] (\"spoon\"): empty"),
    ("tiny width", "width: 0 (the picture's) or at least 16 px"),
    ("one frame", "frames: 0 (the layout's) or from 2 to 256, got 1"),
    ("too large", "output too large"),
    ("not an image", "expected an IMAGE batch"),
    ("sam2 without a model", "sam2 needs a model folder"),
])
def test_bad_input_is_one_clear_value_error(coffee, case, words):
    rgb, _, layout_path, lay = coffee
    links = {"image": comfy_image(rgb), "layout": layout_path.read_text()}
    masks = torch.from_numpy(object_masks(lay, W, H))
    links.update({
        "bad json": {"layout": '{"objects": ['},
        "empty layout": {"layout": "  "},
        "no objects": {"layout": '{"num_frames": 8, "objects": []}'},
        "too many masks": {"masks": torch.cat([masks, masks[:1]])},
        "mask aspect": {"masks": masks[:, :, :80]},
        "empty mask": {"masks": torch.stack([masks[0], torch.zeros_like(masks[1])])},
        "tiny width": {"width": 8},
        "one frame": {"frames": 1},
        "too large": {"width": 4096, "height": 4096, "frames": 256},
        "not an image": {"image": torch.zeros(H, W)},
        "sam2 without a model": {"segmenter": "sam2"},
    }[case])
    with pytest.raises(ValueError) as e:
        call_node("IVA0CutAndDrag", **links)
    assert words in str(e.value) and "\n" not in str(e.value)
    assert type(e.value) is ValueError  # ComfyUI shows the type's full name: a plain ValueError, not iva0's own


def test_preview_and_evaluate_refuse_bad_layout_text(coffee):
    rgb = coffee[0]
    with pytest.raises(ValueError, match="not valid JSON"):
        call_node("IVA0LayoutPreview", image=comfy_image(rgb), layout="{")
    with pytest.raises(ValueError, match="1 mask"):
        call_node("IVA0Evaluate", frames=torch.cat([comfy_image(rgb)] * 3), masks=torch.ones(1, H, W))


# ------------------------------------------------------------------ layout from file, preview, evaluate
def test_layout_from_file_gives_the_checked_layout_text(coffee, tmp_path):
    _, _, layout_path, lay = coffee
    (text,) = call_node("IVA0LayoutFromFile", path=str(layout_path))
    assert text == lay.to_json()
    cls = NODE_CLASS_MAPPINGS["IVA0LayoutFromFile"]
    before = cls.IS_CHANGED(path=str(layout_path))
    copy = tmp_path / "l.json"
    copy.write_text(layout_path.read_text())
    assert cls.IS_CHANGED(path=str(copy)) == before
    copy.write_text(lay.with_overrides(num_frames=7).to_json())
    assert cls.IS_CHANGED(path=str(copy)) != before  # ComfyUI runs the node again when the file changes


def test_layout_from_file_makes_mask_paths_absolute(tmp_path, coffee):
    _, _, _, lay = coffee
    data = lay.to_dict()
    data["objects"][0]["mask"] = "masks/cup.png"
    (tmp_path / "masks").mkdir()
    Image.fromarray((object_masks(lay, W, H)[0] * 255).astype(np.uint8)).save(tmp_path / "masks" / "cup.png")
    (tmp_path / "l.json").write_text(json.dumps(data))
    (text,) = call_node("IVA0LayoutFromFile", path=str(tmp_path / "l.json"))
    assert json.loads(text)["objects"][0]["mask"] == str(tmp_path / "masks" / "cup.png")


@pytest.mark.parametrize("path, words", [("", "path: empty"), ("/nonexistent/l.json", "not found")])
def test_layout_from_file_bad_path_is_a_value_error(path, words):
    with pytest.raises(ValueError, match=words):
        call_node("IVA0LayoutFromFile", path=path)


def test_preview_draws_the_layout_over_the_picture_or_frames(coffee):
    from iva0.layout_overlay import draw_preview

    rgb, _, layout_path, lay = coffee
    (still,) = call_node("IVA0LayoutPreview", image=comfy_image(rgb), layout=layout_path.read_text())
    np.testing.assert_array_equal(to_uint8(still), draw_preview(np.repeat(rgb[None], 6, 0), lay))  # as `iva0 preview`
    (over,) = call_node("IVA0LayoutPreview", image=torch.cat([comfy_image(rgb)] * 11), layout=layout_path.read_text())
    assert over.shape == (11, H, W, 3)  # a batch of frames: the layout retimed to it


def test_evaluate_gives_bench_evals_metrics(coffee):
    from iva0.bench.evaluate import evaluate_frames

    rgb, _, layout_path, lay = coffee
    frames, _, _ = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=layout_path.read_text())
    metrics, overlay = call_node("IVA0Evaluate", frames=frames, layout=layout_path.read_text(), image=comfy_image(rgb))
    expected = json.loads(json.dumps(evaluate_frames(to_uint8(frames), rgb, lay)))
    assert json.loads(metrics) == expected
    assert set(expected) >= {"objects", "background_psnr", "afterimage", "warp_error"}
    check_image(overlay, 6)


def test_evaluate_with_masks_scores_the_masked_afterimage(coffee):
    rgb, _, layout_path, lay = coffee
    frames, _, _ = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=layout_path.read_text())
    (metrics, _) = call_node("IVA0Evaluate", frames=frames, layout=layout_path.read_text(),
                             masks=torch.from_numpy(object_masks(lay, W, H)))
    assert json.loads(metrics)["afterimage_masked"] is not None


# ------------------------------------------------------------------ the comfyui/ folder
def _load_pack(blocked: list[str]) -> subprocess.CompletedProcess:
    code = (
        "import sys, importlib.util\n"
        f"for m in {blocked!r}: sys.modules[m] = None\n"
        f"spec = importlib.util.spec_from_file_location('iva0_pack', {str(ROOT / 'comfyui' / '__init__.py')!r},"
        f" submodule_search_locations=[{str(ROOT / 'comfyui')!r}])\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "print(sorted(mod.NODE_CLASS_MAPPINGS))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": str(ROOT / "src")})


def test_comfyui_folder_reexports_the_mappings():
    r = _load_pack([])
    assert r.returncode == 0, r.stderr
    assert "IVA0CutAndDrag" in r.stdout


def test_comfyui_folder_without_iva0_says_what_to_pip_install():
    r = _load_pack(["iva0"])
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: iva0 nodes: the iva0 package is not installed")
    assert f"python -m pip install -e '{ROOT}[comfy]'" in last


def test_comfyui_registry_metadata():
    import tomllib

    meta = tomllib.loads((ROOT / "comfyui" / "pyproject.toml").read_text())
    assert meta["project"]["name"] and meta["project"]["version"].count(".") == 2
    assert {"PublisherId", "DisplayName", "Icon"} <= set(meta["tool"]["comfy"])


# ------------------------------------------------------------------ camera (layout "camera": iva0.camera)
def camera_layout(lay) -> dict:
    data = lay.to_dict()
    data["camera"] = {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 0.8, 0.8]}, {"frame": 5, "box": [0.4, 0.1, 1.2, 0.9]}]}
    return data


def test_camera_frames_equal_the_clis_and_the_mask_holds_the_known_pixels(coffee, tmp_path):
    """With a camera: the CLI's composite frames; the motion mask is the moved cut-outs plus every pixel whose
    reference is known, so the border the camera reveals past the picture's right edge is not pinned."""
    from iva0.cli import main

    rgb, png, _, lay = coffee
    data = camera_layout(lay)
    (tmp_path / "cam.json").write_text(json.dumps(data))
    assert main(["animate", str(png), "-l", str(tmp_path / "cam.json"), "-o", str(tmp_path / "frames"), "-q"]) in (0, None)
    cli, _ = read_video(tmp_path / "frames")
    frames, motion, _ = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=json.dumps(data), mask_dilate=0)
    np.testing.assert_array_equal(to_uint8(frames), cli)
    m = motion.numpy()
    assert m[0].min() == 1.0  # window 0 lies inside the picture: every pixel is the picture's own
    edge = round((1.0 - 0.4) / 0.8 * W)  # output column where the last window leaves the picture
    assert m[5][:, edge + 1:].max() == 0.0  # the revealed border: unknown, not pinned
    assert m[5][:, : edge - 1].mean() > 0.5  # the camera-moved background: known, pinned
    _, objects_only, _ = call_node("IVA0CutAndDrag", image=comfy_image(rgb), layout=lay.to_json(), mask_dilate=0)
    assert objects_only.numpy()[0].mean() < 0.5  # without a camera: only the objects


# ------------------------------------------------------------------ the example workflows
WORKFLOWS = ROOT / "comfyui" / "workflows"


@pytest.mark.parametrize("name", ["cut_and_drag_video", "cut_and_drag_wan_ttm"])
def test_example_workflows_use_the_nodes_as_defined(name):
    """API JSON: every iva0 node gets each required input, a valid value or a link; the UI JSON (serialized by
    ComfyUI's frontend from the API JSON) holds the same nodes and links."""
    api = json.loads((WORKFLOWS / f"{name}_api.json").read_text())
    ui = json.loads((WORKFLOWS / f"{name}_ui.json").read_text())
    for node_id, node in api.items():
        for value in node["inputs"].values():
            if isinstance(value, list):  # a link [node id, output index]
                assert value[0] in api, (node_id, value)
        cls = NODE_CLASS_MAPPINGS.get(node["class_type"])
        if cls is None:
            continue
        spec = cls.INPUT_TYPES()
        assert set(spec["required"]) <= set(node["inputs"]), node_id
        for key, value in node["inputs"].items():
            entry = spec["required"].get(key) or spec.get("optional", {})[key]
            if isinstance(value, list):
                continue
            kind, opts = entry[0], (entry[1] if len(entry) > 1 else {})
            if isinstance(kind, list):
                assert value in kind, key
            elif kind == "INT":
                assert opts["min"] <= value <= opts["max"], key
    assert sorted(n["type"] for n in ui["nodes"]) == sorted(n["class_type"] for n in api.values())
    api_links = sum(isinstance(v, list) for n in api.values() for v in n["inputs"].values())
    assert len(ui["links"]) == api_links


def test_ttm_workflow_feeds_wanvideowrappers_ttm_node():
    api = json.loads((WORKFLOWS / "cut_and_drag_wan_ttm_api.json").read_text())
    ttm = next(n for n in api.values() if n["class_type"] == "WanVideoAddTTMLatents")
    cut = next(k for k, n in api.items() if n["class_type"] == "IVA0CutAndDrag")
    assert ttm["inputs"]["mask"] == [cut, 1]  # motion_mask
    encode = api[ttm["inputs"]["reference_latents"][0]]
    assert encode["class_type"] == "WanVideoEncode" and encode["inputs"]["image"] == [cut, 0]  # the frames
    frames = api[cut]["inputs"]["frames"]
    assert (frames - 1) % 4 == 0  # Wan's 4k+1 frames


def test_frames_input_retimes_the_camera_with_the_objects(coffee):
    """frames=N spreads the whole motion over N frames: the camera's key windows scale like the objects' boxes."""
    from iva0.comfy.run import parse_layout_text, with_frames

    _, _, _, lay = coffee
    longer = with_frames(parse_layout_text(json.dumps(camera_layout(lay))), 11)
    windows = longer.camera.windows(11, longer.interpolation)
    np.testing.assert_allclose(windows[-1], [0.4, 0.1, 1.2, 0.9])  # the last key window, at the last frame
    np.testing.assert_allclose(windows[5], [0.2, 0.05, 1.0, 0.85])  # half way, not already there


# ------------------------------------------------------------------ animate (ttm / iva0 backends), on a tiny model
@pytest.fixture(scope="module")
def tiny_wan(tmp_path_factory):
    """A random-weight Wan 2.1 folder in the real on-disk layout (`iva0 tiny-models --family wan21`)."""
    d = tmp_path_factory.mktemp("tiny-wan")
    r = subprocess.run([sys.executable, "-m", "iva0", "tiny-models", str(d / "wan"), "--family", "wan21", "-q"],
                       capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=600)
    assert r.returncode == 0, r.stderr
    return d / "wan"


def test_animate_node_gives_the_clis_ttm_frames(coffee, tiny_wan, tmp_path):
    """The one-node path: `iva0 animate --backend ttm` on the same folder and options, PNG frames (no coding)."""
    from iva0.cli import main

    rgb, png, _, lay = coffee
    short = retime_layout(lay, 3)
    (tmp_path / "short.json").write_text(short.to_json())
    args = ["--width", "48", "--height", "32", "--steps", "4", "--tweak-index", "1", "--tstrong-index", "2"]
    assert main(["animate", str(png), "-l", str(tmp_path / "short.json"), "-b", "ttm", "--model", str(tiny_wan), *args,
                 "-q", "-o", str(tmp_path / "frames")]) in (0, None)
    cli, _ = read_video(tmp_path / "frames")
    frames, fps = call_node("IVA0Animate", image=comfy_image(rgb), layout=short.to_json(), model=str(tiny_wan), width=48,
                            height=32, steps=4, tweak_index=1, tstrong_index=2)
    check_image(frames)
    assert fps == 16 and frames.shape == (5, 32, 48, 3)  # retimed to Wan's 16 fps, 4k+1 frames
    np.testing.assert_array_equal(to_uint8(frames), cli)


@pytest.mark.parametrize("links, words", [
    ({"model": ""}, "model: empty"),
    ({"backend": "iva0", "model": "x", "tweak_index": 2}, "apply to the ttm backend only"),
    ({"model": "/nonexistent/wan"}, "/nonexistent/wan"),
])
def test_animate_node_bad_input_is_one_value_error(coffee, links, words):
    with pytest.raises(ValueError) as e:
        call_node("IVA0Animate", image=comfy_image(coffee[0]), **links)
    assert words in str(e.value) and "\n" not in str(e.value) and type(e.value) is ValueError
