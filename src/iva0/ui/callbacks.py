"""What the page's buttons do. Plain methods over plain values, so tests call them directly.

Every method that a Gradio event calls is wrapped by `clean_errors`: a
`UserError` (the same checks as the CLI) becomes a `gr.Error` with its one-line
message; anything else is logged on the server with its traceback and the page
gets a short message without one.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import numpy as np

from iva0.errors import UserError
from iva0.io.atomic import atomic_write_bytes, atomic_write_text
from iva0.io.image import fit_size, read_image
from iva0.io.overlay import color
from iva0.io.video import write_video
from iva0.layout import Layout, parse_layout_json
from iva0.ui import editor
from iva0.ui.config import UiConfig
from iva0.ui.editor import Draft, Settings
from iva0.ui.render import draw_draft, overlay_frames, view_copy

log = logging.getLogger("iva0.ui")


def clean_errors(fn: Callable) -> Callable:
    @functools.wraps(fn)  # keeps the signature: Gradio looks for the gr.Progress default in it
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except UserError as e:
            raise gr.Error(str(e).replace("\n", " "), print_exception=False) from None
        except Exception as e:  # noqa: BLE001 - a bug: log it in full, show one line
            log.exception("iva0 ui: %s failed", fn.__name__)
            raise gr.Error(
                f"internal error ({type(e).__name__}); the details are in the server's log", print_exception=False
            ) from None

    return wrapper


@dataclass
class Picture:
    full: np.ndarray  # (H, W, 3) uint8 as read, for generation
    view: np.ndarray  # (h, w, 3) uint8, at most view_side, for drawing
    name: str

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the view copy, the annotator's pixel space."""
        return self.view.shape[1], self.view.shape[0]


# what `show` returns, in order (the app wires the same components)
SHOW_OUTPUTS = ("annotator", "shown", "tool", "preview", "keys", "json", "status", "layout_file")


