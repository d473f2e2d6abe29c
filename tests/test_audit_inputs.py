"""Bad inputs an outside audit found getting past the checks (tracebacks, hangs, files left behind).

Each through the real CLI in a temporary folder: exit status 2, one `error:` line, nothing
written or changed (see test_output_rule.py for the helpers).
"""

import json
import os
from pathlib import Path

import pytest

from iva0.animate import animate
from iva0.errors import UserError
from iva0.io.atomic import atomic_path
from iva0.io.output_rule import replaceable_folder
from iva0.layout import load_layout, parse_layout_json
from iva0.limits import MAX_SEED
from test_bench_run import make_bench
from test_output_rule import animate_args, refused, run, scene  # noqa: F401 - scene is a fixture


def _layout_text(scene: Path) -> str:
    return (scene / "L.json").read_text()


# ---------------------------------------------------------------- layout JSON
@pytest.mark.parametrize(
    "text, message",
    [
        ("[" * 100000 + "]" * 100000, "JSON nested too deeply"),
        ('{"objects": ' + "[" * 100000 + "]" * 100000 + "}", "JSON nested too deeply"),
        ('{"num_frames": 1' + "0" * 5000 + ', "objects": []}', "a number with too many digits"),
        ('{"objects": [{"name": "a", "keyframes": [{"frame": 0, "box": [0, 0, 1' + "0" * 400 + ", 1]}]}]}",
         "values must lie in [-1, 2]"),
    ],
)
def test_layout_that_broke_the_parser_is_one_line(scene, capsys, text, message):
    (scene / "bad.json").write_text(text)
    line = refused(["animate", "photo.png", "-l", "bad.json", "-o", "out.mp4", "-q"], capsys, scene, message)
    assert len(line) < 400  # a huge value is cut short, not printed whole


def test_layout_with_byte_order_mark_is_read(scene):
    (scene / "bom.json").write_bytes(b"\xef\xbb\xbf" + _layout_text(scene).encode())
    assert load_layout(scene / "bom.json").num_frames == 4
    assert parse_layout_json("\ufeff" + _layout_text(scene)).num_frames == 4


def test_layout_not_utf8_says_so_in_plain_words(scene, capsys):
    (scene / "latin1.json").write_bytes(_layout_text(scene).replace("square", "caf\u00e9").encode("latin-1"))
    line = refused(["animate", "photo.png", "-l", "latin1.json", "-o", "out.mp4", "-q"], capsys, scene, "not UTF-8 text")
    assert "codec" not in line


@pytest.mark.parametrize(
    "change, shown",
    [
        (lambda d: d.update(fps=True), "got true"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box=[None, 0, 1, 1]), "got [null, 0, 1, 1]"),
        (lambda d: d.update(num_frames="16"), 'got "16"'),
        (lambda d: d["objects"][0].update(name=None), "got null"),
    ],
)
def test_layout_messages_show_values_as_json(scene, capsys, change, shown):
    data = json.loads(_layout_text(scene))
    change(data)
    (scene / "bad.json").write_text(json.dumps(data))
    refused(["animate", "photo.png", "-l", "bad.json", "-o", "out.mp4", "-q"], capsys, scene, shown)


# ---------------------------------------------------------------- inputs that are not regular files
def test_fifo_as_image_or_layout_is_refused_not_read(scene, capsys):
    os.mkfifo(scene / "pipe")  # opening it for reading would block for ever
    refused(["animate", "pipe", "-l", "L.json", "-o", "out.mp4", "-q"], capsys, scene, "image is not a regular file: pipe")
    refused(["animate", "photo.png", "-l", "pipe", "-o", "out.mp4", "-q"], capsys, scene, "layout file is not a regular file: pipe")


def test_link_loop_is_named_a_broken_link(scene, capsys):
    os.symlink("loop2.png", scene / "loop1.png")
    os.symlink("loop1.png", scene / "loop2.png")
    refused(["animate", "loop1.png", "-l", "L.json", "-o", "out.mp4", "-q"], capsys, scene, "(a broken link)")


