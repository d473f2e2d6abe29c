"""The layout .zip the web page downloads (layout.json + masks/), read within limits: one reader for the page
(`iva0.ui.masks`) and the CLI (`iva0 animate/preview -l layout.zip`).
The camera's depth map (`camera.depth`), when the layout names one, is carried like a mask.

A shared zip is untrusted: only stored or deflate entries are read (bzip2/lzma inflate without a bound), never
encrypted ones, each at most its limit + 1 byte by what it really holds (not what it declares), and one that holds
more than it declares is refused. Only layout.json and the masks it names are read, each distinct mask once, and
only after the objects are counted. A mask names a member of the zip next to (or below) layout.json's folder;
absolute and `../` paths that leave the archive are refused.
"""

from __future__ import annotations

import contextlib
import copy
import os
import posixpath
import tempfile
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from iva0.errors import LayoutError, UserError, printable
from iva0.io.input_file import require_regular_file
from iva0.io.json_input import decode_json

LAYOUT_IN_ZIP = "layout.json"
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what the page writes; bzip2/lzma inflate without a bound
CLI_MAX_TOTAL_BYTES = 512 * 2**20  # what one zip may unpack to on the CLI (layout.json + its masks), by content
_CHUNK = 2**16
_DAMAGED = (zipfile.BadZipFile, zlib.error, EOFError)  # a broken archive or entry


