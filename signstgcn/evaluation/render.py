"""``signstgcn render``: a recording's skeleton drawn frame by frame, with what a checkpoint made of it.

The top panel draws every part the file holds (pose, both hands, the face's contours) in image coordinates, with
the body's true proportions where the file knows its frame size (x times width / height).
With a binary checkpoint the bottom panel is the detector's per-frame signing probability (``signstgcn detect``'s
defaults) with the threshold, the signing segments shaded and a cursor at the current frame; with a multi-class
checkpoint it is the top-k signs (of the window around the frame for sliding-window checkpoints, of the clip for
clip checkpoints), and with a ``min_confidence`` the prediction (``unknown`` below it). Without a checkpoint only
the skeleton is drawn.

GIF is written through Pillow (always there, with matplotlib); MP4 needs ffmpeg on the PATH and says so otherwise.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signstgcn.data.drawing import drawn_edges, drawn_xy, view_limits
from signstgcn.data.landmarks import Landmarks
from signstgcn.inference.api import detect
from signstgcn.inference.predictor import Detection, Predictor, Recognition, recognize
from signstgcn.inference.transcribe import Transcript, transcribe_landmarks

__all__ = ["FORMATS", "RenderResult", "render"]

FORMATS = (".gif", ".mp4")
_COLORS = {"pose": "#4c78a8", "left_hand": "#e45756", "right_hand": "#54a24b", "face": "#9d755d"}


@dataclass
class RenderResult:
    path: Path
    frames: int
    fps: float
    detection: Detection | None = None
    recognition: Recognition | None = None
    transcript: Transcript | None = None


def _segments(xy: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """``xy (V, 2)``, ``edges (E, 2)`` → ``(E, 2, 2)`` line segments; an edge with a missing end is NaN (not drawn)."""
    return np.stack([xy[edges[:, 0]], xy[edges[:, 1]]], axis=1)


def render(landmarks: Landmarks, out: str | Path, *, predictor: Predictor | None = None, fps: float | None = None,
           top_k: int = 5, width: float = 6.4, dpi: int = 80, overwrite: bool = False,
           classifier: Predictor | None = None) -> RenderResult:
    """Write the animation of ``landmarks`` to ``out`` (``.gif`` or ``.mp4``); see the module docstring.
    ``classifier`` (with a binary ``predictor``): the signs of each segment named as ``transcribe`` does, drawn over
    the probability trace and in the title."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import animation
    from matplotlib.collections import LineCollection

    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"--out {out}: expected a {' or '.join(FORMATS)} file")
    if out.exists() and not overwrite:
        raise ValueError(f"{out} exists; pass --overwrite to replace it")
    if out.suffix.lower() == ".mp4" and shutil.which("ffmpeg") is None:
        raise ValueError(f"--out {out}: MP4 needs ffmpeg on the PATH (e.g. apt-get install ffmpeg); write a .gif "
                         f"instead")
    rate = float(landmarks.fps or fps or 25.0)
    T = landmarks.num_frames
    detection = recognition = transcript = None
    if classifier is not None and (predictor is None or not predictor.binary):
        raise ValueError("signs are named inside a detector's segments: a classifier needs a binary checkpoint")
    if predictor is not None and predictor.binary:
        detection = detect(predictor, landmarks, fps=rate)
        if classifier is not None:
            transcript = transcribe_landmarks(predictor, classifier, landmarks, detection)
    elif predictor is not None:
        recognition = recognize(predictor, predictor.frames(landmarks))

    drawn = drawn_xy(landmarks)
    x0, x1, y0, y1 = view_limits(landmarks, drawn)
    aspect = (y1 - y0) / max(x1 - x0, 1e-6)
    below = 1.6 if predictor is not None else 0.0
    fig = plt.figure(figsize=(width, width * min(aspect, 1.6) + below), dpi=dpi)
    grid = fig.add_gridspec(2 if predictor is not None else 1, 1,
                            height_ratios=[width * min(aspect, 1.6), below] if predictor is not None else [1])
    ax = fig.add_subplot(grid[0])
    ax.set_xlim(x0, x1)
    ax.set_ylim(y1, y0)  # image coordinates: y down
    ax.set_aspect("equal")
    ax.axis("off")
    parts = []
    for part, arr in landmarks.arrays.items():
        lines = LineCollection([], colors=_COLORS.get(part, "k"), linewidths=1.0 if part == "face" else 1.8)
        ax.add_collection(lines)
        dots = ax.plot([], [], "o", ms=1.5 if part == "face" else 2.5, color=_COLORS.get(part, "k"))[0]
        edges = np.asarray(drawn_edges(part, arr.shape[1], landmarks.skeleton), dtype=np.int64).reshape(-1, 2)  # (E, 2)
        nodes = np.unique(edges) if part == "face" and len(edges) else np.arange(arr.shape[1])  # face: contour dots
        parts.append((drawn[part], edges, lines, dots, nodes))
    title = ax.set_title("", fontsize=9)
    update_panel = (_panel(fig, grid, detection, recognition, T, rate, top_k, predictor.window, transcript)
                    if predictor is not None else None)
    gloss_at = np.full(T, "", dtype=object)  # (T,) the sign shown in the title
    for sign in transcript.signs if transcript is not None else ():
        gloss_at[sign.start:sign.end] = f"  {sign.gloss} ({100 * sign.confidence:.0f}%)"

    def draw(t: int):
        for xy, edges, lines, dots, nodes in parts:
            lines.set_segments(list(_segments(xy[t], edges)))
            dots.set_data(xy[t, nodes, 0], xy[t, nodes, 1])
        title.set_text(f"{landmarks.path.name}  frame {t}  {t / rate:.2f} s{gloss_at[t]}")
        if update_panel is not None:
            update_panel(t)
        return []

    anim = animation.FuncAnimation(fig, draw, frames=T, blit=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.stem}.tmp{out.suffix}")  # not atomic_path: the writers pick the format by suffix
    try:
        writer = animation.PillowWriter(fps=rate) if out.suffix.lower() == ".gif" else \
            animation.FFMpegWriter(fps=rate)
        anim.save(tmp, writer=writer)
        tmp.replace(out)
    finally:
        tmp.unlink(missing_ok=True)
        plt.close(fig)
    return RenderResult(out, T, rate, detection, recognition, transcript)


