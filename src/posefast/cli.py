"""The ``posefast`` command line.

``posefast run INPUT``     poses of an image, folder, glob, video, camera or URL, written as
                           OpenPose JSON, a table, COCO results and/or a rendered video
``posefast plot TABLE``    motion plots from a table written by ``run --write-table``
``posefast bench INPUT``   time per pipeline stage, pipeline fps and inference-only fps
``posefast models ...``    model registry (when ``posefast.models.cli`` is installed)

The CLI owns the terminal: messages go to stderr, the library only logs.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import threading
from typing import Optional, Sequence

__all__ = ["main", "build_parser", "EXIT_OK", "EXIT_FAILURE", "EXIT_USAGE", "EXIT_INTERRUPTED"]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130  # SIGINT; every stop signal gives 128 + its number (SIGHUP 129, SIGTERM 143)

#: signals that end a run cleanly (outputs closed and valid)
STOP_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n))

EPILOG = """\
exit status:
  0    success
  1    runtime failure after work started: a truncated or corrupt video (the message
       names the frame where reading stopped), a video whose frames had decode errors
       that FFmpeg concealed (all frames processed; the message says how many), or an
       output that could not be written (disk full, I/O error: the message names it).
       Every output is valid and complete up to the last frame processed.  With
       several inputs (--output-dir): at least one input failed, the others are
       complete (see DIR/summary.csv)
  2    usage error or bad input detected before any work (missing/unreadable input,
       unwritable output, --start past the end, a model that does not fit its
       layout or stride, unknown keypoint, bad option)
  130  interrupted by SIGINT (Ctrl-C); SIGTERM gives 143 and SIGHUP 129 (128 + the
       signal number, as shells report it): the current frame is finished and every
       output closed and valid.  A second signal stops at once (outputs still valid)
  after kill -9 or a crash, every output is still readable and holds every frame
  processed until about 1 s before the end; a .parquet table is a folder of parts
  that pandas.read_parquet reads as one table
