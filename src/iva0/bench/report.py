"""`iva0 bench report`: compare evaluated runs in report.md and report.html.

The report holds a table (one row per run), matplotlib plots (vIoU per sample,
mean IoU over the video's time, distributions of the per-track metrics), strips
of frames for a few samples with every run side by side and the layout boxes
drawn, and the measured evaluation speed.
"""

from __future__ import annotations

import html
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from iva0.errors import UserError
from iva0.io.atomic import atomic_path, atomic_write_text
from iva0.io.json_input import read_json
from iva0.io.output_rule import check_output

# (key, header, format, higher is better?)
COLUMNS = [
    ("viou_at_0.5", "vIoU@0.5", "{:.3f}", True),
    ("mean_viou", "mean vIoU", "{:.3f}", True),
    ("centroid_error", "centroid err", "{:.3f}", False),
    ("object_ssim", "object SSIM", "{:.3f}", True),
    ("object_psnr", "object PSNR", "{:.2f}", True),
    ("background_psnr", "bg PSNR", "{:.2f}", True),
    ("background_ssim", "bg SSIM", "{:.3f}", True),
    ("afterimage", "afterimage", "{:.3f}", False),
    ("warp_error", "warp error", "{:.4f}", False),
]
# shown only when some run has them (they need local weights; left behind: runs evaluated since issue 11;
# afterimage (masks): benchmarks whose layouts give every object a mask; camera error: layouts with a camera)
OPTIONAL_COLUMNS = [
    ("left_behind", "left behind", "{:.3f}", False),
    ("afterimage_masked", "afterimage (masks)", "{:.3f}", False),
    ("camera_error", "camera err (px/frame)", "{:.2f}", False),
    ("fvd", "FVD", "{:.1f}", False),
    ("clip_text", "CLIP text", "{:.4f}", True),
    ("clip_image", "CLIP image", "{:.4f}", True),
]


@dataclass
class RunData:
    label: str
    path: Path
    run: dict
    metrics: dict


def load_runs(paths) -> list[RunData]:
    """Each run folder with its metrics (evaluated now if metrics.json is missing)."""
    from iva0.bench.evaluate import evaluate_path
    from iva0.bench.run import load_run

    loaded = [(p, load_run(p)) for p in map(Path, paths)]  # every folder checked before any evaluation
    if not loaded:
        raise UserError("give at least one run folder")
    names = {run.get("benchmark") for _, run in loaded}
    if len(names) > 1:
        raise UserError(f"these runs are on different benchmarks ({', '.join(sorted(map(str, names)))}); a report compares runs on one")
    runs = [RunData(label="", path=p, run=run, metrics=_read_metrics(p / "metrics.json")) for p, run in loaded]
    for r in runs:  # the unevaluated ones, once every existing metrics.json was read
        if r.metrics is None:
            r.metrics, _ = evaluate_path(r.path)
    _label(runs)
    return runs


def _read_metrics(path: Path) -> dict | None:
    if not path.is_file():
        return None
    metrics = read_json(path)
    if not isinstance(metrics, dict) or not isinstance(metrics.get("summary"), dict):
        raise UserError(f"{path}: not the metrics.json of `iva0 bench eval`; remove it to evaluate again")
    wrong = _metrics_fault(metrics)
    if wrong:
        raise UserError(f"{path}: not the metrics.json of `iva0 bench eval` ({wrong}); remove it to evaluate again")
    return metrics


def _is_number(v) -> bool:
    return v is None or isinstance(v, (int, float)) and not isinstance(v, bool)


