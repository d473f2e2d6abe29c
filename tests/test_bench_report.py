"""retime_layout, `bench report` and the whole CLI path on an outside benchmark."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from iva0.bench import retime_layout
from iva0.bench.report import pick_samples, table_rows, load_runs
from iva0.cli import main
from iva0.layout import make_layout

sys.path.insert(0, str(Path(__file__).parent))
from test_bench_run import make_bench  # noqa: E402


def test_retime_keeps_the_motion():
    lay = make_layout([("a", [(0, [0, 0, 0.2, 0.2]), (8, [0.4, 0, 0.6, 0.2]), (15, [0.8, 0, 1.0, 0.2])])], num_frames=16)
    short = retime_layout(lay, 6)
    assert short.num_frames == 6
    assert [k.frame for k in short.objects[0].keyframes] == [0, 3, 5]  # 8*5/15 = 2.67 -> 3
    np.testing.assert_allclose(short.boxes()[0, 0], [0, 0, 0.2, 0.2])
    np.testing.assert_allclose(short.boxes()[0, -1], [0.8, 0, 1.0, 0.2])
    assert retime_layout(lay, 16) is lay
    # keys that collide keep frame 0 and the later key
    tiny = retime_layout(lay, 2)
    assert [k.frame for k in tiny.objects[0].keyframes] == [0, 1]
    np.testing.assert_allclose(tiny.boxes()[0, 1], [0.8, 0, 1.0, 0.2])


def test_cli_run_eval_report_on_outside_benchmark(tmp_path, capsys):
    root = make_bench(tmp_path / "b", n=3)
    for m in ("static", "composite"):
        assert main(["bench", "run", str(root), "-m", m, "-o", str(tmp_path / m), "-q", "--frames", "8"]) == 0
        assert main(["bench", "eval", str(tmp_path / m), "-q"]) == 0
    capsys.readouterr()
    out = tmp_path / "report"
    assert main(["bench", "report", str(tmp_path / "composite"), str(tmp_path / "static"), "-o", str(out), "--strips", "2", "--no-speed"]) == 0
    assert capsys.readouterr().out.strip().endswith("report.md")
    md = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for f in ("viou_per_sample.png", "iou_over_time.png", "distributions.png"):
        assert (out / f).stat().st_size > 5000 and f in md and f in html
    strips = sorted(out.glob("strip_*.jpg"))
    assert len(strips) == 2 and all(s.name in md for s in strips)
    # the table: composite row first, bold where it wins vIoU@0.5
    rows = [line for line in md.splitlines() if line.startswith("| composite") or line.startswith("| static")]
    assert rows[0].startswith("| composite [8 frames] | 3/3 | **1.000**")
    assert "| static [8 frames] | 3/3 | 0.000" in rows[1]
    assert "fvd" in md and "<table>" in html
    data = json.loads((out / "report.json").read_text())
    assert [r["label"] for r in data["runs"]] == ["composite [8 frames]", "static [8 frames]"]
    # frames were retimed to 8 in the run and the evaluation follows the video
    m = json.loads((tmp_path / "composite" / "metrics.json").read_text())
    assert m["samples"][0]["frames"] == 8 and len(m["samples"][0]["objects"][0]["ious"]) == 8


def test_report_evaluates_unevaluated_runs_and_labels(tmp_path):
    root = make_bench(tmp_path / "b", n=2)
    for name in ("r1", "r2"):
        assert main(["bench", "run", str(root), "-m", "static", "-o", str(tmp_path / name), "-q"]) == 0
    runs = load_runs([tmp_path / "r1", tmp_path / "r2"])  # no metrics.json yet: evaluated on the way
    assert (tmp_path / "r1" / "metrics.json").is_file()
    assert [r.label for r in runs] == ["static — r1", "static — r2"]  # same method: the folder tells them apart
    headers, rows = table_rows(runs)
    assert headers[2] == "vIoU@0.5 ↑" and len(rows) == 2
    assert pick_samples(runs, 1) == ["s0"]


def test_report_of_nothing_is_a_user_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["bench", "report", str(tmp_path / "nope"), "-o", str(tmp_path / "r")])
    assert "not a benchmark run" in capsys.readouterr().err


def test_report_compares_runs_on_their_common_samples(tmp_path):
    root = make_bench(tmp_path / "b", n=3)
    assert main(["bench", "run", str(root), "-m", "composite", "-o", str(tmp_path / "part"), "-q", "--shard", "0/3"]) == 0
    assert main(["bench", "run", str(root), "-m", "static", "-o", str(tmp_path / "full"), "-q"]) == 0
    runs = load_runs([tmp_path / "part", tmp_path / "full"])
    headers, rows = table_rows(runs)
    assert rows[0][1] == "1/3" and rows[1][1] == "3/3"
    # static's vIoU@0.5 over the one common sample, not over all three
    full = json.loads((tmp_path / "full" / "metrics.json").read_text())
    s0 = next(s for s in full["samples"] if s["id"] == "s0")
    assert rows[1][2] == f"{float(s0['objects'][0]['viou'] > 0.5):.3f}"
    assert main(["bench", "report", str(tmp_path / "part"), str(tmp_path / "full"), "-o", str(tmp_path / "r"), "--no-speed", "--strips", "0"]) == 0
    assert "averages over the 1 samples that every run scored" in (tmp_path / "r" / "report.md").read_text()
    # runs on different benchmarks are refused
    other = make_bench(tmp_path / "b2", n=1)
    data = json.loads((other / "benchmark.json").read_text())
    data["name"] = "other"
    (other / "benchmark.json").write_text(json.dumps(data))
    assert main(["bench", "run", str(other), "-m", "static", "-o", str(tmp_path / "o"), "-q"]) == 0
    with pytest.raises(SystemExit):
        main(["bench", "report", str(tmp_path / "o"), str(tmp_path / "full"), "-o", str(tmp_path / "r2"), "--no-speed"])
