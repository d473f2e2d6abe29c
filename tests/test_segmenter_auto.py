"""`--segmenter auto` (the default): SAM 2 when one is known, from a flag, IVA0_SAM2_MODEL or the local
Hugging Face cache; else GrabCut. The CLI's first progress line says which one cut the objects out."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from iva0.layout import make_layout
from iva0.segment import SAM2_HINT, cached_sam2, describe_segmenter, resolve_segmenter
from iva0_test_helpers import run_cli as run


@pytest.fixture(scope="module")
def tiny_sam2(tmp_path_factory):
    from iva0.segment.sam2 import write_random_sam2

    return write_random_sam2(tmp_path_factory.mktemp("sam2"), tiny=True)


def put_in_hf_cache(cache, repo: str, folder) -> str:
    """`folder` as the snapshot of `repo` in an HF cache laid out as huggingface_hub writes it."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    root = cache / f"models--{repo.replace('/', '--')}"
    (root / "refs").mkdir(parents=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    shutil.copytree(folder, snap)
    return str(snap)


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    from huggingface_hub import constants

    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("IVA0_SAM2_MODEL", raising=False)
    return cache


def test_auto_is_grabcut_with_an_empty_cache(hf_cache):
    assert cached_sam2() is None
    assert resolve_segmenter("auto") == ("grabcut", None)
    assert resolve_segmenter(None) == ("grabcut", None)
    line = describe_segmenter(None)
    assert line.startswith("cut-outs: GrabCut") and SAM2_HINT in line


def test_auto_takes_a_sam2_model_from_the_hf_cache(hf_cache, tiny_sam2):
    snap = put_in_hf_cache(hf_cache, "facebook/sam2.1-hiera-small", tiny_sam2)
    assert cached_sam2() == snap
    assert resolve_segmenter("auto") == ("sam2", snap)
    assert describe_segmenter("auto") == f"cut-outs: SAM 2 ({snap})"
    # the smallest cached one wins: fast on a CPU (a larger one is named with --segmenter-model)
    tiny_snap = put_in_hf_cache(hf_cache, "facebook/sam2.1-hiera-tiny", tiny_sam2)
    assert resolve_segmenter("auto") == ("sam2", tiny_snap)
    # an explicit segmenter or folder still rules
    assert resolve_segmenter("grabcut") == ("grabcut", None)
    assert resolve_segmenter("auto", "/elsewhere") == ("sam2", "/elsewhere")


def test_auto_ignores_cache_entries_that_are_not_transformers_sam2(hf_cache, tiny_sam2, tmp_path):
    no_weights = tmp_path / "no-weights"
    no_weights.mkdir()
    (no_weights / "config.json").write_text((tiny_sam2 / "config.json").read_text())  # the original .pt layout has no safetensors
    put_in_hf_cache(hf_cache, "facebook/sam2.1-hiera-tiny", no_weights)
    other = tmp_path / "other"
    other.mkdir()
    (other / "config.json").write_text(json.dumps({"model_type": "sam"}))
    (other / "model.safetensors").write_bytes(b"")
    put_in_hf_cache(hf_cache, "facebook/sam2.1-hiera-small", other)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    put_in_hf_cache(hf_cache, "facebook/sam2.1-hiera-base-plus", broken)
    assert cached_sam2() is None
    assert resolve_segmenter("auto") == ("grabcut", None)


def scene(tmp_path):
    img = np.full((96, 128, 3), 90, np.uint8)
    img[30:66, 20:60] = (230, 60, 40)
    Image.fromarray(img).save(tmp_path / "pic.png")
    make_layout([("block", [(0, [0.14, 0.29, 0.49, 0.71]), (3, [0.5, 0.29, 0.85, 0.71])])], num_frames=4).save(tmp_path / "l.json")
    return tmp_path / "pic.png", tmp_path / "l.json"


def test_cli_first_line_names_the_segmenter(hf_cache, tiny_sam2, tmp_path, capsys):
    pic, lay = scene(tmp_path)
    code, _, err = run(["animate", pic, "-l", lay, "-o", tmp_path / "a.mp4"], capsys)
    assert code == 0, err
    first = err.strip().splitlines()[0]
    assert first.startswith("cut-outs: GrabCut") and SAM2_HINT in first, err
    code, _, err = run(["animate", pic, "-l", lay, "-o", tmp_path / "q.mp4", "-q"], capsys)
    assert code == 0 and "cut-outs" not in err, err
    snap = put_in_hf_cache(hf_cache, "facebook/sam2.1-hiera-tiny", tiny_sam2)
    code, _, err = run(["animate", pic, "-l", lay, "-o", tmp_path / "b.mp4"], capsys)
    assert code == 0 and (tmp_path / "b.mp4").exists(), err
    assert err.strip().splitlines()[0] == f"cut-outs: SAM 2 ({snap})", err
    code, _, err = run(["animate", pic, "-l", lay, "-o", tmp_path / "c.mp4", "--segmenter", "grabcut"], capsys)
    assert code == 0 and err.strip().splitlines()[0].startswith("cut-outs: GrabCut"), err
