"""The page's own work folder: drawings, masks, layout files and run folders, pruned after a while.

Everything here lives under a folder the app made for itself (`launch` makes a
fresh temporary one), so it never writes where a user pointed it.

Masks: an object's uploaded mask is kept here as a grey PNG and the draft names
it by its path. The layout the page offers for download names it as
`masks/<n>-<object>.png` instead, relative to the layout file, as `iva0 animate
--layout` resolves it; with masks the download is `layout.zip` (layout.json and
its masks/ folder), without them plain `layout.json`.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import shutil
import time
import uuid
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from iva0.io.atomic import atomic_write_bytes, atomic_write_text
from iva0.layout import Layout


log = logging.getLogger("iva0.ui")


class WorkDir:
    """`in_use`, when set, names the mask files the open pages' drafts use (`app.masks_in_sessions`): those
    are never pruned, however old; without it every mask is kept a day."""

    def __init__(self, root: str | os.PathLike, in_use: Callable[[], set[str]] | None = None) -> None:
        self.root = Path(root)
        self.in_use = in_use
        self._last_prune = 0.0

    def image_file(self, image: np.ndarray) -> str:
        """The image as a JPEG named by its content, written once.

        Handing Gradio a finished file (not an array) matters: Gradio re-encodes an
        array to a cache file named by its content on every event, rewriting the
        file while the browser may be reading it (a truncated response).
        """
        import cv2

        ok, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92])
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
            raise RuntimeError("cannot encode image")
        path, written = self._content_file("images", ".jpg", data.tobytes())
        if written:
            self.prune()
        return str(path)

    def canvas_file(self, image: np.ndarray) -> str:
        """The canvas picture under a name of its own for this one showing: `images/canvas-<token>.jpg`.

        The annotator sends back the name of the picture a box was drawn on with every change
        (the picture's file stem survives Gradio's caching), so the name says which showing (object,
        frame, draft) the box belongs to: an event for a canvas the page no longer shows is stale.
        A content name would not do: two showings can look the same (two objects without boxes).
        """
        src = Path(self.image_file(image))
        path = src.parent / f"canvas-{uuid.uuid4().hex[:16]}.jpg"
        try:
            os.link(src, path)  # the same bytes; no second copy on disk
        except OSError:
            shutil.copyfile(src, path)
        return str(path)

    def mask_file(self, mask: np.ndarray, written: list[Path] | None = None) -> str:
        """An object's mask (h, w) float in [0, 1] as a grey PNG named by its content, written once; the file is
        added to `written` when this call wrote it (an upload refused later takes back what it wrote)."""
        import cv2

        ok, data = cv2.imencode(".png", np.round(np.clip(mask, 0.0, 1.0) * 255).astype(np.uint8))
        if not ok:  # pragma: no cover - OpenCV always encodes uint8 grey
            raise RuntimeError("cannot encode mask")
        path, new = self._content_file("masks", ".png", data.tobytes())
        if new and written is not None:
            written.append(path)
        return str(path)

    def _content_file(self, folder: str, suffix: str, data: bytes) -> tuple[Path, bool]:
        """`data` under `<root>/<folder>/<content hash><suffix>`, written once; (path, whether written now)."""
        path = self.root / folder / f"{hashlib.sha256(data).hexdigest()[:20]}{suffix}"
        if path.exists():
            return path, False
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        return path, True

    def layout_file(self, layout: Layout) -> str:
        """The layout for download: `layout.json`, or `layout.zip` (layout.json + masks/) when an object has
        its own mask. One folder per content, so the name stays the same."""
        data, masks = portable(layout.to_dict())
        text = json.dumps(data, indent=2) + "\n"
        digest = hashlib.sha256(text.encode())
        for _, src in masks:
            digest.update(Path(src).read_bytes())
        folder = self.root / "layouts" / digest.hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / ("layout.zip" if masks else "layout.json")
        if not path.exists():
            if masks:
                buf = io.BytesIO()
                with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                    z.writestr("layout.json", text)
                    for name, src in masks:
                        z.write(src, name)
                atomic_write_bytes(path, buf.getvalue())
            else:
                atomic_write_text(path, text)
        return str(path)

    def run_dir(self) -> Path:
        """A fresh folder per run: concurrent sessions never share a file name."""
        self.prune()
        d = self.root / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def prune(self, max_age_s: float = 3600.0, every_s: float = 300.0) -> None:
        """Drop drawings, layouts and run folders older than an hour, at most every few minutes:
        every slider move makes a drawing, and Gradio keeps its own copy of what it sent to
        the page (for a day, `delete_cache`)."""
        now = time.time()
        if now - self._last_prune < every_s:
            return
        self._last_prune = now
        found = (*self.root.glob("images/*.jpg"), *self.root.glob("layouts/*"), *self.root.glob("runs/*"))
        old = [p for p in found if _age(p, now) > max_age_s]
        # masks are named by drafts that live on in open pages for as long as those stay open: a mask a page's
        # draft names is kept, the others a day (as Gradio keeps its files); when it cannot tell, all are kept
        old_masks = [p for p in self.root.glob("masks/*.png") if _age(p, now) > 24 * max_age_s]
        if old_masks:
            used = self._masks_in_use()
            old += [p for p in old_masks if used is not None and str(p) not in used]
        for p in old:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


    def _masks_in_use(self) -> set[str] | None:
        """The mask files the open pages use, or None when that cannot be told (then none is pruned)."""
        if self.in_use is None:
            return set()
        try:
            return {str(p) for p in self.in_use()}
        except Exception:  # noqa: BLE001 - e.g. Gradio's session store changed shape: keep every mask
            log.exception("iva0 ui: cannot tell which masks the open pages use; keeping them all")
            return None


def mask_name(index: int, name: str) -> str:
    """The mask's name inside a downloaded layout: `masks/<n>-<object>.png`, relative to layout.json."""
    slug = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40] or "object"
    return f"masks/{index}-{slug}.png"


def portable(data: dict) -> tuple[dict, list[tuple[str, str]]]:
    """A layout dict whose masks are named as in the download (never by a server path), and the
    (name in the download, file here) pairs."""
    objects, masks = [], []
    for i, o in enumerate(data.get("objects") or []):
        if isinstance(o, dict) and o.get("mask"):
            name = mask_name(i, str(o.get("name", "")))
            masks.append((name, str(o["mask"])))
            o = {**o, "mask": name}
        objects.append(o)
    return {**data, "objects": objects}, masks


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:  # pruned meanwhile by another thread
        return 0.0