class Callbacks:
    def __init__(self, config: UiConfig, work_dir: str | os.PathLike) -> None:
        self.config = config
        self.work_dir = Path(work_dir)
        self._backends: dict[str, Any] = {}
        self._backend_lock = threading.Lock()
        self._last_prune = 0.0

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def settings(self, frames: Any, fps: Any, prompt: Any, negative: Any, interpolation: Any) -> Settings:
        return Settings(
            num_frames=editor.as_int(frames, 16),
            fps=editor.as_int(fps, 8),
            prompt=prompt or "",
            negative_prompt=negative or "",
            interpolation=interpolation or "linear",
        )

    def load_picture(self, path: str | os.PathLike, name: str | None = None) -> Picture:
        """Read an uploaded picture with the CLI's checks and the page's size limits."""
        p = Path(path)
        if p.exists() and p.stat().st_size > self.config.max_upload_mb * 1024 * 1024:
            raise UserError(f"picture too large: {p.stat().st_size / 2**20:.1f} MB (at most {self.config.max_upload_mb} MB)")
        full = read_image(p, max_side=self.config.max_image_side)
        return Picture(full=full, view=view_copy(full, self.config.view_side), name=name or p.stem)

    def parse_layout_file(self, path: str | os.PathLike) -> Layout:
        p = Path(path)
        size = p.stat().st_size
        if size > self.config.max_layout_bytes:
            raise UserError(f"layout file too large: {size} bytes (at most {self.config.max_layout_bytes})")
        try:
            text = p.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"layout file {p.name}: not UTF-8 text (a layout is a JSON file)") from None
        layout = parse_layout_json(text, source=p.name)
        self.check_frames(layout.num_frames)
        if len(layout.objects) > editor.MAX_OBJECTS:
            raise UserError(f"objects: {len(layout.objects)} objects; this page handles at most {editor.MAX_OBJECTS}")
        return layout

    def check_frames(self, num_frames: int) -> None:
        if num_frames > self.config.max_frames:
            raise UserError(
                f"num_frames: {num_frames} is more than this page allows ({self.config.max_frames}); "
                "use `iva0 animate` for longer videos"
            )

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
        path = self.work_dir / "images" / f"{hashlib.sha256(data).hexdigest()[:20]}.jpg"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(path, data)
            self._prune()
        return str(path)

    def _prune(self, max_age_s: float = 3600.0, every_s: float = 300.0) -> None:
        """Drop drawings and run folders older than an hour, at most every few minutes: every
        slider move makes a drawing, and Gradio keeps its own copy of what it sent to the page
        (for a day, `delete_cache`)."""
        now = time.time()
        if now - self._last_prune < every_s:
            return
        self._last_prune = now
        old = [p for p in (*self.work_dir.glob("images/*.jpg"), *self.work_dir.glob("runs/*")) if _age(p, now) > max_age_s]
        for p in old:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)

    def layout_file(self, layout: Layout) -> str:
        """The layout as `layout.json` for download; one folder per content, so the name stays `layout.json`."""
        text = layout.to_json() + "\n"
        folder = self.work_dir / "layouts" / hashlib.sha256(text.encode()).hexdigest()[:16]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "layout.json"
        if not path.exists():
            atomic_write_text(path, text)
        return str(path)

    # ------------------------------------------------------------------
    # the two views of the draft
    # ------------------------------------------------------------------
    def annotator_value(
        self, pic: Picture | None, draft: Draft, current: int | None, frame: int, settings: Settings
    ) -> tuple[dict | None, dict | None]:
        """The annotator's value (the picture with the other objects drawn in, and the selected
        object's box at `frame`) and what it shows: {"object", "frame", "box"}.

        Drawn boxes are read against that record, not against the dropdown and slider
        as the browser sends them, so a box always lands on the object and frame the
        user saw while drawing it.
        """
        if pic is None:
            return None, None
        frame = int(np.clip(frame, 0, settings.num_frames - 1))
        bg = draw_draft(pic.view, draft, frame, settings.num_frames, settings.interpolation, skip=current)
        box = None
        boxes = []
        if current is not None and 0 <= current < len(draft):
            obj = draft[current]
            box = editor.box_at(obj, frame, settings.num_frames, settings.interpolation)
            if box is not None:
                w, h = pic.size
                boxes.append({**editor.box_to_pixels(box, w, h), "label": obj.name, "color": color(current)})
        else:
            current = None
        return {"image": self.image_file(bg), "boxes": boxes}, {"object": current, "frame": frame, "box": box}

    def refresh(self, pic: Picture | None, draft: Draft, current: int | None, frame: int, settings: Settings) -> tuple:
        """(preview image, key-frame line, layout JSON, status line, layout file or None)."""
        frame = int(np.clip(frame, 0, settings.num_frames - 1))
        preview = None
        if pic is not None:
            preview = self.image_file(
                draw_draft(pic.view, draft, frame, settings.num_frames, settings.interpolation, selected=current)
            )
        keys = editor.describe_keys(draft, current, frame)
        try:
            self.check_frames(settings.num_frames)
            layout = editor.build_layout(draft, settings)
        except UserError as e:
            return preview, keys, json.dumps(editor.draft_to_dict(draft, settings), indent=2), f"**Not ready:** {e}", None
        n = len(layout.objects)
        status = f"**Ready:** {n} object{'s' * (n != 1)}, {layout.num_frames} frames at {layout.fps} fps."
        if pic is None:
            status += " Upload a picture or pick a sample to animate it."
        return preview, keys, layout.to_json(), status, self.layout_file(layout)

    def show(self, pic, draft, current, frame, settings) -> tuple:
        """Everything the page shows about the draft, in SHOW_OUTPUTS order.

        `tool` is the annotator's tool to select: "create" when the object has no box
        to show (a drag draws one), else "drag" (a drag moves the shown box, the
        natural way to set the next key frame).
        """
        annot, shown = self.annotator_value(pic, draft, current, frame, settings)
        tool = "drag" if shown is not None and shown["box"] is not None else "create"
        return (annot, shown, tool, *self.refresh(pic, draft, current, frame, settings))

    # ------------------------------------------------------------------
    # events: loading
    # ------------------------------------------------------------------
    def on_sample(self, name: str | None) -> tuple:
        """(pic, draft, object, frame, frames, fps, prompt, negative, interpolation, sample_objects, *show)."""
        from iva0.layout import load_layout
        from iva0.samples import get_sample

        if not name:
            raise UserError("pick a sample from the list")
        s = get_sample(name)
        pic = self.load_picture(s.image, name=s.name)
        return self._loaded(pic, load_layout(s.layout), sample_objects=True)

    def on_upload_layout(self, path: str | None, pic: Picture | None) -> tuple:
        """Same outputs as `on_sample`; the picture stays."""
        if not path:
            raise UserError("no layout file received")
        return self._loaded(pic, self.parse_layout_file(path), sample_objects=False)

    def _loaded(self, pic: Picture | None, layout: Layout, sample_objects: bool) -> tuple:
        self.check_frames(layout.num_frames)
        draft, settings = editor.draft_from_layout(layout)
        return (
            pic, draft, _choices(draft, 0), gr.update(value=0, maximum=settings.num_frames - 1),
            settings.num_frames, settings.fps, settings.prompt, settings.negative_prompt, settings.interpolation,
            sample_objects, *self.show(pic, draft, 0, 0, settings),
        )  # fmt: skip

    def on_upload_picture(
        self, path: str | None, draft: Draft, current, frame, sample_objects: bool, *settings_args
    ) -> tuple:
        """(pic, draft, object, sample, sample_objects, *show).

        A new picture keeps objects the user brought (an uploaded layout, objects
        added by hand: boxes are normalised, so they fit any picture) and drops a
        sample's objects, which belong to the sample's picture.
        """
        if not path:
            raise UserError("no picture received")
        pic = self.load_picture(path)
        current = _index(current)
        if sample_objects:
            draft, current = (), None
        settings = self.settings(*settings_args)
        return (
            pic, draft, _choices(draft, current), gr.update(value=None), False,
            *self.show(pic, draft, current, editor.as_int(frame), settings),
        )  # fmt: skip

    # ------------------------------------------------------------------
    # events: editing
    # ------------------------------------------------------------------
    def on_add_object(self, name: str, pic, draft: Draft, *settings_args) -> tuple:
        """(draft, object, name box, frame, sample_objects, *show): the new object is selected at
        frame 0, ready to draw; the objects are now the user's own."""
        draft = editor.add_object(draft, name)
        current = len(draft) - 1
        settings = self.settings(*settings_args)
        return (draft, _choices(draft, current), "", 0, False, *self.show(pic, draft, current, 0, settings))

    def on_remove_object(self, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """(draft, object, *show)."""
        draft = editor.remove_object(draft, _index(current))
        current = 0 if draft else None
        settings = self.settings(*settings_args)
        return (draft, _choices(draft, current), *self.show(pic, draft, current, editor.as_int(frame), settings))

    def on_select(self, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """Another object picked or the key-frame slider moved: (*show)."""
        return self.show(pic, draft, _index(current), editor.as_int(frame), self.settings(*settings_args))

    def on_settings(self, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """Number of frames or interpolation changed: (frame slider, *show)."""
        settings = self.settings(*settings_args)
        self.check_frames(settings.num_frames)
        frame = min(editor.as_int(frame), settings.num_frames - 1)
        return (
            gr.update(maximum=settings.num_frames - 1, value=frame),
            *self.show(pic, draft, _index(current), frame, settings),
        )

    def on_text(self, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """Prompt or fps changed: (*refresh); the annotator stays as it is."""
        return self.refresh(pic, draft, _index(current), editor.as_int(frame), self.settings(*settings_args))

    def on_boxes(self, value: dict | None, pic: Picture | None, draft: Draft, shown: dict | None, *settings_args) -> tuple:
        """The user drew, moved or removed the box: (draft, shown, *refresh).

        The annotator also reports the boxes the page itself just showed; those
        (equal to `shown` up to pixel rounding) change nothing, so moving the
        slider never creates a key by itself.
        """
        skip = (gr.skip(),) * 7
        if pic is None or value is None or shown is None:
            return skip
        settings = self.settings(*settings_args)
        current, frame = shown["object"], shown["frame"]
        boxes = value.get("boxes") or []
        w, h = pic.size
        if current is None or not 0 <= current < len(draft) or frame >= settings.num_frames:
            if boxes:
                gr.Warning("Add an object first (type its name, press Add object), then draw its box.")
            return skip
        if not boxes:
            if frame in draft[current].keys:  # the user removed this frame's key box
                draft = editor.remove_key(draft, current, frame)
                return (draft, {**shown, "box": None}, *self.refresh(pic, draft, current, frame, settings))
            return skip
        box = editor.box_from_pixels(boxes[-1], w, h)  # single_box: the one box
        if editor.same_box(box, shown["box"], w, h):
            return skip
        draft = editor.set_key(draft, current, frame, box)
        return (draft, {**shown, "box": box}, *self.refresh(pic, draft, current, frame, settings))

    # ------------------------------------------------------------------
    # events: output
    # ------------------------------------------------------------------
    def on_preview(self, pic: Picture | None, draft: Draft, *settings_args) -> str:
        """The path preview video: the still picture with each object's box per frame (MP4 path)."""
        if pic is None:
            raise UserError("upload a picture or pick a sample first")
        settings = self.settings(*settings_args)
        self.check_frames(settings.num_frames)
        layout = editor.build_layout(draft, settings)
        frames = overlay_frames(pic.view, layout, self.config.preview_side)  # (F, h, w, 3)
        return str(write_video(frames, self._run_dir() / "preview.mp4", layout.fps))

    def on_generate(
        self, pic: Picture | None, draft: Draft, frames, fps, prompt, negative, interpolation,
        backend: str, seed, side, steps=None, guidance=None, progress=gr.Progress(),
    ) -> tuple:  # fmt: skip
        """(result video, MP4 download, status)."""
        if pic is None:
            raise UserError("upload a picture or pick a sample first")
        settings = self.settings(frames, fps, prompt, negative, interpolation)
        self.check_frames(settings.num_frames)
        layout = editor.build_layout(draft, settings)
        if backend not in self.config.backends:
            raise UserError(f"backend {backend!r} is not available here; choose one of: {', '.join(self.config.backends)}")
        seed = editor.as_int(seed, 0)
        if seed < 0:
            raise UserError("seed: must be 0 or more")
        side = int(np.clip(editor.as_int(side, self.config.default_output_side), 64, self.config.max_output_side))
        h, w = pic.full.shape[:2]
        out_w, out_h = fit_size(w, h, max_side=side, multiple=2)  # the page's cap; the backend rounds further
        be = self.backend(backend, steps=steps, guidance=guidance)

        def report(done: int, total: int, stage: str) -> None:
            progress((done, total), desc=stage)

        from iva0.animate import animate

        t0 = time.perf_counter()
        progress(0, desc="starting")
        anim = animate(pic.full, layout, be, width=out_w, height=out_h, seed=seed, progress=report)
        dt = time.perf_counter() - t0
        out = self._run_dir() / f"iva0_{_slug(pic.name)}_{backend}_seed{seed}.mp4"
        write_video(anim.frames, out, layout.fps)
        F, H, W = anim.frames.shape[:3]
        status = f"**Done:** {F} frames, {W}×{H}, {layout.fps} fps, {anim.backend} backend, seed {seed}, {dt:.1f} s."
        return str(out), str(out), status

    def backend(self, name: str, *, steps: Any = None, guidance: Any = None):
        """The backend to run. The diffusion one is built once and kept (its models take long
        to load); steps and guidance are per-run settings, changed without reloading."""
        from iva0.backends import create_backend

        if name == "composite":
            return create_backend("composite")
        with self._backend_lock:
            be = self._backends.get(name)
            if be is None:
                be = create_backend(name, model=self.config.model, **self.config.backend_options)
                self._backends[name] = be
        if getattr(be, "settings", None) is not None and (steps is not None or guidance is not None):
            new = dataclasses.replace(
                be.settings,
                steps=be.settings.steps if steps is None else editor.as_int(steps, be.settings.steps),
                guidance=be.settings.guidance if guidance is None else float(guidance),
            )
            if not 1 <= new.steps <= 1000 or not 0.0 <= new.guidance <= 50.0:
                raise UserError(f"steps must be 1..1000 and guidance 0..50, got {new.steps} and {new.guidance}")
            be.settings = new  # safe: generation runs one at a time (concurrency_limit=1)
        return be

    def _run_dir(self) -> Path:
        # one folder per run: concurrent sessions never share a file name
        self._prune()
        d = self.work_dir / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        d.mkdir(parents=True, exist_ok=True)
        return d


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:  # pruned meanwhile by another thread
        return 0.0


def _slug(name: str) -> str:
    s = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)[:40]
    return s or "picture"


def _index(value: Any) -> int | None:
    """The object dropdown's value (an index) as int, or None."""
    if value is None or value == "":
        return None
    return editor.as_int(value, 0)


def _choices(draft: Draft, current: int | None) -> dict:
    return gr.update(choices=editor.object_choices(draft), value=current)