def _metrics_fault(m: dict) -> str | None:
    """What in a metrics.json is not as `bench eval` writes it, in the fields the report reads (the tables format
    numbers, the plots average them); None when all is well. A hand-edited file ended in a traceback."""
    def got(v) -> str:
        return json.dumps(v)[:60]

    shown = [c[0] for c in COLUMNS + OPTIONAL_COLUMNS] + ["num_samples", "num_evaluated"]  # the table's figures
    for k in shown:
        if not _is_number(m["summary"].get(k)):
            return f"summary.{k} must be a number or null, got {got(m['summary'].get(k))}"
    for k in ("benchmark", "benchmark_path"):
        if k in m and not isinstance(m[k], str):
            return f"{k} must be a string, got {got(m[k])}"
    if "skipped" in m and not (isinstance(m["skipped"], dict) and all(isinstance(v, str) for v in m["skipped"].values())):
        return f"skipped must be an object of reasons, got {got(m['skipped'])}"
    if not isinstance(m.get("samples"), list):
        return f"samples must be a list, got {got(m.get('samples'))}"
    for i, s in enumerate(m["samples"]):
        where = f"samples[{i}]"
        if not isinstance(s, dict):
            return f"{where} must be an object, got {got(s)}"
        if not isinstance(s.get("id"), str):
            return f"{where}.id must be a string, got {got(s.get('id'))}"
        if "error" in s:  # a failed or missing video: nothing scored
            continue
        if not isinstance(s.get("objects"), list) or not all(isinstance(o, dict) for o in s["objects"]):
            return f"{where}.objects must be a list of objects, got {got(s.get('objects'))}"
        for k, v in [(f"{where}.{k}", v) for k, v in s.items() if k not in ("id", "video", "objects")] + [
                (f"{where}.objects[{j}].{k}", v) for j, o in enumerate(s["objects"]) for k, v in o.items() if k != "name"]:
            if not (_is_number(v) or isinstance(v, list) and all(map(_is_number, v))):  # figures, or lists of them
                return f"{k} must be a number, null or a list of numbers, got {got(v)}"
    return None


def _label(runs: list[RunData]) -> None:
    """method, plus the options that differ between runs of that method, plus the folder if still ambiguous."""
    for r in runs:
        opts = r.run.get("options") or {}
        extra = [f"{k}={v}" for k, v in sorted(opts.items()) if k not in ("model", "base", "gligen", "motion_adapter", "device", "dtype")]
        size = r.run.get("frames")
        r.label = r.run["method"] + (f" ({', '.join(extra)})" if extra else "") + (f" [{size} frames]" if size else "")
    seen: dict[str, int] = {}
    for r in runs:
        seen[r.label] = seen.get(r.label, 0) + 1
    for r in runs:
        if seen[r.label] > 1:
            r.label = f"{r.label} — {r.path.name}"


def _fmt(v, spec: str) -> str:
    return "n/a" if v is None else spec.format(v)


def fair_summaries(runs: list[RunData]) -> tuple[list[dict], str]:
    """Each run's summary, over the samples that every run has scored when their coverage differs
    (a run that failed or skipped samples is otherwise averaged over easier or harder ones)."""
    from iva0.bench.evaluate import summarise

    scored = [{s["id"] for s in r.metrics["samples"] if "error" not in s} for r in runs]
    common = set.intersection(*scored)
    if all(sc == common for sc in scored):
        return [r.metrics["summary"] for r in runs], ""
    out = [summarise([s for s in r.metrics["samples"] if s["id"] in common], clip="clip_text" in r.metrics["summary"]) for r in runs]
    note = (
        f"The runs scored different samples, so the table averages over the {len(common)} samples "
        "that every run scored; the 'videos' column gives each run's own coverage."
    )
    return out, note


def table_rows(runs: list[RunData]) -> tuple[list[str], list[list[str]]]:
    columns = COLUMNS + [c for c in OPTIONAL_COLUMNS if any(r.metrics["summary"].get(c[0]) is not None for r in runs)]
    headers = ["run", "videos"] + [h + (" ↑" if up else " ↓") for _, h, _, up in columns] + ["s / video"]
    summaries, _ = fair_summaries(runs)
    for s, r in zip(summaries, runs):  # set-level scores are not recomputed on a subset: keep the run's own
        for key, *_ in OPTIONAL_COLUMNS:
            s.setdefault(key, r.metrics["summary"].get(key))
    best = {}
    for key, _, _, up in columns:
        vals = [s.get(key) for s in summaries]
        vals = [v for v in vals if v is not None]
        if len(runs) > 1 and vals:
            best[key] = max(vals) if up else min(vals)
    rows = []
    for r, s in zip(runs, summaries):
        own = r.metrics["summary"]
        row = [r.label, f"{own['num_evaluated']}/{own['num_samples']}"]
        for key, _, spec, _ in columns:
            cell = _fmt(s.get(key), spec)
            if key in best and s.get(key) == best[key]:
                cell = f"**{cell}**"
            row.append(cell)
        ok = [x["seconds"] for x in r.run.get("samples", []) if x.get("status") == "ok" and x.get("seconds") is not None]
        row.append(f"{np.mean(ok):.2f}" if ok else "n/a")
        rows.append(row)
    return headers, rows


