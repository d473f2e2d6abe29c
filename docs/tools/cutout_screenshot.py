"""docs/ui-cutout.png: the web page's Cut-out view on the motorcycle sample, before and after one click on its front tyre.

    .venv/bin/python docs/tools/cutout_screenshot.py

Needs Debian's chromium and Playwright (as the browser test, tests/test_ui_browser.py, whose helpers it uses).
The page is served on a free 127.0.0.1 port; every request that leaves it is aborted.
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

from test_ui_browser import CHROMIUM, CHROMIUM_ARGS, click_picture, free_port, wait_text  # noqa: E402


def shoot(out: Path) -> None:
    import numpy as np
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from iva0.ui import UiConfig, launch

    config = UiConfig(port=free_port())
    demo = launch(config, block=False, quiet=True)
    try:
        with sync_playwright() as p, tempfile.TemporaryDirectory() as tmp:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", lambda r: r.continue_() if re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", r.request.url) else r.abort())
            page.goto(config.url)
            wait_text(page, "#status", "Ready")
            page.locator("#sample input").click()
            page.get_by_role("option", name=re.compile("^motorcycle")).click()
            wait_text(page, "#status", "motorcycle")
            page.locator("#objects").get_by_text("motorcycle").first.click()
            page.locator("#cutout-accordion").get_by_text("Cut-out").first.click()
            wait_text(page, "#cutout-note", "full colour is what moves")
            page.wait_for_timeout(1000)
            shots = [Path(tmp) / "before.png", Path(tmp) / "after.png"]
            page.locator("#cutout-accordion").screenshot(path=shots[0])
            click_picture(page, "#cutout img", 0.80, 0.80)  # the front tyre, marked as object
            wait_text(page, "#cutout-note", "1 point")
            page.wait_for_timeout(1000)
            page.locator("#cutout-accordion").screenshot(path=shots[1])
            browser.close()
            pics = [np.asarray(Image.open(s).convert("RGB")) for s in shots]
            h = min(p.shape[0] for p in pics)
            gap = np.full((h, 16, 3), 255, np.uint8)
            both = np.concatenate([pics[0][:h], gap, pics[1][:h]], axis=1)
            Image.fromarray(both).save(out, optimize=True)  # RGB: a 256-colour palette greys the dots
    finally:
        demo.close()


if __name__ == "__main__":
    shoot(ROOT / "docs" / "ui-cutout.png")
    print(ROOT / "docs" / "ui-cutout.png")
