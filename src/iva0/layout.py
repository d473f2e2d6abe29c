"""The layout file: which objects move, along which key boxes, over how many frames.

Format (DESIGN.md, "Inputs"):

    {"num_frames": 16, "fps": 8, "prompt": "...", "negative_prompt": "",
     "interpolation": "linear",
     "objects": [{"name": "rocket",
                  "keyframes": [{"frame": 0, "box": [x0, y0, x1, y1]}, ...],
                  "mask": "masks/rocket.png",       # optional
                  "points": [[x, y, 1], [x, y, 0]]}]}  # optional

Boxes are normalised to the image's width/height. Every object has a key box at
frame 0 (where it is in the input image); boxes between keys are interpolated
and held after the last key. An object's optional "mask" is an image (white =
object) whose path is relative to the layout file; it replaces the computed
cut-out (iva0.segment.mask checks it against the picture). An object's optional
"points" are clicks on the picture at frame 0 that guide its cut-out: [x, y,
label], x/y normalised like the boxes, label 1 = part of the object (must lie
in its frame-0 box), 0 = not part of it. An optional "camera" ({"keyframes":
[{"frame", "box"}]}) is a key-framed view window on the picture (iva0.camera);
with one, "objects" may be empty. Any rule broken raises `LayoutError`
with the path of the offending field, e.g. ``objects[1] ("cat").keyframes[0].box``.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from iva0.errors import LayoutError, printable
from iva0.io.atomic import atomic_write_text
from iva0.io.input_file import require_regular_file
from iva0.io.json_input import decode_json, read_json

if TYPE_CHECKING:
    from iva0.camera import Camera  # iva0.camera imports this module

Box = tuple[float, float, float, float]
Point = tuple[float, float, int]  # x, y normalised; label 1 = object, 0 = background

MAX_FRAMES = 256
MAX_FPS = 120
MAX_POINTS = 64  # per object; a prompt, not a scribble
MIN_BOX_SIDE = 1e-3  # smaller than this is a degenerate box (less than a pixel at 1024 px)
BOX_RANGE = (-1.0, 2.0)  # a box may leave the frame, but not by more than a frame
INTERPOLATIONS = ("linear", "smooth")
MAX_OBJECTS = 64  # per layout (the web page takes 8): each object is a cut-out, a mask and tracks of work
MAX_NAME_CHARS = 200  # an object's phrase (CLIP reads 77 tokens)
MAX_LAYOUT_BYTES = 4 * 2**20  # a layout file: 64 objects x 256 key boxes with points fit in well under this

_TOP_KEYS = {"num_frames", "fps", "prompt", "negative_prompt", "interpolation", "objects", "camera"}
_OBJECT_KEYS = {"name", "keyframes", "mask", "points"}
_KEYFRAME_KEYS = {"frame", "box"}


@dataclass(frozen=True)
class Keyframe:
    frame: int
    box: Box


@dataclass(frozen=True)
class LayoutObject:
    name: str
    keyframes: tuple[Keyframe, ...]  # sorted by frame, the first at frame 0
    mask: str | None = None  # the object's own mask image, an absolute path (or as given, without a layout file)
    points: tuple[Point, ...] = ()  # clicks at frame 0 that guide the cut-out (segmenters' `points`)

    @property
    def start_box(self) -> Box:
        return self.keyframes[0].box


@dataclass(frozen=True)
class Layout:
    objects: tuple[LayoutObject, ...]
    num_frames: int = 16
    fps: int = 8
    prompt: str = ""
    negative_prompt: str = ""
    interpolation: str = "linear"
    camera: Camera | None = None  # a key-framed view window (iva0.camera); None: every frame shows the whole picture
    _boxes: np.ndarray | None = field(default=None, repr=False, compare=False)

    # ---- construction -------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any) -> "Layout":
        return parse_layout(data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Layout":
        return load_layout(path)

    def to_dict(self) -> dict:
        return {
            "num_frames": self.num_frames,
            "fps": self.fps,
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "interpolation": self.interpolation,
            "objects": [
                {
                    "name": o.name,
                    "keyframes": [{"frame": k.frame, "box": [round(float(v), 6) for v in k.box]} for k in o.keyframes],
                    **({"mask": o.mask} if o.mask is not None else {}),
                    **({"points": [[round(x, 6), round(y, 6), lab] for x, y, lab in o.points]} if o.points else {}),
                }
                for o in self.objects
            ],
            **({"camera": self.camera.to_dict()} if self.camera is not None else {}),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | os.PathLike) -> None:
        atomic_write_text(path, self.to_json() + "\n")

    def with_overrides(
        self,
        *,
        num_frames: int | None = None,
        fps: int | None = None,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        interpolation: str | None = None,
        camera: dict | None = None,
        parallax: float | None = None,
    ) -> "Layout":
        """A copy with some top-level fields replaced, validated like a file (`camera`: its JSON, {} removes it;
        `parallax`: the camera's parallax, a layout with a camera only)."""
        data = self.to_dict()
        if camera is not None:
            data.pop("camera", None)
            if camera:
                data["camera"] = camera
        if parallax is not None:
            if "camera" not in data:
                raise LayoutError("--parallax: the layout has no camera (parallax moves near pixels more than far "
                                  "ones as the camera's window moves); add a camera or drop --parallax")
            data["camera"] = {**data["camera"], "parallax": parallax}
        for key, value in (
            ("num_frames", num_frames),
            ("fps", fps),
            ("prompt", prompt),
            ("negative_prompt", negative_prompt),
            ("interpolation", interpolation),
        ):
            if value is not None:
                data[key] = value
        return parse_layout(data)

    # ---- per-frame boxes ------------------------------------------------
    @property
    def names(self) -> list[str]:
        return [o.name for o in self.objects]

    def boxes(self) -> np.ndarray:
        """Per-frame boxes of every object, shape (J, F, 4), normalised xyxy."""
        if self._boxes is None:
            out = np.stack(
                [interpolate_keyframes(o.keyframes, self.num_frames, self.interpolation) for o in self.objects]
            ) if self.objects else np.zeros((0, self.num_frames, 4))  # (J, F, 4); no objects: pure camera motion
            out.setflags(write=False)
            object.__setattr__(self, "_boxes", out)
        return self._boxes

    def boxes_px(self, width: int, height: int) -> np.ndarray:
        """Per-frame boxes in pixels of a (width, height) image, shape (J, F, 4)."""
        return self.boxes() * np.array([width, height, width, height], dtype=np.float64)

    def points_px(self, width: int, height: int) -> list[np.ndarray | None]:
        """Per object its points in pixels of a (width, height) image, (N, 3): x, y, label; None without points."""
        scale = np.array([width, height, 1], dtype=np.float64)
        return [np.array(o.points, dtype=np.float64) * scale if o.points else None for o in self.objects]

    def mask_files(self) -> list[str]:
        """The files the layout reads: its masks and the camera's depth map (inputs of the output rule: an output
        never replaces one)."""
        depth = [self.camera.depth] if self.camera is not None and self.camera.depth is not None else []
        return [o.mask for o in self.objects if o.mask is not None] + depth


# ---------------------------------------------------------------------------
# interpolation
# ---------------------------------------------------------------------------
def interpolate_keyframes(keyframes: Sequence[Keyframe], num_frames: int, method: str = "linear") -> np.ndarray:
    """Boxes for frames 0..num_frames-1 through the key boxes, shape (F, 4).

    linear: corner-wise linear between neighbouring keys, so every box lies in
    the hull of its two keys. smooth: centre and size follow a monotone cubic
    (PCHIP) through the keys, which never overshoots a key (each segment stays
    between its end values) and keeps width/height positive. After the last key
    the box holds still.
    """
    frames = np.array([k.frame for k in keyframes], dtype=np.float64)
    keys = np.array([k.box for k in keyframes], dtype=np.float64)  # (K, 4)
    t = np.arange(num_frames, dtype=np.float64)
    if len(keyframes) == 1:
        return np.repeat(keys, num_frames, axis=0)
    if method == "linear":
        return np.stack([np.interp(t, frames, keys[:, c]) for c in range(4)], axis=1)
    if method == "smooth":
        from scipy.interpolate import PchipInterpolator

        cxcywh = xyxy_to_cxcywh(keys)
        tc = np.clip(t, frames[0], frames[-1])  # hold after the last key
        out = np.stack([PchipInterpolator(frames, cxcywh[:, c])(tc) for c in range(4)], axis=1)
        # exact at the keys (PCHIP is, up to float rounding)
        out[frames.astype(int)] = cxcywh
        return cxcywh_to_xyxy(out)
    raise LayoutError(f"interpolation: must be one of {', '.join(INTERPOLATIONS)} (got {_show(method)})")


def xyxy_to_cxcywh(b: np.ndarray) -> np.ndarray:
    return np.stack([(b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2, b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]], -1)


def cxcywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    return np.stack([b[..., 0] - b[..., 2] / 2, b[..., 1] - b[..., 3] / 2, b[..., 0] + b[..., 2] / 2, b[..., 1] + b[..., 3] / 2], -1)


# ---------------------------------------------------------------------------
# parsing and validation
# ---------------------------------------------------------------------------
def load_layout(path: str | os.PathLike, *, mask_root: str | os.PathLike | None = None,
                mask_root_name: str = "the layout's folder") -> Layout:
    """Read a layout file; its masks must resolve inside `mask_root` (default: the layout's own folder; `bench`
    gives the benchmark folder), named in messages as `mask_root_name`."""
    p = Path(path)
    data = read_json(p, LayoutError, what="layout file", max_bytes=MAX_LAYOUT_BYTES)
    return parse_layout(data, base_dir=p.parent, mask_root=p.parent if mask_root is None else mask_root,
                        mask_root_name=mask_root_name)


def parse_layout_json(text: str, source: str = "layout", base_dir: str | os.PathLike | None = None) -> Layout:
    return parse_layout(decode_json(text, source, LayoutError), base_dir=base_dir)


def parse_layout(data: Any, base_dir: str | os.PathLike | None = None, *, mask_root: str | os.PathLike | None = None,
                 mask_root_name: str = "the layout's folder") -> Layout:
    """Validate a decoded layout (dict) and build a `Layout`; mask paths are relative to `base_dir` and must resolve
    (links followed) inside `mask_root` when one is given (a shared layout reads no other file)."""
    if not isinstance(data, dict):
        raise LayoutError(f"layout: must be a JSON object, got {_kind(data)}")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise LayoutError(f"layout: unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    num_frames = _int_field(data.get("num_frames", 16), "num_frames", 2, MAX_FRAMES)
    fps = _int_field(data.get("fps", 8), "fps", 1, MAX_FPS)
    prompt = _str_field(data.get("prompt", ""), "prompt")
    negative = _str_field(data.get("negative_prompt", ""), "negative_prompt")
    interpolation = data.get("interpolation", "linear")
    if interpolation not in INTERPOLATIONS:
        raise LayoutError(f"interpolation: must be one of {', '.join(INTERPOLATIONS)} (got {_show(interpolation)})")
    camera = None
    if data.get("camera") is not None:  # (null: no camera)
        from iva0.camera import parse_camera

        camera = parse_camera(data["camera"], num_frames, base_dir,
                              None if mask_root is None else (Path(mask_root).resolve(), mask_root_name))
    if "objects" not in data and camera is None:
        raise LayoutError("objects: missing; a layout needs at least one object with key boxes (or a camera)")
    raw_objects = data.get("objects", [])
    if not isinstance(raw_objects, list):
        raise LayoutError(f"objects: must be a list, got {_kind(raw_objects)}")
    if not raw_objects and camera is None:
        raise LayoutError("objects: empty; a layout needs at least one object with key boxes (or a camera)")
    if len(raw_objects) > MAX_OBJECTS:  # before any object is looked at
        raise LayoutError(f"objects: {len(raw_objects)} objects; a layout has at most {MAX_OBJECTS}")
    root = None if mask_root is None else (Path(mask_root).resolve(), mask_root_name)
    objects = tuple(_parse_object(o, i, num_frames, base_dir, root) for i, o in enumerate(raw_objects))
    return Layout(
        objects=objects, num_frames=num_frames, fps=fps, prompt=prompt, negative_prompt=negative, interpolation=interpolation,
        camera=camera,
    )


def _parse_object(raw: Any, index: int, num_frames: int, base_dir: str | os.PathLike | None = None,
                  mask_root: tuple[Path, str] | None = None) -> LayoutObject:
    where = f"objects[{index}]"
    if not isinstance(raw, dict):
        raise LayoutError(f"{where}: must be an object with 'name' and 'keyframes', got {_kind(raw)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise LayoutError(f"{where}.name: must be a non-empty string (the object's phrase), got {_show(name)}")
    if len(name) > MAX_NAME_CHARS:
        raise LayoutError(f"{where}.name: at most {MAX_NAME_CHARS} characters (the object's phrase), got {len(name)}")
    where = f'{where} ("{printable(name)}")'
    unknown = sorted(set(raw) - _OBJECT_KEYS)
    if unknown:
        raise LayoutError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: name, keyframes, mask, points")
    parsed = parse_keyframes(raw.get("keyframes"), where, num_frames, _parse_box)
    if parsed[0].frame != 0:
        raise LayoutError(f"{where}.keyframes: needs a key box at frame 0 (where the object is in the input image)")
    x0, y0, x1, y1 = parsed[0].box
    inside_w = min(x1, 1.0) - max(x0, 0.0)
    inside_h = min(y1, 1.0) - max(y0, 0.0)
    if inside_w < MIN_BOX_SIDE or inside_h < MIN_BOX_SIDE:
        raise LayoutError(f"{where}.keyframes[frame 0].box: must overlap the image (got {list(parsed[0].box)})")
    points = _parse_points(raw.get("points"), f"{where}.points", parsed[0].box)
    mask = raw.get("mask")
    if mask is not None:
        if not isinstance(mask, str) or not mask.strip():
            raise LayoutError(f"{where}.mask: must be the path of a mask image (white = object), got {_show(mask)}")
        mask = layout_file_path(mask, f"{where}.mask", "mask", base_dir, mask_root)
    return LayoutObject(name=name.strip(), keyframes=tuple(parsed), mask=mask, points=points)


def layout_file_path(raw: str, where: str, what: str, base_dir: str | os.PathLike | None = None,
                     root: tuple[Path, str] | None = None) -> str:
    """A file the layout names (an object's mask, the camera's depth map): relative to `base_dir`, and resolved
    (links followed) inside `root` = (folder, its name in messages) when one is given; then a regular file.
    Returns the resolved path (or `raw` as given without a layout file)."""
    mp = Path(raw)
    if base_dir is not None and not mp.is_absolute():
        mp = Path(base_dir) / mp
    if base_dir is None and not mp.is_absolute():
        return raw
    resolved = _resolve(mp)
    if root is not None and (resolved is None or not resolved.is_relative_to(root[0])):
        # the same words whether the outside file exists or not: a shared layout learns nothing
        raise LayoutError(f"{where}: must be inside {root[1]} (a {what} path, links followed, may "
                          f"not leave it; copy the {what} there), got {_show(raw)}")
    require_regular_file(mp, f"{where}: {what} file", LayoutError)
    return str(resolved or mp)


def _resolve(p: Path) -> Path | None:
    """`p` with links and `..` resolved; None for a link loop."""
    try:
        return p.resolve()
    except (OSError, RuntimeError):
        return None


def parse_keyframes(kfs: Any, where: str, num_frames: int, parse_box: Callable[[Any, str], Box]) -> list[Keyframe]:
    """The `keyframes` list of an object or of the camera, validated and sorted by frame; errors name the field.
    `parse_box(raw, field)` checks one box (an object's box, or the camera's window)."""
    if not isinstance(kfs, list) or not kfs:
        raise LayoutError(f"{where}.keyframes: must be a non-empty list of {{frame, box}}, got {_show(kfs)}")
    parsed: list[Keyframe] = []
    seen: dict[int, int] = {}
    for k, kf in enumerate(kfs):
        kw = f"{where}.keyframes[{k}]"
        if not isinstance(kf, dict):
            raise LayoutError(f"{kw}: must be an object with 'frame' and 'box', got {_kind(kf)}")
        unknown = sorted(set(kf) - _KEYFRAME_KEYS)
        if unknown:
            raise LayoutError(f"{kw}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: frame, box")
        if "frame" not in kf:
            raise LayoutError(f"{kw}.frame: missing")
        frame = kf["frame"]
        if isinstance(frame, float) and frame.is_integer():
            frame = int(frame)
        if isinstance(frame, bool) or not isinstance(frame, int):
            raise LayoutError(f"{kw}.frame: must be an integer, got {_show(frame)}")
        if not 0 <= frame < num_frames:
            raise LayoutError(f"{kw}.frame: {_show(frame)} is out of range 0..{num_frames - 1} (num_frames={num_frames})")
        if frame in seen:
            raise LayoutError(f"{kw}.frame: duplicate key frame {frame} (also keyframes[{seen[frame]}])")
        seen[frame] = k
        if "box" not in kf:
            raise LayoutError(f"{kw}.box: missing")
        parsed.append(Keyframe(frame=frame, box=parse_box(kf["box"], f"{kw}.box")))
    parsed.sort(key=lambda k: k.frame)
    return parsed


def _parse_points(raw: Any, where: str, box0: Box) -> tuple[Point, ...]:
    """[[x, y, label], ...] at frame 0: x, y normalised inside the picture, label 1 (object, inside `box0`) or 0."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise LayoutError(f"{where}: must be a list of [x, y, label] (label 1 = object, 0 = background), got {_kind(raw)}")
    if len(raw) > MAX_POINTS:
        raise LayoutError(f"{where}: at most {MAX_POINTS} points per object, got {len(raw)}")
    out = []
    for k, p in enumerate(raw):
        pw = f"{where}[{k}]"
        if not isinstance(p, (list, tuple)) or len(p) != 3:
            raise LayoutError(f"{pw}: must be [x, y, label] (label 1 = object, 0 = background), got {_show(p)}")
        x, y, label = p
        for v in (x, y):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise LayoutError(f"{pw}: x and y must be numbers, got {_show(p)}")
            if isinstance(v, float) and not math.isfinite(v):  # (an int is finite; math.isfinite(10**400) overflows)
                raise LayoutError(f"{pw}: non-finite number in {_show(p)}")
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            hint = " (points are normalised to the image size, 0..1; these look like pixels)" if max(abs(x), abs(y)) > 2 else ""
            raise LayoutError(f"{pw}: x and y must lie in [0, 1] (on the picture){hint}, got {_show(p)}")
        if isinstance(label, float) and label.is_integer():
            label = int(label)
        if isinstance(label, bool) or label not in (0, 1):
            raise LayoutError(f"{pw}: label must be 1 (part of the object) or 0 (not part of it), got {_show(label)}")
        x0, y0, x1, y1 = box0
        if label == 1 and not (x0 <= x <= x1 and y0 <= y <= y1):
            raise LayoutError(f"{pw}: an object point (label 1) must lie in the object's frame-0 box {_show(list(box0))}, "
                              f"got {_show(p)}")
        out.append((float(x), float(y), int(label)))
    return tuple(out)


def four_numbers(raw: Any, where: str) -> list[float]:
    """[x0, y0, x1, y1] as four finite floats (an object's box or the camera's window); errors name the field."""
    if not isinstance(raw, (list, tuple)) or len(raw) != 4:
        raise LayoutError(f"{where}: must be a list of 4 numbers [x0, y0, x1, y1], got {_show(raw)}")
    vals = []
    for v in raw:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise LayoutError(f"{where}: must be 4 numbers, got {_show(raw)}")
        if isinstance(v, int) and abs(v) > 2**53:  # float(v) could overflow; far outside the range checked next anyway
            v = 1e300 if v > 0 else -1e300
        if not math.isfinite(v):
            raise LayoutError(f"{where}: non-finite number in {_show(raw)}")
        vals.append(float(v))
    return vals


def _parse_box(raw: Any, where: str) -> Box:
    vals = four_numbers(raw, where)
    x0, y0, x1, y1 = vals
    lo, hi = BOX_RANGE
    if any(v < lo or v > hi for v in vals):
        hint = " (boxes are normalised to the image size, 0..1; these look like pixels)" if max(map(abs, vals)) > 2 else ""
        raise LayoutError(f"{where}: values must lie in [{lo:g}, {hi:g}]{hint}, got {_show(raw)}")
    if not x0 < x1:
        raise LayoutError(f"{where}: x0 must be < x1, got {_show(raw)}")
    if not y0 < y1:
        raise LayoutError(f"{where}: y0 must be < y1, got {_show(raw)}")
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        raise LayoutError(f"{where}: degenerate box (a side shorter than {MIN_BOX_SIDE:g}), got {_show(raw)}")
    return (x0, y0, x1, y1)


def _int_field(v: Any, name: str, lo: int, hi: int) -> int:
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise LayoutError(f"{name}: must be an integer, got {_show(v)}")
    if not lo <= v <= hi:
        raise LayoutError(f"{name}: must be between {lo} and {hi}, got {_show(v)}")
    return v


def _str_field(v: Any, name: str) -> str:
    if not isinstance(v, str):
        raise LayoutError(f"{name}: must be a string, got {_kind(v)}")
    return v


def _show(v: Any, limit: int = 60) -> str:
    """A value as the user wrote it (JSON: true, null, "text"), cut short for a one-line message."""
    try:
        text = json.dumps(v, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(v), type(v).__name__
    )


def make_layout(
    objects: Iterable[tuple[str, Iterable[tuple[int, Sequence[float]]]]],
    num_frames: int = 16,
    fps: int = 8,
    prompt: str = "",
    negative_prompt: str = "",
    interpolation: str = "linear",
    camera: Iterable[tuple[int, Sequence[float]]] | None = None,
) -> Layout:
    """Build a validated layout from Python values: [(name, [(frame, box), ...]), ...]; camera: [(frame, window), ...]."""
    return parse_layout(
        {
            "num_frames": num_frames,
            "fps": fps,
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "interpolation": interpolation,
            "objects": [
                {"name": n, "keyframes": [{"frame": f, "box": list(b)} for f, b in kfs]} for n, kfs in objects
            ],
            **({"camera": {"keyframes": [{"frame": f, "box": list(b)} for f, b in camera]}} if camera is not None else {}),
        }
    )


__all__ = [
    "Box",
    "Keyframe",
    "Layout",
    "LayoutObject",
    "Point",
    "interpolate_keyframes",
    "load_layout",
    "make_layout",
    "parse_layout",
    "parse_layout_json",
]
