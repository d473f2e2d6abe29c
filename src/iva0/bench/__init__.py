"""The benchmark: a folder format, `bench run` (resumable, sharded), `bench eval`, `bench report`."""

from iva0.bench.format import Benchmark, BenchmarkError, BenchSample, load_benchmark
from iva0.retime import retime_layout

__all__ = ["BenchSample", "Benchmark", "BenchmarkError", "load_benchmark", "retime_layout"]