# ---------------------------------------------------------------- plots
def _plots(runs: list[RunData], out: Path) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    ids = [s["id"] for s in runs[0].metrics["samples"]]

    def per_sample(r: RunData) -> list[float]:
        return [np.nan if (v := sample_viou(r, i)) is None else v for i in ids]

    # vIoU per sample
    fig, ax = plt.subplots(figsize=(max(8, 0.45 * len(ids)), 4))
    width = 0.8 / len(runs)
    x = np.arange(len(ids))
    for k, r in enumerate(runs):
        ax.bar(x + (k - (len(runs) - 1) / 2) * width, per_sample(r), width, label=r.label)
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, ids, rotation=70, ha="right", fontsize=7)
    ax.set_ylabel("vIoU (mean over the sample's objects)")
    ax.set_ylim(0, 1)
    written.append(_finish(fig, ax, out, "viou_per_sample.png", "vIoU per sample (dashed: the 0.5 threshold of vIoU@0.5)"))

    # IoU over the video's time
    fig, ax = plt.subplots(figsize=(6, 4))
    grid = np.linspace(0, 1, 33)
    for r in runs:
        curves = []
        for s in r.metrics["samples"]:
            for o in s.get("objects") or []:
                ious = np.asarray(o.get("ious") or [], dtype=float)
                if len(ious) > 1:
                    curves.append(np.interp(grid, np.linspace(0, 1, len(ious)), ious))
        if curves:
            ax.plot(grid, np.mean(curves, axis=0), label=r.label)
    ax.set_xlabel("time in the video (0 = first frame, 1 = last)")
    ax.set_ylabel("mean IoU of the tracked object with its box")
    ax.set_ylim(0, 1.02)
    written.append(_finish(fig, ax, out, "iou_over_time.png", "IoU over time, mean over all object tracks"))

    # distributions
    keys = [("viou", "vIoU", "objects"), ("object_ssim", "object SSIM", "objects"), ("afterimage", "afterimage (low is good)", "samples"), ("background_psnr", "background PSNR (dB)", "samples")]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.6))
    for ax, (key, title, level) in zip(axes, keys):
        data = []
        for r in runs:
            ok = [s for s in r.metrics["samples"] if "error" not in s]
            vals = [o.get(key) for s in ok for o in s["objects"]] if level == "objects" else [s.get(key) for s in ok]
            data.append([v for v in vals if v is not None] or [np.nan])
        ax.boxplot(data, showmeans=True)
        ax.set_xticks(range(1, len(runs) + 1), [r.label for r in runs], rotation=20, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    _save(fig, out / "distributions.png")
    written.append(("Distributions per run (boxes: quartiles; triangles: means)", "distributions.png"))
    plt.close("all")
    return written


def _finish(fig, ax, out: Path, name: str, title: str) -> tuple[str, str]:
    ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, out / name)
    return title, name


def sample_viou(r: RunData, sample_id: str) -> float | None:
    """Mean vIoU over a sample's objects in one run (None without a scored video)."""
    s = next((x for x in r.metrics["samples"] if x["id"] == sample_id), {})
    objs = s.get("objects") or []
    return float(np.mean([o["viou"] for o in objs])) if objs else None


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")


# ---------------------------------------------------------------- strips
def pick_samples(runs: list[RunData], n: int) -> list[str]:
    """Samples where the runs differ most in vIoU (the informative ones), then the rest in order."""
    ids = [s["id"] for s in runs[0].metrics["samples"] if "error" not in s]
    if n <= 0 or not ids:
        return []

    def spread(i: str) -> float:
        vals = [v for r in runs if (v := sample_viou(r, i)) is not None]
        return (max(vals) - min(vals)) if len(vals) > 1 else 0.0

    return sorted(ids, key=lambda i: (-spread(i), ids.index(i)))[:n]


