"""The page's layout draft: objects and their key boxes as the user draws them.

Pure functions over plain values, so the callbacks stay thin and testable. A
draft may be incomplete while the user works (an object without its frame-0 box
yet); `build_layout` turns it into a real `Layout` with exactly the checks the
CLI applies (`parse_layout`), so a layout made here is a layout `iva0 animate
--layout` reads, and the other way round.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from iva0.errors import UserError
from iva0.layout import MAX_POINTS, Box, Keyframe, Layout, Point, interpolate_keyframes, parse_layout
from iva0.ui.messages import md_text

MAX_OBJECTS = 8
MAX_NAME = 80
# A drawn box counts as moved only if a corner moved by more than this (display px):
# the annotator rounds boxes to whole pixels, so showing a box and reading it back
# must not create a key.
MOVE_TOLERANCE_PX = 1.5
# Boxes smaller than this (display px) are not boxes yet: the annotator reports a mouse-down as a 0-px box.
MIN_BOX_PX = 4


@dataclass(frozen=True)
class DraftObject:
    name: str
    keys: dict[int, Box] = field(default_factory=dict)  # frame -> normalised xyxy
    mask: str | None = None  # the object's own mask (white = object): a PNG in the page's work folder (files.WorkDir)
    # the layout's clicks at frame 0 ([x, y, label], normalised; label 1 = object, 0 = not) that guide the
    # cut-out: placed by clicking the cut-out view (add_point), or brought by a loaded layout
    points: tuple[Point, ...] = ()
    # the camera entry (at most one, always last in the draft): its keys are the layout's camera windows, the part
    # of the picture each frame shows (normalised picture xyxy, the output's aspect ratio), not an object's box
    camera: bool = False

    def key_frames(self) -> list[int]:
        return sorted(self.keys)


@dataclass(frozen=True)
class Settings:
    """The layout's top-level fields, as set in the page."""

    num_frames: int = 16
    fps: int = 8
    prompt: str = ""
    negative_prompt: str = ""
    interpolation: str = "linear"


Draft = tuple[DraftObject, ...]


CAMERA_NAME = "camera"
CAMERA_LABEL = "camera window"  # its entry in the objects list (the page's CSS gives it its own colour by this)


# ---------------------------------------------------------------------------
# the camera entry
# ---------------------------------------------------------------------------
def objects_of(draft: Draft) -> Draft:
    """The draft's objects, without the camera entry."""
    return tuple(o for o in draft if not o.camera)


def camera_index(draft: Draft) -> int | None:
    """Where the camera entry is (always last), or None without one."""
    return len(draft) - 1 if draft and draft[-1].camera else None


def add_camera(draft: Draft, window: Box = (0.0, 0.0, 1.0, 1.0)) -> tuple[Draft, int]:
    """The draft with a camera entry whose frame-0 window is `window` (default the whole picture), and its index."""
    if camera_index(draft) is not None:
        raise UserError("there is a camera already: pick it in the list to move its window")
    return draft + (DraftObject(name=CAMERA_NAME, keys={0: tuple(float(v) for v in window)}, camera=True),), len(draft)


