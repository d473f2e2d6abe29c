"""Issue 16, parts 1 and 2: shared layouts, zips, benchmarks and model folders are read within limits.

A layout's masks stay inside its own folder (the benchmark's for `bench`), are inputs of the output rule, and every
size or count is checked before any work: one `error:` line, exit 2, nothing written (helpers: test_output_rule.py).
"""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iva0.errors import LayoutError
from iva0.layout import load_layout
from test_bench_run import make_bench
from test_output_rule import refused, run, scene  # noqa: F401 - scene is a fixture

BOX0 = [0.12, 0.2, 0.44, 0.62]


def _mask(path: Path, size=(64, 48)) -> Path:
    m = np.zeros((size[1], size[0]), np.uint8)
    m[10:30, 8:28] = 255
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(m).save(path)
    return path


def _layout(path: Path, mask=None, name="square", n_objects=1) -> Path:
    obj = {"name": name, "keyframes": [{"frame": 0, "box": BOX0}, {"frame": 3, "box": [0.5, 0.2, 0.82, 0.62]}]}
    if mask is not None:
        obj["mask"] = mask
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"num_frames": 4, "fps": 4, "objects": [obj] * n_objects}))
    return path


# ---------------------------------------------------------------- 1. masks stay inside the layout's folder
def test_mask_outside_the_layout_folder_is_refused_alike_whether_it_exists_or_not(scene, capsys):
    secret = _mask(scene / "secret.png")  # outside lay/, where the layout lives
    (scene / "lay").mkdir()
    os.symlink(secret, scene / "lay" / "link.png")  # a link inside that leaves the folder
    os.symlink(scene, scene / "lay" / "up")  # a folder link that leaves it
    lines = {}
    for given in ("../secret.png", "../missing.png", str(secret), str(scene / "missing.png"), "link.png",
                  "up/secret.png", "up/missing.png", "/etc/passwd", "/etc/no-such-file"):
        _layout(scene / "lay" / "L.json", given)
        line = refused(["animate", "photo.png", "-l", "lay/L.json", "-o", "out.mp4", "-q"], capsys, scene,
                       "must be inside the layout's folder")
        assert line.endswith(json.dumps(given)) or "…" in line  # the path as given (cut short if long), no other
        lines[given] = line.rsplit(", got ", 1)[0]
    assert len(set(lines.values())) == 1, lines  # the same words for an existing and a missing outside file
    assert "not found" not in next(iter(lines.values()))


def test_mask_inside_the_layout_folder_is_read(scene, capsys):
    _mask(scene / "lay" / "masks" / "sq.png")
    _layout(scene / "lay" / "L.json", "masks/sq.png")
    code, _, err = run(["animate", "photo.png", "-l", "lay/L.json", "-o", "out.mp4", "-q"], capsys)
    assert code == 0, err
    assert load_layout(scene / "lay" / "L.json").objects[0].mask == str((scene / "lay" / "masks" / "sq.png").resolve())


def test_bench_masks_stay_inside_the_benchmark_folder(tmp_path, capsys):
    root = make_bench(tmp_path / "b", n=1, size=(96, 80))
    _mask(root / "masks" / "m.png", size=(96, 80))
    lay = json.loads((root / "lay" / "s0.json").read_text())
    lay["objects"][0]["mask"] = "../masks/m.png"  # beside lay/, inside the benchmark: allowed
    (root / "lay" / "s0.json").write_text(json.dumps(lay))
    from iva0.bench.format import load_benchmark

    assert load_benchmark(root).samples[0].layout.objects[0].mask == str((root / "masks" / "m.png").resolve())
    _mask(tmp_path / "outside.png", size=(96, 80))
    for given in ("../../outside.png", "../../missing.png", str(tmp_path / "outside.png")):
        lay["objects"][0]["mask"] = given
        (root / "lay" / "s0.json").write_text(json.dumps(lay))
        refused(["bench", "run", str(root), "--method", "static", "-o", str(tmp_path / "run")], capsys, tmp_path,
                "must be inside the benchmark folder")