# ---------------------------------------------------------------- seeds
@pytest.mark.parametrize("seed", [MAX_SEED + 1, 10**23])
def test_seed_out_of_range_is_refused_by_every_command(scene, capsys, seed):
    bench = make_bench(scene / "b", n=1, frames=4)
    for args in (
        animate_args("photo.png", "out.mp4", "--seed", seed),
        ["bench", "run", bench, "-m", "static", "-o", "run", "-q", "--seed", seed],
        ["tune", "photo.png", "-l", "L.json", "-o", "t.safetensors", "--model", "m", "--seed", seed],
        ["tiny-models", "m", "--seed", seed],
    ):
        refused(args, capsys, scene, "--seed")
    with pytest.raises(UserError, match="seed"):
        animate(scene / "photo.png", scene / "L.json", seed=seed)


def test_tune_refuses_an_infinite_learning_rate(scene, capsys):
    refused(["tune", "photo.png", "-l", "L.json", "-o", "t.safetensors", "--model", "m", "--lr", "inf"], capsys, scene, "--lr")


# ---------------------------------------------------------------- bench report / eval on broken run folders
def _static_run(scene: Path, capsys, name="run") -> Path:
    bench = scene / "b" if (scene / "b").exists() else make_bench(scene / "b", n=1, frames=4)
    code, _, err = run(["bench", "run", bench, "-m", "static", "-o", name, "-q"], capsys)
    assert code == 0, err
    return scene / name


def test_report_refused_for_a_bad_run_leaves_no_folder(scene, capsys):
    _static_run(scene, capsys)
    (scene / "notrun").mkdir()
    refused(["bench", "report", "run", "notrun", "-o", "rep", "--no-speed"], capsys, scene, "notrun is not a benchmark run")
    assert not (scene / "rep").exists()


def test_report_checks_every_run_before_evaluating_any(scene, capsys, monkeypatch):
    _static_run(scene, capsys)  # not evaluated yet
    _static_run(scene, capsys, "run2")
    (scene / "run2" / "metrics.json").write_text("{oops")

    def no_eval(*a, **k):
        raise AssertionError("evaluated before every run folder was checked")

    monkeypatch.setattr("iva0.bench.evaluate.evaluate_path", no_eval)
    refused(["bench", "report", "run", "run2", "-o", "rep", "--no-speed"], capsys, scene, "run2/metrics.json: not valid JSON")


@pytest.mark.parametrize("config, message", [("{oops", "not valid JSON"), ("[]", "not the config.json of an iva0 benchmark run")])
def test_corrupt_run_config_is_one_line(scene, capsys, config, message):
    _static_run(scene, capsys)
    (scene / "run" / "config.json").write_text(config)
    refused(["bench", "eval", "run", "-q"], capsys, scene, message)
    refused(["bench", "report", "run", "-o", "rep", "--no-speed"], capsys, scene, message)



@pytest.mark.parametrize("field, value", [
    ("benchmark_path", None), ("benchmark_path", 5), ("benchmark_path", ["b"]), ("method", 5), ("benchmark", [1]),
    ("options", "x"),
])
def test_run_config_with_a_wrong_type_is_one_line(scene, capsys, field, value):
    """A hand-edited or damaged run config.json: a number, a list or null where iva0 writes a string (or an object
    of options) ended in a TypeError or AttributeError traceback in bench eval and bench report."""
    _static_run(scene, capsys)
    config = json.loads((scene / "run" / "config.json").read_text())
    config[field] = value
    (scene / "run" / "config.json").write_text(json.dumps(config))
    for args in (["bench", "eval", "run", "-q"], ["bench", "report", "run", "-o", "rep", "--no-speed"]):
        line = refused(args, capsys, scene, "run/config.json: not the config.json of an iva0 benchmark run")
        assert f"'{field}'" in line


def test_run_config_without_benchmark_path_is_one_line(scene, capsys):
    _static_run(scene, capsys)
    config = json.loads((scene / "run" / "config.json").read_text())
    del config["benchmark_path"]
    (scene / "run" / "config.json").write_text(json.dumps(config))
    refused(["bench", "eval", "run", "-q"], capsys, scene, "'benchmark_path'")



@pytest.mark.parametrize("record", ["[1]", '"ok"', '{"id": "s0", "status": "ok", "seconds": "3"}',
                                    '{"id": "s0", "status": "ok", "seconds": [1]}'])