def strip(runs: list[RunData], sample_id: str, out: Path, height: int = 160, columns: int = 4) -> Path | None:
    """One row per run: frames at evenly spaced times with the layout boxes drawn; saved as JPEG."""
    import cv2
    from PIL import Image

    from iva0.bench.evaluate import find_video, prepare
    from iva0.bench.format import load_benchmark
    from iva0.io.image import read_image
    from iva0.layout_overlay import draw_layout
    from iva0.io.video import read_video

    bench = load_benchmark(runs[0].metrics.get("benchmark_path") or runs[0].run["benchmark_path"])
    sample = bench.get(sample_id)
    image = read_image(sample.image)
    rows = []
    for r in runs:
        video = find_video(r.path / "videos", sample_id)
        if video is None:
            continue
        frames, _ = read_video(video)
        frames, _, layout = prepare(frames, image, sample.layout, eval_side=max(image.shape[:2]))
        idx = np.round(np.linspace(0, len(frames) - 1, columns)).astype(int)
        drawn = draw_layout(frames[idx], _pick_frames(layout, idx))
        s = height / drawn.shape[1]
        tiles = [cv2.resize(fr, (round(fr.shape[1] * s), height), interpolation=cv2.INTER_AREA) for fr in drawn]
        row = np.concatenate(tiles, axis=1)  # (h, columns * w, 3)
        label = np.full((height, 150, 3), 255, np.uint8)
        for k, line in enumerate(_wrap(r.label, 18)[:6]):
            cv2.putText(label, line, (4, 18 + 16 * k), cv2.FONT_HERSHEY_SIMPLEX, 0.42, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([label, row], axis=1))
    if not rows:
        return None
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 4), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    path = out / f"strip_{sample_id}.jpg"
    with atomic_path(path) as tmp:
        Image.fromarray(np.concatenate(rows, axis=0)).save(tmp, format="JPEG", quality=85)
    return path


def _pick_frames(layout, idx):
    """The layout restricted to frames `idx` (so draw_layout puts frame idx[k]'s boxes on tile k)."""
    from iva0.layout import parse_layout

    boxes = layout.boxes()  # (J, F, 4)
    data = layout.to_dict()
    data["num_frames"] = len(idx)
    data["interpolation"] = "linear"
    for j, obj in enumerate(data["objects"]):
        obj["keyframes"] = [{"frame": k, "box": [float(v) for v in boxes[j, f]]} for k, f in enumerate(idx)]
        obj.pop("points", None)  # clicks belong to the picture's frame 0, which tile 0 need not show
    if layout.camera is not None:  # and each tile's own window
        windows = layout.camera.windows(layout.num_frames, layout.interpolation)  # (F, 4)
        data["camera"] = {"keyframes": [{"frame": k, "box": [float(v) for v in windows[f]]} for k, f in enumerate(idx)]}
    return parse_layout(data)