def test_frames_folder_holding_a_mask_the_layout_reads_is_not_replaced(scene, capsys):
    assert run(["animate", "photo.png", "-l", "L.json", "-o", "prev", "-q"], capsys)[0] == 0
    _layout(scene / "M.json", "prev/000.png")  # a frame iva0 wrote, used as a mask (its bright square is white)
    refused(["animate", "photo.png", "-l", "M.json", "-o", "prev", "-q"], capsys, scene, "holds an input")
    refused(["preview", "photo.png", "-l", "M.json", "-o", "prev"], capsys, scene, "holds an input")


# ---------------------------------------------------------------- 2. limits before any work
def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG whose header says width x height (grey), with a few bytes of pixel data: a decompression bomb's shape."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("size", [(30000, 20000), (12000, 8000)])
def test_huge_mask_is_one_line_from_its_header(scene, capsys, size):
    _png_header(scene / "big.png", *size)
    _layout(scene / "M.json", "big.png")
    line = refused(["animate", "photo.png", "-l", "M.json", "-o", "out.mp4", "-q"], capsys, scene,
                   f"{size[0]}x{size[1]} px, at most 8192 px a side")
    assert line.startswith('error: objects[0] ("square").mask: mask ')


def test_huge_mask_in_a_benchmark_is_one_line(tmp_path, capsys):
    root = make_bench(tmp_path / "b", n=1)
    _png_header(root / "lay" / "big.png", 30000, 20000)
    lay = json.loads((root / "lay" / "s0.json").read_text())
    lay["objects"][0]["mask"] = "big.png"
    (root / "lay" / "s0.json").write_text(json.dumps(lay))
    refused(["bench", "run", str(root), "--method", "static", "-o", str(tmp_path / "run")], capsys, tmp_path,
            "30000x20000 px, at most 8192 px a side")


def test_layout_over_the_object_cap_is_refused_before_any_object_is_read(scene, capsys):
    _layout(scene / "many.json", "no-such-mask.png", n_objects=65)  # the first object's mask would fail first
    refused(["animate", "photo.png", "-l", "many.json", "-o", "out.mp4", "-q"], capsys, scene,
            "objects: 65 objects; a layout has at most 64")
    _layout(scene / "ok.json", n_objects=64)
    assert len(load_layout(scene / "ok.json").objects) == 64


def test_long_object_names_and_large_layout_files_are_refused(scene, capsys):
    _layout(scene / "long.json", name="cat " * 100)
    refused(["animate", "photo.png", "-l", "long.json", "-o", "out.mp4", "-q"], capsys, scene,
            "objects[0].name: at most 200 characters")
    big = json.loads((scene / "L.json").read_text())
    big["prompt"] = "x" * (4 * 2**20)
    (scene / "big.json").write_text(json.dumps(big))
    refused(["animate", "photo.png", "-l", "big.json", "-o", "out.mp4", "-q"], capsys, scene, "is too large")


def test_a_zip_under_a_layout_name_says_what_it_is(scene, capsys):
    import zipfile

    with zipfile.ZipFile(scene / "layout.json", "w", zipfile.ZIP_DEFLATED) as z:  # the page's layout.zip, renamed
        z.writestr("layout.json", (scene / "L.json").read_text())
    line = refused(["animate", "photo.png", "-l", "layout.json", "-o", "out.mp4", "-q"], capsys, scene, "a .zip")
    assert "UTF-8" not in line and "byte 0x" not in line and "unzip it" in line
    Image.open(scene / "photo.png").save(scene / "pic.json", format="PNG")
    refused(["animate", "photo.png", "-l", "pic.json", "-o", "out.mp4", "-q"], capsys, scene, "is a PNG picture")


@pytest.mark.parametrize("name", ["cup\x1b[2J\x1b[31m", "cup\u202egnp.exe", "cup\x9b31m"])
def test_object_names_in_error_lines_are_escaped(scene, capsys, name):
    _layout(scene / "M.json", "missing.png", name=name)
    line = refused(["animate", "photo.png", "-l", "M.json", "-o", "out.mp4", "-q"], capsys, scene, "mask file not found")
    assert line.isprintable(), repr(line)
    assert name.encode("unicode_escape").decode()[3:] in line  # shown, escaped: \x1b[2J, \u202e, \x9b
    from iva0.errors import LayoutError
    from iva0.segment.mask import check_layout_masks

    _mask(scene / "m.png", size=(20, 20))  # another aspect ratio than the picture: a message naming the object
    _layout(scene / "N.json", "m.png", name=name)
    with pytest.raises(LayoutError) as e:
        check_layout_masks(load_layout(scene / "N.json"), 64, 48)
    assert str(e.value).isprintable()


