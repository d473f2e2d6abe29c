"""The ttm backend: boxes -> composite cut-and-drag video -> Time-to-Move dual-clock denoising on Wan / CogVideoX."""

from iva0.backends.ttm.families import FAMILIES, Family, detect_family

__all__ = ["FAMILIES", "Family", "detect_family"]