"""

TABLE_HELP = """\
table columns (--write-table, .csv or .parquet), --table-layout tidy (default):
  frame       frame number in the source
  time        seconds from the start of the video (empty/NaN for still images)
  person      track id (with --no-track: the person's rank in the frame, 0 = best)
  keypoint    keypoint name, e.g. RWrist
  x, y        image pixels (or --keypoint-scale); empty/NaN when the keypoint was not found
  confidence  heatmap score; 0 when the keypoint was not found
  Every keypoint of every detected person is a row (K rows per person and frame);
  frames without people have no rows.
--table-layout wide: frame, time, person, then <Keypoint>_x, <Keypoint>_y, <Keypoint>_c
  for every keypoint in the model's order (Nose_x, Nose_y, Nose_c, Neck_x, ...); one
  row per person and frame; a frame without people is one row with empty values.
"""


class UsageError(Exception):
    """Bad command-line input found before work (exit 2)."""


def _int_at_least(lo: int):
    """An argparse type: an integer >= ``lo``."""

    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < lo:
            raise argparse.ArgumentTypeError(f"expected an integer >= {lo}, got {v}")
        return v

    return parse


_positive_int = _int_at_least(1)
_nonneg_int = _int_at_least(0)


def _seconds(text: str) -> float:
    """An argparse type: seconds (``40``, ``2.5``) or a clock time (``00:00:40``, ``1:05.5``)."""
    from .video.sources import parse_time

    try:
        return parse_time(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# Decoder options on the command line: flag, DecodeConfig field, metavar, help.  Types and
# defaults come from DecodeConfig itself.
_DECODE_FLAGS = (
    ("--upsample", "upsample", "S", "decode on maps upsampled S times (1 is fastest)"),
    ("--peak-threshold", "peak_threshold", "T", "heatmap value a keypoint peak must exceed"),
    ("--paf-threshold", "paf_threshold", "T", "PAF projection a limb sample must exceed"),
    ("--paf-min-above", "paf_min_above", "F", "fraction of a limb's samples that must pass"),
    ("--min-keypoints", "min_parts", "N", "drop people with fewer keypoints"),
    ("--min-person-score", "min_person_score", "S", "drop people whose mean score is lower"),
    ("--max-peaks", "max_peaks", "N", "peaks kept per keypoint, highest first"),
)


def _number_list(text: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers like 1,0.75,0.5, got {text!r}") from None
    if not vals or not all(math.isfinite(v) and v > 0 for v in vals):
        raise argparse.ArgumentTypeError(f"expected positive numbers like 1,0.75,0.5, got {text!r}")
    return vals


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}")
    return v


def _add_model_options(m) -> None:
    from .config import DecodeConfig
    from .engines import ENGINES, PRECISIONS
    from .models.presets import DEFAULT_PRESET, presets

    table = presets()
    lines = "; ".join(f"{p.name}: {p.model} {p.precision} at {p.net_height}"
                      + (f" scales {','.join(f'{s:g}' for s in p.scales)}" if len(p.scales) > 1 else "")
                      for p in table.values())
    m.add_argument("--preset", choices=tuple(table), default=DEFAULT_PRESET,
                   help=f"model, engine, precision, net height and scales in one (default {DEFAULT_PRESET}; "
                        f"{lines}); the options below override its fields")
    m.add_argument("--model", default=None,
                   help="model name (`posefast models list`) or .onnx / OpenVINO .xml path (default: the preset's)")
    m.add_argument("--engine", default=None, choices=("auto",) + ENGINES,
                   help="inference engine (default: the preset's, openvino; auto = fastest installed)")
    m.add_argument("--precision", default=None, choices=("auto",) + PRECISIONS,
                   help="network arithmetic (default: the preset's; int8 needs a model with an int8 form, "
                        "bf16 a CPU with bf16, fp16 CUDA)")
    m.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default auto)")
    m.add_argument("--net-height", type=_positive_int, default=None, metavar="PX",
                   help="network input height (default: the preset's, or the model's own)")
    m.add_argument("--scales", type=_number_list, default=None, metavar="S1,S2,...",
                   help="network scales relative to --net-height, maps averaged (e.g. 1,0.75,0.5)")
    m.add_argument("--scale-number", type=_positive_int, default=None, metavar="N",
                   help="OpenPose's convention: N scales 1, 1-G, 1-2G, ... (with --scale-gap)")
    m.add_argument("--scale-gap", type=_positive_float, default=None, metavar="G",
                   help="gap between scales for --scale-number (default 0.25, as OpenPose)")
    m.add_argument("--batch-size", type=_positive_int, default=1, metavar="N", help="frames per network call")
    m.add_argument("--backend", default="auto", help="decoder backend: auto, native, numba or python")
    m.add_argument("--threads", type=_positive_int, default=None, metavar="N",
                   help="inference engine threads (default: all cores)")
    defaults = DecodeConfig()
    for flag, name, metavar, text in _DECODE_FLAGS:
        kind = type(getattr(defaults, name))
        m.add_argument(flag, type=_nonneg_int if kind is int else float, default=None,
                       metavar=metavar, help=f"{text} (default {getattr(defaults, name)})")


def _scales_from_args(args) -> Optional[tuple[float, ...]]:
    """--scales, or OpenPose's --scale-number/--scale-gap, or None (the preset's)."""
    if args.scales is not None and (args.scale_number is not None or args.scale_gap is not None):
        raise UsageError("give either --scales or --scale-number/--scale-gap, not both")
    if args.scale_number is None:
        if args.scale_gap is not None:
            raise UsageError("--scale-gap needs --scale-number")
        return args.scales
    gap = 0.25 if args.scale_gap is None else args.scale_gap
    scales = tuple(round(1.0 - i * gap, 6) for i in range(args.scale_number))
    if scales[-1] <= 0:
        raise UsageError(f"--scale-number {args.scale_number} with --scale-gap {gap:g} reaches scale "
                         f"{scales[-1]:g}; scales must stay > 0")
    return scales


def _add_input_options(p: argparse.ArgumentParser, many: bool = False) -> None:
    p.add_argument("input", metavar="INPUT", nargs="+" if many else None,
                   help="image, folder of images, glob pattern (quote it), video file, camera index "
                        "(0, 1, ...) or URL (web pages need yt-dlp)"
                        + ("; several INPUTs, globs and @LIST files need --output-dir" if many else ""))
    g = p.add_argument_group("input trimming")
    g.add_argument("--start", type=_seconds, default=0.0, metavar="TIME",
                   help="skip this much: seconds (40, 2.5) or HH:MM:SS(.ms) / MM:SS (00:00:40)")
    g.add_argument("--duration", type=_seconds, default=None, metavar="TIME",
                   help="process this much, same forms as --start (default: to the end)")
    g.add_argument("--frame-step", type=_positive_int, default=1, metavar="N", help="process every N-th frame")
    _add_model_options(p.add_argument_group("model and decoding"))
    t = p.add_argument_group("tracking")
    t.add_argument("--track", dest="track", action="store_true", default=None,
                   help="stable person ids across frames (default for videos, cameras and URLs; image "
                        "inputs are independent pictures unless --track is given)")
    t.add_argument("--no-track", dest="track", action="store_false", help="no tracking (person_id -1)")
    t.add_argument("--max-missing", type=_nonneg_int, default=10, metavar="FRAMES",
                   help="frames a person may vanish before the id is retired (default 10)")
    t.add_argument("--smooth", action="store_true", help="One-Euro smoothing of keypoints (per track)")
    t.add_argument("--min-cutoff", type=float, default=1.0, help="One-Euro min cutoff, Hz (default 1.0)")
    t.add_argument("--beta", type=float, default=0.05, help="One-Euro speed coefficient (default 0.05)")
    t.add_argument("--d-cutoff", type=float, default=1.0, help="One-Euro speed cutoff, Hz (default 1.0)")
    o = p.add_argument_group("outputs (any combination, written in one pass)")
    o.add_argument("--write-json", metavar="DIR",
                   help="OpenPose JSON: <video>_<frame:012d>_keypoints.json per frame, <image>_keypoints.json "
                        "per image")
    o.add_argument("--write-table", metavar="FILE",
                   help="keypoint table (columns below): FILE.csv, or FILE.parquet, written as a folder "
                        "of part files that pandas/pyarrow read as one table")
    o.add_argument("--table-layout", choices=("tidy", "wide"), default="tidy",
                   help="tidy: a row per keypoint; wide: a row per person with <Keypoint>_x/_y/_c columns "
                        "(default tidy)")
    o.add_argument("--keypoint-scale", type=int, choices=(0, 3, 4), default=0,
                   help="x, y in --write-json and --write-table: 0 pixels, 3 [0, 1], 4 [-1, 1] (OpenPose's "
                        "--keypoint_scale; default 0)")
    o.add_argument("--write-coco", metavar="FILE",
                   help="COCO keypoint results JSON (COCO-17 order); image_id = the number ending an image's "
                        "file name, else the frame number (with FILE.image_ids.json for images)")
    o.add_argument("--write-video", metavar="FILE",
                   help="rendered video: H.264 MP4 with the source's sound, fragmented so that it plays even "
                        "after a kill (.mp4, .m4v, .mov or .mkv)")
    o.add_argument("--write-video-fps", type=float, default=None, metavar="FPS",
                   help="frame rate of --write-video (default: source fps / --frame-step, 1 for images; "
                        "another rate drops the sound)")
    o.add_argument("--video-preset", default="ultrafast", metavar="NAME",
                   help="x264 preset of --write-video: ultrafast (default, keeps up on 2 cores), veryfast, "
                        "medium, ... (slower = smaller file)")
    o.add_argument("--no-video-audio", action="store_true", help="--write-video without the source's sound")
    o.add_argument("--write-images", metavar="DIR",
                   help="rendered frames: <image>_rendered.png per image, <video>_<frame:012d>_rendered.png "
                        "per frame")
    o.add_argument("--write-images-format", dest="images_format", choices=("png", "jpg"), default="png",
                   help="file format of --write-images (default png)")
    o.add_argument("--render", choices=("overlay", "skeleton"), default="overlay",
                   help="--write-video/--write-images content: skeleton over the frame, or on black "
                        "(default overlay)")
    p.add_argument("--quiet", "-q", action="store_true",
                   help="no progress bar or summary, and no FFmpeg/OpenCV warnings")
    p.add_argument("--verbose", "-v", action="store_true", help="log at INFO level (FFmpeg's warnings included)")


def _add_people_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("people per frame")
    g.add_argument("--number-people-max", type=_positive_int, default=None, metavar="N",
                   help="keep the N best people of each frame, ranked as OpenPose's --number_people_max "
                        "(score x sqrt(box area): whole skeletons before fragments; default: all)")
    g.add_argument("--single-person", action="store_true",
                   help="one person per frame without PAFs: per keypoint the heatmap's global maximum "
                        "above 0.2 (DecodeConfig.single_person())")


def _people_config(args, config):
    """``config`` (a DecodeConfig or None = defaults) with --number-people-max and
    --single-person applied; unchanged when neither is given."""
    from . import DecodeConfig

    npm, single = getattr(args, "number_people_max", None), getattr(args, "single_person", False)
    if npm is None and not single:
        return config
    cfg = config if config is not None else DecodeConfig()
    if single:  # the preset's departures from the defaults, on top of the other options
        preset, default = DecodeConfig.single_person().as_dict(), DecodeConfig().as_dict()
        cfg = cfg.replace(**{k: v for k, v in preset.items() if v != default[k]})
    return cfg.replace(number_people_max=npm) if npm is not None else cfg


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``posefast`` command."""
    from . import __version__

    parser = argparse.ArgumentParser(prog="posefast", description="Fast OpenPose-style multi-person pose estimation.",
                                     epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"posefast {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    run = sub.add_parser("run", help="estimate poses and write outputs", epilog=TABLE_HELP + "\n" + EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter,
                         description="Estimate poses in an image, folder, video, camera or URL.")
    _add_input_options(run, many=True)
    _add_people_options(run)
    from .batch import add_options as _add_batch_options

    _add_batch_options(run)
    run.set_defaults(func=cmd_run)

    bench = sub.add_parser("bench", help="time each pipeline stage", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter,
                           description="Run the pipeline and report seconds per stage, pipeline fps and "
                                       "inference-only fps (network alone on the same frames).")
    _add_input_options(bench)
    _add_people_options(bench)
    bench.set_defaults(func=cmd_bench)

    plot = sub.add_parser("plot", help="motion plots from a table", epilog=EPILOG,
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          description="Plot x, y and their frame-to-frame change over time, one row per keypoint.")
    plot.add_argument("table", metavar="TABLE", help="table written by `posefast run --write-table` (.csv/.parquet)")
    plot.add_argument("-o", "--output", required=True, metavar="FILE", help="image to write (e.g. motion.png)")
    plot.add_argument("--keypoints", default="RWrist,LWrist", metavar="NAMES",
                      help="comma-separated keypoint names, or 'all' (default RWrist,LWrist)")
    plot.add_argument("--person", type=int, default=None, metavar="N",
                      help="person (track id) to plot (default: the one seen in the most frames)")
    plot.add_argument("--dpi", type=_positive_int, default=100)
    plot.add_argument("--quiet", "-q", action="store_true", help="no message when done")
    plot.set_defaults(func=cmd_plot)

    try:
        from .models import cli as models_cli  # noqa: F401 - optional, owned by posefast.models
    except ImportError:
        models_cli = None
    if models_cli is not None and hasattr(models_cli, "add_parser"):
        models_cli.add_parser(sub)
    return parser


