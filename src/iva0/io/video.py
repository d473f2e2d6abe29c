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
from iva0.io.output_rule import FRAMES_MANIFEST, check_output, frames_manifest, replaceable_folder, tag, video_format


def check_output_path(path: str | os.PathLike, inputs=()) -> Path:
    """Refuse an output we could not write or must not replace, before any work is done
    (the rule is `iva0.io.output_rule.check_output`)."""
    return check_output(path, "video", inputs=inputs)


def write_video(frames: np.ndarray, path: str | os.PathLike, fps: int = 8) -> Path:
    """Write (F, H, W, 3) uint8 frames; the file appears only when complete.

    The output rule is checked again here (an existing output is replaced only when
    iva0 wrote it), and what is written carries iva0's tag so that a re-run may
    replace it: MP4 metadata, a GIF comment, a manifest in a PNG-frames folder."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (F, H, W, 3), got {frames.dtype} {frames.shape}")
    kind = video_format(path)
    final = check_output(path, "video")
    if kind == "png":
        with atomic_path(final, directory=True, may_replace=replaceable_folder) as tmp:
            width = max(3, len(str(len(frames) - 1)))
            names = [f"{i:0{width}d}.png" for i in range(len(frames))]
            for name, fr in zip(names, frames):
                Image.fromarray(fr).save(tmp / name)
            (tmp / FRAMES_MANIFEST).write_text(frames_manifest(names), encoding="utf-8")
        return final
    with atomic_path(final) as tmp:
        if kind == "gif":
            ims = [Image.fromarray(fr) for fr in frames]
            ims[0].save(tmp, format="GIF", save_all=True, append_images=ims[1:], duration=round(1000 / fps), loop=0,
                        comment=tag().encode())
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
        container.metadata["comment"] = tag()  # lets a re-run recognise its own output
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
