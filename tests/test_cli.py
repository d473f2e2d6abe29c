import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iva0 import __version__
from iva0.cli import main
from iva0_test_helpers import run_cli as run
from iva0.io.video import read_video
from iva0.samples import list_samples

SAMPLE = list_samples()[0]




def files(d: Path):
    return sorted(p.name for p in d.iterdir())


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"iva0 {__version__}"


def test_animate_writes_video_and_overlay(tmp_path, capsys):
    out = tmp_path / "out.mp4"
    code, stdout, _ = run(["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", out, "--overlay", "--width", "200", "-q"], capsys)
    assert code == 0
    assert stdout.strip().splitlines()[-1] == str(out)
    fr, fps = read_video(out)
    n = json.loads(SAMPLE.layout.read_text())["num_frames"]
    assert fr.shape[0] == n and fr.shape[2] == 200 and fps == pytest.approx(8)
    assert (tmp_path / "out_overlay.mp4").exists()


def test_overrides_frames_and_gif(tmp_path, capsys):
    out = tmp_path / "o.gif"
    code, _, _ = run(["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", out, "--frames", "20", "--fps", "4", "--width", "96", "-q"], capsys)
    assert code == 0
    # Pillow merges identical neighbouring GIF frames (the held tail) into one
    # longer frame, so check the play time: 20 frames at 4 fps = 5 s
    from PIL import Image

    with Image.open(out) as im:
        total = 0
        for i in range(im.n_frames):
            im.seek(i)
            total += im.info["duration"]
    assert total == 20 * 250


def bad_layout(tmp_path):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps({"objects": [{"name": "x", "keyframes": [{"frame": 3, "box": [0.1, 0.1, 0.2, 0.2]}]}]}))
    return p


def bad_image(tmp_path):
    p = tmp_path / "bad.png"
    p.write_bytes(b"\x89PNG garbage")
    return p


