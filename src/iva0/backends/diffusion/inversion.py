"""DDIM inversion and null-text inversion as pure functions over tensors (DESIGN.md step 4).

k-diffusion style: the model enters only as a callable `eps_fn(z, t) -> eps`,
so the math is tested on toy functions and on tiny UNets alike.

Noise levels follow diffusers' `DDIMScheduler.step` (eta = 0): denoising at
timestep t goes from level a(t) = alphas_cumprod[t] to a(prev(t)), with
prev(t) = t - num_train_timesteps // num_inference_steps, or the scheduler's
`final_alpha_cumprod` when that is below zero. Inversion walks the same
levels backwards, evaluating eps at the less noisy latent with the timestep of
the noisier level (the standard DDIM inversion approximation), so sampling
with the same eps_fn retraces the trajectory up to the change of eps between
neighbouring levels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import torch

EpsFn = Callable[[torch.Tensor, int], torch.Tensor]


@dataclass(frozen=True)
class NoiseLevels:
    """The DDIM schedule as plain numbers: timesteps (descending, as sampled) and their levels."""

    timesteps: tuple[int, ...]  # t_N > ... > t_1, the order of sampling
    alpha: tuple[float, ...]  # a(t_i), same order
    alpha_prev: tuple[float, ...]  # a(prev(t_i)): the level after denoising step i

    @classmethod
    def from_scheduler(cls, scheduler, num_inference_steps: int | None = None) -> "NoiseLevels":
        """Read a diffusers DDIM-like scheduler (set_timesteps is called when a step count is given)."""
        if num_inference_steps is not None:
            scheduler.set_timesteps(num_inference_steps)
        steps = scheduler.num_inference_steps
        ratio = scheduler.config.num_train_timesteps // steps
        ac = scheduler.alphas_cumprod
        final = float(scheduler.final_alpha_cumprod)
        ts = [int(t) for t in scheduler.timesteps]
        alpha = [float(ac[t]) for t in ts]
        alpha_prev = [float(ac[t - ratio]) if t - ratio >= 0 else final for t in ts]
        return cls(timesteps=tuple(ts), alpha=tuple(alpha), alpha_prev=tuple(alpha_prev))

    def __len__(self) -> int:
        return len(self.timesteps)


def ddim_step(eps: torch.Tensor, z: torch.Tensor, a_from: float, a_to: float) -> torch.Tensor:
    """Move z from level a_from to level a_to along the DDIM (eta = 0) direction of eps.

    With a_to < a_from this is sampling; with a_to > a_from (noisier) it is inversion.
    """
    a_from_t = torch.as_tensor(a_from, dtype=torch.float64)
    a_to_t = torch.as_tensor(a_to, dtype=torch.float64)
    # compute in float32 at least: fp16 loses the small differences inversion relies on
    work = torch.promote_types(z.dtype, torch.float32)
    z32, e32 = z.to(work), eps.to(work)
    x0 = (z32 - (1 - a_from_t).sqrt().to(work) * e32) / a_from_t.sqrt().to(work)
    out = a_to_t.sqrt().to(work) * x0 + (1 - a_to_t).sqrt().to(work) * e32
    return out.to(z.dtype)


def ddim_invert(
    eps_fn: EpsFn,
    z0: torch.Tensor,
    levels: NoiseLevels,
    callback: Callable[[int, int], None] | None = None,
    fixed_point_iters: int = 0,
) -> list[torch.Tensor]:
    """DDIM-invert z0. Returns the trajectory [z0, z(t_1), ..., z(t_N)] (N + 1 latents, least noisy first).

    traj[k] is the latent at the level reached after sampling step N - k, so the
    denoising loop's step i (0-based, noisiest first) ends at traj[N - 1 - i].

    fixed_point_iters > 0 refines each step by re-evaluating eps at the noisier
    latent it produced (fixed-point DDIM inversion): sampling evaluates eps
    there, so each refinement brings the step closer to the exact inverse of
    the sampler, at one model call per refinement.
    """
    n = len(levels)
    traj = [z0]
    z = z0
    for k in range(n):
        i = n - 1 - k  # sampling index of timestep t_{k+1}
        t = levels.timesteps[i]
        eps = eps_fn(z, t)
        z_next = ddim_step(eps, z, levels.alpha_prev[i], levels.alpha[i])
        for _ in range(fixed_point_iters):
            z_next = ddim_step(eps_fn(z_next, t), z, levels.alpha_prev[i], levels.alpha[i])
        z = z_next
        traj.append(z)
        if callback is not None:
            callback(k + 1, n)
    return traj


def cfg(eps_uncond: torch.Tensor, eps_cond: torch.Tensor, scale: float) -> torch.Tensor:
    """Classifier-free guidance."""
    return eps_uncond + scale * (eps_cond - eps_uncond)


def null_text_inversion(
    eps_pair_fn: Callable[[torch.Tensor, int, torch.Tensor], tuple[torch.Tensor, torch.Tensor]],
    trajectory: Sequence[torch.Tensor],
    levels: NoiseLevels,
    uncond_init: torch.Tensor,
    guidance_scale: float,
    inner_steps: int = 10,
    lr: float = 1e-2,
    tol: float = 1e-5,
    callback: Callable[[int, int], None] | None = None,
    loss_scaling: bool = False,
) -> list[torch.Tensor]:
    """Null-text inversion (Mokady et al. 2023): one unconditional embedding per sampling step.

    eps_pair_fn(z, t, uncond_emb) -> (eps_uncond, eps_cond); only eps_uncond
    needs to carry gradients to uncond_emb. For step i the embedding is tuned so
    that the guided DDIM step from the current latent lands on the pivot
    trajectory[N - 1 - i]; the current latent then follows the guided step with
    the tuned embedding, so sampling with the returned list retraces the pivots.

    The embedding and the loss stay float32 whatever the model's dtype (eps_pair_fn
    casts for its model); with `loss_scaling` (a float16 model) the loss is scaled
    dynamically (torch.amp.GradScaler) so the gradients do not underflow on their
    way back through the float16 layers, and a step whose gradient overflowed is skipped.
    """
    n = len(levels)
    z = trajectory[-1].detach()
    uncond = uncond_init.detach().float().clone()  # (1, L, D) float32
    out: list[torch.Tensor] = []
    scaler = torch.amp.GradScaler(z.device.type, enabled=loss_scaling)
    for i, t in enumerate(levels.timesteps):
        target = trajectory[n - 1 - i].detach()
        with torch.no_grad():
            _, eps_cond = eps_pair_fn(z, t, uncond)
        eps_cond = eps_cond.detach()
        param = uncond.clone().requires_grad_(True)
        opt = torch.optim.Adam([param], lr=lr * (1.0 - i / (2 * n)))  # the paper's decaying step size
        for _ in range(inner_steps):
            with torch.enable_grad():
                eps_u, _ = eps_pair_fn(z, t, param)
                z_prev = ddim_step(cfg(eps_u.float(), eps_cond.float(), guidance_scale), z.float(), levels.alpha[i],
                                   levels.alpha_prev[i])
                loss = torch.nn.functional.mse_loss(z_prev, target.float())
            opt.zero_grad()
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            if loss.item() < tol:
                break
        uncond = param.detach()
        out.append(uncond)
        with torch.no_grad():
            eps_u, eps_c = eps_pair_fn(z, t, uncond)
            z = ddim_step(cfg(eps_u, eps_c, guidance_scale), z, levels.alpha[i], levels.alpha_prev[i])
        if callback is not None:
            callback(i + 1, n)
    return out
