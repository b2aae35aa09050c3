"""What ``signstgcn serve`` runs on when not told: how many worker processes, and float32 or bfloat16.

- Workers (``--workers auto``): one per usable core on the CPU (one process is held to one core by Python's
  interpreter lock), one on a GPU, one where ``SO_REUSEPORT`` is missing (not Linux).
- bfloat16 (``--bf16`` / ``--no-bf16``, default auto): on where the CPU computes bfloat16 natively (the
  ``avx512_bf16`` or ``amx_bf16`` flags of x86, ``bf16`` of Arm) *and* the checkpoint keeps its answers in
  bfloat16: :func:`check_bf16` streams synthetic MediaPipe recordings (:mod:`signstgcn.data.synthetic`, with the
  parts the checkpoint reads) through the float32 and the bfloat16 detector; bfloat16 is used only if every final
  frame probability is within :data:`BF16_TOLERANCE` of float32's and at least :data:`BF16_AGREEMENT` of the
  frames get the same signing decision. On a GPU the default is float32.
"""

from __future__ import annotations

import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signstgcn.inference.multistream import MultiStreamDetector
from signstgcn.inference.predictor import Predictor
from signstgcn.runtime import usable_cpus

__all__ = ["BF16_AGREEMENT", "BF16_TOLERANCE", "Bf16Check", "check_bf16", "choose_bf16", "choose_workers",
           "native_bf16"]

BF16_TOLERANCE = 0.05  # the largest |p_bf16 - p_fp32| of a final frame probability accepted
BF16_AGREEMENT = 0.99  # the smallest share of frames whose signing decision must agree
_CHECK_STREAMS, _CHECK_SEED = 4, 1234


def native_bf16(cpuinfo: str | Path = "/proc/cpuinfo") -> bool:
    """Whether this CPU computes bfloat16 natively (its flags; False where they cannot be read)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return bool(flags & {"avx512_bf16", "amx_bf16", "bf16"})


def choose_workers(requested: int | None, device: str) -> tuple[int, str]:
    """``(workers, why)`` for ``--workers`` (None: auto)."""
    if requested is not None:
        return requested, "--workers"
    if device != "cpu":
        return 1, f"auto: one process drives the {device} device"
    if not hasattr(socket, "SO_REUSEPORT"):
        return 1, "auto: this system cannot share a port between processes"
    cores = usable_cpus()
    return cores, f"auto: {cores} usable core{'s' if cores != 1 else ''}"


@dataclass(frozen=True)
class Bf16Check:
    """float32 against bfloat16 on the check's synthetic streams."""

    frames: int
    max_difference: float  # the largest |p_bf16 - p_fp32| of a final frame probability
    agreement: float  # the share of frames with the same signing decision

    @property
    def passed(self) -> bool:
        return self.max_difference <= BF16_TOLERANCE and self.agreement >= BF16_AGREEMENT

    def describe(self) -> str:
        return (f"max |p_bf16 - p_fp32| {self.max_difference:.3f} (tolerance {BF16_TOLERANCE}), decisions agree on "
                f"{100 * self.agreement:.1f}% of {self.frames} synthetic frames (need {100 * BF16_AGREEMENT:.0f}%)")


def _synthetic_streams(predictor: Predictor) -> list[np.ndarray]:
    """``(T, V, C)`` frames of a few synthetic detection recordings in the checkpoint's joint order."""
    from signstgcn.data.readers import find_landmark_files, load_landmarks
    from signstgcn.data.synthetic import generate_dataset

    include_face = predictor.data.layout.include_face
    with tempfile.TemporaryDirectory(prefix="signstgcn-bf16-") as folder:
        generate_dataset(Path(folder) / "data", task="detection", num_signers=_CHECK_STREAMS, videos_per_signer=1,
                         include_face=include_face, seed=_CHECK_SEED, fps=predictor.fps or 25.0, frames=(140, 160))
        files = find_landmark_files(Path(folder) / "data")
        return [predictor.frames(load_landmarks(path)) for path in files.values()]


def _finals(detector: MultiStreamDetector, streams: list[np.ndarray]) -> list[np.ndarray]:
    """Every stream's final frame probabilities, the streams pushed together tick by tick."""
    ids = [detector.open() for _ in streams]
    out: list[list[np.ndarray]] = [[] for _ in streams]
    for t in range(max(len(s) for s in streams)):
        due = {sid: s[t] for sid, s in zip(ids, streams, strict=True) if t < len(s)}
        for k, step in enumerate(detector.push(due).get(sid) for sid in ids):
            if step is not None:
                out[k].append(step.final)
    for k, sid in enumerate(ids):
        out[k].append(detector.close(sid).final)
    return [np.concatenate(parts) for parts in out]


def check_bf16(predictor: Predictor, *, stride: int = 8, threshold: float | None = None) -> Bf16Check:
    """Compare the float32 and bfloat16 detectors of ``predictor`` on synthetic streams (see the module docstring)."""
    streams = _synthetic_streams(predictor)
    fp32 = _finals(MultiStreamDetector(predictor, stride=stride, threshold=threshold, max_streams=len(streams)),
                   streams)
    bf16_detector = MultiStreamDetector(predictor, stride=stride, threshold=threshold, max_streams=len(streams),
                                        bf16=True)
    bf16 = _finals(bf16_detector, streams)
    a, b = np.concatenate(fp32), np.concatenate(bf16)  # (frames,)
    both = np.isfinite(a) & np.isfinite(b)
    cut = bf16_detector.threshold
    return Bf16Check(frames=int(both.sum()), max_difference=float(np.abs(a[both] - b[both]).max(initial=0.0)),
                     agreement=float(np.mean((a[both] >= cut) == (b[both] >= cut))) if both.any() else 1.0)


def choose_bf16(requested: bool | None, predictor: Predictor, device: str, *, stride: int = 8,
                threshold: float | None = None) -> tuple[bool, str]:
    """``(bf16, why)`` for ``--bf16`` / ``--no-bf16`` (None: auto, see the module docstring)."""
    if requested is not None:
        return requested, "--bf16" if requested else "--no-bf16"
    if device != "cpu":
        return False, f"auto: float32 on {device}"
    if not native_bf16():
        return False, "auto: this CPU has no native bfloat16"
    if predictor.data.layout.skeleton != "mediapipe":
        return False, f"auto: no synthetic {predictor.data.layout.skeleton} data to check bfloat16 on"
    check = check_bf16(predictor, stride=stride, threshold=threshold)
    return check.passed, f"auto: {check.describe()}"