CASES = {
    "bad layout": lambda t: ["animate", SAMPLE.image, "-l", bad_layout(t), "-o", t / "o.mp4"],
    "missing layout": lambda t: ["animate", SAMPLE.image, "-l", t / "nope.json", "-o", t / "o.mp4"],
    "missing image": lambda t: ["animate", t / "nope.png", "-l", SAMPLE.layout, "-o", t / "o.mp4"],
    "unreadable image": lambda t: ["animate", bad_image(t), "-l", SAMPLE.layout, "-o", t / "o.mp4"],
    "bad option value": lambda t: ["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", t / "o.mp4", "--frames", "1"],
    "unknown option": lambda t: ["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", t / "o.mp4", "--speed", "3"],
    "frames cut a key": lambda t: ["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", t / "o.mp4", "--frames", "4"],
    "missing output folder": lambda t: ["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", t / "no" / "o.mp4"],
    "bad output kind": lambda t: ["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", t / "o.avi"],
    "iva0 option on composite": lambda t: ["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", t / "o.mp4", "--model", t],
    "unknown backend": lambda t: ["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", t / "o.mp4", "--backend", "magic"],
    "unknown sample": lambda t: ["demo", "--sample", "nope", "-o", t / "o.mp4"],
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_user_errors_one_line_exit_2_nothing_written(case, tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    args = CASES[case](work)
    before = files(work)
    code, out, err = run(args, capsys)
    assert code == 2, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert "Traceback" not in err + out
    assert files(work) == before  # nothing written, no temporary left


def test_unwritable_output_folder(tmp_path, capsys):
    if os.geteuid() == 0:
        ro = Path("/proc")  # even root cannot create files there
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
    code, out, err = run(["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", ro / "o.mp4", "-q"], capsys)
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert not (ro / "o.mp4").exists()


def test_output_is_a_folder(tmp_path, capsys):
    d = tmp_path / "dir.mp4"
    d.mkdir()
    code, _, err = run(["animate", SAMPLE.image, "-l", SAMPLE.layout, "-o", d], capsys)
    assert code == 2 and "folder" in err


def test_real_entry_point_subprocess(tmp_path):
    """The installed command, as a user runs it: exit status and stderr for a mistake."""
    exe = Path(sys.executable).with_name("iva0")
    r = subprocess.run([str(exe), "animate", str(tmp_path / "x.png"), "-l", str(SAMPLE.layout), "-o", str(tmp_path / "o.mp4")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().startswith("error: image not found") and "Traceback" not in r.stderr
    assert r.stdout == ""


def test_demo_prints_mp4_path_last(tmp_path, capsys):
    out = tmp_path / "demo.mp4"
    code, stdout, _ = run(["demo", "-o", out], capsys)
    assert code == 0
    last = stdout.strip().splitlines()[-1]
    assert last.endswith(".mp4") and Path(last).exists() and Path(last) == out.resolve()


def test_layout_from_rgba_png_input(tmp_path, capsys):
    img = np.zeros((60, 80, 4), np.uint8)
    img[..., 1] = 200
    img[..., 3] = 255
    Image.fromarray(img, "RGBA").save(tmp_path / "x.png")
    lay = {"num_frames": 4, "objects": [{"name": "a", "keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.5, 0.5]}, {"frame": 3, "box": [0.5, 0.5, 0.9, 0.9]}]}]}
    (tmp_path / "l.json").write_text(json.dumps(lay))
    code, _, err = run(["animate", tmp_path / "x.png", "-l", tmp_path / "l.json", "-o", tmp_path / "frames", "-q"], capsys)
    assert code == 0, err
    assert len(list((tmp_path / "frames").glob("*.png"))) == 4


def test_file_system_refusals_are_one_line(tmp_path, capsys):
    """An OSError from a path the user gave (here: inside /proc) is their mistake, not a crash."""
    for args in (["bench", "run", SAMPLE.image.parent, "-m", "static", "-o", "/proc/iva0-run"],
                 ["tiny-models", "/proc/iva0-model", "-q"]):
        code, out, err = run(args, capsys)
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), err
        assert "Traceback" not in err


def test_demo_creates_only_its_own_default_folder(tmp_path, capsys):
    code, _, err = run(["demo", "-o", tmp_path / "missing" / "x.mp4"], capsys)
    assert code == 2 and "does not exist" in err
    assert not (tmp_path / "missing").exists()


def test_preview_draws_the_layout_over_the_still_picture(tmp_path, capsys):
    out = tmp_path / "p"
    code, stdout, err = run(["preview", SAMPLE.image, "-l", SAMPLE.layout, "-o", out, "--width", "200"], capsys)
    assert code == 0, err
    fr, _ = read_video(out)
    n = json.loads(SAMPLE.layout.read_text())["num_frames"]
    assert fr.shape[0] == n and fr.shape[2] == 200
    assert not np.array_equal(fr[0], fr[-1])  # the boxes move over a still picture
    code, _, err = run(["preview", SAMPLE.image, "-l", bad_layout(tmp_path), "-o", tmp_path / "q.mp4"], capsys)
    assert code == 2 and err.startswith("error:") and not (tmp_path / "q.mp4").exists()


def test_quiet_silences_the_hugging_face_libraries_bars_too(tmp_path):
    """-q prints nothing: transformers' "Loading weights" bar of a SAM 2 folder used to print anyway; the SAM 2
    load is now quiet like every other model load (iva0.library_logs). A fresh process, so that no earlier test
    has silenced it already."""
    from iva0.segment.sam2 import write_random_sam2

    write_random_sam2(tmp_path / "sam2", tiny=True)
    s = list_samples()[0]
    r = subprocess.run([sys.executable, "-m", "iva0", "animate", str(s.image), "-l", str(s.layout), "--width", "96",
                        "--segmenter-model", str(tmp_path / "sam2"), "-o", str(tmp_path / "o.mp4"), "-q"],
                       capture_output=True, text=True, timeout=300,
                       env={k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"})
    assert r.returncode == 0, r.stderr
    assert r.stderr == "", r.stderr
