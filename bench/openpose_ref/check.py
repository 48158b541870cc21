"""posefast's DecodeConfig.openpose() against CMU OpenPose's own CPU decoder on the same maps.

OpenPose side: its resizeAndMergeCpu step (every channel bicubically resized to the x8
decode grid with OpenCV, as that function does, one call per channel) and its nmsCpu and
connectBodyPartsCpu, compiled from an OpenPose checkout by build.sh.  posefast side:
``pf.decode(heatmaps, pafs, config=DecodeConfig.openpose(layout))``.

Compared per image: people count, which keypoints each matched person has, and keypoint
positions, in OpenPose's net-input pixels (its keypoints at scale 1, which carry its
+0.5 offset: ``x_openpose = 8 * x_map + 4`` for posefast's map pixels) and in image pixels.
Maps: the shared model (ONNX Runtime) on the 217 frames of dance.mp4 and the shared
photos, plus generated scenes for coco18, body25 and mpi15.  Then one-thread timing of
both on dance frames, paired.

usage: python bench/openpose_ref/check.py --openpose-src OPENPOSE_CHECKOUT
       python bench/openpose_ref/check.py --lib build/openpose_ref/libopenpose_decoder.so
OpenCV has two float32 INTER_CUBIC resizes, and OpenPose's output depends on which one its
OpenCV build runs: its own code (float32 weights, each row's four taps summed left to right,
the four rows as r0*b0 + (r1*b1 + (r2*b2 + r3*b3))), or Intel IPP's routine where the build has
IPP and uses it (opencv-python-headless 4.14 for x86-64 does, by default), which rounds
differently in the last bit on about half the grid cells.  ``--opencv both`` (the default) runs OpenPose's side on each
(``cv2.ipp.setUseIPP``) and compares OpenPose with itself too.

Exit status 1 when the preset misses the issue-8 bar (same people and keypoints on every
image, positions within 0.01 image px on >= 99.5 % of keypoints) against OpenPose on OpenCV's
own resize, on the real maps or the generated ones, or when, against OpenPose on IPP's resize,
it differs on an image where OpenPose on the two resizes agrees (or misses the position bar);
quantised scenes (exact ties) are reported only.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

import posefast as pf  # noqa: E402
from posefast.synthetic import make_scene  # noqa: E402

S = 8                       # OpenPose's decode grid: the network input size, x8 the output
MODEL_ID = {"coco18": 0, "body25": 1, "mpi15": 2}
MAX_PEOPLE = 512


class OpenPose:
    """OpenPose's decoder through build.sh's library (one handle per layout)."""

    def __init__(self, lib: Path, layout: str):
        self.lib = ctypes.CDLL(str(lib))
        P, I, F = ctypes.c_void_p, ctypes.c_int, ctypes.c_float
        self.lib.opref_new.restype = P
        self.lib.opref_new.argtypes = [I, ctypes.POINTER(I)]
        self.lib.opref_free.argtypes = [P]
        self.lib.opref_decode.restype = I
        self.lib.opref_decode.argtypes = [P, P, I, I, F, F, F, I, F, F, F, I, P, P, ctypes.c_char_p, I]
        parts = I()
        self.handle = self.lib.opref_new(MODEL_ID[layout], ctypes.byref(parts))
        self.parts = parts.value
        self.cfg = pf.DecodeConfig.openpose(layout)
        self.kp = np.zeros((MAX_PEOPLE, self.parts, 3), np.float32)
        self.sc = np.zeros(MAX_PEOPLE, np.float32)
        self.err = ctypes.create_string_buffer(512)

    def __del__(self):
        if getattr(self, "handle", None):
            self.lib.opref_free(self.handle)

    @staticmethod
    def resize(maps: np.ndarray, ipp: bool | None = None) -> np.ndarray:
        """resizeAndMergeCpu for one scale: each channel to (S*w, S*h), INTER_CUBIC; ``ipp``:
        OpenCV's IPP routine (True), its own code (False), or as this OpenCV is set (None)."""
        _, h, w = maps.shape
        before = cv2.ipp.useIPP()
        if ipp is not None:
            cv2.ipp.setUseIPP(ipp)
        try:
            return np.stack([cv2.resize(m, (S * w, S * h), interpolation=cv2.INTER_CUBIC) for m in maps])
        finally:
            cv2.ipp.setUseIPP(before)

    def decode(self, grid: np.ndarray) -> np.ndarray:
        """People [P, parts, 3] in OpenPose's net-input pixels (scale 1)."""
        _, H, W = grid.shape
        c = self.cfg
        n = self.lib.opref_decode(self.handle, grid.ctypes.data, H, W, c.peak_threshold, c.paf_threshold,
                                  c.paf_min_above, c.min_parts, c.min_person_score, 0.5, 1.0, MAX_PEOPLE,
                                  self.kp.ctypes.data, self.sc.ctypes.data, self.err, len(self.err))
        if n < 0:
            raise RuntimeError(f"OpenPose's decoder failed: {self.err.value.decode()}")
        if n > MAX_PEOPLE:
            raise RuntimeError(f"OpenPose found {n} people, more than this check keeps ({MAX_PEOPLE})")
        return self.kp[:n].astype(np.float64)


