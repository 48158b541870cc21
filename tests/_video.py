"""Reading a rendered video back with PyAV (FFmpeg), the way a player would."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass
class VideoProbe:
    codec: str                    # video codec name, e.g. "h264"
    pix_fmt: str                  # e.g. "yuv420p"
    size: tuple[int, int]         # (width, height)
    fps: float                    # the stream's average frame rate
    frames: int                   # frames actually decoded
    seconds: float                # video stream duration
    audio_codec: Optional[str]    # None: no audio stream
    audio_seconds: float          # samples decoded / sample rate
    error: Optional[str]          # decoding stopped on this error (a truncated file), else None


def probe(path: Path) -> VideoProbe:
    """Decode every video frame and audio sample of ``path``.

    A damaged tail (a file cut by a kill or a full disk) ends decoding early; the
    error is recorded instead of raised, so callers can check what was playable.
    """
    import av

    error = None
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        codec, pix_fmt = vs.codec_context.name, vs.codec_context.pix_fmt
        size = (vs.codec_context.width, vs.codec_context.height)
        fps = float(vs.average_rate) if vs.average_rate else 0.0
        seconds = float(vs.duration * vs.time_base) if vs.duration else 0.0
        audio_codec = c.streams.audio[0].codec_context.name if c.streams.audio else None
        frames = 0
        try:
            for _ in c.decode(video=0):
                frames += 1
        except av.error.FFmpegError as exc:
            error = str(exc)
    samples, rate = 0, 1
    if audio_codec is not None:
        with av.open(str(path)) as c:
            rate = c.streams.audio[0].codec_context.sample_rate or 1
            try:
                for f in c.decode(audio=0):
                    samples += f.samples
            except av.error.FFmpegError as exc:
                error = error or str(exc)
    return VideoProbe(codec, pix_fmt, size, fps, frames, seconds, audio_codec, samples / rate, error)
