"""Whole-frame kernels: the finite-value scan and the fused three-stage decode.

The fused kernel runs stages 1-3 without returning to Python in between, so a
frame costs one GIL release (``nogil``) and no intermediate Python objects.
"""

from __future__ import annotations

import numpy as np

from ._jit import jit
from .assemble import assemble_kernel
from .limbs import score_limbs_kernel
from .peaks import find_peaks_kernel

__all__ = ["first_non_finite", "decode_kernel"]


@jit
def first_non_finite(maps):
    """Flat index of the first NaN/Inf of ``maps`` float32 [C, h, w] (C order), or -1.

    Tests the exponent bits (all ones = NaN or Inf) so the scan vectorises; the
    exact position is searched only once a block is known to hold one.
    """
    bits = maps.reshape(-1).view(np.uint32)
    n = bits.shape[0]
    block = 4096
    for start in range(0, n, block):
        stop = min(n, start + block)
        bad = 0
        for q in range(start, stop):
            bad |= np.uint32((bits[q] & np.uint32(0x7F800000)) == np.uint32(0x7F800000))
        if bad:
            for q in range(start, stop):
                if (bits[q] & np.uint32(0x7F800000)) == np.uint32(0x7F800000):
                    return q
    return -1


@jit
def decode_kernel(hm, pafs, s, first, wts, threshold, cutoff_bits, hcut, max_peaks, r, border, ring, raster,
                  strict_nms, limbs, paf, fill, paf_threshold, min_above, nmin, nmax, far_end, offset, strict,
                  close_fraction, close_score, min_parts, min_person_score, people_max, fill_shares, merge,
                  uncounted, check):
    """Stages 1-3 on one frame (see the stage kernels for the arguments).

    Returns the people and a flag, True when ``check`` and a PAF value the limb
    scoring read was NaN or Inf (the people are then empty)."""
    pk_off, _, xy, pk_scores = find_peaks_kernel(hm, s, first, wts, threshold, cutoff_bits, hcut,
                                                 max_peaks, r, border, ring, raster, strict_nms)
    c_off, ca, cb, cs, bad = score_limbs_kernel(pafs, s, first, wts, pk_off, xy, limbs, paf,
                                                paf_threshold, min_above, nmin, nmax, far_end, offset,
                                                strict, close_fraction, close_score, check)
    if bad:
        c_off[:] = 0
    kp, scores, ids = assemble_kernel(pk_off, pk_scores, xy, s, c_off, ca, cb, cs, limbs, fill,
                                      min_parts, min_person_score, people_max, fill_shares, merge, uncounted)
    return kp, scores, ids, bad