def test_damaged_sample_record_is_one_line_before_any_work(scene, capsys, record):
    """A records/<id>.json that is not an object, or whose seconds is not a number: an AttributeError or TypeError
    traceback in eval and report, and in a resumed bench run only at its end, once run.json was merged."""
    _static_run(scene, capsys)
    (scene / "run" / "records" / "s0.json").write_text(record)
    for args in (["bench", "eval", "run", "-q"], ["bench", "report", "run", "-o", "rep", "--no-speed"],
                 ["bench", "run", "b", "-m", "static", "-o", "run", "-q"]):
        refused(args, capsys, scene, "run/records/s0.json: not a sample record of `iva0 bench run`")

def _set(path, value):
    """A function that sets metrics[path...] = value (a path of keys and list indices)."""
    def change(m):
        for k in path[:-1]:
            m = m[k]
        m[path[-1]] = value
    return change


@pytest.mark.parametrize("change, where", [
    (_set(["summary", "mean_viou"], "x"), "summary.mean_viou"),
    (_set(["summary", "viou_at_0.5"], [1]), "summary.viou_at_0.5"),
    (_set(["benchmark_path"], 5), "benchmark_path"),
    (_set(["samples"], "x"), "samples"),
    (_set(["samples", 0], "x"), "samples[0]"),
    (_set(["samples", 0, "id"], 5), "samples[0].id"),
    (_set(["samples", 0, "objects"], "x"), "samples[0].objects"),
    (_set(["samples", 0, "objects", 0, "viou"], "x"), "samples[0].objects[0].viou"),
    (_set(["samples", 0, "objects", 0, "ious"], ["x"]), "samples[0].objects[0].ious"),
    (_set(["samples", 0, "background_psnr"], {}), "samples[0].background_psnr"),
    (_set(["skipped"], [1]), "skipped"),
    (lambda m: m.pop("samples"), "samples"),
])
def test_damaged_metrics_json_is_one_line_and_no_report_folder(scene, capsys, change, where):
    """A hand-edited or damaged metrics.json: bench report ended in a traceback (TypeError, KeyError, a format code
    for a string) and left a half-written report folder of plots."""
    _static_run(scene, capsys)
    code, _, err = run(["bench", "eval", "run", "-q"], capsys)
    assert code == 0, err
    metrics = json.loads((scene / "run" / "metrics.json").read_text())
    change(metrics)
    (scene / "run" / "metrics.json").write_text(json.dumps(metrics))
    line = refused(["bench", "report", "run", "-o", "rep", "--no-speed"], capsys, scene,
                   "run/metrics.json: not the metrics.json of `iva0 bench eval`")
    assert where in line


