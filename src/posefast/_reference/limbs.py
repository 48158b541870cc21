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

Finiteness (``check_finite``)
-----------------------------
Only the PAF values the decoder *reads* are checked.  A pair reads its samples in
the order ``0, n-1, 1, 2, ..., n-2`` and stops as soon as it has more failing
samples than ``allowed(n)`` (so when sample 0 alone fails too many, ``n-1`` is not read), the most failures with which it could still pass
the sample test (``-1`` when it never can, e.g. ``passed / n > 1``).  When a read
sample's PAF vector is NaN or Inf (at ``s > 1``: one of its 4x4 raw taps is),
``ValueError`` is raised naming the first NaN/Inf of the whole PAF block in C order.
Skipped pairs (``norm < 1e-6``) read nothing.
"""

from __future__ import annotations

import numpy as np

from ..config import DecodeConfig
from ..layouts import Layout
from ..types import LimbCandidates, Peaks
from .upsample import upsample

__all__ = ["score_limbs", "score_limbs_on_grid"]


def allowed_failures(n: int, config: DecodeConfig) -> int:
    """``allowed(n)``: the most failing samples of ``n`` that can still pass the test
    (counted up from 0 while one more failure still passes), or -1 if none can."""
    def passes(c: int) -> bool:
        if config.paf_strict_fraction:
            return c > 0 and c / n > config.paf_min_above
        return c > 0 and c >= config.paf_min_above * n

    if not passes(n):
        return -1
    m = 0
    while m < n and passes(n - (m + 1)):
        m += 1
    return m


def _reads_non_finite(vx: np.ndarray, vy: np.ndarray, passed: np.ndarray, n: np.ndarray, usable: np.ndarray,
                      config: DecodeConfig) -> bool:
    """Whether a sample read under the finiteness rule (module docstring) is non-finite.

    vx, vy, passed : [nA, nB, S] PAF vectors and pass flags of every sample; n [nA, nB].
    """
    S = vx.shape[-1]
    bad = ~(np.isfinite(vx) & np.isfinite(vy))
    if not bad.any():
        return False
    allowed = np.vectorize(lambda v: allowed_failures(int(v), config), otypes=[np.int64])(n)
    i = np.arange(S)
    last = (n - 1)[..., None]
    fail = ~passed
    fail_ends = fail[..., 0].astype(np.int64) + np.take_along_axis(fail, n[..., None] - 1, axis=-1)[..., 0]
    inner = (i >= 1) & (i < last)
    inner_fail = np.where(inner, fail, False).astype(np.int64)
    before = np.cumsum(inner_fail, axis=-1) - inner_fail          # inner failures before sample i
    read_inner = inner & ((fail_ends[..., None] + before) <= allowed[..., None])
    read_last = (i == last) & (fail[..., :1].astype(np.int64) <= allowed[..., None])
    read = read_inner | (i == 0) | read_last
    return bool((read & bad & usable[..., None]).any())


def _score_limb(xa: np.ndarray, xb: np.ndarray, fx: np.ndarray, fy: np.ndarray,
                config: DecodeConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``None`` when ``config.check_finite`` and a read PAF value is NaN or Inf."""
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
    vx, vy = fx[py, px], fy[py, px]
    with np.errstate(invalid="ignore", over="ignore"):   # non-finite PAFs read unchecked
        proj = vx * ux[..., None] + vy * uy[..., None]
    in_line = i[None, None, :] < n[..., None]
    passed = in_line & (proj > config.paf_threshold) & usable[..., None]
    if config.check_finite and _reads_non_finite(vx, vy, passed, n, usable, config):
        return None
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
                        config: DecodeConfig) -> LimbCandidates | None:
    """Score limbs on already-upsampled PAFs (float64 [2L, s*h, s*w], or anything whose
    ``[c]`` gives channel ``c`` of that); ``None`` when a read value is not finite."""
    offsets = [0]
    all_a, all_b, all_s = [], [], []
    for (a, b), (cx, cy) in zip(layout.limbs, layout.paf_channels):
        xa, xb = peaks.xy[peaks.of(a)], peaks.xy[peaks.of(b)]
        if len(xa) and len(xb):
            got = _score_limb(xa, xb, pafs_grid[cx], pafs_grid[cy], config)
            if got is None:
                return None
            ia, ib, sc = got
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
    from . import check_finite
    from .peaks import _LazyGrid

    out = score_limbs_on_grid(_LazyGrid(pafs, config.upsample), peaks, layout, config)
    if out is None:
        check_finite(pafs, "pafs")   # names the first NaN/Inf of the block
        raise AssertionError("unreachable: a non-finite PAF value was read")
    return out
