"""Stage 2 (reference): score candidate limbs on the part affinity fields.

For limb ``(a, b)`` with PAF channels ``(cx, cy)``, every pair of a peak ``A`` of
keypoint ``a`` and a peak ``B`` of keypoint ``b`` (refined positions on the
``H x W`` decode grid) is tested:

1. ``d = B - A``, ``norm = sqrt(dx*dx + dy*dy)``; pairs with ``norm < 1e-6`` are
   skipped.  The unit direction is ``(dx / norm, dy / norm)``.
2. ``n = clamp(floor(sqrt(5 * max(|dx|, |dy|)) + 0.5), paf_min_samples,
   paf_max_samples)`` samples, ``i = 0..n-1``, at ``x_i = (A + o) + (i / (n-1)) * d``
   when ``paf_sample_far_end`` (both ends sampled), else at
   ``x_i = (A + o) + i * (d / n)`` (OpenPose: the far end is never sampled), with
   ``o = paf_sample_offset`` (OpenPose: 0.5); each rounded half up to the grid
   (``floor(x + 0.5)``) and clamped into it.
3. At each sample the PAF vector (bicubic on the decode grid, or raw when
   ``s == 1``) is projected on the unit direction: ``vx * ux + vy * uy``.
4. Samples whose projection is strictly above ``paf_threshold`` pass.  The pair
   passes the sample test when at least one sample passes and
   ``passed / n > paf_min_above`` (``paf_strict_fraction``, OpenPose) or
   ``passed >= paf_min_above * n`` (otherwise); its score is then the sum of the
   passing projections, added in sample order, divided by their count.
5. A pair failing the sample test is still a candidate, with score
   ``peak_threshold + 1e-6``, when ``norm < paf_close_fraction * sqrt(H * W)``
   (``sqrt`` of the float64 product; OpenPose's ``sqrt(W * H) / 150``).

Candidates of a limb are ordered by score (highest first), then ``a``, then ``b``.
All arithmetic is float64.
"""

from __future__ import annotations

import numpy as np

from ..config import DecodeConfig
from ..layouts import Layout
from ..types import LimbCandidates, Peaks
from .upsample import upsample

__all__ = ["score_limbs", "score_limbs_on_grid"]


def _score_limb(xa: np.ndarray, xb: np.ndarray, fx: np.ndarray, fy: np.ndarray,
                config: DecodeConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All candidate pairs of one limb, vectorised over pairs [nA, nB] and samples [S].

    Parameters
    ----------
    xa : float64 [nA, 2], xb : float64 [nB, 2]
        Refined peak positions on the decode grid.
    fx, fy : float64 [H, W]
        The limb's PAF components on the decode grid.
    """
    hh, ww = fx.shape
    dx = xb[None, :, 0] - xa[:, None, 0]                                  # [nA, nB]
    dy = xb[None, :, 1] - xa[:, None, 1]
    norm = np.sqrt(dx * dx + dy * dy)
    usable = norm >= 1e-6
    safe = np.where(usable, norm, 1.0)
    ux, uy = dx / safe, dy / safe
    n = np.floor(np.sqrt(5.0 * np.maximum(np.abs(dx), np.abs(dy))) + 0.5)
    n = np.clip(n, config.paf_min_samples, config.paf_max_samples).astype(np.int64)

    i = np.arange(config.paf_max_samples)                                 # [S]
    o = config.paf_sample_offset
    if config.paf_sample_far_end:
        t = i[None, None, :] / (n[..., None] - 1)                         # [nA, nB, S]
        sx = (xa[:, None, None, 0] + o) + t * dx[..., None]
        sy = (xa[:, None, None, 1] + o) + t * dy[..., None]
    else:
        sx = (xa[:, None, None, 0] + o) + i[None, None, :] * (dx / n)[..., None]
        sy = (xa[:, None, None, 1] + o) + i[None, None, :] * (dy / n)[..., None]
    px = np.clip(np.floor(sx + 0.5), 0, ww - 1).astype(np.int64)
    py = np.clip(np.floor(sy + 0.5), 0, hh - 1).astype(np.int64)
    proj = fx[py, px] * ux[..., None] + fy[py, px] * uy[..., None]
    in_line = i[None, None, :] < n[..., None]
    passed = in_line & (proj > config.paf_threshold) & usable[..., None]
    count = passed.sum(axis=-1)
    # cumsum adds strictly left to right (unlike sum); non-passing samples add 0.0.
    total = np.cumsum(np.where(passed, proj, 0.0), axis=-1)[..., -1]
    if config.paf_strict_fraction:
        ok = (count > 0) & (count / n > config.paf_min_above)
    else:
        ok = (count > 0) & (count >= config.paf_min_above * n)
    scores_all = np.where(ok, total / np.maximum(count, 1), 0.0)
    close = usable & ~ok & (norm < config.paf_close_fraction * np.sqrt(float(hh * ww)))
    scores_all = np.where(close, config.peak_threshold + 1e-6, scores_all)
    ia, ib = np.nonzero(ok | close)
    scores = scores_all[ia, ib]
    order = np.lexsort((ib, ia, -scores))                                 # score desc, a, b
    return ia[order], ib[order], scores[order]


def score_limbs_on_grid(pafs_grid: np.ndarray, peaks: Peaks, layout: Layout,
                        config: DecodeConfig) -> LimbCandidates:
    """Score limbs on already-upsampled PAFs (float64 [2L, s*h, s*w], or anything whose
    ``[c]`` gives channel ``c`` of that)."""
    offsets = [0]
    all_a, all_b, all_s = [], [], []
    for (a, b), (cx, cy) in zip(layout.limbs, layout.paf_channels):
        xa, xb = peaks.xy[peaks.of(a)], peaks.xy[peaks.of(b)]
        if len(xa) and len(xb):
            ia, ib, sc = _score_limb(xa, xb, pafs_grid[cx], pafs_grid[cy], config)
            all_a.append(ia)
            all_b.append(ib)
            all_s.append(sc)
        offsets.append(offsets[-1] + (len(all_s[-1]) if len(xa) and len(xb) else 0))
    cat = (lambda parts, dt: np.concatenate(parts).astype(dt) if parts else np.zeros(0, dt))
    return LimbCandidates(
        offsets=np.asarray(offsets, dtype=np.int64),
        a=cat(all_a, np.int32),
        b=cat(all_b, np.int32),
        scores=cat(all_s, np.float64),
    )


def score_limbs(pafs: np.ndarray, peaks: Peaks, layout: Layout, config: DecodeConfig) -> LimbCandidates:
    """Score every candidate connection of every limb.

    Parameters
    ----------
    pafs : float32 [2L, h, w]
    peaks : Peaks
    """
    from .peaks import _LazyGrid

    return score_limbs_on_grid(_LazyGrid(pafs, config.upsample), peaks, layout, config)
