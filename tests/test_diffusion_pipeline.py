"""IVA0Pipeline on tiny random-weight models: each mechanism's effect, measured inside a real run."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
from skimage import data

from iva0.backends.diffusion.grounding import fusers, gligen_objs
from iva0.backends.diffusion.inversion import NoiseLevels, cfg, ddim_invert, ddim_step
from iva0.backends.diffusion.pipeline import IVA0Options, IVA0Pipeline
from iva0.backends.diffusion.tiny import build_components
from iva0.layout import make_layout
from iva0.masks import layout_masks

from iva0_test_helpers import ddim_sample

F = 4


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    return IVA0Pipeline.from_components(build_components())


@pytest.fixture(scope="module")
def scene():
    image = cv2.resize(data.astronaut(), (64, 64), interpolation=cv2.INTER_AREA)
    layout = make_layout(
        [("man", [(0, (0.05, 0.05, 0.45, 0.45)), (F - 1, (0.3, 0.05, 0.7, 0.45))]),
         ("rocket", [(0, (0.6, 0.55, 0.95, 0.95)), (F - 1, (0.6, 0.3, 0.95, 0.7))])],
        num_frames=F, prompt="an astronaut and a rocket",
    )
    return image, layout


class gentle_unet:
    """Random UNets are no denoisers: scale the output so eps varies slowly, as a trained model's does."""

    def __init__(self, pipe, scale=0.05):
        self.conv, self.scale = pipe.unet.conv_out, scale

    def __enter__(self):
        with torch.no_grad():
            self.saved = (self.conv.weight.clone(), self.conv.bias.clone())
            self.conv.weight.mul_(self.scale)
            self.conv.bias.mul_(self.scale)

    def __exit__(self, *exc):
        with torch.no_grad():
            self.conv.weight.copy_(self.saved[0])
            self.conv.bias.copy_(self.saved[1])


