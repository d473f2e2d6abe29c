"""Object masks in the page: an uploaded mask image, and a layout uploaded as the .zip the page downloads.

A mask is read with the layout's own rules (`iva0.segment.mask`: white, or
opaque, is the object; any size with the picture's aspect ratio; not empty),
then kept in the page's work folder as a grey PNG at the picture's size
(`WorkDir.mask_file`). Messages name files by their own names only.
"""

from __future__ import annotations

import copy
import json
import posixpath
import uuid
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from iva0.errors import LayoutError, UserError, printable
from iva0.io.json_input import decode_json
from iva0.ui.files import WorkDir
from iva0.ui.messages import page_message
from iva0.ui.pictures import Picture

LAYOUT_IN_ZIP = "layout.json"
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)  # what the page writes; bzip2/lzma inflate without a bound
_CHUNK = 2**16


def read_mask_upload(path: str | Path, pic: Picture | None, field: str, shown: str | None = None) -> np.ndarray:
    """The mask (h, w) float in [0, 1], fitted to the picture when there is one; UserError (one line) if
    unusable, naming the file as `shown` (default: its own name)."""
    from iva0.segment.mask import fit_mask, read_mask

    p = Path(path)
    try:
        mask = read_mask(p, field)
        if pic is not None:
            h, w = pic.full.shape[:2]
            mask = fit_mask(mask, w, h, field)
    except UserError as e:
        raise UserError(page_message(str(e).replace(str(p), shown or p.name))) from None
    return mask


def mask_from_upload(work: WorkDir, path: str | Path, pic: Picture, name: str) -> str:
    """An uploaded mask for object `name`, checked against the picture, as a file in the work folder."""
    return work.mask_file(read_mask_upload(path, pic, f'mask for "{name}"'))


def json_has_masks(text: str) -> bool:
    """Whether a layout's JSON names a mask for any object (without judging the rest; parse_layout does)."""
    try:
        data = json.loads(text.removeprefix("\ufeff"))  # a BOM, as decode_json allows
    except ValueError:
        return False
    objects = data.get("objects") if isinstance(data, dict) else None
    return isinstance(objects, list) and any(isinstance(o, dict) and "mask" in o for o in objects)


@dataclass
class _Unzip:
    """Reads members of one layout .zip within limits, counting what it really inflates (not what it declares)."""

    z: zipfile.ZipFile
    shown: str  # the zip's own name, for messages
    max_total_bytes: int
    total: int = 0
    masks: dict = field(default_factory=dict)  # member -> the work folder's mask file: each distinct mask read once

    def read(self, info: zipfile.ZipInfo, limit: int) -> bytes:
        """The member's bytes: at most `limit` (and what is left of the total), reading at most one byte more;
        refused when it holds more than it declares, uses a method other than stored/deflate, or is encrypted."""
        where = f"layout file {self.shown}: {info.filename}"
        if info.compress_type not in ZIP_METHODS:
            raise UserError(f"{where}: packed with method {info.compress_type}; only stored or deflate entries are read")
        if info.flag_bits & 0x1:
            raise UserError(f"{where}: encrypted; upload it unencrypted")
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


def read_layout_zip(path: str | Path, work: WorkDir, pic: Picture | None, *, max_json_bytes: int,
                    max_total_bytes: int, max_objects: int | None = None) -> dict:
    """The layout dict in a .zip the page downloaded (layout.json + masks/), its masks copied into the work
    folder and named by those files. Only layout.json and the masks it names are read, each distinct mask once,
    and only after the objects are counted (at most `max_objects`); every member is read within the limits by
    what it really holds (`_Unzip.read`)."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            infos = {i.filename: i for i in z.infolist() if not i.is_dir()}
            jsons = [n for n in infos if n.endswith(".json")]
            name = LAYOUT_IN_ZIP if LAYOUT_IN_ZIP in infos else (jsons[0] if len(jsons) == 1 else None)
            if name is None:
                raise UserError(f"layout file {p.name}: a .zip must hold {LAYOUT_IN_ZIP} (and its masks/ folder)")
            unzip = _Unzip(z, p.name, max_total_bytes)
            try:
                text = unzip.read(infos[name], max_json_bytes).decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"layout file {p.name}: {name} is not UTF-8 text") from None
            data = decode_json(text, f"layout file {p.name}: {name}", LayoutError)  # the CLI's JSON rules
            objects = data.get("objects") if isinstance(data, dict) else None
            if isinstance(objects, list):
                if max_objects is not None and len(objects) > max_objects:  # before any mask is unzipped
                    raise UserError(f"objects: {len(objects)} objects; this page handles at most {max_objects}")
                data = {**data, "objects": [_unzip_mask(unzip, infos, name, o, i, work, pic)
                                            for i, o in enumerate(objects)]}
    except zipfile.BadZipFile:
        raise UserError(f"layout file {p.name}: not a readable .zip (upload layout.json, or the .zip the page gives)") from None
    return data


def _unzip_mask(unzip: _Unzip, infos: dict, json_name: str, obj, index: int, work: WorkDir, pic: Picture | None):
    if not isinstance(obj, dict) or not isinstance(obj.get("mask"), str):
        return obj  # no mask, or a wrong one that parse_layout names
    rel = obj["mask"]
    where = f'objects[{index}] ("{printable(str(obj.get("name", "")))}").mask'
    member = posixpath.normpath(posixpath.join(posixpath.dirname(json_name), rel.replace("\\", "/")))
    if posixpath.isabs(rel) or member.startswith("../") or member not in infos:
        raise UserError(f"layout file {unzip.shown}: {where}: {rel} is not in the .zip")
    if member not in unzip.masks:  # objects naming the same mask: unzipped, decoded and resized once
        folder = work.root / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{uuid.uuid4().hex}{Path(member).suffix}"
        tmp.write_bytes(unzip.read(infos[member], unzip.max_total_bytes))  # our own folder; read back with the mask rules
        try:
            mask = read_mask_upload(tmp, pic, where, shown=member)
        finally:
            tmp.unlink(missing_ok=True)
        unzip.masks[member] = work.mask_file(mask)
    return {**obj, "mask": unzip.masks[member]}
