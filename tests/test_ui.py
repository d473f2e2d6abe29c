"""The web app's callbacks, called directly (no browser): boxes drawn in the page become the
layout file the CLI reads, uploaded layouts round-trip, bad input gives one clean message."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from iva0.errors import UserError  # noqa: E402
from iva0.layout import load_layout, make_layout  # noqa: E402
from iva0.ui import editor  # noqa: E402
from iva0.ui.callbacks import SHOW_OUTPUTS, Callbacks, clean_errors  # noqa: E402
from iva0.ui.config import UiConfig  # noqa: E402
from iva0.ui.editor import DraftObject, Settings  # noqa: E402

W, H = 200, 100
SETTINGS = ("16", 8, "a red square slides right", "", "linear")  # frames, fps, prompt, negative, interpolation
SHOW = {name: i for i, name in enumerate(SHOW_OUTPUTS)}
REFRESH = {name: i for i, name in enumerate(SHOW_OUTPUTS[3:])}  # on_boxes: (draft, shown, *refresh)


def no_progress(*args, **kwargs) -> None:
    pass


@pytest.fixture
def picture(tmp_path) -> Path:
    """200x100: grey ground, a red square at x 20..60, y 30..70."""
    img = np.full((H, W, 3), 128, np.uint8)
    img[30:70, 20:60] = (220, 30, 30)
    path = tmp_path / "square.png"
    Image.fromarray(img).save(path)
    return path


@pytest.fixture
def cb(tmp_path) -> Callbacks:
    return Callbacks(UiConfig(max_frames=32), tmp_path / "work")


def drawn(x0, y0, x1, y1, label="") -> dict:
    """An annotator value's box, as the component sends it (px of the picture shown)."""
    return {"xmin": x0, "ymin": y0, "xmax": x1, "ymax": y1, "label": label, "color": (0, 0, 0)}


# ---------------------------------------------------------------------------
# editor: pure functions
# ---------------------------------------------------------------------------
def test_pixel_boxes_normalise_and_back():
    assert editor.box_from_pixels(drawn(20, 30, 60, 70), W, H) == (0.1, 0.3, 0.3, 0.7)
    assert editor.box_from_pixels(drawn(60, 70, 20, 30), W, H) == (0.1, 0.3, 0.3, 0.7)  # dragged up-left
    assert editor.box_to_pixels((0.1, 0.3, 0.3, 0.7), W, H) == {"xmin": 20, "ymin": 30, "xmax": 60, "ymax": 70}
    # a box leaving the frame is shown clipped to the picture
    assert editor.box_to_pixels((0.9, -0.2, 1.3, 0.5), W, H) == {"xmin": 180, "ymin": 0, "xmax": 200, "ymax": 50}
    assert editor.same_box((0.1, 0.3, 0.3, 0.7), (0.105, 0.31, 0.3, 0.7), W, H)  # 1 px: pixel rounding
    assert not editor.same_box((0.1, 0.3, 0.3, 0.7), (0.12, 0.3, 0.32, 0.7), W, H)  # 4 px: a move


def test_objects_need_unique_non_empty_names():
    d = editor.add_object((), "  red square ")
    assert d == (DraftObject("red square"),)
    with pytest.raises(UserError, match="type the object's name"):
        editor.add_object(d, "   ")
    with pytest.raises(UserError, match="already an object called 'red square'"):
        editor.add_object(d, "red square")
    for i in range(editor.MAX_OBJECTS - 1):
        d = editor.add_object(d, f"o{i}")
    with pytest.raises(UserError, match=f"at most {editor.MAX_OBJECTS} objects"):
        editor.add_object(d, "one too many")


def test_box_at_interpolates_between_keys_and_holds_after():
    obj = DraftObject("a", {0: (0.0, 0.0, 0.2, 0.2), 10: (0.5, 0.0, 0.7, 0.2)})
    np.testing.assert_allclose(editor.box_at(obj, 4, 16), (0.2, 0.0, 0.4, 0.2))
    np.testing.assert_allclose(editor.box_at(obj, 15, 16), (0.5, 0.0, 0.7, 0.2))
    assert editor.box_at(DraftObject("b"), 3, 16) is None


def test_draft_without_frame_0_key_says_what_to_draw():
    draft = (DraftObject("car", {5: (0.1, 0.1, 0.2, 0.2)}),)
    with pytest.raises(UserError, match='"car": draw its box at frame 0'):
        editor.build_layout(draft, Settings())
    with pytest.raises(UserError, match="add an object"):
        editor.build_layout((), Settings())