def _say(args, msg: str) -> None:
    if not getattr(args, "quiet", False):
        print(msg, file=sys.stderr)


def _error(msg: str) -> None:
    print(f"posefast: error: {msg}", file=sys.stderr)


def _make_estimator(args):
    from . import DecodeConfig
    from .models.estimator import Estimator
    from .models.presets import get_preset

    preset = get_preset(args.preset)
    given = {name: getattr(args, flag[2:].replace("-", "_")) for flag, name, _, _ in _DECODE_FLAGS}
    changes = {name: v for name, v in given.items() if v is not None}
    config = DecodeConfig(**preset.decode) if preset.decode else None
    if changes:
        try:
            config = DecodeConfig(**{**preset.decode, **changes})
        except (TypeError, ValueError) as exc:
            raise UsageError(str(exc).replace("DecodeConfig.", "decoder option ")) from None
    config = _people_config(args, config)
    return Estimator(model=args.model, device=args.device, net_height=args.net_height, backend=args.backend,
                     config=config, threads=args.threads, scales=_scales_from_args(args), engine=args.engine,
                     precision=args.precision, preset=preset)


def _is_images(source) -> bool:
    from .video.sources import ImageSource

    return isinstance(source, ImageSource)


def _video_sink(args, source, layout, timings):
    """--write-video: frame rate and sound from the source (see posefast.video.avvideo)."""
    from .video.avvideo import AudioSpan, make_video_sink

    images = _is_images(source)
    step = max(int(getattr(source, "step", 1) or 1), 1)
    natural = None if images or not source.fps else source.fps / step
    if args.write_video_fps is not None and not (math.isfinite(args.write_video_fps) and args.write_video_fps > 0):
        raise UsageError(f"--write-video-fps must be > 0, got {args.write_video_fps:g}")
    fps = args.write_video_fps or natural or (1.0 if images else 25.0)
    audio = None
    media = getattr(source, "media", None)
    if media is not None and not args.no_video_audio:
        if natural is not None and abs(fps - natural) < 1e-3:
            start = source.start_frame / source.fps
            end = None if source.stop_frame is None else source.stop_frame / source.fps
            audio = AudioSpan(str(media), start, end)
        else:
            logging.getLogger("posefast").warning(
                "--write-video %s at %g fps (the source's span plays at %g fps): the sound is left out, it "
                "would drift", args.write_video, fps, natural or 0)
    return make_video_sink(args.write_video, fps, source.size, args.render, layout, audio=audio,
                           timings=timings, preset=args.video_preset)