def ours(hm, pafs, layout, backend) -> np.ndarray:
    poses = pf.decode(hm, pafs, layout=layout, backend=backend, config=pf.DecodeConfig.openpose(layout))
    k = poses.keypoints.astype(np.float64)
    present = k[..., 2] > 0
    k[..., :2] = np.where(present[..., None], S * k[..., :2] + S / 2, 0.0)
    return k


def match(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    """Pairs of people (Hungarian): most shared keypoints, then smallest mean distance."""
    from scipy.optimize import linear_sum_assignment

    if len(a) == 0 or len(b) == 0:
        return []
    cost = np.full((len(a), len(b)), 1e9)
    for i in range(len(a)):
        for j in range(len(b)):
            both = (a[i, :, 2] > 0) & (b[j, :, 2] > 0)
            if both.any():
                d = np.linalg.norm(a[i, both, :2] - b[j, both, :2], axis=1).mean()
                cost[i, j] = d - 1e3 * both.sum()
    rows, cols = linear_sum_assignment(cost)
    return [(i, j) for i, j in zip(rows, cols) if cost[i, j] < 1e8]


class Tally:
    def __init__(self, what: str, left: str = "OpenPose", right: str = "posefast"):
        self.what, self.images, self.same_people, self.same_present = what, 0, 0, 0
        self.left, self.right = left, right
        self.dist_net: list[float] = []
        self.dist_img: list[float] = []
        self.bad: list[str] = []
        self.bad_names: set[str] = set()

    def add(self, name: str, a: np.ndarray, b: np.ndarray, img_per_net: float) -> None:
        self.images += 1
        pairs = match(a, b)
        same = len(a) == len(b) == len(pairs)
        present = same and all(np.array_equal(a[i, :, 2] > 0, b[j, :, 2] > 0) for i, j in pairs)
        self.same_people += same
        self.same_present += present
        for i, j in pairs:
            both = (a[i, :, 2] > 0) & (b[j, :, 2] > 0)
            d = np.abs(a[i, both, :2] - b[j, both, :2]).max(axis=1)
            self.dist_net.extend(d)
            self.dist_img.extend(d * img_per_net)
        if not present:
            self.bad_names.add(name)
            self.bad.append(f"{name}: {self.left} {len(a)} people, {self.right} {len(b)}"
                            + ("" if same else " (people differ)"))

    def positions_ok(self) -> bool:
        d = np.asarray(self.dist_img)
        return d.size > 0 and float(np.mean(d < 0.01)) >= 0.995

    def ok(self) -> bool:
        return self.same_present == self.images and self.positions_ok()

    def __str__(self) -> str:
        dn, di = np.asarray(self.dist_net), np.asarray(self.dist_img)
        if dn.size == 0:
            return f"{self.what}: {self.images} images, no keypoints"
        lines = [f"{self.what}: {self.images} images; same people count on {self.same_people}, same keypoints "
                 f"present on {self.same_present}; {dn.size} keypoints: max |dx|,|dy| {dn.max():.2g} net px, "
                 f"{di.max():.2g} image px; within 0.01 image px {100 * np.mean(di < 0.01):.2f} %"]
        lines += [f"  differs: {x}" for x in self.bad[:20]]
        return "\n".join(lines)


RESIZE = {"plain": "OpenCV's own resize code", "ipp": "IPP's resize"}


def opencv_paths(choice: str) -> list[str]:
    """The OpenCV resizes to run OpenPose's side on; "ipp" only where this OpenCV has IPP."""
    before = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(True)
    have_ipp = cv2.ipp.useIPP()
    cv2.ipp.setUseIPP(before)
    if choice == "plain" or (choice == "both" and not have_ipp):
        if choice == "both":
            print(f"this OpenCV ({cv2.__version__}) has no IPP: OpenPose runs on its own resize code only")
        return ["plain"]
    if not have_ipp:
        raise SystemExit(f"check.py: --opencv ipp, but this OpenCV ({cv2.__version__}) has no IPP")
    return ["ipp"] if choice == "ipp" else ["plain", "ipp"]


class Check:
    """One kind of maps: the preset against OpenPose on each OpenCV resize, and OpenPose on
    IPP's resize against OpenPose on OpenCV's own (the spread of OpenPose's own output)."""

    def __init__(self, what: str, paths: list[str]):
        self.vs = {p: Tally(f"{what}; OpenPose on {RESIZE[p]}") for p in paths}
        self.spread = (Tally(f"{what}; OpenPose on {RESIZE['plain']} against OpenPose on {RESIZE['ipp']}",
                             "OpenPose (own code)", "OpenPose (IPP)") if len(paths) == 2 else None)

    def add(self, name: str, opl: OpenPose, maps: np.ndarray, mine: np.ndarray, img_per_net: float) -> None:
        theirs = {p: opl.decode(opl.resize(maps, ipp=p == "ipp")) for p in self.vs}
        for p, t in self.vs.items():
            t.add(name, theirs[p], mine, img_per_net)
        if self.spread is not None:
            self.spread.add(name, theirs["plain"], theirs["ipp"], img_per_net)

    def ok(self) -> bool:
        good = self.vs["plain"].ok() if "plain" in self.vs else True
        if "ipp" in self.vs:
            t = self.vs["ipp"]
            spread = self.spread.bad_names if self.spread is not None else set()
            good &= t.positions_ok() and t.bad_names <= spread
        return good

    def __str__(self) -> str:
        return "\n".join(str(t) for t in [*self.vs.values(), self.spread] if t is not None)


def real_maps(model: Path, media: Path):
    from _maps import MapMaker
    from _parity_people import parity_images

    maker = MapMaker(model)
    for name, img in parity_images(media):
        maps = maker(img)
        yield name, maps, img.shape[0] / (S * maps.shape[1])   # image px per net-input px (height)


def scenes(layout: str, n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    k = pf.get_layout(layout).num_keypoints
    for i in range(n):
        sc = make_scene(rng, int(rng.integers(0, 10)), int(rng.integers(24, 64)), int(rng.integers(24, 96)),
                        layout=layout, noise=float(rng.choice([0, 0.02, 0.05])), drop=float(rng.choice([0, 0.1])),
                        pose=str(rng.choice(["human", "random"])))
        hm = sc.heatmaps
        if hm.shape[0] == k:
            hm = np.concatenate([hm, np.zeros_like(hm[:1])])
        yield f"{layout} scene {i}", np.concatenate([hm, sc.pafs]).astype(np.float32)


def timing(opl: OpenPose, maps_list, backend: str, rounds: int) -> str:
    """Paired one-thread times: OpenPose (resize + nms + connect) vs posefast, per frame."""
    cv2.setNumThreads(1)
    cfg = pf.DecodeConfig.openpose()
    t_op, t_pf, t_resize = [], [], []
    for r in range(rounds):
        for maps in maps_list:
            hm, pafs = maps[:18], maps[19:]
            t0 = time.perf_counter()
            grid = opl.resize(maps)
            tr = time.perf_counter()
            opl.decode(grid)
            t1 = time.perf_counter()
            pf.decode(hm, pafs, backend=backend, config=cfg)
            t2 = time.perf_counter()
            t_op.append(t1 - t0)
            t_resize.append(tr - t0)
            t_pf.append(t2 - t1)
    a, b, rs = np.asarray(t_op), np.asarray(t_pf), np.asarray(t_resize)
    return (f"timing, one thread, {len(maps_list)} dance frames x {rounds} rounds, paired: OpenPose "
            f"{1e3 * a.min():.2f} / {1e3 * np.median(a):.2f} ms (min / median; of which the resize "
            f"{1e3 * rs.min():.2f} / {1e3 * np.median(rs):.2f}), posefast openpose() "
            f"{1e3 * b.min():.3f} / {1e3 * np.median(b):.3f} ms; ratio of minima {a.min() / b.min():.0f}x, "
            f"median of paired ratios {np.median(a / b):.0f}x")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--openpose-src", type=Path, help="an OpenPose checkout: build its decoder first")
    src.add_argument("--lib", type=Path, help="a library built by build.sh")
    shared = ROOT.parent / "shared"
    ap.add_argument("--model", type=Path, default=Path(os.environ.get("POSEFAST_TEST_MODELS", shared / "models"))
                    / "openpose-mobilenet-v2-small" / "model.onnx")
    ap.add_argument("--media", type=Path, default=Path(os.environ.get("POSEFAST_TEST_MEDIA", shared / "media")))
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--scenes", type=int, default=200, help="generated scenes per layout (0: none)")
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds over every 10th dance frame (0: none)")
    ap.add_argument("--opencv", choices=["both", "plain", "ipp"], default="both",
                    help="OpenCV resize(s) for OpenPose's side: its own code, IPP's routine, or both")
    args = ap.parse_args(argv)
    lib = args.lib
    if lib is None:
        out = subprocess.run(["bash", str(Path(__file__).with_name("build.sh")), str(args.openpose_src)],
                             check=True, capture_output=True, text=True, cwd=ROOT)
        lib = ROOT / out.stdout.strip().splitlines()[-1]
    ok = True
    paths = opencv_paths(args.opencv)
    coco = OpenPose(lib, "coco18")
    real = Check(f"shared model ({args.model.parent.name}), dance.mp4 + photos", paths)
    dance = []
    for name, maps, img_per_net in real_maps(args.model, args.media):
        real.add(name, coco, maps, ours(maps[:18], maps[19:], "coco18", args.backend), img_per_net)
        if name.startswith("dance.mp4#") and int(name.split("#")[1]) % 10 == 0:
            dance.append(maps)
    print(real)
    ok &= real.ok()
    for layout in ("coco18", "body25", "mpi15") if args.scenes else ():
        opl = coco if layout == "coco18" else OpenPose(lib, layout)
        k = opl.parts
        t = Check(f"generated {layout}", paths)
        for name, maps in scenes(layout, args.scenes):
            t.add(name, opl, maps, ours(maps[:k], maps[k + 1:], layout, args.backend), 1.0)
        print(t)
        ok &= t.ok()
        # The same scenes quantised to steps of 1/32 (as a low-bit network's output): exact
        # ties everywhere, so float32 (OpenPose) and float64 (posefast) grids break some of
        # them differently.  Reported, not part of the exit status.
        q = Check(f"generated {layout}, quantised to 1/32 (report only)", paths)
        for name, maps in scenes(layout, args.scenes):
            maps = (np.round(maps * 32) / 32).astype(np.float32)
            q.add(name, opl, maps, ours(maps[:k], maps[k + 1:], layout, args.backend), 1.0)
        print(q)
    if args.rounds:
        print(timing(coco, dance, args.backend, args.rounds))
    print("preset matches OpenPose's decoder" if ok else "preset DIFFERS from OpenPose's decoder")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
