"""Models: the GLIGEN motion-UNet graft, random-weight folders, loading and broken-folder errors."""

from __future__ import annotations

import json

import pytest
import torch

from iva0.backends.diffusion import tiny
from iva0.backends.diffusion.models import COMPONENTS, IVA0Components, encode_grounding
from iva0.backends.diffusion.motion_unet import assemble_motion_unet, is_gligen_unet, split_motion_unet


def _fusers(model: torch.nn.Module) -> dict[str, torch.nn.Module]:
    return {n: m for n, m in model.named_modules() if n.endswith(".fuser")}


def _grounding(batch: int, n: int = 2, dim: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x0y0 = torch.rand(batch, n, 2, generator=g) * 0.5
    return {
        "boxes": torch.cat([x0y0, x0y0 + 0.4], dim=-1),  # (B, N, 4) xyxy
        "phrases_embeddings": torch.randn(batch, n, dim, generator=g),
        "image_embeddings": torch.randn(batch, n, dim, generator=g),
    }


@pytest.fixture(scope="module")
def parts():
    return tiny.build_parts(seed=0)


# ---------------------------------------------------------------- the graft
def test_from_unet2d_fails_on_gligen_unet_the_way_we_work_around(parts):
    from diffusers import UNetMotionModel

    with pytest.raises(RuntimeError, match="fuser"):
        UNetMotionModel.from_unet2d(parts["unet"], parts["motion_adapter"])


@pytest.mark.parametrize("adapter", ["v1-5-3", "v1-5-2"])
def test_graft_copies_every_2d_weight_and_motion_weight(adapter):
    p = tiny.build_parts(seed=1, adapter=adapter)
    before_2d = {k: v.clone() for k, v in p["unet"].state_dict().items()}
    before_motion = {k: v.clone() for k, v in p["motion_adapter"].state_dict().items()}
    motion = assemble_motion_unet(p["unet"], p["motion_adapter"])
    after = motion.state_dict()
    assert is_gligen_unet(motion)
    # every 2D tensor (fusers and position_net included) sits under the same name, equal
    for k, v in before_2d.items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=0)
    for k, v in before_motion.items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=0)
    assert len(after) == len(before_2d) + len(before_motion)
    assert len(_fusers(motion)) == len(_fusers(p["unet"])) > 0
    assert not any(t.is_meta for t in after.values())
    # and it splits back into the on-disk parts, strictly
    unet2d, ad = split_motion_unet(motion, **{"unet2d_config": motion.iva0_part_configs["unet"],
                                              "adapter_config": motion.iva0_part_configs["motion_adapter"]})
    assert unet2d.state_dict().keys() == before_2d.keys()
    assert ad.state_dict().keys() == before_motion.keys()


def test_single_frame_with_zeroed_motion_modules_matches_the_2d_unet():
    ref = tiny.build_parts(seed=2)["unet"]  # same seed -> same weights as the grafted one
    p = tiny.build_parts(seed=2)
    motion = assemble_motion_unet(p["unet"], p["motion_adapter"])
    with torch.no_grad():
        for name, param in motion.named_parameters():
            if ".motion_modules." in name and ".proj_out." in name:
                param.zero_()  # temporal layers then add exactly nothing (residual only)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, 16, 16, generator=g)  # (B, C, h, w)
    text = torch.randn(2, 7, 32, generator=g)  # (B, L, D)
    gr = _grounding(2)
    gligen_2d = {**gr, "masks": torch.ones(2, 2), "phrases_masks": torch.ones(2, 2), "image_masks": torch.ones(2, 2)}
    with torch.no_grad():
        for kwargs_2d, kwargs_3d in [
            (None, None),
            ({"gligen": gligen_2d}, {"gligen": {"objs": encode_grounding(motion, **gr)}}),
        ]:
            want = ref(x, 10, text, cross_attention_kwargs=kwargs_2d).sample
            # (B, C, F=1, h, w): one frame per batch item
            got = motion(x[:, :, None], 10, text, cross_attention_kwargs=kwargs_3d).sample[:, :, 0]
            torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)


