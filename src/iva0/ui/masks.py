"""Object masks in the page: an uploaded mask image, and a layout uploaded as the .zip the page downloads.

A mask is read with the layout's own rules (`iva0.segment.mask`: white, or
opaque, is the object; any size with the picture's aspect ratio; not empty),
then kept in the page's work folder as a grey PNG at the picture's size
(`WorkDir.mask_file`). Messages name files by their own names only.
"""

from __future__ import annotations

import json
import uuid
import zipfile
from pathlib import Path

import numpy as np

from iva0 import layout_zip
from iva0.errors import UserError
from iva0.layout_zip import LAYOUT_IN_ZIP, ZIP_METHODS, ZipReader  # noqa: F401 - the page's names for them
from iva0.ui.files import WorkDir
from iva0.ui.messages import page_message
from iva0.ui.pictures import Picture


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
    except (ValueError, RecursionError):  # not JSON, or nested too deeply: parse_layout_json says which
        return False
    objects = data.get("objects") if isinstance(data, dict) else None
    return isinstance(objects, list) and any(isinstance(o, dict) and "mask" in o for o in objects)


def read_layout_zip(path: str | Path, work: WorkDir, pic: Picture | None, *, max_json_bytes: int,
                    max_total_bytes: int, max_objects: int | None = None, written: list[Path] | None = None) -> dict:
    """The layout dict in a .zip the page downloaded (layout.json + masks/), its masks copied into the work
    folder and named by those files (those it wrote added to `written`). Read with `iva0.layout_zip` (the CLI's
    reader too): only layout.json and the masks it names, each distinct mask once, after the objects are counted
    (at most `max_objects`), every member within the limits by what it really holds."""

    def to_work(reader: ZipReader, info: zipfile.ZipInfo, where: str) -> str:
        folder = work.root / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{uuid.uuid4().hex}{Path(info.filename).suffix}"
        tmp.write_bytes(reader.read(info, reader.max_total_bytes))  # our own folder; read back with the mask rules
        try:
            mask = read_mask_upload(tmp, pic, where, shown=info.filename)
        finally:
            tmp.unlink(missing_ok=True)
        return work.mask_file(mask, written)

    _, data = layout_zip.read_layout_zip(
        path, max_json_bytes=max_json_bytes, max_total_bytes=max_total_bytes, max_objects=max_objects,
        too_many=lambda n: f"objects: {n} objects; this page handles at most {max_objects}", use_mask=to_work)
    return data
