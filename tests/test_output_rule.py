"""The output rule (iva0.io.output_rule): no command destroys a file iva0 did not write.

Each case of issue 8 on real files in a temporary folder: exit status 2, one
`error:` line, and every file byte-identical afterwards (nothing added either).
"""

import json
import os
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from iva0.cli import main
from iva0_test_helpers import run_cli as run
from iva0.errors import UserError
from iva0.io.atomic import atomic_path
from iva0.io.output_rule import FRAMES_MANIFEST, check_output, replaceable_folder
from iva0.io.video import write_video
from iva0.metrics.synthetic import texture




def snapshot(root: Path) -> dict:
    """Every file and folder under root with its bytes: what must not change."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def refused(args, capsys, root: Path, message: str) -> str:
    before = snapshot(root)
    code, out, err = run(args, capsys)
    assert code == 2, (code, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0], lines[0]
    assert snapshot(root) == before  # byte-identical, nothing added, nothing removed
    return lines[0]


@pytest.fixture
def scene(tmp_path, monkeypatch):
    """A small picture (PNG and GIF) and a short layout, in a temporary working folder."""
    monkeypatch.chdir(tmp_path)
    im = texture(48, 64, seed=1, blur=2.0) // 3
    im[10:30, 8:28] = 200
    Image.fromarray(im).save(tmp_path / "photo.png")
    Image.fromarray(im).save(tmp_path / "in.gif")
    layout = {"num_frames": 4, "fps": 4, "objects": [
        {"name": "square", "keyframes": [{"frame": 0, "box": [0.12, 0.2, 0.44, 0.62]}, {"frame": 3, "box": [0.5, 0.2, 0.82, 0.62]}]}]}
    (tmp_path / "L.json").write_text(json.dumps(layout))
    return tmp_path


def animate_args(image, out, *more):
    return ["animate", image, "-l", "L.json", "-o", out, "-q", *more]


# ---------------------------------------------------------------- animate / preview / demo
def test_folder_of_photos_is_never_replaced(scene, capsys):
    photos = scene / "photos"
    photos.mkdir()
    (photos / "photo.png").write_bytes((scene / "photo.png").read_bytes())
    (photos / "notes.txt").write_text("my notes")
    line = refused(animate_args("photos/photo.png", "photos"), capsys, scene, "exists and holds files iva0 did not write")
    assert line == "error: output folder photos/ exists and holds files iva0 did not write"
    refused(animate_args("photo.png", "photos/"), capsys, scene, "output folder photos/ exists and holds files iva0 did not write")


def test_output_is_never_the_input(scene, capsys):
    refused(animate_args("in.gif", "in.gif"), capsys, scene, "is an input")
    (scene / "sub").mkdir()
    refused(animate_args("in.gif", "./sub/../in.gif"), capsys, scene, "is an input")
    os.symlink(scene / "in.gif", scene / "link.gif")
    refused(animate_args("link.gif", "in.gif"), capsys, scene, "is an input")
    refused(["preview", "in.gif", "-l", "L.json", "-o", "in.gif"], capsys, scene, "is an input")


def test_input_written_by_iva0_is_still_not_replaced(scene, capsys):
    assert run(animate_args("photo.png", "a.gif"), capsys)[0] == 0
    refused(animate_args("a.gif", "a.gif"), capsys, scene, "is an input")


def test_frames_folder_holding_the_input_is_not_replaced(scene, capsys):
    assert run(animate_args("photo.png", "frames"), capsys)[0] == 0
    refused(animate_args("frames/000.png", "frames"), capsys, scene, "holds an input")


def test_files_of_another_kind_are_refused(scene, capsys):
    (scene / "holiday.mp4").write_bytes((scene / "photo.png").read_bytes())  # a picture under a video name
    refused(animate_args("photo.png", "holiday.mp4"), capsys, scene, "exists and is not a video iva0 wrote")
    # a real MP4 that iva0 did not write (no iva0 tag)
    with av.open(str(scene / "theirs.mp4"), "w", format="mp4") as c:
        s = c.add_stream("mpeg4", rate=4)
        s.width, s.height, s.pix_fmt = 32, 32, "yuv420p"
        for _ in range(2):
            for pkt in s.encode(av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")):
                c.mux(pkt)
        for pkt in s.encode():
            c.mux(pkt)
    refused(animate_args("photo.png", "theirs.mp4"), capsys, scene, "exists and is not a video iva0 wrote")
    Image.new("RGB", (8, 8)).save(scene / "theirs.gif")
    refused(animate_args("photo.png", "theirs.gif"), capsys, scene, "exists and is not a GIF iva0 wrote")
    # the overlay video is an output too
    (scene / "clip_overlay.mp4").write_text("mine")
    refused(animate_args("photo.png", "clip.mp4", "--overlay"), capsys, scene, "clip_overlay.mp4 exists and is not a video")
    (scene / "folder.mp4").mkdir()
    refused(animate_args("photo.png", "folder.mp4"), capsys, scene, "is a folder")


def test_current_folder_is_refused_before_any_work(scene, capsys):
    refused(animate_args("photo.png", "."), capsys, scene, "is the current folder")
    refused(animate_args("photo.png", ".."), capsys, scene, "is the current folder")
    refused(animate_args("photo.png", str(scene)), capsys, scene, "is the current folder")
    assert not [p for p in scene.parent.iterdir() if p.name.endswith(".old")]


def test_own_outputs_are_replaced_on_a_rerun(scene, capsys):
    for out in ("v.mp4", "v.gif", "frames"):
        for _ in range(2):
            code, _, err = run(animate_args("photo.png", out, "--overlay"), capsys)
            assert code == 0, err
    listed = json.loads((scene / "frames" / FRAMES_MANIFEST).read_text())["frames"]
    assert sorted(p.name for p in (scene / "frames").iterdir()) == sorted(listed + [FRAMES_MANIFEST])
    # a user's file added to iva0's frames folder makes it the user's: refused from then on
    (scene / "frames" / "notes.txt").write_text("mine")
    refused(animate_args("photo.png", "frames"), capsys, scene, "holds files iva0 did not write")


def test_demo_reruns_and_refuses_a_foreign_file(scene, capsys):
    for _ in range(2):  # `make demo` twice in a row
        code, _, err = run(["demo", "-o", "d.mp4"], capsys)
        assert code == 0, err
    (scene / "mine.mp4").write_text("not a video")
    refused(["demo", "-o", "mine.mp4"], capsys, scene, "not a video iva0 wrote")


def test_atomic_folder_swap_never_moves_a_foreign_folder(tmp_path):
    target = tmp_path / "photos"
    target.mkdir()
    (target / "a.jpg").write_bytes(b"jpeg")
    before = snapshot(tmp_path)
    with pytest.raises(UserError, match="holds files iva0 did not write"):
        with atomic_path(target, directory=True, may_replace=replaceable_folder) as tmp:
            (tmp / "000.png").write_bytes(b"x")
    assert snapshot(tmp_path) == before  # the temporary folder is gone too
    # without the rule, an existing folder is never replaced
    with pytest.raises(UserError, match="holds files iva0 did not write"):
        with atomic_path(target, directory=True) as tmp:
            (tmp / "000.png").write_bytes(b"x")
    assert snapshot(tmp_path) == before
    with pytest.raises(UserError):
        with atomic_path(".", directory=True):
            pass


def test_check_output_api_for_the_web_app(tmp_path):
    """The function the web app and backends call, directly."""
    (tmp_path / "in.png").write_bytes(b"x")
    (tmp_path / "in.gif").write_bytes(b"x")
    with pytest.raises(UserError, match="is an input"):
        check_output(tmp_path / "in.gif", "video", inputs=[tmp_path / "in.gif"])
    assert check_output(tmp_path / "new.mp4", "video", inputs=[tmp_path / "in.png"]) == tmp_path / "new.mp4"
    write_video(np.zeros((2, 8, 8, 3), np.uint8), tmp_path / "new.mp4")
    assert check_output(tmp_path / "new.mp4") == tmp_path / "new.mp4"  # iva0's own: may be replaced


# ---------------------------------------------------------------- bench
def bench_with_run(root: Path, capsys) -> tuple[Path, Path]:
    from test_bench_run import make_bench

    bench = make_bench(root / "B", n=2)
    code, _, err = run(["bench", "run", bench, "-m", "static", "-o", root / "RUN", "-q"], capsys)
    assert code == 0, err
    return bench, root / "RUN"


def test_bench_outputs(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bench, run_dir = bench_with_run(tmp_path, capsys)
    refused(["bench", "eval", run_dir, "-o", run_dir / "videos" / "s0.mp4", "-q"], capsys, tmp_path, "give a name ending in .json")
    refused(["bench", "eval", run_dir, "-o", run_dir / "config.json", "-q"], capsys, tmp_path, "is not a metrics file iva0 wrote")
    refused(["bench", "eval", run_dir / "videos", "--bench", bench, "-o", run_dir / "videos", "-q"], capsys, tmp_path, "ending in .json")
    refused(["bench", "run", bench, "-m", "static", "-o", bench, "-q"], capsys, tmp_path, "overlaps the folder it reads")
    refused(["bench", "run", bench, "-m", "static", "-o", bench / "r1", "-q"], capsys, tmp_path, "overlaps the folder it reads")
    refused(["bench", "run", bench, "-m", "static", "-o", "nodir/deeper/r1", "-q"], capsys, tmp_path, "output folder does not exist: nodir/deeper")
    refused(["bench", "run", bench, "-m", "static", "-o", ".", "-q"], capsys, tmp_path, "is the current folder")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("mine")
    refused(["bench", "run", bench, "-m", "static", "-o", "mine", "-q"], capsys, tmp_path, "output folder mine/ exists and holds files iva0 did not write")
    refused(["bench", "report", run_dir, "-o", "mine", "--no-speed"], capsys, tmp_path, "holds files iva0 did not write")
    refused(["bench", "report", run_dir, "-o", run_dir, "--no-speed"], capsys, tmp_path, "is an input")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "config.json").write_text((run_dir / "config.json").read_text())
    refused(["bench", "report", run_dir, "-o", "other", "--no-speed"], capsys, tmp_path, "is an iva0 run folder, not a report folder")
    # the same commands over their own outputs go through (resume, re-evaluate, re-report)
    for args in (["bench", "run", bench, "-m", "static", "-o", run_dir, "-q"], ["bench", "eval", run_dir, "-q"],
                 ["bench", "eval", run_dir, "-q"], ["bench", "report", run_dir, "-o", "rep", "--no-speed", "--strips", "0"],
                 ["bench", "report", run_dir, "-o", "rep", "--no-speed", "--strips", "0"]):
        code, _, err = run(args, capsys)
        assert code == 0, (args, err)


def test_bench_run_too_large_is_refused_before_any_sample(tmp_path, capsys, monkeypatch):
    from test_bench_run import make_bench

    monkeypatch.chdir(tmp_path)
    bench = make_bench(tmp_path / "B", n=1)
    refused(["bench", "run", bench, "-m", "static", "-o", "r", "--width", "4096", "--height", "4096", "--frames", "256", "-q"],
            capsys, tmp_path, "output too large: 256 frames of 4096x4096 px need 12.0 GiB")


# ---------------------------------------------------------------- tune, tiny-models
def test_tune_refuses_inputs_and_foreign_files(scene, capsys):
    refused(["tune", "photo.png", "-l", "L.json", "-o", "photo.png"], capsys, scene, "ending in .safetensors")
    (scene / "base.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00" + b'{"a":1}'.ljust(16))
    refused(["tune", "photo.png", "-l", "L.json", "-o", "base.safetensors"], capsys, scene, "not a tuned-weights file iva0 wrote")


def test_tiny_models_force_replaces_only_an_iva0_model_folder(scene, capsys):
    (scene / "mine").mkdir()
    (scene / "mine" / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    refused(["tiny-models", "mine", "--force", "-q"], capsys, scene, "holds files iva0 did not write")
    refused(["tiny-models", "mine", "-q"], capsys, scene, "already exists")
    refused(["tiny-models", "nodir/m", "-q"], capsys, scene, "output folder does not exist: nodir")



@pytest.mark.parametrize("out", ["notes.txt/out.mp4", "notes.txt/out.gif", "notes.txt/frames"])
def test_output_inside_a_file_says_the_file_is_not_a_folder(scene, capsys, out):
    """`-o notes.txt/out.mp4` where notes.txt is a file: the message said its folder "does not exist"."""
    (scene / "notes.txt").write_text("mine")
    line = refused(animate_args("photo.png", out), capsys, scene, "output folder notes.txt is a file, not a folder")
    assert "does not exist" not in line
    refused(["preview", "photo.png", "-l", "L.json", "-o", out], capsys, scene, "notes.txt is a file, not a folder")


# ---------------------------------------------------------------- resource limits
def test_frame_memory_budget_before_any_work(scene, capsys):
    line = refused(animate_args("photo.png", "o.mp4", "--width", "4096", "--height", "4096", "--frames", "256"), capsys, scene,
                   "output too large: 256 frames of 4096x4096 px need 12.0 GiB of frame memory (at most 4 GiB")
    assert "Error" not in line


def test_huge_picture_says_its_size(scene, capsys):
    Image.new("L", (20000, 20000)).save(scene / "big.png")
    line = refused(animate_args("big.png", "o.mp4"), capsys, scene, "image too large: 20000x20000 px (at most 8192 px per side)")
    assert "big.png" in line and "Error" not in line
    (scene / "junk.png").write_bytes(b"not a picture at all")
    line = refused(animate_args("junk.png", "o.mp4"), capsys, scene, "junk.png: not a supported picture")
    assert "Error" not in line


def test_convert_i3d_refuses_its_input_and_foreign_files(scene, capsys):
    (scene / "w.pt").write_bytes(b"not read: refused before loading")
    (scene / "w.safetensors").write_bytes(b"user's file")
    refused(["bench", "convert-i3d", "w.pt", "w.safetensors"], capsys, scene, "not a converted I3D file iva0 wrote")
    refused(["bench", "convert-i3d", "w.pt", "w.pt"], capsys, scene, "ending in .safetensors")
    os.symlink(scene / "w.pt", scene / "link.safetensors")
    refused(["bench", "convert-i3d", "w.pt", "link.safetensors"], capsys, scene, "is an input")


def test_preview_frame_memory_budget(scene, capsys):
    Image.new("RGB", (64, 4000)).save(scene / "tall.png")  # --width 4096 keeps the aspect: 4096x256000 px
    refused(["preview", "tall.png", "-l", "L.json", "-o", "p.mp4", "--width", "4096"], capsys, scene, "output too large")


@pytest.mark.parametrize("argv", [
    ["animate", "{img}", "-l", "{lay}", "-o", "{tmp}/name.gif/"],
    ["animate", "{img}", "-l", "{lay}", "-o", "{tmp}/name.MP4/"],
    ["preview", "{img}", "-l", "{lay}", "-o", "{tmp}/name.mp4/"],
    ["bench", "eval", "{tmp}", "-o", "{tmp}/m.json/"],
])
def test_a_file_output_with_a_trailing_slash_is_refused(tmp_path, capsys, argv):
    """pathlib drops the slash of `name.gif/`: it used to write a GIF where the user named a folder."""
    from iva0.samples import get_sample

    s = get_sample("rocket")
    args = [a.format(img=s.image, lay=s.layout, tmp=tmp_path) for a in argv]
    code, _, err = run(args, capsys)
    err = err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error:") and "ends with a slash" in err[0]
    assert list(tmp_path.iterdir()) == []



@pytest.mark.parametrize("argv", [
    ["animate", "photo.png", "-l", "L.json", "-o", "-", "-q"],
    ["preview", "photo.png", "-l", "L.json", "-o", "-"],
    ["demo", "-o", "-"],
])
def test_dash_as_output_is_refused_not_a_folder_named_dash(scene, capsys, argv):
    """`-o -` (standard output, to most tools) wrote a PNG-frames folder named `-`."""
    refused(argv, capsys, scene, "standard output")

def test_a_frames_folder_with_a_trailing_slash_is_still_a_folder(tmp_path):
    from iva0.samples import get_sample

    s = get_sample("rocket")
    for name in ("frames/",):
        assert main(["animate", str(s.image), "-l", str(s.layout), "-o", str(tmp_path) + "/" + name, "--width", "64"]) == 0
        assert (tmp_path / name.rstrip("/")).is_dir()
