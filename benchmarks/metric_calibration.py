"""Calibrate `bench eval`'s metrics on synthetic videos with known true boxes.

    python benchmarks/metric_calibration.py [--backgrounds coffee,chelsea] [--markdown]
    python benchmarks/metric_calibration.py --wide


Per case (iva0.metrics.calibration: an object moved whole, part of it left
behind, drifting off its path, blurred, standing still) and background photo,
prints the truth (the metric's definition computed with the true boxes and
masks) next to what `bench eval` measures (iva0.bench.evaluate.evaluate_frames;
left_behind_mask: when the layout gives the object's mask), and the largest
difference per metric. viou_extent: the IoU of the box of only the part that
moved, for comparison (vIoU scores where the object's body took its box). docs/benchmark.md, "Calibration".
"""

from __future__ import annotations

import argparse

import numpy as np

METRICS = ("viou", "object_ssim", "left_behind", "left_behind_mask")


PHOTOS = ("coffee", "chelsea", "rocket", "astronaut")


def rows(backgrounds, skins, seed: int = 0):
    from iva0.bench.evaluate import EvalOptions, evaluate_frames
    from iva0.metrics.calibration import CASES, case_layout, make_case, truth
    from iva0.metrics.scene import left_behind

    for bg, skin in zip(backgrounds, skins):
        for name in CASES:
            case = make_case(name, background=bg, skin=skin, seed=seed)
            got = evaluate_frames(case.frames, case.image, case_layout(case), EvalOptions(workers=1))["objects"][0]
            # what bench eval gives when the layout has the object's "mask": the same function, the true mask
            got["left_behind_mask"] = left_behind(case.frames, case.image, case.requested[0], case.requested[:, None],
                                                  object_mask=case.object_mask.astype(np.float32))
            yield bg, name, truth(case), got


def fmt(v) -> str:
    return "-" if v is None else f"{v:.3f}"


def wide() -> None:
    """Every ordered pair of PHOTOS as background and skin, two object shapes (seeds) each: the errors'
    summary per metric and the worst videos (the table's four pairs are a quarter of these)."""
    errs = {m: [] for m in METRICS}
    pairs = [(b, s) for b in PHOTOS for s in PHOTOS if b != s]
    for seed in (0, 1):
        for bg, name, tru, got in rows([b for b, _ in pairs], [s for _, s in pairs], seed=seed):
            tru["left_behind_mask"] = tru["left_behind"]
            for m in METRICS:
                if tru[m] is not None and got[m] is not None:
                    errs[m].append((abs(got[m] - tru[m]), f"{bg}/{name}/seed {seed}: {got[m]:.3f} for {tru[m]:.3f}"))
    print(f"{len(pairs) * 2 * 5} videos: {len(pairs)} background/skin pairs x 2 shapes x 5 cases")
    for m in METRICS:
        e = np.array([v for v, _ in errs[m]])
        worst = sorted(errs[m], reverse=True)[:3]
        print(f"{m}: largest {e.max():.3f}, mean {e.mean():.4f}, {int((e > 0.02).sum())} of {e.size} over 0.02; "
              + "; ".join(w for _, w in worst))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backgrounds", default="coffee,chelsea,rocket", help="scikit-image photos behind the object")
    ap.add_argument("--skins", default="astronaut,coffee,chelsea", help="photos the objects are cut from")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--wide", action="store_true", help="every pair of the photos, two shapes each: a summary")
    args = ap.parse_args()
    if args.wide:
        return wide()
    bgs, skins = args.backgrounds.split(","), args.skins.split(",")
    head = ["background", "case"] + [f"{m} {k}" for m in METRICS for k in ("truth", "measured")] + ["viou_extent truth"]
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
    else:
        print("  ".join(f"{h:>14}" for h in head))
    worst = {m: 0.0 for m in METRICS}
    for bg, name, tru, got in rows(bgs, skins):
        tru["left_behind_mask"] = tru["left_behind"]
        cells = [bg, name]
        for m in METRICS:
            cells += [fmt(tru[m]), fmt(got[m])]
            if tru[m] is not None and got[m] is not None:
                worst[m] = max(worst[m], abs(tru[m] - got[m]))
            elif (tru[m] is None) != (got[m] is None):
                worst[m] = float("inf")
        cells.append(fmt(tru["viou_extent"]))
        print(("| " + " | ".join(cells) + " |") if args.markdown else "  ".join(f"{c:>14}" for c in cells))
    print("largest |measured - truth|: " + ", ".join(f"{m} {worst[m]:.3f}" for m in METRICS))


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
