"""iva0: animate a still image along user-drawn box trajectories (IVA0, ACM MM 2024)."""

__version__ = "0.1.0"
