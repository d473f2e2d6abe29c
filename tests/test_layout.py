import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from iva0.errors import LayoutError
from iva0.layout import Layout, load_layout, make_layout, parse_layout, parse_layout_json


def base(**over):
    d = {
        "num_frames": 16,
        "fps": 8,
        "prompt": "a rocket lifts off",
        "negative_prompt": "",
        "objects": [
            {"name": "rocket", "keyframes": [{"frame": 0, "box": [0.4, 0.3, 0.6, 0.9]}, {"frame": 15, "box": [0.4, 0.0, 0.6, 0.6]}]}
        ],
    }
    d.update(over)
    return d


def test_parse_and_roundtrip(tmp_path):
    lay = parse_layout(base())
    assert lay.num_frames == 16 and lay.fps == 8 and lay.names == ["rocket"]
    p = tmp_path / "l.json"
    lay.save(p)
    again = load_layout(p)
    assert again == lay
    np.testing.assert_allclose(again.boxes(), lay.boxes())


def test_linear_boxes_and_hold_after_last_key():
    lay = make_layout([("a", [(0, [0.0, 0.0, 0.2, 0.2]), (4, [0.4, 0.0, 0.6, 0.2])])], num_frames=8)
    b = lay.boxes()
    assert b.shape == (1, 8, 4)
    np.testing.assert_allclose(b[0, 2], [0.2, 0.0, 0.4, 0.2])
    for f in range(4, 8):  # held still after the last key
        np.testing.assert_allclose(b[0, f], [0.4, 0.0, 0.6, 0.2])


def test_keyframes_sorted_whatever_their_order():
    d = base()
    d["objects"][0]["keyframes"].reverse()
    lay = parse_layout(d)
    assert [k.frame for k in lay.objects[0].keyframes] == [0, 15]


@pytest.mark.parametrize(
    "mutate, fragment",
    [
        (lambda d: d["objects"][0]["keyframes"].pop(0), "needs a key box at frame 0"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box=[0.5, 0.3, 0.5, 0.9]), "x0 must be < x1"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box=[0.4, 0.9, 0.6, 0.3]), "y0 must be < y1"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box=[0.4, 0.3, 0.4000001, 0.9]), "degenerate box"),
        (lambda d: d["objects"][0]["keyframes"][1].update(frame=16), "out of range"),
        (lambda d: d["objects"][0]["keyframes"][1].update(frame=-1), "out of range"),
        (lambda d: d["objects"][0]["keyframes"][1].update(frame=0), "duplicate key frame"),
        (lambda d: d.update(speed=3), "unknown field"),
        (lambda d: d["objects"][0].update(colour="red"), "unknown field"),
        (lambda d: d["objects"][0]["keyframes"][0].update(rot=1), "unknown field"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box=[0.4, 0.3, float("nan"), 0.9]), "non-finite"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box=[0.4, 0.3, float("inf"), 0.9]), "non-finite"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box=[40, 30, 60, 90]), "look like pixels"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box=[0.4, 0.3, 0.6]), "4 numbers"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box="0 0 1 1"), "4 numbers"),
        (lambda d: d["objects"][0]["keyframes"][0].update(box=[1.2, 0.3, 1.5, 0.9]), "must overlap the image"),
        (lambda d: d["objects"][0]["keyframes"][0].update(frame=0.5), "integer"),
        (lambda d: d["objects"][0].update(name=""), "name"),
        (lambda d: d.update(objects=[]), "objects: empty"),
        (lambda d: d.pop("objects"), "objects: missing"),
        (lambda d: d.update(num_frames=1), "num_frames"),
        (lambda d: d.update(num_frames="16"), "num_frames"),
        (lambda d: d.update(fps=0), "fps"),
        (lambda d: d.update(prompt=3), "prompt"),
        (lambda d: d.update(interpolation="cubic"), "interpolation"),
    ],
)
def test_bad_layouts_name_the_field(mutate, fragment):
    d = base()
    mutate(d)
    with pytest.raises(LayoutError) as e:
        parse_layout(d)
    assert fragment in str(e.value)
    assert "\n" not in str(e.value)


def test_error_names_the_object():
    d = base()
    d["objects"].append({"name": "cat", "keyframes": [{"frame": 0, "box": [0.5, 0.5, 0.4, 0.6]}]})
    with pytest.raises(LayoutError, match=r'objects\[1\] \("cat"\)\.keyframes\[0\]\.box'):
        parse_layout(d)


@pytest.mark.parametrize("text", ["{", "[]", '{"objects": NaN}', "", "null"])
def test_bad_json(text):
    with pytest.raises(LayoutError):
        parse_layout_json(text)


def test_missing_and_folder_layout(tmp_path):
    with pytest.raises(LayoutError, match="not found"):
        load_layout(tmp_path / "nope.json")
    with pytest.raises(LayoutError, match="folder"):
        load_layout(tmp_path)


def test_overrides_validate():
    lay = parse_layout(base())
    assert lay.with_overrides(num_frames=20).num_frames == 20
    with pytest.raises(LayoutError, match="out of range"):
        lay.with_overrides(num_frames=8)  # the key at frame 15 no longer fits


