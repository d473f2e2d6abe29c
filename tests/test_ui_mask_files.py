"""Uploaded masks stay on the server while a page uses them (issue 16 §3).

The page keeps an object's uploaded mask in its work folder, named by content, and
prunes mask files after a day. A page left open longer still names its masks in its
draft: those must survive the prune, and if a mask is gone all the same, no line
the page shows may name a server path.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")

from iva0.ui.callbacks import SHOW_OUTPUTS, Callbacks  # noqa: E402
from iva0.ui.config import UiConfig  # noqa: E402
from iva0.ui.editor import DraftObject  # noqa: E402
from iva0.ui.files import WorkDir  # noqa: E402

W, H = 200, 100
SETTINGS = (8, 4, "a red square slides right", "", "linear")
DRAFT = (DraftObject("red square", {0: (0.1, 0.3, 0.3, 0.7), 7: (0.6, 0.3, 0.8, 0.7)}),)
DAY = 24 * 3600.0
SERVER_PATH = re.compile(r"(^|[\s'\"(:])/\w")


@pytest.fixture
def picture(tmp_path) -> Path:
    img = np.full((H, W, 3), 128, np.uint8)
    img[30:70, 20:60] = (220, 30, 30)
    path = tmp_path / "square.png"
    Image.fromarray(img).save(path)
    return path


def mask_png(path: Path, box=(20, 30, 60, 70)) -> Path:
    m = np.zeros((H, W), np.uint8)
    x0, y0, x1, y1 = box
    m[y0:y1, x0:x1] = 255
    Image.fromarray(m).save(path)
    return path


def age(path: str | Path, seconds: float) -> None:
    t = time.time() - seconds
    os.utime(path, (t, t))


def masked_draft(cb: Callbacks, pic, mask: Path) -> tuple:
    return cb.on_upload_mask(str(mask), pic, DRAFT, 0, 0, *SETTINGS)[0]


def test_a_mask_in_use_outlives_the_daily_prune_and_unused_ones_go(tmp_path, picture):
    in_use: set[str] = set()
    cb = Callbacks(UiConfig(max_frames=32, min_view_side=2 * W), tmp_path / "work")
    cb.work.in_use = lambda: in_use
    pic = cb.load_picture(picture)
    used = masked_draft(cb, pic, mask_png(tmp_path / "a.png"))[0].mask
    unused = masked_draft(cb, pic, mask_png(tmp_path / "b.png", box=(100, 30, 140, 70)))[0].mask
    in_use.add(used)
    for p in (used, unused):
        age(p, DAY + 3600)  # uploaded a day and an hour ago
    cb.work.prune(every_s=0)
    assert Path(used).exists(), "a mask the open page uses was pruned"
    assert not Path(unused).exists(), "a mask nobody uses is kept forever"


def test_when_it_cannot_tell_which_masks_are_used_it_keeps_them_all(tmp_path, picture):
    work = WorkDir(tmp_path / "work")

    def broken() -> set[str]:
        raise AttributeError("gradio changed")

    work.in_use = broken
    path = work.mask_file(np.ones((H, W), np.float32))
    age(path, 2 * DAY)
    work.prune(every_s=0)
    assert Path(path).exists()


def test_the_page_counts_the_masks_of_every_open_session_as_in_use(tmp_path, picture):
    """The glue to Gradio: every session's draft (gr.State) names masks that build_app's WorkDir keeps."""
    from gradio.state_holder import StateHolder

    from iva0.ui.app import build_app

    demo = build_app(UiConfig(max_frames=32, min_view_side=2 * W), tmp_path / "work")
    cb = demo.iva0_callbacks
    pic = cb.load_picture(picture)
    draft = masked_draft(cb, pic, mask_png(tmp_path / "a.png"))
    holder = StateHolder()
    holder.set_blocks(demo)  # as launching the page does
    states = [b for b in demo.blocks.values() if isinstance(b, gr.State)]
    for b in states:  # one open session whose states hold the draft (whichever State it is)
        holder["session-1"][b._id] = draft if b.value == () else b.value
    assert cb.work.in_use() == {draft[0].mask}
    age(draft[0].mask, DAY + 3600)
    cb.work.prune(every_s=0)
    assert Path(draft[0].mask).exists()
    holder.delete_state("session-1")  # the session ended (Gradio deletes a closed tab's state after an hour)
    cb.work.prune(every_s=0)
    assert not Path(draft[0].mask).exists()


def test_a_missing_mask_never_shows_a_server_path(tmp_path, picture):
    cb = Callbacks(UiConfig(max_frames=32, min_view_side=2 * W), tmp_path / "work")
    pic = cb.load_picture(picture)
    draft = masked_draft(cb, pic, mask_png(tmp_path / "a.png"))
    os.unlink(draft[0].mask)  # gone all the same (someone emptied /tmp)
    status = cb.on_select(pic, draft, 0, 0, *SETTINGS)[SHOW_OUTPUTS.index("status")]
    assert "Not ready" in status and "upload it again" in status, status
    assert not SERVER_PATH.search(status) and "iva0-ui" not in status, status
    note = cb.on_cutout(pic, draft, 0, 0, True)[1]
    assert "upload it again" in note and not SERVER_PATH.search(note), note
    from test_ui import page_warning

    msg = page_warning(cb.on_generate, pic, draft, *SETTINGS, "composite", 0, 256, progress=lambda *a, **k: None)
    assert "upload it again" in msg
