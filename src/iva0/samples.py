"""Sample pictures and layouts that ship inside the package (data/samples)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from iva0.errors import UserError

DEFAULT_SAMPLE = "coffee"


@dataclass(frozen=True)
class Sample:
    name: str
    image: Path
    layout: Path
    description: str


def samples_dir() -> Path:
    return Path(str(resources.files("iva0") / "data" / "samples"))


def list_samples() -> list[Sample]:
    root = samples_dir()
    index = json.loads((root / "index.json").read_text())
    return [
        Sample(name=s["name"], image=root / s["image"], layout=root / s["layout"], description=s["description"])
        for s in index["samples"]
    ]


def get_sample(name: str) -> Sample:
    for s in list_samples():
        if s.name == name:
            return s
    raise UserError(f"unknown sample {name!r}; choose one of: {', '.join(s.name for s in list_samples())}")


def default_sample() -> Sample:
    return get_sample(DEFAULT_SAMPLE)