def _panel(fig, grid, detection: Detection | None, recognition: Recognition | None, T: int, rate: float,
           top_k: int, window: int, transcript: Transcript | None = None):
    """The bottom panel; returns its per-frame update."""
    ax = fig.add_subplot(grid[1])
    if detection is not None:
        t = np.arange(T) / rate
        ax.plot(t, detection.probability, color="#4c78a8", lw=1.2, label="signing probability")
        ax.axhline(detection.threshold, color="#888", lw=0.8, ls="--", label=f"threshold {detection.threshold:.2f}")
        for seg in detection.segments:
            ax.axvspan(seg.start / rate, seg.end / rate, color="#f58518", alpha=0.25, lw=0)
        for sign in transcript.signs if transcript is not None else ():  # the glosses over their spans
            ax.axvline(sign.start / rate, color="#f58518", lw=0.6)
            ax.text((sign.start + sign.end) / 2 / rate, 0.06, sign.gloss, ha="center", va="bottom", fontsize=7,
                    rotation=90 if len(sign.gloss) > 6 else 0, clip_on=True)
        ax.set_xlim(0, max(T - 1, 1) / rate)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("time (s); shaded: signing segments", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7, loc="upper right")
        cursor = ax.axvline(0, color="k", lw=1.0)

        def update(frame: int) -> None:
            cursor.set_xdata([frame / rate, frame / rate])

        return update
    assert recognition is not None
    k = min(top_k, len(recognition.classes))

    def probs_at(frame: int) -> np.ndarray:
        if recognition.starts is None or recognition.window_probs is None:
            return recognition.video_probs
        w = int(np.argmin(np.abs(recognition.starts + (window - 1) / 2 - frame)))  # the window centred nearest
        return recognition.window_probs[w]

    bars = ax.barh(np.arange(k)[::-1], np.zeros(k), color="#4c78a8")
    ax.set_xlim(0, 1)
    ax.set_yticks(np.arange(k)[::-1])
    ax.tick_params(labelsize=7)
    where = "" if recognition.starts is not None else " (whole clip)"
    ax.set_xlabel(f"top signs{where}", fontsize=8)

    def update(frame: int) -> None:
        probs = probs_at(frame)
        if recognition.min_confidence > 0:
            ax.set_xlabel(f"top signs{where}; prediction: {recognition.label(probs)}", fontsize=8)
        top = recognition.top_k(probs, k)
        for bar, (_, p) in zip(bars, top):
            bar.set_width(p)
        ax.set_yticklabels([f"{name} {p:.2f}" for name, p in top])

    return update