def _open_sinks(args, source, est, timings) -> list:
    from .video.imagesink import ImageSink
    from .video.sinks import CocoSink, JsonSink, TableSink, ThreadedSink

    sinks = []
    layout = est.layout
    images = _is_images(source)
    # construct (checks names and formats) before creating anything on disk
    if args.write_json:
        sinks.append(JsonSink(args.write_json, per_image=images, keypoint_scale=args.keypoint_scale))
    if args.write_table:
        sinks.append(TableSink(args.write_table, layout, table_layout=args.table_layout,
                               keypoint_scale=args.keypoint_scale))
    if args.write_coco:
        listed = [(i * source.step, p) for i, p in enumerate(source.paths)] if images else None
        sinks.append(CocoSink(args.write_coco, layout, images=listed))
    if args.write_video:
        sinks.append(ThreadedSink(_video_sink(args, source, layout, timings)))
    if args.write_images:
        sinks.append(ThreadedSink(ImageSink(args.write_images, args.render, layout,
                                            image_format=args.images_format, per_image=images,
                                            timings=timings)))
    opened = []
    try:
        for s in sinks:
            s.open()
            opened.append(s)
    except BaseException:
        for s in opened:  # leave nothing behind: the run failed before any work
            s.discard()
        raise
    return sinks


