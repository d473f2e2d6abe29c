"""FVD (Fréchet Video Distance), only with I3D weights on local disk.

Features are the 400 Kinetics logits of an Inflated 3D ConvNet (I3D, Carreira &
Zisserman 2017) for each video (16 frames, resized to 224x224, values in
[-1, 1], as in the reference FVD), and FVD is the Fréchet distance between the
Gaussians fitted to the features of two sets of videos (generated and
reference). The network is written here (no download, no pickle): weights come
from a safetensors file whose names follow the common PyTorch port of I3D
(`Conv3d_1a_7x7.conv3d.weight`, `Mixed_3b.b1b.bn.running_mean`, ...,
`logits.conv3d.bias`); `iva0 bench convert-i3d rgb_imagenet.pt i3d.safetensors`
converts such a state dict (loaded with torch.load(weights_only=True)).

FVD needs many videos: with fewer videos than feature dimensions (400) the
covariances are singular and the figure is noisy; compare methods only on the
same benchmark and reference set.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from iva0.errors import ModelError, torch_load_reason
from iva0.io.input_file import require_regular_file

# (in, [b0, b1a, b1b, b2a, b2b, b3b]) of each Inception block, from the I3D paper's Inception-v1
_MIXED = {
    "Mixed_3b": (192, [64, 96, 128, 16, 32, 32]),
    "Mixed_3c": (256, [128, 128, 192, 32, 96, 64]),
    "Mixed_4b": (480, [192, 96, 208, 16, 48, 64]),
    "Mixed_4c": (512, [160, 112, 224, 24, 64, 64]),
    "Mixed_4d": (512, [128, 128, 256, 24, 64, 64]),
    "Mixed_4e": (512, [112, 144, 288, 32, 64, 64]),
    "Mixed_4f": (528, [256, 160, 320, 32, 128, 128]),
    "Mixed_5b": (832, [256, 160, 320, 32, 128, 128]),
    "Mixed_5c": (832, [384, 192, 384, 48, 128, 128]),
}


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to feature sets a (N, D) and b (M, D)."""
    from scipy import linalg

    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    mu1, mu2 = a.mean(0), b.mean(0)
    s1 = np.atleast_2d(np.cov(a, rowvar=False)) if len(a) > 1 else np.zeros((a.shape[1],) * 2)
    s2 = np.atleast_2d(np.cov(b, rowvar=False)) if len(b) > 1 else np.zeros((b.shape[1],) * 2)
    with warnings.catch_warnings():
        # few videos give singular covariances (the usual case below 400 videos); handled below
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(s1 @ s2)
    if not np.isfinite(covmean).all():  # singular product: regularise, as the reference code does
        eps = np.eye(len(s1)) * 1e-6
        covmean = linalg.sqrtm((s1 + eps) @ (s2 + eps))
    covmean = np.real(covmean)
    d = mu1 - mu2
    return float(max(0.0, d @ d + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)))