def test_key_past_the_last_frame_gets_the_cli_message():
    draft = (DraftObject("car", {0: (0.1, 0.1, 0.2, 0.2), 15: (0.5, 0.1, 0.6, 0.2)}),)
    with pytest.raises(UserError, match=r'objects\[0\] \("car"\)\.keyframes\[1\]\.frame: 15 is out of range 0\.\.9'):
        editor.build_layout(draft, Settings(num_frames=10))


# ---------------------------------------------------------------------------
# callbacks: drawing in the page makes the CLI's layout file
# ---------------------------------------------------------------------------
def test_drawn_boxes_build_the_expected_layout_json(cb, picture):
    pic = cb.load_picture(picture)
    assert pic.size == (W, H)
    draft, obj, name_box, frame, from_sample, *show = cb.on_add_object("red square", pic, (), *SETTINGS)
    assert obj["value"] == 0 and obj["choices"] == [("1. red square", 0)] and name_box == "" and frame == 0
    assert from_sample is False
    shown = show[SHOW["shown"]]
    assert shown == {"object": 0, "frame": 0, "box": None} and show[SHOW["tool"]] == "create"
    assert "draw its box at frame 0" in show[SHOW["status"]] and show[SHOW["layout_file"]] is None

    # the user draws the square's box at frame 0
    value = {"image": "shown.jpg", "boxes": [drawn(20, 30, 60, 70)]}
    draft, shown, *refresh = cb.on_boxes(value, pic, draft, shown, *SETTINGS)
    assert draft[0].keys == {0: (0.1, 0.3, 0.3, 0.7)}
    assert refresh[REFRESH["status"]].startswith("**Ready:** 1 object, 16 frames")

    # frame 12 shows the box held from frame 0, ready to be moved; reading it back adds nothing
    show = cb.on_select(pic, draft, 0, 12, *SETTINGS)
    annot, shown = show[SHOW["annotator"]], show[SHOW["shown"]]
    box = annot["boxes"][0]
    assert (box["xmin"], box["ymin"], box["xmax"], box["ymax"], box["label"]) == (20, 30, 60, 70, "red square")
    assert shown == {"object": 0, "frame": 12, "box": (0.1, 0.3, 0.3, 0.7)} and show[SHOW["tool"]] == "drag"
    echoed = {"image": annot["image"], "boxes": [drawn(21, 30, 60, 71)]}  # the component's own rounding
    assert cb.on_boxes(echoed, pic, draft, shown, *SETTINGS) == (gr.skip(),) * 7

    # the user drags it 120 px to the right: a key at frame 12
    moved = {"image": annot["image"], "boxes": [drawn(140, 30, 180, 70)]}
    draft, shown, *refresh = cb.on_boxes(moved, pic, draft, shown, *SETTINGS)
    expected = {
        "num_frames": 16,
        "fps": 8,
        "prompt": "a red square slides right",
        "negative_prompt": "",
        "interpolation": "linear",
        "objects": [
            {
                "name": "red square",
                "keyframes": [
                    {"frame": 0, "box": [0.1, 0.3, 0.3, 0.7]},
                    {"frame": 12, "box": [0.7, 0.3, 0.9, 0.7]},
                ],
            }
        ],
    }
    assert json.loads(refresh[REFRESH["json"]]) == expected
    # the download is that file, and the CLI's loader reads it
    path = Path(refresh[REFRESH["layout_file"]])
    assert path.name == "layout.json" and json.loads(path.read_text()) == expected
    assert load_layout(path).to_dict() == expected
    # the path preview shows the box at frame 12 in the object's colour (orange) around x 140..180
    preview = np.asarray(Image.open(cb.refresh(pic, draft, 0, 12, cb.settings(*SETTINGS))[0]))
    assert preview[50, 140, 0] > 180 and preview[50, 140, 2] < 90  # (230, 159, 0) edge, not the grey ground

    # removing the frame-12 box in the annotator removes that key again
    draft, shown, *refresh = cb.on_boxes({"image": annot["image"], "boxes": []}, pic, draft, shown, *SETTINGS)
    assert draft[0].keys == {0: (0.1, 0.3, 0.3, 0.7)}


