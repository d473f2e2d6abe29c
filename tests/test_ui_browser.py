"""End to end in a real browser: Debian's Chromium driven by Playwright against `iva0 ui`.

The page is served in this process on a free localhost port. The test picks a
sample, adds an object and draws its key boxes with the mouse, downloads the
layout and animates it with the CLI, generates with the composite backend and
checks the MP4 that comes back, then uploads a layout written for the CLI.
With IVA0_SCREENSHOT=path it saves a screenshot of the page there.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.timeout(240),
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("CI"),
        reason="needs Debian's chromium (apt-get install -y chromium); in CI this test must run",
    ),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server():
    from iva0.ui import UiConfig, launch

    config = UiConfig(port=free_port(), max_frames=32)
    demo = launch(config, block=False, quiet=True)
    try:
        yield config
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def wait_text(page, selector: str, pattern: str, timeout: float = 30_000) -> str:
    """Wait until the element's text matches `pattern` (a regex); return the text."""
    page.wait_for_function(
        "([sel, pat]) => { const e = document.querySelector(sel); return e && new RegExp(pat).test(e.innerText); }",
        arg=[selector, pattern],
        timeout=timeout,
    )
    return page.locator(selector).inner_text()


def canvas_box(page) -> dict:
    """The annotator canvas's bounding box in page px."""
    canvas = page.locator("#annotator canvas").first
    canvas.wait_for(state="visible")
    return canvas.bounding_box()


def drag(page, x0: float, y0: float, x1: float, y1: float) -> None:
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()