# ---------------------------------------------------------------- the page's layout.zip
def _page():
    pytest.importorskip("gradio")
    from iva0.ui.callbacks import Callbacks
    from iva0.ui.config import UiConfig

    return Callbacks, UiConfig


@pytest.fixture
def page(tmp_path):
    Callbacks, UiConfig = _page()
    img = np.full((48, 64, 3), 90, np.uint8)
    img[10:30, 8:28] = 220
    Image.fromarray(img).save(tmp_path / "pic.png")
    cb = Callbacks(UiConfig(max_frames=32, min_view_side=128), tmp_path / "work")
    return cb, cb.load_picture(tmp_path / "pic.png")


def _zip(path: Path, members: dict, compression=None) -> Path:
    import zipfile

    with zipfile.ZipFile(path, "w", compression if compression is not None else zipfile.ZIP_DEFLATED) as z:
        for arc, payload in members.items():
            z.writestr(arc, payload)
    return path


def _layout_data(n_objects=1, mask="masks/m.png", name="square"):
    obj = {"name": name, "keyframes": [{"frame": 0, "box": BOX0}, {"frame": 3, "box": [0.5, 0.2, 0.82, 0.62]}]}
    if mask:
        obj["mask"] = mask
    return {"num_frames": 4, "fps": 4, "objects": [obj] * n_objects}


def _understate(path: Path, member: str, declared: int) -> None:
    """Make the zip declare `declared` bytes for `member` (local and central headers) while holding more."""
    import struct
    import zipfile

    with zipfile.ZipFile(path) as z:
        info = z.getinfo(member)
    data = bytearray(path.read_bytes())
    data[info.header_offset + 22: info.header_offset + 26] = struct.pack("<I", declared)  # local header
    central = data.find(b"PK\x01\x02")
    while central >= 0:
        name_len = struct.unpack("<H", data[central + 28: central + 30])[0]
        if data[central + 46: central + 46 + name_len] == member.encode():
            data[central + 24: central + 28] = struct.pack("<I", declared)
            break
        central = data.find(b"PK\x01\x02", central + 4)
    path.write_bytes(bytes(data))


def test_zip_entries_other_than_stored_or_deflate_are_refused(page, tmp_path):
    import zipfile

    from test_ui import page_warning

    cb, pic = page
    bomb = _zip(tmp_path / "bz.zip", {"layout.json": json.dumps(_layout_data(mask=None))}, zipfile.ZIP_BZIP2)
    assert "stored or deflate" in page_warning(cb.on_upload_layout, str(bomb), pic)
    mask = _mask(tmp_path / "m.png").read_bytes()
    lz = tmp_path / "lz.zip"
    with zipfile.ZipFile(lz, "w") as z:
        z.writestr("layout.json", json.dumps(_layout_data()))
        z.writestr("masks/m.png", mask, compress_type=zipfile.ZIP_LZMA)
    assert "stored or deflate" in page_warning(cb.on_upload_layout, str(lz), pic)


def test_zip_entry_larger_than_it_declares_is_refused(page, tmp_path):
    from test_ui import page_warning

    cb, pic = page
    text = json.dumps(_layout_data(mask=None)) + " " * 5000
    z = _zip(tmp_path / "lie.zip", {"layout.json": text})
    _understate(z, "layout.json", 900)
    assert "more than it declares" in page_warning(cb.on_upload_layout, str(z), pic)


def test_zip_layout_over_the_page_limits_is_refused_by_what_it_holds(page, tmp_path):
    """A layout.json that declares a small size but inflates past the page's limit is stopped at the limit + 1."""
    from test_ui import page_warning

    cb, pic = page
    limit = cb.config.max_layout_bytes
    z = _zip(tmp_path / "big.zip", {"layout.json": json.dumps(_layout_data(mask=None)) + " " * (2 * limit)})
    _understate(z, "layout.json", 900)
    assert "more than it declares" in page_warning(cb.on_upload_layout, str(z), pic)
    z = _zip(tmp_path / "big2.zip", {"layout.json": json.dumps(_layout_data(mask=None)) + " " * (2 * limit)})
    assert "too large" in page_warning(cb.on_upload_layout, str(z), pic)


