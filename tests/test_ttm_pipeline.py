"""The ttm pipeline on tiny random-weight folders of each family (real diffusers layouts, shrunk widths).

The equivalence tests are the evidence that real weights will work: with the dual
clock off our loop gives diffusers' own WanImageToVideoPipeline /
CogVideoXImageToVideoPipeline frames, called the same way.
"""

import numpy as np
import pytest
import torch
from PIL import Image

from iva0.backends.ttm.pipeline import TTMPipeline
from iva0.layout import parse_layout

SIZES = {"wan21": (32, 48), "wan22-a14b": (32, 48), "wan22-ti2v": (32, 64), "cogvideox": (32, 48)}


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    from iva0.backends.ttm.tiny import write_model_folder

    root = tmp_path_factory.mktemp("ttm-models")
    made = {}

    def get(family):
        if family not in made:
            made[family] = write_model_folder(root / family, family)
        return made[family]

    return get


@pytest.fixture(scope="session")
def pipes(tiny):
    loaded = {}

    def get(family):
        if family not in loaded:
            loaded[family] = TTMPipeline.from_pretrained(tiny(family))
        return loaded[family]

    return get


def picture(h, w):
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.zeros((h, w, 3), np.uint8)
    img[..., 0] = (xx * 255 // max(1, w - 1)).astype(np.uint8)
    img[..., 1] = (yy * 255 // max(1, h - 1)).astype(np.uint8)
    img[..., 2] = 90
    img[((xx - w // 4) ** 2 + (yy - h // 2) ** 2) < (h // 4) ** 2] = (240, 30, 30)
    return img


def layout(frames=3, fps=8):
    return parse_layout({"num_frames": frames, "fps": fps, "prompt": "a red ball", "objects": [
        {"name": "ball", "keyframes": [{"frame": 0, "box": [0.05, 0.2, 0.45, 0.8]},
                                       {"frame": frames - 1, "box": [0.5, 0.2, 0.9, 0.8]}]}]})


def to_uint8(x):
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("family", ["wan21", "wan22-a14b", "wan22-ti2v", "cogvideox"])
def test_no_dual_clock_is_diffusers_own_pipeline(family, tiny, pipes):
    import diffusers

    p = pipes(family)
    h, w = SIZES[family]
    img = picture(h, w)
    kw = dict(num_frames=9, guidance_scale=4.0)
    g2 = {"guidance_scale_2": 2.0} if family == "wan22-a14b" else {}
    ours = p(img, prompt="a red ball", negative_prompt="blurry", num_inference_steps=4, dual_clock_on=False,
             generator=torch.Generator().manual_seed(7), **kw, **g2)
    # float32 everywhere, as ours on the CPU (left alone, transformers would load Wan 2.1's CLIP in the
    # bfloat16 its config names)
    ref = getattr(diffusers, p.family.pipeline_class).from_pretrained(str(tiny(family)), torch_dtype=torch.float32)
    ref.set_progress_bar_config(disable=True)
    theirs = ref(image=Image.fromarray(img), prompt="a red ball", negative_prompt="blurry", height=h, width=w,
                 num_inference_steps=4, generator=torch.Generator().manual_seed(7), output_type="np", **kw,
                 **g2).frames[0]
    theirs = to_uint8(theirs)
    assert ours.frames.shape == theirs.shape == (9, h, w, 3)
    assert np.array_equal(ours.frames[0], img)  # frame 0 is the input
    assert theirs[1:].std() > 5  # random weights still make a varied picture: the comparison means something
    assert np.array_equal(ours.frames[1:], theirs[1:])  # the contract is <= 1 uint8 level; on the CPU it is exact
    # 4 steps, cond + uncond: two calls each (CogVideoX batches both into one)
    assert ours.info["transformer_calls"] == (4 if family == "cogvideox" else 8)


def _hook_calls(module, record):
    def hook(mod, args, kwargs):
        record.append(kwargs["timestep"].detach().clone())
    return module.register_forward_pre_hook(hook, with_kwargs=True)


def test_dual_clock_starts_at_tweak_pins_until_tstrong_then_frees(pipes):
    from diffusers.utils.torch_utils import randn_tensor

    p = pipes("wan21")
    img = picture(32, 48)
    steps, tweak, tstrong = 6, 1, 3
    seen, calls = {}, []
    handle = _hook_calls(p.pipe.transformer, calls)
    try:
        out = p(img, layout(), prompt="a red ball", num_inference_steps=steps, tweak_index=tweak, tstrong_index=tstrong,
                guidance_scale=4.0, mask_dilate=2, generator=torch.Generator().manual_seed(3),
                callback_on_step_end=lambda pipe, i, t, kw: seen.__setitem__(i, kw["latents"].clone()) or {})
    finally:
        handle.remove()
    ts = p.pipe.scheduler.timesteps
    assert len(calls) == 2 * (steps - tweak)  # cond + uncond per step, none before tweak
    assert float(calls[0][0]) == float(ts[tweak])
    assert sorted(seen) == list(range(tweak, steps))
    F = out.frames.shape[0]
    assert out.latent_mask.shape == ((F - 1) // 4 + 1, 4, 6)  # latent frames follow the VAE's 4x time compression
    assert out.masks.shape == (F, 32, 48) and out.reference.shape == (F, 32, 48, 3)
    # the same noise the pipeline drew: diffusers' starting noise first, then TTM's
    g = torch.Generator().manual_seed(3)
    shape = seen[tweak].shape
    randn_tensor(shape, generator=g, dtype=torch.float32)
    noise = randn_tensor(shape, generator=g, dtype=torch.float32)
    ref = p.parts.encode_video(out.reference, torch.device("cpu"))
    m = out.latent_mask.bool()[None, None].expand(shape)
    assert m.any() and not m.all()
    sigmas = p.pipe.scheduler.sigmas
    for i in range(tweak, steps):
        target = (1 - sigmas[i + 1]) * ref + sigmas[i + 1] * noise  # the reference at the next noise level
        gap = (seen[i][m] - target[m]).abs().max()
        if i < tstrong:
            assert gap < 1e-5, i
        else:
            assert gap > 1e-3, i  # released: the model moves it
    assert (seen[tweak][~m] - ((1 - sigmas[tweak + 1]) * ref + sigmas[tweak + 1] * noise)[~m]).abs().max() > 1e-3


def test_seeds_change_the_video_and_keep_background_keeps_pixels(tiny):
    from iva0.animate import animate
    from iva0.backends.diffusion.compose import paste_alpha
    from iva0.backends.ttm.backend import PASTE_FEATHER, TTMBackend

    be = TTMBackend(model=str(tiny("wan21")), steps=4)
    img = picture(32, 48)
    a = animate(img, layout(), be, width=48, height=32, seed=1).frames
    b = animate(img, layout(), be, width=48, height=32, seed=2).frames
    assert a.shape == b.shape and not np.array_equal(a[1:], b[1:])
    kb = TTMBackend(model=str(tiny("wan21")), steps=4, keep_background=True)
    anim = animate(img, layout(), kb, width=48, height=32, seed=1)
    assert anim.fps == 16 and anim.layout.num_frames == anim.frames.shape[0]
    alpha = paste_alpha(anim.layout, 32, 48, max(1.0, PASTE_FEATHER * 32))
    kept = alpha >= 1.0  # outside G(f) and its feather
    assert kept[1:].any() and (~kept[1:]).any()
    frames = anim.frames
    assert np.array_equal(frames[kept], np.broadcast_to(img, frames.shape)[kept])
    assert not np.array_equal(a[kept], np.broadcast_to(img, a.shape)[kept])  # without it the model repaints them


def test_backend_checks_everything_before_loading_weights(tiny):
    from iva0.animate import animate
    from iva0.backends.ttm.backend import TTMBackend
    from iva0.errors import UserError

    be = TTMBackend(model=str(tiny("cogvideox")), steps=4)
    assert be.output_size(640, 480, None, None) == (48, 32)  # tiny CogVideoX: its one size
    with pytest.raises(UserError, match="at most"):
        animate(picture(32, 48), layout(frames=60, fps=8), be)  # 7.4 s > CogVideoX's 6 s
    with pytest.raises(UserError, match="makes 48x32 videos only"):
        animate(picture(32, 48), layout(), be, width=64, height=32)
    assert be._pipe is None  # no weights were read
    with pytest.raises(UserError, match="component 'vae' missing"):
        import shutil

        broken = tiny("cogvideox").parent / "broken-cog"
        shutil.copytree(tiny("cogvideox"), broken)
        shutil.rmtree(broken / "vae")
        TTMBackend(model=str(broken))


def test_a14b_switches_experts_at_the_boundary(pipes):
    p = pipes("wan22-a14b")
    high, low = [], []
    handles = [_hook_calls(p.pipe.transformer, high), _hook_calls(p.pipe.transformer_2, low)]
    try:
        p(picture(32, 48), layout(), num_inference_steps=8, tweak_index=0, tstrong_index=2, guidance_scale=3.0,
          guidance_scale_2=2.0, generator=torch.Generator().manual_seed(0))
    finally:
        for h in handles:
            h.remove()
    boundary = p.pipe.config.boundary_ratio * 1000
    assert high and low and len(high) + len(low) == 16
    assert all(float(t) >= boundary for t in high) and all(float(t) < boundary for t in low)


def test_ti2v_expanded_timesteps_keep_the_first_frame_at_zero(pipes):
    p = pipes("wan22-ti2v")
    calls = []
    handle = _hook_calls(p.pipe.transformer, calls)
    try:
        out = p(picture(32, 64), layout(), num_inference_steps=4, tweak_index=1, tstrong_index=2, guidance_scale=1.0,
                generator=torch.Generator().manual_seed(0))
    finally:
        handle.remove()
    ts = p.pipe.scheduler.timesteps
    assert len(calls) == 3  # no CFG at guidance 1, three steps from tweak 1
    F = out.frames.shape[0]
    tokens_per_frame = (32 // 16 // 2) * (64 // 16 // 2)  # VAE 16x, patch 2x2
    for k, step in enumerate(calls):
        assert step.shape == (1, ((F - 1) // 4 + 1) * tokens_per_frame)  # one timestep per token
        assert torch.all(step[0, :tokens_per_frame] == 0)  # the image's frame is clean
        assert torch.all(step[0, tokens_per_frame:] == ts[1 + k])


def test_cogvideox_dual_clock_pins_on_its_ddim_schedule(pipes):
    from diffusers.utils.torch_utils import randn_tensor

    p = pipes("cogvideox")
    seen = {}
    out = p(picture(32, 48), layout(), num_inference_steps=5, tweak_index=1, tstrong_index=3, guidance_scale=3.0,
            mask_dilate=2, generator=torch.Generator().manual_seed(5),
            callback_on_step_end=lambda pipe, i, t, kw: seen.__setitem__(i, kw["latents"].clone()) or {})
    F = out.frames.shape[0]
    assert F == 9 and out.latent_mask.shape[0] == 3  # 0.25 s at 8 fps -> 9 frames (8k+1, at least 9) -> 3 latent
    shape = seen[1].shape  # (B, F', C, h, w)
    assert shape[1] == 3
    # the draws of prepare_latents (the image's VAE sample, then the start noise), then TTM's noise
    g = torch.Generator().manual_seed(5)
    x = torch.from_numpy(picture(32, 48)).float().permute(2, 0, 1)[None, :, None] / 127.5 - 1
    p.pipe.vae.encode(x).latent_dist.sample(g)
    randn_tensor(shape, generator=g)
    noise = randn_tensor(shape, generator=g)
    ref = p.parts.encode_video(out.reference, torch.device("cpu"))
    m = out.latent_mask.bool()[None, :, None].expand(shape)
    acp = p.pipe.scheduler.alphas_cumprod
    ts = p.pipe.scheduler.timesteps
    for i in (1, 2):
        a = acp[ts[i + 1]]
        target = a.sqrt() * ref + (1 - a).sqrt() * noise
        assert (seen[i][m] - target[m]).abs().max() < 1e-4
    a = acp[ts[4]]
    assert (seen[3][m] - (a.sqrt() * ref + (1 - a).sqrt() * noise)[m]).abs().max() > 1e-3


@pytest.mark.parametrize("family", ["wan22-a14b", "cogvideox"])
def test_speed_benchmark_smoke(tmp_path, capsys, family):
    import importlib.util
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "ttm_speed.py"
    spec = importlib.util.spec_from_file_location("ttm_speed", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "speed.json"
    assert mod.main(["--tiny", "--family", family, "--steps", "4", "--device", "cpu", "--no-warmup",
                     "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["time_ratio"] == pytest.approx(res["ttm_s"] / res["diffusers_s"])
    assert set(res["ttm_stages_s"]) == {"reference", "encode", "denoise", "decode"}
    assert res["frames"] == 9 and res["steps"] == 4 and res["family"] == family
    per_step = 1 if family == "cogvideox" else 2  # CFG: CogVideoX batches cond + uncond
    assert res["ttm_transformer_calls"] == per_step * (4 - res["tweak_index"])
    assert "ratio ttm / diffusers: time" in capsys.readouterr().out


def test_repo_id_from_the_local_cache(tiny, tmp_path, monkeypatch):
    import shutil

    import huggingface_hub.constants as hf_constants

    from iva0.backends.ttm import detect_family
    from iva0.backends.ttm.backend import TTMBackend
    from iva0.errors import ModelError

    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--someone--tiny-ti2v"
    shutil.copytree(tiny("wan22-ti2v"), repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    be = TTMBackend(model="someone/tiny-ti2v", steps=2)
    assert be.family.name == "wan22-ti2v" and "snapshots" in str(be.folder) and detect_family(be.folder) == "wan22-ti2v"
    assert be.geometry.multiple == 32  # TI2V-5B: VAE 16x, patch 2
    with pytest.raises(ModelError, match="not in the Hugging Face cache"):
        TTMBackend(model="someone/not-downloaded")


def test_check_inputs_raises_value_errors(pipes):
    p = pipes("wan21")
    img = picture(32, 48)
    ok = dict(num_frames=9, num_inference_steps=4, tweak_index=1, tstrong_index=2, guidance_scale=4.0,
              guidance_scale_2=None, reference=None, motion_mask=None, dual_clock_on=True, layout=layout())
    p.check_inputs(img, **ok)
    for change, message in (({"num_frames": 8}, "4k\\+1"), ({"tweak_index": 3}, "must not exceed"),
                            ({"tstrong_index": 4}, "0..3"), ({"guidance_scale_2": 2.0}, "A14B"),
                            ({"layout": None}, "reference video"),
                            ({"callback_on_step_end_tensor_inputs": ["noise"]}, "latents")):
        with pytest.raises(ValueError, match=message):
            p.check_inputs(img, **{**ok, **change})
    with pytest.raises(ValueError, match="multiples of 16"):
        p.check_inputs(picture(36, 48), **ok)
    p.check_inputs(img, **{**ok, "layout": None, "dual_clock_on": False})  # off: no reference needed


def test_negative_prompt_is_the_familys_standard_one_unless_given(tiny, pipes):
    from iva0.animate import animate
    from iva0.backends.ttm.backend import TTMBackend
    from iva0.backends.ttm.families import WAN_NEGATIVE_PROMPT

    img = picture(32, 48)
    be = TTMBackend(model=str(tiny("wan21")), steps=2)
    runs = {}
    for name, given, lay in (("not given", None, layout()), ("standard", WAN_NEGATIVE_PROMPT, layout()),
                             ("empty", "", layout()), ("layout's", None, layout().with_overrides(negative_prompt="blurry"))):
        be.settings.negative_prompt = given
        frames = animate(img, lay, be, width=48, height=32, seed=1).frames
        runs[name] = (be.last.info.get("negative_prompt"), frames)
    assert np.array_equal(runs["not given"][1], runs["standard"][1])
    assert not np.array_equal(runs["not given"][1], runs["empty"][1])  # "" is no negative prompt: another video
    assert runs["not given"][0] == WAN_NEGATIVE_PROMPT and runs["empty"][0] == "" and runs["layout's"][0] == "blurry"
    assert pipes("cogvideox").negative_prompt(None) == ""  # CogVideoX's scripts use none
    assert pipes("wan21").negative_prompt(layout(), "") == ""


def test_default_indices_pin_at_ten_steps_and_one_step_warns(tiny, capsys):
    from iva0.animate import animate
    from iva0.backends.ttm.backend import TTMBackend

    img = picture(32, 48)
    be = TTMBackend(model=str(tiny("wan21")), steps=10)
    animate(img, layout(), be, width=48, height=32, seed=1)
    info = be.last.info
    assert (info["tweak_index"], info["tstrong_index"]) == (1, 2)  # scaling alone gives 1/1: no pin at all
    assert capsys.readouterr().err == ""
    be.settings.steps = 1
    animate(img, layout(), be, width=48, height=32, seed=1)
    err = capsys.readouterr().err
    assert err.startswith("warning: 1 step leaves none to pin") and err.count("\n") == 1


@pytest.fixture(scope="session")
def dpm_folder(tiny):
    """Tiny CogVideoX with diffusers' CogVideoXDPMScheduler (the one CogVideoX's docs suggest), trailing spacing."""
    import json
    import shutil

    folder = tiny("cogvideox").parent / "cogvideox-dpm"
    if not folder.exists():
        shutil.copytree(tiny("cogvideox"), folder)
        index = json.loads((folder / "model_index.json").read_text())
        index["scheduler"] = ["diffusers", "CogVideoXDPMScheduler"]
        (folder / "model_index.json").write_text(json.dumps(index))
        path = folder / "scheduler" / "scheduler_config.json"
        config = json.loads(path.read_text())
        config.update(_class_name="CogVideoXDPMScheduler", timestep_spacing="trailing")
        path.write_text(json.dumps(config))
    return folder


def test_cogvideox_dpm_scheduler_is_diffusers_own_pipeline_with_the_clock_off(dpm_folder):
    import diffusers

    p = TTMPipeline.from_pretrained(dpm_folder)
    assert type(p.pipe.scheduler).__name__ == "CogVideoXDPMScheduler"
    img = picture(32, 48)
    ours = p(img, prompt="a red ball", negative_prompt="blurry", num_frames=9, num_inference_steps=4,
             guidance_scale=4.0, dual_clock_on=False, generator=torch.Generator().manual_seed(7))
    ref = diffusers.CogVideoXImageToVideoPipeline.from_pretrained(str(dpm_folder), torch_dtype=torch.float32)
    ref.set_progress_bar_config(disable=True)
    theirs = to_uint8(ref(image=Image.fromarray(img), prompt="a red ball", negative_prompt="blurry", height=32, width=48,
                          num_frames=9, num_inference_steps=4, guidance_scale=4.0, output_type="np",
                          generator=torch.Generator().manual_seed(7)).frames[0])
    assert theirs[1:].std() > 5
    assert np.array_equal(ours.frames[1:], theirs[1:])


def test_cogvideox_dpm_scheduler_dual_clock_pins_and_restarts_its_history_at_tweak(dpm_folder):
    from diffusers.utils.torch_utils import randn_tensor

    p = TTMPipeline.from_pretrained(dpm_folder)
    calls, seen = [], {}
    sched = p.pipe.scheduler
    step = sched.step

    def spy(model_output, old_pred, timestep, timestep_back, sample, **kw):
        calls.append((old_pred is None, None if timestep_back is None else int(timestep_back), int(timestep)))
        return step(model_output, old_pred, timestep, timestep_back, sample, **kw)

    sched.step = spy
    try:
        out = p(picture(32, 48), layout(), num_inference_steps=5, tweak_index=1, tstrong_index=3, guidance_scale=3.0,
                mask_dilate=2, generator=torch.Generator().manual_seed(5),
                callback_on_step_end=lambda pipe, i, t, kw: seen.__setitem__(i, kw["latents"].clone()) or {})
    finally:
        del sched.step
    ts = [int(t) for t in sched.timesteps]
    # a fresh multistep history at tweak (first order, nothing to look back to), then each step looks back one
    assert calls == [(True, None, ts[1]), (False, ts[1], ts[2]), (False, ts[2], ts[3]), (False, ts[3], ts[4])]
    shape = seen[1].shape
    g = torch.Generator().manual_seed(5)
    x = torch.from_numpy(picture(32, 48)).float().permute(2, 0, 1)[None, :, None] / 127.5 - 1
    p.pipe.vae.encode(x).latent_dist.sample(g)
    randn_tensor(shape, generator=g)
    noise = randn_tensor(shape, generator=g)
    ref = p.parts.encode_video(out.reference, torch.device("cpu"))
    m = out.latent_mask.bool()[None, :, None].expand(shape)
    acp = sched.alphas_cumprod
    for i in (1, 2):
        a = acp[ts[i + 1]]
        assert (seen[i][m] - (a.sqrt() * ref + (1 - a).sqrt() * noise)[m]).abs().max() < 1e-4
    a = acp[ts[4]]
    assert (seen[3][m] - (a.sqrt() * ref + (1 - a).sqrt() * noise)[m]).abs().max() > 1e-3


def _first_input(module, record):
    def hook(mod, args, kwargs):
        if not record:
            record.append(kwargs["hidden_states"].detach().clone())
    return module.register_forward_pre_hook(hook, with_kwargs=True)


def _start_noise(p, family, shape, seed):
    """TTM's noise n as the test draws it: after diffusers' own draws of prepare_latents, with the same generator."""
    from diffusers.utils.torch_utils import randn_tensor

    g = torch.Generator().manual_seed(seed)
    if family == "cogvideox":  # the image's VAE sample, then the start noise
        x = torch.from_numpy(picture(32, 48)).float().permute(2, 0, 1)[None, :, None] / 127.5 - 1
        p.pipe.vae.encode(x).latent_dist.sample(g)
    randn_tensor(shape, generator=g, dtype=torch.float32)
    return randn_tensor(shape, generator=g, dtype=torch.float32)


@pytest.mark.parametrize("family", ["wan21", "cogvideox"])
def test_first_transformer_input_is_the_reference_noised_to_tweak_with_the_drawn_noise(family, pipes):
    p = pipes(family)
    steps, tweak = 6, 2
    first = []
    handle = _first_input(p.pipe.transformer, first)
    try:
        out = p(picture(32, 48), layout(), num_inference_steps=steps, tweak_index=tweak, tstrong_index=4,
                guidance_scale=3.0, mask_dilate=2, generator=torch.Generator().manual_seed(11))
    finally:
        handle.remove()
    ref = p.parts.encode_video(out.reference, torch.device("cpu"))
    noise = _start_noise(p, family, ref.shape, 11)
    sched = p.pipe.scheduler
    t = sched.timesteps[tweak]
    if family == "cogvideox":  # (2B, F', 2C, h, w): [uncond, cond] x [latents, image latents]; DDIM scales nothing
        a = sched.alphas_cumprod[int(t)]
        expected = a.sqrt() * ref + (1 - a).sqrt() * noise
        got = first[0][:1, :, : ref.shape[2]]
    else:  # (B, 2C + 4, F', h, w): latents then the image condition
        sigma = sched.sigmas[tweak]
        expected = (1 - sigma) * ref + sigma * noise
        got = first[0][:, : ref.shape[1]]
    assert float(t) != float(sched.timesteps[0])
    assert (got - expected).abs().max() < 1e-5


def _moving_block(frames, h, w, spatial, temporal):
    """A reference video and pixel mask with a block in the left of the frame moving right one cell per latent
    frame, with edges cut at 5/8 and 3/8 of a cell; and the latent mask computed here, cell by cell."""
    ref = np.broadcast_to(picture(h, w), (frames, h, w, 3)).copy()
    mask = np.zeros((frames, h, w), np.float32)
    for f in range(frames):
        k = 0 if f == 0 else (f - 1) // temporal + 1  # the latent frame pixel frame f falls in
        x0 = k * spatial + spatial - 5  # 5 of the first cell's 8 columns: in; 3 of the last's: out
        y0 = spatial
        mask[f, y0: y0 + 2 * spatial, x0: x0 + 5 + spatial + 3] = 1.0
        ref[f][mask[f] > 0] = (240, 30, 30)
    picked = [0] + list(range(1, frames, temporal))
    want = np.zeros((len(picked), h // spatial, w // spatial), np.float32)
    for k, f in enumerate(picked):
        for r in range(h // spatial):
            for c in range(w // spatial):
                want[k, r, c] = mask[f, r * spatial:(r + 1) * spatial, c * spatial:(c + 1) * spatial].mean() >= 0.5
    return ref, mask, want


@pytest.mark.parametrize("family", ["wan21", "cogvideox"])
def test_latent_mask_and_pins_follow_the_pixel_mask(family, pipes):
    p = pipes(family)
    frames = 9
    ref_video, mask, want = _moving_block(frames, 32, 48, p.parts.spatial, p.temporal)
    assert want.any() and not np.array_equal(want, want[..., ::-1])  # a left-right flip would show
    assert want[0, 1, 0] == 1 and want[0, 1, 2] == 0  # 5/8 of the cell: in; 3/8: out
    seen = {}
    out = p(picture(32, 48), reference=ref_video, motion_mask=mask, num_frames=frames, num_inference_steps=4,
            tweak_index=1, tstrong_index=3, guidance_scale=3.0, generator=torch.Generator().manual_seed(2),
            callback_on_step_end=lambda pipe, i, t, kw: seen.__setitem__(i, kw["latents"].clone()) or {})
    assert np.array_equal(out.latent_mask.numpy(), want)
    ref = p.parts.encode_video(ref_video, torch.device("cpu"))
    noise = _start_noise(p, family, ref.shape, 2)
    sched = p.pipe.scheduler
    t_next = sched.timesteps[2]
    if family == "cogvideox":
        a = sched.alphas_cumprod[int(t_next)]
        target = a.sqrt() * ref + (1 - a).sqrt() * noise
        m = torch.from_numpy(want).bool()[None, :, None].expand(ref.shape)  # (B, F', C, h, w)
    else:
        sigma = sched.sigmas[2]
        target = (1 - sigma) * ref + sigma * noise
        m = torch.from_numpy(want).bool()[None, None].expand(ref.shape)  # (B, C, F', h, w)
    gap = (seen[1] - target).abs()
    assert gap[m].max() < 1e-4  # pinned where the pixel mask is
    cells = gap.amax(dim=2 if family == "cogvideox" else 1)[0]  # (F', h, w): the largest gap over channels
    assert (cells[~torch.from_numpy(want).bool()] > 1e-4).all()  # every cell outside it denoised freely