@dataclass
class ZipReader:
    """Reads members of one layout .zip within limits, counting what it really inflates (not what it declares)."""

    z: zipfile.ZipFile
    shown: str  # the zip's own name, for messages
    max_total_bytes: int
    total: int = 0
    done: dict = field(default_factory=dict)  # member -> what the caller made of it: each distinct mask read once

    def read(self, info: zipfile.ZipInfo, limit: int) -> bytes:
        """The member's bytes: at most `limit` (and what is left of the total), reading at most one byte more;
        refused when it holds more than it declares, uses a method other than stored/deflate, or is encrypted."""
        where = f"layout file {self.shown}: {printable(info.filename)}"
        if info.compress_type not in ZIP_METHODS:
            raise UserError(f"{where}: packed with method {info.compress_type}; only stored or deflate entries are read")
        if info.flag_bits & 0x1:
            raise UserError(f"{where}: encrypted; use an unencrypted .zip")
        limit = min(limit, self.max_total_bytes - self.total)
        if info.file_size > limit:
            raise UserError(f"{where} is too large ({info.file_size} bytes; at most {limit})")
        wide = copy.copy(info)
        # zipfile stops at the declared size (and checks the CRC there): let it go past, beyond the limit + 1 and
        # the read-ahead of one chunk, so that what is read below is the member's own bytes
        wide.file_size = limit + 1 + 2 * _CHUNK
        out = bytearray()
        with self.z.open(wide) as f:  # deflate inflates at most what is asked per read (zipfile's max_length)
            while len(out) <= limit:
                chunk = f.read(min(_CHUNK, limit + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
        if len(out) > info.file_size:
            raise UserError(f"{where} holds more than it declares ({info.file_size} bytes); the .zip is damaged or forged")
        self.total += len(out)
        return bytes(out)


def layout_member(infos: dict, shown: str) -> str:
    """The layout's member: layout.json, else the zip's only .json."""
    jsons = [n for n in infos if n.endswith(".json")]
    name = LAYOUT_IN_ZIP if LAYOUT_IN_ZIP in infos else (jsons[0] if len(jsons) == 1 else None)
    if name is None:
        raise UserError(f"layout file {shown}: a .zip must hold {LAYOUT_IN_ZIP} (and its masks/ folder)")
    return name


def mask_member(infos: dict, json_name: str, rel: str, where: str, shown: str) -> str:
    """The zip member a layout's mask path names (relative to layout.json's folder, inside the archive)."""
    member = posixpath.normpath(posixpath.join(posixpath.dirname(json_name), rel.replace("\\", "/")))
    if posixpath.isabs(rel) or rel.startswith("\\") or member.startswith("../") or member not in infos:
        raise UserError(f"layout file {shown}: {where}: {printable(rel)} is not in the .zip")
    return member


def read_layout_zip(path: str | os.PathLike, *, max_json_bytes: int, max_total_bytes: int, max_objects: int | None,
                    too_many: Callable[[int], str], use_mask: Callable[[ZipReader, zipfile.ZipInfo, str], Any],
                    use_depth: Callable[[ZipReader, zipfile.ZipInfo, str], Any] | None = None
                    ) -> tuple[str, dict | Any]:
    """(layout.json's member name, its decoded JSON with each object's mask replaced by `use_mask(reader, info,
    where)`, called once per distinct mask, and with `use_depth`, the camera's depth map by `use_depth(reader,
    info, "camera.depth")`). Objects are counted (at most `max_objects`, else `too_many(n)` is the message)
    before any mask is read; every member is read within the limits by what it really holds."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            infos = {i.filename: i for i in z.infolist() if not i.is_dir()}
            name = layout_member(infos, p.name)
            reader = ZipReader(z, p.name, max_total_bytes)
            try:
                text = reader.read(infos[name], max_json_bytes).decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"layout file {p.name}: {name} is not UTF-8 text") from None
            data = decode_json(text, f"layout file {p.name}: {name}", LayoutError)  # the CLI's JSON rules
            objects = data.get("objects") if isinstance(data, dict) else None
            if isinstance(objects, list):
                if max_objects is not None and len(objects) > max_objects:  # before any mask is unzipped
                    raise UserError(too_many(len(objects)))
                resolved = []
                for i, obj in enumerate(objects):
                    if isinstance(obj, dict) and isinstance(obj.get("mask"), str):
                        where = f'objects[{i}] ("{printable(str(obj.get("name", ""))[:200])}").mask'
                        member = mask_member(infos, name, obj["mask"], where, p.name)
                        if member not in reader.done:  # objects naming the same mask: read once
                            reader.done[member] = use_mask(reader, infos[member], where)
                        obj = {**obj, "mask": reader.done[member]}
                    resolved.append(obj)  # no mask, or a wrong one that parse_layout names
                data = {**data, "objects": resolved}
            camera = data.get("camera") if isinstance(data, dict) else None
            if use_depth is not None and isinstance(camera, dict) and isinstance(camera.get("depth"), str):
                member = mask_member(infos, name, camera["depth"], "camera.depth", p.name)  # the masks' rule
                if member not in reader.done:
                    reader.done[member] = use_depth(reader, infos[member], "camera.depth")
                data = {**data, "camera": {**camera, "depth": reader.done[member]}}
    except _DAMAGED:
        raise UserError(f"layout file {p.name}: not a readable .zip (a damaged archive, or not a layout.zip)") from None
    return name, data


def is_layout_zip(path: str | os.PathLike) -> bool:
    """Whether the CLI reads `path` as the page's layout .zip (by its name: a .zip under another name is refused by
    the JSON reader, saying what it is)."""
    return Path(path).suffix.lower() == ".zip"


def _inside(root: Path, member: str, shown: str) -> Path:
    """Where `member` unpacks under `root`; refused when its name would leave it (`../`, an absolute name)."""
    target = root.joinpath(*[part for part in member.replace("\\", "/").split("/") if part not in ("", ".")])
    if ".." in member.replace("\\", "/").split("/") or not target.resolve().is_relative_to(root.resolve()):
        raise UserError(f"layout file {shown}: {printable(member)} is named outside the archive's folder")
    return target


@contextlib.contextmanager
def unpacked_layout(path: str | os.PathLike) -> Iterator[Path]:
    """The layout file to read for `path`: itself, or for a layout .zip, its layout.json unpacked with the masks it
    names into a private temporary folder (removed on exit), so that the masks-inside-the-layout's-folder rule of
    `load_layout` applies there. Limits (objects, sizes) are checked before anything is unpacked."""
    if not is_layout_zip(path):
        yield Path(path)
        return
    from iva0.layout import MAX_LAYOUT_BYTES, MAX_OBJECTS

    p = require_regular_file(path, "layout file", LayoutError)
    size = p.stat().st_size
    if size > CLI_MAX_TOTAL_BYTES:
        raise UserError(f"layout file {p.name} is too large: {size} bytes (at most {CLI_MAX_TOTAL_BYTES})")
    with tempfile.TemporaryDirectory(prefix="iva0-layout-") as tmp:
        root = Path(tmp)

        def unpack(reader: ZipReader, info: zipfile.ZipInfo, where: str) -> str:
            data = reader.read(info, CLI_MAX_TOTAL_BYTES)
            target = _inside(root, info.filename, p.name)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            return info.filename  # still relative to layout.json (masks name members next to or below it)

        name, data = read_layout_zip(
            p, max_json_bytes=MAX_LAYOUT_BYTES, max_total_bytes=CLI_MAX_TOTAL_BYTES, max_objects=MAX_OBJECTS,
            too_many=lambda n: f"objects: {n} objects; a layout has at most {MAX_OBJECTS}", use_mask=unpack,
            use_depth=unpack)  # the camera's depth map unpacks like a mask
        import json

        # masks were replaced by their member names (relative to the archive's root): make them relative to
        # layout.json's folder again, so that load_layout resolves them there
        base = posixpath.dirname(name)
        if isinstance(data, dict) and isinstance(data.get("objects"), list):
            data["objects"] = [
                {**o, "mask": posixpath.relpath(o["mask"], base or ".")} if isinstance(o, dict) and "mask" in o
                and isinstance(o["mask"], str) else o for o in data["objects"]]
        if isinstance(data, dict) and isinstance(data.get("camera"), dict) and isinstance(data["camera"].get("depth"), str):
            data["camera"] = {**data["camera"], "depth": posixpath.relpath(data["camera"]["depth"], base or ".")}
        layout_file = _inside(root, name, p.name)
        layout_file.parent.mkdir(parents=True, exist_ok=True)
        layout_file.write_text(json.dumps(data), encoding="utf-8")
        try:
            yield layout_file
        except UserError as e:  # messages name the zip, never the private folder
            text = str(e).replace(str(layout_file), f"{p.name}: {name}").replace(str(root), p.name)
            raise type(e)(text) from None
