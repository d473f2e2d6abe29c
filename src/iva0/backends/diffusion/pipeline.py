"""IVA0Pipeline: layout-conditioned, motion-decomposed image animation (DESIGN.md, "The iva0 diffusion pipeline").

Composes diffusers' classes (a `UNetMotionModel` carrying GLIGEN text-image
fusers and `position_net`, `AutoencoderKL`, a DDIM scheduler) with
transformers' CLIP text and vision encoders. The steps of `__call__`:

    1. check inputs            5. masks O/V/G/K at latent resolution
    2. encode the prompts      6. inversion of z0 and the plate (DDIM, optional null-text)
    3. encode image + plate    7. initial latents: shared z_T + motion-aligned init
    4. grounding tokens        8. denoise: scheduled grounding, MAS, CFG, latent blend
                               9. chunked decode, exact paste over K(f), frame 0 = input

Every mechanism has a switch in `IVA0Options`, so ablations are one flag each.
Layouts longer than the motion modules' `motion_max_seq_length` are denoised in
overlapping context windows (windows.py). `__call__` runs without autograd (only
null-text inversion opens its own gradient scope) and leaves the UNet as loaded:
the MAS processors and grounding switches exist only for the length of a call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
from diffusers import DiffusionPipeline
from einops import rearrange

from iva0.backends.base import ProgressFn, no_progress
from iva0.backends.diffusion.attention import MASState, install_mas, motion_attention_modules
from iva0.backends.diffusion.compose import background_plate, paste_alpha, paste_kept
from iva0.backends.diffusion.grounding import (
    MAX_OBJECTS,
    GroundingTokens,
    blend_active,
    encode_object_images,
    encode_phrases,
    frame_boxes,
    fusers,
    gligen_objs,
    grounding_active,
    set_grounding,
)
from iva0.backends.diffusion.init_noise import blend_kept, motion_aligned_init
from iva0.backends.diffusion.inversion import NoiseLevels, cfg, ddim_invert, ddim_step, null_text_inversion
from iva0.backends.diffusion.windows import context_windows, window_weights
from iva0.layout import Layout
from iva0.masks import LayoutMasks, layout_masks


@dataclass
class IVA0Options:
    """The method's switches and knobs (defaults = the full method)."""

    grounding_steps: float = 0.3  # beta: share of steps with GLIGEN grounding on
    blend_steps: float = 0.8  # lambda: share of steps with the kept-region latent blend
    mas: bool = True  # Motion Afterimage Suppression in temporal attention
    inversion: bool = True  # DDIM-invert the input (else: forward-noise it with random noise)
    inversion_iters: int = 0  # fixed-point refinements per inversion step (0 = plain DDIM inversion; each adds one still-image UNet call per step)
    null_text: bool = False  # null-text inversion (exact reconstruction under CFG; slower)
    null_text_steps: int = 10  # inner optimisation steps per timestep
    null_text_lr: float = 1e-2  # Adam step size of the null-text embedding (the paper's)
    motion_init: bool = True  # motion-aligned initial latents (else shared noise only)
    plate: bool = True  # use a background plate for V(f) in the init
    paste: bool = True  # exact feathered paste of the input's pixels over K(f)
    latent_feather: float = 2.0  # soft edge of the latent masks, in latent cells
    paste_feather: float = 0.02  # paste ramp inside G(f), as a share of the shorter side
    decode_chunk_size: int = 8  # frames per VAE decode call
    context_frames: int | None = None  # frames per UNet call (None = the motion modules' motion_max_seq_length)
    context_overlap: int | None = None  # frames shared by neighbouring windows (None = a quarter of a window)


@dataclass
class IVA0PipelineOutput:
    frames: np.ndarray  # (F, H, W, 3) uint8, frame 0 = the input
    masks: LayoutMasks  # O, V, G, K at latent resolution, as used by the blend
    paste_alpha: np.ndarray | None  # (F, H, W) weight of the input's pixels, None without paste
    latents: torch.Tensor  # final latents (1, C, F, h, w)
    trajectory: list[torch.Tensor]  # inverted (or forward-noised) input latents [z0, ..., z_T], each (1, C, h, w)
    grounding: GroundingTokens
    timesteps: list[int]
    info: dict[str, Any] = field(default_factory=dict)