def test_grounding_reaches_every_fuser_and_changes_the_output():
    p = tiny.build_parts(seed=3)
    motion = assemble_motion_unet(p["unet"], p["motion_adapter"])
    frames, batch = 3, 1
    called: list[str] = []
    hooks = [m.register_forward_hook(lambda mod, a, o, n=n: called.append(n)) for n, m in _fusers(motion).items()]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 4, frames, 16, 16, generator=g)  # (B, C, F, h, w)
    text = torch.randn(batch * frames, 7, 32, generator=g)  # ((b f), L, D)
    objs = encode_grounding(motion, **_grounding(batch * frames))  # ((b f), 2N, C)
    assert objs.shape == (batch * frames, 4, 32)
    with torch.no_grad():
        plain = motion(x, 10, text).sample
        assert called == []  # no "gligen" key: the fusers are skipped
        grounded = motion(x, 10, text, cross_attention_kwargs={"gligen": {"objs": objs}}).sample
    for h in hooks:
        h.remove()
    assert sorted(set(called)) == sorted(_fusers(motion))  # down, mid and up blocks alike
    assert (grounded - plain).abs().mean() > 1e-3


def test_encode_grounding_refuses_a_unet_without_text_image_layers(parts):
    with pytest.raises(ValueError, match="gated-text-image"):
        encode_grounding(parts["vae"], **_grounding(1))


# ---------------------------------------------------------------- random weights
def test_tiny_components_are_seeded_and_keep_real_geometry():
    a = tiny.build_components(seed=0)
    b = tiny.build_components(seed=0)
    c = tiny.build_components(seed=1)
    assert isinstance(a, IVA0Components)
    for name in a.modules():
        sa, sb, sc = (getattr(m, name).state_dict() for m in (a, b, c))
        assert all(torch.equal(sa[k], sb[k]) for k in sa), name
        assert any(not torch.equal(sa[k], sc[k]) for k in sa if sa[k].numel() > 1), name
    # the VAE keeps SD's 8x downsampling and 4 latent channels
    with torch.no_grad():
        latent = a.vae.encode(torch.zeros(1, 3, 64, 96)).latent_dist.mean
    assert latent.shape == (1, 4, 8, 12)
    # the real CLIP tokenizer; the text encoder's vocabulary matches it
    assert len(a.tokenizer) == a.text_encoder.config.vocab_size == 49408
    assert a.tokenizer("a red car").input_ids == [49406, 320, 736, 1615, 49407]
    assert type(a.scheduler).__name__ == "DDIMScheduler"
    assert a.image_encoder.config.projection_dim == a.image_project.config.hidden_size == a.unet.config.cross_attention_dim
    assert sum(a.num_parameters().values()) < 10_000_000


def test_components_to_moves_every_module():
    c = tiny.build_components()
    c.to(dtype=torch.float64)
    assert c.dtype == torch.float64
    assert all(next(m.parameters()).dtype == torch.float64 for m in c.modules().values())


@pytest.mark.parametrize(
    "adapter, want",
    [("v1-5-3", {"unet": 1069.7, "motion_adapter": 417.1}), ("v1-5-2", {"unet": 1069.7, "motion_adapter": 453.2})],
)
def test_full_size_parameter_counts_on_meta_device(adapter, want):
    parts = tiny.build_parts(full_size=True, adapter=adapter, meta=True)
    want = {**want, "vae": 83.7, "text_encoder": 123.1, "image_encoder": 304.0}
    for name, millions in want.items():
        params = list(parts[name].parameters())
        assert all(p.is_meta for p in params), name  # nothing allocated
        assert abs(sum(p.numel() for p in params) / 1e6 - millions) <= 0.1, name


def test_plain_sd15_unet_count_on_meta_device():
    unet = tiny.build_part("unet", tiny._read_config(tiny.SD15, "unet", "config.json"), meta=True)
    assert abs(sum(p.numel() for p in unet.parameters()) / 1e6 - 859.5) <= 0.1


def test_write_model_folder_has_the_real_layout(tmp_path):
    out = tiny.write_model_folder(tmp_path / "m")
    index = json.loads((out / "model_index.json").read_text())
    assert set(COMPONENTS) <= set(index)
    assert index["_iva0"]["random_weights"] is True
    for comp, weights in [("unet", "diffusion_pytorch_model.safetensors"),
                          ("motion_adapter", "diffusion_pytorch_model.safetensors"),
                          ("vae", "diffusion_pytorch_model.safetensors"),
                          ("image_project", "diffusion_pytorch_model.safetensors"),
                          ("text_encoder", "model.safetensors"), ("image_encoder", "model.safetensors")]:
        assert (out / comp / "config.json").is_file() and (out / comp / weights).is_file(), comp
    assert json.loads((out / "unet" / "config.json").read_text())["attention_type"] == "gated-text-image"
    assert (out / "tokenizer" / "vocab.json").read_bytes() == (tiny.tokenizer_dir() / "vocab.json").read_bytes()
    assert json.loads((out / "scheduler" / "scheduler_config.json").read_text())["_class_name"] == "DDIMScheduler"
    assert not [p for p in tmp_path.iterdir() if p.name != "m"]  # no temp folder left behind
