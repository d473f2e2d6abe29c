"""The benchmark folder: `benchmark.json` plus its images and layouts.

    {"name": "starter",
     "samples": [{"id": "coffee-cup-left", "image": "images/coffee.jpg",
                  "layout": "layouts/coffee-cup-left.json",
                  "caption": "the cup slides left across the saucer"}]}

Paths are relative to the folder. Loading validates everything up front (a
missing file, a duplicate id, a bad layout named by its sample id) so that a
long run never fails half-way on a typo.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from iva0.errors import LayoutError, UserError
from iva0.io.input_file import require_regular_file
from iva0.io.json_input import read_json
from iva0.layout import Layout, load_layout

BENCH_FILE = "benchmark.json"
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")  # safe as a file name
_TOP_KEYS = {"name", "samples", "description"}
_SAMPLE_KEYS = {"id", "image", "layout", "caption"}


class BenchmarkError(UserError):
    """A benchmark folder or file that breaks the format."""


@dataclass(frozen=True)
class BenchSample:
    id: str
    image: Path  # absolute
    layout: Layout
    layout_path: Path  # absolute
    caption: str


@dataclass(frozen=True)
class Benchmark:
    name: str
    root: Path
    samples: tuple[BenchSample, ...]

    def get(self, sample_id: str) -> BenchSample:
        for s in self.samples:
            if s.id == sample_id:
                return s
        raise BenchmarkError(f"benchmark {self.name!r} has no sample {sample_id!r}")

    @property
    def ids(self) -> list[str]:
        return [s.id for s in self.samples]


def load_benchmark(path: str | os.PathLike) -> Benchmark:
    """Load a benchmark from its folder (or its benchmark.json) and validate it."""
    p = Path(path)
    if p.is_dir():
        p = p / BENCH_FILE
    if not p.is_file():
        raise BenchmarkError(f"benchmark file not found: {p} (a benchmark is a folder with {BENCH_FILE})")
    root = p.parent.resolve()
    data = read_json(p, BenchmarkError, what="benchmark file")
    if not isinstance(data, dict):
        raise BenchmarkError(f"{p}: must be a JSON object with 'name' and 'samples'")
    unknown = sorted(set(data) - _TOP_KEYS)
    if unknown:
        raise BenchmarkError(f"{p}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(sorted(_TOP_KEYS))}")
    name = data.get("name", root.name)
    if not isinstance(name, str) or not name.strip():
        raise BenchmarkError(f"{p}: 'name' must be a non-empty string")
    raw = data.get("samples")
    if not isinstance(raw, list) or not raw:
        raise BenchmarkError(f"{p}: 'samples' must be a non-empty list")
    samples: list[BenchSample] = []
    seen: set[str] = set()
    for i, s in enumerate(raw):
        samples.append(_parse_sample(s, i, root, seen))
    return Benchmark(name=name.strip(), root=root, samples=tuple(samples))


def _parse_sample(s, index: int, root: Path, seen: set[str]) -> BenchSample:
    where = f"samples[{index}]"
    if not isinstance(s, dict):
        raise BenchmarkError(f"{where}: must be an object with id, image, layout, caption")
    sid = s.get("id")
    if not isinstance(sid, str) or not ID_PATTERN.match(sid):
        raise BenchmarkError(
            f"{where}.id: must be a string of letters, digits, '_', '-', '.' (a file name), got {sid!r}"
        )
    where = f"sample {sid!r}"
    if sid in seen:
        raise BenchmarkError(f"{where}: duplicate id (ids must be unique; they name the videos)")
    seen.add(sid)
    unknown = sorted(set(s) - _SAMPLE_KEYS)
    if unknown:
        raise BenchmarkError(f"{where}: unknown field(s) {', '.join(map(repr, unknown))}; allowed: caption, id, image, layout")
    for key in ("image", "layout"):
        if not isinstance(s.get(key), str) or not s[key]:
            raise BenchmarkError(f"{where}.{key}: must be a path relative to the benchmark folder")
    caption = s.get("caption", "")
    if not isinstance(caption, str):
        raise BenchmarkError(f"{where}.caption: must be a string")
    image = _inside(root, s["image"], f"{where}.image")
    layout_path = _inside(root, s["layout"], f"{where}.layout")
    # a folder or a FIFO says so (it read 'file not found'); a FIFO would block the reader
    require_regular_file(image, f"{where}.image: file", BenchmarkError)
    require_regular_file(layout_path, f"{where}.layout: file", BenchmarkError)
    try:
        layout = load_layout(layout_path, mask_root=root, mask_root_name="the benchmark folder")
    except LayoutError as e:
        raise BenchmarkError(f"{where}: bad layout {s['layout']}: {e}") from None
    return BenchSample(id=sid, image=image, layout=layout, layout_path=layout_path, caption=caption)


def check_masks(samples) -> None:
    """Before any compute: every sample's layout masks are readable, non-empty and of its picture's aspect ratio
    (decoding them is too slow for every load of a benchmark, so `bench run` and `bench eval` call this for the
    samples they will use). One error naming the sample, not a failure per sample or a score without it."""
    from iva0.segment.mask import check_layout_masks

    _check_files(samples, lambda layout: any(o.mask is not None for o in layout.objects), check_layout_masks)


def check_depth_files(samples) -> None:
    """Before any compute: every depth map a sample's camera names for its parallax (`camera.depth`) is readable
    and of its picture's aspect ratio, as `iva0 animate` checks it; one error naming the sample, before a model
    loads, not that sample's failure half-way through the run. A layout with parallax and no depth file needs
    the method's depth model, which the backend's own check_layout asks for."""
    from iva0.depth import check_depth, needs_depth

    _check_files(samples, lambda layout: needs_depth(layout) and layout.camera.depth is not None, check_depth)


def _check_files(samples, names_files, check) -> None:
    """check(layout, width, height) for each sample whose layout `names_files`, against its picture's size; a
    LayoutError becomes one BenchmarkError naming the sample."""
    from iva0.io.image import picture_size

    for s in samples:
        if not names_files(s.layout):
            continue
        size = picture_size(s.image)
        if size is None:
            continue  # an unreadable picture fails its sample as before, with read_image's message
        try:
            check(s.layout, *size)
        except LayoutError as e:
            raise BenchmarkError(f"sample {s.id!r}: {e}") from None


def _inside(root: Path, rel: str, where: str) -> Path:
    p = (root / rel).resolve()
    if Path(rel).is_absolute() or not p.is_relative_to(root):
        raise BenchmarkError(f"{where}: must be a path inside the benchmark folder, got {rel!r}")
    return p
