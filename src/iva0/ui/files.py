"""The page's own work folder: drawings, layout files and run folders, pruned after an hour.

Everything here lives under a folder the app made for itself (`launch` makes a
fresh temporary one), so it never writes where a user pointed it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path

import numpy as np

from iva0.io.atomic import atomic_write_bytes, atomic_write_text
from iva0.layout import Layout


class WorkDir:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
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
        data = data.tobytes()
        path = self.root / "images" / f"{hashlib.sha256(data).hexdigest()[:20]}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
            self.prune()
        return str(path)

    def layout_file(self, layout: Layout) -> str:
        """The layout as `layout.json` for download; one folder per content, so the name stays `layout.json`."""
        text = layout.to_json() + "\n"
        folder = self.root / "layouts" / hashlib.sha256(text.encode()).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "layout.json"
        if not path.exists():
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
        for p in [p for p in found if _age(p, now) > max_age_s]:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:  # pruned meanwhile by another thread
        return 0.0
