"""The ttm backend's pure parts: index scaling, latent masks, the pin step, families, retiming, stage 1."""

import json

import numpy as np
import pytest
import torch

from iva0.backends.ttm import detect_family
from iva0.backends.ttm import dual_clock as dc
from iva0.backends.ttm.families import FAMILIES, require_family
from iva0.errors import ModelError, UserError
from iva0.layout import parse_layout


def test_scale_index_keeps_the_share_of_the_schedule():
    assert dc.default_indices(3, 7, 50) == (3, 7)  # TTM's Wan cut-and-drag defaults, unchanged at 50
    assert dc.default_indices(4, 9, 50) == (4, 9)  # CogVideoX
    assert dc.default_indices(3, 7, 25) == (2, 4)  # 1.5 -> 2 and 3.5 -> 4: halves round up
    assert dc.default_indices(3, 7, 100) == (6, 14)
    assert dc.default_indices(3, 7, 1) == (0, 0)
    assert all(dc.scale_index(49, n) == n - 1 for n in (1, 4, 30))  # never past the last step


@pytest.mark.parametrize("pair", [(3, 7), (4, 9), (2, 5), (3, 6)])  # Wan / CogVideoX cut-and-drag, and camera
def test_scaled_defaults_keep_a_pinned_step_at_every_step_count(pair):
    for steps in range(1, 201):
        tweak, tstrong = dc.default_indices(*pair, steps)
        dc.check_indices(tweak, tstrong, steps)
        if steps >= 2:
            assert tweak < tstrong, (pair, steps)  # at least one step is pinned
            assert dc.no_pin_warning(tweak, tstrong, steps) is None
        else:
            assert (tweak, tstrong) == (0, 0) and "1 step" in dc.no_pin_warning(tweak, tstrong, steps)
    assert dc.default_indices(3, 7, 10) == (1, 2)  # scaling alone gives 1/1 at 9 and 10 steps (no pin)
    assert dc.default_indices(3, 7, 9) == (1, 2)
    assert dc.default_indices(3, 7, 2) == (0, 1)


def test_resolved_indices_keep_a_pinned_step_after_a_late_tweak():
    assert dc.resolve_indices(3, 7, 50) == (3, 7)
    assert dc.resolve_indices(3, 7, 50, tweak=9) == (9, 10)  # past the default tstrong: dragged one past it
    assert dc.resolve_indices(3, 7, 50, tweak=49) == (49, 49)  # the last step: nothing left to pin
    assert "tweak index = tstrong index = 49" in dc.no_pin_warning(49, 49, 50)
    assert dc.resolve_indices(3, 7, 50, tstrong=3) == (3, 3)  # the user's own pair is kept as given
    assert dc.resolve_indices(3, 7, 10, tstrong=5) == (1, 5)


@pytest.mark.parametrize("tweak,tstrong,steps", [(3, 2, 10), (-1, 2, 10), (2, 10, 10), (10, 10, 10)])
def test_check_indices_refuses(tweak, tstrong, steps):
    with pytest.raises(ValueError):
        dc.check_indices(tweak, tstrong, steps)


def test_latent_mask_follows_time_compression_and_pools_space():
    assert dc.latent_frame_indices(9, 4) == [0, 1, 5]
    assert dc.latent_frame_indices(81, 4)[-1] == 77 and len(dc.latent_frame_indices(81, 4)) == 21
    with pytest.raises(ValueError):
        dc.latent_frame_indices(8, 4)
    mask = torch.zeros(9, 32, 48)
    mask[5, 8:16, 16:24] = 1  # one full latent cell at frame 5 -> latent frame 2, cell (1, 2)
    mask[2, :, :] = 1  # frame 2 is not a representative frame: ignored
    mask[1, 0:8, 0:3] = 1  # 3/8 of a cell: under the 0.5 threshold
    lat = dc.latent_mask(mask, 4, 8)
    assert lat.shape == (3, 4, 6)
    assert lat.sum() == 1 and lat[2, 1, 2] == 1


def test_pin_and_targets_on_the_flow_schedule():
    from diffusers import UniPCMultistepScheduler

    s = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    s.set_timesteps(6)
    g = torch.Generator().manual_seed(0)
    ref, noise, x = (torch.randn(1, 4, 3, 2, 2, generator=g) for _ in range(3))
    ts = s.timesteps
    for i in range(5):
        sigma = float(s.sigmas[i + 1])
        want = (1 - sigma) * ref + sigma * noise  # rectified flow: x_sigma = (1 - sigma) x0 + sigma n
        assert torch.allclose(dc.pinned_target(s, ref, noise, ts, i), want, atol=1e-5)
    assert torch.equal(dc.pinned_target(s, ref, noise, ts, 5), ref)  # after the last step: the clean reference
    start = dc.start_latents(s, ref, noise, ts, 2)
    assert torch.allclose(start, (1 - s.sigmas[2]) * ref + s.sigmas[2] * noise, atol=1e-5)
    m = torch.zeros(1, 1, 3, 2, 2)
    m[..., 0, 0] = 1
    pinned = dc.pin(x, ref, m)
    assert torch.equal(pinned[..., 0, 0], ref[..., 0, 0]) and torch.equal(pinned[..., 1, :], x[..., 1, :])
    assert dc.pinning(6, 7) and not dc.pinning(7, 7)


def _index(tmp_path, data):
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "model_index.json").write_text(json.dumps(data))
    return tmp_path