def fit_window(box: Box, aspect: float, prev: Box | None = None, reach: float = 0.0) -> Box:
    """`box` (normalised picture xyxy) as a camera window of pixel aspect ratio `aspect` (width / height, in
    units of the picture's own aspect: 1.0 when the video has the picture's shape), about the same centre.

    The side the user changed most (against `prev`) is kept and the other follows; the window then shrinks
    about its centre until it fits the picture grown by `reach` per side (the page's band around the picture,
    band.py; 0: the picture itself), and moves until it shows part of the picture (a tenth of its side at
    least), as a layout's window must."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    keep_height = prev is not None and abs(h - (prev[3] - prev[1])) > abs(w - (prev[2] - prev[0]))
    if keep_height:
        w = h * aspect
    else:
        h = w / aspect
    span = 1.0 + 2 * reach
    k = min(1.0, span / w, span / h)
    w, h = w * k, h * k
    lo, hi = -reach, 1.0 + reach
    cx = min(max(cx, lo + w / 2, -0.4 * w), hi - w / 2, 1 + 0.4 * w)
    cy = min(max(cy, lo + h / 2, -0.4 * h), hi - h / 2, 1 + 0.4 * h)
    return (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)


def fit_box(box: Box) -> Box | None:
    """An object's drawn box clipped to the picture (the page shows a band around it when there is a camera;
    an object's box lies on the picture, as the layout's rules say), or None when nothing of it is left."""
    x0, y0, x1, y1 = (min(max(float(v), 0.0), 1.0) for v in box)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _check_object(draft: Draft, index: int | None, what: str) -> DraftObject:
    """The object at `index`, refusing the camera entry for what only objects have."""
    _check_index(draft, index)
    if draft[index].camera:
        raise UserError(f"the camera is a view window: {what}")
    return draft[index]


# ---------------------------------------------------------------------------
# editing
# ---------------------------------------------------------------------------
def add_object(draft: Draft, name: str | None) -> Draft:
    """A new object, after the other objects (before the camera entry, which stays last)."""
    name = _check_name(name)
    objects = objects_of(draft)
    if any(o.name == name for o in objects):
        raise UserError(f"object name: there is already an object called {name!r}")
    if len(objects) >= MAX_OBJECTS:
        raise UserError(f"objects: this page handles at most {MAX_OBJECTS} objects")
    return objects + (DraftObject(name=name),) + draft[len(objects) :]


def remove_object(draft: Draft, index: int | None) -> Draft:
    _check_index(draft, index)
    return draft[:index] + draft[index + 1 :]


def rename_object(draft: Draft, index: int | None, name: str | None) -> Draft:
    _check_object(draft, index, "it keeps its name")
    name = _check_name(name)
    if any(o.name == name for i, o in enumerate(draft) if i != index):
        raise UserError(f"object name: there is already an object called {name!r}")
    return draft[:index] + (replace(draft[index], name=name),) + draft[index + 1 :]


def _check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not name:
        raise UserError("object name: type the object's name (its phrase, e.g. 'red car') first")
    if len(name) > MAX_NAME:
        raise UserError(f"object name: at most {MAX_NAME} characters")
    return name


def fit_frames(draft: Draft, num_frames: int) -> tuple[Draft, list[str]]:
    """The draft for a video of `num_frames` frames, and what changed (one line per object).

    Keys past the new last frame are dropped, except that the object's last key
    moves to the new last frame when it has no key there: the object still ends
    where it was drawn to end, only sooner.
    """
    last = int(num_frames) - 1
    out, notes = [], []
    for o in draft:
        late = sorted(f for f in o.keys if f > last)
        if not late:
            out.append(o)
            continue
        keys = {f: b for f, b in o.keys.items() if f <= last}
        if last not in keys and last > 0:
            keys[last] = o.keys[late[-1]]
            notes.append(f"{o.name}: key frame {late[-1]} moved to {last}" + (f", {', '.join(map(str, late[:-1]))} dropped" if late[:-1] else ""))
        else:
            notes.append(f"{o.name}: key frame(s) {', '.join(map(str, late))} dropped")
        out.append(replace(o, keys=keys))
    return tuple(out), notes


def set_mask(draft: Draft, index: int | None, mask: str | None) -> Draft:
    """The object's own mask file (None: none; the backend cuts the object out itself)."""
    _check_object(draft, index, "it has no mask (pick an object in the list)")
    return draft[:index] + (replace(draft[index], mask=mask),) + draft[index + 1 :]


def add_point(draft: Draft, index: int | None, x: float, y: float, label: int) -> Draft:
    """The object with one more click at frame 0 (x, y normalised, label 1 = object, 0 = not), with the
    layout's rules: on the picture, an object click inside the frame-0 box, at most MAX_POINTS."""
    _check_object(draft, index, "nothing is cut out of it (pick an object in the list)")
    obj = draft[index]
    if 0 not in obj.keys:
        raise UserError(f'"{obj.name}": draw its box at frame 0 first; clicks guide the cut-out of that box')
    if obj.mask:
        raise UserError(f'"{obj.name}" has its own mask, which is its cut-out as it is: Remove mask first to guide '
                        f"the automatic cut-out with clicks")
    if len(obj.points) >= MAX_POINTS:
        raise UserError(f'"{obj.name}": at most {MAX_POINTS} points per object; Clear points to start again')
    x, y, label = round(float(x), 6), round(float(y), 6), 1 if int(label) == 1 else 0  # as the layout file has them
    if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
        raise UserError("click on the picture itself")
    x0, y0, x1, y1 = (round(float(v), 6) for v in obj.keys[0])
    if label == 1 and not (x0 <= x <= x1 and y0 <= y <= y1):
        raise UserError(f'a click marking "{obj.name}" as object must lie in its box at frame 0: draw that box larger '
                        f"to take in more, or mark this spot as not object")
    point = (x, y, label)
    return draft[:index] + (replace(obj, points=obj.points + (point,)),) + draft[index + 1 :]


