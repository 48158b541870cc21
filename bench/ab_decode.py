"""Side-by-side decoder speed of two checkouts (before/after a change), on a noisy machine.

    python bench/ab_decode.py OLD_SRC NEW_SRC

OLD_SRC and NEW_SRC are the ``src`` folders of two checkouts, each with its native core
built in place.  Two worker processes import posefast from one each; the driver asks them
in turn for one ``pf.decode`` (native, one thread) on the same maps, alternating which goes
first, and each worker times its own call.  Printed per case: both minima and medians, and
the median of the paired ratios old/new, which a slow phase of the host cancels out of.
The processes evict each other's caches, so absolute times are above the benchmark's.
Needs ../shared (the shared model's maps of five dance.mp4 frames).
"""

from __future__ import annotations

import multiprocessing as mp
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CASES = [("dance", 1, 3000), ("dance", 4, 1500), ("dance", 8, 1000), ("crowd32", 1, 300), ("crowd32", 4, 80),
         ("tiled32", 1, 300), ("tiled32", 4, 80)]


def _maps() -> np.ndarray:
    sys.path.insert(0, str(ROOT / "tests"))
    from _maps import MapMaker, video_frames
    from _shared import MODEL_NAME, media_dir, models_dir

    maker = MapMaker(models_dir() / MODEL_NAME / "model.onnx")
    return np.stack([maker(f) for _, f in video_frames(media_dir() / "dance.mp4", step=50)])


def _worker(src: str, maps: np.ndarray, conn) -> None:
    sys.path.insert(0, src)
    import posefast as pf
    from posefast.synthetic import make_scene

    assert pf.backends()["native"], f"no native core built in {src}"
    rng = np.random.default_rng(2024)
    crowd = [make_scene(rng, n, 184, 656, size=6.0, margin=-0.05) for n in (1, 2, 4, 8, 16, 32)][-1]
    tiled = np.tile(maps[0], (1, 4, 8))
    data = {"dance": [(np.ascontiguousarray(m[:18]), np.ascontiguousarray(m[19:])) for m in maps],
            "crowd32": [(np.ascontiguousarray(crowd.heatmaps[:18]), crowd.pafs)],
            "tiled32": [(np.ascontiguousarray(tiled[:18]), np.ascontiguousarray(tiled[19:]))]}
    while (msg := conn.recv()) is not None:
        kind, s, i = msg
        if s == 8 and not hasattr(pf.DecodeConfig, "openpose"):
            conn.send((None, "this build has no DecodeConfig.openpose()"))
            continue
        cfg = pf.DecodeConfig.openpose() if s == 8 else pf.DecodeConfig(upsample=s)
        hm, pafs = data[kind][i % len(data[kind])]
        t = time.perf_counter()
        out = pf.decode(hm, pafs, backend="native", config=cfg)
        conn.send((time.perf_counter() - t, out.keypoints.tobytes()))


def main(old_src: str, new_src: str) -> None:
    maps = _maps()
    ctx = mp.get_context("spawn")
    workers = {}
    for name, src in (("old", old_src), ("new", new_src)):
        here, there = ctx.Pipe()
        proc = ctx.Process(target=_worker, args=(str(Path(src).resolve()), maps, there))
        proc.start()
        there.close()  # the worker's end: if the worker dies, recv() raises instead of waiting
        workers[name] = (here, proc)
    try:
        for kind, s, n in CASES:
            times: dict[str, list[float]] = {"old": [], "new": []}
            skipped = None
            for i in range(n + 5):
                people = {}
                for name in ("old", "new") if i % 2 else ("new", "old"):
                    workers[name][0].send((kind, s, i))
                    try:
                        dt, people[name] = workers[name][0].recv()
                    except EOFError:
                        sys.exit(f"the {name} worker died (see its traceback above)")
                    if dt is None:
                        skipped = f"{name}: {people[name]}"
                    elif i >= 5:
                        times[name].append(dt * 1e3)
                if skipped:
                    break
                if i == 0 and people["old"] != people["new"]:
                    print(f"  note: {kind} x{s}: the two builds give different people")
            if skipped:
                print(f"{kind} x{s}: skipped ({skipped})", flush=True)
                continue
            o, w = np.array(times["old"]), np.array(times["new"])
            label = f"{kind} " + ("openpose() x8" if s == 8 else f"x{s}")
            print(f"{label:20s} old min {o.min():8.4f} med {np.median(o):8.4f} ms | new min {w.min():8.4f} "
                  f"med {np.median(w):8.4f} ms | old/new: min {o.min() / w.min():.2f}x, "
                  f"median of paired ratios {np.median(o / w):.2f}x", flush=True)
    finally:
        for here, proc in workers.values():
            try:
                here.send(None)
            except OSError:  # that worker is gone already
                pass
            proc.join()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