def test_page_counts_objects_before_reading_any_mask(page, tmp_path, monkeypatch):
    import iva0.ui.masks as ui_masks

    from test_ui import page_warning

    cb, pic = page
    reads = []
    real = ui_masks.read_mask_upload
    monkeypatch.setattr(ui_masks, "read_mask_upload", lambda *a, **k: reads.append(a[0]) or real(*a, **k))
    mask = _mask(tmp_path / "m.png").read_bytes()
    many = _zip(tmp_path / "many.zip", {"layout.json": json.dumps(_layout_data(n_objects=9)), "masks/m.png": mask})
    assert "at most 8" in page_warning(cb.on_upload_layout, str(many), pic)
    assert reads == []  # refused before any mask was unzipped or decoded
    eight = _zip(tmp_path / "eight.zip", {"layout.json": json.dumps(_layout_data(n_objects=8)), "masks/m.png": mask})
    out = cb.on_upload_layout(str(eight), pic)
    assert len(reads) == 1  # one mask named eight times is read once
    from iva0.ui.callbacks import LOAD_OUTPUTS

    draft = out[LOAD_OUTPUTS.index("draft")]
    assert len(draft) == 8 and len({o.mask for o in draft}) == 1


def test_page_huge_mask_is_a_warning_not_an_internal_error(page, tmp_path):
    from test_ui import page_warning

    cb, pic = page
    big = _png_header(tmp_path / "big.png", 30000, 20000).read_bytes()
    z = _zip(tmp_path / "big.zip", {"layout.json": json.dumps(_layout_data()), "masks/m.png": big})
    assert "30000x20000 px, at most 8192 px a side" in page_warning(cb.on_upload_layout, str(z), pic)


# ---------------------------------------------------------------- bench eval: videos within the frame budget
def test_video_over_the_frame_budget_is_refused_from_its_header(tmp_path, monkeypatch):
    """frames x size from the stream header, against the outputs' budget, before any frame is decoded."""
    import iva0.limits
    from iva0.errors import UserError
    from iva0.io.video import read_video, write_video

    frames = np.zeros((8, 64, 64, 3), np.uint8)
    mp4 = write_video(frames, tmp_path / "v.mp4", 8)
    folder = write_video(frames, tmp_path / "frames", 8)
    assert read_video(mp4)[0].shape == (8, 64, 64, 3)
    monkeypatch.setattr(iva0.limits, "FRAME_MEMORY_BUDGET", 5 * 64 * 64 * 3)  # room for 5 frames
    for video in (mp4, folder):
        with pytest.raises(UserError, match=r"8 frames of 64x64 px need .* \(at most"):
            read_video(video)


def test_video_whose_header_understates_its_frames_stops_at_the_budget(tmp_path, monkeypatch):
    import iva0.io.video as video_io
    import iva0.limits
    from iva0.errors import UserError
    from iva0.io.video import read_video, write_video

    mp4 = write_video(np.zeros((8, 64, 64, 3), np.uint8), tmp_path / "v.mp4", 8)
    monkeypatch.setattr(iva0.limits, "FRAME_MEMORY_BUDGET", 5 * 64 * 64 * 3)
    monkeypatch.setattr(video_io, "video_header", lambda p: (2, 64, 64))  # a header that lies
    with pytest.raises(UserError, match="more than 5 frames of 64x64 px"):
        read_video(mp4)


def test_bench_eval_records_a_video_over_the_budget_as_a_failed_sample(tmp_path, capsys, monkeypatch):
    import iva0.limits

    root = make_bench(tmp_path / "b", n=1)
    assert run(["bench", "run", str(root), "--method", "static", "-o", str(tmp_path / "run")], capsys)[0] == 0
    monkeypatch.setattr(iva0.limits, "FRAME_MEMORY_BUDGET", 1000)
    code, _, err = run(["bench", "eval", str(tmp_path / "run")], capsys)
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "need" in json.dumps(metrics) and "at most" in json.dumps(metrics), (code, err)


# ---------------------------------------------------------------- models check = the loaders' rules
@pytest.fixture(scope="module")
def tiny_folders(tmp_path_factory):
    from iva0.cli import main

    d = tmp_path_factory.mktemp("hardening-models")
    assert main(["tiny-models", str(d / "iva0"), "-q"]) == 0
    assert main(["tiny-models", str(d / "wan"), "--family", "wan22-ti2v", "-q"]) == 0
    return d


