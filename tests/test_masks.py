import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from iva0.layout import make_layout
from iva0.masks import box_mask, feather_mask, layout_masks, never_occupied


def two_objects():
    return make_layout(
        [("a", [(0, [0.0, 0.0, 0.25, 0.25]), (3, [0.5, 0.0, 0.75, 0.25])]), ("b", [(0, [0.5, 0.5, 1.0, 1.0])])],
        num_frames=4,
    )


def test_box_mask_counts_pixel_centres():
    m = box_mask((0.0, 0.0, 0.5, 0.25), 8, 8)
    assert m.sum() == 4 * 2 and m[0, :4].all() and not m[2].any()


def test_tiny_box_keeps_one_cell():
    assert box_mask((0.501, 0.501, 0.502, 0.502), 8, 8).sum() == 1


def test_masks_by_definition():
    m = layout_masks(two_objects(), 8, 8)
    F = 4
    assert m.O.shape == (F, 8, 8)
    # frame 0 keeps everything
    assert m.K[0].min() == 1 and m.G[0].max() == 0
    # last frame: a has moved from the top-left quarter to the top of the right half
    assert m.O[3, 0, 4] == 1 and m.O[3, 0, 0] == 0
    assert m.V[3, 0, 0] == 1  # vacated
    assert m.V[3, 0, 4] == 0
    # b never moves: inside O, never vacated
    assert m.O[3, 7, 7] == 1 and m.V[:, 7, 7].max() == 0
    assert m.G[3, 7, 0] == 0 and m.K[3, 7, 0] == 1


def test_never_occupied():
    bg = never_occupied(two_objects(), 8, 8)
    assert bg[7, 0] and not bg[0, 0] and not bg[7, 7]


@settings(max_examples=40, deadline=None)
@given(st.floats(0, 0.7), st.floats(0, 0.7), st.floats(0, 0.7), st.floats(0.0, 4.0), st.integers(8, 40))
def test_G_and_K_partition_the_frame(x, y, x2, feather, size):
    lay = make_layout([("a", [(0, [x, y, x + 0.3, y + 0.3]), (5, [x2, y, x2 + 0.3, y + 0.3])])], num_frames=6)
    m = layout_masks(lay, size, size + 3, feather=feather)
    np.testing.assert_array_equal(m.G + m.K, np.ones_like(m.G))
    assert m.G.min() >= 0 and m.G.max() <= 1
    hard = layout_masks(lay, size, size + 3)
    # feathering only grows G outward; the hard region is untouched
    assert np.all(m.G[hard.G == 1] == 1)


def test_feather_ramp():
    hard = np.zeros((1, 21), np.float32)
    hard[0, :5] = 1
    soft = feather_mask(hard, 4.0)
    assert soft[0, 4] == 1 and 0 < soft[0, 6] < 1 and soft[0, 9:].max() == 0
