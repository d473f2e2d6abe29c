"""Clock and memory helpers shared by the speed benchmarks: CUDA work is synchronised before a clock is read."""

from __future__ import annotations

import resource

import torch


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_gb(device: torch.device, cpu_rss: bool = False) -> float:
    """Peak GPU memory allocated since `reset_peak`; on a CPU the process's peak RSS if `cpu_rss`
    (it only grows, so a later figure is an upper bound), else NaN."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 1e9
    if cpu_rss:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9
    return float("nan")
