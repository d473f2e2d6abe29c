"""Background, afterimage and warp-error metrics on synthetic cases with known answers."""

import numpy as np
import pytest

from iva0.metrics.consistency import PSNR_CAP, grey
from iva0.metrics.scene import afterimage, background_psnr, background_ssim, ncc, warp_error
from iva0.metrics.synthetic import linear_boxes, moving_patch_video, texture

H = W = 128
F = 8


def _mask():
    m = np.zeros((H, W), bool)
    m[:, 64:] = True  # right half is "never occupied"
    return m


def test_background_psnr_known_value():
    ref = texture(H, W, seed=0)
    frames = np.repeat(ref[None], F, axis=0).astype(np.int16)
    frames[1:, :, 64:] += 10  # every background pixel off by 10 -> MSE 100
    frames[1:, :, :64] = 0  # changes outside the mask do not count
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    ok = (ref[:, 64:].astype(int) + 10) <= 255
    assert ok.mean() > 0.9
    # exact expected value accounts for the few pixels clipped at 255
    d = (frames[1:, :, 64:].astype(float) - ref[:, 64:].astype(float)) ** 2
    assert background_psnr(frames, ref, _mask()) == pytest.approx(10 * np.log10(255**2 / d.mean()))
    assert background_psnr(np.repeat(ref[None], F, 0), ref, _mask()) == PSNR_CAP
    assert background_psnr(frames, ref, np.zeros((H, W), bool)) is None


def test_background_ssim():
    ref = texture(H, W, seed=0)
    same = np.repeat(ref[None], F, axis=0)
    assert background_ssim(same, ref, _mask()) == pytest.approx(1.0)
    changed = same.copy()
    changed[1:, :, :48] = 0  # far from the mask (more than the SSIM window away)
    assert background_ssim(changed, ref, _mask()) == pytest.approx(1.0, abs=1e-6)
    noisy = same.copy()
    noisy[1:, :, 64:] = texture(H, 64, seed=9, blur=0)
    assert background_ssim(noisy, ref, _mask()) < 0.3


def test_ncc():
    a = np.arange(10.0)
    assert ncc(a, 2 * a + 5) == pytest.approx(1.0)
    assert ncc(a, -a) == pytest.approx(-1.0)
    assert ncc(a, np.ones(10)) == 0.0


def _vacated(boxes):
    """V(f) for one object: its frame-0 box minus its box at f (pixel boxes)."""
    V = np.zeros((len(boxes), H, W), np.float32)
    x0, y0, x1, y1 = np.round(boxes[0]).astype(int)
    for f in range(1, len(boxes)):
        V[f, y0:y1, x0:x1] = 1
        a0, b0, a1, b1 = np.round(boxes[f]).astype(int)
        V[f, max(0, b0) : b1, max(0, a0) : a1] = 0
    return V


def test_afterimage_known_cases():
    boxes = linear_boxes([10, 10, 50, 50], [70, 60, 110, 100], F)
    clean = moving_patch_video(boxes, H, W, seed=2)  # background shows where the patch was
    ghost = moving_patch_video(boxes, H, W, seed=2, fill_vacated=False)  # patch left behind
    V = _vacated(boxes)
    ref = clean[0]
    assert afterimage(np.repeat(ref[None], F, 0), ref, V) == pytest.approx(1.0)  # still video: all ghost
    assert afterimage(ghost, ref, V) == pytest.approx(1.0)
    assert afterimage(clean, ref, V) < 0.15
    # a half-faded ghost still correlates fully with the object
    faded = clean.astype(np.float32)
    faded = ((faded + ghost.astype(np.float32)) / 2).astype(np.uint8)
    assert afterimage(faded, ref, V) > 0.9
    flat = clean.copy()
    flat[:, 10:50, 10:50] = 128
    flat[0] = ref
    vals = afterimage(flat, ref, V)
    assert vals is not None and vals < 0.15
    # nothing moved away -> None
    assert afterimage(clean, ref, np.zeros_like(V)) is None


def test_warp_error_known_cases():
    base = texture(H, W + 40, seed=4, blur=1.0)
    still = np.repeat(base[None, :, :W], F, axis=0)
    assert warp_error(still) == pytest.approx(0.0, abs=1e-6)
    # the camera pans by 2 px a frame: flow explains it
    pan = np.stack([base[:, 2 * f : 2 * f + W] for f in range(F)])
    e_pan = warp_error(pan)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(F, H, W, 3), dtype=np.uint8)  # unrelated frames
    e_noise = warp_error(noise)
    assert e_pan < 0.03
    assert e_noise > 0.2
    # flicker: brightness alternating by 40 grey levels -> error ~ 40/255
    flick = still.astype(np.int16)
    flick[1::2] += 40
    flick = np.clip(flick, 0, 255).astype(np.uint8)
    assert warp_error(flick) == pytest.approx(40 / 255, abs=0.03)
    assert warp_error(still[:1]) is None