def test_full_run_mechanisms(pipe, scene):
    """One run, 5 steps, beta 0.4 (2 grounded steps), lambda 0.6 (3 blend steps), CFG, MAS recording."""
    image, layout = scene
    steps = 5
    per_step_latents = []
    fuser_effect: list[tuple[int, float]] = []  # (denoising step, max |fuser out - in|)
    objs_seen = []

    def on_step(p, i, t, tensors):
        per_step_latents.append(tensors["latents"].clone())

    def fuser_hook(mod, inputs, output):
        x = inputs[0]
        if x.shape[0] == 2 * F:  # a denoising call (CFG x frames), not an inversion call
            fuser_effect.append((len(per_step_latents), (output - x).abs().max().item()))
            if mod is first and len(objs_seen) <= len(per_step_latents):
                objs_seen.append(inputs[1].detach().clone())

    first = fusers(pipe.unet)[0]
    handles = [m.register_forward_hook(fuser_hook) for m in fusers(pipe.unet)]
    pipe.mas_state.record, pipe.mas_state.recorded = True, []
    try:
        out = pipe(image, layout, num_inference_steps=steps, guidance_scale=7.5,
                   generator=torch.Generator().manual_seed(0), grounding_steps=0.4, blend_steps=0.6,
                   callback_on_step_end=on_step)
    finally:
        for h in handles:
            h.remove()
        pipe.mas_state.record = False
    recorded, pipe.mas_state.recorded = pipe.mas_state.recorded, []

    assert out.frames.shape == (F, 64, 64, 3) and out.frames.dtype == np.uint8
    assert np.array_equal(out.frames[0], image)  # frame 0 = input
    assert out.info["grounded_steps"] == 2 and out.info["blend_steps"] == 3

    # grounding: each frame's tokens carry that frame's boxes; the UNet received exactly those tokens
    boxes = layout.boxes()
    for f in range(F):
        assert torch.allclose(out.grounding.boxes[f], torch.tensor(np.clip(boxes[:, f], 0, 1), dtype=torch.float32))
    expected = gligen_objs(pipe.unet.position_net, out.grounding, uncond=True)
    assert len(objs_seen) == 2
    for objs in objs_seen:
        torch.testing.assert_close(objs, expected)
    assert not torch.allclose(objs_seen[0][F + 0], objs_seen[0][F + F - 1])  # boxes moved -> tokens changed

    # scheduled grounding: the gated layers act in the first beta of the steps, and contribute nothing after
    # (after beta the UNet gets no grounding tokens, so the disabled fusers are not even run)
    before = [e for s, e in fuser_effect if s < 2]
    after = [e for s, e in fuser_effect if s >= 2]
    assert len(before) == 2 * out.info["fusers"]
    assert min(before) > 0.0
    assert sum(after) == 0.0

    # latent blend: while active, latents inside K(f) are the inverted trajectory, exactly
    kept = torch.from_numpy(out.masks.K)  # (F, h, w)
    hard = kept == 1.0
    assert hard[1:].any() and (~hard[1:]).any()
    n = steps
    for i, z in enumerate(per_step_latents):
        z_inv = out.trajectory[n - 1 - i][0]  # (C, h, w)
        for f in range(F):
            inside = z[0, :, f][:, hard[f]]
            target = z_inv[:, hard[f]]
            if i < 3:
                assert torch.equal(inside, target), (i, f)
            elif f > 0:
                assert not torch.equal(inside, target)  # released after lambda

    # MAS: temporal attention between frames whose occupancy differs at a position has zero weight
    masked = [(a, p) for a, p in recorded if a is not None]
    assert len(masked) == out.info["mas_layers"] * steps
    blocked_total = 0
    for allowed, probs in masked:
        blocked = ~allowed[:, None].expand_as(probs)
        blocked_total += int(blocked.sum())
        assert probs[blocked].abs().max().item() == 0.0 if blocked.any() else True
        assert (probs[~blocked] > 0).all()
    assert blocked_total > 0

    # paste: outside G(f) the output is the input's pixels
    G = layout_masks(layout, 64, 64).G
    for f in range(F):
        outside = G[f] < 0.5
        assert np.array_equal(out.frames[f][outside], image[outside])


def test_switches_off(pipe, scene):
    """No paste, no inversion, no MAS, no motion init, no grounding: each switch removes its effect."""
    image, layout = scene
    effects = []
    handles = [m.register_forward_hook(lambda m, i, o: effects.append((o - i[0]).abs().max().item()))
               for m in fusers(pipe.unet)]
    try:
        out = pipe(image, layout, num_inference_steps=3, guidance_scale=7.5, generator=torch.Generator().manual_seed(1),
                   options=IVA0Options(paste=False, inversion=False, mas=False, motion_init=False, grounding_steps=0.0))
    finally:
        for h in handles:
            h.remove()
    assert out.info["grounded_steps"] == 0 and effects == []  # the gated layers never ran
    assert out.paste_alpha is None
    assert np.array_equal(out.frames[0], image)
    G = layout_masks(layout, 64, 64).G
    outside = G[1] < 0.5
    assert not np.array_equal(out.frames[1][outside], image[outside])  # without paste, the decoder's pixels
    # without inversion the kept region follows z0 forward-noised with one fixed noise
    levels = NoiseLevels.from_scheduler(pipe.scheduler, 3)
    z0 = out.trajectory[0]
    noises = []
    for k, a in enumerate(reversed(levels.alpha), start=1):
        noises.append((out.trajectory[k] - a**0.5 * z0) / (1 - a) ** 0.5)
    for nz in noises[1:]:
        torch.testing.assert_close(nz, noises[0], atol=1e-4, rtol=1e-4)