def clear_points(draft: Draft, index: int | None) -> Draft:
    """The object without clicks: the segmenter cuts it out from its box alone."""
    _check_object(draft, index, "it has no points")
    if not draft[index].points:
        raise UserError(f'"{draft[index].name}" has no points to clear')
    return draft[:index] + (replace(draft[index], points=()),) + draft[index + 1 :]


def set_key(draft: Draft, index: int, frame: int, box: Box) -> Draft:
    _check_index(draft, index)
    obj = draft[index]
    keys = dict(obj.keys)
    keys[int(frame)] = tuple(float(v) for v in box)
    points = obj.points
    if int(frame) == 0:  # an object point must stay in the frame-0 box (the layout's rule): those left outside go
        x0, y0, x1, y1 = keys[0]
        points = tuple(p for p in points if not p[2] or (x0 <= p[0] <= x1 and y0 <= p[1] <= y1))
    return draft[:index] + (replace(obj, keys=keys, points=points),) + draft[index + 1 :]


def remove_key(draft: Draft, index: int, frame: int) -> Draft:
    _check_index(draft, index)
    obj = draft[index]
    keys = {f: b for f, b in obj.keys.items() if f != int(frame)}
    return draft[:index] + (replace(obj, keys=keys),) + draft[index + 1 :]


def _check_index(draft: Draft, index: int | None) -> None:
    if index is None or not 0 <= index < len(draft):
        raise UserError("no object selected: add an object (or pick one) first")


# ---------------------------------------------------------------------------
# per-frame boxes of a draft (even an incomplete one, for display)
# ---------------------------------------------------------------------------
def object_boxes(obj: DraftObject, num_frames: int, interpolation: str = "linear") -> np.ndarray | None:
    """(F, 4) boxes through the object's keys inside 0..num_frames-1, or None without keys.

    Before the first key the box holds at the first key (only matters while the
    frame-0 key is still missing); the layout's own interpolation otherwise.
    """
    keys = [Keyframe(f, b) for f, b in sorted(obj.keys.items()) if 0 <= f < num_frames]
    if not keys:
        return None
    if keys[0].frame != 0:  # hold the first key back to frame 0, display only
        keys = [Keyframe(0, keys[0].box)] + keys
    return interpolate_keyframes(keys, num_frames, interpolation if interpolation in ("linear", "smooth") else "linear")


def box_at(obj: DraftObject, frame: int, num_frames: int, interpolation: str = "linear") -> Box | None:
    """The key box at `frame`, else the interpolated one, else None."""
    if frame in obj.keys:
        return obj.keys[frame]
    boxes = object_boxes(obj, num_frames, interpolation)
    if boxes is None or not 0 <= frame < num_frames:
        return None
    return tuple(float(v) for v in boxes[frame])


# ---------------------------------------------------------------------------
# draft <-> layout
# ---------------------------------------------------------------------------
def draft_to_dict(draft: Draft, settings: Settings) -> dict:
    """The layout file's dict (may still break a rule; `build_layout` checks)."""
    cam = camera_index(draft)
    camera = draft[cam] if cam is not None else None
    return {
        "num_frames": int(settings.num_frames),
        "fps": int(settings.fps),
        "prompt": settings.prompt or "",
        "negative_prompt": settings.negative_prompt or "",
        "interpolation": settings.interpolation,
        "objects": [
            {
                "name": o.name,
                "keyframes": [{"frame": f, "box": [round(float(v), 6) for v in o.keys[f]]} for f in o.key_frames()],
                **({"mask": o.mask} if o.mask else {}),
                **({"points": [list(p) for p in o.points]} if o.points else {}),
            }
            for o in objects_of(draft)
        ],
        **({"camera": {"keyframes": [{"frame": f, "box": [round(float(v), 6) for v in camera.keys[f]]}
                                     for f in camera.key_frames()]}} if camera is not None else {}),
    }


