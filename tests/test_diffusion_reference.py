"""IVA0 against diffusers' own pipelines and model builders (tiny random weights, CPU).

Each check pins a place where iva0 composes diffusers parts by hand: the plain
denoising loop (vs `AnimateDiffPipeline`), the GLIGEN grounding tokens and the
grounded UNet call (vs `StableDiffusionGLIGENTextImagePipeline`), and the motion
UNet graft at full size (vs `UNetMotionModel.from_unet2d` plus GLIGEN's layers).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from PIL import Image
from skimage import data

from iva0.backends.diffusion import tiny
from iva0.backends.diffusion.components import IVA0Components
from iva0.backends.diffusion.grounding import gligen_objs
from iva0.backends.diffusion.motion_unet import assemble_motion_unet
from iva0.backends.diffusion.pipeline import IVA0Options, IVA0Pipeline
from iva0.layout import make_layout

F = 4


def _scene(num_frames=F, size=64):
    image = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_AREA)
    layout = make_layout(
        [("man", [(0, (0.05, 0.05, 0.45, 0.45)), (num_frames - 1, (0.3, 0.05, 0.7, 0.45))]),
         ("rocket", [(0, (0.6, 0.55, 0.95, 0.95)), (num_frames - 1, (0.6, 0.3, 0.95, 0.7))])],
        num_frames=num_frames, prompt="an astronaut and a rocket", negative_prompt="blurry",
    )
    return image, layout


def test_everything_off_matches_animatediff_pipeline():
    """No inversion, grounding, MAS, blend, motion init or paste: iva0's loop is AnimateDiff's, same start latents."""
    from diffusers import AnimateDiffPipeline

    comps = tiny.build_components(seed=4)
    pipe = IVA0Pipeline.from_components(comps)
    image, layout = _scene()
    off = IVA0Options(inversion=False, grounding_steps=0.0, mas=False, blend_steps=0.0, motion_init=False,
                      paste=False)
    out = pipe(image, layout, num_inference_steps=4, guidance_scale=7.5, generator=torch.Generator().manual_seed(3),
               options=off)
    start = out.trajectory[-1][:, :, None].repeat(1, 1, F, 1, 1)  # (1, C, F, h, w): every frame starts from z_T

    ref = AnimateDiffPipeline(vae=comps.vae, text_encoder=comps.text_encoder, tokenizer=comps.tokenizer, unet=comps.unet,
                              motion_adapter=None, scheduler=comps.scheduler)
    ref.set_progress_bar_config(disable=True)
    want = ref(prompt=layout.prompt, negative_prompt=layout.negative_prompt, num_frames=F, height=64, width=64,
               num_inference_steps=4, guidance_scale=7.5, latents=start.clone(), output_type="latent").frames
    rel = ((out.latents - want).norm() / want.norm()).item()
    print(f"iva0 (everything off) vs AnimateDiffPipeline: relative L2 {rel:.2e}")
    assert rel < 1e-5, rel
    assert (out.latents - start).norm() / start.norm() > 0.05  # the loop really denoised


def test_one_frame_with_grounding_matches_the_gligen_pipeline():
    """Grounding tokens (30 slots per modality) and the grounded / ungrounded UNet calls match GLIGEN's pipeline."""
    from diffusers import StableDiffusionGLIGENTextImagePipeline
    from transformers import CLIPProcessor

    from iva0.backends.diffusion.grounding import object_crops

    ref_unet = tiny.build_parts(seed=6)["unet"]  # the 2D GLIGEN UNet; same seed -> same weights as ours
    parts = tiny.build_parts(seed=6)
    motion = assemble_motion_unet(parts["unet"], parts["motion_adapter"])
    with torch.no_grad():
        for name, param in motion.named_parameters():
            if ".motion_modules." in name and ".proj_out." in name:
                param.zero_()  # one frame: the temporal layers add exactly nothing
    comps = IVA0Components(unet=motion, vae=parts["vae"], text_encoder=parts["text_encoder"],
                           tokenizer=tiny.load_tokenizer(), image_encoder=parts["image_encoder"],
                           image_project=parts["image_project"], scheduler=tiny.make_scheduler(),
                           feature_extractor=tiny.make_feature_extractor(parts["image_encoder"].config.image_size))
    pipe = IVA0Pipeline.from_components(comps.eval())
    image, layout = _scene()
    size = comps.image_encoder.config.image_size
    crops = object_crops(image, layout.boxes()[:, 0], size)  # what iva0 feeds CLIP, as PIL images for GLIGEN's processor

    ref = StableDiffusionGLIGENTextImagePipeline(
        vae=comps.vae, text_encoder=comps.text_encoder, tokenizer=comps.tokenizer,
        processor=CLIPProcessor(image_processor=comps.feature_extractor, tokenizer=comps.tokenizer),
        image_encoder=comps.image_encoder, image_project=comps.image_project, unet=ref_unet,
        scheduler=tiny.make_scheduler(), safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    ref.set_progress_bar_config(disable=True)
    calls, tokens_seen = [], []
    hooks = [
        ref_unet.register_forward_hook(lambda m, a, kw, o: calls.append((a, kw, o.sample)), with_kwargs=True),
        ref_unet.position_net.register_forward_hook(lambda m, a, o: tokens_seen.append(o)),
    ]
    start = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0))  # (1, C, h, w)
    try:
        ref(prompt=layout.prompt, negative_prompt=layout.negative_prompt, height=64, width=64, num_inference_steps=1,
            guidance_scale=7.5, gligen_phrases=list(layout.names), gligen_images=[Image.fromarray(c) for c in crops],
            gligen_boxes=[list(b) for b in layout.boxes()[:, 0]], latents=start.clone(), output_type="latent")
    finally:
        for h in hooks:
            h.remove()
    assert len(calls) == 2  # one call with grounding, one without (GLIGEN's CFG)

    # ours: frame 0's tokens, [unconditional (all masked), conditional]
    ours = pipe.grounding_tokens(image, layout, "cpu")
    one = type(ours)(boxes=ours.boxes[:1], masks=ours.masks[:1], phrase_embeds=ours.phrase_embeds,
                     image_embeds=ours.image_embeds)
    with torch.no_grad():
        objs = gligen_objs(motion.position_net, one, uncond=True)  # (2, 60, D)
    grounded, ungrounded = tokens_seen
    assert objs.shape == grounded.shape == (2, 60, 32)
    torch.testing.assert_close(objs[1], grounded[1], atol=1e-5, rtol=1e-5)  # the objects' tokens + 28 null slots
    torch.testing.assert_close(objs[0], ungrounded[0], atol=1e-5, rtol=1e-5)  # all null

    (sample, t), kw, eps_grounded = calls[0][0][:2], calls[0][1], calls[0][2]
    _, _, eps_plain = calls[1]
    text = kw["encoder_hidden_states"]  # (2, L, D): [negative, prompt]
    with torch.no_grad():
        eps = pipe._unet_eps(sample[:, :, None], t, text, objs)[:, :, 0]  # (2, C, h, w), one-frame videos
    # GLIGEN's CFG takes the prompt half of the grounded call and the negative half of the ungrounded one
    for got, want in ((eps[1], eps_grounded[1]), (eps[0], eps_plain[0])):
        rel = ((got - want).norm() / want.norm()).item()
        assert rel < 1e-5, rel


