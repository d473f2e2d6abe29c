"""Models: the GLIGEN motion-UNet graft, random-weight folders, loading and broken-folder errors."""

from __future__ import annotations

import json

import pytest
import torch

from iva0.backends.diffusion import tiny
from iva0.backends.diffusion.checks import COMPONENTS
from iva0.backends.diffusion.components import IVA0Components
from iva0.backends.diffusion.motion_unet import assemble_motion_unet, split_motion_unet

from iva0_test_helpers import encode_grounding, is_gligen_unet, save_components


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
    unet = tiny.build_part("unet", tiny.read_config(tiny.SD15, "unet", "config.json"), meta=True)
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


# ---------------------------------------------------------------- loading
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from iva0.backends.diffusion.checks import check_model  # noqa: E402
from iva0.backends.diffusion.loading import load_components, load_motion_adapter  # noqa: E402
from iva0.cli import main as cli_main  # noqa: E402
from iva0.errors import ModelError  # noqa: E402


def _checksum(module: torch.nn.Module) -> float:
    return float(sum(p.double().abs().sum() for p in module.parameters()))


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "tiny"
    assert cli_main(["tiny-models", str(out), "--quiet"]) == 0
    return out


def _broken(folder: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "m"
    shutil.copytree(folder, copy)
    return copy


def test_tiny_folder_loads_in_a_fresh_offline_process(folder, tmp_path):
    code = (
        "import sys, torch\n"
        "from iva0.backends.diffusion.pipeline import IVA0Pipeline\n"
        "pipe = IVA0Pipeline.from_pretrained(sys.argv[1])\n"
        "print(type(pipe.unet).__name__, hasattr(pipe.unet, 'position_net'),\n"
        "      float(sum(p.double().abs().sum() for p in pipe.unet.parameters())))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "empty-hf-home"),
           "OMP_NUM_THREADS": "1"}
    run = subprocess.run([sys.executable, "-c", code, str(folder)], capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    name, has_net, checksum = run.stdout.split()
    assert (name, has_net) == ("UNetMotionModel", "True")
    # the weights on disk are the seeded ones: same as building them in this process
    want = _checksum(tiny.build_components(seed=0).unet)
    assert float(checksum) == pytest.approx(want, rel=1e-9)


def test_loaded_components_equal_the_written_ones(folder):
    loaded = load_components(folder)
    built = tiny.build_components(seed=0)
    for name, module in built.modules().items():
        want, got = module.state_dict(), getattr(loaded, name).state_dict()
        assert want.keys() == got.keys(), name
        assert all(torch.equal(want[k], got[k]) for k in want), name
    assert loaded.scheduler.config.beta_schedule == "linear"
    assert loaded.feature_extractor is not None
    half = load_components(folder, torch_dtype=torch.float16)
    assert half.dtype == torch.float16 and half.vae.dtype == torch.float16


def _parts_on_disk(folder: Path, tmp_path: Path) -> tuple[Path, Path, Path, torch.nn.Module]:
    """Split a model folder the way users keep models: an SD1.x folder, a GLIGEN one, an adapter one."""
    sd, gligen, adapter = tmp_path / "sd15", tmp_path / "gligen", tmp_path / "adapter"
    for name in ("vae", "text_encoder", "tokenizer"):
        shutil.copytree(folder / name, sd / name)
    # SD's own scheduler config (PNDM): the loader turns it into AnimateDiff's DDIM
    shutil.copytree(tiny.model_configs_dir() / tiny.SD15 / "scheduler", sd / "scheduler")
    plain_config = {k: v for k, v in tiny.component_configs()["unet"].items() if k != "attention_type"}
    plain = tiny.build_part("unet", plain_config, seed=7)  # a different "fine-tune" body
    plain.save_pretrained(str(sd / "unet"))
    for name in ("unet", "image_encoder", "image_project"):
        shutil.copytree(folder / name, gligen / name)
    shutil.copytree(folder / "motion_adapter", adapter)  # config.json + weights at the top, like the Hub repo
    return sd, gligen, adapter, plain


def test_assembled_from_separate_sources(folder, tmp_path):
    from safetensors.torch import load_file

    sd, gligen, adapter, plain = _parts_on_disk(folder, tmp_path)
    on_disk = {**load_file(str(folder / "unet" / "diffusion_pytorch_model.safetensors")),
               **load_file(str(folder / "motion_adapter" / "diffusion_pytorch_model.safetensors"))}
    parts = load_components(base=sd, gligen=gligen, motion_adapter=adapter)
    got = parts.unet.state_dict()
    body = plain.state_dict()
    assert got.keys() == on_disk.keys()
    for k, v in got.items():
        if ".fuser." in k or k.startswith("position_net.") or ".motion_modules." in k:
            # grounding layers from GLIGEN, motion modules from the adapter
            assert torch.equal(v, on_disk[k]), k
        else:  # everything else is the base's UNet
            assert torch.equal(v, body[k]), k
    assert type(parts.scheduler).__name__ == "DDIMScheduler" and parts.scheduler.config.beta_schedule == "linear"
    vae = load_file(str(folder / "vae" / "diffusion_pytorch_model.safetensors"))
    assert all(torch.equal(v, vae[k]) for k, v in parts.vae.state_dict().items())
    # `models check` takes the same sources; the plain base UNet is fine there (only GLIGEN's must be gated)
    report = check_model(base=sd, gligen=gligen, motion_adapter=adapter)
    assert report.ok and {(c.origin, c.name) for c in report.components} >= {
        ("base", "vae"), ("base", "unet"), ("gligen", "unet"), ("gligen", "image_project"), ("motion adapter", "motion_adapter")}
    lacking = check_model(base=sd, gligen=sd)  # an SD folder given as GLIGEN, and no adapter
    assert not lacking.ok
    assert "gligen: component 'unet' is a plain SD UNet" in lacking.problems[0]
    assert any("pass --motion-adapter" in p for p in lacking.problems)
    # without a UNet in the base folder, GLIGEN's whole UNet is used
    shutil.rmtree(sd / "unet")
    only = load_components(base=sd, gligen=gligen, motion_adapter=adapter).unet.state_dict()
    assert all(torch.equal(v, on_disk[k]) for k, v in only.items())


def test_repo_ids_resolve_from_the_local_cache_only(folder, tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants

    cache = tmp_path / "hub"
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / "models--someone--tiny-iva0"
    shutil.copytree(folder, repo / "snapshots" / commit)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    loaded = load_components("someone/tiny-iva0")
    assert "snapshots" in loaded.source
    with pytest.raises(ModelError, match="not in the Hugging Face cache") as err:
        load_components("someone/not-downloaded")
    assert "\n" not in str(err.value)
    assert "hf download someone/not-downloaded --include" in str(err.value)  # the CLI huggingface-hub installs


def _adapter_to_original_keys(key: str) -> str:
    """diffusers' MotionAdapter names -> AnimateDiff's original checkpoint names (the inverse of diffusers' renames)."""
    key = (key.replace(".norm1", ".norms.0").replace(".norm2", ".norms.1").replace(".norm3", ".ff_norm")
           .replace(".attn1", ".attention_blocks.0").replace(".attn2", ".attention_blocks.1"))
    head, sep, rest = key.partition(".motion_modules.")
    index, _, tail = rest.partition(".")
    return f"{head}{sep}{index}.temporal_transformer.{tail}"


@pytest.mark.parametrize("original_names", [True, False])
def test_motion_adapter_from_a_single_file(folder, tmp_path, original_names):
    from safetensors.torch import load_file, save_file

    state = load_file(str(folder / "motion_adapter" / "diffusion_pytorch_model.safetensors"))
    if original_names:
        state = {_adapter_to_original_keys(k): v for k, v in state.items()}
        assert any(".temporal_transformer.transformer_blocks.0.attention_blocks.0." in k for k in state)
    path = tmp_path / "mm_tiny.safetensors"
    save_file(state, str(path))
    adapter = load_motion_adapter(path, torch.float32, "test", config=folder / "motion_adapter")
    want = load_motion_adapter(folder, torch.float32, "test")
    assert all(torch.equal(v, want.state_dict()[k]) for k, v in adapter.state_dict().items())
    pickle = tmp_path / "mm.ckpt"
    pickle.write_bytes(b"not loaded")
    with pytest.raises(ModelError, match="safetensors only"):
        load_motion_adapter(pickle, torch.float32, "test")


def _break(kind: str, m: Path) -> str:
    """Break a copy of a model folder; return what the one-line error must say."""
    if kind == "missing component":
        shutil.rmtree(m / "vae")
        return f"component 'vae' missing (looked for {m / 'vae' / 'config.json'})"
    if kind == "missing weights":
        (m / "text_encoder" / "model.safetensors").unlink()
        return f"component 'text_encoder' has no weights (looked for {m / 'text_encoder' / 'model.safetensors'})"
    if kind == "corrupt config":
        (m / "image_encoder" / "config.json").write_text("{not json")
        return f"component 'image_encoder' has a broken config ({m / 'image_encoder' / 'config.json'}"
    if kind == "pickle weights":  # a pickle under a name diffusers would not read either
        weights = m / "unet" / "diffusion_pytorch_model.safetensors"
        weights.rename(m / "unet" / "unet.ckpt")
        return "component 'unet' has only pickle weights"
    if kind == "corrupt weights":
        (m / "image_project" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x10\x00")
        return "component 'image_project' has broken weights"
    if kind == "plain unet":
        config = json.loads((m / "unet" / "config.json").read_text())
        config.pop("attention_type")
        plain = tiny.build_part("unet", config)
        shutil.rmtree(m / "unet")
        plain.save_pretrained(str(m / "unet"))
        return "plain SD UNet without GLIGEN gated-text-image layers"
    raise AssertionError(kind)


BROKEN = ["missing component", "missing weights", "corrupt config", "pickle weights", "corrupt weights", "plain unet"]


@pytest.mark.parametrize("kind", BROKEN)
def test_broken_folder_one_line_error(folder, tmp_path, kind, capsys):
    m = _broken(folder, tmp_path)
    want = _break(kind, m)
    with pytest.raises(ModelError) as err:
        load_components(m)
    assert want in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith(f"model folder {m}: ")
    # the CLI: `models check` prints its table, then one error line, exit 2
    assert cli_main(["models", "check", str(m)]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and err_lines[0].startswith("error: ") and want in err_lines[0]
    if kind == "plain unet":  # the message names the fix
        assert "pass --gligen" in str(err.value) and "pass --gligen" in err_lines[0]


def test_broken_folder_via_animate_cli(folder, tmp_path, capsys):
    from iva0.samples import get_sample

    m = _broken(folder, tmp_path)
    want = _break("missing component", m)
    sample = get_sample("coffee")
    out = tmp_path / "out.mp4"
    with pytest.raises(SystemExit) as exit_:
        cli_main(["animate", str(sample.image), "--layout", str(sample.layout), "--backend", "iva0", "--model", str(m),
                  "--width", "64", "--height", "64", "--steps", "1", "-o", str(out)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: model folder {m}: {want}"]
    assert not out.exists()


def test_models_check_lists_every_component(folder, capsys):
    assert cli_main(["models", "check", str(folder)]) == 0
    out = capsys.readouterr().out
    for name, cls in [("unet", "UNet2DConditionModel"), ("motion_adapter", "MotionAdapter"), ("vae", "AutoencoderKL"),
                      ("text_encoder", "CLIPTextModel"), ("tokenizer", "CLIPTokenizer"),
                      ("image_encoder", "CLIPVisionModelWithProjection"), ("image_project", "CLIPImageProjection"),
                      ("scheduler", "DDIMScheduler")]:
        line = next(ln for ln in out.splitlines() if f" {name} " in ln)
        assert "present" in line and cls in line, line
    report = check_model(folder)
    built = tiny.build_parts(seed=0)
    # sizes come from the safetensors headers: every stored tensor (parameters and saved buffers)
    counts = {c.name: c.num_parameters for c in report.components}
    for name, module in built.items():
        assert counts[name] == sum(t.numel() for t in module.state_dict().values()), name
    assert report.random_weights


def test_models_check_reads_paths_without_importing_torch(folder, tmp_path):
    # a missing folder is answered before any heavy library loads, and a full folder from headers alone
    code = (
        "import sys\n"
        "from iva0.cli import main\n"
        "def run(path):\n"
        "    try:\n"
        "        return main(['models', 'check', path])\n"
        "    except SystemExit as e:  # fail() exits 2 after its one line\n"
        "        return e.code\n"
        "codes = [run(p) for p in sys.argv[1:]]\n"
        "print(codes, sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "missing"), str(folder)],
                         capture_output=True, text=True, timeout=120)
    assert run.stdout.strip().splitlines()[-1] == "[2, 0] []", run.stdout[-2000:] + run.stderr[-2000:]
    assert f"error: model {tmp_path / 'missing'}: no such file or folder" in run.stderr


def test_no_model_and_missing_paths_are_user_errors(tmp_path):
    with pytest.raises(ModelError, match="no model given"):
        load_components()
    with pytest.raises(ModelError, match="no such file or folder"):
        load_components(tmp_path / "nope")
    (tmp_path / "sd.ckpt").write_bytes(b"x")
    with pytest.raises(ModelError, match="pickle checkpoint; iva0 loads .safetensors only"):
        load_components(base=tmp_path / "sd.ckpt", gligen=tmp_path)


def test_fp16_variant_only_folder_loads(folder, tmp_path):
    m = _broken(folder, tmp_path)
    for f in m.rglob("*.safetensors"):  # as when only the .fp16 files of a Hub repo were downloaded
        f.rename(f.with_name(f.name.replace(".safetensors", ".fp16.safetensors")))
    assert check_model(m).ok
    comps = load_components(m)
    want = tiny.build_components(seed=0).vae.state_dict()
    assert all(torch.equal(v, want[k]) for k, v in comps.vae.state_dict().items())


def test_tiny_models_cli_refuses_an_existing_folder(folder, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["tiny-models", str(folder), "--quiet"])
    assert exit_.value.code == 2
    assert "already exists" in capsys.readouterr().err


# ---------------------------------------------------------------- single-file SD1.x checkpoints
_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1", "norm2": "out_layers.0",
           "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}


def _unet_to_ldm(key: str) -> str:
    """diffusers SD1.x UNet names -> the original LDM names (2 layers per block, as in SD1.x and the tiny UNet)."""
    top = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
           "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2"}
    for old, new in top.items():
        if key.startswith(old + "."):
            return new + key[len(old):]
    p = key.split(".")
    if p[0] == "down_blocks":
        i, kind = int(p[1]), p[2]
        if kind == "downsamplers":  # down_blocks.i.downsamplers.0.conv.* -> input_blocks.(3i+3).0.op.*
            return f"input_blocks.{3 * i + 3}.0.op." + ".".join(p[5:])
        j, rest = int(p[3]), p[4:]
        block = f"input_blocks.{3 * i + j + 1}"
    elif p[0] == "up_blocks":
        i, kind = int(p[1]), p[2]
        if kind == "upsamplers":  # level 0 has no attention: its upsampler sits at index 1
            return f"output_blocks.{3 * i + 2}.{1 if i == 0 else 2}.conv." + ".".join(p[5:])
        j, rest = int(p[3]), p[4:]
        block = f"output_blocks.{3 * i + j}"
    else:  # mid_block.{resnets.j | attentions.0}
        kind, j, rest = p[1], int(p[2]), p[3:]
        return (f"middle_block.{2 * j}." + _resnet_ldm(rest)) if kind == "resnets" else "middle_block.1." + ".".join(rest)
    return f"{block}.0." + _resnet_ldm(rest) if kind == "resnets" else f"{block}.1." + ".".join(rest)


def _resnet_ldm(rest: list[str]) -> str:
    return ".".join([_RESNET[rest[0]], *rest[1:]])


def _vae_to_ldm(key: str, value: torch.Tensor) -> tuple[str, torch.Tensor]:
    p = key.split(".")
    resnet = {"conv_shortcut": "nin_shortcut"}
    attn = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}
    if p[0] in ("quant_conv", "post_quant_conv"):
        return key, value
    side, rest = p[0], p[1:]
    if rest[0] == "conv_norm_out":
        return ".".join([side, "norm_out", *rest[1:]]), value
    if rest[0] in ("conv_in", "conv_out"):
        return key, value
    if rest[0] == "mid_block":
        if rest[1] == "resnets":
            tail = [resnet.get(rest[3], rest[3]), *rest[4:]]
            return ".".join([side, "mid", f"block_{int(rest[2]) + 1}", *tail]), value
        name = attn[rest[3]]
        tail = rest[5:] if rest[3] == "to_out" else rest[4:]
        if name != "norm" and value.ndim == 2:
            value = value[:, :, None, None]  # LDM's attention projections are 1x1 convolutions
        return ".".join([side, "mid", "attn_1", name, *tail]), value
    level = int(rest[1])
    if side == "decoder":
        level = 3 - level  # LDM counts decoder levels from the bottom
    kind = "down" if side == "encoder" else "up"
    if rest[2] in ("downsamplers", "upsamplers"):
        return ".".join([side, kind, str(level), "downsample" if kind == "down" else "upsample", *rest[4:]]), value
    return ".".join([side, kind, str(level), "block", rest[3], resnet.get(rest[4], rest[4]), *rest[5:]]), value


def _single_file_from(sd: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    ckpt = {"model.diffusion_model." + _unet_to_ldm(k): v
            for k, v in load_file(str(sd / "unet" / "diffusion_pytorch_model.safetensors")).items()}
    for k, v in load_file(str(sd / "vae" / "diffusion_pytorch_model.safetensors")).items():
        name, value = _vae_to_ldm(k, v)
        ckpt["first_stage_model." + name] = value
    for k, v in load_file(str(sd / "text_encoder" / "model.safetensors")).items():
        ckpt["cond_stage_model.transformer.text_model." + k] = v
    return ckpt


def test_base_from_a_single_file_checkpoint(folder, tmp_path):
    from safetensors.torch import save_file

    sd, gligen, adapter, plain = _parts_on_disk(folder, tmp_path)
    path = tmp_path / "sd15-finetune.safetensors"
    save_file({k: v.contiguous() for k, v in _single_file_from(sd).items()}, str(path))
    # real SD1.x files use the shipped SD1.5 configs; this tiny one needs its own (the sd folder's)
    comps = load_components(base=path, gligen=gligen, motion_adapter=adapter, single_file_config=sd)
    from_folder = load_components(base=sd, gligen=gligen, motion_adapter=adapter)
    for name in ("unet", "vae", "text_encoder"):
        want, got = getattr(from_folder, name).state_dict(), getattr(comps, name).state_dict()
        assert want.keys() == got.keys(), name
        assert all(torch.equal(want[k], got[k]) for k in want), name
    assert len(comps.tokenizer) == 49408
    assert check_model(base=path, gligen=gligen, motion_adapter=adapter).ok


# ---------------------------------------------------------------- writing
def test_save_components_round_trips(tmp_path):
    comps = tiny.build_components(seed=5)
    out = save_components(comps, tmp_path / "saved")
    loaded = load_components(out)
    for name, module in comps.modules().items():
        want, got = module.state_dict(), getattr(loaded, name).state_dict()
        assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want), name


def test_half_precision_folder_stores_half_weights(tmp_path):
    from iva0.backends.diffusion.checks import safetensors_header

    out = tiny.write_model_folder(tmp_path / "half", dtype=torch.float16, seed=0)
    header = safetensors_header(out / "unet" / "diffusion_pytorch_model.safetensors")
    assert {info["dtype"] for info in header.values()} == {"F16"}
    assert json.loads((out / "model_index.json").read_text())["_iva0"]["dtype"] == "float16"


def test_a_failed_write_leaves_nothing_behind(tmp_path, monkeypatch):
    real = tiny.build_part

    def failing(name, config, **kw):
        if name == "vae":
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C halfway
        return real(name, config, **kw)

    monkeypatch.setattr(tiny, "build_part", failing)
    with pytest.raises(KeyboardInterrupt):
        tiny.write_model_folder(tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- PyTorch .bin weights
def _to_bin(m: Path, shard: str | None = None) -> dict[str, dict]:
    """Replace every safetensors weight file of a model folder by the PyTorch .bin diffusers/transformers would write."""
    from safetensors.torch import load_file

    from iva0.backends.diffusion.checks import BIN_STEM, HAS_WEIGHTS, WEIGHT_STEM

    states = {}
    for name in HAS_WEIGHTS:
        st = m / name / f"{WEIGHT_STEM[name]}.safetensors"
        state = load_file(st)
        states[name] = state
        stem = BIN_STEM[name]
        if name == shard:  # two shards and an index, as large checkpoints ship
            keys = sorted(state)
            parts = {f"{stem}-00001-of-00002.bin": keys[: len(keys) // 2], f"{stem}-00002-of-00002.bin": keys[len(keys) // 2:]}
            for fname, ks in parts.items():
                torch.save({k: state[k] for k in ks}, m / name / fname)
            index = {"metadata": {}, "weight_map": {k: f for f, ks in parts.items() for k in ks}}
            (m / name / f"{stem}.bin.index.json").write_text(json.dumps(index))
        else:
            torch.save(state, m / name / f"{stem}.bin")
        st.unlink()
    return states


def test_bin_weights_load_with_weights_only_and_convert_once(folder, tmp_path, caplog, capsys):
    import logging

    m = _broken(folder, tmp_path)
    states = _to_bin(m, shard="vae")
    bins = sorted(p for p in m.rglob("*.bin*"))
    before = {p: p.read_bytes() for p in bins}
    report = check_model(m)
    assert report.ok and all(c.pytorch_bin for c in report.components if c.name in states)
    assert cli_main(["models", "check", str(m)]) == 0
    assert "PyTorch .bin" in capsys.readouterr().out
    with caplog.at_level(logging.WARNING, logger="iva0"):
        loaded = load_components(m)
    notes = [r.getMessage() for r in caplog.records if r.name == "iva0"]
    assert len(notes) == len(states)  # one note per component, naming the file read
    assert any(str(m / "unet" / "diffusion_pytorch_model.bin") in n and "weights_only=True" in n for n in notes)
    assert any(str(m / "text_encoder" / "pytorch_model.bin") in n for n in notes)
    for name, state in states.items():
        got = getattr(loaded, name if name != "motion_adapter" else "unet").state_dict()
        if name == "unet":
            got = {k: v for k, v in got.items() if ".motion_modules." not in k}
        if name == "motion_adapter":
            got = {k: v for k, v in got.items() if ".motion_modules." in k}
            state = {k: v for k, v in state.items() if ".motion_modules." in k}
        assert state and all(torch.equal(got[k], v) for k, v in state.items()), name

    # convert: safetensors beside the .bin files, the .bin kept byte for byte
    assert cli_main(["models", "convert", str(m), "-q"]) == 0
    out = capsys.readouterr().out
    assert out.count("wrote ") == len(states) + 2  # the vae: two shards and an index
    assert (m / "text_encoder" / "model.safetensors").is_file()
    assert (m / "vae" / "diffusion_pytorch_model.safetensors.index.json").is_file()
    assert {p: p.read_bytes() for p in bins} == before
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="iva0"):
        again = load_components(m)
    assert not [r for r in caplog.records if r.name == "iva0"]  # safetensors now: nothing read with torch.load
    for name, module in loaded.modules().items():
        want, got = module.state_dict(), getattr(again, name).state_dict()
        assert want.keys() == got.keys() and all(torch.equal(want[k], got[k]) for k in want), name
    assert cli_main(["models", "convert", str(m), "-q"]) == 0  # once: nothing is rewritten
    assert "wrote" not in capsys.readouterr().out


class _Payload:
    """A pickle that would run code on load: creates a file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_bin_that_weights_only_refuses_stays_refused(folder, tmp_path, capsys):
    m = _broken(folder, tmp_path)
    marker = tmp_path / "ran"
    (m / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    torch.save({"conv_in.weight": torch.zeros(1), "x": _Payload(marker)}, m / "unet" / "diffusion_pytorch_model.bin")
    with pytest.raises(ModelError) as err:
        load_components(m)
    assert "component 'unet' could not be loaded" in str(err.value) and "\n" not in str(err.value)
    assert "refused by torch.load(weights_only=True)" in str(err.value) and "\x1b" not in str(err.value)
    with pytest.raises(SystemExit) as exit_:
        cli_main(["models", "convert", str(m / "unet"), "-q"])
    assert exit_.value.code == 2
    assert "refused by torch.load(weights_only=True)" in capsys.readouterr().err
    assert not marker.exists()  # the payload never ran
    assert not (m / "unet" / "diffusion_pytorch_model.safetensors").exists()


def test_convert_refuses_a_folder_without_bin_weights(folder, capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        cli_main(["models", "convert", str(folder)])
    assert exit_.value.code == 2 and "no PyTorch .bin weights to convert" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli_main(["models", "convert", str(tmp_path / "missing")])
    assert "no such folder" in capsys.readouterr().err
