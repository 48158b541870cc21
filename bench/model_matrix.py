"""Model x engine x precision x net height: forward time, pipeline fps and AP, in one run.

    python bench/model_matrix.py [--out bench/model_matrix.md] [--rounds 5] [--duration SECONDS]

For every configuration below (the presets and the models and engines they are chosen
among), on the same machine in one process:

* **forward ms**: ``Estimator.forward`` on 10 dance.mp4 frames (1280x720) already
  preprocessed, after a warm-up; configurations are visited round-robin (``--rounds``
  rounds, start rotated each round) so that load drifting on a shared machine hits all of
  them alike; the median over every call;
* **pipeline fps** and **inference-only fps**: ``posefast bench dance.mp4 --write-json
  --write-table`` (the whole clip unless ``--duration``), run for each configuration in
  the same order; the ratio column is pipeline / today's-default pipeline;
* **AP, AP50** on ``../shared/data/coco_mini`` (7 images, 19 people: a ranking aid,
  never a benchmark): OKS AP from pycocotools on the COCO-17 results of ``Estimator``.

Models come from ``$POSEFAST_MODEL_PATH`` (default ``../shared/models``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# name, Estimator keyword arguments (the first row is the reference for the ratios)
CONFIGS = [
    ("v2-small ORT fp32 368 (previous default)",
     dict(model="openpose-mobilenet-v2-small", engine="onnxruntime", precision="fp32", net_height=368)),
    ("v2-small OpenVINO fp32 368",
     dict(model="openpose-mobilenet-v2-small", engine="openvino", precision="fp32", net_height=368)),
    ("mobilenet-thin OpenVINO fp32 368",
     dict(model="openpose-mobilenet-thin", engine="openvino", precision="fp32", net_height=368)),
    ("hpe-0001 ORT fp32 368 (converted IR)",
     dict(model="human-pose-estimation-0001", engine="onnxruntime", precision="fp32", net_height=368)),
    ("hpe-0001 OpenVINO fp32 368",
     dict(model="human-pose-estimation-0001", engine="openvino", precision="fp32", net_height=368)),
    ("preset fast: hpe-0001 OpenVINO int8 256", dict(preset="fast")),
    ("preset default: hpe-0001 OpenVINO int8 368", dict(preset="default")),
    ("preset accurate: hpe-0001 OpenVINO int8 456 x3 scales", dict(preset="accurate")),
]


def cli_args(kw: dict) -> list[str]:
    out = []
    for k, v in kw.items():
        out += [f"--{k.replace('_', '-')}", str(v)]
    return out


def coco_ap(est, images_dir: Path, gt_path: Path) -> tuple[float, float]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from posefast.video.sinks import coco17_indices

    gt_json = json.loads(gt_path.read_text())
    idx = coco17_indices(est.layout)
    dets = []
    for im in gt_json["images"]:
        img = cv2.imread(str(images_dir / im["file_name"]))
        poses = est(img)
        for p in range(len(poses)):
            kp = np.asarray(poses.keypoints[p])[idx]
            flat = []
            for x, y, c in kp:
                flat += [float(x), float(y), 1] if c > 0 else [0.0, 0.0, 0]
            dets.append({"image_id": im["id"], "category_id": 1, "keypoints": flat,
                         "score": float(poses.scores[p])})
    if not dets:
        return 0.0, 0.0
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(dets), "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0]), float(ev.stats[1])


def pipeline(kw: dict, video: Path, duration) -> dict:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "posefast.cli", "bench", str(video), "-q", *cli_args(kw),
               "--write-json", f"{tmp}/json", "--write-table", f"{tmp}/poses.csv"]
        if duration:
            cmd += ["--duration", str(duration)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    res = {"exit": proc.returncode}
    for line in proc.stdout.splitlines():
        if line.startswith("pipeline fps"):
            res["pipeline_fps"] = float(line.split()[-1])
        elif line.startswith("inference-only fps"):
            res["inference_fps"] = float(line.split()[2])
    if proc.returncode:
        res["error"] = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "model_matrix.md")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--duration", type=float, default=None, help="seconds of dance.mp4 for the pipeline runs")
    ap.add_argument("--only", default="", help="run only configurations whose name contains this text")
    args = ap.parse_args(argv)
    os.environ.setdefault("POSEFAST_MODEL_PATH", str(SHARED / "models"))
    import posefast as pf

    media = Path(os.environ.get("POSEFAST_TEST_MEDIA", SHARED / "media"))
    coco = SHARED / "data" / "coco_mini"
    video = media / "dance.mp4"
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < 200:
        ok, img = cap.read()
        if not ok:
            break
        frames.append(img)
    cap.release()
    frames = frames[::20]

    rows = []
    for name, kw in CONFIGS:
        if args.only not in name:
            continue
        try:
            est = pf.Estimator(device="cpu", **kw)
        except Exception as exc:  # noqa: BLE001 - a model or engine missing here: say so in the table
            rows.append({"name": name, "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"})
            continue
        x, _ = est.preprocess(frames[:1])
        est.forward(x)
        inputs = [est.preprocess([f])[0] for f in frames]
        ap_, ap50 = coco_ap(est, coco / "images", coco / "person_keypoints.json")
        rows.append({"name": name, "kw": kw, "est": est, "inputs": inputs, "times": [], "ap": ap_, "ap50": ap50,
                     "engine": est.engine, "precision": est.precision, "net_height": est.net_height,
                     "scales": list(est.scales)})
    live = [r for r in rows if "est" in r]
    for rnd in range(args.rounds):
        for k in range(len(live)):
            r = live[(k + rnd) % len(live)]
            for x in r["inputs"]:
                t0 = time.perf_counter()
                r["est"].forward(x)
                r["times"].append(time.perf_counter() - t0)
    for r in live:
        del r["est"], r["inputs"]
        r["forward_ms"] = 1e3 * float(np.median(r.pop("times")))
    for r in live:
        r.update(pipeline(r["kw"], video, args.duration))

    ref = live[0] if live and live[0]["name"] == CONFIGS[0][0] else None
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [f"Measured {date} on {os.cpu_count()} cores ({_cpu()}), one run, `python bench/model_matrix.py`"
             f"{f' --duration {args.duration}' if args.duration else ''}.", "",
             "| configuration | engine | precision | height | scales | forward ms | pipeline fps | "
             "inference-only fps | pipeline vs previous default | AP | AP50 |",
             "|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r and "forward_ms" not in r:
            lines.append(f"| {r['name']} | not run: {r['error']} |||||||||")
            continue
        rel = (f"{r['pipeline_fps'] / ref['pipeline_fps']:.2f}x" if ref and r.get("pipeline_fps")
               and ref.get("pipeline_fps") else "-")
        lines.append(f"| {r['name']} | {r['engine']} | {r['precision']} | {r['net_height']} | "
                     f"{', '.join(f'{s:g}' for s in r['scales'])} | {r['forward_ms']:.1f} | "
                     f"{r.get('pipeline_fps', float('nan')):.1f} | {r.get('inference_fps', float('nan')):.1f} | "
                     f"{rel} | {r['ap']:.3f} | {r['ap50']:.3f} |")
    text = "\n".join(lines) + "\n"
    args.out.write_text(text)
    print(text)
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


if __name__ == "__main__":
    sys.exit(main())