def test_full_size_graft_has_diffusers_names_and_shapes():
    """The grafted full-size UNet = `UNetMotionModel.from_unet2d`'s tensors plus GLIGEN's fusers and position_net (meta)."""
    from accelerate import init_empty_weights
    from diffusers import UNetMotionModel

    configs = tiny.component_configs(full_size=True)
    gligen = tiny.build_part("unet", configs["unet"], meta=True)
    adapter = tiny.build_part("motion_adapter", configs["motion_adapter"], meta=True)
    plain_config = {k: v for k, v in configs["unet"].items() if k != "attention_type"}
    plain = tiny.build_part("unet", plain_config, meta=True)  # SD1.5's UNet: no fusers, no position_net
    with init_empty_weights():
        want = UNetMotionModel.from_unet2d(plain, adapter, load_weights=False)
    want_shapes = {k: tuple(v.shape) for k, v in want.state_dict().items()}
    extra = {k: tuple(v.shape) for k, v in gligen.state_dict().items() if ".fuser." in k or k.startswith("position_net.")}
    assert extra and not set(extra) & set(want_shapes)
    got = assemble_motion_unet(gligen, adapter)
    got_shapes = {k: tuple(v.shape) for k, v in got.state_dict().items()}
    assert got_shapes == {**want_shapes, **extra}
    assert sum(np.prod(s) for s in extra.values()) > 1e8  # GLIGEN's layers are large: the check is not vacuous