class _Interrupt:
    """SIGINT, SIGTERM and SIGHUP end a run the same way.

    Before the run starts (``event`` unset): raise KeyboardInterrupt, so set-up
    removes what it created.  During the run, the first signal sets ``event``: the
    pipeline ends after the current frame and every output is closed.  A second
    signal raises KeyboardInterrupt at once (outputs stay valid: every write keeps
    its file valid); later ones are ignored so that closing can finish.  ``signum``
    is the first signal received (exit status 128 + signum).
    """

    def __init__(self, event: Optional[threading.Event] = None) -> None:
        self.event = event
        self.signum: Optional[int] = None
        self._raised = False
        self._old: dict = {}

    def _handler(self, signum, frame) -> None:
        if self.signum is None:
            self.signum = signum
        if self.event is not None and not self.event.is_set():
            self.event.set()
            return
        if not self._raised:
            self._raised = True
            raise KeyboardInterrupt

    @property
    def exit_code(self) -> int:
        return 128 + int(self.signum) if self.signum is not None else EXIT_INTERRUPTED

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else "SIGINT"

    def __enter__(self) -> "_Interrupt":
        if threading.current_thread() is threading.main_thread():
            for sig in STOP_SIGNALS:
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)
        self._old.clear()


def _check_model_fits(est, source) -> None:
    """One network pass and decode on a blank frame of the source's size: a model whose
    outputs do not fit its layout or stride, or a decode grid over the cap (--upsample with
    a large --net-height), fails here (ValueError, exit 2), before any output exists."""
    import numpy as np

    w, h = source.size
    if w <= 0 or h <= 0:
        return
    x, metas = est.preprocess([np.zeros((h, w, 3), np.uint8)])
    hm, pafs = est.forward(x)
    est.postprocess(hm, pafs, metas)


