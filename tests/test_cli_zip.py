"""`iva0 animate/preview IMAGE -l layout.zip`: the zip the page downloads (layout.json + masks/), read through the
same bounded reader as the page (iva0.layout_zip), unpacked into a private temporary folder that is removed
afterwards; a bad zip is one `error:` line, exit 2, nothing written (issue 16 §2)."""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from test_hardening_inputs import _layout_data, _mask, _understate, _zip
from test_output_rule import refused, run, scene  # noqa: F401 - scene is a fixture


@pytest.fixture
def private_tmp(tmp_path_factory, monkeypatch) -> Path:
    """Where tempfile makes its folders during the test: empty again after every command."""
    d = tmp_path_factory.mktemp("private")
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d


def _good_zip(scene: Path, name="layout.zip", n_objects=1) -> Path:
    mask = _mask(scene / "m.png").read_bytes()
    (scene / "m.png").unlink()
    return _zip(scene / name, {"layout.json": json.dumps(_layout_data(n_objects=n_objects)), "masks/m.png": mask})


def test_animate_and_preview_read_the_page_zip(scene, capsys, private_tmp):
    z = _good_zip(scene)
    code, out, err = run(["animate", "photo.png", "-l", "layout.zip", "-o", "out.mp4", "-q"], capsys)
    assert code == 0, err
    assert (scene / "out.mp4").is_file()
    code, out, err = run(["preview", "photo.png", "-l", str(z), "-o", "prev.gif"], capsys)
    assert code == 0, err
    assert (scene / "prev.gif").is_file()
    assert list(private_tmp.iterdir()) == []  # the unpacked layout and masks are removed afterwards


def test_zip_matches_the_unzipped_layout_frame_for_frame(scene, capsys, private_tmp):
    """Round trip: the page's own download code makes the zip; the CLI animates it exactly as the unzipped layout."""
    pytest.importorskip("gradio")
    from iva0.io.video import read_video
    from iva0.layout import parse_layout
    from iva0.ui.files import WorkDir

    work = WorkDir(scene / "work")
    mask = _mask(scene / "work" / "m.png")
    data = _layout_data(mask=str(mask))
    zipped = Path(work.layout_file(parse_layout(data)))
    assert zipped.name == "layout.zip"
    with zipfile.ZipFile(zipped) as z:
        assert any(n.startswith("masks/") for n in z.namelist())
        z.extractall(scene / "unzipped")
    assert run(["animate", "photo.png", "-l", str(zipped), "-o", "zip", "-q"], capsys)[0] == 0
    assert run(["animate", "photo.png", "-l", "unzipped/layout.json", "-o", "dir", "-q"], capsys)[0] == 0
    from_zip = sorted((scene / "zip").glob("*.png"))
    from_dir = sorted((scene / "dir").glob("*.png"))
    assert len(from_zip) == len(from_dir) == 4
    for a, b in zip(from_zip, from_dir):
        assert np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))
    # and the mask really counts: without it the frames differ
    (scene / "unzipped" / "layout.json").write_text(json.dumps(_layout_data(mask=None)))
    assert run(["animate", "photo.png", "-l", "unzipped/layout.json", "-o", "bare", "-q"], capsys)[0] == 0
    bare = sorted((scene / "bare").glob("*.png"))
    assert not all(np.array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b))) for a, b in zip(from_zip, bare))
    assert list(private_tmp.iterdir()) == []
    del read_video