def test_afterimage_clamps_negative_correlation_to_zero():
    """A vacated region that is the negative of the object (NCC = -1) scores 0, not -1:
    anti-correlation is no afterimage, and must not pull a run's mean below a clean one."""
    boxes = linear_boxes([10, 10, 50, 50], [70, 60, 110, 100], F)
    ghost = moving_patch_video(boxes, H, W, seed=2, fill_vacated=False)
    V = _vacated(boxes)
    ref = ghost[0]
    negative = ghost.copy()
    negative[1:] = 255 - ref  # every frame after the first: the input's negative everywhere
    assert ncc(grey(ref)[V[1] > 0.5], grey(negative[1])[V[1] > 0.5]) < -0.99
    assert afterimage(negative, ref, V) == 0.0


def test_background_psnr_excludes_frame_0():
    """Frame 0 is the input itself (or the method's copy of it): only frames 1.. are scored."""
    ref = texture(H, W, seed=0)
    frames = np.repeat(ref[None], F, axis=0)
    frames[0] = 0  # frame 0 far off; every later frame exact
    assert background_psnr(frames, ref, _mask()) == PSNR_CAP
    frames = np.repeat(ref[None], F, axis=0)
    frames[1:, :, 64:] = np.clip(ref[:, 64:].astype(int) + 10, 0, 255).astype(np.uint8)
    d = (frames[1:, :, 64:].astype(float) - ref[:, 64:].astype(float)) ** 2  # frames 1.. only
    assert background_psnr(frames, ref, _mask()) == pytest.approx(10 * np.log10(255**2 / d.mean()))


def _disc_in_textured_box():
    """A textured picture with a flat disc (the object) inside its box [20, 20, 80, 80]; the disc's mask."""
    ref = texture(H, W, seed=6)
    yy, xx = np.mgrid[0:H, 0:W]
    disc = ((yy - 50) ** 2 + (xx - 50) ** 2) <= 12**2
    ref = ref.copy()
    ref[disc] = (190, 110, 110)
    ref[disc & (xx < 50)] = (90, 90, 170)  # two colours: the object has structure of its own
    return ref, disc


def test_afterimage_with_masks_scores_the_object_not_the_background_around_it():
    """A perfect cut-out (the disc gone, the box's background kept) scores high on the box-based afterimage,
    because the background kept in the box correlates with the input; cut to the object's mask it scores ~0.
    A ghost of the disc scores 1 either way."""
    ref, disc = _disc_in_textured_box()
    V = np.zeros((F, H, W), np.float32)
    V[1:, 20:80, 20:80] = 1.0  # the box moved right off this region
    perfect = np.repeat(ref[None], F, 0).copy()
    perfect[1:][:, disc] = 128  # the object removed, flat fill; everything else kept
    ghost = np.repeat(ref[None], F, 0)
    assert afterimage(perfect, ref, V) > 0.5  # the floor of the box-based score
    assert afterimage(perfect, ref, V, object_mask=disc) == pytest.approx(0.0, abs=0.05)
    assert afterimage(ghost, ref, V, object_mask=disc) == pytest.approx(1.0)


def test_left_behind_with_a_mask_counts_only_the_objects_pixels():
    from iva0.metrics.scene import left_behind

    ref, disc = _disc_in_textured_box()
    boxes = np.array([[[20, 20, 80, 80]]] * F, np.float64)
    boxes[1:, 0] += [70, 0, 70, 0]  # (F, J, 4): the box moved away after frame 0
    perfect = np.repeat(ref[None], F, 0).copy()
    perfect[1:][:, disc] = 128
    est = left_behind(perfect, ref, boxes[0, 0], boxes)
    exact = left_behind(perfect, ref, boxes[0, 0], boxes, object_mask=disc)
    assert exact == pytest.approx(0.0)
    # the estimate finds the disc's own pixels, not the textured background kept in the box
    # (the colour seed alone read 0.107 here, before GrabCut grew it over the object)
    assert est == pytest.approx(exact, abs=0.01)
    half = perfect.copy()
    half[1:][:, disc & (np.mgrid[0:H, 0:W][1] < 50)] = ref[disc & (np.mgrid[0:H, 0:W][1] < 50)]  # the blue half stays
    share = (disc & (np.mgrid[0:H, 0:W][1] < 50)).sum() / disc.sum()
    assert left_behind(half, ref, boxes[0, 0], boxes, object_mask=disc) == pytest.approx(share)