def test_families_from_model_index(tmp_path):
    from iva0.backends.ttm.tiny import _read

    for name, fam in FAMILIES.items():
        assert detect_family(_index(tmp_path / name, _read(name, "model_index.json"))) == name, name
    assert detect_family(tmp_path / "nothing") is None
    sd = _index(tmp_path / "sd", {"_class_name": "StableDiffusionPipeline"})
    assert detect_family(sd) is None
    with pytest.raises(ModelError, match="StableDiffusionPipeline"):
        require_family(sd)
    t2v = _index(tmp_path / "t2v", {"_class_name": "WanPipeline", "transformer": ["diffusers", "X"]})
    assert detect_family(t2v) is None


def _layout(frames=3, fps=8):
    return parse_layout({"num_frames": frames, "fps": fps, "objects": [
        {"name": "ball", "keyframes": [{"frame": 0, "box": [0.1, 0.25, 0.4, 0.75]},
                                       {"frame": frames - 1, "box": [0.55, 0.25, 0.85, 0.75]}]}]})


def test_retime_keeps_duration_on_the_frame_rule():
    from iva0.backends.ttm.reference import model_frames, model_layout

    wan, cog, ti2v = FAMILIES["wan21"], FAMILIES["cogvideox"], FAMILIES["wan22-ti2v"]
    assert model_frames(_layout(41, 8), wan) == 81  # 5 s at 16 fps
    assert model_frames(_layout(16, 8), wan) == 33  # 1.875 s = 30 intervals -> 29 or 33 equally near: up
    assert model_frames(_layout(61, 12), ti2v) == 121
    assert model_frames(_layout(49, 8), cog) == 49
    assert model_frames(_layout(16, 8), cog) == 17  # CogVideoX: 8k+1 (an odd number of latent frames)
    lay = model_layout(_layout(16, 8), wan)
    assert (lay.num_frames, lay.fps) == (33, 16) and lay.objects[0].keyframes[-1].frame == 32
    with pytest.raises(UserError, match="at most 5.00 s"):
        model_frames(_layout(61, 8), wan)  # 7.5 s


def test_retime_moves_the_camera_keys_with_the_objects():
    from iva0.backends.ttm.reference import model_layout

    lay = parse_layout({"num_frames": 16, "fps": 8, "objects": [
        {"name": "a", "keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.3, 0.3]}, {"frame": 15, "box": [0.5, 0.1, 0.7, 0.3]}]}],
        "camera": {"keyframes": [{"frame": 0, "box": [0, 0, 0.5, 0.5]}, {"frame": 5, "box": [0.2, 0, 0.7, 0.5]},
                                 {"frame": 15, "box": [0.5, 0.5, 1.0, 1.0]}]}})
    out = model_layout(lay, FAMILIES["wan21"])  # 16 frames at 8 fps -> 33 at 16 fps
    assert out.num_frames == 33 and out.camera is not None
    assert [k.frame for k in out.camera.keyframes] == [0, 11, 32]  # 5 * 32 / 15 = 10.7 -> 11
    assert [k.box for k in out.camera.keyframes] == [k.box for k in lay.camera.keyframes]
    # the window at the same time is the same window: the camera keeps its duration like the objects
    assert np.allclose(out.camera.windows(33)[32], lay.camera.windows(16)[15])
    assert out.objects[0].keyframes[-1].frame == 32


def test_reference_mask_is_the_moved_cutout_not_the_box():
    from iva0.backends.ttm.reference import build_reference, dilate

    yy, xx = np.mgrid[0:64, 0:96]
    img = np.full((64, 96, 3), 90, np.uint8)
    disc = ((xx - 24) ** 2 + (yy - 32) ** 2) < 100
    img[disc] = (230, 40, 40)
    lay = _layout(5, 8)
    ref = build_reference(img, lay, dilate_px=0)
    assert ref.frames.shape == (5, 64, 96, 3) and ref.mask.shape == (5, 64, 96)
    assert np.array_equal(ref.frames[0], img)
    box = lay.boxes_px(96, 64)[0]
    for f in (0, 4):
        x0, y0, x1, y1 = np.round(box[f]).astype(int)
        inside = ref.mask[f, y0:y1, x0:x1]
        assert 0.1 < inside.mean() < 0.9  # the disc, not the whole box
        assert ref.mask[f].sum() == inside.sum()  # nothing outside the box
    assert ref.mask[4, 32, 24] == 0 and ref.mask[4, 32, 24 + int(box[4, 0] - box[0, 0])] == 1  # it moved
    grown = dilate(ref.mask, 3)
    assert grown.sum() > ref.mask.sum() and np.all(grown >= ref.mask)


def test_full_size_parts_have_the_real_parameter_counts():
    """--full-size uses the shipped real configs unchanged (counts from their README), built on the meta device."""
    from iva0.backends.ttm.tiny import build_part, component_configs

    real = {("wan21", "transformer"): 16_394_878_784, ("wan21", "image_encoder"): 632_076_800,
            ("wan22-a14b", "transformer_2"): 14_288_901_184, ("wan22-ti2v", "transformer"): 4_999_787_712,
            ("wan22-ti2v", "vae"): 704_688_668, ("cogvideox", "transformer"): 5_570_479_680,
            ("cogvideox", "text_encoder"): 4_762_310_656}
    for (family, name), count in real.items():
        with torch.device("meta"):
            part = build_part(family, name, component_configs(family, full_size=True)[name])
        assert sum(p.numel() for p in part.parameters()) == count, (family, name)
