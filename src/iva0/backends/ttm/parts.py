"""Per-family parts of the TTM loop, composed from a loaded diffusers pipeline's own methods.

Each class mirrors its diffusers pipeline's `__call__` piece by piece (same
calls, same order, same dtypes, same random draws) so that, run from step 0
with the dual clock off, the loop in `pipeline.py` gives diffusers' frames.
Only `encode_video` is new: the reference video in the latent space the
loop works in (TTM's reference latents).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from einops import rearrange
from PIL import Image


def _video_tensor(frames: np.ndarray) -> torch.Tensor:
    """(F, H, W, 3) uint8 -> (1, 3, F, H, W) float in [-1, 1], as the VAEs take it."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).float() / 127.5 - 1.0
    return rearrange(x, "f h w c -> 1 c f h w")  # (B, C, F, H, W)


class _VideoParts:
    """What both families share: the loaded diffusers pipeline and its VAE's compression factors."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe

    @property
    def temporal(self) -> int:
        return self.pipe.vae_scale_factor_temporal

    @property
    def spatial(self) -> int:
        return self.pipe.vae_scale_factor_spatial


class WanParts(_VideoParts):
    """WanImageToVideoPipeline (Wan 2.1 I2V, Wan 2.2 I2V-A14B, Wan 2.2 TI2V-5B). Latents (B, C, F', h, w)."""

    @property
    def size_multiple(self) -> int:
        model = self.pipe.transformer or self.pipe.transformer_2
        return self.spatial * model.config.patch_size[1]

    def mask_layout(self, mask: torch.Tensor) -> torch.Tensor:
        return mask[None, None]  # (F', h, w) -> (1, 1, F', h, w), broadcast over channels

    def prepare(self, image: Image.Image, prompt: str, negative_prompt: str, height: int, width: int,
                num_frames: int, steps: int, guidance: float, guidance_2: float | None, generator, device):
        """Steps 3-5 of diffusers' __call__: prompt, image embedding, timesteps, latents and condition."""
        pipe = self.pipe
        cfg = guidance > 1.0  # diffusers' do_classifier_free_guidance
        prompt_embeds, negative_embeds = pipe.encode_prompt(
            prompt=prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=cfg,
            num_videos_per_prompt=1, max_sequence_length=512, device=device)
        transformer_dtype = pipe.transformer.dtype if pipe.transformer is not None else pipe.transformer_2.dtype
        prompt_embeds = prompt_embeds.to(transformer_dtype)
        if negative_embeds is not None:
            negative_embeds = negative_embeds.to(transformer_dtype)
        image_embeds = None
        if pipe.transformer is not None and pipe.transformer.config.image_dim is not None:  # Wan 2.1 only
            image_embeds = pipe.encode_image(image, device).repeat(1, 1, 1).to(transformer_dtype)
        pipe.scheduler.set_timesteps(steps, device=device)
        pixels = pipe.video_processor.preprocess(image, height=height, width=width).to(device, dtype=torch.float32)
        out = pipe.prepare_latents(pixels, 1, pipe.vae.config.z_dim, height, width, num_frames, torch.float32,
                                   device, generator, None, None)
        first_frame_mask = None
        if pipe.config.expand_timesteps:
            latents, condition, first_frame_mask = out
        else:
            latents, condition = out
        boundary = pipe.config.boundary_ratio
        state = dict(cfg=cfg, prompt_embeds=prompt_embeds, negative_embeds=negative_embeds, image_embeds=image_embeds,
                     condition=condition, first_frame_mask=first_frame_mask, dtype=transformer_dtype,
                     guidance=guidance, guidance_2=guidance if guidance_2 is None else guidance_2,
                     boundary=None if boundary is None else boundary * pipe.scheduler.config.num_train_timesteps)
        return latents, state

    def expert(self, state: dict[str, Any], t: torch.Tensor):
        """(model, guidance) for timestep t: A14B's high-noise expert above the boundary, the low-noise one below."""
        if state["boundary"] is None or t >= state["boundary"]:
            return self.pipe.transformer, state["guidance"]
        return self.pipe.transformer_2, state["guidance_2"]

    def step(self, state: dict[str, Any], latents: torch.Tensor, i: int, t: torch.Tensor) -> torch.Tensor:
        """One denoising step of diffusers' loop: predict (with CFG), then the scheduler's step."""
        pipe = self.pipe
        model, guidance = self.expert(state, t)
        if state["first_frame_mask"] is not None:
            # TI2V-5B: frame 0 is the image's latent at timestep 0, the rest at t (per-token timesteps)
            ffm = state["first_frame_mask"]
            model_input = ((1 - ffm) * state["condition"] + ffm * latents).to(state["dtype"])
            timestep = (ffm[0][0][:, ::2, ::2] * t).flatten().unsqueeze(0).expand(latents.shape[0], -1)
        else:
            model_input = torch.cat([latents, state["condition"]], dim=1).to(state["dtype"])
            timestep = t.expand(latents.shape[0])
        with model.cache_context("cond"):
            noise_pred = model(hidden_states=model_input, timestep=timestep, encoder_hidden_states=state["prompt_embeds"],
                               encoder_hidden_states_image=state["image_embeds"], return_dict=False)[0]
        if state["cfg"]:
            with model.cache_context("uncond"):
                noise_uncond = model(hidden_states=model_input, timestep=timestep,
                                     encoder_hidden_states=state["negative_embeds"],
                                     encoder_hidden_states_image=state["image_embeds"], return_dict=False)[0]
                noise_pred = noise_uncond + guidance * (noise_pred - noise_uncond)
        return pipe.scheduler.step(noise_pred, t, latents, return_dict=False)[0]

    def _stats(self, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.pipe.vae.config
        mean = torch.tensor(cfg.latents_mean).view(1, cfg.z_dim, 1, 1, 1).to(like.device, like.dtype)
        inv_std = 1.0 / torch.tensor(cfg.latents_std).view(1, cfg.z_dim, 1, 1, 1).to(like.device, like.dtype)
        return mean, inv_std

    def encode_video(self, frames: np.ndarray, device) -> torch.Tensor:
        """Reference frames -> normalised latents (B, C, F', h, w) float32, as prepare_latents normalises the condition."""
        from diffusers.pipelines.wan.pipeline_wan_i2v import retrieve_latents
        from diffusers.utils.torch_utils import get_module_execution_device

        vae = self.pipe.vae
        x = _video_tensor(frames).to(get_module_execution_device(vae), vae.dtype)
        lat = retrieve_latents(vae.encode(x), sample_mode="argmax").to(device, torch.float32)
        mean, inv_std = self._stats(lat)
        return (lat - mean) * inv_std

    def decode(self, state: dict[str, Any], latents: torch.Tensor) -> np.ndarray:
        """diffusers' ending: TI2V puts the image latent back in frame 0; un-normalise, decode -> (F, H, W, 3) float."""
        from diffusers.utils.torch_utils import get_module_execution_device

        pipe = self.pipe
        if state["first_frame_mask"] is not None:
            ffm = state["first_frame_mask"]
            latents = (1 - ffm) * state["condition"] + ffm * latents
        latents = latents.to(device=get_module_execution_device(pipe.vae), dtype=pipe.vae.dtype)
        mean, inv_std = self._stats(latents)
        video = pipe.vae.decode(latents / inv_std + mean, return_dict=False)[0]
        return pipe.video_processor.postprocess_video(video, output_type="np")[0]


class CogVideoXParts(_VideoParts):
    """CogVideoXImageToVideoPipeline (CogVideoX-5b-I2V). Latents (B, F', C, h, w)."""

    def __init__(self, pipe) -> None:
        super().__init__(pipe)
        if pipe.transformer.config.patch_size_t is not None:
            from iva0.errors import ModelError

            raise ModelError("this is a CogVideoX 1.5 transformer (patch_size_t set); the ttm backend runs "
                             "CogVideoX-5b-I2V")

    @property
    def size_multiple(self) -> int:
        return self.spatial * self.pipe.transformer.config.patch_size

    def mask_layout(self, mask: torch.Tensor) -> torch.Tensor:
        return mask[None, :, None]  # (F', h, w) -> (1, F', 1, h, w)

    def prepare(self, image: Image.Image, prompt: str, negative_prompt: str, height: int, width: int,
                num_frames: int, steps: int, guidance: float, guidance_2: float | None, generator, device):
        from diffusers.pipelines.cogvideo.pipeline_cogvideox_image2video import retrieve_timesteps

        pipe = self.pipe
        cfg = guidance > 1.0
        prompt_embeds, negative_embeds = pipe.encode_prompt(
            prompt=prompt, negative_prompt=negative_prompt, do_classifier_free_guidance=cfg,
            num_videos_per_prompt=1, max_sequence_length=226, device=device)
        if cfg:
            prompt_embeds = torch.cat([negative_embeds, prompt_embeds], dim=0)
        retrieve_timesteps(pipe.scheduler, steps, device)
        pixels = pipe.video_processor.preprocess(image, height=height, width=width).to(device, dtype=prompt_embeds.dtype)
        latents, image_latents = pipe.prepare_latents(pixels, 1, pipe.transformer.config.in_channels // 2, num_frames,
                                                      height, width, prompt_embeds.dtype, device, generator, None)
        rotary = (pipe._prepare_rotary_positional_embeddings(height, width, latents.size(1), device)
                  if pipe.transformer.config.use_rotary_positional_embeddings else None)
        ofs = None if pipe.transformer.config.ofs_embed_dim is None else latents.new_full((1,), fill_value=2.0)
        from diffusers import CogVideoXDPMScheduler

        state = dict(cfg=cfg, prompt_embeds=prompt_embeds, image_latents=image_latents, rotary=rotary, ofs=ofs,
                     guidance=guidance, extra=pipe.prepare_extra_step_kwargs(generator, 0.0), dtype=prompt_embeds.dtype,
                     # CogVideoXDPMScheduler is multistep: its last x0 prediction and the timestep it was made at.
                     # Empty at the loop's first step (step 0, or tweak with the dual clock): a first-order step,
                     # as diffusers' loop makes at step 0
                     dpm=isinstance(pipe.scheduler, CogVideoXDPMScheduler), old_pred=None, prev_t=None)
        return latents, state

    def step(self, state: dict[str, Any], latents: torch.Tensor, i: int, t: torch.Tensor) -> torch.Tensor:
        pipe = self.pipe
        model_input = torch.cat([latents] * 2) if state["cfg"] else latents
        model_input = pipe.scheduler.scale_model_input(model_input, t)
        image_input = torch.cat([state["image_latents"]] * 2) if state["cfg"] else state["image_latents"]
        model_input = torch.cat([model_input, image_input], dim=2)
        timestep = t.expand(model_input.shape[0])
        with pipe.transformer.cache_context("cond_uncond"):
            noise_pred = pipe.transformer(hidden_states=model_input, encoder_hidden_states=state["prompt_embeds"],
                                          timestep=timestep, ofs=state["ofs"], image_rotary_emb=state["rotary"],
                                          return_dict=False)[0]
        noise_pred = noise_pred.float()
        if state["cfg"]:
            uncond, text = noise_pred.chunk(2)
            noise_pred = uncond + state["guidance"] * (text - uncond)
        if state["dpm"]:
            latents, state["old_pred"] = pipe.scheduler.step(noise_pred, state["old_pred"], t, state["prev_t"], latents,
                                                             **state["extra"], return_dict=False)
            state["prev_t"] = t
        else:
            latents = pipe.scheduler.step(noise_pred, t, latents, **state["extra"], return_dict=False)[0]
        return latents.to(state["dtype"])

    def encode_video(self, frames: np.ndarray, device) -> torch.Tensor:
        """Reference frames -> scaled latents (B, F', C, h, w) in the loop's dtype (the space decode_latents reads)."""
        from diffusers.utils.torch_utils import get_module_execution_device

        vae = self.pipe.vae
        x = _video_tensor(frames).to(get_module_execution_device(vae), vae.dtype)
        lat = vae.encode(x).latent_dist.mode()  # (B, C, F', h, w)
        lat = rearrange(lat, "b c f h w -> b f c h w") * self.pipe.vae_scaling_factor_image
        return lat.to(device)

    def decode(self, state: dict[str, Any], latents: torch.Tensor) -> np.ndarray:
        video = self.pipe.decode_latents(latents)
        return self.pipe.video_processor.postprocess_video(video=video, output_type="np")[0]


def parts_for(kind: str, pipe):
    return WanParts(pipe) if kind == "wan" else CogVideoXParts(pipe)
