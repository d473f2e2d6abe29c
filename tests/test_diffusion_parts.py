"""The diffusion pipeline's pure parts, each against a known answer (no model weights)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers import DDIMScheduler
from diffusers.models.attention_processor import Attention, AttnProcessor2_0
from diffusers.models.embeddings import GLIGENTextBoundingboxProjection

from iva0.backends.diffusion.attention import MASAttnProcessor, MASState, mas_allowed, occupancy_codes
from iva0.backends.diffusion.compose import paste_alpha, paste_kept
from iva0.backends.diffusion.grounding import GroundingTokens, blend_active, frame_boxes, gligen_objs, grounding_active
from iva0.backends.diffusion.init_noise import blend_kept, motion_aligned_init, warp_box
from iva0.backends.diffusion.inversion import NoiseLevels, cfg, ddim_invert, ddim_step, null_text_inversion
from iva0.layout import make_layout
from iva0.masks import layout_masks

from iva0_test_helpers import ddim_sample


def _levels(steps: int) -> NoiseLevels:
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)
    return NoiseLevels.from_scheduler(sched, steps)


# ---------------------------------------------------------------- inversion
def test_noise_levels_match_ddim_scheduler_step():
    sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                          set_alpha_to_one=False, steps_offset=1)
    levels = NoiseLevels.from_scheduler(sched, 5)
    g = torch.Generator().manual_seed(0)
    z, eps = torch.randn(1, 4, 3, 3, generator=g), torch.randn(1, 4, 3, 3, generator=g)
    for i, t in enumerate(levels.timesteps):
        ours = ddim_step(eps, z, levels.alpha[i], levels.alpha_prev[i])
        theirs = sched.step(eps, t, z, eta=0.0).prev_sample
        torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)


def test_ddim_step_is_invertible_for_fixed_eps():
    z = torch.randn(2, 4, 5, 5)
    eps = torch.randn(2, 4, 5, 5)
    back = ddim_step(eps, ddim_step(eps, z, 0.9, 0.3), 0.3, 0.9)
    torch.testing.assert_close(back, z, atol=1e-5, rtol=1e-5)


def _toy_denoiser_eps(ac, seed=0):
    """eps of a near-optimal denoiser for Gaussian data N(m, s^2), plus a smooth non-linear wiggle."""
    g = torch.Generator().manual_seed(seed)
    m, s, w = torch.randn(1, 4, 8, 8, generator=g) * 0.5, 0.8, torch.randn(4, 4, generator=g) * 0.3

    def eps_fn(z, t):
        a = float(ac[t])
        d = m + a**0.5 * s * s * (z - a**0.5 * m) / (a * s * s + 1 - a)
        d = d + 0.1 * torch.tanh(torch.einsum("ij,bjhw->bihw", w, d))
        return (z - a**0.5 * d) / (1 - a) ** 0.5

    return eps_fn, m + s * torch.randn(1, 4, 8, 8, generator=g)


def test_inversion_then_sampling_reconstructs_z0():
    errors = {}
    for steps in (10, 50):
        levels = _levels(steps)
        sched = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")
        eps_fn, z0 = _toy_denoiser_eps(sched.alphas_cumprod)
        traj = ddim_invert(eps_fn, z0, levels)
        assert len(traj) == len(levels) + 1 and traj[0] is z0
        assert (traj[-1] - z0).abs().mean() > 0.3 and 0.8 < traj[-1].std() < 1.5  # z_T is noise-like
        rec = ddim_sample(eps_fn, traj[-1], levels)
        errors[steps] = (rec - z0).abs().mean().item()
        # each intermediate level is retraced too
        z, n = traj[-1], len(levels)
        for i, t in enumerate(levels.timesteps):
            z = ddim_step(eps_fn(z, t), z, levels.alpha[i], levels.alpha_prev[i])
            assert (z - traj[n - 1 - i]).abs().mean() < 0.1
    assert errors[50] < 0.02, errors
    assert errors[50] < errors[10] / 2  # the DDIM inversion error shrinks with the step size


def test_null_text_inversion_reconstructs_under_guidance():
    torch.manual_seed(0)
    levels = _levels(8)
    A = torch.randn(4, 4) * 0.3
    proj = torch.randn(6, 4) * 0.3

    def eps_pair(z, t, u):  # eps_cond ignores u; eps_uncond is shifted by a function of the embedding u (1, 6)
        base = torch.tanh(torch.einsum("ij,bjhw->bihw", A, z))
        shift = (u.reshape(1, -1)[:, :6] @ proj).reshape(1, 4, 1, 1)
        return base + shift + 0.3, base

    z0 = torch.randn(1, 4, 6, 6)
    traj = ddim_invert(lambda z, t: eps_pair(z, t, torch.zeros(1, 6))[1], z0, levels)
    u0 = torch.zeros(1, 6)
    scale = 7.5

    def sample(embeds):
        z = traj[-1]
        for i, t in enumerate(levels.timesteps):
            eu, ec = eps_pair(z, t, embeds[i])
            z = ddim_step(cfg(eu, ec, scale), z, levels.alpha[i], levels.alpha_prev[i])
        return z

    plain = (sample([u0] * len(levels)) - z0).abs().mean().item()
    embeds = null_text_inversion(eps_pair, traj, levels, u0, scale, inner_steps=60, lr=0.1)
    tuned = (sample(embeds) - z0).abs().mean().item()
    assert len(embeds) == len(levels)
    assert tuned < 0.1 * plain, (tuned, plain)


# ---------------------------------------------------------------- MAS
def _two_object_boxes():
    # object 0 moves right across the top; object 1 stays bottom-left
    lay = make_layout(
        [("a", [(0, (0.0, 0.0, 0.5, 0.5)), (3, (0.5, 0.0, 1.0, 0.5))]),
         ("b", [(0, (0.0, 0.5, 0.5, 1.0))])],
        num_frames=4,
    )
    return lay, lay.boxes()


def test_occupancy_codes_and_allowed():
    _, boxes = _two_object_boxes()
    codes = occupancy_codes(boxes, 2, 2)  # (F, 2, 2)
    assert codes[0].tolist() == [[1, 0], [2, 0]]
    assert codes[3].tolist() == [[0, 1], [2, 0]]
    allowed = mas_allowed(codes)  # (4, F, F), positions (h w)
    assert allowed[0, 0, 3].item() is False  # top-left: object 0 at frame 0, background at frame 3
    assert allowed[2].all()  # bottom-left: object 1 throughout
    assert allowed.diagonal(dim1=1, dim2=2).all()  # a frame always sees itself


def test_mas_zero_weight_where_occupancy_differs():
    torch.manual_seed(0)
    _, boxes = _two_object_boxes()
    attn = Attention(query_dim=16, heads=2, dim_head=8)
    state = MASState()
    state.set_boxes(boxes, (4, 4))
    state.batch_size = 2
    attn.set_processor(MASAttnProcessor(state))
    for tokens in (16, 4):  # two UNet levels: 4x4 and 2x2
        x = torch.randn(2 * tokens, 4, 16)  # (B*h*w, F, C)
        state.record, state.recorded = True, []
        out_rec = attn(x)
        allowed, probs = state.recorded[0]
        assert allowed.shape == (2 * tokens, 4, 4) and probs.shape == (2 * tokens, 2, 4, 4)
        assert (~allowed).any() and allowed.any()
        blocked = ~allowed[:, None].expand_as(probs)
        assert probs[blocked].abs().max().item() == 0.0
        assert (probs[~blocked] > 0).all()
        torch.testing.assert_close(probs.sum(-1), torch.ones_like(probs.sum(-1)))
        state.record = False
        torch.testing.assert_close(attn(x), out_rec, atol=1e-5, rtol=1e-4)  # SDPA path = explicit path
    # MAS off: exactly diffusers' own attention
    state.enabled = False
    x = torch.randn(32, 4, 16)
    ours = attn(x)
    attn.set_processor(AttnProcessor2_0())
    torch.testing.assert_close(ours, attn(x), atol=1e-5, rtol=1e-4)


def test_mas_changes_output_only_at_positions_with_occupancy_change():
    torch.manual_seed(1)
    _, boxes = _two_object_boxes()
    attn = Attention(query_dim=16, heads=2, dim_head=8)
    state = MASState()
    state.set_boxes(boxes, (2, 2))
    attn.set_processor(MASAttnProcessor(state))
    x = torch.randn(4, 4, 16)
    on = attn(x)
    state.enabled = False
    off = attn(x)
    diff = (on - off).abs().amax(dim=(1, 2))  # per position (h w)
    assert diff[2] < 1e-6  # bottom-left: object 1 all along, nothing to mask
    assert diff[0] > 1e-3 and diff[1] > 1e-3  # the top row: object 0 leaves / arrives


# ---------------------------------------------------------------- grounding
def test_each_frame_grounding_tokens_carry_its_boxes():
    torch.manual_seed(0)
    lay, boxes = _two_object_boxes()
    net = GLIGENTextBoundingboxProjection(positive_len=16, out_dim=16, feature_type="text-image")
    for p in net.parameters():
        torch.nn.init.normal_(p, std=0.5)
    fb, fm = frame_boxes(boxes)
    tok = GroundingTokens(boxes=fb, masks=fm, phrase_embeds=torch.randn(2, 16), image_embeds=torch.randn(2, 16))
    for f in range(4):
        torch.testing.assert_close(fb[f], torch.tensor(boxes[:, f], dtype=torch.float32))
    objs = gligen_objs(net, tok, uncond=True)  # (2F, 2 * 30, D): padded to GLIGEN's 30 slots per modality
    assert objs.shape == (8, 60, 16)

    def pad(x, dim):  # J=2 objects -> 30 slots, zeros after them (what diffusers' GLIGEN pipelines pass)
        shape = list(x.shape)
        shape[dim] = 30 - shape[dim]
        return torch.cat([x, torch.zeros(shape)], dim=dim)

    for f in range(4):
        m = pad(fm[f : f + 1], 1)
        one = net(boxes=pad(fb[f : f + 1], 1), masks=m, phrases_masks=m, image_masks=m,
                  phrases_embeddings=pad(tok.phrase_embeds[None], 1), image_embeddings=pad(tok.image_embeds[None], 1))
        torch.testing.assert_close(objs[4 + f], one[0], atol=1e-3, rtol=1e-4)  # cond frame f = that frame's boxes
    assert not torch.allclose(objs[4 + 0], objs[4 + 3])  # object 0 moved, its tokens changed
    torch.testing.assert_close(objs[4 + 0, 1], objs[4 + 3, 1])  # object 1 still: same text token
    # unconditional half: no grounding, the null tokens, identical for every frame
    for f in range(4):
        torch.testing.assert_close(objs[f], objs[0])
    z = torch.zeros(1, 30)
    null = net(boxes=torch.zeros(1, 30, 4), masks=z, phrases_masks=z, image_masks=z,
               phrases_embeddings=torch.zeros(1, 30, 16), image_embeddings=torch.zeros(1, 30, 16))
    torch.testing.assert_close(objs[0], null[0], atol=1e-3, rtol=1e-4)
    # the padding slots of a conditional frame are the null tokens too: text slots 2..29, image slots 32..59
    torch.testing.assert_close(objs[4, 2:30], null[0, 2:30], atol=1e-3, rtol=1e-4)
    torch.testing.assert_close(objs[4, 32:60], null[0, 32:60], atol=1e-3, rtol=1e-4)


def test_frame_boxes_mask_objects_outside_the_frame():
    boxes = np.array([[[0.2, 0.2, 0.4, 0.4], [1.1, 0.2, 1.3, 0.4], [0.9, 0.2, 1.1, 0.4]]])  # (1, 3, 4)
    fb, fm = frame_boxes(boxes)
    assert fm[:, 0].tolist() == [1.0, 0.0, 1.0]
    assert fb[2, 0].tolist() == pytest.approx([0.9, 0.2, 1.0, 0.4])


def test_schedules():
    assert [grounding_active(i, 10, 0.3) for i in range(10)] == [True] * 3 + [False] * 7
    assert [blend_active(i, 10, 0.8) for i in range(10)] == [True] * 8 + [False] * 2
    assert not any(grounding_active(i, 5, 0.0) for i in range(5))
    assert all(blend_active(i, 5, 1.0) for i in range(5))


# ---------------------------------------------------------------- init and blend
def test_warp_box_moves_content_exactly():
    z = torch.arange(2 * 8 * 8, dtype=torch.float32).reshape(2, 8, 8)
    warped, valid = warp_box(z, (0.0, 0.0, 0.25, 0.25), (0.5, 0.5, 0.75, 0.75))  # 2x2 cells, translated by 4
    assert valid.sum() == 4 and valid[4:6, 4:6].all()
    torch.testing.assert_close(warped[:, 4:6, 4:6], z[:, 0:2, 0:2])
    assert warped[:, valid == 0].abs().sum() == 0
    # scaling up 2x: nearest neighbour repeats each source cell 2x2
    warped, valid = warp_box(z, (0.0, 0.0, 0.25, 0.25), (0.5, 0.5, 1.0, 1.0))
    torch.testing.assert_close(warped[:, 4:8, 4:8], z[:, 0:2, 0:2].repeat_interleave(2, 1).repeat_interleave(2, 2))
    # a source box half outside the frame: only cells with a real source are valid
    warped, valid = warp_box(z, (-0.25, 0.0, 0.25, 0.25), (0.5, 0.5, 1.0, 0.75))
    assert valid[4:6, 4:6].sum() == 0 and valid[4:6, 6:8].all()


def test_motion_aligned_init():
    torch.manual_seed(0)
    lay = make_layout([("a", [(0, (0.0, 0.0, 0.25, 0.25)), (2, (0.5, 0.5, 0.75, 0.75))])], num_frames=3)
    boxes = lay.boxes()
    zT, plate = torch.randn(4, 8, 8), torch.randn(4, 8, 8)
    V = torch.from_numpy(layout_masks(lay, 8, 8).V)
    z = motion_aligned_init(zT, boxes, plate, V, motion_init=True)  # (C, F, h, w)
    torch.testing.assert_close(z[:, 0], zT)  # frame 0 untouched
    torch.testing.assert_close(z[:, 2, 4:6, 4:6], zT[:, 0:2, 0:2])  # object moved to b(2)
    torch.testing.assert_close(z[:, 2, 0:2, 0:2], plate[:, 0:2, 0:2])  # vacated: plate latent
    torch.testing.assert_close(z[:, 2, 6:, :], zT[:, 6:, :])  # elsewhere: the shared noise
    off = motion_aligned_init(zT, boxes, plate, V, motion_init=False)
    for f in range(3):
        torch.testing.assert_close(off[:, f], zT)


def test_blend_kept_sets_kept_region_to_inverted_latent():
    z = torch.randn(1, 4, 3, 6, 6)
    z_inv = torch.randn(4, 6, 6)
    kept = torch.zeros(3, 6, 6)
    kept[:, :3] = 1.0
    kept[:, 3] = 0.5
    out = blend_kept(z, z_inv, kept)
    torch.testing.assert_close(out[0, :, :, :3], z_inv[:, None, :3].expand(4, 3, 3, 6))
    torch.testing.assert_close(out[0, :, :, 4:], z[0, :, :, 4:])
    torch.testing.assert_close(out[0, :, :, 3], 0.5 * z_inv[:, None, 3] + 0.5 * z[0, :, :, 3])


# ---------------------------------------------------------------- paste
def test_paste_keeps_input_outside_regenerated_region():
    lay = make_layout([("a", [(0, (0.1, 0.1, 0.4, 0.4)), (3, (0.5, 0.5, 0.8, 0.8))])], num_frames=4)
    H = W = 40
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
    frames = rng.integers(0, 256, (4, H, W, 3), dtype=np.uint8)
    alpha = paste_alpha(lay, H, W, feather_px=3)
    out = paste_kept(frames, image, alpha)
    G = layout_masks(lay, H, W).G
    outside = G < 0.5
    assert np.array_equal(out[outside], np.broadcast_to(image, out.shape)[outside])
    assert (alpha[0] == 1).all()
    # deep inside G the generated pixels stay untouched; the ramp lies inside G
    deep = (alpha == 0)
    assert deep.any() and np.array_equal(out[deep], frames[deep])
    ramp = (alpha > 0) & (alpha < 1)
    assert ramp.any() and (G[ramp] > 0.5).all()


def test_context_windows_cover_every_frame_with_weights_summing_to_one():
    from iva0.backends.diffusion.windows import context_windows, window_weights

    assert context_windows(16, 32) == [(0, 16)]
    assert context_windows(40, 32) == [(0, 32), (8, 40)]
    wins = context_windows(256, 32)
    assert len(wins) == 11 and wins[0] == (0, 32) and wins[-1] == (224, 256)
    assert all(b - a == 32 for a, b in wins) and all(a2 < b1 for (_, b1), (a2, _) in zip(wins, wins[1:]))
    for n, length, overlap in ((256, 32, None), (12, 8, 2), (9, 4, 0), (33, 32, 31)):
        wins = context_windows(n, length, overlap)
        weights = window_weights(wins, n)
        total = torch.zeros(n)
        for (a, b), w in zip(wins, weights):
            assert b - a <= length and w.shape == (b - a,) and (w > 0).all()
            total[a:b] += w
        torch.testing.assert_close(total, torch.ones(n))
    # one window: weight exactly 1.0, so a short video is denoised bit for bit as without windows
    (w,) = window_weights(context_windows(16, 32), 16)
    assert torch.equal(w, torch.ones(16))
    # two windows cross-fade over their overlap: frame 8 leans to the first window, frame 31 to the second
    w0, w1 = window_weights([(0, 32), (8, 40)], 40)
    assert w0[8] > w1[0] and w1[31 - 8] > w0[31]
    with pytest.raises(ValueError):
        context_windows(40, 32, 32)
