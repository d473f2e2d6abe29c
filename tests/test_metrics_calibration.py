"""`bench eval`'s object metrics agree with the truth on synthetic videos whose true boxes are known.

The cases (iva0.metrics.calibration): an object moved whole along its path,
with a part left behind, drifting off its path, blurred, and standing still,
on scikit-image photos. benchmarks/metric_calibration.py prints the table.
"""

import numpy as np
import pytest

from iva0.bench.evaluate import EvalOptions, evaluate_frames
from iva0.metrics.calibration import CASES, LEFT_SHARE, case_layout, make_case, truth
from iva0.metrics.scene import left_behind

TOL = 0.02  # vIoU and object SSIM
# left behind, with the object's pixels estimated from the input (colour seed grown by GrabCut) and with the
# layout's mask: 0.017 and 0.018 at worst on the four photos (0.05 and 0.028 before; docs/benchmark.md)
TOL_LEFT = TOL_LEFT_MASK = 0.02
BACKGROUNDS = [("coffee", "astronaut"), ("chelsea", "coffee")]
# left behind needs no tracker: checked on every photo pair of the calibration table
LEFT_PAIRS = [("coffee", "astronaut"), ("chelsea", "coffee"), ("rocket", "chelsea"), ("astronaut", "rocket")]


@pytest.fixture(scope="module", params=BACKGROUNDS, ids=[b for b, _ in BACKGROUNDS])
def measured(request):
    bg, skin = request.param
    out = {}
    for name in CASES:
        case = make_case(name, background=bg, skin=skin)
        got = evaluate_frames(case.frames, case.image, case_layout(case), EvalOptions(workers=1))["objects"][0]
        got["left_behind_mask"] = left_behind(case.frames, case.image, case.requested[0], case.requested[:, None],
                                              object_mask=case.object_mask.astype(np.float32))
        out[name] = (truth(case), got)
    return out


def test_the_truth_itself():
    whole, left, still = (truth(make_case(n)) for n in ("whole", "left_behind", "still"))
    assert whole["viou"] == pytest.approx(1.0) and whole["left_behind"] == 0.0
    assert left["viou"] == pytest.approx(1.0)  # the body went where it was asked to
    assert 0.2 < left["left_behind"] < 0.6 and left["object_ssim"] < whole["object_ssim"]
    assert still["left_behind"] == 1.0 and still["object_ssim"] == pytest.approx(1.0) and still["viou"] < 0.3
    drift = make_case("drift")
    assert np.abs(drift.carried - drift.requested).max() > 0.5 * (drift.requested[0, 3] - drift.requested[0, 1])
    c = make_case("left_behind")
    assert c.left_mask.sum() / c.object_mask.sum() == pytest.approx(LEFT_SHARE, abs=0.12)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("metric,tol", [("viou", TOL), ("object_ssim", TOL), ("left_behind", TOL_LEFT),
                                        ("left_behind_mask", TOL_LEFT_MASK)])
def test_bench_eval_matches_the_truth(measured, case, metric, tol):
    tru, got = measured[case]
    want = tru[metric.removesuffix("_mask")]
    assert got[metric] == pytest.approx(want, abs=tol), f"{case}: {metric} measured {got[metric]:.3f}, truth {want:.3f}"


def test_a_part_left_behind_lowers_the_extent_not_the_body_s_box():
    """vIoU scores where the object's body took its box; the part that stayed shows in left behind and object SSIM."""
    tru = truth(make_case("left_behind"))
    assert tru["viou"] == pytest.approx(1.0) and tru["viou_extent"] < 0.75


@pytest.mark.parametrize("bg,skin", LEFT_PAIRS[2:], ids=[b for b, _ in LEFT_PAIRS[2:]])
@pytest.mark.parametrize("case", ["whole", "left_behind", "drift"])
def test_left_behind_matches_the_truth_on_the_other_photos(bg, skin, case):
    c = make_case(case, background=bg, skin=skin)
    want = truth(c)["left_behind"]
    est = left_behind(c.frames, c.image, c.requested[0], c.requested[:, None])
    exact = left_behind(c.frames, c.image, c.requested[0], c.requested[:, None],
                        object_mask=c.object_mask.astype(np.float32))
    assert est == pytest.approx(want, abs=TOL_LEFT), f"estimated: {est:.3f}, truth {want:.3f}"
    assert exact == pytest.approx(want, abs=TOL_LEFT_MASK), f"with the mask: {exact:.3f}, truth {want:.3f}"


def test_the_part_left_behind_is_the_same_pixels_as_in_frame_0():
    """The truth counts the part that stayed as the object's: it must show exactly the frame-0 pixels (an
    earlier version pasted it twice into frame 0, so its anti-aliased rim differed from every later frame)."""
    c = make_case("left_behind")
    for f in range(1, c.frames.shape[0]):
        np.testing.assert_array_equal(c.frames[f][c.left_mask], c.frames[0][c.left_mask])


@pytest.mark.parametrize("case", ["whole", "drift", "blur"])
def test_a_flat_object_on_a_busy_background_is_tracked(case):
    """A plain shape before the flag's stripes: CSRT follows the background (vIoU 0.875 for 1.000 moved whole
    at the last stop); the refiner follows the object's own pixels and matches its look."""
    c = make_case(case, background="astronaut", skin="rocket")
    got = evaluate_frames(c.frames, c.image, case_layout(c), EvalOptions(workers=1))["objects"][0]
    tru = truth(c)
    assert got["viou"] == pytest.approx(tru["viou"], abs=TOL)
    assert got["object_ssim"] == pytest.approx(tru["object_ssim"], abs=TOL)


@pytest.mark.parametrize("case", CASES)
def test_viou_on_the_rocket_photo(case):
    c = make_case(case, background="rocket", skin="chelsea")
    got = evaluate_frames(c.frames, c.image, case_layout(c), EvalOptions(workers=1))["objects"][0]
    assert got["viou"] == pytest.approx(truth(c)["viou"], abs=TOL)


def test_a_flat_object_that_leaves_a_part_behind_is_followed_by_the_part_that_moved():
    """The look is matched where most of its pixels agree (a count): the part that stayed costs only its pixels.
    Read 0.51 at the last stop, 0.84 with a squared-difference match; the truth is 1.00 (docs/benchmark.md)."""
    c = make_case("left_behind", background="astronaut", skin="rocket")
    got = evaluate_frames(c.frames, c.image, case_layout(c), EvalOptions(workers=1))["objects"][0]
    assert got["viou"] > 0.93
