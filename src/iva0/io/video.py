"""Write frames as MP4 (H.264), GIF or a folder of PNGs, chosen by the output name;
read any video back as frames (for evaluation), within the frame-memory budget of iva0.limits: frames x size from
the stream's header (or the folder's first picture) is checked before any frame is decoded, and decoding stops at
the budget whatever the header said."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from iva0 import limits
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


def video_header(path: str | os.PathLike) -> tuple[int | None, int, int]:
    """(frames, width, height) of a video file's first video stream from its header, without decoding a frame;
    frames is None when the header does not tell (nor its duration and rate). UserError if it is no video."""
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            w, h = stream.codec_context.width, stream.codec_context.height
            n = stream.frames or None
            rate = stream.average_rate or stream.guessed_rate
            if n is None and rate:
                if stream.duration and stream.time_base:
                    n = round(float(stream.duration * stream.time_base * rate))
                elif container.duration:
                    n = round(container.duration / av.time_base * float(rate))
    except (av.FFmpegError, IndexError) as e:
        raise UserError(f"cannot read video {path}: {e}") from None
    return n or None, int(w), int(h)


def _budget_frames(p: Path, frames: int | None, width: int, height: int) -> int:
    """How many (height, width) RGB frames fit the budget; refuses `frames` that do not (one line)."""
    budget = limits.FRAME_MEMORY_BUDGET
    per_frame = max(1, width * height * 3)
    if frames is not None and frames * per_frame > budget:
        raise UserError(f"video {p}: {frames} frames of {width}x{height} px need {_size(frames * per_frame)} of frame "
                        f"memory to read (at most {_size(budget)}); score a shorter or smaller video")
    return budget // per_frame


def _size(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**28 else f"{n / 2**20:.1f} MiB"


def read_video(path: str | os.PathLike) -> tuple[np.ndarray, float]:
    """Frames (F, H, W, 3) uint8 and fps of an MP4/GIF/... file or a folder of images, within the frame-memory
    budget (iva0.limits.FRAME_MEMORY_BUDGET): checked from the header first, then while decoding."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"video not found: {p}")
    if p.is_dir():
        from iva0.io.image import picture_size, read_image

        files = sorted(f for f in p.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".webp"))
        if not files:
            raise UserError(f"no frames in folder {p}")
        size = picture_size(files[0])
        if size is not None:
            _budget_frames(p, len(files), *size)
        frames = [read_image(files[0])]
        for f in files[1:]:
            frames.append(read_image(f))
            if frames[-1].shape != frames[0].shape:
                raise UserError(f"frames of different sizes in {p}: {f.name} is {frames[-1].shape[1]}x"
                                f"{frames[-1].shape[0]}, {files[0].name} {frames[0].shape[1]}x{frames[0].shape[0]}")
        return np.stack(frames), 8.0  # (F, H, W, 3)
    import av

    n, w, h = video_header(p)
    most = _budget_frames(p, n, w, h)
    try:
        with av.open(str(p)) as container:
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 8)
            out = np.empty((min(n or 16, most), h, w, 3), np.uint8)  # (F, H, W, 3), grown if the header was short
            count = 0
            for fr in container.decode(stream):
                if count >= most:
                    raise UserError(f"video {p}: more than {most} frames of {w}x{h} px, over the frame memory "
                                    f"budget ({_size(limits.FRAME_MEMORY_BUDGET)}); score a shorter or smaller video")
                a = fr.to_ndarray(format="rgb24")
                if a.shape != (h, w, 3):
                    raise UserError(f"cannot read video {p}: frame {count} is {a.shape[1]}x{a.shape[0]}, not {w}x{h}")
                if count == len(out):
                    out = np.concatenate([out, np.empty((min(len(out), most - len(out)), h, w, 3), np.uint8)])
                out[count] = a
                count += 1
    except (av.FFmpegError, IndexError) as e:
        raise UserError(f"cannot read video {p}: {e}") from None
    if not count:
        raise UserError(f"video {p} has no frames")
    return out[:count], fps
