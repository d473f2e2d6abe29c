"""Write frames as MP4 (H.264), GIF or a folder of PNGs, chosen by the output name;
read any video back as frames (for evaluation)."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from iva0.errors import UserError
from iva0.io.atomic import atomic_path

VIDEO_SUFFIXES = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mp4", ".gif": "gif"}


def video_format(path: str | os.PathLike) -> str:
    """'mp4', 'gif' or 'png' (a folder of frames: a name with no suffix or ending in '/')."""
    s = str(path)
    suffix = Path(s).suffix.lower()
    if s.endswith(("/", os.sep)) or suffix == "":
        return "png"
    if suffix in VIDEO_SUFFIXES:
        return VIDEO_SUFFIXES[suffix]
    raise UserError(f"output {s}: unsupported kind {suffix!r}; use .mp4, .gif, or a folder name for PNG frames")


def check_output_path(path: str | os.PathLike) -> Path:
    """Refuse an output we could not write, before any work is done."""
    p = Path(str(path).rstrip("/\\") or ".")
    video_format(path)
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise UserError(f"output folder is not writable: {parent}")
    if p.is_dir() and video_format(path) != "png":
        raise UserError(f"output {p} is a folder; give a file name such as {p / 'out.mp4'}")
    return p


def write_video(frames: np.ndarray, path: str | os.PathLike, fps: int = 8) -> Path:
    """Write (F, H, W, 3) uint8 frames; the file appears only when complete."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (F, H, W, 3), got {frames.dtype} {frames.shape}")
    kind = video_format(path)
    final = Path(str(path).rstrip("/\\"))
    if kind == "png":
        with atomic_path(final, directory=True) as tmp:
            width = max(3, len(str(len(frames) - 1)))
            for i, fr in enumerate(frames):
                Image.fromarray(fr).save(tmp / f"{i:0{width}d}.png")
        return final
    with atomic_path(final) as tmp:
        if kind == "gif":
            ims = [Image.fromarray(fr) for fr in frames]
            ims[0].save(tmp, format="GIF", save_all=True, append_images=ims[1:], duration=round(1000 / fps), loop=0)
        else:
            _write_mp4(frames, tmp, fps)
    return final


def _write_mp4(frames: np.ndarray, path: Path, fps: int) -> None:
    import av

    F, H, W, _ = frames.shape
    # H.264 with yuv420p needs even sides: pad by edge replication, never crop
    ph, pw = H % 2, W % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream(_h264_encoder(), rate=Fraction(fps).limit_denominator(1000))
        stream.width, stream.height = W + pw, H + ph
        stream.pix_fmt = "yuv420p"
        if stream.codec_context.name == "libx264":
            stream.options = {"crf": "17", "preset": "medium"}
        else:
            stream.bit_rate = int(8 * (W + pw) * (H + ph) * fps / 10)
        for fr in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(fr), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def _h264_encoder() -> str:
    import av

    for name in ("libx264", "libopenh264", "h264"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - not built into this FFmpeg
            continue
    return "mpeg4"


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Frames (F, H, W, 3) uint8 and fps of an MP4/GIF/... file or a folder of images."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"video not found: {p}")
    if p.is_dir():
        from iva0.io.image import read_image

        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        if not files:
            raise UserError(f"no frames in folder {p}")
        return np.stack([read_image(f) for f in files]), 8.0
    import av

    try:
        with av.open(str(p)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 8)
            frames = [fr.to_ndarray(format="rgb24") for fr in container.decode(stream)]
    except (av.FFmpegError, IndexError) as e:
        raise UserError(f"cannot read video {p}: {e}") from None
    if not frames:
        raise UserError(f"video {p} has no frames")
    return np.stack(frames), fps
