"""The one canvas and the lines around it: what the page shows of a draft.

The annotator's value is the picture with every object's path, keys and box
drawn in (the selected object bold, the others dimmed) and the selected
object's box at this frame as the one editable box. `shown` records what the
canvas shows, so a drawn box always lands on the object and frame the user saw
while drawing it, whatever the browser's sliders say by then. Each showing has a
picture file of its own, named in `shown["canvas"]`: the annotator sends that
name back with its boxes, and `canvas_of` reads it, so an event from a canvas the
page has since replaced (a late echo after Add, a drag during a refresh) is
recognised as stale instead of being saved to whatever is selected now.

With a camera the canvas is the picture on a hatched band (band.py) where its windows may reach past the
picture; `shown["band"]` records the band of the showing, which maps the annotator's pixels back to the
layout's normalised picture coordinates (`geometry`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from iva0.errors import UserError
from iva0.layout import Layout
from iva0.ui import editor
from iva0.ui.band import Geometry, band_for
from iva0.ui.editor import Draft, Settings
from iva0.ui.files import WorkDir, portable
from iva0.ui.messages import md_text, page_message
from iva0.ui.pictures import Picture
from iva0.ui.render import draw_draft, entry_colour


def annotator_value(
    work: WorkDir, pic: Picture | None, draft: Draft, current: int | None, frame: int, settings: Settings
) -> tuple[dict | None, dict | None]:
    """(the annotator's value, what it shows: {"object", "frame", "box", "canvas", "band"})."""
    if pic is None:
        return None, None
    frame = int(np.clip(frame, 0, settings.num_frames - 1))
    if current is not None and not 0 <= current < len(draft):
        current = None
    geo = canvas_geometry(pic, draft)
    ox, oy = geo.offset
    bg = draw_draft(geo.canvas(pic.view), draft, frame, settings.num_frames, settings.interpolation, selected=current,
                    skip=current, area=(ox, oy, geo.width, geo.height))
    box = None
    boxes = []
    if current is not None:
        obj = draft[current]
        box = editor.box_at(obj, frame, settings.num_frames, settings.interpolation)
        if box is not None:
            px = geo.box_to_pixels(box, clip_to_picture=not obj.camera)
            boxes.append({**px, "label": obj.name, "color": entry_colour(obj, current)})
    image = work.canvas_file(bg)
    shown = {"object": current, "frame": frame, "box": box, "canvas": canvas_of({"image": image}), "band": geo.band}
    return {"image": image, "boxes": boxes}, shown


def canvas_geometry(pic: Picture, draft: Draft) -> Geometry:
    """The canvas for `draft`: the picture, on a band as wide as its camera's key windows need (band_for)."""
    cam = editor.camera_index(draft)
    windows = list(draft[cam].keys.values()) if cam is not None else []
    return Geometry(*pic.size, band=band_for(windows, cam is not None))


def geometry(pic: Picture, shown: dict) -> Geometry:
    """The canvas of a showing (what its annotator pixels mean)."""
    return Geometry(*pic.size, band=float(shown.get("band") or 0.0))


def canvas_of(value: dict | None) -> str | None:
    """Which showing an annotator value was drawn on: its picture's file stem ("canvas-<token>"), which
    survives Gradio's cache copies (the annotator hands back the file under its own name)."""
    image = (value or {}).get("image")
    if not isinstance(image, (str, Path)) or not str(image):
        return None
    return Path(str(image)).stem


def checked_layout(draft: Draft, settings: Settings, max_frames: int) -> Layout:
    """The draft as a layout, with the CLI's checks and the page's frame limit."""
    check_frames(settings.num_frames, max_frames)
    return editor.build_layout(draft, settings)


def check_frames(num_frames: int, max_frames: int) -> None:
    if num_frames > max_frames:
        raise UserError(
            f"num_frames: {num_frames} is more than this page allows ({max_frames}); use `iva0 animate` for longer videos"
        )


def status(
    work: WorkDir, pic: Picture | None, draft: Draft, current: int | None, frame: int, settings: Settings, max_frames: int
) -> tuple[str, str, str | None]:
    """(status line, layout JSON text, layout file or None). The line says the frame, the selected
    object's keys, and whether the layout is ready (or, in the CLI's words, why not)."""
    frame = int(np.clip(frame, 0, settings.num_frames - 1))
    head = f"Frame {frame}/{settings.num_frames - 1}. {editor.describe_keys(draft, current)}"
    try:
        layout = checked_layout(draft, settings, max_frames)
    except UserError as e:
        return f"{head} **Not ready:** {md_text(page_message(str(e)))}", _json(editor.draft_to_dict(draft, settings)), None
    n = len(layout.objects)
    line = f"{head} **Ready:** {n} object{'s' * (n != 1)}, {layout.num_frames} frames at {layout.fps} fps."
    if layout.camera is not None:
        line += f" Camera: windows at frame(s) {', '.join(str(k.frame) for k in layout.camera.keyframes)}."
    if pic is None:
        line += " Upload a picture or pick a sample to animate it."
    return line, _json(layout.to_dict()), work.layout_file(layout)


def _json(data: dict) -> str:
    """The layout as the download has it: masks named masks/<n>-<object>.png, never by a server path."""
    return json.dumps(portable(data)[0], indent=2)
