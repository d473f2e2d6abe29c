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