def build_i3d(num_classes: int = 400):
    """The I3D network (torch), random weights."""
    import torch
    from torch import nn
    from torch.nn import functional as F

    def same_pad(x, kernel, stride):
        # TensorFlow's "SAME" padding, which I3D was trained with: (w, w, h, h, t, t) for F.pad
        pads = []
        for size, k, s in zip(x.shape[2:], kernel, stride):
            out = -(-size // s)
            total = max((out - 1) * s + k - size, 0)
            pads.append((total // 2, total - total // 2))
        return [p for pair in reversed(pads) for p in pair]

    class Unit3D(nn.Module):
        def __init__(self, cin, cout, k=1, s=1, bn=True, relu=True, bias=False):
            super().__init__()
            self.k, self.s = (k,) * 3 if isinstance(k, int) else k, (s,) * 3 if isinstance(s, int) else s
            self.conv3d = nn.Conv3d(cin, cout, self.k, self.s, padding=0, bias=bias)
            self.bn = nn.BatchNorm3d(cout, eps=0.001, momentum=0.01) if bn else None
            self.relu = relu

        def forward(self, x):
            x = self.conv3d(F.pad(x, same_pad(x, self.k, self.s)))
            if self.bn is not None:
                x = self.bn(x)
            return F.relu(x) if self.relu else x

    class MaxPoolSame(nn.Module):
        def __init__(self, k, s):
            super().__init__()
            self.k, self.s = k, s

        def forward(self, x):
            return F.max_pool3d(F.pad(x, same_pad(x, self.k, self.s)), self.k, self.s)

    class Mixed(nn.Module):
        def __init__(self, cin, c):
            super().__init__()
            self.b0 = Unit3D(cin, c[0])
            self.b1a, self.b1b = Unit3D(cin, c[1]), Unit3D(c[1], c[2], 3)
            self.b2a, self.b2b = Unit3D(cin, c[3]), Unit3D(c[3], c[4], 3)
            self.b3a, self.b3b = MaxPoolSame((3, 3, 3), (1, 1, 1)), Unit3D(cin, c[5])

        def forward(self, x):
            return torch.cat([self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x))], dim=1)

    class I3D(nn.Module):
        def __init__(self):
            super().__init__()
            self.Conv3d_1a_7x7 = Unit3D(3, 64, 7, 2)
            self.MaxPool3d_2a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
            self.Conv3d_2b_1x1 = Unit3D(64, 64)
            self.Conv3d_2c_3x3 = Unit3D(64, 192, 3)
            self.MaxPool3d_3a_3x3 = MaxPoolSame((1, 3, 3), (1, 2, 2))
            self.Mixed_3b, self.Mixed_3c = Mixed(*_MIXED["Mixed_3b"]), Mixed(*_MIXED["Mixed_3c"])
            self.MaxPool3d_4a_3x3 = MaxPoolSame((3, 3, 3), (2, 2, 2))
            for n in ("Mixed_4b", "Mixed_4c", "Mixed_4d", "Mixed_4e", "Mixed_4f"):
                setattr(self, n, Mixed(*_MIXED[n]))
            self.MaxPool3d_5a_2x2 = MaxPoolSame((2, 2, 2), (2, 2, 2))
            self.Mixed_5b, self.Mixed_5c = Mixed(*_MIXED["Mixed_5b"]), Mixed(*_MIXED["Mixed_5c"])
            self.logits = Unit3D(1024, num_classes, bn=False, relu=False, bias=True)
            self.order = [n for n in self._modules if n != "logits"]

        def forward(self, x):  # (B, 3, T, H, W) in [-1, 1] -> (B, classes)
            for n in self.order:
                x = getattr(self, n)(x)
            # mean over what is left of time and space: for 16 x 224 x 224 input this is
            # the reference model's 2x7x7 average pool followed by its mean over time
            x = x.mean(dim=(2, 3, 4), keepdim=True)  # (B, 1024, 1, 1, 1)
            return self.logits(x).flatten(1)  # (B, classes)

    return I3D()


def load_i3d(path: str | Path, device: str = "cpu"):
    """I3D with weights from a local safetensors file; a wrong file names the missing weights."""
    from safetensors.torch import load_file

    p = require_regular_file(path, "--i3d: weights file", ModelError)  # a folder or a FIFO says so
    if p.suffix != ".safetensors":
        raise ModelError(f"--i3d: expected a .safetensors file (convert a .pt with `iva0 bench convert-i3d`), got {p.name}")
    try:
        state = load_file(str(p))
    except Exception as e:  # noqa: BLE001 - a corrupt file is a user mistake
        raise ModelError(f"--i3d: cannot read {p}: {e}") from None
    model = build_i3d()
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ModelError(
            f"--i3d: {p.name} does not hold I3D weights (missing {len(missing)}, e.g. {missing[:2]}; "
            f"unexpected {len(unexpected)}, e.g. {unexpected[:2]})"
        )
    return model.to(device).eval()


def i3d_features(model, videos, size: int = 224, frames: int = 16, device: str = "cpu") -> np.ndarray:
    """Logits (N, 400) of RGB uint8 videos, each (F, H, W, 3): `frames` evenly spaced frames, resized to size x size."""
    import torch
    from torch.nn import functional as F

    out = []
    with torch.no_grad():
        for v in videos:
            idx = np.round(np.linspace(0, len(v) - 1, frames)).astype(int)
            x = torch.from_numpy(np.ascontiguousarray(v[idx])).to(device).float()  # (T, H, W, 3)
            x = x.permute(0, 3, 1, 2)  # (T, 3, H, W)
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
            x = (x / 127.5 - 1.0).permute(1, 0, 2, 3)[None]  # (1, 3, T, size, size)
            out.append(model(x).float().cpu().numpy()[0])
    return np.stack(out)


def convert_state_dict(src: str | Path, dst: str | Path) -> Path:
    """A PyTorch I3D state dict (.pt) -> safetensors, loaded without unpickling code (weights_only)."""
    import torch
    from safetensors.torch import save_file

    from iva0.io.atomic import atomic_path
    from iva0.io.output_rule import I3D_FORMAT, check_output

    src, dst = Path(src), Path(dst)
    require_regular_file(src, "file", ModelError)  # a folder or a FIFO says so
    check_output(dst, "i3d", inputs=[src])
    try:
        state = torch.load(str(src), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise ModelError(f"cannot read {src} as a PyTorch state dict (weights only): {torch_load_reason(e)}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    state = {k.removeprefix("module."): v.contiguous() for k, v in state.items() if hasattr(v, "contiguous")}
    wanted = {k for k in build_i3d().state_dict() if not k.endswith("num_batches_tracked")}
    missing = wanted - set(state)
    if missing:
        raise ModelError(f"{src.name} is not an I3D state dict ({len(missing)} weights missing, e.g. {sorted(missing)[:2]})")
    with atomic_path(dst) as tmp:
        save_file(state, str(tmp), metadata={"format": I3D_FORMAT})  # lets a re-run replace its own file
    return dst