class _StageClock:
    """Wall time per pipeline stage (CUDA work is synchronised at each mark, so the figures are true)."""

    def __init__(self, device):
        self.device = torch.device(device)
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def mark(self, stage: str) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        now = time.perf_counter()
        self.seconds[stage] = now - self._last
        self._last = now


class IVA0Pipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->image_encoder->image_project->unet->vae"

    def __init__(self, unet, vae, text_encoder, tokenizer, image_encoder, image_project, scheduler):
        super().__init__()
        self.register_modules(
            unet=unet,
            vae=vae,
            text_encoder=text_encoder,
            tokenizer=tokenizer,
            image_encoder=image_encoder,
            image_project=image_project,
            scheduler=scheduler,
        )
        self.vae_scale_factor = 2 ** (len(self.vae.config.block_out_channels) - 1)
        # the MAS processors are installed per call (see _unet_state); the UNet keeps its own between calls
        self.mas_state = MASState()
        self.num_mas_layers = len(motion_attention_modules(self.unet))

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(cls, path=None, **load_kwargs) -> "IVA0Pipeline":
        """Load a model folder (or separate sources: base=, gligen=, motion_adapter=) via `load_components`."""
        from iva0.backends.diffusion.loading import load_components

        comps = load_components(path, **load_kwargs)
        return cls.from_components(comps)

    @classmethod
    def from_components(cls, comps) -> "IVA0Pipeline":
        names = ("unet", "vae", "text_encoder", "tokenizer", "image_encoder", "image_project", "scheduler")
        return cls(**{n: getattr(comps, n) for n in names})

    @property
    def max_context_frames(self) -> int:
        """Frames one UNet call may hold: the motion modules' positional embedding length."""
        return int(self.unet.config.get("motion_max_seq_length", 32))

    @property
    def size_multiple(self) -> int:
        """Image sides must be a multiple of this: the VAE factor times the UNet's downsampling."""
        downs = len(self.unet.config.block_out_channels) - 1
        return self.vae_scale_factor * 2**downs

    # ------------------------------------------------------------------ 1. inputs
    def check_inputs(self, image, layout, num_inference_steps, guidance_scale, options: IVA0Options, object_image_embeds=None,
                     composite=None):
        if not isinstance(layout, Layout):
            raise ValueError(f"layout must be an iva0 Layout, got {type(layout).__name__}")
        if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError("image must be an RGB uint8 array shaped (H, W, 3)")
        H, W = image.shape[:2]
        m = self.size_multiple
        if H % m or W % m:
            raise ValueError(f"image size {W}x{H} must be a multiple of {m} on both sides for this model")
        if not isinstance(num_inference_steps, int) or num_inference_steps < 1:
            raise ValueError(f"steps must be a positive integer, got {num_inference_steps!r}")
        if num_inference_steps > self.scheduler.config.num_train_timesteps:
            raise ValueError(f"steps must be at most {self.scheduler.config.num_train_timesteps}, got {num_inference_steps}")
        if not (guidance_scale >= 0 and np.isfinite(guidance_scale)):
            raise ValueError(f"guidance must be a finite number >= 0, got {guidance_scale!r}")
        for name in ("grounding_steps", "blend_steps"):
            v = getattr(options, name)
            if not (0.0 <= v <= 1.0):
                raise ValueError(f"{name.replace('_', '-')} must be between 0 and 1, got {v!r}")
        if options.null_text and not options.inversion:
            raise ValueError("null-text inversion needs inversion (drop --no-inversion or --null-text)")
        if options.decode_chunk_size < 1 or options.null_text_steps < 1 or options.inversion_iters < 0:
            raise ValueError("decode_chunk_size and null_text_steps must be >= 1, inversion_iters >= 0")
        if layout.num_frames < 2:
            raise ValueError("the layout needs at least 2 frames")
        length = self.max_context_frames if options.context_frames is None else options.context_frames
        if not 1 <= length <= self.max_context_frames:
            raise ValueError(f"context_frames must be from 1 to {self.max_context_frames} (the motion modules' "
                             f"length), got {length}")
        if options.context_overlap is not None and not 0 <= options.context_overlap < length:
            raise ValueError(f"context_overlap must be from 0 to {length - 1}, got {options.context_overlap}")
        if len(layout.objects) > MAX_OBJECTS:
            raise ValueError(f"GLIGEN grounds at most {MAX_OBJECTS} objects; the layout has {len(layout.objects)}")
        if object_image_embeds is not None and object_image_embeds.shape[0] != len(layout.objects):
            raise ValueError(
                f"tuned weights hold {object_image_embeds.shape[0]} object embeddings but the layout has "
                f"{len(layout.objects)} objects"
            )
        if composite is not None:
            from iva0.backends.composite import CompositeBackend, check_segmentation

            if not isinstance(composite, CompositeBackend):
                raise ValueError(f"composite must be an iva0 CompositeBackend, got {type(composite).__name__}")
            check_segmentation(layout, composite.config)  # a LayoutError (a ValueError) when a mask is missing

    # ------------------------------------------------------------------ 2-4. encoders
    @torch.no_grad()
    def encode_prompt(self, prompt: str, device) -> torch.Tensor:
        ids = self.tokenizer(
            [prompt], padding="max_length", max_length=self.tokenizer.model_max_length, truncation=True, return_tensors="pt"
        ).input_ids.to(device)
        return self.text_encoder(ids)[0]  # (1, L, D)

    @torch.no_grad()
    def encode_images(self, images: np.ndarray, device) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> VAE latents (B, C, h, w) float32 (distribution mean, scaled)."""
        x = torch.from_numpy(images).to(device=device, dtype=self.vae.dtype)
        x = rearrange(x, "b h w c -> b c h w") / 127.5 - 1.0  # (B, 3, H, W) in [-1, 1]
        z = self.vae.encode(x).latent_dist.mean
        return (z * self.vae.config.scaling_factor).float()

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor, chunk: int, progress: ProgressFn = no_progress) -> np.ndarray:
        """(1, C, F, h, w) -> (F, H, W, 3) uint8, `chunk` frames per VAE call (bounded memory)."""
        z = rearrange(latents, "b c f h w -> (b f) c h w")  # (F, C, h, w)
        out = []
        for s in range(0, z.shape[0], chunk):
            part = z[s : s + chunk].to(self.vae.dtype) / self.vae.config.scaling_factor
            x = self.vae.decode(part).sample.float()  # (n, 3, H, W)
            x = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
            out.append(rearrange(x, "n c h w -> n h w c").cpu().numpy())  # (n, H, W, 3)
            progress(min(s + chunk, z.shape[0]), z.shape[0], "decoding")
        return np.concatenate(out)

    def grounding_tokens(self, image: np.ndarray, layout: Layout, device, object_image_embeds=None) -> GroundingTokens:
        boxes = layout.boxes()  # (J, F, 4)
        dtype = self.unet.dtype
        phrases = encode_phrases(self.tokenizer, self.text_encoder, layout.names, device, dtype)
        if object_image_embeds is None:
            images = encode_object_images(self.image_encoder, self.image_project, image, boxes[:, 0], device, dtype)
        else:
            images = object_image_embeds.to(device=device, dtype=dtype)
        fb, fm = frame_boxes(boxes)
        return GroundingTokens(boxes=fb, masks=fm, phrase_embeds=phrases, image_embeds=images)

    # ------------------------------------------------------------------ the UNet as eps functions
    def _unet_eps(self, z, t, text, objs=None) -> torch.Tensor:
        """eps for latents z (B, C, F, h, w) with text (B*F, L, D) and optional grounding objs (B*F, 60, D)."""
        kwargs = {"gligen": {"objs": objs}} if objs is not None else None
        out = self.unet(z.to(self.unet.dtype), t, encoder_hidden_states=text.to(self.unet.dtype), cross_attention_kwargs=kwargs)
        return out.sample.float()

    def _windowed_eps(self, z, t, text, objs, windows, weights) -> torch.Tensor:
        """eps of a whole video (B, C, F, h, w) as the weighted mean over context windows (windows.py).

        text (B*F, L, D) and objs (B*F, 60, D) are in (b f) order; each window gets its
        frames' slices, and MAS its frames' boxes. One window = one plain UNet call.
        """
        B, F_ = z.shape[0], z.shape[2]
        text = rearrange(text, "(b f) l d -> b f l d", b=B)  # (B, F, L, D)
        objs = rearrange(objs, "(b f) n d -> b f n d", b=B) if objs is not None else None  # (B, F, 60, D)
        eps = torch.zeros(z.shape, dtype=torch.float32, device=z.device)  # (B, C, F, h, w)
        for (start, stop), weight in zip(windows, weights):
            self.mas_state.window = (start, stop)
            part = self._unet_eps(
                z[:, :, start:stop], t, rearrange(text[:, start:stop], "b f l d -> (b f) l d"),
                rearrange(objs[:, start:stop], "b f n d -> (b f) n d") if objs is not None else None,
            )  # (B, C, F_w, h, w)
            eps[:, :, start:stop] += weight.to(eps.device)[None, None, :, None, None] * part
        self.mas_state.window = None
        return eps

    def _still_eps_fn(self, text: torch.Tensor):
        """eps of single-frame latents (B, C, h, w) with the text (1, L, D) and no grounding: used for inversion."""

        def eps_fn(z, t):
            zz = z[:, :, None]  # (B, C, 1, h, w): one-frame videos
            return self._unet_eps(zz, t, text.expand(z.shape[0], -1, -1))[:, :, 0]  # (B, C, h, w)

        return eps_fn

    # ------------------------------------------------------------------ __call__
    @torch.no_grad()
    def __call__(
        self,
        image: np.ndarray,
        layout: Layout,
        prompt: str | None = None,
        negative_prompt: str | None = None,
        num_inference_steps: int = 25,
        guidance_scale: float = 7.5,
        generator: torch.Generator | None = None,
        options: IVA0Options | None = None,
        object_image_embeds: torch.Tensor | None = None,
        plate_image: np.ndarray | None = None,
        composite=None,
        callback_on_step_end: Callable[["IVA0Pipeline", int, int, dict], dict | None] | None = None,
        callback_on_step_end_tensor_inputs: tuple[str, ...] = ("latents",),
        progress: ProgressFn | None = None,
        **option_overrides,
    ) -> IVA0PipelineOutput:
        """Animate `image` (RGB uint8, sides a multiple of `size_multiple`) along `layout`.

        prompt / negative_prompt default to the layout's. option_overrides are
        IVA0Options fields (e.g. mas=False). callback_on_step_end(pipe, i, t,
        {"latents": ...}) may return {"latents": new} to replace them.
        `generator` drives every random draw: the background plate's segmentation
        seed and, without inversion, the forward noise (the global RNG when None).
        `composite` (iva0.backends.cutouts.cutout_backend) makes the plate when no
        `plate_image` is given: its segmenter cuts the objects out, its fill fills
        the hole (None: the composite backend's defaults, GrabCut and Telea).
        """
        options = dataclasses.replace(options or IVA0Options(), **option_overrides)
        progress = progress or no_progress
        # 1. check inputs
        self.check_inputs(image, layout, num_inference_steps, guidance_scale, options, object_image_embeds, composite)
        prompt = layout.prompt if prompt is None else prompt
        negative_prompt = layout.negative_prompt if negative_prompt is None else negative_prompt
        device = self._execution_device
        H, W = image.shape[:2]
        F_ = layout.num_frames
        do_cfg = guidance_scale > 1.0
        clock = _StageClock(device)
        progress(0, 4, "encoding")
        # every random draw comes from the generator: the plate's seed first, then the forward noise
        gen_device = generator.device if generator is not None else torch.device("cpu")  # a CUDA generator works too
        plate_seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=gen_device))

        # 2. prompts: unconditional = negative prompt (and no grounding, step 8)
        cond_text = self.encode_prompt(prompt, device)  # (1, L, D)
        uncond_text = self.encode_prompt(negative_prompt, device)  # (1, L, D)
        progress(1, 4, "encoding")

        # 3. image and background plate latents
        use_plate = options.plate and options.motion_init
        if use_plate and plate_image is None:
            plate_image = background_plate(image, layout, seed=plate_seed, composite=composite)
        stills = np.stack([image, plate_image]) if use_plate else image[None]
        z_still = self.encode_images(stills, device)  # (1 or 2, C, h, w): input [, plate]
        h, w = z_still.shape[-2:]
        progress(2, 4, "encoding")

        # 4. grounding tokens: frame f carries b_j(f)
        tokens = self.grounding_tokens(image, layout, device, object_image_embeds)
        progress(3, 4, "encoding")

        # 5. masks at latent resolution (soft edges)
        masks = layout_masks(layout, h, w, feather=options.latent_feather)
        kept = torch.from_numpy(masks.K).to(device)  # (F, h, w)
        vacated = torch.from_numpy(masks.V).to(device)  # (F, h, w)
        progress(4, 4, "encoding")

        clock.mark("encode")

        with self._unet_state():  # grounding and MAS switches are restored even on errors
            # 6. inversion (or forward noising) of the input and the plate
            levels = NoiseLevels.from_scheduler(self.scheduler, num_inference_steps)
            n = len(levels)
            self.mas_state.enabled = False  # single frames: no temporal attention to mask
            set_grounding(self.unet, False)
            null_embeds = None
            if options.inversion:
                traj = ddim_invert(
                    self._still_eps_fn(cond_text), z_still, levels, callback=lambda d, t: progress(d, t, "inverting"),
                    fixed_point_iters=options.inversion_iters,
                )  # [z0, ..., z_T], each (1 or 2, C, h, w)
                if options.null_text and do_cfg:
                    null_embeds = self._null_text(cond_text, uncond_text, [z[:1] for z in traj], levels, guidance_scale, options, progress)
            else:
                # one noise for the input and the plate: their backgrounds stay alike
                noise = torch.randn((1, *z_still.shape[1:]), generator=generator, device=gen_device).to(device)  # (1, C, h, w)
                traj = [z_still] + [
                    levels_alpha.sqrt() * z_still + (1 - levels_alpha).sqrt() * noise
                    for levels_alpha in (torch.tensor(a, dtype=torch.float32) for a in reversed(levels.alpha))
                ]
            traj_input = [z[:1] for z in traj]  # the input's trajectory, (1, C, h, w) each

            # 7. initial latents: shared z_T, motion-aligned init inside the boxes and V(f)
            plate_zT = traj[-1][1] if use_plate else None
            latents = motion_aligned_init(traj[-1][0], layout.boxes(), plate_zT, vacated, options.motion_init)[None]  # (1, C, F, h, w)

            clock.mark("invert")

            # 8. denoise, in context windows when the layout is longer than the motion modules
            self.mas_state.set_boxes(layout.boxes(), (h, w))
            self.mas_state.enabled = options.mas
            self.mas_state.batch_size = 2 if do_cfg else 1
            windows = context_windows(F_, options.context_frames or self.max_context_frames, options.context_overlap)
            weights = window_weights(windows, F_)
            cond_frames = cond_text.repeat_interleave(F_, dim=0)  # (F, L, D), text per (b f) entry
            objs = None
            grounded_steps = 0
            for i, t in enumerate(levels.timesteps):
                ground = grounding_active(i, n, options.grounding_steps)
                set_grounding(self.unet, ground)
                if ground and objs is None:
                    objs = gligen_objs(self.unet.position_net, tokens, uncond=do_cfg).to(device)  # (B*F, 60, D)
                grounded_steps += int(ground)
                if do_cfg:
                    u = (null_embeds[i] if null_embeds is not None else uncond_text).to(cond_text.dtype)  # (1, L, D)
                    text = torch.cat([u.repeat_interleave(F_, dim=0), cond_frames])  # (2F, L, D)
                    eps_u, eps_c = self._windowed_eps(torch.cat([latents, latents]), t, text, objs if ground else None,
                                                      windows, weights).chunk(2)
                    eps = cfg(eps_u, eps_c, guidance_scale)
                else:
                    eps = self._windowed_eps(latents, t, cond_frames, objs if ground else None, windows, weights)
                latents = ddim_step(eps, latents, levels.alpha[i], levels.alpha_prev[i])  # (1, C, F, h, w)
                if blend_active(i, n, options.blend_steps):
                    latents = blend_kept(latents, traj_input[n - 1 - i][0], kept)
                if callback_on_step_end is not None:
                    tensors = {"latents": latents, "kept": kept}
                    cb = callback_on_step_end(self, i, t, {k: tensors[k] for k in callback_on_step_end_tensor_inputs})
                    if cb:
                        latents = cb.get("latents", latents)
                progress(i + 1, n, "denoising")
        clock.mark("denoise")

        # 9. decode, paste, frame 0 = input
        frames = self.decode_latents(latents, options.decode_chunk_size, progress)
        alpha = None
        if options.paste:
            alpha = paste_alpha(layout, H, W, max(1.0, options.paste_feather * min(H, W)))
            frames = paste_kept(frames, image, alpha)
        frames[0] = image
        self.maybe_free_model_hooks()  # with CPU offload, send the last model back
        clock.mark("decode")
        return IVA0PipelineOutput(
            frames=frames,
            masks=masks,
            paste_alpha=alpha,
            latents=latents,
            trajectory=traj_input,
            grounding=tokens,
            timesteps=list(levels.timesteps),
            info={
                "grounded_steps": grounded_steps,
                "blend_steps": sum(blend_active(i, n, options.blend_steps) for i in range(n)),
                "mas_layers": self.num_mas_layers,
                "fusers": len(fusers(self.unet)),
                "null_text": null_embeds is not None,
                "latent_size": (h, w),
                "context_windows": windows,
                "plate_seed": plate_seed if use_plate else None,
                "seconds": clock.seconds,
            },
        )

    @contextlib.contextmanager
    def _unet_state(self):
        """MAS processors and grounding switches for one call; the UNet's own are put back after it, errors too."""
        attns = motion_attention_modules(self.unet)
        processors = [m.processor for m in attns]
        switches = [(m, m.enabled) for m in fusers(self.unet)]
        install_mas(self.unet, self.mas_state)
        try:
            yield
        finally:
            for m, processor in zip(attns, processors):
                m.set_processor(processor)
            for m, enabled in switches:
                m.enabled = enabled
            self.mas_state.reset()

    def _null_text(self, cond_text, uncond_text, traj, levels, guidance_scale, options, progress):
        """Per-step unconditional embeddings that make guided sampling retrace the input's inversion."""
        still = self._still_eps_fn(cond_text)

        def eps_pair(z, t, u):
            zz = z[:, :, None]  # (1, C, 1, h, w)
            eps_u = self._unet_eps(zz, t, u)[:, :, 0]
            with torch.no_grad():
                eps_c = still(z, t)
            return eps_u, eps_c

        # gradients flow through the UNet to the embedding only; __call__ runs under no_grad, so open a scope
        req = [p.requires_grad for p in self.unet.parameters()]
        self.unet.requires_grad_(False)
        try:
            with torch.enable_grad():
                return null_text_inversion(
                    eps_pair, traj, levels, uncond_text, guidance_scale, inner_steps=options.null_text_steps,
                    lr=options.null_text_lr, callback=lambda d, t: progress(d, t, "null-text"),
                    loss_scaling=self.unet.dtype == torch.float16,
                )
        finally:
            for p, r in zip(self.unet.parameters(), req):
                p.requires_grad_(r)
