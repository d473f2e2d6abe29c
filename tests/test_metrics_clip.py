"""Optional CLIP scores from a local folder: a tiny random-weight CLIP built here (no download)."""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from iva0.errors import ModelError
from iva0.metrics.synthetic import texture

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory):
    import torch
    from transformers import CLIPConfig, CLIPModel

    from iva0.backends.diffusion.tiny import make_feature_extractor, tokenizer_dir

    d = tmp_path_factory.mktemp("clip")
    small = dict(hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=2, projection_dim=16)
    cfg = CLIPConfig(
        text_config=dict(small, vocab_size=49408),
        vision_config=dict(small, image_size=32, patch_size=8),
        projection_dim=16,
    )
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(d, safe_serialization=True)
    for f in tokenizer_dir().iterdir():  # the real CLIP BPE files shipped with iva0
        shutil.copy(f, d / f.name)
    make_feature_extractor(32).save_pretrained(d)
    return d


def test_clip_scores_known_answers(clip_dir):
    from iva0.metrics.clip import ClipScorer

    s = ClipScorer.load(clip_dir, device="cpu")
    a, b = texture(48, 48, seed=1), texture(48, 48, seed=2, blur=0)
    still = np.stack([a] * 4)
    r = s(still, "a cat walks")
    assert r["clip_image"] == pytest.approx(1.0, abs=1e-5)  # every frame is frame 0
    ea, eb = s.image_embeddings(np.stack([a, b]))
    t = s.text_embedding("a cat walks")
    assert np.linalg.norm(t) == pytest.approx(1.0, abs=1e-5)
    assert r["clip_text"] == pytest.approx(float(ea @ t), abs=1e-5)
    two = s(np.stack([a, b, b]), "a cat walks")
    assert two["clip_text"] == pytest.approx(float(ea @ t + 2 * (eb @ t)) / 3, abs=1e-5)
    assert two["clip_image"] == pytest.approx(float(eb @ ea), abs=1e-5)
    assert s(still, "")["clip_text"] is None


def test_clip_folder_errors(tmp_path, clip_dir):
    from iva0.metrics.clip import ClipScorer

    with pytest.raises(ModelError, match="not found"):
        ClipScorer.load(tmp_path / "none")
    broken = tmp_path / "broken"
    shutil.copytree(clip_dir, broken)
    (broken / "merges.txt").unlink()
    with pytest.raises(ModelError, match="lacks merges.txt"):
        ClipScorer.load(broken)


def test_eval_with_clip_records_scores(tmp_path, clip_dir):
    from iva0.cli import main
    from test_bench_run import make_bench

    root = make_bench(tmp_path / "b", n=1)
    assert main(["bench", "run", str(root), "-m", "static", "-o", str(tmp_path / "r"), "-q"]) == 0
    assert main(["bench", "eval", str(tmp_path / "r"), "--clip", str(clip_dir), "-q"]) == 0
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert "clip_text" not in m["skipped"] and "fvd" in m["skipped"]
    assert m["summary"]["clip_image"] == pytest.approx(1.0, abs=0.02)  # a static video (H.264 noise aside)
    assert -1 <= m["samples"][0]["clip_text"] <= 1