def test_box_lands_on_the_object_and_frame_that_were_shown(cb, picture):
    """The browser may send a newer dropdown/slider value than the picture the user drew on."""
    pic = cb.load_picture(picture)
    draft = (DraftObject("a", {0: (0.1, 0.1, 0.2, 0.2)}), DraftObject("b", {0: (0.5, 0.5, 0.6, 0.6)}))
    shown = {"object": 1, "frame": 3, "box": (0.5, 0.5, 0.6, 0.6)}
    draft, *_ = cb.on_boxes({"image": "x", "boxes": [drawn(100, 20, 140, 40)]}, pic, draft, shown, *SETTINGS)
    assert draft[0].keys == {0: (0.1, 0.1, 0.2, 0.2)}
    assert draft[1].keys == {0: (0.5, 0.5, 0.6, 0.6), 3: (0.5, 0.2, 0.7, 0.4)}


def test_uploaded_layout_round_trips(cb, picture, tmp_path):
    layout = make_layout(
        [("cup", [(0, (0.2, 0.3, 0.5, 0.8)), (9, (0.05, 0.3, 0.35, 0.8))]), ("spoon", [(0, (0.6, 0.5, 0.7, 0.9))])],
        num_frames=10, fps=12, prompt="steam rises", interpolation="smooth",
    )  # fmt: skip
    path = tmp_path / "mine.json"
    layout.save(path)
    pic = cb.load_picture(picture)
    out = cb.on_upload_layout(str(path), pic)
    got_pic, draft, obj, frame, frames, fps, prompt, negative, interp, from_sample, *show = out
    assert from_sample is False
    assert got_pic is pic and (frames, fps, prompt, negative, interp) == (10, 12, "steam rises", "", "smooth")
    assert obj["choices"] == [("1. cup", 0), ("2. spoon", 1)] and frame["maximum"] == 9
    assert show[SHOW["json"]] == layout.to_json()
    assert load_layout(show[SHOW["layout_file"]]).to_dict() == layout.to_dict()
    # and unchanged back out of the draft
    assert editor.build_layout(draft, Settings(10, 12, "steam rises", "", "smooth")).to_dict() == layout.to_dict()


def test_new_picture_keeps_the_users_objects_and_drops_a_samples(cb, picture):
    mine = (DraftObject("red square", {0: (0.1, 0.3, 0.3, 0.7)}),)
    pic, draft, obj, sample, from_sample, *show = cb.on_upload_picture(str(picture), mine, 0, 0, False, *SETTINGS)
    assert draft == mine and obj["value"] == 0 and sample["value"] is None and from_sample is False
    assert pic.full.shape == (H, W, 3) and show[SHOW["status"]].startswith("**Ready:**")
    pic, draft, obj, sample, from_sample, *show = cb.on_upload_picture(str(picture), mine, 0, 0, True, *SETTINGS)
    assert draft == () and obj["value"] is None and obj["choices"] == []
    assert "add an object" in show[SHOW["status"]]


def test_every_sample_loads_with_its_layout(cb):
    from iva0.samples import list_samples

    for s in list_samples():
        pic, draft, *_rest = cb.on_sample(s.name)
        assert _rest[7] is True  # the objects are the sample's
        show = _rest[8:]
        assert pic.full.shape == np.asarray(Image.open(s.image)).shape
        assert json.loads(show[SHOW["json"]]) == load_layout(s.layout).to_dict()


# ---------------------------------------------------------------------------
# generation, and the page's layout through the CLI
# ---------------------------------------------------------------------------
def test_generate_with_composite_and_cli_reads_the_same_layout(cb, picture, tmp_path):
    from iva0.cli import main
    from iva0.io.video import read_video

    pic = cb.load_picture(picture)
    draft = (DraftObject("red square", {0: (0.1, 0.3, 0.3, 0.7), 7: (0.6, 0.3, 0.8, 0.7)}),)
    settings = ("8", 4, "", "", "linear")
    video, download, status = cb.on_generate(pic, draft, *settings, "composite", 0, 200, progress=no_progress)
    assert video == download and status.startswith("**Done:** 8 frames, 200×100, 4 fps, composite backend")
    frames, fps = read_video(video)
    assert frames.shape == (8, H, W, 3) and round(fps) == 4
    # the square travelled: red at its last box, not at its first
    assert frames[-1][50, 140, 0] > 150 and frames[-1][50, 140, 1] < 100
    assert int(frames[-1][50, 40, 1]) > int(frames[0][50, 40, 1]) + 30  # the square left: less pure red there

    layout_file = cb.refresh(pic, draft, 0, 0, cb.settings(*settings))[-1]
    out = tmp_path / "cli.mp4"
    assert main(["animate", str(picture), "--layout", layout_file, "--out", str(out), "-q"]) == 0
    cli_frames, _ = read_video(out)
    assert cli_frames.shape == frames.shape
    assert np.abs(cli_frames.astype(int) - frames.astype(int)).mean() < 2  # same backend, same layout


