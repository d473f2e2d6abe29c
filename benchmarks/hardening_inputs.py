"""Issue 16 parts 1-2, before/after: run each shared-input case against a source tree and print what happened.

    .venv/bin/python benchmarks/hardening_inputs.py --src /path/to/old/src   # before
    .venv/bin/python benchmarks/hardening_inputs.py --src src                # after

Each case runs in its own process under /usr/bin/time: exit status, wall seconds, peak RSS, and the last stderr
line (cut short). The files are made in a temporary folder; nothing outside it is written.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def png_header(path: Path, width: int, height: int) -> None:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))


def layout(objects: int = 1, mask=None, name="square", size_note=None) -> dict:
    obj = {"name": name, "keyframes": [{"frame": 0, "box": [0.12, 0.2, 0.44, 0.62]},
                                       {"frame": 15, "box": [0.5, 0.2, 0.82, 0.62]}]}
    if mask:
        obj["mask"] = mask
    return {"num_frames": 16, "fps": 8, "objects": [obj] * objects}


def bzip2_bomb(path: Path, inflated: int) -> None:
    """A .zip whose layout.json is `inflated` bytes of spaces in bzip2, declaring 900 bytes."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_BZIP2) as z:
        with z.open("layout.json", "w") as f:
            block = b" " * 2**24
            for _ in range(inflated // len(block)):
                f.write(block)
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("layout.json")
    data = bytearray(path.read_bytes())
    data[info.header_offset + 22: info.header_offset + 26] = struct.pack("<I", 900)
    c = data.find(b"PK\x01\x02")
    data[c + 24: c + 28] = struct.pack("<I", 900)
    path.write_bytes(bytes(data))


def write_frames_video(path: Path, frames: int, side: int) -> None:
    import av

    with av.open(str(path), "w", format="mp4") as c:
        s = c.add_stream("libx264", rate=25)
        s.width = s.height = side
        s.pix_fmt = "yuv420p"
        s.options = {"preset": "ultrafast"}
        fr = av.VideoFrame.from_ndarray(np.zeros((side, side, 3), np.uint8), format="rgb24")
        for _ in range(frames):
            for p in s.encode(fr):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def make_cases(d: Path) -> list[tuple[str, str]]:
    """(name, python code run in `d`) per case."""
    img = np.full((384, 512, 3), 70, np.uint8)
    img[80:240, 60:220] = 220
    Image.fromarray(img).save(d / "photo.png")
    m = np.zeros((384, 512), np.uint8)
    m[80:240, 60:220] = 255
    (d / "lay").mkdir()
    Image.fromarray(m).save(d / "secret.png")  # outside lay/
    (d / "lay" / "outside.json").write_text(json.dumps(layout(mask="../secret.png")))
    png_header(d / "big.png", 30000, 20000)
    (d / "big.json").write_text(json.dumps(layout(mask="big.png")))
    (d / "many.json").write_text(json.dumps(layout(objects=300)))
    with zipfile.ZipFile(d / "renamed.json", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("layout.json", json.dumps(layout()))
    (d / "esc.json").write_text(json.dumps(layout(mask="none.png", name="cup\x1b[2J\x1b[31m")))
    bzip2_bomb(d / "bomb.zip", 2**30)
    big_mask = np.zeros((2667, 4000), np.uint8)
    big_mask[500:1600, 400:1700] = 255
    buf = d / "m.png"
    Image.fromarray(big_mask).save(buf)
    with zipfile.ZipFile(d / "objects.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("layout.json", json.dumps(layout(objects=100, mask="masks/m.png")))
        z.write(buf, "masks/m.png")
    write_frames_video(d / "long.mp4", 600, 1024)
    write_frames_video(d / "over.mp4", 1400, 1024)
    cli = "from iva0.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
    page = ("from iva0.ui.callbacks import Callbacks; from iva0.ui.config import UiConfig; import sys\n"
            "cb = Callbacks(UiConfig(), 'work'); pic = cb.load_picture('photo.png')\n"
            "try:\n    cb.parse_layout_file(sys.argv[1], pic); print('accepted', file=sys.stderr)\n"
            "except Exception as e:\n    print(type(e).__name__, str(e)[:150], file=sys.stderr); sys.exit(2)\n")
    video = ("from iva0.io.video import read_video; import sys\n"
             "try:\n    f, _ = read_video(sys.argv[1]); print('read', f.shape, file=sys.stderr)\n"
             "except Exception as e:\n    print(type(e).__name__, str(e)[:150], file=sys.stderr); sys.exit(2)\n")
    return [
        ("mask ../secret.png (animate)", f"{cli}\n#animate photo.png -l lay/outside.json -o out1.mp4 -q"),
        ("mask 30000x20000 PNG (animate)", f"{cli}\n#animate photo.png -l big.json -o out2.mp4 -q"),
        ("300 objects (animate)", f"{cli}\n#animate photo.png -l many.json -o out3.mp4 -q"),
        ("zip renamed layout.json", f"{cli}\n#animate photo.png -l renamed.json -o out4.mp4 -q"),
        ("name with escape codes", f"{cli}\n#animate photo.png -l esc.json -o out5.mp4 -q"),
        ("page: bzip2 entry, 1 GiB declared 900 B", f"{page}\n#bomb.zip"),
        ("page: 100 objects, one 4000x2667 mask", f"{page}\n#objects.zip"),
        ("read_video 600 x 1024^2 (1.9 GB)", f"{video}\n#long.mp4"),
        ("read_video 1400 x 1024^2 (4.4 GB)", f"{video}\n#over.mp4"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True, help="the iva0 source folder to measure (its parent's src/)")
    args = ap.parse_args()
    src = str(Path(args.src).resolve())
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        cases = make_cases(d)
        env = {**os.environ, "PYTHONPATH": src, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
        for name, code in cases:
            body, _, argline = code.rpartition("\n#")
            r = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M", sys.executable, "-c", body, *argline.split()],
                               cwd=d, env=env, capture_output=True, text=True)
            lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
            t = next(ln for ln in reversed(lines) if ln.startswith("TIME "))
            rest = [ln for ln in lines if not ln.startswith(("TIME ", "Command exited", "Command terminated"))]
            secs, kb = t.split()[1:]
            last = ascii(rest[-1][:170]) if rest else "(no stderr)"
            print(f"| {name} | exit {r.returncode} | {float(secs):.1f} s | {int(kb) / 2**20:.2f} GB | {last} |", flush=True)


if __name__ == "__main__":
    main()
