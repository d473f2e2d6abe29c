"""The web app with a ttm model folder: the backend choice, its own defaults, the model's size and frames, a run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from iva0.errors import UserError
from iva0.ui.backend_choice import available_backends
from iva0.ui.callbacks import Callbacks
from iva0.ui.config import UiConfig
from iva0.ui.editor import DraftObject


def no_progress(*args, **kwargs):
    return None


@pytest.fixture(scope="module")
def wan(tmp_path_factory):
    from iva0.backends.ttm.tiny import write_model_folder

    return write_model_folder(tmp_path_factory.mktemp("ui-ttm") / "wan21", "wan21")


@pytest.fixture
def picture(tmp_path):
    yy, xx = np.mgrid[0:64, 0:96]
    img = np.full((64, 96, 3), 80, np.uint8)
    img[((xx - 30) ** 2 + (yy - 32) ** 2) < 200] = (230, 40, 40)
    path = tmp_path / "ball.png"
    Image.fromarray(img).save(path)
    return path


def _index(folder, data):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps(data))
    return folder


def test_the_model_folder_decides_the_backend_offered(wan, tmp_path):
    from iva0.backends.diffusion.backend import IVA0Settings
    from iva0.backends.ttm import FAMILIES

    offered = available_backends(wan)
    assert [(c.name, c.label) for c in offered] == [("composite", "composite (CPU preview)"), ("ttm", "ttm (wan21)")]
    ttm = offered[1]
    assert "Time-to-Move" in ttm.note and "dual-clock" in ttm.note and "cut-and-drag" in ttm.note
    assert "GPU" in ttm.note and "weights" in ttm.note and "minutes per video" in ttm.note
    assert (ttm.steps, ttm.guidance) == (50, FAMILIES["wan21"].guidance) == (50, 5.0)  # the backend's own defaults
    cog = available_backends(_index(tmp_path / "cog", {"_class_name": "CogVideoXImageToVideoPipeline"}))[1]
    assert (cog.label, cog.guidance) == ("ttm (cogvideox)", 6.0)
    a14b = available_backends(_index(tmp_path / "a14b", {"_class_name": "WanImageToVideoPipeline",
                                                          "transformer_2": ["diffusers", "WanTransformer3DModel"]}))[1]
    assert (a14b.label, a14b.guidance) == ("ttm (wan22-a14b)", 3.5)
    # an SD / iva0 folder keeps offering iva0, with the iva0 backend's own defaults
    (tmp_path / "sd" / "unet").mkdir(parents=True)
    iva0 = available_backends(tmp_path / "sd")[1]
    assert iva0.name == "iva0" and (iva0.steps, iva0.guidance) == (IVA0Settings().steps, IVA0Settings().guidance)
    assert available_backends(_index(tmp_path / "iva0", {"_class_name": "IVA0Pipeline"}))[1].name == "iva0"
    # a folder that is neither is refused, naming what was found
    with pytest.raises(UserError, match="model_index.json names WanPipeline"):
        available_backends(_index(tmp_path / "t2v", {"_class_name": "WanPipeline"}))  # Wan text-to-video
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="neither an iva0/SD model folder .* nor a ttm one .*no model_index.json and no unet/"):
        available_backends(tmp_path / "empty")


def test_ui_refuses_a_folder_that_is_neither_at_start(tmp_path, capsys):
    from iva0.cli import main

    _index(tmp_path / "t2v", {"_class_name": "WanPipeline"})
    with pytest.raises(SystemExit) as e:
        main(["ui", "--model", str(tmp_path / "t2v"), "--port", "1"])  # refused before the port is tried
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --model ") and err.count("\n") == 1 and "names WanPipeline" in err


def test_choosing_a_backend_shows_its_own_defaults_and_the_models_size(wan, picture, tmp_path):
    cb = Callbacks(UiConfig(model=wan), tmp_path / "work")
    note, steps, guidance, side = cb.on_backend("ttm")
    assert note.startswith("**ttm (wan21)**") and (steps, guidance) == (50, 5.0)  # not the page's 25 / 7.5
    assert side["interactive"] is False  # ttm makes its model's size: the size slider does not apply
    note, steps, guidance, side = cb.on_backend("composite")
    assert "cut-and-paste" in note and steps == guidance == __import__("gradio").skip() and side["interactive"] is True

    pic = cb.load_picture(picture)
    # 3 frames at 8 fps last 0.25 s: Wan makes 4k+1 frames at 16 fps, at its native area with the picture's aspect
    assert cb.on_video_note(pic, 512, 3, 8, "ttm").startswith("Video: 768×512 px, 5 frames at 16 fps (0.3 s): ttm (wan21)")
    assert cb.on_video_note(pic, 512, 3, 8, "composite").startswith("Video: 96×64 px, 3 frames at 8 fps")
    too_long = cb.on_video_note(pic, 512, 64, 8, "ttm")  # 7.9 s; Wan 2.1 makes at most 81 frames at 16 fps
    assert too_long.startswith("ttm (wan21): the layout lasts 7.88 s") and "at most 5.00 s" in too_long
    small = Callbacks(UiConfig(model=wan, max_output_side=64), tmp_path / "work2")
    assert "Video: 64×32 px, 5 frames" in small.on_video_note(pic, 512, 3, 8, "ttm")
    assert "largest side, 64 px" in small.on_video_note(pic, 512, 3, 8, "ttm")


def test_generate_with_ttm_through_the_page(wan, picture, tmp_path):
    from iva0.io.video import read_video

    cb = Callbacks(UiConfig(model=wan, max_output_side=64, backend_options={"device": "cpu"}), tmp_path / "work")
    pic = cb.load_picture(picture)
    draft = (DraftObject("ball", {0: (0.2, 0.3, 0.5, 0.7), 2: (0.5, 0.3, 0.8, 0.7)}),)
    settings = (3, 8, "a red ball", "", "linear")
    result, video, status, mp4, overlay = cb.on_generate(pic, draft, *settings, "ttm", 0, 512, 2, 5.0,
                                                         progress=no_progress)
    be = cb.gen.pool.get("ttm")
    assert (be.settings.steps, be.settings.guidance) == (2, 5.0)  # the page's settings reach the backend
    assert status.startswith("**Done:** 5 frames, 64×32, 16 fps, ttm backend, seed 0")
    frames, fps = read_video(video)
    assert frames.shape == (5, 32, 64, 3) and round(fps) == 16  # written at the model's fps, not the layout's 8
    boxed, _ = read_video(overlay)
    assert boxed.shape == frames.shape
    layout_file = cb.refresh(pic, draft, 0, 0, cb.settings(*settings))[-1]
    assert json.loads(open(layout_file).read())["num_frames"] == 3  # the page's layout stays the user's own