# ---------------------------------------------------------------- properties
coord = st.floats(0.0, 0.8, allow_nan=False)
size = st.floats(0.02, 0.2, allow_nan=False)


@st.composite
def layouts(draw, method=None):
    n = draw(st.integers(2, 24))
    k = draw(st.integers(1, min(5, n)))
    frames = sorted(set([0] + draw(st.lists(st.integers(1, n - 1), min_size=k - 1, max_size=k - 1))))
    kfs = []
    for f in frames:
        x, y, w, h = draw(coord), draw(coord), draw(size), draw(size)
        kfs.append((f, [x, y, x + w, y + h]))
    m = method or draw(st.sampled_from(["linear", "smooth"]))
    return make_layout([("obj", kfs)], num_frames=n, interpolation=m)


@settings(max_examples=80, deadline=None)
@given(layouts())
def test_interpolation_passes_through_every_key(lay: Layout):
    b = lay.boxes()[0]
    for k in lay.objects[0].keyframes:
        np.testing.assert_allclose(b[k.frame], k.box, atol=1e-9)
    assert np.all(b[:, 2] > b[:, 0]) and np.all(b[:, 3] > b[:, 1])


@settings(max_examples=80, deadline=None)
@given(layouts())
def test_no_overshoot_between_keys(lay: Layout):
    """Both methods stay between neighbouring keys (smooth: in centre and size)."""
    from iva0.layout import xyxy_to_cxcywh

    b = lay.boxes()[0]
    kfs = lay.objects[0].keyframes
    key = xyxy_to_cxcywh(np.array([k.box for k in kfs]))
    cur = xyxy_to_cxcywh(b)
    for a, c in zip(range(len(kfs) - 1), range(1, len(kfs))):
        lo = np.minimum(key[a], key[c]) - 1e-9
        hi = np.maximum(key[a], key[c]) + 1e-9
        seg = cur[kfs[a].frame : kfs[c].frame + 1]
        assert np.all(seg >= lo) and np.all(seg <= hi)


@settings(max_examples=80, deadline=None)
@given(layouts(method="linear"))
def test_linear_inside_hull_of_keys(lay: Layout):
    b = lay.boxes()[0]
    keys = np.array([k.box for k in lay.objects[0].keyframes])
    assert np.all(b >= keys.min(0) - 1e-9) and np.all(b <= keys.max(0) + 1e-9)


def test_json_example_from_design():
    text = json.dumps(
        {"num_frames": 16, "fps": 8, "prompt": "a rocket lifts off into the night sky", "negative_prompt": "",
         "objects": [{"name": "rocket", "keyframes": [{"frame": 0, "box": [0.473, 0.293, 0.528, 0.955]},
                                                      {"frame": 15, "box": [0.473, 0.043, 0.528, 0.705]}]}]}
    )
    lay = parse_layout_json(text)
    assert math.isclose(lay.boxes()[0, 15, 1], 0.043)


def test_max_frames_is_enforced_by_the_layout_itself():
    """layout.py's MAX_FRAMES (256): a file, make_layout and with_overrides all refuse more."""
    from iva0.layout import MAX_FRAMES

    assert MAX_FRAMES == 256
    assert parse_layout(base(num_frames=256)).num_frames == 256
    for bad in (257, 1000):
        with pytest.raises(LayoutError, match="num_frames: must be between 2 and 256"):
            parse_layout(base(num_frames=bad))
        with pytest.raises(LayoutError, match="num_frames"):
            parse_layout(base(num_frames=16)).with_overrides(num_frames=bad)
    with pytest.raises(LayoutError, match="num_frames"):
        make_layout([("o", [(0, [0.1, 0.1, 0.2, 0.2])])], num_frames=257)


def test_smooth_differs_from_linear_between_keys_and_equals_on_keys():
    # keys with a change of speed at frame 4: linear has a kink there, smooth (PCHIP) eases through it
    kfs = [(0, [0.0, 0.1, 0.1, 0.2]), (4, [0.1, 0.1, 0.2, 0.2]), (12, [0.8, 0.1, 0.9, 0.2])]
    lin = make_layout([("o", kfs)], num_frames=13, interpolation="linear").boxes()[0]
    smo = make_layout([("o", kfs)], num_frames=13, interpolation="smooth").boxes()[0]
    for f, box in kfs:
        np.testing.assert_allclose(lin[f], box, atol=1e-12)
        np.testing.assert_allclose(smo[f], box, atol=1e-12)
    between = [f for f in range(13) if f not in (0, 4, 12)]
    assert np.abs(smo[between] - lin[between]).max() > 0.01
    # linear: constant speed per segment; smooth: the speed changes within a segment
    vlin, vsmo = np.diff(lin[:, 0]), np.diff(smo[:, 0])
    assert np.ptp(vlin[4:12]) < 1e-12 and np.ptp(vsmo[4:12]) > 0.01
    # with two keys there is nothing to ease: both are the same straight path
    two = [(0, [0.1, 0.1, 0.3, 0.4]), (7, [0.5, 0.3, 0.6, 0.9])]
    np.testing.assert_allclose(make_layout([("o", two)], num_frames=8, interpolation="smooth").boxes()[0],
                               make_layout([("o", two)], num_frames=8, interpolation="linear").boxes()[0], atol=1e-12)