def test_diffusion_backend_is_loaded_once_and_steps_change_per_run(monkeypatch, tmp_path):
    """Models take long to load: the page keeps one backend; steps/guidance are per-run settings."""
    from dataclasses import dataclass

    import iva0.backends as backends

    @dataclass
    class FakeSettings:
        steps: int = 25
        guidance: float = 7.5

    made = []

    class Fake:
        def __init__(self, **options):
            made.append(options)
            self.settings = FakeSettings()

    def create(name, **options):
        return Fake(**options) if name == "iva0" else backends.create_backend(name, **options)

    monkeypatch.setattr(backends, "create_backend", create)
    cb = Callbacks(UiConfig(model=tmp_path, backend_options={"device": "cpu"}), tmp_path / "work")
    a = cb.backend("iva0", steps=4, guidance=3.0)
    b = cb.backend("iva0", steps=9.0, guidance=None)
    assert a is b and made == [{"model": tmp_path, "device": "cpu"}]
    assert (b.settings.steps, b.settings.guidance) == (9, 3.0)
    with pytest.raises(UserError, match="steps must be 1..1000"):
        cb.backend("iva0", steps=0)


def test_preview_video_draws_every_frame(cb, picture):
    from iva0.io.video import read_video

    pic = cb.load_picture(picture)
    draft = (DraftObject("red square", {0: (0.1, 0.3, 0.3, 0.7), 5: (0.6, 0.3, 0.8, 0.7)}),)
    frames, fps = read_video(cb.on_preview(pic, draft, 6, 3, "", "", "linear"))
    assert frames.shape[0] == 6 and round(fps) == 3


# ---------------------------------------------------------------------------
# bad input: one clean message in the page
# ---------------------------------------------------------------------------
def page_error(fn, *args, **kwargs) -> str:
    with pytest.raises(gr.Error) as info:
        clean_errors(fn)(*args, **kwargs)
    msg = info.value.message
    assert "Traceback" not in msg and "\n" not in msg
    return msg


