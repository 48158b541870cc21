"""Network maps from the shared model, for decoder tests: preprocessing as MODEL.md
says (BGR, raw 0..255, INTER_CUBIC to height 368, width a multiple of 16)."""

from pathlib import Path

import cv2
import numpy as np


def net_input(img: np.ndarray, net_h: int = 368) -> np.ndarray:
    h, w = img.shape[:2]
    net_w = max(16, int(round(w * net_h / h / 16)) * 16)
    x = cv2.resize(img, (net_w, net_h), interpolation=cv2.INTER_CUBIC)
    return x.astype(np.float32).transpose(2, 0, 1)[None]


class MapMaker:
    def __init__(self, model: Path):
        import onnxruntime as ort

        self.sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])

    def __call__(self, img: np.ndarray) -> np.ndarray:
        """float32 [57, h, w]: heatmaps 0..18 (18 = background), PAFs 19..56."""
        return self.sess.run(None, {"image": net_input(img)})[0][0]


def video_frames(path: Path, step: int = 1):
    cap = cv2.VideoCapture(str(path))
    i = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                return
            if i % step == 0:
                yield i, frame
            i += 1
    finally:
        cap.release()
