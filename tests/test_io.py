from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iva0.errors import ImageError, UserError
from iva0.io.atomic import atomic_path, is_partial
from iva0.io.image import fit_size, read_image
from iva0.io.video import read_video, write_video


def frames(F=6, H=36, W=50):
    rng = np.random.default_rng(0)
    # smooth content (8 px blocks): H.264 with 4:2:0 chroma cannot keep per-pixel colour noise
    base = np.kron(rng.integers(0, 255, (H // 8 + 1, W // 8 + 1, 3), dtype=np.uint8), np.ones((8, 8, 1), np.uint8))[:H, :W]
    return np.stack([np.roll(base, 2 * f, axis=1) for f in range(F)])


def test_read_rgba_grey_palette(tmp_path):
    rgba = np.zeros((10, 12, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:5, ..., 3] = 255  # bottom half transparent -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    im = read_image(tmp_path / "a.png")
    assert im.shape == (10, 12, 3) and im.dtype == np.uint8
    assert tuple(im[0, 0]) == (200, 0, 0) and tuple(im[9, 0]) == (255, 255, 255)
    Image.fromarray(np.full((8, 9), 77, np.uint8), "L").save(tmp_path / "g.jpg")
    assert read_image(tmp_path / "g.jpg").shape == (8, 9, 3)
    Image.fromarray(np.full((8, 9), 3, np.uint8), "L").convert("P").save(tmp_path / "p.webp")
    assert read_image(tmp_path / "p.webp").shape == (8, 9, 3)



@pytest.mark.parametrize("values, expect", [
    (np.linspace(0, 1, 400, dtype=np.float32).reshape(20, 20), (0, 255)),  # 32-bit float, 0..1: read black before
    (np.linspace(0, 1000, 400, dtype=np.float32).reshape(20, 20), (0, 255)),  # float over 1: scaled by its maximum
    (np.linspace(-500, 1000, 400).astype(np.int32).reshape(20, 20), (0, 255)),  # negative ints: wrapped round before
])
def test_float_and_signed_greyscale_pictures_keep_their_range(tmp_path, values, expect):
    """32-bit float greyscale TIFFs (mode F) read all black, and negative 32-bit ints wrapped round uint8."""
    Image.fromarray(values).save(tmp_path / "g.tiff")
    im = read_image(tmp_path / "g.tiff")
    assert (im.min(), im.max()) == expect
    assert im[0, 0, 0] == 0 and np.all(np.diff(im[..., 0].ravel().astype(int)) >= 0)  # the ramp stays a ramp


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_float_picture_with_non_finite_values_is_refused(tmp_path, bad):
    values = np.zeros((20, 20), np.float32)
    values[3, 4] = bad
    Image.fromarray(values).save(tmp_path / "g.tiff")
    with pytest.raises(ImageError, match="non-finite"):
        read_image(tmp_path / "g.tiff")

def test_exif_orientation(tmp_path):
    im = Image.fromarray(np.zeros((10, 20, 3), np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 when shown
    im.save(tmp_path / "r.jpg", exif=exif)
    assert read_image(tmp_path / "r.jpg").shape == (20, 10, 3)


def test_refuse_bad_images(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"not an image at all")
    with pytest.raises(ImageError, match="cannot read image"):
        read_image(tmp_path / "bad.png")
    with pytest.raises(ImageError, match="not found"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(ImageError, match="folder"):
        read_image(tmp_path)
    Image.fromarray(np.zeros((4, 40, 3), np.uint8)).save(tmp_path / "wide.png")
    with pytest.raises(ImageError, match="too large"):
        read_image(tmp_path / "wide.png", max_side=32)
    # truncated file
    Image.fromarray(frames()[0]).save(tmp_path / "t.jpg")
    data = (tmp_path / "t.jpg").read_bytes()
    (tmp_path / "t.jpg").write_bytes(data[: len(data) // 3])
    with pytest.raises(ImageError):
        read_image(tmp_path / "t.jpg")


def test_fit_size():
    assert fit_size(600, 400) == (600, 400)
    assert fit_size(2000, 1000, max_side=1024) == (1024, 512)
    assert fit_size(600, 400, 300) == (300, 200)
    assert fit_size(600, 400, target_height=101) == (152, 100)
    assert fit_size(600, 400, 130, 130, multiple=64) == (128, 128)


@pytest.mark.parametrize("name", ["v.mp4", "v.gif", "frames_dir"])
def test_video_roundtrip(tmp_path, name):
    fr = frames()
    out = write_video(fr, tmp_path / name, fps=8)
    back, fps = read_video(out)
    assert back.shape == fr.shape  # every frame differs, so GIF keeps them all
    if name.endswith(".mp4"):
        assert fps == pytest.approx(8)
        assert np.abs(back.astype(int) - fr).mean() < 8  # lossy but close
    elif name == "frames_dir":
        np.testing.assert_array_equal(back, fr)
    assert not [p for p in tmp_path.iterdir() if is_partial(p)]


def test_odd_sizes_are_padded_not_cropped(tmp_path):
    fr = frames(H=35, W=51)
    back, _ = read_video(write_video(fr, tmp_path / "odd.mp4", 8))
    assert back.shape == (6, 36, 52, 3)


def test_unsupported_suffix(tmp_path):
    with pytest.raises(UserError, match="unsupported"):
        write_video(frames(), tmp_path / "x.avi", 8)


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.mp4") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_outputs_get_the_umask_mode_not_private(tmp_path):
    import os

    old = os.umask(0o022)
    try:
        out = write_video(frames(), tmp_path / "m.mp4", 8)
    finally:
        os.umask(old)
    assert out.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("name", ["v.mp4", "v.gif", "frames"])
def test_write_video_failing_half_way_leaves_nothing_at_the_final_name(tmp_path, monkeypatch, name):
    """write_video writes under a temporary name and renames: a writer that dies half-way leaves
    neither a file at the final name nor its temporary, and an older output stays as it was."""
    import iva0.io.video as video
    from PIL import Image

    written = []

    def half_mp4(frames, path, fps):
        path.write_bytes(b"\x00\x00\x00\x20ftypisom" + b"\x00" * 100)  # half a file
        written.append(path)
        raise OSError(28, "No space left on device")

    real_save = Image.Image.save
    fail_at = 1 if name.endswith(".gif") else 3  # the GIF's one save; the third PNG frame

    def half_save(self, fp, *a, **k):
        real_save(self, fp, *a, **k)
        written.append(Path(fp))
        if len(written) == fail_at:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(video, "_write_mp4", half_mp4)
    monkeypatch.setattr(Image.Image, "save", half_save)
    final = tmp_path / name
    with pytest.raises(OSError):
        write_video(frames(), final, 8)
    assert written and all(p != final and final not in p.parents for p in written)  # never the final name
    assert not final.exists() and list(tmp_path.iterdir()) == []  # and no temporary left


def test_write_video_failing_keeps_the_previous_output(tmp_path, monkeypatch):
    import iva0.io.video as video

    final = write_video(frames(), tmp_path / "v.mp4", 8)
    before = final.read_bytes()

    def broken(frames, path, fps):
        path.write_bytes(b"half")
        raise RuntimeError("encoder died")

    monkeypatch.setattr(video, "_write_mp4", broken)
    with pytest.raises(RuntimeError):
        write_video(frames(), final, 8)
    assert final.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["v.mp4"]
