"""Object masks in the page: an uploaded mask image, and a layout uploaded as the .zip the page downloads.

A mask is read with the layout's own rules (`iva0.segment.mask`: white, or
opaque, is the object; any size with the picture's aspect ratio; not empty),
then kept in the page's work folder as a grey PNG at the picture's size
(`WorkDir.mask_file`). Messages name files by their own names only.
"""

from __future__ import annotations

import json
import posixpath
import uuid
import zipfile
from pathlib import Path

import numpy as np

from iva0.errors import LayoutError, UserError
from iva0.io.json_input import decode_json
from iva0.ui.files import WorkDir
from iva0.ui.messages import page_message
from iva0.ui.pictures import Picture

LAYOUT_IN_ZIP = "layout.json"


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


def read_layout_zip(path: str | Path, work: WorkDir, pic: Picture | None, *, max_json_bytes: int,
                    max_total_bytes: int) -> dict:
    """The layout dict in a .zip the page downloaded (layout.json + masks/), its masks copied into the work
    folder and named by those files. Only layout.json and the masks it names are read."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            infos = {i.filename: i for i in z.infolist() if not i.is_dir()}
            if sum(i.file_size for i in infos.values()) > max_total_bytes:
                raise UserError(f"layout file {p.name}: unpacks to more than {max_total_bytes // 2**20} MB")
            jsons = [n for n in infos if n.endswith(".json")]
            name = LAYOUT_IN_ZIP if LAYOUT_IN_ZIP in infos else (jsons[0] if len(jsons) == 1 else None)
            if name is None:
                raise UserError(f"layout file {p.name}: a .zip must hold {LAYOUT_IN_ZIP} (and its masks/ folder)")
            if infos[name].file_size > max_json_bytes:
                raise UserError(f"layout file {p.name}: {name} is too large (at most {max_json_bytes} bytes)")
            try:
                text = z.read(name).decode("utf-8")
            except UnicodeDecodeError:
                raise UserError(f"layout file {p.name}: {name} is not UTF-8 text") from None
            data = decode_json(text, f"layout file {p.name}: {name}", LayoutError)  # the CLI's JSON rules
            objects = data.get("objects") if isinstance(data, dict) else None
            if isinstance(objects, list):
                data = {**data, "objects": [_unzip_mask(z, infos, name, o, i, work, pic, p.name)
                                            for i, o in enumerate(objects)]}
    except zipfile.BadZipFile:
        raise UserError(f"layout file {p.name}: not a readable .zip (upload layout.json, or the .zip the page gives)") from None
    return data


def _unzip_mask(z: zipfile.ZipFile, infos: dict, json_name: str, obj, index: int, work: WorkDir,
                pic: Picture | None, zip_name: str):
    if not isinstance(obj, dict) or not isinstance(obj.get("mask"), str):
        return obj  # no mask, or a wrong one that parse_layout names
    rel = obj["mask"]
    where = f'objects[{index}] ("{obj.get("name", "")}").mask'
    member = posixpath.normpath(posixpath.join(posixpath.dirname(json_name), rel.replace("\\", "/")))
    if posixpath.isabs(rel) or member.startswith("../") or member not in infos:
        raise UserError(f"layout file {zip_name}: {where}: {rel} is not in the .zip")
    folder = work.root / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{uuid.uuid4().hex}{Path(member).suffix}"
    tmp.write_bytes(z.read(member))  # our own folder; read back with the layout's mask rules
    try:
        mask = read_mask_upload(tmp, pic, where, shown=member)
    finally:
        tmp.unlink(missing_ok=True)
    return {**obj, "mask": work.mask_file(mask)}
