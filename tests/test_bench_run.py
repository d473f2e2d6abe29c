"""Benchmark format, `bench run` (resume, failures, sharding, kill -9) and `bench eval` on an outside benchmark."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from iva0.bench import BenchmarkError, load_benchmark
from iva0.bench.evaluate import EvalOptions, evaluate_path
from iva0.bench.run import RunConfig, load_run, run_benchmark, shard
from iva0.cli import main
from iva0.errors import UserError
from iva0.io.video import read_video, write_video
from iva0.metrics.synthetic import texture

PY = sys.executable


def _image(path: Path, size=(96, 80), seed=0, patch=(10, 20, 40, 50)) -> None:
    """A textured background with a bright textured square: an object GrabCut can cut out."""
    w, h = size
    im = texture(h, w, seed=seed, blur=2.0) // 3  # dark background
    x0, y0, x1, y1 = patch
    im[y0:y1, x0:x1] = 150 + texture(y1 - y0, x1 - x0, seed=seed + 7, blur=1.0) // 3
    Image.fromarray(im).save(path)


def _layout(box0, box1, frames=6) -> dict:
    return {"num_frames": frames, "fps": 6, "objects": [{"name": "square", "keyframes": [{"frame": 0, "box": box0}, {"frame": frames - 1, "box": box1}]}]}


def make_bench(root: Path, n: int = 4, frames: int = 6, size=(96, 80)) -> Path:
    """An outside benchmark in the documented format (not the starter)."""
    (root / "img").mkdir(parents=True)
    (root / "lay").mkdir()
    w, h = size
    samples = []
    for i in range(n):
        patch = (10, 20, 40, 50)
        _image(root / "img" / f"p{i}.png", size, seed=i, patch=patch)
        box0 = [patch[0] / w, patch[1] / h, patch[2] / w, patch[3] / h]
        box1 = [box0[0] + 0.5, box0[1], box0[2] + 0.5, box0[3]]  # a long move to the right
        (root / "lay" / f"s{i}.json").write_text(json.dumps(_layout(box0, box1, frames)))
        samples.append({"id": f"s{i}", "image": f"img/p{i}.png", "layout": f"lay/s{i}.json", "caption": "a square slides right"})
    (root / "benchmark.json").write_text(json.dumps({"name": "outside", "samples": samples}))
    return root


# ---------------------------------------------------------------- format
def test_load_outside_benchmark(tmp_path):
    b = load_benchmark(make_bench(tmp_path / "b", n=2))
    assert b.name == "outside" and b.ids == ["s0", "s1"]
    assert b.samples[0].layout.num_frames == 6 and b.samples[0].image.is_file()
    assert load_benchmark(tmp_path / "b" / "benchmark.json").ids == b.ids


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d, r: d["samples"].append(dict(d["samples"][0])), "sample 's0': duplicate id"),
        (lambda d, r: d["samples"][1].update(image="img/missing.png"), "sample 's1'.image: file not found"),
        (lambda d, r: d["samples"][0].update(layout="../x.json"), "must be a path inside the benchmark folder"),
        (lambda d, r: d["samples"][0].update(id="a/b"), "samples[0].id"),
        (lambda d, r: d["samples"][0].update(extra=1), "unknown field"),
        (lambda d, r: (r / "lay" / "s1.json").write_text('{"objects": []}'), "sample 's1': bad layout lay/s1.json: objects: empty"),
        (lambda d, r: d.update(samples=[]), "'samples' must be a non-empty list"),
    ],
)
def test_benchmark_errors(tmp_path, mutate, message):
    root = make_bench(tmp_path / "b", n=2)
    data = json.loads((root / "benchmark.json").read_text())
    mutate(data, root)
    (root / "benchmark.json").write_text(json.dumps(data))
    with pytest.raises(BenchmarkError, match=None) as e:
        load_benchmark(root)
    assert message in str(e.value)


def test_missing_benchmark_is_a_user_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["bench", "run", str(tmp_path / "nope"), "-m", "static", "-o", str(tmp_path / "r"), "-q"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: benchmark file not found") and "\n" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "depth, message",
    [
        ("text", "cannot read"),  # a text file named .png
        ("wide", "aspect ratio"),  # a depth map drawn for another picture's shape
    ],
)
def test_bench_run_checks_the_cameras_depth_maps_before_any_compute(tmp_path, capsys, depth, message):
    """A sample whose camera's parallax names a bad depth map stops `bench run` before a model loads or a
    file is written: one line naming the sample, exit 2 (the static method, which reads no depth, runs)."""
    root = make_bench(tmp_path / "b", n=2)
    lay = json.loads((root / "lay" / "s1.json").read_text())
    lay["camera"] = {"keyframes": [{"frame": 0, "box": [0.0, 0.0, 1.0, 1.0]}, {"frame": 5, "box": [0.1, 0.1, 0.6, 0.6]}],
                     "parallax": 1.0, "depth": "d1.png"}
    (root / "lay" / "s1.json").write_text(json.dumps(lay))
    if depth == "text":
        (root / "lay" / "d1.png").write_text("not a picture")
    else:
        Image.fromarray(np.zeros((20, 90), np.uint8)).save(root / "lay" / "d1.png")  # 4.5:1 for a 96x80 picture
    with pytest.raises(SystemExit) as e:
        main(["bench", "run", str(root), "-m", "composite", "-o", str(tmp_path / "r"), "-q"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: sample 's1': camera.depth") and message in err and "\n" not in err, err
    assert not (tmp_path / "r").exists()
    assert main(["bench", "run", str(root), "-m", "static", "-o", str(tmp_path / "s"), "-q"]) in (0, None)


def test_shard_is_a_partition():
    items = list(range(11))
    parts = [shard(items, r, 3) for r in range(3)]
    assert sorted(sum(parts, [])) == items
    assert not set(parts[0]) & set(parts[1])


# ---------------------------------------------------------------- run
def test_run_static_resume_and_failure(tmp_path):
    root = make_bench(tmp_path / "b", n=3)
    (root / "img" / "p2.png").write_bytes(b"not a png")  # this sample fails; the run goes on
    b = load_benchmark(root)
    run = tmp_path / "run"
    res = run_benchmark(b, RunConfig(method="static"), run)
    assert res["ran"] == 2 and res["failed"] == 1
    recs = {r["id"]: r for r in load_run(run)["samples"]}
    assert recs["s2"]["status"] == "error" and "ImageError" in recs["s2"]["error"]
    assert recs["s0"]["status"] == "ok" and recs["s0"]["frames"] == 6
    frames, _ = read_video(run / "videos" / "s0.mp4")
    assert frames.shape[0] == 6 and np.abs(frames.astype(int) - frames[:1].astype(int)).max() <= 8  # static
    summary = json.loads((run / "run.json").read_text())
    assert summary["method"] == "static" and summary["num_ok"] == 2 and summary["num_failed"] == 1
    assert "numpy" in summary["versions"]
    # resume: finished samples are skipped, the failed one is retried (and now works)
    _image(root / "img" / "p2.png", seed=2)
    res = run_benchmark(b, RunConfig(method="static"), run)
    assert res["skipped"] == 2 and res["ran"] == 1 and res["failed"] == 0
    # another configuration in the same folder is refused
    with pytest.raises(UserError, match="another configuration"):
        run_benchmark(b, RunConfig(method="composite"), run)


def test_two_processes_shard_without_overlap(tmp_path):
    root = make_bench(tmp_path / "b", n=5)
    run = tmp_path / "run"
    procs = []
    for rank in range(2):
        env = dict(os.environ, RANK=str(rank), WORLD_SIZE="2", LOCAL_RANK=str(rank))
        procs.append(subprocess.Popen([PY, "-m", "iva0", "bench", "run", str(root), "-m", "static", "-o", str(run), "-q"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    recs = load_run(run)["samples"]
    by_rank = {r: {x["id"] for x in recs if x["rank"] == r} for r in (0, 1)}
    assert by_rank[0] == {"s0", "s2", "s4"} and by_rank[1] == {"s1", "s3"}
    assert sorted(p.name for p in (run / "videos").iterdir()) == [f"s{i}.mp4" for i in range(5)]
    assert json.loads((run / "run.json").read_text())["num_ok"] == 5


def test_kill9_then_resume_leaves_complete_videos_only(tmp_path):
    # big enough that each composite sample takes a noticeable time
    root = make_bench(tmp_path / "b", n=6, frames=24, size=(320, 256))
    run = tmp_path / "run"
    cmd = [PY, "-m", "iva0", "bench", "run", str(root), "-m", "composite", "-o", str(run), "-q"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    videos = run / "videos"
    deadline = time.time() + 90
    while time.time() < deadline and p.poll() is None:
        if videos.is_dir() and any(f.suffix == ".mp4" and not f.name.startswith(".") for f in videos.iterdir()):
            break
        time.sleep(0.05)
    assert p.poll() is None, "the run ended before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    done_before = {f.name for f in videos.iterdir() if not f.name.startswith(".")}
    assert 1 <= len(done_before) < 6
    for name in done_before:  # whatever has its final name is complete
        assert read_video(videos / name)[0].shape[0] == 24
    # a temporary file of a killed write, as kill -9 mid-encode leaves it
    (videos / ".s5.k1ll3d.partial.mp4").write_bytes(b"\x00" * 100)
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    names = sorted(f.name for f in videos.iterdir())
    assert names == [f"s{i}.mp4" for i in range(6)]  # no stray files
    assert not [f for f in (run / "records").iterdir() if f.name.startswith(".")]
    for name in names:
        assert read_video(videos / name)[0].shape == (24, 256, 320, 3)
    assert f"{len(done_before)} already done" in r.stderr


# ---------------------------------------------------------------- eval
def test_eval_run_and_outside_videos(tmp_path):
    root = make_bench(tmp_path / "b", n=2)
    b = load_benchmark(root)
    for method in ("static", "composite"):
        run_benchmark(b, RunConfig(method=method), tmp_path / method)
    opts = EvalOptions()
    static, _ = evaluate_path(tmp_path / "static", opts=opts)
    comp, out = evaluate_path(tmp_path / "composite", opts=opts)
    assert out == tmp_path / "composite" / "metrics.json" and out.is_file()
    m = json.loads(out.read_text())
    assert set(m["summary"]) >= {"viou_at_0.5", "mean_viou", "object_ssim", "background_psnr", "afterimage", "warp_error"}
    obj = m["samples"][0]["objects"][0]
    assert set(obj) >= {"name", "viou", "object_ssim", "centroid_error"} and obj["name"] == "square"
    assert "background_psnr" in m["samples"][0]
    assert "fvd" in m["skipped"] and "clip_text" in m["skipped"]
    assert comp["summary"]["viou_at_0.5"] == 1.0 and static["summary"]["viou_at_0.5"] == 0.0
    # object SSIM scores the objects' looks where they are (docs/benchmark.md, Calibration): both videos keep
    # them; that the still one does not move them is vIoU's to say (above)
    assert comp["summary"]["object_ssim"] > 0.8 and static["summary"]["object_ssim"] > 0.8
    assert static["summary"]["afterimage"] > 0.9 and comp["summary"]["afterimage"] < 0.5

    # an external method's videos: another size, fps and container, one missing
    ext = tmp_path / "external"
    ext.mkdir()
    frames, _ = read_video(tmp_path / "composite" / "videos" / "s0.mp4")
    big = np.repeat(np.repeat(frames, 2, axis=1), 2, axis=2)  # (F, 2H, 2W, 3)
    write_video(big, ext / "s0.mp4", fps=24)
    rc = main(["bench", "eval", str(ext), "--bench", str(root), "-q"])
    assert rc == 0
    e = json.loads((ext / "metrics.json").read_text())
    assert e["summary"]["num_evaluated"] == 1 and e["summary"]["num_missing"] == 1
    assert e["samples"][1] == {"id": "s1", "error": "no video"}
    assert e["samples"][0]["objects"][0]["viou"] == pytest.approx(comp["samples"][0]["objects"][0]["viou"], abs=0.1)
    # a longer video (every frame twice, as a folder of PNG frames): the layout is retimed to its 12 frames
    frames1, _ = read_video(tmp_path / "composite" / "videos" / "s1.mp4")
    write_video(np.repeat(frames1, 2, axis=0), ext / "s1", fps=12)
    assert main(["bench", "eval", str(ext), "--bench", str(root), "-o", str(tmp_path / "m2.json"), "-q"]) == 0
    e2 = json.loads((tmp_path / "m2.json").read_text())
    s1 = e2["samples"][1]
    assert s1["video"] == "s1" and s1["frames"] == 12 and len(s1["objects"][0]["ious"]) == 12
    assert s1["objects"][0]["viou"] > 0.6  # still follows its (retimed) boxes


def test_eval_needs_bench_for_plain_folder(tmp_path, capsys):
    (tmp_path / "v").mkdir()
    with pytest.raises(SystemExit):
        main(["bench", "eval", str(tmp_path / "v"), "-q"])
    assert "give the benchmark with --bench" in capsys.readouterr().err


def test_accelerate_launch_shards(tmp_path):
    """The documented multi-GPU command, on CPU: two processes, each its own samples."""
    import socket

    accelerate = Path(PY).with_name("accelerate")
    if not accelerate.exists():
        pytest.skip("accelerate's launcher is not installed")
    with socket.socket() as s:  # a free port, so parallel test runs do not collide
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = make_bench(tmp_path / "b", n=4)
    run = tmp_path / "run"
    cmd = [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
           "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(port),
           "-m", "iva0", "bench", "run", str(root), "-m", "static", "-o", str(run), "-q"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr[-2000:]
    recs = load_run(run)["samples"]
    assert {x["id"]: x["rank"] for x in recs} == {"s0": 0, "s1": 1, "s2": 0, "s3": 1}
    assert "(shard 0/2)" in r.stderr and "(shard 1/2)" in r.stderr


def test_processes_of_one_run_may_use_different_devices(tmp_path):
    b = load_benchmark(make_bench(tmp_path / "b", n=2))
    run = tmp_path / "run"
    run_benchmark(b, RunConfig(method="static", options={"device": "cuda:0"}), run, rank=0, world_size=2)
    res = run_benchmark(b, RunConfig(method="static", options={"device": "cuda:1"}), run, rank=1, world_size=2)
    assert res["ran"] == 1 and load_run(run)["num_ok"] == 2
    with pytest.raises(UserError, match="options"):
        run_benchmark(b, RunConfig(method="static", options={"device": "cuda:1", "steps": 3}), run)


def test_eval_counts_unreadable_videos_as_failed_not_missing(tmp_path, capsys):
    root = make_bench(tmp_path / "b", n=3)
    run = tmp_path / "r"
    run_benchmark(load_benchmark(root), RunConfig(method="static"), run)
    (run / "videos" / "s0.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(500))  # corrupt
    (run / "videos" / "s1.mp4").write_bytes((root / "img" / "p1.png").read_bytes())  # a picture named .mp4
    Image.open(root / "img" / "p1.png").convert("RGB").save(run / "videos" / "s1.mp4", format="JPEG")
    assert main(["bench", "eval", str(run), "-q"]) == 0
    err = capsys.readouterr().err
    m = json.loads((run / "metrics.json").read_text())
    s = {r["id"]: r for r in m["samples"]}
    assert s["s0"]["error"].startswith("unreadable video") and s["s1"]["error"].startswith("unreadable video")
    assert "num_frames" not in s["s1"]["error"]
    assert m["summary"]["num_failed"] == 2 and m["summary"]["num_missing"] == 0 and m["summary"]["num_evaluated"] == 1
    assert "2 failed" in err and "missing" not in err


def test_eval_scores_the_masked_afterimage_when_layouts_give_masks(tmp_path):
    """Layouts with a "mask" per object: bench eval adds the afterimage on the masks' pixels (and left behind uses
    the mask), and the report shows it; layouts without masks leave it out (None, no column)."""
    from iva0.bench.report import make_report

    root = make_bench(tmp_path / "b", n=2)
    for i in range(2):
        m = np.zeros((80, 96), np.uint8)
        m[20:50, 10:40] = 255  # the bright square of _image: the object's true mask
        Image.fromarray(m).save(root / "lay" / f"m{i}.png")
        lay = json.loads((root / "lay" / f"s{i}.json").read_text())
        lay["objects"][0]["mask"] = f"m{i}.png"
        (root / "lay" / f"s{i}.json").write_text(json.dumps(lay))
    b = load_benchmark(root)
    for method in ("static", "composite"):
        run_benchmark(b, RunConfig(method=method), tmp_path / method)
    static, _ = evaluate_path(tmp_path / "static")
    comp, _ = evaluate_path(tmp_path / "composite")
    assert static["summary"]["afterimage_masked"] > 0.9  # the object never left (H.264 blurs it a little)
    assert comp["summary"]["afterimage_masked"] < 0.2
    assert static["summary"]["left_behind"] > 0.9 and comp["summary"]["left_behind"] < 0.1
    make_report([tmp_path / "static", tmp_path / "composite"], tmp_path / "rep", strips=0, measure_speed=False)
    assert "afterimage (masks)" in (tmp_path / "rep" / "report.md").read_text()

    plain = make_bench(tmp_path / "p", n=1)
    run_benchmark(load_benchmark(plain), RunConfig(method="composite"), tmp_path / "pc")
    m, _ = evaluate_path(tmp_path / "pc")
    assert m["summary"]["afterimage_masked"] is None and m["samples"][0]["afterimage_masked"] is None
