"""Layouts are data: check them against the shared model's MODEL.md and OpenPose's tables."""

import pytest

import posefast as pf

# MODEL.md, "PAF channels 19-56": limb k (network order) = (A, B), x channel 19 + 2k.
MODEL_MD_LIMBS = [(1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13), (1, 2), (2, 3), (3, 4),
                  (2, 16), (1, 5), (5, 6), (6, 7), (5, 17), (1, 0), (0, 14), (0, 15), (14, 16),
                  (15, 17)]


def test_coco18_matches_model_md():
    lay = pf.get_layout("coco18")
    assert lay.keypoints[:5] == ("Nose", "Neck", "RShoulder", "RElbow", "RWrist")
    assert lay.keypoints[14:] == ("REye", "LEye", "REar", "LEar")
    assert lay.num_keypoints == 18 and lay.num_limbs == 19 and lay.num_paf_channels == 38
    by_limb = dict(zip(lay.limbs, lay.paf_channels))
    for k, limb in enumerate(MODEL_MD_LIMBS):
        assert by_limb[limb] == (2 * k, 2 * k + 1), limb  # x before y
    # Shoulder->ear limbs fill only, and are processed last.
    fill = {lay.limbs[i] for i in lay.fill_only}
    assert fill == {(2, 16), (5, 17)}
    assert max(lay.fill_only) == lay.num_limbs - 1


def test_tree_order_reaches_parent_before_child():
    for lay in pf.LAYOUTS.values():
        reached = {lay.limbs[0][0]}
        for i, (a, b) in enumerate(lay.limbs):
            assert a in reached, (lay.name, i)
            reached.add(b)
        assert reached == set(range(lay.num_keypoints)), lay.name


def test_body25_and_mpi15_shapes():
    b25 = pf.get_layout("BODY_25")
    assert b25.num_keypoints == 25 and b25.num_limbs == 26 and b25.keypoints[8] == "MidHip"
    assert {b25.limbs[i] for i in b25.fill_only} == {(2, 17), (5, 18)}
    mpi = pf.get_layout("mpi")
    assert mpi.num_keypoints == 15 and mpi.num_limbs == 14 and mpi.keypoints[14] == "Chest"


def test_unknown_layout_and_keypoint():
    with pytest.raises(ValueError, match="unknown layout"):
        pf.get_layout("coco17")
    with pytest.raises(TypeError):
        pf.get_layout(17)
    with pytest.raises(ValueError, match="unknown keypoint 'Wrist'"):
        pf.get_layout("coco18").index("Wrist")
    assert pf.get_layout("coco18").index("rwrist") == 4


def test_bad_custom_layout():
    with pytest.raises(ValueError, match="PAF channels"):
        pf.Layout("x", ("a", "b"), ((0, 1),), ((0, 0),))
    with pytest.raises(ValueError, match="bad limb"):
        pf.Layout("x", ("a", "b"), ((0, 2),), ((0, 1),))
