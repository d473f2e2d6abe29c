"""Initial latents: shared inverted noise + motion-aligned init (DESIGN.md step 5), and the latent blend.

All frames start from the same inverted z_T, which keeps the background
still. Ours, "motion-aligned init": inside b_j(f) the object's inverted latent
is warped from b_j(0) to b_j(f) (so the object starts where it must end up),
and the vacated region V(f) starts from the background plate's inverted latent
(so nothing of the object is seeded where it left).

Warps use nearest-neighbour sampling: the inverted z_T is close to white noise,
and bilinear resampling would shrink its variance and blur it.
"""

from __future__ import annotations

import numpy as np
import torch

from iva0.masks import box_mask


def warp_box(latent: torch.Tensor, src_box, dst_box) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the content of src_box to dst_box (normalised xyxy; scale + translate).

    latent (..., C, h, w) -> (warped (..., C, h, w), valid (h, w) float), where
    valid marks the cells of dst_box whose source cell lies inside the latent.
    Cells outside dst_box are zero in `warped` and 0 in `valid`.
    """
    h, w = latent.shape[-2:]
    sx0, sy0, sx1, sy1 = (float(v) for v in src_box)
    dx0, dy0, dx1, dy1 = (float(v) for v in dst_box)
    # cell centres of the target in normalised [0, 1] coordinates
    xs = (torch.arange(w, dtype=torch.float64) + 0.5) / w
    ys = (torch.arange(h, dtype=torch.float64) + 0.5) / h
    u = sx0 + (xs - dx0) * (sx1 - sx0) / (dx1 - dx0)  # source x of each target column
    v = sy0 + (ys - dy0) * (sy1 - sy0) / (dy1 - dy0)  # source y of each target row
    col = torch.floor(u * w).long()
    row = torch.floor(v * h).long()
    in_dst = torch.from_numpy(box_mask((dx0, dy0, dx1, dy1), h, w)).bool()  # (h, w)
    src_ok = ((row >= 0) & (row < h))[:, None] & ((col >= 0) & (col < w))[None, :]  # (h, w)
    valid = in_dst & src_ok
    rows = row.clamp(0, h - 1)[:, None].expand(h, w)
    cols = col.clamp(0, w - 1)[None, :].expand(h, w)
    warped = latent[..., rows, cols]  # (..., C, h, w)
    warped = warped * valid.to(latent.dtype)
    return warped, valid.float()


def draw_order(boxes_f: np.ndarray) -> list[int]:
    """Objects back to front at one frame: a lower box bottom is nearer, so drawn later. boxes_f (J, 4)."""
    return sorted(range(len(boxes_f)), key=lambda j: (boxes_f[j][3], j))


def motion_aligned_init(
    zT: torch.Tensor,
    boxes: np.ndarray,
    plate_zT: torch.Tensor | None = None,
    vacated: torch.Tensor | None = None,
    motion_init: bool = True,
) -> torch.Tensor:
    """Initial latents of every frame, (C, F, h, w).

    zT: (C, h, w) inverted latent of the input; plate_zT: (C, h, w) of the
    background plate; vacated: V at latent resolution (F, h, w) in [0, 1];
    boxes: (J, F, 4). Frame 0 is zT itself. With motion_init off, every
    frame is zT (shared noise only).
    """
    C, h, w = zT.shape
    F_ = boxes.shape[1]
    z = zT[:, None].repeat(1, F_, 1, 1)  # (C, F, h, w)
    if not motion_init:
        return z
    for f in range(1, F_):
        frame = zT.clone()  # (C, h, w)
        if plate_zT is not None and vacated is not None:
            v = vacated[f].to(zT.dtype)  # (h, w)
            frame = v * plate_zT + (1 - v) * frame
        for j in draw_order(boxes[:, f]):
            warped, valid = warp_box(zT, boxes[j, 0], boxes[j, f])
            valid = valid.to(zT.dtype)
            frame = valid * warped + (1 - valid) * frame
        z[:, f] = frame
    return z


def blend_kept(z: torch.Tensor, z_inv: torch.Tensor, kept: torch.Tensor) -> torch.Tensor:
    """z <- K * z_inv + (1 - K) * z, per frame. z (B, C, F, h, w); z_inv (C, h, w) or (B, C, F, h, w); kept (F, h, w)."""
    k = kept.to(z.dtype)[None, None]  # (1, 1, F, h, w)
    if z_inv.ndim == 3:
        z_inv = z_inv[None, :, None]  # (1, C, 1, h, w): the one input frame, shared by all frames
    return k * z_inv + (1 - k) * z