def _huge_header(path: Path) -> None:
    import struct

    h = json.dumps({"w": {"dtype": "F32", "shape": [10**6, 10**6], "data_offsets": [0, 4 * 10**12]}}).encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"\0" * 16)


def _deep_header(path: Path) -> None:
    import struct

    h = ('{"w": ' + "[" * 100000 + "]" * 100000 + "}").encode()
    path.write_bytes(struct.pack("<Q", len(h)) + h)


def _set_index(folder: Path, name: str, entry) -> None:
    index = json.loads((folder / "model_index.json").read_text())
    index[name] = entry
    (folder / "model_index.json").write_text(json.dumps(index))


def _set_class(folder: Path, name: str, cls: str) -> None:
    config = json.loads((folder / name / "config.json").read_text())
    config["_class_name"] = cls
    (folder / name / "config.json").write_text(json.dumps(config))


def _custom_scheduler(folder: Path) -> None:
    _set_index(folder, "scheduler", ["my_scheduler", "MyScheduler"])
    (folder / "scheduler" / "my_scheduler.py").write_text("class MyScheduler:\n    pass\n")


BROKEN = {
    "iva0: a VAE class os.system": ("iva0", lambda d: _set_class(d, "vae", "os.system"), "os.system"),
    "iva0: header claims 10^12 parameters": (
        "iva0", lambda d: _huge_header(d / "vae" / "diffusion_pytorch_model.safetensors"), "past the end of the file"),
    "iva0: deeply nested config.json": (
        "iva0", lambda d: (d / "vae" / "config.json").write_text("[" * 100000 + "]" * 100000), "nested too deeply"),
    "iva0: deeply nested safetensors header": (
        "iva0", lambda d: _deep_header(d / "vae" / "diffusion_pytorch_model.safetensors"), "nested too deeply"),
    "wan: a VAE class os.system": ("wan", lambda d: _set_index(d, "vae", ["os", "system"]), "os"),
    "wan: custom scheduler code": ("wan", _custom_scheduler, "my_scheduler"),
    "wan: header claims 10^12 parameters": (
        "wan", lambda d: _huge_header(next((d / "vae").glob("*.safetensors"))), "past the end of the file"),
    "wan: deeply nested config.json": (
        "wan", lambda d: (d / "vae" / "config.json").write_text("[" * 100000 + "]" * 100000), "nested too deeply"),
    "wan: deeply nested safetensors header": (
        "wan", lambda d: _deep_header(next((d / "vae").glob("*.safetensors"))), "nested too deeply"),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_models_check_refuses_what_loading_refuses_with_the_same_line(tiny_folders, tmp_path, capsys, case):
    import shutil

    from iva0.errors import ModelError

    kind, breaks, words = BROKEN[case]
    folder = tmp_path / kind
    shutil.copytree(tiny_folders / kind, folder)
    breaks(folder)
    code, _, err = run(["models", "check", str(folder)], capsys)
    lines = [ln for ln in err.strip().splitlines() if ln]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], (code, err)
    assert "Traceback" not in err
    with pytest.raises(ModelError) as e:  # the loader: refused before any weights load, with the same words
        if kind == "wan":
            from iva0.backends.ttm.loading import load_pipeline

            load_pipeline(folder, dtype="float32", device="cpu")
        else:
            import torch

            from iva0.backends.diffusion.loading import load_components

            load_components(folder, torch_dtype=torch.float32)
    assert words in str(e.value)
    assert lines[0].split("component ", 1)[1] in str(e.value)  # one rule, one message


def test_models_check_still_passes_the_tiny_folders(tiny_folders, capsys):
    for kind in ("iva0", "wan"):
        code, _, err = run(["models", "check", str(tiny_folders / kind)], capsys)
        assert code == 0, err


def test_models_check_on_a_deeply_nested_model_index_is_one_line(tiny_folders, tmp_path, capsys):
    import shutil

    folder = tmp_path / "wan"
    shutil.copytree(tiny_folders / "wan", folder)
    (folder / "model_index.json").write_text("[" * 100000 + "]" * 100000)
    code, _, err = run(["models", "check", str(folder)], capsys)
    assert code == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
