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


# ---------------------------------------------------------------- autograd, UNet state
def test_call_builds_no_graph_and_leaves_the_unet_as_loaded(scene):
    """A pipeline built by hand (modules requiring grad): no autograd graph, and afterwards the UNet's own processors."""
    from iva0.backends.diffusion.attention import MASAttnProcessor, motion_attention_modules

    comps = build_components(seed=1)
    for m in comps.modules().values():
        m.requires_grad_(True)  # as from from_pretrained parts assembled without .eval()
    pipe = IVA0Pipeline.from_components(comps)
    image, layout = scene
    attns = motion_attention_modules(pipe.unet)
    own = [m.processor for m in attns]
    assert own and not any(isinstance(p, MASAttnProcessor) for p in own)
    seen = []

    def during(p, i, t, tensors):
        seen.append(all(isinstance(m.processor, MASAttnProcessor) for m in attns))
        assert not torch.is_grad_enabled()

    x = torch.randn(1, 4, 3, 8, 8, generator=torch.Generator().manual_seed(0))  # 3 frames: not the run's 4
    text = torch.randn(3, 77, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = pipe.unet(x, 10, text).sample
    out = pipe(image, layout, num_inference_steps=2, guidance_scale=7.5, generator=torch.Generator().manual_seed(0),
               null_text=True, null_text_steps=2, callback_on_step_end=during)
    assert seen == [True, True]  # MAS inside the call
    assert out.latents.grad_fn is None and not out.latents.requires_grad
    assert all(z.grad_fn is None for z in out.trajectory)
    assert [m.processor for m in attns] == own  # the UNet's own processors are back
    assert all(m.enabled for m in fusers(pipe.unet))
    assert all(p.requires_grad for p in pipe.unet.parameters())  # null-text put them back too
    with torch.no_grad():
        after = pipe.unet(x, 10, text).sample  # no stale MAS boxes or CFG batch: a plain UNet call works
    torch.testing.assert_close(after, before, rtol=0, atol=0)

    def boom(p, i, t, tensors):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipe(image, layout, num_inference_steps=2, guidance_scale=7.5, generator=torch.Generator().manual_seed(0),
             grounding_steps=1.0, callback_on_step_end=boom)
    assert [m.processor for m in attns] == own and all(m.enabled for m in fusers(pipe.unet))
    assert pipe.mas_state.boxes is None


# ---------------------------------------------------------------- seed
def test_seed_reaches_every_random_draw(pipe, scene, monkeypatch):
    import iva0.backends.diffusion.pipeline as pipeline_module

    image, layout = scene
    plates = []
    real_plate = pipeline_module.background_plate

    def spy(img, lay, seed=0, **kw):
        plates.append(seed)
        return real_plate(img, lay, seed=seed, **kw)

    monkeypatch.setattr(pipeline_module, "background_plate", spy)

    def run(seed, **kw):
        return pipe(image, layout, num_inference_steps=2, guidance_scale=7.5,
                    generator=torch.Generator().manual_seed(seed), **kw)

    # default options: the plate's segmentation seed comes from the generator
    a, b, a2 = run(1), run(2), run(1)
    assert plates[0] == a.info["plate_seed"] == plates[2] and plates[0] != plates[1]
    assert np.array_equal(a.frames, a2.frames)
    # without inversion the forward noise is drawn too: another seed, another video; the same seed, the same one
    n1, n2, n1b = run(1, inversion=False), run(2, inversion=False), run(1, inversion=False)
    assert np.array_equal(n1.frames, n1b.frames)
    assert not np.array_equal(n1.frames, n2.frames)
    assert not torch.equal(n1.trajectory[-1], n2.trajectory[-1])


# ---------------------------------------------------------------- context windows
def _short_motion_pipe(length: int) -> IVA0Pipeline:
    """Tiny components whose motion modules hold only `length` positions (real ones: 32)."""
    from iva0.backends.diffusion import tiny
    from iva0.backends.diffusion.components import IVA0Components
    from iva0.backends.diffusion.motion_unet import assemble_motion_unet

    configs = tiny.component_configs()
    configs["motion_adapter"]["motion_max_seq_length"] = length
    parts = {name: tiny.build_part(name, configs[name], seed=0) for name in tiny.PARTS}
    comps = IVA0Components(
        unet=assemble_motion_unet(parts["unet"], parts["motion_adapter"]), vae=parts["vae"],
        text_encoder=parts["text_encoder"], tokenizer=tiny.load_tokenizer(), image_encoder=parts["image_encoder"],
        image_project=parts["image_project"], scheduler=tiny.make_scheduler(),
    ).eval()
    return IVA0Pipeline.from_components(comps)


def test_layouts_longer_than_the_motion_modules_run_in_windows():
    from iva0.backends.diffusion.attention import mas_allowed, occupancy_codes

    pipe = _short_motion_pipe(8)
    assert pipe.max_context_frames == 8
    image = cv2.resize(data.astronaut(), (64, 64), interpolation=cv2.INTER_AREA)
    n = 12
    layout = make_layout([("man", [(0, (0.05, 0.05, 0.45, 0.45)), (n - 1, (0.5, 0.4, 0.9, 0.8))])], num_frames=n,
                         prompt="an astronaut")
    with pytest.raises(RuntimeError):  # what a single 12-frame call does: the positional embedding holds 8
        with torch.no_grad():
            pipe.unet(torch.zeros(1, 4, n, 8, 8), 10, torch.zeros(n, 77, 32))
    frames_per_call = []
    hook = pipe.unet.register_forward_hook(lambda m, a, o: frames_per_call.append(a[0].shape[2]))
    pipe.mas_state.record, pipe.mas_state.recorded = True, []
    try:
        out = pipe(image, layout, num_inference_steps=2, guidance_scale=7.5, generator=torch.Generator().manual_seed(0))
    finally:
        hook.remove()
        pipe.mas_state.record = False
    assert out.frames.shape == (n, 64, 64, 3) and np.array_equal(out.frames[0], image)
    assert out.info["context_windows"] == [(0, 8), (4, 12)]
    # inversion: one-frame calls; denoising: two 8-frame windows per step
    assert frames_per_call.count(8) == 2 * 2 and max(frames_per_call) == 8
    # MAS ran in every window, with that window's own boxes
    recorded, pipe.mas_state.recorded = pipe.mas_state.recorded, []
    assert recorded
    boxes = layout.boxes()
    want = {start: mas_allowed(occupancy_codes(boxes[:, start:start + 8], 8, 8)) for start in (0, 4)}
    top = [allowed for allowed, _ in recorded if allowed is not None and allowed.shape[0] == 2 * 64]
    # every top-level mask is one window's own (batch entry 0 of the CFG pair), and both windows occur
    which = [[s for s, w in want.items() if torch.equal(a[:64], w)] for a in top]
    assert all(len(w) == 1 for w in which) and {w[0] for w in which} == {0, 4}
    assert not torch.equal(want[0], want[4])
    with pytest.raises(ValueError, match="context_frames must be from 1 to 8"):
        pipe.check_inputs(image, layout, 2, 7.5, IVA0Options(context_frames=9))


def test_one_window_is_the_unwindowed_loop(pipe, scene, monkeypatch):
    image, layout = scene
    kw = dict(num_inference_steps=2, guidance_scale=7.5, grounding_steps=0.5)
    windowed = pipe(image, layout, generator=torch.Generator().manual_seed(0), **kw)
    assert windowed.info["context_windows"] == [(0, F)]

    def unwindowed(self, z, t, text, objs, windows, weights):
        return self._unet_eps(z, t, text, objs)

    monkeypatch.setattr(IVA0Pipeline, "_windowed_eps", unwindowed)
    plain = pipe(image, layout, generator=torch.Generator().manual_seed(0), **kw)
    assert torch.equal(windowed.latents, plain.latents)


# ---------------------------------------------------------------- motion-aligned init, inversion, in-place motion
def test_motion_aligned_init_is_what_the_loop_starts_from(pipe, scene, monkeypatch):
    import iva0.backends.diffusion.pipeline as pipeline_module

    image, layout = scene
    made = []
    real = pipeline_module.motion_aligned_init

    def spy(zT, boxes, plate_zT, vacated, motion_init):
        made.append((real(zT, boxes, plate_zT, vacated, motion_init), plate_zT is not None, motion_init))
        return made[-1][0]

    monkeypatch.setattr(pipeline_module, "motion_aligned_init", spy)
    first_call = []
    handle = pipe.unet.register_forward_pre_hook(
        lambda m, args: first_call.append(args[0].clone()) if args[0].shape[2] == F and not first_call else None)
    try:
        for motion_init in (True, False):
            first_call.clear()
            out = pipe(image, layout, num_inference_steps=2, guidance_scale=1.0, motion_init=motion_init,
                       generator=torch.Generator().manual_seed(0))
            init, with_plate, flag = made[-1]
            init = init[None]  # (C, F, h, w) -> (1, C, F, h, w)
            assert flag is motion_init and with_plate is motion_init  # the plate feeds V(f) only with motion init
            # the first denoising call starts from exactly the init (guidance 1: no CFG batch)
            assert torch.equal(first_call[0], init)
            shared = out.trajectory[-1][:, :, None].expand(-1, -1, F, -1, -1)  # (1, C, F, h, w): z_T in every frame
            assert torch.equal(init[:, :, :1], shared[:, :, :1])  # frame 0 is the input's z_T either way
            assert torch.equal(init, shared) is (not motion_init)
    finally:
        handle.remove()


def test_null_text_under_float16_optimises_in_float32(scene, monkeypatch):
    """fp16 UNet: the embedding and the loss stay float32, the loss is scaled, and the tuning still helps."""
    import iva0.backends.diffusion.pipeline as pipeline_module

    pipe16 = IVA0Pipeline.from_components(build_components(seed=0).to(dtype=torch.float16))
    image, layout = scene
    flags = []
    real = pipeline_module.null_text_inversion

    def spy(*args, **kw):
        flags.append(kw.get("loss_scaling"))
        return real(*args, **kw)

    monkeypatch.setattr(pipeline_module, "null_text_inversion", spy)
    cond = pipe16.encode_prompt(layout.prompt, "cpu")
    uncond = pipe16.encode_prompt("", "cpu")
    assert cond.dtype == torch.float16
    z0 = pipe16.encode_images(image[None], "cpu")
    levels = NoiseLevels.from_scheduler(pipe16.scheduler, 2)
    opts = IVA0Options(null_text=True, null_text_steps=10, null_text_lr=0.1)
    with gentle_unet(pipe16, 0.2):
        with torch.no_grad():
            traj = ddim_invert(pipe16._still_eps_fn(cond), z0, levels, fixed_point_iters=2)
        embeds = pipe16._null_text(cond, uncond, traj, levels, 7.5, opts, lambda *a: None)

        def error(unconds):
            z = traj[-1]
            with torch.no_grad():
                for i, t in enumerate(levels.timesteps):
                    eu = pipe16._still_eps_fn(unconds[i])(z, t)
                    ec = pipe16._still_eps_fn(cond)(z, t)
                    z = ddim_step(cfg(eu, ec, 7.5), z, levels.alpha[i], levels.alpha_prev[i])
            return ((z - z0).norm() / z0.norm()).item()

        plain, tuned = error([uncond] * 2), error(embeds)
    assert flags == [True]
    assert all(e.dtype == torch.float32 and e.isfinite().all() for e in embeds)
    assert tuned < 0.6 * plain, (tuned, plain)


def test_in_place_region_with_a_still_box_is_regenerated_under_exact_paste(pipe):
    """With paste on, everything outside G(f) is the input; an object whose box never moves is still regenerated."""
    image = cv2.resize(data.astronaut(), (64, 64), interpolation=cv2.INTER_AREA)
    still = (0.25, 0.25, 0.75, 0.75)
    layout = make_layout([("flag", [(0, still), (F - 1, still)])], num_frames=F, prompt="a flag waving")
    out = pipe(image, layout, num_inference_steps=3, guidance_scale=7.5, generator=torch.Generator().manual_seed(0))
    G = layout_masks(layout, 64, 64).G
    assert np.array_equal(out.frames[0], image)
    for f in range(1, F):
        outside = G[f] < 0.5
        assert np.array_equal(out.frames[f][outside], image[outside])  # exact paste outside the box
        core = np.zeros((64, 64), bool)
        core[20:44, 20:44] = True  # well inside the box, past the paste's feathered ramp
        diff = np.abs(out.frames[f][core].astype(int) - image[core].astype(int)).mean()
        assert diff > 1.0, diff  # regenerated: free to move in place
