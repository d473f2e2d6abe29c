"""FVD: the Fréchet distance on known answers; I3D from local safetensors (random weights here); bench eval --i3d."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from iva0.errors import ModelError
from iva0.metrics.fvd import build_i3d, convert_state_dict, frechet_distance, i3d_features, load_i3d

sys.path.insert(0, str(Path(__file__).parent))


def test_frechet_distance_known_answers():
    # 1-D: means 1 and 3, variances 2 and 8 -> (1-3)^2 + 2 + 8 - 2 sqrt(16) = 6
    assert frechet_distance(np.array([[0.0], [2.0]]), np.array([[1.0], [5.0]])) == pytest.approx(6.0)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5000, 3))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # same covariance, shifted mean: FD = |shift|^2
    assert frechet_distance(a, rng.normal(size=(5000, 3)) + [1, 2, 0]) == pytest.approx(5.0, abs=0.15)
    # same mean, scaled: N(0, I) vs N(0, 4I) in 3-D -> 3 * (1 + 4 - 2*2) = 3
    assert frechet_distance(a, 2 * rng.normal(size=(5000, 3))) == pytest.approx(3.0, abs=0.2)


@pytest.fixture(scope="module")
def i3d_file(tmp_path_factory):
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = build_i3d()
    d = tmp_path_factory.mktemp("i3d")
    torch.save(model.state_dict(), d / "i3d.pt")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(d / "i3d.safetensors"))
    return d / "i3d.safetensors"


def test_i3d_loads_and_features_have_400_dims(i3d_file, tmp_path):
    m = load_i3d(i3d_file)
    assert sum(p.numel() for p in m.parameters()) == pytest.approx(12.7e6, rel=0.02)  # I3D's size
    rng = np.random.default_rng(0)
    v = rng.integers(0, 256, size=(10, 40, 48, 3), dtype=np.uint8)
    f = i3d_features(m, [v, v], size=32)
    assert f.shape == (2, 400) and np.allclose(f[0], f[1])
    # conversion of a .pt state dict gives the same weights
    out = convert_state_dict(i3d_file.with_suffix(".pt"), tmp_path / "c.safetensors")
    assert np.allclose(i3d_features(load_i3d(out), [v], size=32), f[:1], atol=1e-5)


def test_i3d_file_errors(tmp_path, i3d_file):
    from safetensors.torch import save_file
    import torch

    with pytest.raises(ModelError, match="not found"):
        load_i3d(tmp_path / "none.safetensors")
    with pytest.raises(ModelError, match="expected a .safetensors"):
        load_i3d(i3d_file.with_suffix(".pt"))
    save_file({"x": torch.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ModelError, match="does not hold I3D weights"):
        load_i3d(tmp_path / "other.safetensors")


def test_eval_with_fvd(tmp_path, i3d_file):
    from iva0.cli import main
    from test_bench_run import make_bench

    root = make_bench(tmp_path / "b", n=3)
    for m in ("static", "composite"):
        assert main(["bench", "run", str(root), "-m", m, "-o", str(tmp_path / m), "-q"]) == 0
    common = ["--i3d", str(i3d_file), "--fvd-size", "32", "-q"]
    # against itself: the same features on both sides -> 0
    assert main(["bench", "eval", str(tmp_path / "static"), "--fvd-reference", str(tmp_path / "static"), *common]) == 0
    same = json.loads((tmp_path / "static" / "metrics.json").read_text())
    assert same["summary"]["fvd"] == pytest.approx(0.0, abs=1e-3) and "fvd" not in same["skipped"]
    assert same["summary"]["fvd_reference_videos"] == 3
    assert main(["bench", "eval", str(tmp_path / "composite"), "--fvd-reference", str(tmp_path / "static"), *common]) == 0
    other = json.loads((tmp_path / "composite" / "metrics.json").read_text())
    assert other["summary"]["fvd"] > 0
    # FVD needs both options
    with pytest.raises(SystemExit):
        main(["bench", "eval", str(tmp_path / "composite"), "--i3d", str(i3d_file), "-q"])
