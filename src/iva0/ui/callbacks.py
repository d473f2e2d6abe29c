"""What the page's events do: plain methods over plain values, so tests call them directly.

Loading (sample, picture, layout file), editing the draft (objects, key boxes,
frames) and the output events. The pieces they use each have their own module:
`pictures` (reading), `canvas` (what the page shows), `generate` (runs),
`files` (the work folder), `backend_choice` (the backends offered). The app
wraps every method in `messages.guarded`: a mistake is a warning toast and
changes nothing on the page.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import gradio as gr

from iva0.errors import UserError
from iva0.layout import Layout, parse_layout, parse_layout_json
from iva0.ui import canvas, editor, masks
from iva0.ui.backend_choice import find_choice
from iva0.ui.config import UiConfig
from iva0.ui.cutout import CutoutView, click_point
from iva0.ui.editor import Draft, Settings
from iva0.ui.files import WorkDir
from iva0.ui.generate import Generator
from iva0.ui.messages import info, warn
from iva0.ui.pictures import Picture, load_picture

# The outputs of `show`, in order (the app wires the same components): the canvas, what it
# shows, the annotator tool to select, the objects list, the status line, the layout JSON
# text and its download.
SHOW_OUTPUTS = ("annotator", "shown", "tool", "objects", "status", "json", "layout_file")
# The outputs of a load (sample, picture, layout file): the state, the settings, the cleared result, then `show`.
LOAD_OUTPUTS = (
    "pic", "draft", "source", "sample", "frame", "frames", "fps", "prompt", "negative", "interpolation",
    "result", "result_video", "gen_status", "download_mp4", "download_overlay", *SHOW_OUTPUTS,
)  # fmt: skip
NO_RESULT = (None, None, "", None, None)  # result state, result video, status, MP4 and overlay downloads
# The cut-out view's outputs (`cutout`): its picture, the line above it, and the tag naming what it shows.
CUTOUT_OUTPUTS = ("cutout", "cutout_note", "cutout_tag")
# The outputs of a click on the cut-out view and of Clear points: the draft, the objects list, the status
# line, the layout JSON and its download, then the cut-out view. The canvas stays as it is (points are not
# drawn on it, and its box did not change), so no drag on it is made stale by a click.
POINT_OUTPUTS = ("draft", "objects", "status", "json", "layout_file", *CUTOUT_OUTPUTS)

DOWNLOAD_WHY = {
    "mp4": "nothing to download yet: press Generate first, the MP4 appears here when it is done",
    "overlay": "nothing to download yet: press Generate first, the video with its boxes appears here when it is done",
    "layout": "the layout is not ready yet; the status line under the picture says what is missing",
}


class Callbacks:
    def __init__(self, config: UiConfig, work_dir: str | os.PathLike) -> None:
        self.config = config
        self.work = WorkDir(work_dir)
        self.gen = Generator(config, self.work)
        self.cutouts = CutoutView(self.work, config.backend_options, config.preview_side,
                                  segmenter_source=lambda: self.gen.pool.composite().segmenter)

    # ------------------------------------------------------------------
    # helpers
    # ------------------------------------------------------------------
    def settings(self, frames: Any, fps: Any, prompt: Any, negative: Any, interpolation: Any) -> Settings:
        return Settings(
            num_frames=int(min(max(editor.as_int(frames, 16), 2), self.config.max_frames)),
            fps=int(min(max(editor.as_int(fps, 8), 1), 60)),
            prompt=prompt or "",
            negative_prompt=negative or "",
            interpolation=interpolation if interpolation in ("linear", "smooth") else "linear",
        )

    def load_picture(self, path: str | os.PathLike, name: str | None = None) -> Picture:
        c = self.config
        return load_picture(
            path, max_mb=c.max_upload_mb, max_side=c.max_image_side, view_side=c.view_side,
            min_view_side=c.min_view_side, name=name,
        )  # fmt: skip

    def parse_layout_file(self, path: str | os.PathLike, pic: Picture | None = None) -> Layout:
        """An uploaded layout: layout.json, or the .zip the page downloads (layout.json + masks/)."""
        p = Path(path)
        if p.suffix.lower() == ".zip":
            return self._parse_layout_zip(p, pic)
        size = p.stat().st_size
        if size > self.config.max_layout_bytes:
            raise UserError(f"layout file {p.name} is too large: {size} bytes (at most {self.config.max_layout_bytes})")
        try:
            text = p.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise UserError(f"layout file {p.name}: not UTF-8 text (a layout is a JSON file)") from None
        if masks.json_has_masks(text):  # its mask files did not come with it (and a page never reads server paths)
            raise UserError(f"layout file {p.name} names object masks, which a .json alone does not bring: upload "
                            f"the .zip the page's Layout download gives (layout.json and masks/), or upload each "
                            f"mask with Upload mask")
        layout = parse_layout_json(text, source=p.name)
        self._check_limits(layout)
        return layout

    def _parse_layout_zip(self, p: Path, pic: Picture | None) -> Layout:
        """The .zip the page downloads (layout.json + masks/). Refused, it leaves nothing behind: the masks it had
        copied into the work folder go again (those a draft already uses were not written now, and stay)."""
        written: list[Path] = []
        try:
            limit = 4 * self.config.max_upload_mb * 2**20
            data = masks.read_layout_zip(p, self.work, pic, max_json_bytes=self.config.max_layout_bytes,
                                         max_total_bytes=limit, max_objects=editor.MAX_OBJECTS,
                                         written=written)  # counted first
            layout = parse_layout(data)  # mask paths: the work folder's copies, absolute
            self._check_limits(layout)
        except UserError:
            for f in written:
                f.unlink(missing_ok=True)
            raise
        return layout

    def _check_limits(self, layout: Layout) -> None:
        """The page's own limits on an uploaded layout (frames, objects), past the CLI's checks."""
        canvas.check_frames(layout.num_frames, self.config.max_frames)
        if len(layout.objects) > editor.MAX_OBJECTS:
            raise UserError(f"objects: {len(layout.objects)} objects; this page handles at most {editor.MAX_OBJECTS}")

    def show(self, pic: Picture | None, draft: Draft, current: int | None, frame: int, settings: Settings) -> tuple:
        """Everything the page shows about the draft, in SHOW_OUTPUTS order.

        `tool` is the annotator's tool to select: "create" when the object has no box
        to show (a drag draws one), else "drag" (a drag moves the shown box, the
        natural way to set the next key frame); then "|" and the canvas's width/height, and
        "|" and the showing's canvas name (`shown["canvas"]`). With the camera entry selected:
        "|camera|" and its window's box in canvas px ("xmin,ymin,xmax,ymax", empty without one), then "|"
        and the canvas's size in px ("w,h"): the page holds the window's shape while it is dragged by these
        (window_lock.py).
        """
        if current is not None and not 0 <= current < len(draft):
            current = None
        annot, shown = canvas.annotator_value(self.work, pic, draft, current, frame, settings)
        tool = "drag" if shown is not None and shown["box"] is not None else "create"
        if pic is not None:
            cw, ch = canvas.geometry(pic, shown).size
            tool += f"|{cw / ch:.4f}"  # the canvas is sized to the window by this (app.SELECT_TOOL)
            tool += f"|{shown['canvas']}"  # which showing the canvas is (window.iva0Canvas: the browser test waits on it)
            if current is not None and draft[current].camera:  # window_lock.py holds this box's shape while dragged
                b = annot["boxes"][0] if annot["boxes"] else None
                tool += "|camera|" + (f"{b['xmin']},{b['ymin']},{b['xmax']},{b['ymax']}" if b else "") + f"|{cw},{ch}"
        objects = gr.update(choices=editor.object_choices(draft), value=current)
        return (annot, shown, tool, objects, *self.refresh(pic, draft, current, frame, settings))

    def refresh(self, pic, draft: Draft, current, frame: int, settings: Settings) -> tuple:
        """(status line, layout JSON, layout file or None): the part of `show` that text edits change."""
        return canvas.status(self.work, pic, draft, current, frame, settings, self.config.max_frames)

    # ------------------------------------------------------------------
    # loading: each starts a clean page state (LOAD_OUTPUTS)
    # ------------------------------------------------------------------
    def on_sample(self, name: str | None) -> tuple:
        from iva0.layout import load_layout
        from iva0.samples import get_sample

        if not name:
            raise UserError("pick a sample from the list")
        s = get_sample(name)
        pic = self.load_picture(s.image, name=s.name)
        draft, settings = editor.draft_from_layout(load_layout(s.layout))
        return self._loaded(pic, draft, settings, source="sample", sample=gr.skip())

    def on_upload_layout(self, path: str | None, pic: Picture | None) -> tuple:
        """The uploaded layout replaces the draft and the settings; the picture stays."""
        if not path:
            raise UserError("no layout file received")
        layout = self.parse_layout_file(path, pic)
        cam = layout.camera
        if cam is not None and (cam.parallax or cam.depth is not None):  # the draft has no place for them
            warn("camera: the page keeps its windows only, not its parallax or depth map; for those use "
                 "iva0 animate on the layout file (--parallax S)")
        draft, settings = editor.draft_from_layout(layout)
        return self._loaded(pic, draft, settings, source="layout", sample=gr.skip())

    def on_upload_picture(self, path: str | None, draft: Draft, source: str | None, *settings_args) -> tuple:
        """A new picture starts a clean layout: no objects, no prompt, no result. Only an uploaded
        layout file stays (the user brought it for their own picture)."""
        if not path:
            raise UserError("no picture received")
        pic = self.load_picture(path)
        if min(pic.view.shape[:2]) < 2 * editor.MIN_BOX_PX:  # every box drawn on it would be under MIN_BOX_PX
            h, w = pic.full.shape[:2]
            warn(f"the picture is {w}×{h} px: too thin to draw a box on here; upload a layout file for it "
                 "(Upload layout), or a larger picture")
        if source == "layout":
            return self._loaded(pic, draft, self.settings(*settings_args), source="layout", sample=None, keep_settings=True)
        return self._loaded(pic, (), Settings(), source=None, sample=None)

    def _loaded(
        self, pic, draft: Draft, settings: Settings, *, source, sample, keep_settings: bool = False
    ) -> tuple:
        canvas.check_frames(settings.num_frames, self.config.max_frames)
        current = 0 if draft else None
        fields = (
            (gr.skip(),) * 5 if keep_settings
            else (settings.num_frames, settings.fps, settings.prompt, settings.negative_prompt, settings.interpolation)
        )  # fmt: skip
        return (
            pic, draft, source, sample, gr.update(value=0, maximum=settings.num_frames - 1), *fields,
            *NO_RESULT, *self.show(pic, draft, current, 0, settings),
        )  # fmt: skip

    # ------------------------------------------------------------------
    # editing
    # ------------------------------------------------------------------
    def on_add_object(self, name: str, pic, draft: Draft, *settings_args) -> tuple:
        """(draft, source, name box, frame, *show): the new object is selected at frame 0, ready to draw."""
        draft = editor.add_object(draft, name)
        current = len(editor.objects_of(draft)) - 1  # the last object (the camera entry, if any, stays last)
        return (draft, "drawn", "", 0, *self.show(pic, draft, current, 0, self.settings(*settings_args)))

    def window_aspect(self, pic: Picture, backend: str | None, side: Any) -> float:
        """The shape a camera window must have: the video's width/height for `backend` at `side`, in units of
        the picture's own (1.0: the picture's shape, as the composite makes it; ttm's model sizes may differ)."""
        ph, pw = pic.full.shape[:2]
        try:
            if backend and self.gen.makes_model_size(backend):
                w, h, _ = self.gen.model_video_size(self.gen.pool.get(backend), pic)
            else:
                w, h = self.gen.video_size(pic, side)
        except UserError:  # a size the model cannot make: the size line says so; the picture's shape meanwhile
            return 1.0
        return (w / h) / (pw / ph)

    def on_window_shape(self, pic: Picture | None, backend: str | None = None, side: Any = None) -> str:
        """The shape a camera window has on the canvas (width / height in the picture's pixels, as
        `window_aspect` asks), for the page to hold it while a window is dragged (window_lock.py); "" without a
        picture."""
        if pic is None:
            return ""
        w, h = pic.size
        return f"{self.window_aspect(pic, backend, side) * w / h:.6f}"

    def on_add_camera(self, pic, draft: Draft, frames, fps, prompt, negative, interpolation, backend=None,
                      side=None) -> tuple:
        """(draft, source, name box, frame, *show): the camera entry, selected at frame 0 with the whole picture
        (or the largest window of the video's shape in it) as its window; move the timeline and drag the window
        to where the view should be then."""
        settings_args = (frames, fps, prompt, negative, interpolation)
        if pic is None:
            raise UserError("upload a picture or pick a sample first, then add a camera to move the view over it")
        draft, current = editor.add_camera(draft, editor.fit_window((0.0, 0.0, 1.0, 1.0), self.window_aspect(pic, backend, side)))
        return (draft, "drawn", gr.skip(), 0, *self.show(pic, draft, current, 0, self.settings(*settings_args)))

    def on_rename_object(self, name: str, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """(draft, name box, *show)."""
        current = _index(current)
        draft = editor.rename_object(draft, current, name)
        return (draft, "", *self.show(pic, draft, current, editor.as_int(frame), self.settings(*settings_args)))

    def on_remove_object(self, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """(draft, *show)."""
        draft = editor.remove_object(draft, _index(current))
        current = 0 if draft else None
        return (draft, *self.show(pic, draft, current, editor.as_int(frame), self.settings(*settings_args)))

    def on_upload_mask(self, path: str | None, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """The selected object's own mask (white = object), checked against the picture: (draft, *show).
        A file that is not an image, an empty mask or another aspect ratio changes nothing (a warning)."""
        current = _index(current)
        if pic is None:
            raise UserError("upload a picture or pick a sample first, then the mask of an object in it")
        if current is None or not 0 <= current < len(draft):
            raise UserError("no object selected: add an object (or pick one), then upload its mask")
        if not path:
            raise UserError("no mask received")
        mask = masks.mask_from_upload(self.work, path, pic, draft[current].name)
        draft = editor.set_mask(draft, current, mask)
        return (draft, *self.show(pic, draft, current, editor.as_int(frame), self.settings(*settings_args)))

    def on_remove_mask(self, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """The selected object goes back to being cut out by the backend: (draft, *show)."""
        current = _index(current)
        if current is None or not 0 <= current < len(draft):
            raise UserError("no object selected: pick the object whose mask to remove")
        if not draft[current].mask:
            raise UserError(f'"{draft[current].name}" has no mask of its own')
        draft = editor.set_mask(draft, current, None)
        return (draft, *self.show(pic, draft, current, editor.as_int(frame), self.settings(*settings_args)))

    def on_select(self, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """Another object picked or the timeline moved: (*show)."""
        return self.show(pic, draft, _index(current), editor.as_int(frame), self.settings(*settings_args))

    def on_settings(self, pic, draft: Draft, current, frame, frames, *settings_args) -> tuple:
        """Frames or interpolation changed: (draft, frames, timeline, *show).

        Frames are clamped to what the page allows and written back, so the box, the
        timeline's end and the layout always agree. Keys past a new last frame are
        moved or dropped (`editor.fit_frames`), and the page says which.
        """
        asked = editor.as_int(frames, 16)
        settings = self.settings(frames, *settings_args)
        if asked != settings.num_frames:
            warn(f"frames: {asked} is outside 2..{self.config.max_frames}; using {settings.num_frames}")
        draft, notes = editor.fit_frames(draft, settings.num_frames)
        if notes:
            info(f"{settings.num_frames} frames: " + "; ".join(notes) + ".")
        frame = min(max(editor.as_int(frame), 0), settings.num_frames - 1)
        return (
            draft, settings.num_frames, gr.update(maximum=settings.num_frames - 1, value=frame),
            *self.show(pic, draft, _index(current), frame, settings),
        )  # fmt: skip

    def on_text(self, pic, draft: Draft, current, frame, *settings_args) -> tuple:
        """Prompt or fps changed: (status, json, layout file); the canvas stays as it is."""
        return self.refresh(pic, draft, _index(current), editor.as_int(frame), self.settings(*settings_args))

    def on_boxes(self, value: dict | None, pic: Picture | None, draft: Draft, shown: dict | None, frames, fps, prompt,
                 negative, interpolation, backend=None, side=None) -> tuple:
        """The user drew, moved or removed the box: (draft, *show), or skip. A camera window snaps to the shape
        of the video `backend` makes at `side` (`window_aspect`).

        The annotator also reports the boxes the page itself just showed; those
        (equal to `shown` up to pixel rounding) change nothing, so moving the
        timeline never creates a key by itself. A value drawn on another canvas
        than the one `shown` names (an event that arrives after Add, a new frame or
        object replaced the canvas) is stale and changes nothing: its boxes belong
        to a showing that is gone, never to what is selected now.
        """
        settings_args = (frames, fps, prompt, negative, interpolation)
        if pic is None or value is None or shown is None:
            return gr.skip()
        if canvas.canvas_of(value) != shown.get("canvas"):
            return gr.skip()
        settings = self.settings(*settings_args)
        current, frame = shown["object"], shown["frame"]
        boxes = value.get("boxes") or []
        if value.get("orientation"):  # the annotator's rotate buttons are hidden; a rotated canvas is not ours
            warn("the picture cannot be rotated here; rotate the file itself and upload it again")
            return (draft, *self.show(pic, draft, current, frame, settings))
        if current is None or not 0 <= current < len(draft) or frame >= settings.num_frames:
            if not boxes:
                return gr.skip()
            warn("add an object first (type its name, press Add), then draw its box")
            return (draft, *self.show(pic, draft, None, frame, settings))  # the stray box goes
        if not boxes:
            if frame not in draft[current].keys:
                return gr.skip()
            draft = editor.remove_key(draft, current, frame)  # the user removed this frame's key box
        else:
            b = boxes[-1]  # single_box: the one box
            if min(abs(b["xmax"] - b["xmin"]), abs(b["ymax"] - b["ymin"])) < editor.MIN_BOX_PX:
                # a box still being drawn (the annotator reports the mouse-down as a 0-px box): wait for the real one
                return gr.skip()
            geo = canvas.geometry(pic, shown)
            camera = draft[current].camera
            box = geo.box_from_pixels(b)
            if geo.same_box(box, shown["box"], editor.MOVE_TOLERANCE_PX, clip_to_picture=not camera):
                return gr.skip()
            if camera:  # a window has the video's shape (the page holds it while dragging; this snaps what is left)
                box = editor.fit_window(box, self.window_aspect(pic, backend, side), prev=shown["box"], reach=geo.band)
            else:  # drawn into the band around the picture: the part on the picture
                box = editor.fit_box(box)
                if box is None:
                    warn("draw the object's box on the picture itself (the hatched band is outside it)")
                    return (draft, *self.show(pic, draft, current, frame, settings))
            draft = editor.set_key(draft, current, frame, box)
        return (draft, *self.show(pic, draft, current, frame, settings))

    # ------------------------------------------------------------------
    # the cut-out view and its clicks (points)
    # ------------------------------------------------------------------
    def on_cutout(self, pic: Picture | None, draft: Draft, current, seed=0, shown: bool = True) -> Any:
        """The selected object's cut-out view (CUTOUT_OUTPUTS), after any event that may have changed it;
        nothing while the view is folded away (`shown` False: no segmenter runs for a view nobody sees)."""
        if not shown:
            return gr.skip()
        return self.cutouts.view(pic, draft, _index(current), _seed(seed))

    def on_cutout_open(self, pic: Picture | None, draft: Draft, current, seed=0) -> tuple:
        """The Cut-out accordion opened: (shown, *CUTOUT_OUTPUTS)."""
        return (True, *self.on_cutout(pic, draft, current, seed))

    def on_cutout_closed(self) -> bool:
        return False

    def on_cutout_click(
        self, evt: gr.SelectData, tag: str | None, pic: Picture | None, draft: Draft, current, frame, mark, seed,
        frames, fps, prompt, negative, interpolation,
    ) -> tuple:  # fmt: skip
        """A click on the cut-out view adds a point to the object it shows (POINT_OUTPUTS): label `mark`
        (1 = object, 0 = not object). A click made on a view of another object or picture than the one
        selected now (it arrived after the page moved on) is refused, as is an object click outside the box.

        `evt` comes first and is annotated with the class itself: Gradio hands an event's data only to a
        positional parameter whose annotation is an EventData class (not Optional, not after *args)."""
        settings_args = (frames, fps, prompt, negative, interpolation)
        current = _index(current)
        if pic is None:
            raise UserError("upload a picture or pick a sample first")
        if current is None or not 0 <= current < len(draft):
            raise UserError("no object selected: pick the object whose cut-out to fix")
        if (tag or "") != self.cutouts.tag(pic, draft, current):
            raise UserError("that click was on the cut-out of another object (the view changed meanwhile); "
                            "click again on the one shown now")
        x, y = click_point(pic, getattr(evt, "index", None))
        draft = editor.add_point(draft, current, x, y, 1 if editor.as_int(mark, 1) == 1 else 0)
        return self._points_changed(pic, draft, current, frame, seed, settings_args)

    def on_clear_points(self, pic: Picture | None, draft: Draft, current, frame, seed, *settings_args) -> tuple:
        """The selected object loses its points (POINT_OUTPUTS)."""
        current = _index(current)
        draft = editor.clear_points(draft, current)
        return self._points_changed(pic, draft, current, frame, seed, settings_args)

    def _points_changed(self, pic, draft: Draft, current: int, frame, seed, settings_args) -> tuple:
        settings = self.settings(*settings_args)
        objects = gr.update(choices=editor.object_choices(draft), value=current)
        return (
            draft, objects, *self.refresh(pic, draft, current, editor.as_int(frame), settings),
            *self.cutouts.view(pic, draft, current, _seed(seed)),
        )  # fmt: skip

    # ------------------------------------------------------------------
    # output
    # ------------------------------------------------------------------
    def on_backend(self, name: str) -> tuple:
        """Another backend chosen: (note, steps, guidance, size slider).

        The note says what it does and needs; the advanced settings show the chosen
        backend's own steps and guidance (a page default never overrides them); the
        size slider is off for a backend that makes its model's own size (ttm).
        """
        choice = find_choice(self.gen.pool.choices, name)
        if choice is None:
            raise UserError(f"backend {name!r} is not available here")
        keep = gr.skip()
        return (
            choice.note,
            keep if choice.steps is None else choice.steps,
            keep if choice.guidance is None else choice.guidance,
            gr.update(interactive=not self.gen.makes_model_size(name)),
        )

    def on_video_note(self, pic, side, frames, fps, backend: str | None = None) -> str:
        return self.gen.video_note(pic, side, frames, fps, backend)

    def on_video_size(self, pic, side, frames, fps, backend: str | None = None) -> tuple[str, str]:
        """(the size line, a camera window's shape on the canvas: `on_window_shape`), one event for the page."""
        return self.on_video_note(pic, side, frames, fps, backend), self.on_window_shape(pic, backend, side)

    def on_preview(self, pic: Picture | None, draft: Draft, *settings_args) -> tuple:
        """(result video, status): the boxes over the still picture, before generating."""
        if pic is None:
            raise UserError("upload a picture or pick a sample first")
        layout = canvas.checked_layout(draft, self.settings(*settings_args), self.config.max_frames)
        return self.gen.preview(pic, layout), "Box preview over the still picture (not generated). Press **Generate** for the video."

    def on_generate(
        self, pic: Picture | None, draft: Draft, frames, fps, prompt, negative, interpolation,
        backend: str, seed, side, steps=None, guidance=None, overlay: bool = False, progress=gr.Progress(),
    ) -> tuple:  # fmt: skip
        """(result, result video, status, MP4 download, overlay download)."""
        if pic is None:
            raise UserError("upload a picture or pick a sample first")
        layout = canvas.checked_layout(draft, self.settings(frames, fps, prompt, negative, interpolation), self.config.max_frames)
        progress(0, desc="starting")
        run = self.gen.run(
            pic, layout, backend, seed, side, steps, guidance, report=lambda d, t, s: progress((d, t), desc=s)
        )  # fmt: skip
        result = {"video": run.video, "overlay": run.overlay}
        return result, result["overlay" if overlay else "video"], run.status, run.video, run.overlay

    def on_overlay(self, overlay: bool, result: dict | None) -> Any:
        """The boxes-overlay toggle: which of the run's two videos plays."""
        if not result:
            return gr.skip()
        return result["overlay" if overlay else "video"]

    # a download button pressed before there is a file: say why instead of nothing (the button stays as it is)
    def on_download_mp4(self, file: Any) -> Any:
        return _why(file, "mp4")

    def on_download_overlay(self, file: Any) -> Any:
        return _why(file, "overlay")

    def on_download_layout(self, file: Any) -> Any:
        return _why(file, "layout")


def _why(file: Any, what: str) -> Any:
    if not file:
        raise UserError(DOWNLOAD_WHY[what])
    return gr.skip()


def _seed(value: Any) -> int:
    """The page's seed as the cut-out takes it (a bad one is the run's to refuse; the view uses 0 then)."""
    seed = editor.as_int(value, 0)
    return seed if 0 <= seed < 2**32 else 0


def _index(value: Any) -> int | None:
    """The objects list's value (an index) as int, or None."""
    if value is None or value == "":
        return None
    return editor.as_int(value, 0)