def _prepare(args, estimator=None):
    """Open the source, the estimator (unless given) and the sinks: everything that may fail before work."""
    from .video.pipeline import StageTimes, process
    from .video.smoothing import OneEuroConfig
    from .video.sources import open_source
    from .video.tracking import TrackerConfig

    if args.smooth and args.track is False:
        raise UsageError("--smooth works per track: it cannot be combined with --no-track")
    try:
        smooth = OneEuroConfig(args.min_cutoff, args.beta, args.d_cutoff) if args.smooth else False
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.duration is not None and args.duration <= 0:
        raise UsageError("--duration must be > 0 seconds")
    source = open_source(args.input, start=args.start, duration=args.duration, step=args.frame_step)
    sinks: list = []
    try:
        # image inputs are independent pictures unless --track is given (args stay as parsed:
        # a run over several inputs resolves this per input)
        track = args.track if args.track is not None else not _is_images(source)
        if args.smooth and not track:
            raise UsageError("--smooth works per track, and image inputs are not tracked unless you add --track")
        est = estimator if estimator is not None else _make_estimator(args)
        _check_model_fits(est, source)
        timings = StageTimes()
        sinks = _open_sinks(args, source, est, timings)
        keep = any(s.needs_image for s in sinks)
        cancel = threading.Event()
        pipe = process(source, est, batch_size=args.batch_size, track=track,
                       tracker=TrackerConfig(max_missing=args.max_missing), smooth=smooth,
                       keep_images=keep, timings=timings, cancel=cancel)
    except BaseException:  # Ctrl-C during set-up included: nothing half-made stays behind
        for s in sinks:
            s.discard()
        source.close()
        raise
    return source, est, sinks, pipe, timings, cancel


