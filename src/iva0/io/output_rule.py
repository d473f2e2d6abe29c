"""The output rule: iva0 never destroys a file it did not write.

One rule, checked before any work by every command that writes (animate, demo,
preview, bench run/eval/report, tune, tiny-models) and by the web app:

1. An output is never an input: not the same file (resolved path / samefile),
   not a folder that holds an input, not inside a folder the run reads (the
   benchmark), and never the current folder or one that holds it (`-o .`).
2. Its parent folder must exist and be writable; no parents are created.
3. It either does not exist yet, or it is something iva0 wrote, of the same kind:
   - .mp4/.gif videos: iva0 tags each one (MP4 `comment` metadata, GIF comment);
   - a PNG-frames folder: its `.iva0-frames.json` manifest, and only the files
     it lists (an empty folder is fine too);
   - a bench run folder: the config.json `bench run` writes (it is resumed, never wiped);
   - a bench report folder: report.json;  metrics.json: bench eval's fields;
   - tuned weights, converted I3D weights: the iva0 safetensors format tag;
   - a model folder (`tiny-models --force`): model_index.json with its `_iva0` block.
   Anything else is refused with one line, e.g.
   `output folder photos/ exists and holds files iva0 did not write`.

So re-running a command over its own output replaces it (as ffmpeg -y or
diffusers' save_pretrained would), while a user's own video, picture, notes or
folder of photos under the same name stays untouched.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable, Literal

from iva0.errors import UserError
from iva0.io.atomic import is_partial

OutputKind = Literal["video", "metrics", "tuned", "i3d", "run", "report", "model"]
FOLDER_KINDS = ("run", "report", "model")

TAG = "written by iva0"  # in every MP4/GIF iva0 writes; the version follows
FRAMES_MANIFEST = ".iva0-frames.json"
TUNED_FORMAT = "iva0-tuned-1"  # = backends.diffusion.tuning.FORMAT (kept here so no torch import is needed)
I3D_FORMAT = "iva0-i3d-1"  # the metadata tag of `bench convert-i3d`'s safetensors
VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4", ".gif": "gif"}

_KIND_NAMES = {
    "mp4": "video",
    "gif": "GIF",
    "png": "frames folder",
    "metrics": "metrics file",
    "tuned": "tuned-weights file",
    "i3d": "converted I3D file",
    "run": "run folder",
    "report": "report folder",
    "model": "model folder",
}


def check_output(
    path: str | os.PathLike,
    kind: OutputKind = "video",
    *,
    inputs: Iterable[str | os.PathLike] = (),
    read_folders: Iterable[str | os.PathLike] = (),
) -> Path:
    """Refuse an output that could destroy anything iva0 did not write; returns it as a Path.

    kind: "video" (.mp4/.gif, or a folder name for PNG frames), "metrics" (.json),
    "tuned" or "i3d" (.safetensors), "run", "report" or "model" (folders).
    inputs: files (or folders) the command reads; the output may neither be one nor hold one.
    read_folders: folders the command reads from (a benchmark); the output may not be
    inside one, be one, or hold one.
    Raises UserError with a one-line message. Reads only headers; never writes.
    """
    text = str(path)
    if not text.strip():
        raise UserError("output: empty path")
    out = Path(text.rstrip("/\\") or text)
    fmt = _format(text, kind)
    shown = f"{out}/" if fmt in ("png", *FOLDER_KINDS) else str(out)
    real = _real(out)
    cwd = _real(Path.cwd())
    folder_out = fmt in ("png", *FOLDER_KINDS)
    if out.name in ("", ".", "..") or real == cwd or cwd.is_relative_to(real):
        raise UserError(f"output {shown} is the current folder or holds it; give a new name such as out/frames")
    inputs = [Path(p) for p in inputs]
    for p in inputs:
        _not_input(out, real, p, shown)
    for f in read_folders:
        rf = _real(Path(f))
        if real == rf or real.is_relative_to(rf) or rf.is_relative_to(real):
            raise UserError(f"output {shown} is or overlaps the folder it reads ({f}); choose a folder outside it")
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        if parent.exists():  # `-o notes.txt/out.mp4`: the folder named is a file
            raise UserError(f"output folder {parent} is a file, not a folder; choose another name")
        raise UserError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise UserError(f"output folder is not writable: {parent}")
    if not out.exists() and not out.is_symlink():
        return out
    if out.is_symlink() and not out.exists():
        raise UserError(f"output {shown} is a broken link; remove it or choose another name")
    if folder_out:
        if not out.is_dir():
            raise UserError(f"output {out} exists and is a file, not a folder; choose another name")
        if out.is_symlink() and fmt in ("png", "model"):  # these are replaced whole, and a link is not
            raise UserError(f"output {shown} is a link to a folder; give the folder's own path or a new name")
        if not os.access(out, os.W_OK):
            raise UserError(f"output folder {shown} is not writable")
        why = folder_refusal(out, fmt)
        if why:
            raise UserError(f"output folder {shown} {why}")
        for p in inputs:  # even a folder iva0 wrote is not replaced while it holds an input
            if p.exists() and _real(p).is_relative_to(real):
                raise UserError(f"output folder {shown} holds an input ({p}); choose another name")
        return out
    if out.is_dir():
        raise UserError(f"output {out} is a folder; give a file name such as {out / _example(fmt)}")
    if not is_iva0_file(out, fmt):
        raise UserError(
            f"output {out} exists and is not a {_KIND_NAMES[fmt]} iva0 wrote; "
            "iva0 replaces only its own outputs: choose another name or move the file away"
        )
    return out


def folder_refusal(folder: Path, fmt: str) -> str | None:
    """None when `folder` may be written over as output kind `fmt`, else why not (for a message)."""
    entries = [e.name for e in folder.iterdir()]
    if not entries:
        return None
    if fmt == "png":
        listed = _frames_listed(folder)
        if listed is not None and set(entries) <= listed | {FRAMES_MANIFEST}:
            return None
    elif fmt == "run" and (_json_has(folder / "config.json", ("method", "benchmark")) or _only_partial(entries)):
        # (only temporary files: another process of a sharded run is writing config.json right now)
        return None
    elif fmt == "report" and _json_has(folder / "report.json", ("runs",)):
        return None
    elif fmt == "model" and _json_has(folder / "model_index.json", ("_iva0",)):
        return None
    other = _iva0_folder_kind(folder)
    if other and other != fmt:
        return f"is an iva0 {_KIND_NAMES[other]}, not a {_KIND_NAMES[fmt]}; choose another name"
    return "exists and holds files iva0 did not write"


def video_format(path: str | os.PathLike) -> str:
    """'mp4', 'gif' or 'png' (a folder of frames: a name with no suffix or ending in '/')."""
    s = str(path)
    suffix = Path(s).suffix.lower()
    if s.endswith(("/", os.sep)) or suffix == "":
        return "png"
    if suffix in VIDEO_SUFFIXES:
        return VIDEO_SUFFIXES[suffix]
    raise UserError(f"output {s}: unsupported kind {suffix!r}; use .mp4, .gif, or a folder name for PNG frames")


def replaceable_folder(folder: Path) -> bool:
    """May the atomic folder swap move `folder` away? Only an empty one or one iva0 wrote whole
    (a frames folder with its manifest, a model folder from tiny-models)."""
    return folder.is_dir() and not folder.is_symlink() and (
        folder_refusal(folder, "png") is None or folder_refusal(folder, "model") is None
    )


def is_iva0_file(path: Path, fmt: str) -> bool:
    """Did iva0 write this file, as output kind `fmt`? Reads headers only."""
    try:
        if fmt == "mp4":
            import av

            with av.open(str(path)) as c:
                return str(c.metadata.get("comment", "")).startswith(TAG)
        if fmt == "gif":
            from PIL import Image

            with Image.open(path) as im:
                if im.format != "GIF":
                    return False
                comment = im.info.get("comment", b"")
            return (comment.decode("utf-8", "replace") if isinstance(comment, bytes) else str(comment)).startswith(TAG)
        if fmt == "metrics":
            return _json_has(path, ("summary", "samples", "benchmark"))
        if fmt in ("tuned", "i3d"):
            return _safetensors_metadata(path).get("format") == (TUNED_FORMAT if fmt == "tuned" else I3D_FORMAT)
    except Exception:  # noqa: BLE001 - unreadable as that kind means "not ours"
        return False
    return False


def frames_manifest(names: list[str]) -> str:
    """The text of the manifest a PNG-frames folder gets (lists the files iva0 wrote there)."""
    from iva0 import __version__

    return json.dumps({"written_by": f"iva0 {__version__}", "frames": names}, indent=1) + "\n"


def tag() -> str:
    from iva0 import __version__

    return f"{TAG} {__version__}"


# ---------------------------------------------------------------- helpers
def _format(text: str, kind: str) -> str:
    if kind == "video":
        return video_format(text)
    if kind == "metrics":
        if Path(text).suffix.lower() != ".json":
            raise UserError(f"output {text}: metrics are written as JSON; give a name ending in .json")
        return "metrics"
    if kind in ("tuned", "i3d"):
        if Path(text).suffix.lower() != ".safetensors":
            raise UserError(f"output {text}: weights are written as safetensors; give a name ending in .safetensors")
        return kind
    if kind in FOLDER_KINDS:
        return kind
    raise ValueError(f"unknown output kind {kind!r}")


def _example(fmt: str) -> str:
    return {"mp4": "out.mp4", "gif": "out.gif", "metrics": "metrics.json", "tuned": "tuned.safetensors",
            "i3d": "i3d.safetensors"}.get(fmt, "out")


def _real(p: Path) -> Path:
    return Path(os.path.abspath(p)).resolve()


def _not_input(out: Path, real: Path, inp: Path, shown: str) -> None:
    if not inp.exists():
        return
    same = _real(inp) == real
    if not same and out.exists():
        try:
            same = os.path.samefile(out, inp)
        except OSError:
            same = False
    if same:
        raise UserError(f"output {shown} is an input ({inp}); choose another name")


def _frames_listed(folder: Path) -> set[str] | None:
    try:
        data = json.loads((folder / FRAMES_MANIFEST).read_text(encoding="utf-8"))
        names = data["frames"]
        if str(data.get("written_by", "")).startswith("iva0") and all(isinstance(n, str) and "/" not in n for n in names):
            return set(names)
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def _json_has(path: Path, keys: tuple[str, ...]) -> bool:
    try:
        if not path.is_file() or path.stat().st_size > 256 * 2**20:
            return False
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and all(k in data for k in keys)


def _safetensors_metadata(path: Path) -> dict:
    with open(path, "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        if not 0 < n < 100 * 2**20:
            return {}
        header = json.loads(f.read(n))
    meta = header.get("__metadata__") if isinstance(header, dict) else None
    return meta if isinstance(meta, dict) else {}


def _only_partial(names: list[str]) -> bool:
    return all(is_partial(n) for n in names)


def _iva0_folder_kind(folder: Path) -> str | None:
    if _frames_listed(folder) is not None:
        return "png"
    for kind, name, keys in (("run", "config.json", ("method", "benchmark")), ("report", "report.json", ("runs",)),
                             ("model", "model_index.json", ("_iva0",))):
        if _json_has(folder / name, keys):
            return kind
    return None
