"""GPU check and throughput benchmark (issue #10), one prepared run.

Run it through ``bench/gpu.sh`` on a machine with an NVIDIA GPU (or directly, in an
environment where posefast is installed)::

    python bench/gpu_bench.py --device cuda --out OUT_DIR
    python bench/gpu_bench.py --device cpu --quick --out /tmp/rehearsal   # the CPU rehearsal

What it does, in order, writing ``gpu_bench.json`` and ``gpu_bench.md`` to ``--out``
after every step (a run cut short still leaves what it measured):

1. **Provider check**: an ONNX Runtime CUDA session must really run on CUDA
   (``Estimator.device == "cuda"`` and ``CUDAExecutionProvider`` first among the
   session's providers); a silent CPU fallback fails the run.
2. **Agreement** for every registered model that is installed: the device's people
   against the CPU's people (fp32) on the dance frames and the shared photos. The
   gate is the issue's: the same people count in >= 99 % of frames and mean keypoint
   distance <= 1 px.  Reduced precision (fp16, where the model/engine offers it) is
   gated the same way against the device's fp32.
3. **Throughput** at batch 1, 8 and 32: network-only fps, decode fps (native
   backend, all cores, ``decode_batch(threads=0)``), and pipeline fps on dance.mp4
   with ``--write-json --write-table`` (the ``posefast bench`` command), with the
   stage that bounds the pipeline.

Every figure is measured in this one run on one machine; absolute times mean
something only from a GPU run (the CPU rehearsal only proves the script works).
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

import cv2
import numpy as np

import posefast as pf
from posefast.models.registry import list_models

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
BATCHES = (1, 8, 32)


# -- inputs ------------------------------------------------------------------

def dance_frames(path: Path, limit: Optional[int]) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    try:
        while limit is None or len(frames) < limit:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
    finally:
        cap.release()
    if not frames:
        raise SystemExit(f"gpu_bench: could not read frames from {path}")
    return frames


def photos(media: Path, limit: Optional[int]) -> list[tuple[str, np.ndarray]]:
    out = []
    for p in sorted(media.iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png"):
            img = cv2.imread(str(p))
            if img is not None:
                out.append((p.name, img))
    return out[:limit] if limit else out


# -- people-level agreement --------------------------------------------------

def _match_distance(a: np.ndarray, b: np.ndarray) -> list[float]:
    """Per-keypoint distances (px) between matched people of two frames.

    People are matched greedily by mean distance over keypoints both have; a
    keypoint counts where both people have it (confidence > 0).
    """
    if len(a) == 0 or len(b) == 0:
        return []
    cost = np.full((len(a), len(b)), np.inf)
    for i in range(len(a)):
        for j in range(len(b)):
            both = (a[i, :, 2] > 0) & (b[j, :, 2] > 0)
            if both.any():
                cost[i, j] = np.linalg.norm(a[i, both, :2] - b[j, both, :2], axis=1).mean()
    dists: list[float] = []
    used_a, used_b = set(), set()
    for flat in np.argsort(cost, axis=None):
        i, j = divmod(int(flat), len(b))
        if i in used_a or j in used_b or not np.isfinite(cost[i, j]):
            continue
        used_a.add(i)
        used_b.add(j)
        both = (a[i, :, 2] > 0) & (b[j, :, 2] > 0)
        dists.extend(np.linalg.norm(a[i, both, :2] - b[j, both, :2], axis=1).tolist())
    return dists


def agreement(ref: list, other: list) -> dict[str, Any]:
    """Same people count (fraction of frames) and mean keypoint distance (px)."""
    same = sum(len(r) == len(o) for r, o in zip(ref, other))
    dists: list[float] = []
    for r, o in zip(ref, other):
        dists.extend(_match_distance(np.asarray(r.keypoints), np.asarray(o.keypoints)))
    return {"frames": len(ref), "same_count": same / max(len(ref), 1),
            "mean_px": float(np.mean(dists)) if dists else 0.0,
            "max_px": float(np.max(dists)) if dists else 0.0}


# -- estimators --------------------------------------------------------------

_EST_PARAMS = set(inspect.signature(pf.Estimator).parameters)


def make_estimator(model: str, device: str, precision: str = "fp32", **kw) -> pf.Estimator:
    """An ONNX Runtime estimator (the CUDA engine) for ``model`` on ``device``."""
    if "engine" in _EST_PARAMS:
        kw["engine"] = "onnxruntime"
    if "precision" in _EST_PARAMS:
        kw["precision"] = precision
    elif precision != "fp32":
        raise ValueError("this posefast has no precision= option")
    return pf.Estimator(model=model, device=device, **kw)


def check_provider(est: pf.Estimator, device: str) -> dict[str, Any]:
    providers = list(getattr(est, "providers", []))
    ok = est.device == device and (device != "cuda" or (providers and providers[0] == "CUDAExecutionProvider"))
    return {"device": est.device, "providers": providers, "ok": bool(ok)}


def run_people(est: pf.Estimator, images: list[np.ndarray], batch: int = 1) -> list:
    out = []
    for i in range(0, len(images), batch):
        out.extend(est.batch(images[i:i + batch]))
    return out


def network_fps(est: pf.Estimator, frames: list[np.ndarray], batch: int, seconds: float) -> float:
    imgs = [frames[i % len(frames)] for i in range(batch)]
    x, _ = est.preprocess(imgs)
    est.forward(x)  # warm: session start-up, CUDA kernels, shape-specific plans
    done, t0 = 0, time.perf_counter()
    while True:
        est.forward(x)
        done += batch
        if time.perf_counter() - t0 >= seconds:
            break
    return done / (time.perf_counter() - t0)


def decode_fps(est: pf.Estimator, frames: list[np.ndarray], batch: int, seconds: float) -> float:
    imgs = [frames[i % len(frames)] for i in range(batch)]
    x, metas = est.preprocess(imgs)
    hm, paf = est.forward(x)
    h, w = metas[0].map_shape
    hm = np.ascontiguousarray(hm[:, :, :h, :w])
    paf = np.ascontiguousarray(paf[:, :, :h, :w])
    pf.decode_batch(hm, paf, layout=est.layout, config=est.config, threads=0)
    done, t0 = 0, time.perf_counter()
    while True:
        pf.decode_batch(hm, paf, layout=est.layout, config=est.config, threads=0)
        done += batch
        if time.perf_counter() - t0 >= seconds:
            break
    return done / (time.perf_counter() - t0)


_STAGE = re.compile(r"^(\w+)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)$")


def pipeline_bench(model: str, device: str, video: Path, batch: int, out: Path,
                   duration: Optional[float]) -> dict[str, Any]:
    """``posefast bench`` with JSON + table outputs; parses its report."""
    cmd = [sys.executable, "-m", "posefast.cli", "bench", str(video), "--model", model, "--device", device,
           "--batch-size", str(batch), "--quiet", "--write-json", str(out / f"json_b{batch}"),
           "--write-table", str(out / f"table_b{batch}.csv")]
    if "engine" in _EST_PARAMS:
        cmd += ["--engine", "onnxruntime", "--precision", "fp32"]
    if duration:
        cmd += ["--duration", str(duration)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    res: dict[str, Any] = {"batch": batch, "exit": proc.returncode, "stages_ms": {}}
    for line in proc.stdout.splitlines():
        m = _STAGE.match(line.strip())
        if m:
            res["stages_ms"][m.group(1)] = float(m.group(3))
        elif line.startswith("pipeline fps"):
            res["pipeline_fps"] = float(line.split()[-1])
        elif line.startswith("inference-only fps"):
            res["inference_fps"] = float(line.split()[2])
    if res["stages_ms"]:
        res["bound_by"] = max(res["stages_ms"], key=res["stages_ms"].get)
    if proc.returncode != 0:
        res["stderr"] = proc.stderr[-2000:]
    return res


# -- report ------------------------------------------------------------------

def environment(device: str) -> dict[str, Any]:
    env: dict[str, Any] = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                           "python": platform.python_version(), "posefast": pf.__version__,
                           "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                           "device": device}
    try:
        import onnxruntime as ort

        env["onnxruntime"] = ort.__version__
        env["providers_available"] = ort.get_available_providers()
    except ImportError:
        env["onnxruntime"] = None
    try:
        q = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                           capture_output=True, text=True, timeout=30)
        env["gpu"] = q.stdout.strip() or None
        v = subprocess.run(["nvidia-smi"], capture_output=True, text=True, timeout=30)
        m = re.search(r"CUDA Version:\s*([\d.]+)", v.stdout)
        env["cuda"] = m.group(1) if m else None
    except (OSError, subprocess.SubprocessError):
        env["gpu"] = None
    return env


def to_markdown(report: dict[str, Any]) -> str:
    e = report["environment"]
    lines = [f"# posefast GPU benchmark ({e['date']})", "",
             f"device {e['device']}; GPU {e.get('gpu')}; CUDA {e.get('cuda')}; onnxruntime {e.get('onnxruntime')}; "
             f"posefast {e['posefast']}; Python {e['python']}; {e['cores']} CPU cores", ""]
    lines += ["## Agreement with the CPU (people level)", "",
              "| model | precision | inputs | same people count | mean px | max px | gate |",
              "|---|---|---:|---:|---:|---:|---|"]
    for a in report["agreement"]:
        lines.append(f"| {a['model']} | {a['precision']} | {a['frames']} | {a['same_count']:.1%} | "
                     f"{a['mean_px']:.3f} | {a['max_px']:.2f} | {'pass' if a['pass'] else 'FAIL'} |")
    lines += ["", "## Throughput", "",
              "| model | precision | batch | network fps | decode fps (native, all cores) | pipeline fps "
              "(JSON + table) | bound by |", "|---|---|---:|---:|---:|---:|---|"]
    for t in report["throughput"]:
        p = t.get("pipeline") or {}
        lines.append(f"| {t['model']} | {t['precision']} | {t['batch']} | {t['network_fps']:.1f} | "
                     f"{t['decode_fps']:.1f} | {p.get('pipeline_fps', float('nan')):.1f} | {p.get('bound_by', '-')} |")
    if report.get("skipped"):
        lines += ["", "Skipped:"] + [f"- {s}" for s in report["skipped"]]
    if report.get("failures"):
        lines += ["", "Failures:"] + [f"- {s}" for s in report["failures"]]
    return "\n".join(lines) + "\n"


def save(report: dict[str, Any], out: Path) -> None:
    (out / "gpu_bench.json").write_text(json.dumps(report, indent=2))
    (out / "gpu_bench.md").write_text(to_markdown(report))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", help="cuda (the real run) or cpu (the rehearsal)")
    ap.add_argument("--out", required=True, type=Path, help="folder for gpu_bench.json / gpu_bench.md")
    ap.add_argument("--models", default="all", help="comma-separated registry names, or 'all' installed")
    ap.add_argument("--quick", action="store_true", help="few frames, short timings (rehearsal / CI)")
    ap.add_argument("--media", type=Path, default=Path(os.environ.get("POSEFAST_TEST_MEDIA", SHARED / "media")))
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    quick = args.quick
    seconds = 0.5 if quick else 3.0
    batches = (1, 2) if quick else BATCHES
    video = args.media / "dance.mp4"
    frames = dance_frames(video, 8 if quick else None)
    pics = [img for _, img in photos(args.media, 3 if quick else None)]

    report: dict[str, Any] = {"environment": environment(args.device), "provider": {}, "agreement": [],
                              "throughput": [], "skipped": [], "failures": []}
    wanted = None if args.models == "all" else set(args.models.split(","))
    models = []
    for spec in list_models():
        if wanted is not None and spec.name not in wanted:
            continue
        try:
            make_estimator(spec.name, "cpu")
            models.append(spec.name)
        except Exception as exc:  # noqa: BLE001 - not installed / not fetchable here: say so
            report["skipped"].append(f"{spec.name}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
    save(report, out)
    if not models:
        report["failures"].append("no registered model could be loaded")
        save(report, out)
        return 1

    for name in models:
        dev = make_estimator(name, args.device)
        prov = check_provider(dev, args.device)
        report["provider"][name] = prov
        if not prov["ok"]:
            report["failures"].append(f"{name}: asked for {args.device}, session runs on {prov['device']} "
                                      f"({prov['providers']})")
            save(report, out)
            continue
        cpu = make_estimator(name, "cpu")
        images = frames + pics
        ref = run_people(cpu, images)
        got = run_people(dev, images)
        a = agreement(ref, got)
        a.update(model=name, precision="fp32", **{"pass": a["same_count"] >= 0.99 and a["mean_px"] <= 1.0})
        report["agreement"].append(a)
        precisions = [("fp32", dev)]
        if args.device == "cuda":
            try:
                half = make_estimator(name, args.device, precision="fp16")
                h = agreement(got, run_people(half, images))
                h.update(model=name, precision="fp16")
                h["pass"] = h["same_count"] >= 0.99 and h["mean_px"] <= 1.0
                report["agreement"].append(h)
                if h["pass"]:
                    precisions.append(("fp16", half))
            except (ValueError, ImportError) as exc:
                report["skipped"].append(f"{name} fp16: {str(exc).splitlines()[0][:200]}")
        save(report, out)
        for prec, est in precisions:
            for b in batches:
                row = {"model": name, "precision": prec, "batch": b,
                       "network_fps": network_fps(est, frames, b, seconds),
                       "decode_fps": decode_fps(est, frames, b, seconds)}
                if prec == "fp32":
                    with tempfile.TemporaryDirectory() as tmp:  # outputs stay out of --out
                        row["pipeline"] = pipeline_bench(name, args.device, video, b, Path(tmp),
                                                         1.0 if quick else None)
                report["throughput"].append(row)
                save(report, out)
    bad = [a for a in report["agreement"] if not a["pass"]]
    for a in bad:
        report["failures"].append(f"{a['model']} {a['precision']}: agreement gate failed "
                                  f"({a['same_count']:.1%} same count, {a['mean_px']:.3f} px)")
    save(report, out)
    print(to_markdown(report))
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