def _wrap(text: str, width: int) -> list[str]:
    words, lines, cur = text.split(), [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    return lines + ([cur] if cur else [])


# ---------------------------------------------------------------- documents
def make_report(run_paths, out: str | os.PathLike, strips: int = 4, measure_speed: bool = True) -> Path:
    out = check_output(out, "report", inputs=list(run_paths))
    runs = load_runs(run_paths)
    created = not out.exists()
    out.mkdir(exist_ok=True)  # only once every run folder was read: a refused report leaves nothing behind
    try:
        return _write_report(runs, out, strips, measure_speed)
    except BaseException:
        if created:  # a report that failed half-way (a full disk, Ctrl-C): no folder of half its plots
            shutil.rmtree(out, ignore_errors=True)
        raise


def _write_report(runs: list[RunData], out: Path, strips: int, measure_speed: bool) -> Path:
    plots = _plots(runs, out)
    strip_files = [(i, p) for i in pick_samples(runs, strips) if (p := strip(runs, i, out)) is not None]
    speed = None
    if measure_speed:
        from iva0.bench.speed import measure_eval_speed

        speed = measure_eval_speed(num_objects=(1, 2, 4), repeats=2)
    headers, rows = table_rows(runs)
    data = {
        "runs": [{"label": r.label, "path": str(r.path), "summary": r.metrics["summary"], "skipped": r.metrics.get("skipped", {})} for r in runs],
        "speed": speed,
    }
    atomic_write_text(out / "report.json", json.dumps(data, indent=1) + "\n")
    md = _markdown(runs, headers, rows, plots, strip_files, speed)
    atomic_write_text(out / "report.md", md)
    atomic_write_text(out / "report.html", _html(runs, headers, rows, plots, strip_files, speed))
    return out / "report.md"


def _skipped(runs: list[RunData]) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in runs:
        out.update(r.metrics.get("skipped", {}))
    return out


def _speed_lines(speed) -> list[str]:
    if not speed:
        return ["Evaluation speed was not measured (--no-speed)."]
    lines = [
        f"Evaluating one {speed['frames']}-frame {speed['size'][0]}x{speed['size'][1]} video (decoding excluded) on this "
        f"machine's CPU ({speed.get('cpu_count')} cores, OpenCV threads {speed.get('opencv_threads')}, 1-min load average "
        f"{speed.get('load_average_1min')} while measuring), goal <= {speed['goal_seconds_per_object']} s per object:"
    ]
    for row in speed["rows"]:
        lines.append(
            f"- {row['objects']} object(s): {row['seconds']:.3f} s wall per video, {row['seconds_per_object']:.3f} s wall "
            f"per object ({row['cpu_seconds_per_object']:.3f} s CPU time per object)"
        )
    return lines


def _markdown(runs, headers, rows, plots, strip_files, speed) -> str:
    L = [f"# Benchmark report: {runs[0].metrics.get('benchmark', '')}", ""]
    L.append("Runs: " + "; ".join(f"`{r.path}` ({r.label})" for r in runs))
    L += ["", "## Summary", "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    L += ["| " + " | ".join(row) + " |" for row in rows]
    L += [
        "",
        "↑ higher is better, ↓ lower is better; bold marks the best run. vIoU@0.5 is the share of object tracks "
        "whose vIoU exceeds 0.5; object metrics average over tracks, the others over videos. "
        "Definitions: docs/benchmark.md.",
        "",
        fair_summaries(runs)[1],
        "",
        "Not computed: " + "; ".join(f"{k}: {v}" for k, v in _skipped(runs).items()) if _skipped(runs) else "",
        "",
        "## Plots",
        "",
    ]
    for title, f in plots:
        L += [f"**{title}**", "", f"![{title}]({f})", ""]
    if strip_files:
        L += ["## Samples side by side", "", "Frames at evenly spaced times; the layout's boxes and paths are drawn.", ""]
        for i, p in strip_files:
            L += [f"**{i}**", "", f"![{i}]({p.name})", ""]
    L += ["## Evaluation speed", ""] + _speed_lines(speed) + [""]
    return "\n".join(L)


def _html(runs, headers, rows, plots, strip_files, speed) -> str:
    e = html.escape

    def cell(c: str) -> str:
        return f"<b>{e(c[2:-2])}</b>" if c.startswith("**") else e(c)

    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>iva0 benchmark report</title>",
        "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}img{max-width:100%}</style></head><body>",
        f"<h1>Benchmark report: {e(str(runs[0].metrics.get('benchmark', '')))}</h1>",
        "<h2>Summary</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>",
    ]
    parts += ["<tr>" + "".join(f"<td>{cell(c)}</td>" for c in row) + "</tr>" for row in rows]
    parts.append("</table><p>↑ higher is better, ↓ lower is better; bold marks the best run. "
                 "vIoU@0.5 is the share of object tracks whose vIoU exceeds 0.5.</p>")
    note = fair_summaries(runs)[1]
    if note:
        parts.append(f"<p><b>{e(note)}</b></p>")
    sk = _skipped(runs)
    if sk:
        parts.append("<p>Not computed:</p><ul>" + "".join(f"<li>{e(k)}: {e(v)}</li>" for k, v in sk.items()) + "</ul>")
    parts.append("<h2>Plots</h2>")
    for title, f in plots:
        parts.append(f"<h3>{e(title)}</h3><img src='{e(f)}' alt='{e(title)}'>")
    if strip_files:
        parts.append("<h2>Samples side by side</h2>")
        for i, p in strip_files:
            parts.append(f"<h3>{e(i)}</h3><img src='{e(p.name)}' alt='{e(i)}'>")
    sl = _speed_lines(speed)
    parts.append("<h2>Evaluation speed</h2><p>" + e(sl[0]) + "</p><ul>" + "".join(f"<li>{e(x[2:])}</li>" for x in sl[1:]) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
