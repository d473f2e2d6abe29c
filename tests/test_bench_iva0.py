"""`bench run --method iva0` goes through the diffusion backend like any other (tiny random weights)."""

import json
import sys
from pathlib import Path

import pytest

from iva0.bench.run import load_run
from iva0.cli import main
from iva0.io.video import read_video

sys.path.insert(0, str(Path(__file__).parent))
from test_bench_run import make_bench  # noqa: E402


@pytest.mark.slow
def test_bench_run_iva0_with_tiny_model(tmp_path):
    from iva0.backends.diffusion.tiny import write_model_folder

    model = write_model_folder(tmp_path / "tiny")
    root = make_bench(tmp_path / "b", n=1, frames=4, size=(64, 64))
    run = tmp_path / "run"
    args = ["bench", "run", str(root), "-m", "iva0", "--model", str(model), "--steps", "1", "--device", "cpu",
            "--dtype", "float32", "--no-mas", "-o", str(run), "-q"]
    assert main(args) == 0
    r = load_run(run)
    assert r["method"] == "iva0" and r["num_ok"] == 1, r["samples"]
    # the options are recorded, so that ablations can be told apart in the report
    assert r["options"] == {"model": str(model), "steps": 1, "device": "cpu", "dtype": "float32", "mas": False}
    frames, _ = read_video(run / "videos" / "s0.mp4")
    assert frames.shape[0] == 4
    # resuming with another ablation in the same folder is refused
    with pytest.raises(SystemExit):
        main([a for a in args if a != "--no-mas"])
    assert main(["bench", "eval", str(run), "-q"]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["source"]["method"] == "iva0" and m["summary"]["num_evaluated"] == 1