class Pending:
    """Requests in flight, less Gradio's long-lived event streams (Playwright's "networkidle"
    never comes while those are open)."""

    STREAMS = ("/queue/data", "/heartbeat", "/queue/join")

    def __init__(self, page) -> None:
        self.urls: set[str] = set()
        page.on("request", lambda r: self._add(r.url))
        page.on("requestfinished", lambda r: self.urls.discard(r.url))
        page.on("requestfailed", lambda r: self.urls.discard(r.url))

    def _add(self, url: str) -> None:
        if not any(s in url for s in self.STREAMS):
            self.urls.add(url)

    def wait_idle(self, page, timeout_ms: int = 30_000) -> None:
        quiet = 0
        for _ in range(timeout_ms // 100):
            quiet = quiet + 1 if not self.urls else 0
            if quiet >= 4:
                return
            page.wait_for_timeout(100)
        raise TimeoutError(f"requests still in flight: {sorted(self.urls)}")


def settle(page, tool: str) -> None:
    """Wait until the page has selected the annotator's `tool` and fetched the picture it shows."""
    page.wait_for_selector(f'#annotator button[aria-label="{tool}"].selected', timeout=30_000)
    page.pending.wait_idle(page)
    page.wait_for_timeout(300)  # the canvas draws on the next animation frames


def until(page, action, selector: str, pattern: str, tries: int = 3) -> None:
    """Do `action` until `selector`'s text matches. A drag that lands while the annotator is still
    being refreshed by the server is undone by that refresh (a person would simply drag again)."""
    for attempt in range(tries):
        action()
        try:
            wait_text(page, selector, pattern, timeout=10_000)
            return
        except Exception:  # noqa: BLE001 - playwright's TimeoutError
            if attempt == tries - 1:
                raise
            page.wait_for_timeout(1000)


def picture_rect(page, view_w: int, view_h: int) -> tuple[float, float, float]:
    """(left, top, scale) of the picture inside the canvas: it is fitted and centred (letterboxed)."""
    bb = canvas_box(page)
    scale = min(bb["width"] / view_w, bb["height"] / view_h)
    left = bb["x"] + (bb["width"] - view_w * scale) / 2
    top = bb["y"] + (bb["height"] - view_h * scale) / 2
    return left, top, scale


def set_slider(page, elem_id: str, value: int) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")
    box.blur()


def download(page, elem_id: str, dest: Path) -> Path:
    with page.expect_download() as info:
        page.locator(f"#{elem_id}").click()
    info.value.save_as(dest)
    return dest


@pytest.fixture
def page(browser, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.pending = Pending(page)
    page.on("console", lambda m: print("browser console:", m.type, m.text[:300]) if m.type == "error" else None)
    yield page
    page.screenshot(path=tmp_path / "last-page.png", full_page=True)  # to look at when a step failed
    page.close()


def test_draw_generate_download_and_cli_round_trip(server, page, tmp_path):
    from iva0.cli import main
    from iva0.io.video import read_video
    from iva0.layout import load_layout
    from iva0.samples import get_sample

    outside = []  # every request must stay on this machine
    page.on("request", lambda r: outside.append(r.url) if not re.match(r"(https?://127\.0\.0\.1[:/]|data:|blob:)", r.url) else None)
    page.goto(server.url)

    # the default sample loads by itself; pick another one
    print("step:", 'the default sample loads by itself; pick another one', flush=True)
    wait_text(page, "#status", "Ready")
    page.locator("#sample input").click()
    page.get_by_role("option", name=re.compile("^rocket")).click()
    wait_text(page, "#keys", r"rocket.*key boxes at frame\(s\) 0, 5, 15")

    # a new object: name, then its box at frame 0 and at frame 7, drawn with the mouse
    print("step:", 'a new object: name, then its box at frame 0 and at frame 7, ', flush=True)
    sample = get_sample("rocket")
    from iva0.io.image import read_image

    view_h, view_w = read_image(sample.image).shape[:2]  # samples are under the page's view size
    page.locator("#new-name textarea, #new-name input").first.fill("star")
    page.locator("#add-object").click()
    wait_text(page, "#keys", "star.*no key boxes yet")
    left, top, s = picture_rect(page, view_w, view_h)
    px0 = (0.10 * view_w, 0.10 * view_h, 0.30 * view_w, 0.25 * view_h)
    settle(page, "Create box")  # no box yet: the page selected the annotator's draw tool
    until(
        page, lambda: drag(page, left + px0[0] * s, top + px0[1] * s, left + px0[2] * s, top + px0[3] * s),
        "#keys", r"star.*key boxes at frame\(s\) 0\.",
    )  # fmt: skip
    set_slider(page, "frame", 7)
    wait_text(page, "#keys", "^At frame 7")
    settle(page, "Drag boxes")  # the box held from frame 0 is shown, ready to move
    # at frame 7: drag that box to the right
    print("step:", 'at frame 7: drag that box to the right', flush=True)
    shift = (0.45 * view_w, 0.05 * view_h)
    cx, cy = (px0[0] + px0[2]) / 2, (px0[1] + px0[3]) / 2
    until(
        page, lambda: drag(page, left + cx * s, top + cy * s, left + (cx + shift[0]) * s, top + (cy + shift[1]) * s),
        "#keys", r"star.*key boxes at frame\(s\) 0, 7\.",
    )  # fmt: skip
    px7 = (px0[0] + shift[0], px0[1] + shift[1], px0[2] + shift[0], px0[3] + shift[1])
    wait_text(page, "#status", "Ready: 2 objects")

    # the layout JSON the page offers is the CLI's file
    print("step:", "the layout JSON the page offers is the CLI's file", flush=True)
    layout_file = download(page, "download-layout", tmp_path / "drawn.json")
    layout = load_layout(layout_file)
    assert layout.names == ["rocket", "star"]
    assert layout.to_dict()["objects"][0] == load_layout(sample.layout).to_dict()["objects"][0]
    star = layout.objects[1]
    assert [k.frame for k in star.keyframes] == [0, 7]
    tol = 3 / min(view_w, view_h) + 0.01  # a few px of mouse and rounding
    np.testing.assert_allclose(star.keyframes[0].box, np.array(px0) / [view_w, view_h, view_w, view_h], atol=tol)
    np.testing.assert_allclose(star.keyframes[1].box, np.array(px7) / [view_w, view_h, view_w, view_h], atol=tol)

    # ... and animates with the CLI unchanged
    print("step:", '... and animates with the CLI unchanged', flush=True)
    out_cli = tmp_path / "cli.mp4"
    assert main(["animate", str(sample.image), "--layout", str(layout_file), "--out", str(out_cli), "-q", "--width", "256"]) == 0
    assert read_video(out_cli)[0].shape[0] == layout.num_frames

    # generate in the page with the composite backend; the video comes back as a real MP4
    print("step:", 'generate in the page with the composite backend; the video c', flush=True)
    set_slider(page, "frames", 12)  # the rocket has a key at frame 15: the page says so, like the CLI
    wait_text(page, "#status", r'Not ready: objects\[0\] \("rocket"\)\.keyframes\[2\]\.frame: 15 is out of range 0\.\.11')
    set_slider(page, "frames", 20)
    wait_text(page, "#status", "Ready: 2 objects, 20 frames")
    set_slider(page, "side", 320)
    page.locator("#generate").click()
    wait_text(page, "#gen-status", "Done: 20 frames", timeout=120_000)
    src = page.locator("#result video").get_attribute("src")
    assert src
    got = page.request.get(src if src.startswith("http") else server.url.rstrip("/") + src)
    assert got.ok
    (tmp_path / "page.mp4").write_bytes(got.body())
    frames, fps = read_video(tmp_path / "page.mp4")
    assert frames.shape[0] == 20 and max(frames.shape[1:3]) == 320 and round(fps) == 8
    mp4 = download(page, "download-mp4", tmp_path / "download.mp4")
    assert read_video(mp4)[0].shape[0] == 20
    # the path preview video: the still picture with the boxes, one frame per layout frame
    print("step:", 'the path preview video: the still picture with the boxes, on', flush=True)
    page.locator("#preview-button").click()
    page.wait_for_function("() => { const v = document.querySelector('#preview-video video'); return v && v.src; }")
    src = page.locator("#preview-video video").get_attribute("src")
    (tmp_path / "preview.mp4").write_bytes(page.request.get(src if src.startswith("http") else server.url.rstrip("/") + src).body())
    assert read_video(tmp_path / "preview.mp4")[0].shape[0] == 20
    if os.environ.get("IVA0_SCREENSHOT"):  # the page with a drawn object and its result, for the docs
        page.wait_for_timeout(1500)  # let both videos show a moving frame
        page.evaluate("window.scrollTo(0, 0)")
        shot = Path(os.environ["IVA0_SCREENSHOT"])
        page.screenshot(path=shot, full_page=True)
        from PIL import Image  # 256 colours: a third of the bytes, and the page still reads the same

        Image.open(shot).convert("RGB").quantize(256, dither=Image.Dither.NONE).save(shot, optimize=True)

    # the other way round: a layout written for the CLI, uploaded into the page, generates too
    print("step:", 'the other way round: a layout written for the CLI, uploaded ', flush=True)
    cli_layout = tmp_path / "for_cli.json"
    shutil.copy(get_sample("coins").layout, cli_layout)
    with page.expect_file_chooser() as chooser:
        page.locator("#upload-layout").click()
    chooser.value.set_files(str(cli_layout))
    wait_text(page, "#status", "Ready: 3 objects")
    again = download(page, "download-layout", tmp_path / "again.json")
    assert json.loads(again.read_text()) == load_layout(cli_layout).to_dict()

    # a new picture keeps the objects of an uploaded layout
    print("step:", 'a new picture keeps the objects of an uploaded layout', flush=True)
    before = page.locator("#preview img").get_attribute("src")
    with page.expect_file_chooser() as chooser:
        page.locator("#upload-picture").click()
    chooser.value.set_files(str(get_sample("coins").image))
    page.wait_for_function(
        "(old) => { const i = document.querySelector('#preview img'); return i && i.src !== old; }", arg=before
    )
    wait_text(page, "#status", "Ready: 3 objects")
    # ... and the page animates that CLI layout on that picture (seed 1 tells this run's status apart)
    page.locator("#seed input").fill("1")
    page.locator("#seed input").blur()
    page.locator("#generate").click()
    wait_text(page, "#gen-status", "Done: 16 frames, .*seed 1", timeout=120_000)
    src = page.locator("#result video").get_attribute("src")
    (tmp_path / "coins.mp4").write_bytes(page.request.get(src if src.startswith("http") else server.url.rstrip("/") + src).body())
    assert read_video(tmp_path / "coins.mp4")[0].shape[0] == load_layout(cli_layout).num_frames

    # a broken layout file: one clean message in the page, no traceback, nothing changed
    print("step:", 'a broken layout file: one clean message in the page, no trac', flush=True)
    (tmp_path / "broken.json").write_text('{"num_frames": 8, "objects": [')
    with page.expect_file_chooser() as chooser:
        page.locator("#upload-layout").click()
    chooser.value.set_files(str(tmp_path / "broken.json"))
    page.get_by_text("broken.json: not valid JSON").first.wait_for(timeout=30_000)
    assert "Traceback" not in page.content()
    wait_text(page, "#status", "Ready: 3 objects")

    assert outside == []