@pytest.mark.parametrize("command", ["animate", "preview"])
def test_bad_zips_are_one_line_and_write_nothing(scene, capsys, private_tmp, command):
    mask = _mask(scene / "m.png").read_bytes()
    (scene / "m.png").unlink()
    cases = {}
    cases["bz.zip"] = (_zip(scene / "bz.zip", {"layout.json": json.dumps(_layout_data(mask=None))}, zipfile.ZIP_BZIP2),
                       "only stored or deflate")
    lie = _zip(scene / "lie.zip", {"layout.json": json.dumps(_layout_data(mask=None)) + " " * 5000})
    _understate(lie, "layout.json", 900)
    cases["lie.zip"] = (lie, "more than it declares")
    cases["up.zip"] = (_zip(scene / "up.zip", {"layout.json": json.dumps(_layout_data(mask="../x.png")),
                                               "masks/m.png": mask}), "../x.png is not in the .zip")
    cases["abs.zip"] = (_zip(scene / "abs.zip", {"layout.json": json.dumps(_layout_data(mask=str(scene / "m.png"))),
                                                 "masks/m.png": mask}), "is not in the .zip")
    cases["many.zip"] = (_zip(scene / "many.zip", {"layout.json": json.dumps(_layout_data(n_objects=65)),
                                                   "masks/m.png": mask}), "65 objects; a layout has at most 64")
    cases["none.zip"] = (_zip(scene / "none.zip", {"masks/m.png": mask}), "must hold layout.json")
    cases["missing.zip"] = (_zip(scene / "missing.zip", {"layout.json": json.dumps(_layout_data())}),
                            "masks/m.png is not in the .zip")
    cases["sub.zip"] = (_zip(scene / "sub.zip", {"a/layout.json": json.dumps(_layout_data(mask="../b/m.png")),
                                                 "b/m.png": mask}), "must be inside the layout's folder")
    (scene / "broken.zip").write_bytes(b"PK\x03\x04 not really")
    cases["broken.zip"] = (scene / "broken.zip", "not a readable .zip")
    (scene / "out.mp4").write_bytes(b"not ours")
    for name, (path, message) in cases.items():
        args = [command, "photo.png", "-l", path.name, "-o", "new.mp4"] + (["-q"] if command == "animate" else [])
        line = refused(args, capsys, scene, message)
        assert "Traceback" not in line, name
    assert list(private_tmp.iterdir()) == []


def test_zip_counts_objects_before_unpacking_any_mask(scene, capsys, private_tmp, monkeypatch):
    import iva0.layout_zip as layout_zip

    reads = []
    real = layout_zip.ZipReader.read
    monkeypatch.setattr(layout_zip.ZipReader, "read", lambda self, info, limit: reads.append(info.filename)
                        or real(self, info, limit))
    _good_zip(scene, "many.zip", n_objects=65)
    refused(["animate", "photo.png", "-l", "many.zip", "-o", "o.mp4", "-q"], capsys, scene, "at most 64")
    assert reads == ["layout.json"]
    reads.clear()
    _good_zip(scene, "ok.zip", n_objects=64)
    assert run(["preview", "photo.png", "-l", "ok.zip", "-o", "p.gif"], capsys)[0] == 0
    assert reads == ["layout.json", "masks/m.png"]  # a mask named 64 times is unpacked once


def test_the_zip_is_an_input_of_the_output_rule(scene, capsys, private_tmp):
    _good_zip(scene, "layout.zip")
    before = (scene / "layout.zip").read_bytes()
    refused(["animate", "photo.png", "-l", "layout.zip", "-o", "layout.zip", "-q"], capsys, scene, "layout.zip")
    refused(["preview", "photo.png", "-l", "layout.zip", "-o", "layout.zip"], capsys, scene, "layout.zip")
    assert (scene / "layout.zip").read_bytes() == before


def test_zip_over_the_size_limits_is_refused(scene, capsys, private_tmp, monkeypatch):
    import iva0.layout_zip as layout_zip

    big = _zip(scene / "big.zip", {"layout.json": json.dumps(_layout_data(mask=None)) + " " * (5 * 2**20)})
    refused(["animate", "photo.png", "-l", big.name, "-o", "o.mp4", "-q"], capsys, scene, "too large")
    monkeypatch.setattr(layout_zip, "CLI_MAX_TOTAL_BYTES", len(json.dumps(_layout_data())) + 10)  # not the mask too
    _good_zip(scene, "ok.zip")
    refused(["animate", "photo.png", "-l", "ok.zip", "-o", "o.mp4", "-q"], capsys, scene, "too large")


def test_page_and_cli_share_one_zip_reader_below_the_page():
    from test_architecture import imports

    g = imports()
    assert "iva0.layout_zip" in g["iva0.ui.masks"] and "iva0.layout_zip" in g["iva0.cli.animate"]
    assert not any(d.startswith(("iva0.ui", "iva0.cli")) for d in g["iva0.layout_zip"])
    import iva0.ui.masks as ui_masks

    assert not hasattr(ui_masks, "_Unzip")  # no second copy of the bounded reader in the page