def test_inversion_reconstructs_z0_with_the_unet(pipe, scene):
    image, layout = scene
    z0 = pipe.encode_images(image[None], "cpu")
    eps = pipe._still_eps_fn(pipe.encode_prompt(layout.prompt, "cpu"))
    levels = NoiseLevels.from_scheduler(pipe.scheduler, 4)
    err = {}
    with gentle_unet(pipe), torch.no_grad():
        for iters in (0, 2):
            traj = ddim_invert(eps, z0, levels, fixed_point_iters=iters)
            rec = ddim_sample(eps, traj[-1], levels)  # guidance 1: the conditional eps alone
            err[iters] = ((rec - z0).norm() / z0.norm()).item()
            assert ((traj[-1] - z0).norm() / z0.norm()).item() > 0.5  # z_T is far from z0
    print(f"inversion relative error: {err}")
    assert err[2] < 0.03, err
    assert err[2] < err[0] / 10  # fixed-point refinement makes the inversion near exact


def test_null_text_reconstructs_under_guidance(pipe, scene):
    image, layout = scene
    cond = pipe.encode_prompt(layout.prompt, "cpu")
    uncond = pipe.encode_prompt("", "cpu")
    z0 = pipe.encode_images(image[None], "cpu")
    levels = NoiseLevels.from_scheduler(pipe.scheduler, 2)
    opts = IVA0Options(null_text=True, null_text_steps=10, null_text_lr=0.1)
    with gentle_unet(pipe, 0.2):
        with torch.no_grad():
            traj = ddim_invert(pipe._still_eps_fn(cond), z0, levels, fixed_point_iters=2)
        embeds = pipe._null_text(cond, uncond, traj, levels, 7.5, opts, lambda *a: None)

        def sample(unconds):
            z = traj[-1]
            with torch.no_grad():
                for i, t in enumerate(levels.timesteps):
                    eu = pipe._still_eps_fn(unconds[i])(z, t)
                    ec = pipe._still_eps_fn(cond)(z, t)
                    z = ddim_step(cfg(eu, ec, 7.5), z, levels.alpha[i], levels.alpha_prev[i])
            return ((z - z0).norm() / z0.norm()).item()

        plain, tuned = sample([uncond] * 2), sample(embeds)
    print(f"null-text: relative error {tuned:.4f} (tuned) vs {plain:.4f} (negative prompt)")
    assert len(embeds) == 2 and not torch.equal(embeds[0], uncond)
    assert tuned < 0.5 * plain, (tuned, plain)


def test_check_inputs(pipe, scene):
    image, layout = scene
    opts = IVA0Options()
    with pytest.raises(ValueError, match="multiple of 64"):
        pipe.check_inputs(image[:48], layout, 3, 7.5, opts)
    with pytest.raises(ValueError, match="RGB uint8"):
        pipe.check_inputs(image.astype(np.float32), layout, 3, 7.5, opts)
    with pytest.raises(ValueError, match="steps"):
        pipe.check_inputs(image, layout, 0, 7.5, opts)
    with pytest.raises(ValueError, match="null-text"):
        pipe.check_inputs(image, layout, 3, 7.5, IVA0Options(null_text=True, inversion=False))
    with pytest.raises(ValueError, match="blend-steps"):
        pipe.check_inputs(image, layout, 3, 7.5, IVA0Options(blend_steps=1.5))
    with pytest.raises(ValueError, match="3 object embeddings"):
        pipe.check_inputs(image, layout, 3, 7.5, opts, object_image_embeds=torch.zeros(3, 32))


def test_model_offload_hooks_give_the_same_frames(pipe, scene):
    """The --offload code path (accelerate hooks; position_net and VAE outside forward) computes the same video."""
    image, layout = scene
    kw = dict(num_inference_steps=2, guidance_scale=7.5)
    plain = pipe(image, layout, generator=torch.Generator().manual_seed(0), **kw).frames
    pipe.enable_model_cpu_offload(device="cpu")  # hooks as on a GPU machine, executing on the CPU
    try:
        hooked = pipe(image, layout, generator=torch.Generator().manual_seed(0), **kw).frames
        assert hasattr(pipe.unet, "_hf_hook")
    finally:
        pipe.remove_all_hooks()
    assert np.array_equal(plain, hooked)