def build_layout(draft: Draft, settings: Settings) -> Layout:
    """A validated `Layout`; the same `LayoutError`s as the CLI, plus a hint for the usual page mistakes."""
    if not objects_of(draft) and camera_index(draft) is None:
        raise UserError("objects: add an object and draw its box on the picture at frame 0 (or add a camera)")
    for o in draft:
        if o.camera and 0 not in o.keys:
            raise UserError("camera: draw its window at frame 0 (the part of the picture the video starts on), "
                            "or Delete the camera")
        if 0 not in o.keys:
            raise UserError(f'object "{o.name}": draw its box at frame 0 (where it is in the picture)')
        check_mask_file(o)
    return parse_layout(draft_to_dict(draft, settings))


def check_mask_file(obj: DraftObject) -> None:
    """The object's mask is still in the page's work folder (the page keeps masks in use, but a folder can be
    emptied from outside); UserError saying what to do, never the server's path, if not."""
    if obj.mask and not Path(obj.mask).is_file():
        raise UserError(f'object "{obj.name}": its mask is no longer on the server: upload it again (Upload mask), '
                        f'or press Remove mask')


def draft_from_layout(layout: Layout) -> tuple[Draft, Settings]:
    draft = tuple(
        DraftObject(name=o.name, keys={k.frame: tuple(k.box) for k in o.keyframes}, mask=o.mask, points=o.points)
        for o in layout.objects
    )
    if layout.camera is not None:
        draft += (DraftObject(name=CAMERA_NAME, keys={k.frame: tuple(k.box) for k in layout.camera.keyframes}, camera=True),)
    settings = Settings(
        num_frames=layout.num_frames,
        fps=layout.fps,
        prompt=layout.prompt,
        negative_prompt=layout.negative_prompt,
        interpolation=layout.interpolation,
    )
    return draft, settings


def describe_keys(draft: Draft, index: int | None) -> str:
    """The selected object's key frames, or what to do next, in one short sentence."""
    if index is None or not 0 <= index < len(draft):
        return "No object yet: type a name and press **Add**." if not draft else "Pick an object in the list."
    obj = draft[index]
    if obj.camera:
        frames = ", ".join(str(f) for f in obj.key_frames()) or "none"
        hint = "" if 0 in obj.keys else " Draw its window at frame 0 too."
        return (f"**camera**: windows at frame(s) {frames}: the part of the picture each frame shows, the video's "
                f"shape (drag it, or its corners; it keeps that shape).{hint}")
    if not obj.keys:
        return f"**{md_text(obj.name)}**: no key boxes yet; draw its box at frame 0."
    frames = ", ".join(str(f) for f in obj.key_frames())
    hint = "" if 0 in obj.keys else " Draw its box at frame 0 too."
    mask = " Its own mask cuts it out." if obj.mask else ""
    verb = "guides" if len(obj.points) == 1 else "guide"
    points = f" {_points(obj)} {verb} its cut-out." if obj.points and not obj.mask else ""
    return f"**{md_text(obj.name)}**: key boxes at frame(s) {frames}.{hint}{mask}{points}"


def object_choices(draft: Sequence[DraftObject]) -> list[tuple[str, int]]:
    """The objects list: name and key frames, one entry per object (the page colours entry i as object i)."""
    return [
        (
            f"{CAMERA_LABEL if o.camera else o.name} · keys {', '.join(map(str, o.key_frames())) or 'none yet'}"
            f"{' · mask' if o.mask else ''}{f' · {_points(o)}' if o.points else ''}",
            i,
        )
        for i, o in enumerate(draft)
    ]


def _points(obj: DraftObject) -> str:
    n = len(obj.points)
    return f"{n} point{'s' * (n != 1)}"


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default
