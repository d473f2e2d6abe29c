"""Time-to-Move's dual-clock denoising as small pure functions (Singer et al., arXiv 2511.08633).

Two clocks over one schedule of `steps` timesteps: the whole video starts at
step `tweak` from the noised reference, and the motion-masked region is held
on the reference's own noise path until step `tstrong`:

    x <- add_noise(ref, n, t[tweak])                      start
    for i in tweak .. steps-1:
        x <- step(model(x, t[i]), t[i], x)                one solver step
        if i < tstrong:                                   pin the masked region
            x <- (1 - m) x + m add_noise(ref, n, t[i+1])  (the clean ref after the last step)

with the same noise n throughout, so the pinned region follows one noise path.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from iva0.backends.ttm.families import REFERENCE_STEPS


def scale_index(index: int, steps: int, reference_steps: int = REFERENCE_STEPS) -> int:
    """An index tuned for `reference_steps` moved to a `steps`-step schedule.

    Rule: keep the same share of the schedule, round(index * steps / reference),
    at most steps - 1. Diffusers' schedules (flow-shifted linspace for Wan,
    trailing DDIM for CogVideoX) place step i of n at the same noise level as
    step i * m / n of m, so the share is what fixes the noise level a clock
    starts at. E.g. TTM's Wan 3/7 of 50 -> 2/4 of 30, 1/3 of 20, 1/1 of 10.
    """
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    # halves round up (not Python's round-half-even): 3/7 of 50 at 25 steps -> 2/4, predictably
    return min(steps - 1, max(0, math.floor(index * steps / reference_steps + 0.5)))


def default_indices(tweak50: int, tstrong50: int, steps: int) -> tuple[int, int]:
    """TTM's 50-step (tweak, tstrong) scaled to `steps` (see `scale_index`), keeping at least one pinned step.

    Scaling alone can give tweak == tstrong (Wan's 3/7 at 9 or 10 steps: 1/1),
    which pins nothing. When TTM's pair pins (tstrong50 > tweak50) and there are
    two steps or more, tweak stays below the last step and tstrong at least one
    past tweak: 3/7 of 50 -> 1/2 at 10 steps, 0/1 at 2. One step cannot pin (0/0).
    """
    tweak = scale_index(tweak50, steps)
    tstrong = max(tweak, scale_index(tstrong50, steps))
    if tstrong50 > tweak50 and steps >= 2:
        tweak = min(tweak, steps - 2)
        tstrong = max(tstrong, tweak + 1)
    return tweak, tstrong


def resolve_indices(tweak50: int, tstrong50: int, steps: int, tweak: int | None = None,
                    tstrong: int | None = None) -> tuple[int, int]:
    """The (tweak, tstrong) a run uses: the given ones, the scaled defaults for the rest.

    A given tweak at or past the default tstrong drags tstrong to tweak + 1 (at
    most steps - 1), so pinning survives whenever the steps allow it.
    """
    d_tweak, d_tstrong = default_indices(tweak50, tstrong50, steps)
    tweak = d_tweak if tweak is None else tweak
    if tstrong is None:
        tstrong = d_tstrong if tweak < d_tstrong else min(steps - 1, tweak + 1)
    return tweak, tstrong


def pinned_steps(tweak: int, tstrong: int) -> int:
    """How many steps are followed by a pin (0: the dual clock only starts late, nothing holds the objects)."""
    return max(0, tstrong - tweak)


def no_pin_warning(tweak: int, tstrong: int, steps: int) -> str | None:
    """One line when no step is pinned, else None."""
    if pinned_steps(tweak, tstrong):
        return None
    why = "1 step leaves none to pin" if steps == 1 else f"tweak index = tstrong index = {tweak}"
    return (f"{why}: no step is pinned to the cut-and-drag video, so the objects are not held to their path "
            f"(raise --steps or --tstrong-index)")


def check_indices(tweak: int, tstrong: int, steps: int) -> None:
    """0 <= tweak <= tstrong < steps, else ValueError with the rule."""
    if not 0 <= tweak < steps:
        raise ValueError(f"tweak index {tweak} must be in 0..{steps - 1} (steps = {steps})")
    if not 0 <= tstrong < steps:
        raise ValueError(f"tstrong index {tstrong} must be in 0..{steps - 1} (steps = {steps})")
    if tweak > tstrong:
        raise ValueError(f"tweak index {tweak} must not exceed tstrong index {tstrong}")


def latent_frame_indices(num_frames: int, temporal: int) -> list[int]:
    """Which pixel frames stand for each latent frame of a causal video VAE that compresses time by `temporal`.

    Frame 0 has a latent frame of its own; then latent frame k (k >= 1) encodes
    pixel frames 1 + (k-1) temporal .. k temporal, and is represented by its
    first one, as TTM does: frames 0, 1, 1 + temporal, 1 + 2 temporal, ...
    """
    if (num_frames - 1) % temporal:
        raise ValueError(f"{num_frames} frames is not {temporal}k+1")
    return [0] + list(range(1, num_frames, temporal))


def latent_mask(mask: torch.Tensor, temporal: int, spatial: int, threshold: float = 0.5) -> torch.Tensor:
    """Pixel motion mask (F, H, W) in [0, 1] -> latent mask (F', H/spatial, W/spatial) in {0, 1}.

    Time: the frames of `latent_frame_indices`. Space: each latent cell takes
    the share of its spatial x spatial pixels that are in the mask (area
    pooling) and is in when that share reaches `threshold` (the object should
    already be dilated in pixels: see `--mask-dilate`).
    """
    frames, height, width = mask.shape
    if height % spatial or width % spatial:
        raise ValueError(f"mask {height}x{width} is not a multiple of the VAE's {spatial}x spatial compression")
    picked = mask[latent_frame_indices(frames, temporal)].float()  # (F', H, W)
    pooled = F.avg_pool2d(picked[:, None], kernel_size=spatial)[:, 0]  # (F', h, w)
    return (pooled >= threshold).to(mask.dtype if mask.is_floating_point() else torch.float32)


def pinned_target(scheduler, ref_latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor,
                  i: int) -> torch.Tensor:
    """What the masked region holds after step i: the reference noised to the level of step i + 1.

    After the last step the level is zero noise: the clean reference.
    """
    if i + 1 >= len(timesteps):
        return ref_latents
    return scheduler.add_noise(ref_latents, noise, timesteps[i + 1: i + 2])


def start_latents(scheduler, ref_latents: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor,
                  tweak: int) -> torch.Tensor:
    """The whole video's starting point: the reference noised to the level of step `tweak`."""
    return scheduler.add_noise(ref_latents, noise, timesteps[tweak: tweak + 1])


def pin(latents: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """latents outside the mask, `target` inside it (mask broadcast to the latents' shape)."""
    mask = mask.to(latents.dtype)
    return latents * (1.0 - mask) + target.to(latents.dtype) * mask


def pinning(i: int, tstrong: int) -> bool:
    """Whether step i is followed by a pin: every step before tstrong."""
    return i < tstrong
