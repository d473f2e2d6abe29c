"""Motion Afterimage Suppression (MAS) in the motion modules' temporal attention (DESIGN.md step 6).

AnimateDiff's temporal attention runs over sequences of frames at one spatial
position: hidden states (B*h*w, F, C), ordered (b, h, w). MAS lets frame f
attend to frame f' at position p only where p's occupancy is the same in both
frames: occupancy is the set of objects whose box covers p (the background is
the empty set). Object features then cannot persist where the object left (the
afterimage, "ghosting"), nor background leak into where it arrived.

Motion-module attention receives no cross_attention_kwargs, so the processors
share a `MASState` that the pipeline sets before each UNet call: the per-frame
boxes, the context window (the frames of this call, windows.py), the batch size
(2 under CFG) and an on/off switch. The occupancy at each UNet resolution is
recomputed from the boxes (they are analytic), cached by (window, h, w). The
pipeline installs the processors for the length of a call only and puts the
UNet's own back afterwards, so the UNet is left as loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from einops import rearrange

from iva0.masks import boxes_masks


def occupancy_codes(boxes: np.ndarray, height: int, width: int) -> torch.Tensor:
    """Occupancy per frame and position as an integer code, (F, h, w).

    The code of a position is the bit set of the objects covering it (0 =
    background), so two frames share a code exactly when the same objects are there.
    boxes: (J, F, 4) normalised xyxy.
    """
    masks = boxes_masks(np.asarray(boxes, dtype=np.float64), height, width) > 0.5  # (J, F, h, w)
    weights = (1 << np.arange(masks.shape[0], dtype=np.int64))[:, None, None, None]  # (J, 1, 1, 1)
    return torch.from_numpy((masks.astype(np.int64) * weights).sum(axis=0))  # (F, h, w)


def mas_allowed(codes: torch.Tensor) -> torch.Tensor:
    """allowed[p, f, f'] = codes[f, p] == codes[f', p]; codes (F, h, w) -> (h*w, F, F) bool."""
    per_pos = rearrange(codes, "f h w -> (h w) f")  # (h*w, F)
    return per_pos[:, :, None] == per_pos[:, None, :]  # (h*w, F, F)


@dataclass
class MASState:
    """Per-run state the MAS processors read (they get no call arguments of their own)."""

    boxes: np.ndarray | None = None  # (J, F, 4) normalised, set by the pipeline
    latent_size: tuple[int, int] | None = None  # (h, w) of the UNet input
    window: tuple[int, int] | None = None  # frames [start, stop) of the current UNet call; None = all
    batch_size: int = 1  # batch of the current UNet call (2 under CFG), frames excluded
    enabled: bool = True
    record: bool = False  # keep attention weights (tests, diagnostics); slower
    recorded: list = field(default_factory=list)  # [(allowed (B*h*w, F, F), probs (B*h*w, heads, F, F))]
    _cache: dict = field(default_factory=dict)

    def set_boxes(self, boxes: np.ndarray, latent_size: tuple[int, int]) -> None:
        self.boxes = np.asarray(boxes, dtype=np.float64)
        self.latent_size = tuple(latent_size)
        self.window = None
        self._cache.clear()

    def reset(self) -> None:
        """Forget the run: no boxes, no window, batch 1, on (the state of a fresh pipeline)."""
        self.boxes, self.latent_size, self.window = None, None, None
        self.batch_size, self.enabled = 1, True
        self._cache.clear()

    def _grid_for(self, tokens: int) -> tuple[int, int]:
        """The (h, w) of a UNet level with `tokens` = h*w positions: the input size halved with ceil."""
        h, w = self.latent_size
        while h * w > tokens and (h > 1 or w > 1):
            h, w = math.ceil(h / 2), math.ceil(w / 2)
        if h * w != tokens:
            raise RuntimeError(f"MAS: no UNet level with {tokens} positions for latent size {self.latent_size}")
        return h, w

    def allowed(self, sequences: int, num_frames: int, device: torch.device) -> torch.Tensor | None:
        """The (sequences, 1, F, F) bool mask for an attention call, or None when MAS does not apply."""
        if not self.enabled or self.boxes is None:
            return None
        start, stop = self.window or (0, self.boxes.shape[1])
        if stop - start != num_frames:
            # never attend unmasked by accident: a mismatch is a caller's bug, not "MAS off"
            raise RuntimeError(f"MAS: boxes for frames {start}..{stop - 1} but attention over {num_frames} frames")
        if sequences % self.batch_size:
            raise RuntimeError(f"MAS: {sequences} sequences is not a multiple of batch {self.batch_size}")
        tokens = sequences // self.batch_size
        key = (start, stop, tokens, str(device))
        if key not in self._cache:
            h, w = self._grid_for(tokens)
            codes = occupancy_codes(self.boxes[:, start:stop], h, w)  # (F_w, h, w)
            self._cache[key] = mas_allowed(codes).to(device)  # (h*w, F_w, F_w)
        allowed = self._cache[key]
        # sequences are ordered (b, h, w): every batch entry shares the same positions
        return allowed.repeat(self.batch_size, 1, 1)[:, None]  # (B*h*w, 1, F, F)


class MASAttnProcessor:
    """Temporal self-attention with the MAS mask; identical to SDPA attention when the mask is off."""

    def __init__(self, state: MASState):
        self.state = state

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, temb=None, **kwargs):
        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        if hidden_states.ndim != 3:
            raise RuntimeError("MASAttnProcessor expects temporal sequences (B*h*w, F, C)")
        seqs, frames, _ = hidden_states.shape
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        context = hidden_states if encoder_hidden_states is None else encoder_hidden_states
        if encoder_hidden_states is not None and attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)

        q = rearrange(attn.to_q(hidden_states), "n f (h d) -> n h f d", h=attn.heads)  # (N, heads, F, d)
        k = rearrange(attn.to_k(context), "n f (h d) -> n h f d", h=attn.heads)
        v = rearrange(attn.to_v(context), "n f (h d) -> n h f d", h=attn.heads)
        if attn.norm_q is not None:
            q = attn.norm_q(q)
        if attn.norm_k is not None:
            k = attn.norm_k(k)

        mask = self.state.allowed(seqs, frames, hidden_states.device) if encoder_hidden_states is None else None
        if attention_mask is not None:  # not used by AnimateDiff; kept for generality
            extra = attn.prepare_attention_mask(attention_mask, k.shape[2], seqs)
            extra = extra.view(seqs, attn.heads, -1, extra.shape[-1])
            if mask is not None:
                extra = extra.masked_fill(~mask, float("-inf"))
            mask = extra

        if self.state.record:
            scores = (q.float() @ k.float().transpose(-1, -2)) * attn.scale  # (N, heads, F, F)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
            probs = scores.softmax(dim=-1)
            out = (probs @ v.float()).to(q.dtype)
            allowed = mask[:, 0] if mask is not None and mask.dtype == torch.bool else None
            self.state.recorded.append((allowed.cpu() if allowed is not None else None, probs.detach().cpu()))
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=attn.scale)  # (N, heads, F, d)

        out = rearrange(out, "n h f d -> n f (h d)")  # (N, F, C)
        out = attn.to_out[1](attn.to_out[0](out))
        if attn.residual_connection:
            out = out + residual
        return out / attn.rescale_output_factor


def motion_attention_modules(unet) -> list:
    """Every Attention inside the UNet's motion modules (temporal attention)."""
    out = []
    for name, module in unet.named_modules():
        if "motion_modules" in name and type(module).__name__ == "Attention":
            out.append(module)
    return out


def install_mas(unet, state: MASState) -> int:
    """Give every temporal attention of `unet` a MAS processor reading `state`; returns how many."""
    mods = motion_attention_modules(unet)
    for m in mods:
        m.set_processor(MASAttnProcessor(state))
    return len(mods)