def test_bad_uploads_give_clean_messages(cb, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    assert "cannot read image" in page_error(cb.on_upload_picture, str(text), (), None, 0, False, *SETTINGS)
    huge = tmp_path / "wide.png"
    Image.new("RGB", (5000, 8)).save(huge)
    assert "image too large: 5000x8 px" in page_error(cb.on_upload_picture, str(huge), (), None, 0, False, *SETTINGS)

    bad = tmp_path / "bad.json"
    bad.write_text('{"objects": [')
    assert page_error(cb.on_upload_layout, str(bad), None).startswith("bad.json: not valid JSON")
    bad.write_text(json.dumps({"objects": [{"name": "x", "keyframes": [{"frame": 0, "box": [10, 10, 50, 50]}]}]}))
    assert "these look like pixels" in page_error(cb.on_upload_layout, str(bad), None)
    long = make_layout([("x", [(0, (0.1, 0.1, 0.2, 0.2))])], num_frames=100)
    long.save(bad)
    assert "num_frames: 100 is more than this page allows (32)" in page_error(cb.on_upload_layout, str(bad), None)
    many = make_layout([(f"o{i}", [(0, (0.1, 0.1, 0.2, 0.2))]) for i in range(editor.MAX_OBJECTS + 1)])
    many.save(bad)
    assert f"this page handles at most {editor.MAX_OBJECTS}" in page_error(cb.on_upload_layout, str(bad), None)
    bad.write_bytes(b"\xff\xfe" * 10)
    assert "not UTF-8 text" in page_error(cb.on_upload_layout, str(bad), None)


def test_generate_refuses_clearly(cb, picture):
    pic = cb.load_picture(picture)
    ok = (DraftObject("a", {0: (0.1, 0.3, 0.3, 0.7)}),)
    assert "upload a picture" in page_error(cb.on_generate, None, ok, *SETTINGS, "composite", 0, 256, progress=no_progress)
    assert "draw its box at frame 0" in page_error(
        cb.on_generate, pic, (DraftObject("a"),), *SETTINGS, "composite", 0, 256, progress=no_progress
    )
    assert "backend 'iva0' is not available here" in page_error(
        cb.on_generate, pic, ok, *SETTINGS, "iva0", 0, 256, progress=no_progress
    )
    assert "seed: must be 0 or more" in page_error(cb.on_generate, pic, ok, *SETTINGS, "composite", -1, 256, progress=no_progress)
    assert "more than this page allows" in page_error(
        cb.on_generate, pic, ok, 40, 8, "", "", "linear", "composite", 0, 256, progress=no_progress
    )


def test_a_bug_shows_one_line_and_no_traceback(caplog):
    def broken():
        return 1 / 0

    assert page_error(broken) == "internal error (ZeroDivisionError); the details are in the server's log"
    assert "ZeroDivisionError" in caplog.text  # the traceback went to the server's log


def test_page_wires_clean_errors_and_one_generation_at_a_time(tmp_path):
    from iva0.ui import build_app

    demo = build_app(UiConfig(), tmp_path)
    fns = [f for f in demo.fns.values() if f.fn is not None]
    names = {f.fn.__name__ for f in fns}
    assert {"on_sample", "on_upload_picture", "on_upload_layout", "on_boxes", "on_generate"} <= names
    assert all(hasattr(f.fn, "__wrapped__") for f in fns)  # every callback goes through clean_errors
    generate = next(f for f in fns if f.fn.__name__ == "on_generate")
    assert generate.concurrency_limit == 1


# ---------------------------------------------------------------------------
# the command
# ---------------------------------------------------------------------------
def test_cli_refuses_bad_options(capsys):
    from iva0.cli import main

    with pytest.raises(SystemExit) as e:
        main(["ui", "--model", "/no/such/folder"])
    assert e.value.code == 2
    assert capsys.readouterr().err.strip() == "error: --model: model folder not found: /no/such/folder"
    with pytest.raises(SystemExit):
        main(["ui", "--device", "cuda"])
    assert "only apply with --model" in capsys.readouterr().err
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit):
            main(["ui", "--port", str(port)])
    assert capsys.readouterr().err.strip() == f"error: cannot serve on 127.0.0.1:{port}: already in use; pick another --port"
    with pytest.raises(SystemExit):
        main(["ui", "--host", "no-such-host.invalid"])
    assert capsys.readouterr().err.startswith("error: --host no-such-host.invalid: unknown address")


@pytest.mark.slow
def test_iva0_ui_serves_the_page_on_localhost_within_a_minute(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "True"}  # the app turns it off by itself
    proc = subprocess.Popen(
        [sys.executable, "-m", "iva0", "ui", "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    try:
        t0 = time.monotonic()
        line = proc.stdout.readline()
        assert line.strip() == f"iva0 ui: serving on http://127.0.0.1:{port}/  (Ctrl+C to stop)", line
        html = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=30).read().decode()
        assert time.monotonic() - t0 < 60
        assert "iva0: animate a picture along boxes" in html
        config = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=30).read())
        assert config.get("analytics_enabled") is False
        # uploads over the page's limit (20 MB) are refused before any callback sees them
        assert upload(port, b"x" * 1000) == 200
        assert upload(port, b"x" * (20 * 2**20 + 1)) == 413
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def upload(port: int, data: bytes) -> int:
    """POST a file to the page's upload route; the HTTP status."""
    import urllib.error

    boundary = "iva0testboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"f.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/gradio_api/upload", data=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_old_drawings_and_runs_are_pruned(cb):
    old = Path(cb.image_file(np.zeros((8, 8, 3), np.uint8)))
    old_run = cb._run_dir()
    (old_run / "x.mp4").write_bytes(b"x")
    for p in (old, old_run):
        os.utime(p, (time.time() - 7200, time.time() - 7200))
    cb._last_prune = 0.0  # as if the last pruning were long ago
    new = Path(cb.image_file(np.full((8, 8, 3), 255, np.uint8)))
    assert new.exists() and not old.exists() and not old_run.exists()
    assert Path(cb.image_file(np.full((8, 8, 3), 255, np.uint8))) == new  # same drawing, same file