_SETUP_ERRORS = (UsageError, ValueError, TypeError, ImportError, FileNotFoundError, PermissionError, OSError)


def _run_pipeline(args, *, bench: bool = False) -> int:
    with _Interrupt() as intr:
        try:
            return _run_prepared(args, intr, bench)
        except KeyboardInterrupt:
            print(f"posefast: interrupted by {intr.name}", file=sys.stderr)
            return intr.exit_code


def _damage_warning(source) -> Optional[str]:
    """The warning about frames FFmpeg concealed decode errors in, if any."""
    report = getattr(source, "damage", None)
    report = report() if callable(report) else None
    return str(report) if report else None


def _run_prepared(args, intr: "_Interrupt", bench: bool) -> int:
    from tqdm import tqdm

    from .video.runner import run_to_sinks
    from .video.sources import FrameReadError

    try:
        source, est, sinks, pipe, timings, cancel = _prepare(args)
    except _SETUP_ERRORS as exc:
        _error(str(exc))
        return EXIT_USAGE
    intr.event = cancel

    alone_before = None
    if bench:
        from .video.bench import inference_only_fps, warm_up

        # the network alone, before and after the pipeline run: on a shared machine the
        # load changes, and the pipeline is compared with the mean of the two
        warm_up(est, source)
        n_alone = min(source.expected_frames or 100, 100)
        alone_before = inference_only_fps(est, args.input, start=args.start, step=args.frame_step,
                                          batch_size=args.batch_size, frames=n_alone)
    show_bar = not args.quiet and sys.stderr.isatty()
    bar = tqdm(total=source.expected_frames, unit="frame", disable=not show_bar, dynamic_ncols=True,
               desc=source.name, file=sys.stderr)
    # a stop signal sets the pipeline's cancel event: the run ends after the current frame
    summary = run_to_sinks(pipe, sinks, on_frame=lambda r: bar.update(1))
    bar.close()
    err = summary.error
    done = (f"{summary.frames} frames in {summary.seconds:.1f} s ({summary.fps:.1f} fps)")
    damage = _damage_warning(source)
    if damage:
        print(f"posefast: warning: {damage}", file=sys.stderr)
    if err is None and not summary.cancelled and not damage:
        if bench:
            from .video.bench import format_report

            alone_after = inference_only_fps(est, args.input, start=args.start, step=args.frame_step,
                                             batch_size=args.batch_size, frames=n_alone)
            print(format_report(timings, summary, (alone_before, alone_after), batch_size=args.batch_size))
        else:
            found = 100.0 * summary.people_frames / summary.frames if summary.frames else 0.0
            ids = sorted(summary.ids)
            id_text = (f"; track ids: {', '.join(map(str, ids[:20]))}{' ...' if len(ids) > 20 else ''}"
                       if pipe.tracker is not None else "")
            _say(args, f"posefast: {done}; people in {found:.0f}% of frames{id_text}")
        return EXIT_OK
    if summary.cancelled or isinstance(err, KeyboardInterrupt):
        print(f"posefast: interrupted by {intr.name} after {done}; outputs closed", file=sys.stderr)
        return intr.exit_code
    from .video.sinks import OutputWriteError

    others = "".join(f"; also {e}" for e in summary.close_errors)
    if err is None:  # every frame processed, but some were decoded from damaged data
        _say(args, f"posefast: {done}; outputs complete")
    elif isinstance(err, FrameReadError):
        _error(f"{err} Outputs hold the {summary.frames} frames processed.{others}")
    elif isinstance(err, OutputWriteError):
        _error(f"{err} (output failed after {done}; it holds the frames written before the failure, "
               f"the other outputs are closed and valid{others})")
    else:
        _error(f"{type(err).__name__}: {err} (after {done}; outputs closed)")
        logging.getLogger("posefast").debug("failure", exc_info=err)
    return EXIT_FAILURE


