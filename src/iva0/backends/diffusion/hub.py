"""Resolving a model source: a local path as is, a Hugging Face repo id from the local cache."""

from __future__ import annotations

import re
from pathlib import Path

from iva0.errors import ModelError, one_line

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_source(source: str | Path, role: str, *, allow_download: bool = False) -> Path:
    """A local file/folder as is; an HF repo id from the local cache (or the Hub when `allow_download`)."""
    path = Path(source).expanduser()
    if path.exists():
        return path
    text = str(source)
    if REPO_ID.match(text) and not text.startswith((".", "/")):
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HFValidationError, LocalEntryNotFoundError

        try:
            return Path(snapshot_download(
                text,
                local_files_only=not allow_download,
                # never fetch pickles, whatever the repo holds
                allow_patterns=["*.json", "*.txt", "*.safetensors", "*.safetensors.index.json"],
            ))
        except (LocalEntryNotFoundError, FileNotFoundError):
            hint = (f"download it first: hf download {text} --include '*.json' --include '*.txt' --include '*.safetensors'"
                    if not allow_download else "check the name")
            raise ModelError(f"{role} {text}: not a local path and not in the Hugging Face cache; {hint}") from None
        except (HFValidationError, OSError, ValueError) as e:
            raise ModelError(f"{role} {text}: {one_line(e)}") from None
    raise ModelError(f"{role} {text}: no such file or folder")