def test_report_that_fails_half_way_leaves_no_folder(scene, capsys, monkeypatch):
    _static_run(scene, capsys)

    def broken(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("iva0.bench.report.strip", broken)
    code, _, err = run(["bench", "report", "run", "-o", "rep", "--no-speed"], capsys)
    assert code != 0
    assert not (scene / "rep").exists()

def test_benchmark_json_nested_too_deeply_or_with_bom(scene, capsys):
    bench = make_bench(scene / "b", n=1, frames=4)
    text = (bench / "benchmark.json").read_text()
    (bench / "benchmark.json").write_text('{"samples": ' + "[" * 100000 + "]" * 100000 + "}")
    refused(["bench", "run", bench, "-m", "static", "-o", "run", "-q"], capsys, scene, "JSON nested too deeply")
    (bench / "benchmark.json").write_bytes(b"\xef\xbb\xbf" + text.encode())
    code, _, err = run(["bench", "run", bench, "-m", "static", "-o", "run", "-q"], capsys)
    assert code == 0, err



@pytest.mark.parametrize("key", ["image", "layout"])
@pytest.mark.parametrize("kind, message", [("folder", "is a folder, not a file"), ("fifo", "is not a regular file")])
def test_benchmark_sample_path_that_is_not_a_file_says_what_it_is(scene, capsys, key, kind, message):
    """A sample's image or layout naming a folder or a FIFO was reported as 'file not found'."""
    bench = make_bench(scene / "b", n=1, frames=4)
    data = json.loads((bench / "benchmark.json").read_text())
    data["samples"][0][key] = "thing"
    (bench / "thing").mkdir() if kind == "folder" else os.mkfifo(bench / "thing")
    (bench / "benchmark.json").write_text(json.dumps(data))
    line = refused(["bench", "run", bench, "-m", "static", "-o", "run", "-q"], capsys, scene, message)
    assert f"sample 's0'.{key}: " in line and "not found" not in line


@pytest.mark.parametrize("args, message", [
    (["--clip", "L.json"], "--clip: CLIP model folder is a file, not a folder: L.json"),
    (["--i3d", "b", "--fvd-reference", "run"], "--i3d: weights file is a folder, not a file: b"),
    (["--i3d", "L.json", "--fvd-reference", "L.json"], "--fvd-reference: folder is a file, not a folder: L.json"),
])
def test_eval_model_paths_of_the_wrong_kind_say_so(scene, capsys, args, message):
    """`--clip FILE` or `--i3d FOLDER` read 'not found' for a path that is there."""
    _static_run(scene, capsys)
    refused(["bench", "eval", "run", "-q", *args], capsys, scene, message)


@pytest.mark.parametrize("flags, message", [
    (["--steps", "5"], "--steps only applies to --backend iva0 or ttm"),
    (["--guidance", "3"], "--guidance only applies to --backend iva0 or ttm"),
    (["--model", "m"], "--model only applies to --backend iva0 or ttm"),
    (["--no-mas"], "--no-mas only applies to --backend iva0"),
])
def test_a_diffusion_flag_on_the_composite_names_every_backend_it_serves(scene, capsys, flags, message):
    """`--steps` on the composite said it 'only applies to --backend iva0', though ttm takes it too."""
    line = refused(animate_args("photo.png", "out.mp4", *flags), capsys, scene, message)
    assert line == "error: " + message
    bench = make_bench(scene / "b", n=1, frames=4) if not (scene / "b").exists() else scene / "b"
    refused(["bench", "run", bench, "-m", "static", "-o", "run", "-q", *flags], capsys, scene,
            message.replace("--backend", "--method"))


@pytest.mark.parametrize("args, message", [
    (["animate", "photo.png", "-l", "L.json", "-o", "out.mp4", "-q", "--backend", "iva0", "--model", "m",
      "--tuned", "d"], "--tuned: file is a folder, not a file: d"),
    (["bench", "convert-i3d", "d", "i3d.safetensors"], "file is a folder, not a file: d"),
])
def test_weights_file_that_is_a_folder_says_so(scene, capsys, args, message):
    """`--tuned FOLDER` and `convert-i3d FOLDER` read 'file not found' for a folder that is there."""
    (scene / "d").mkdir()
    refused(args, capsys, scene, message)  # --tuned is checked before the model folder is read

# ---------------------------------------------------------------- folder outputs
def test_frames_folder_that_is_a_link_is_refused_before_any_work(scene, capsys, monkeypatch):
    (scene / "real").mkdir()
    os.symlink("real", scene / "frames")

    def no_work(*a, **k):
        raise AssertionError("animated before the output was refused")

    monkeypatch.setattr("iva0.animate.animate", no_work)
    refused(animate_args("photo.png", "frames"), capsys, scene, "output frames/ is a link to a folder")


def test_failed_folder_swap_puts_the_old_folder_back_and_leaves_nothing(tmp_path, monkeypatch):
    final = tmp_path / "frames"
    final.mkdir()  # empty: replaceable
    real_replace = os.replace
    calls = []

    def replace(src, dst):
        calls.append((src, dst))
        if len(calls) == 2:  # the new folder into place: say the disk refused
            raise PermissionError(13, "Permission denied")
        return real_replace(src, dst)

    monkeypatch.setattr("iva0.io.atomic.os.replace", replace)
    with pytest.raises(PermissionError):
        with atomic_path(final, directory=True, may_replace=replaceable_folder) as tmp:
            (tmp / "000.png").write_bytes(b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    assert final.is_dir() and not any(final.iterdir())


# ---------------------------------------------------------------- Ctrl-C
def test_interrupt_says_so_in_one_line(scene, capsys, monkeypatch):
    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr("iva0.animate.animate", interrupted)
    code, out, err = run(animate_args("photo.png", "out.mp4"), capsys)
    assert code == 130 and err.strip() == "error: interrupted"
    assert not (scene / "out.mp4").exists()


# ---------------------------------------------------------------- weights read with torch.load
def test_convert_i3d_refusal_does_not_advise_weights_only_false(scene, capsys):
    (scene / "bad.pt").write_bytes(b"garbage\n")
    line = refused(["bench", "convert-i3d", "bad.pt", "i3d.safetensors"], capsys, scene, "cannot read bad.pt")
    assert "weights_only=False" not in line and "weights_only` set to `False" not in line and len(line) < 300


def test_largest_seed_runs_the_composite(tmp_path):
    """OpenCV's RNG seed is a C int; every seed the CLI and the web app accept (up to 2**32 - 1) must run."""
    import numpy as np

    from iva0.layout import make_layout

    img = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    lay = make_layout([("a", [(0, (0.1, 0.1, 0.4, 0.5)), (3, (0.5, 0.4, 0.8, 0.8))]),
                       ("b", [(0, (0.6, 0.1, 0.9, 0.4)), (3, (0.2, 0.5, 0.5, 0.9))])], num_frames=4)
    anim = animate(img, lay, "composite", seed=MAX_SEED)
    assert anim.frames.shape == (4, 48, 64, 3)


def test_fifo_as_mask_is_refused_not_read(tmp_path):
    os.mkfifo(tmp_path / "m.png")
    with pytest.raises(UserError, match="mask file is not a regular file"):
        parse_layout_json(json.dumps({"num_frames": 4, "objects": [
            {"name": "a", "mask": "m.png", "keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.5, 0.5]}]}]}), base_dir=tmp_path)


# ---------------------------------------------------------------- files a layout names, shorter than any header
@pytest.mark.parametrize("data", [b"", b"x", b"BM", b"\x89PN"])
@pytest.mark.parametrize("field", ["mask", "depth"])
def test_mask_or_depth_file_of_a_few_bytes_is_one_line(scene, capsys, data, field):
    """An empty or cut-off mask or depth map (a failed download, `touch m.png`): some of Pillow's format tests
    read 4 bytes and raised struct.error from the header check, a traceback."""
    layout = json.loads(_layout_text(scene))
    if field == "mask":
        layout["objects"][0]["mask"] = "f.png"
    else:
        layout["camera"] = {"keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.7, 0.7]}], "parallax": 1, "depth": "f.png"}
    (scene / "bad.json").write_text(json.dumps(layout))
    (scene / "f.png").write_bytes(data)
    refused(["animate", "photo.png", "-l", "bad.json", "-o", "out.mp4", "-q"], capsys, scene,
            f"cannot read {'mask' if field == 'mask' else 'depth map'} image")


# ---------------------------------------------------------------- JSON objects that name a key twice
@pytest.mark.parametrize(
    "text, key",
    [
        ('{"num_frames": 4, "num_frames": 8, "objects": []}', "num_frames"),
        ('{"num_frames": 4, "objects": [{"name": "a", "keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.4, 0.5]}],'
         ' "keyframes": [{"frame": 0, "box": [0.5, 0.1, 0.8, 0.5]}]}]}', "keyframes"),
        ('{"num_frames": 4, "objects": [{"name": "a", "keyframes": [{"frame": 0, "box": [0.1, 0.1, 0.4, 0.5],'
         ' "frame": 2}]}]}', "frame"),
    ],
)
def test_layout_with_a_key_given_twice_is_refused(scene, capsys, text, key):
    """json.loads keeps the last of two equal keys without a word: a hand-edited layout that says `keyframes`
    twice lost the first list of key boxes silently."""
    (scene / "bad.json").write_text(text)
    line = refused(["animate", "photo.png", "-l", "bad.json", "-o", "out.mp4", "-q"], capsys, scene,
                   f'"{key}" given twice')
    assert line.startswith("error: bad.json: ")


def test_benchmark_json_with_a_key_given_twice_is_refused(scene, capsys):
    bench = make_bench(scene / "b", n=1, frames=4)
    text = (bench / "benchmark.json").read_text()
    (bench / "benchmark.json").write_text(text.replace('{', '{"name": "x", ', 1))
    refused(["bench", "run", bench, "-m", "static", "-o", "run", "-q"], capsys, scene, '"name" given twice')