def cmd_run(args) -> int:
    """``posefast run``."""
    from .batch import cmd_run_many, is_batch

    if is_batch(args):
        return cmd_run_many(args)
    args.input = args.input[0]
    return _run_pipeline(args)


def cmd_bench(args) -> int:
    """``posefast bench``."""
    return _run_pipeline(args, bench=True)


def cmd_plot(args) -> int:
    """``posefast plot``."""
    from .video.plot import PlotError, plot_motion, read_table

    import os
    from pathlib import Path

    out_dir = Path(args.output).resolve().parent
    if not out_dir.is_dir() or not os.access(out_dir, os.W_OK):
        _error(f"cannot write {args.output}: folder {out_dir} is missing or not writable")
        return EXIT_USAGE
    names = None if args.keypoints.strip().lower() == "all" else [k for k in args.keypoints.split(",") if k.strip()]
    try:
        table = read_table(args.table)
        out = plot_motion(table, args.output, keypoints=names, person=args.person, dpi=args.dpi)
    except PlotError as exc:
        _error(str(exc))
        return EXIT_USAGE
    except OSError as exc:
        _error(f"cannot write {args.output}: {exc.strerror or exc}")
        return EXIT_USAGE
    _say(args, f"posefast: wrote {out}")
    return EXIT_OK


_LOG_ENV = ("OPENCV_FFMPEG_LOGLEVEL", "OPENCV_LOG_LEVEL")


def _third_party_logs(quiet: bool, verbose: bool) -> None:
    """FFmpeg's and OpenCV's own messages: none under -q, FFmpeg's warnings too under -v.

    OpenCV's FFmpeg reads ``OPENCV_FFMPEG_LOGLEVEL`` when it first opens a video, so the
    variable is set here, before any input is opened (a value already set wins).  PyAV
    keeps FFmpeg quiet unless asked; under -v its messages go to the logging module.
    """
    if quiet:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")   # AV_LOG_QUIET
        os.environ.setdefault("OPENCV_LOG_LEVEL", "SILENT")
        try:
            import cv2

            cv2.setLogLevel(0)  # LOG_LEVEL_SILENT: OpenCV's own [ WARN ] lines
        except (ImportError, AttributeError):  # pragma: no cover
            pass
    elif verbose:
        os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "24")   # AV_LOG_WARNING
        try:
            import av.logging

            av.logging.set_level(av.logging.WARNING)
        except ImportError:
            pass


def _split_ray_flag(argv: Sequence[str]) -> list[str]:
    """``--ray INPUT``: the optional ADDRESS of ``--ray`` would swallow the first input.

    When the word after ``--ray`` is an input (an existing path, a glob, ``@list``, a media
    URL) rather than a Ray address (``auto``, ``HOST:PORT``, ``ray://...``), it is given back
    to the inputs and ``--ray`` starts a local Ray, as ``--ray`` alone does.
    """
    out = list(argv)
    for i, word in enumerate(out[:-1]):
        if word != "--ray":
            continue
        nxt = out[i + 1]
        looks_like_input = (os.path.exists(nxt) or nxt.startswith("@") or any(c in nxt for c in "*?[")
                            or nxt.lower().startswith(("http://", "https://")))
        if looks_like_input and not nxt.startswith("-"):
            out[i] = "--ray="
    return out


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``posefast`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(_split_ray_flag(sys.argv[1:] if argv is None else argv))
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        return int(exc.code or 0)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    saved = {k: os.environ.get(k) for k in _LOG_ENV}
    _third_party_logs(quiet=getattr(args, "quiet", False), verbose=getattr(args, "verbose", False))
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("posefast: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - a bug or an unforeseen failure: say it, exit 1
        logging.getLogger("posefast").info("unexpected failure", exc_info=True)
        _error(f"{type(exc).__name__}: {exc} (run with -v for details)")
        return EXIT_FAILURE
    finally:  # main() called in-process (tests, notebooks): leave the environment as it was
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
