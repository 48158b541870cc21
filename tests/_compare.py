"""Assertions that two backends gave the same answer (issue 2's parity definition):
same person count, same peak membership, coordinates within 1e-3 px, scores within
1e-5 relative.  Stage results are compared the same way."""

import numpy as np

XY_TOL = 1e-3
REL_TOL = 1e-5


def assert_same_peaks(got, ref, where=""):
    np.testing.assert_array_equal(got.offsets, ref.offsets, err_msg=f"peak counts differ {where}")
    np.testing.assert_array_equal(got.grid, ref.grid, err_msg=f"peak grid positions differ {where}")
    np.testing.assert_allclose(got.xy, ref.xy, rtol=0, atol=XY_TOL, err_msg=f"refined peaks differ {where}")
    np.testing.assert_allclose(got.scores, ref.scores, rtol=REL_TOL, atol=1e-7, err_msg=f"peak scores differ {where}")
    assert got.upsample == ref.upsample and tuple(got.grid_shape) == tuple(ref.grid_shape)


def assert_same_candidates(got, ref, where=""):
    np.testing.assert_array_equal(got.offsets, ref.offsets, err_msg=f"candidate counts differ {where}")
    np.testing.assert_array_equal(got.a, ref.a, err_msg=f"candidate a differ {where}")
    np.testing.assert_array_equal(got.b, ref.b, err_msg=f"candidate b differ {where}")
    np.testing.assert_allclose(got.scores, ref.scores, rtol=REL_TOL, atol=1e-7, err_msg=f"candidate scores differ {where}")


def assert_same_poses(got, ref, where=""):
    assert len(got) == len(ref), f"{len(got)} people vs {len(ref)} in the reference {where}"
    assert got.keypoints.dtype == np.float32 and got.scores.dtype == np.float32
    assert got.keypoints.shape == ref.keypoints.shape
    np.testing.assert_array_equal(got.peak_ids, ref.peak_ids, err_msg=f"peak membership differs {where}")
    np.testing.assert_allclose(got.keypoints[..., :2], ref.keypoints[..., :2], rtol=0, atol=XY_TOL,
                               err_msg=f"keypoints differ {where}")
    np.testing.assert_allclose(got.keypoints[..., 2], ref.keypoints[..., 2], rtol=REL_TOL, atol=1e-7,
                               err_msg=f"confidences differ {where}")
    np.testing.assert_allclose(got.scores, ref.scores, rtol=REL_TOL, err_msg=f"person scores differ {where}")
