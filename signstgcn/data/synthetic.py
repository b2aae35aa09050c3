"""Synthetic MediaPipe-Holistic-like landmark datasets for demos, tests and CI.

`generate_dataset` writes a folder in exactly the user data format (DESIGN §2): `<video_id>.npz` with
float32 `pose` (T, 33, 4: x, y, z, visibility), `left_hand` / `right_hand` (T, 21, 3), optional `face`
(T, 478, 3) and a scalar `fps`; NaN where a part was not detected; plus `groundtruth.txt`
(`<video_id> <frame> <label>`), `signers.txt` (`<video_id> <signer_id>`) and `synthetic.json` (the
generation settings and the true signer parameters).

The generator is a small forward model:
- signers (`SignerStyle`): body proportions, camera distance/position/aspect, speed, amplitude,
  handedness and rest posture, spread out by a maximin Latin hypercube so that signers stay distinct;
- motion tracks: per frame two hand states (wrist position, hand roll/yaw, finger flexion) built from
  sign prototypes (class-specific place, movement, handshape, one/two hands), rests, pauses, fidgets;
- a renderer: 3-D two-link IK for the arms, a 21-point hand model, a head/face template, legs below
  the frame, a camera, and a MediaPipe-like detector (jitter, hands lost when lowered or out of frame,
  burst dropouts, whole-frame dropouts).

Body frame: x to the image right, y down, depth negative toward the camera, origin at the shoulder
midpoint, unit = the signer's shoulder width. Hand states live in the hand's *ipsilateral* frame: the
right hand's body coordinates, x mirrored for the left hand, so one prototype serves both hands and both
handednesses (a left-handed signer signs the mirror image). State slot 0 is the dominant hand, 1 the other.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from signstgcn.data import _facemesh
from signstgcn.errors import DataError

__all__ = [
    "HANDSHAPES",
    "NUM_FACE",
    "NUM_HAND",
    "NUM_POSE",
    "REST_LABEL",
    "SIGN_LABEL",
    "TASKS",
    "check_out_dir",
    "SignPrototype",
    "SignerStyle",
    "SyntheticInfo",
    "class_names",
    "face_template",
    "generate_dataset",
    "hand_landmarks",
    "make_signers",
    "sign_prototypes",
]

TASKS = ("detection", "recognition")
REST_LABEL = "n"
SIGN_LABEL = "s"
NUM_POSE, NUM_HAND, NUM_FACE = 33, 21, 478
DEFAULT_FRAMES = {"detection": (300, 450), "recognition": (30, 60)}
DEFAULT_VIDEOS_PER_SIGNER = 3  # detection; recognition default: 6 clips per class and signer
_CLIPS_PER_CLASS = 6

# Hand state (D = 12 per hand): x, y, depth, roll, yaw, flexion (thumb, index, middle, ring, pinky), spread, opp.
_POS = slice(0, 3)
_ROLL, _YAW = 3, 4
_SHAPE = slice(5, 12)
_OWN_FILES = ("groundtruth.txt", "signers.txt", "synthetic.json")
_VIDEO_FILE = re.compile(r"sig\d+_vid\d+\.npz")

# ----------------------------------------------------------------------------------------- public types


@dataclass(frozen=True)
class SignerStyle:
    """One synthetic signer: body, camera and signing style (lengths in shoulder widths)."""

    signer_id: str
    scale: float  # shoulder width in image-width units (camera distance)
    center: tuple[float, float]  # shoulder midpoint in normalized image coordinates
    aspect: float  # image width / height (4:3): body y is stretched by it in normalized coordinates
    roll: float  # camera roll, degrees
    upper_arm: float
    forearm: float
    hand: float  # wrist -> middle-finger MCP
    head: float  # nose height above the shoulder line
    eye: float  # eye-centre distance
    torso: float  # hip line below the shoulder line
    hip_width: float
    speed: float  # > 1 signs faster
    amplitude: float  # movement size multiplier
    right_handed: bool
    rest: str  # "lap" (hands on the lap, often in frame) | "sides" (arms hanging, out of frame)
    rest_detect: float  # hand detection rate with the hand lowered but in frame
    idle_raise: float  # 0: idle hand dropped to the rest posture during one-handed signs, 1: held at the waist
    sign_detect: float  # hand detection rate with the hand raised
    jitter: float  # landmark noise, shoulder widths
    location_bias: tuple[float, float]  # personal shift of the signing space
    signing_share: float = 0.5  # detection: target fraction of signing frames
    preferred_classes: tuple[int, ...] = ()  # recognition: classes favoured when signer_class_bias > 0


@dataclass(frozen=True)
class SignPrototype:
    """A sign class: place (anchor + offset), movement (path), handshapes and use of the other hand."""

    anchor: str  # key of _ANCHORS
    path: str  # "arc" | "line" | "circle" | "wave" | "tap" | "zigzag" | "twist"
    size: float  # movement size, shoulder widths
    axis: tuple[float, float, float]  # movement direction (circle: second axis of its plane)
    repeats: int
    shapes: tuple[str, str]  # handshape at the start and at the end (keys of HANDSHAPES)
    roll: float  # degrees, + turns the fingers toward the body midline
    yaw: float  # degrees, palm turned away from the camera
    two_hand: str  # "none" | "mirror" | "alternate" | "base"
    duration: float  # seconds at speed 1
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)


@dataclass
class SyntheticInfo:
    """What `generate_dataset` wrote."""

    out_dir: Path
    task: str
    video_ids: list[str]
    signer_of: dict[str, str]  # video id -> signer id
    classes: list[str]  # sorted label vocabulary ("n", "s" for detection)
    num_frames: dict[str, int]  # video id -> T
    labels: dict[str, str] = field(default_factory=dict)  # recognition: video id -> class
    signers: dict[str, SignerStyle] = field(default_factory=dict)

    @property
    def total_frames(self) -> int:
        """Frames over all videos."""
        return int(sum(self.num_frames.values()))


# ------------------------------------------------------------------------------------------- hand model

HANDSHAPES: dict[str, tuple[float, ...]] = {
    # flexion thumb, index, middle, ring, pinky (0 straight .. 1 curled), spread, thumb opposition
    "flat": (0.15, 0.0, 0.0, 0.0, 0.0, 0.05, 0.35),
    "open5": (0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    "fist": (0.55, 1.0, 1.0, 1.0, 1.0, 0.0, 0.4),
    "point": (0.7, 0.0, 1.0, 1.0, 1.0, 0.1, 0.7),
    "v": (0.7, 0.0, 0.0, 1.0, 1.0, 0.9, 0.7),
    "y": (0.0, 1.0, 1.0, 1.0, 0.0, 1.0, 0.0),
    "l": (0.0, 0.0, 1.0, 1.0, 1.0, 0.7, 0.0),
    "claw": (0.35, 0.55, 0.55, 0.55, 0.55, 0.85, 0.3),
    "o": (0.45, 0.6, 0.65, 0.65, 0.65, 0.1, 1.0),
    "ily": (0.0, 0.0, 1.0, 1.0, 0.0, 0.9, 0.0),
    "relaxed": (0.3, 0.3, 0.38, 0.45, 0.5, 0.25, 0.25),
}

# Right hand, palm to the camera, fingers up; hand units (wrist -> middle MCP = 1); thumb on +x.
_FINGER_MCP = np.array([[0.32, -0.93], [0.06, -1.0], [-0.17, -0.95], [-0.37, -0.84]])  # index..pinky
_FINGER_ANGLE = np.deg2rad([6.0, 0.0, -5.0, -11.0])  # from "up", + toward the thumb
_FINGER_SPREAD = np.deg2rad([12.0, 0.0, -9.0, -20.0])  # extra fan at spread = 1
_FINGER_LEN = np.array([[0.42, 0.25, 0.2], [0.47, 0.29, 0.21], [0.43, 0.27, 0.2], [0.33, 0.2, 0.18]])
_FLEX_ANGLES = np.deg2rad([80.0, 100.0, 70.0])  # MCP, PIP, DIP at flexion 1
_THUMB_CMC = np.array([0.2, -0.18, -0.05])
_THUMB_LEN = np.array([0.42, 0.33, 0.28])
_THUMB_FLEX = np.deg2rad([20.0, 35.0, 45.0])


def _chain_points(start: np.ndarray, direction: np.ndarray, normal: np.ndarray, lengths: np.ndarray,
                  angles: np.ndarray) -> np.ndarray:
    """Joints of a finger curling from `direction` toward `normal`.

    start (T, 3), direction/normal (T, 3) unit, lengths (3,), angles (T, 3) cumulative -> (T, 3, 3).
    """
    out = np.empty((start.shape[0], len(lengths), 3))
    point = start
    for k, length in enumerate(lengths):
        seg = np.cos(angles[:, k, None]) * direction + np.sin(angles[:, k, None]) * normal  # (T, 3)
        point = point + length * seg
        out[:, k] = point
    return out


def hand_landmarks(shape: np.ndarray, roll: np.ndarray, yaw: np.ndarray) -> np.ndarray:
    """21 MediaPipe hand points of a right hand, wrist at the origin, in hand units.

    shape (T, 7) as in HANDSHAPES, roll / yaw (T,) radians -> (T, 21, 3): x toward the thumb at roll 0
    (the body midline for a right hand), y down (fingers up at roll 0), z depth (negative = nearer).
    Mirror x for a left hand.
    """
    T = shape.shape[0]
    pts = np.zeros((T, NUM_HAND, 3))
    flex, spread, opp = shape[:, :5], shape[:, 5], shape[:, 6]
    toward_camera = np.broadcast_to(np.array([0.0, 0.0, -1.0]), (T, 3))
    for i in range(4):
        a = _FINGER_ANGLE[i] + spread * _FINGER_SPREAD[i]  # (T,)
        direction = np.stack([np.sin(a), -np.cos(a), np.zeros(T)], axis=-1)  # (T, 3)
        mcp = np.broadcast_to(np.array([*_FINGER_MCP[i], 0.0]), (T, 3))
        angles = np.cumsum(flex[:, i + 1, None] * _FLEX_ANGLES, axis=1)  # (T, 3)
        pts[:, 5 + 4 * i] = mcp
        pts[:, 6 + 4 * i: 9 + 4 * i] = _chain_points(mcp, direction, toward_camera, _FINGER_LEN[i], angles)
    a = np.deg2rad(50.0) - np.deg2rad(75.0) * opp  # thumb swings across the palm with opposition
    e = np.deg2rad(40.0) * opp
    direction = np.stack([np.cos(e) * np.sin(a), -np.cos(e) * np.cos(a), -np.sin(e)], axis=-1)  # (T, 3)
    palm = np.array([-0.1, -0.5, -0.4])
    normal = palm - (direction @ palm)[:, None] * direction
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    cmc = np.broadcast_to(_THUMB_CMC, (T, 3))
    pts[:, 1] = cmc
    pts[:, 2:5] = _chain_points(cmc, direction, normal, _THUMB_LEN, np.cumsum(flex[:, :1] * _THUMB_FLEX, 1))
    cy, sy = np.cos(yaw)[:, None], np.sin(yaw)[:, None]
    x, y, z = pts[..., 0], pts[..., 1], pts[..., 2]  # (T, 21) each
    x, z = x * cy + z * sy, -x * sy + z * cy  # yaw about the finger axis
    cr, sr = np.cos(roll)[:, None], np.sin(roll)[:, None]
    x, y = x * cr - y * sr, x * sr + y * cr  # roll in the image plane
    return np.stack([x, y, z], axis=-1)  # (T, 21, 3)


# ------------------------------------------------------------------------------------------ face model


def _walk(edges: tuple[tuple[int, int], ...], start: int, second: int) -> list[int]:
    """Ordered nodes of the loop or path through `edges` that starts with start -> second."""
    adj: dict[int, set[int]] = {}
    for i, j in edges:
        adj.setdefault(i, set()).add(j)
        adj.setdefault(j, set()).add(i)
    order, prev, cur = [start, second], start, second
    while True:
        nxt = sorted(adj[cur] - {prev})
        if not nxt or nxt[0] == start:
            return order
        prev, cur = cur, nxt[0]
        order.append(cur)


def _ring(order: list[int], center: tuple[float, float], a: float, b: float, sx: float) -> dict[int, tuple]:
    """Place a loop on an ellipse, starting at the lateral/left end (sx=-1) and going through the bottom."""
    phi = 2 * np.pi * np.arange(len(order)) / len(order)
    return {i: (center[0] + sx * a * np.cos(p), center[1] + b * np.sin(p)) for i, p in zip(order, phi)}


def _face_contours() -> dict[int, tuple]:
    """Fixed 2-D positions of the contour points (oval, lips, eyes, brows, nose ridge)."""
    fm = _facemesh
    pos: dict[int, tuple] = {}
    oval = _walk(fm.FACE_OVAL, 10, 338)
    phi = 2 * np.pi * np.arange(len(oval)) / len(oval)
    pos.update({i: (0.5 * np.sin(p), -0.12 - 0.72 * np.cos(p)) for i, p in zip(oval, phi)})
    pos.update(_ring(_walk(fm.LIPS, 61, 146), (0.0, 0.3), 0.2, 0.07, -1.0))
    pos.update(_ring(_walk(fm.LIPS, 78, 95), (0.0, 0.3), 0.15, 0.025, -1.0))
    pos.update(_ring(_walk(fm.RIGHT_EYE, 33, 7), (-0.2, -0.27), 0.09, 0.035, -1.0))
    pos.update(_ring(_walk(fm.LEFT_EYE, 263, 249), (0.2, -0.27), 0.09, 0.035, 1.0))
    for edges, starts, sx in ((fm.RIGHT_EYEBROW, ((46, 53), (70, 63)), -1.0),
                              (fm.LEFT_EYEBROW, ((276, 283), (300, 293)), 1.0)):
        for row, (s0, s1) in enumerate(starts):
            chain = _walk(edges, s0, s1)
            for k, i in enumerate(chain):
                t = k / (len(chain) - 1)
                pos[i] = (sx * (0.34 - 0.26 * t), -0.38 - 0.04 * row - 0.03 * np.sin(np.pi * t))
    for i, y in zip((168, 6, 197, 195, 5, 4, 1, 2), (-0.27, -0.2, -0.13, -0.07, -0.03, -0.01, 0.0, 0.07)):
        pos[i] = (0.0, y)
    return pos


@lru_cache(maxsize=1)
def face_template() -> np.ndarray:
    """(478, 3) canonical MediaPipe face points, face width 1, origin at the nose tip (point 1).

    Contours are placed on ellipses, the other mesh points by harmonic interpolation over the
    tessellation, irises (468-477) at the eye centres; z is a dome with the nose forward.
    """
    pos = np.zeros((NUM_FACE, 3))
    fixed = _face_contours()
    idx_fixed = np.array(sorted(fixed))
    pos[idx_fixed, :2] = np.array([fixed[i] for i in idx_fixed])
    n_mesh = 468
    lap = np.zeros((n_mesh, n_mesh))
    for i, j in _facemesh.TESSELATION:
        lap[i, j] = lap[j, i] = -1.0
    lap[np.arange(n_mesh), np.arange(n_mesh)] = -lap.sum(1)
    free = np.setdiff1d(np.arange(n_mesh), idx_fixed)
    rhs = -lap[np.ix_(free, idx_fixed)] @ pos[idx_fixed, :2]  # (F, 2)
    pos[free, :2] = np.linalg.solve(lap[np.ix_(free, free)] + 1e-9 * np.eye(len(free)), rhs)
    for center, (c, ring) in ((-0.2, (468, range(469, 473))), (0.2, (473, range(474, 478)))):
        pos[c, :2] = (center, -0.27)
        for k, i in enumerate(ring):
            pos[i, :2] = (center + 0.03 * np.cos(k * np.pi / 2), -0.27 + 0.03 * np.sin(k * np.pi / 2))
    x, y = pos[:, 0], pos[:, 1]
    dome = np.sqrt(np.clip(1 - (x / 0.52) ** 2 - ((y + 0.12) / 0.74) ** 2, 0.0, 1.0))
    nose = np.exp(-(x**2 + (y + 0.08) ** 2) / (2 * 0.07**2))
    pos[:, 2] = 0.3 * (1 - dome) - 0.12 * nose
    pos[:, 2] -= pos[1, 2]
    return pos


_EAR = np.array([0.52, -0.14, 0.25])  # left ear in face units (mirror x for the right ear)
_POSE_FROM_FACE = {0: 1, 1: 362, 2: 473, 3: 263, 4: 133, 5: 468, 6: 33, 9: 291, 10: 61}

# --------------------------------------------------------------------------------------------- signers

_SIGNER_RANGES: dict[str, tuple[float, float]] = {
    "scale": (0.22, 0.35),
    "frame_y": (0.0, 1.0),  # camera tilt: head near the top (0) .. signing space near the bottom (1)
    "center_x": (0.34, 0.66),
    "upper_arm": (0.72, 1.1),
    "forearm": (0.64, 1.04),
    "hand": (0.2, 0.3),
    "head": (0.45, 0.62),
    "eye": (0.16, 0.26),
    "torso": (1.25, 1.6),
    "hip_width": (0.55, 0.8),
    "speed": (0.85, 1.2),
    "amplitude": (0.85, 1.15),
    "rest_detect": (0.0, 0.25),
    "idle_raise": (0.0, 0.7),
    "jitter": (0.003, 0.007),
}


def _maximin_lhs(rng: np.random.Generator, n: int, dims: int, tries: int = 24) -> np.ndarray:
    """(n, dims) centred Latin hypercube in [0, 1] whose closest pair of rows is farthest apart.

    Each column holds one value per bin (bin centre +- 0.1 bin), so any two signers differ by at least
    0.8 / n of the range in every dimension.
    """
    best, best_d = None, -1.0
    for _ in range(tries):
        jitter = rng.uniform(-0.1, 0.1, (n, dims))
        design = (np.argsort(rng.random((dims, n)), axis=1).T + 0.5 + jitter) / n  # (n, dims)
        diff = design[:, None] - design[None]
        dist = np.sqrt((diff**2).sum(-1)) + np.eye(n) * 1e9
        if dist.min() > best_d:
            best, best_d = design, float(dist.min())
    return best


_ASPECT = 4 / 3  # 640x480-style webcams; mixing 16:9 would stretch y by 33% between signers


def _signer_id(s: int, num_signers: int) -> str:
    return f"sig{s:0{max(2, len(str(num_signers - 1)))}d}"


def _frame_center_y(unit_y: float, head_top: float, where: float) -> float:
    """Shoulder-line image y that keeps the head top (>= 0.02) and the signing space (<= 0.92) in frame.

    unit_y: one shoulder width in image-height units; head_top: head top above the shoulders (sw).
    """
    lo = 0.02 + unit_y * head_top
    hi = max(lo, 0.92 - unit_y * 0.8)
    return lo + where * (hi - lo)


def make_signers(num_signers: int, seed: int) -> list[SignerStyle]:
    """Signers with clearly different bodies, cameras and styles (deterministic in seed)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    keys = list(_SIGNER_RANGES)
    design = _maximin_lhs(rng, num_signers, len(keys))
    left = set(rng.choice(num_signers, size=round(num_signers / 3), replace=False).tolist())
    signers = []
    for s in range(num_signers):
        v = {k: lo + (hi - lo) * design[s, j] for j, (k, (lo, hi)) in enumerate(_SIGNER_RANGES.items())}
        aspect = _ASPECT
        cy = _frame_center_y(v["scale"] * aspect, v["head"] + 0.84 * v["eye"] / 0.4, v["frame_y"])
        signers.append(SignerStyle(
            signer_id=_signer_id(s, num_signers), scale=v["scale"], center=(v["center_x"], cy),
            aspect=aspect, roll=float(rng.normal(0.0, 2.0)), upper_arm=v["upper_arm"], forearm=v["forearm"],
            hand=v["hand"], head=v["head"], eye=v["eye"], torso=v["torso"], hip_width=v["hip_width"],
            speed=v["speed"], amplitude=v["amplitude"], right_handed=s not in left,
            rest="lap" if rng.random() < 0.6 else "sides", rest_detect=v["rest_detect"],
            idle_raise=v["idle_raise"],
            sign_detect=float(rng.uniform(0.94, 0.99)), jitter=v["jitter"],
            location_bias=tuple(float(b) for b in rng.normal(0.0, 0.04, 2)),
        ))
    return signers


def _with_bias(signers: list[SignerStyle], task: str, num_classes: int, bias: float,
               rng: np.random.Generator) -> list[SignerStyle]:
    """Give each signer preferred classes / signing share and pull its style cue toward them by `bias`.

    The cue (camera x position, speed, movement amplitude) follows the signer's preference, so with
    bias > 0 a model can recognise the class through the signer; at bias 0 nothing changes.
    """
    n = len(signers)
    m = max(1, round(num_classes / 3))
    prefs = rng.permutation(np.linspace(0.25, 0.75, n)) if n > 1 else np.array([0.5])
    out = []
    for s, sg in enumerate(signers):
        preferred = tuple(sorted({(s * m + j) % num_classes for j in range(m)}))
        cue = preferred[0] / max(1, num_classes - 1) if task == "recognition" else (prefs[s] - 0.25) / 0.5
        out.append(replace(
            sg, preferred_classes=preferred, signing_share=float(0.5 + bias * (prefs[s] - 0.5)),
            center=((1 - bias) * sg.center[0] + bias * (0.36 + 0.28 * cue), sg.center[1]),
            speed=(1 - bias) * sg.speed + bias * (0.8 + 0.5 * cue),
            amplitude=(1 - bias) * sg.amplitude + bias * (0.86 + 0.28 * cue),
        ))
    return out


# ------------------------------------------------------------------------------------------ prototypes

# Wrist places in the dominant hand's ipsilateral frame: x (+ = toward the midline), y, y-per-head, depth.
_ANCHORS: dict[str, tuple[float, float, float, float]] = {
    "forehead": (-0.32, 0.05, -1.0, -0.35),
    "temple": (-0.55, -0.05, -1.0, -0.3),
    "chin": (-0.05, 0.62, -1.0, -0.45),
    "mouth": (-0.35, 0.35, -1.0, -0.5),
    "cheek": (-0.28, 0.45, -1.0, -0.4),
    "chest": (-0.02, 0.55, 0.0, -0.35),
    "neutral": (-0.22, 0.65, 0.0, -0.75),
    "low": (-0.25, 0.95, 0.0, -0.6),
    "contra_shoulder": (0.28, 0.35, 0.0, -0.35),
    "side": (-0.65, 0.45, 0.0, -0.45),
}

_PROTOTYPES: tuple[SignPrototype, ...] = (
    SignPrototype("mouth", "arc", 0.4, (0.0, 0.35, -1.0), 1, ("flat", "flat"), 60, 10, "none", 1.0),
    SignPrototype("neutral", "circle", 0.18, (0.0, 1.0, 0.0), 2, ("point", "point"), 15, 20, "none", 1.2,
                  (-0.03, 0.07, 0.0)),
    SignPrototype("temple", "wave", 0.14, (1.0, 0.0, 0.0), 3, ("open5", "open5"), 0, 0, "none", 1.1),
    SignPrototype("chest", "tap", 0.14, (0.0, 1.0, 0.4), 2, ("fist", "fist"), 40, 50, "mirror", 1.0,
                  (-0.2, -0.2, 0.0)),
    SignPrototype("side", "tap", 0.14, (0.0, 1.0, 0.0), 3, ("y", "y"), 20, 10, "none", 1.1, (-0.05, 0.0, 0.0)),
    SignPrototype("chest", "line", 0.32, (0.1, 1.0, 0.0), 2, ("v", "v"), 100, 80, "base", 1.0,
                  (0.0, -0.1, -0.35)),
    SignPrototype("neutral", "zigzag", 0.35, (0.0, 1.0, 0.0), 2, ("l", "l"), 0, 0, "none", 1.2),
    SignPrototype("neutral", "circle", 0.18, (0.0, 1.0, 0.0), 2, ("open5", "open5"), 40, 40, "alternate", 1.3),
    SignPrototype("chin", "tap", 0.1, (0.0, 0.3, -1.0), 3, ("o", "o"), 0, 30, "none", 1.0),
    SignPrototype("cheek", "twist", 0.05, (1.0, 0.0, 0.0), 3, ("ily", "ily"), 20, 10, "none", 1.1),
    SignPrototype("contra_shoulder", "line", 0.6, (-1.0, 0.3, 0.0), 1, ("claw", "fist"), 60, 30, "none", 0.9),
)
_PATHS = ("arc", "line", "circle", "wave", "tap", "zigzag", "twist")
_TWO_HAND = ("none", "none", "none", "mirror", "alternate", "base")


def _random_prototype(k: int) -> SignPrototype:
    """Class k beyond the hand-made table: drawn from a fixed per-class seed (same in every dataset)."""
    rng = np.random.default_rng(np.random.SeedSequence([7919, k]))
    shapes = [s for s in HANDSHAPES if s != "relaxed"]
    axis = rng.normal(size=3) * (1.0, 1.0, 0.5)
    return SignPrototype(
        anchor=str(rng.choice(list(_ANCHORS))), path=str(rng.choice(_PATHS)),
        size=float(rng.uniform(0.1, 0.4)), axis=tuple(float(a) for a in axis / np.linalg.norm(axis)),
        repeats=int(rng.integers(1, 4)), shapes=(str(rng.choice(shapes)), str(rng.choice(shapes))),
        roll=float(rng.uniform(-20, 90)), yaw=float(rng.uniform(0, 60)),
        two_hand=str(rng.choice(_TWO_HAND)), duration=float(rng.uniform(0.9, 1.3)),
    )


def sign_prototypes(num: int) -> list[SignPrototype]:
    """The first `num` sign classes (a fixed table, then reproducible random ones)."""
    return [_PROTOTYPES[k] if k < len(_PROTOTYPES) else _random_prototype(k) for k in range(num)]


def class_names(num_classes: int) -> list[str]:
    """Label names "sign00", "sign01", ... (sorted order == class index order)."""
    width = max(2, len(str(num_classes - 1)))
    return [f"sign{k:0{width}d}" for k in range(num_classes)]


# ------------------------------------------------------------------------------------------ motion


def _min_jerk(t: np.ndarray) -> np.ndarray:
    """Minimum-jerk profile 0 -> 1 for t in [0, 1]."""
    return t**3 * (10 - 15 * t + 6 * t**2)


def _transition(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """States (n, ...) moving from a (excluded) to b (reached at the last frame)."""
    s = _min_jerk(np.arange(1, n + 1) / n).reshape(-1, *([1] * a.ndim))
    return a[None] + s * (b - a)[None]


def _smooth_noise(rng: np.random.Generator, n: int, dims: int, sigma: float, corr: float) -> np.ndarray:
    """(n, dims) smooth Gaussian-like noise with std ~sigma and correlation length ~corr frames."""
    t = np.arange(n) / max(corr, 1e-6)
    knots = rng.standard_normal((int(t[-1]) + 2, dims)) if n else np.zeros((2, dims))
    i0 = np.floor(t).astype(int)
    w = t - i0
    w = (w * w * (3 - 2 * w))[:, None]
    return sigma * (knots[i0] * (1 - w) + knots[i0 + 1] * w) / 0.85


def _hand_state(pos: np.ndarray, roll_deg: float, yaw_deg: float, shape: np.ndarray) -> np.ndarray:
    """One (D,) hand state."""
    return np.concatenate([pos, [np.deg2rad(roll_deg), np.deg2rad(yaw_deg)], shape])


def _shape(name: str) -> np.ndarray:
    return np.asarray(HANDSHAPES[name], dtype=float)


def _rest_state(signer: SignerStyle, rng: np.random.Generator) -> np.ndarray:
    """(2, D) resting hands (a fresh small variation of the signer's rest posture)."""
    if signer.rest == "lap":
        pos, roll, yaw = np.array([-0.3, signer.torso - 0.05, -0.45]), 95.0, 70.0
    else:
        pos, roll, yaw = np.array([-0.66, signer.torso + 0.3, -0.05]), 175.0, 85.0
    hands = [
        _hand_state(pos + rng.normal(0.0, 0.04, 3), roll + rng.normal(0, 8), yaw + rng.normal(0, 8),
                    np.clip(_shape("relaxed") + rng.normal(0.0, 0.06, 7), 0, 1))
        for _ in range(2)
    ]
    return np.stack(hands)


def _anchor(name: str, signer: SignerStyle) -> np.ndarray:
    x, y, per_head, depth = _ANCHORS[name]
    return np.array([x, y + per_head * signer.head, depth])


def _idle_hand(rest: np.ndarray, signer: SignerStyle) -> np.ndarray:
    """(D,) the non-signing hand during a one-handed sign: between rest and waist height (signer habit)."""
    hold = _hand_state(np.array([-0.38, 0.85 * signer.torso, -0.45]), 80.0, 60.0, _shape("relaxed"))
    return rest + signer.idle_raise * (hold - rest)


def _path(proto: SignPrototype, p: np.ndarray, size: float) -> tuple[np.ndarray, np.ndarray]:
    """Movement offsets (n, 3) and extra roll (n,) radians along the phase p in [0, 1]."""
    axis = np.asarray(proto.axis, dtype=float)
    axis = axis / np.linalg.norm(axis)
    th = 2 * np.pi * proto.repeats * p
    s = _min_jerk(np.clip(p, 0, 1))[:, None]
    roll = np.zeros_like(p)
    if proto.path == "arc":
        off = s * axis + np.sin(np.pi * p)[:, None] * np.array([0.0, -0.2, 0.0])
    elif proto.path == "line":
        off = s * axis
    elif proto.path == "circle":  # around the anchor, in the plane of x and `axis`
        off = np.sin(th)[:, None] * np.array([1.0, 0.0, 0.0]) - np.cos(th)[:, None] * axis
    elif proto.path == "wave":
        off = np.sin(th)[:, None] * axis
    elif proto.path == "tap":
        off = 0.5 * (1 - np.cos(th))[:, None] * axis
    elif proto.path == "zigzag":
        off = s * axis + 0.35 * (2 / np.pi) * np.arcsin(np.sin(th))[:, None] * np.array([1.0, 0.0, 0.0])
    else:  # twist: the hand rotates in place
        off = np.sin(th)[:, None] * axis
        roll = np.deg2rad(35.0) * np.sin(th)
    return size * off, roll


def _sign_states(proto: SignPrototype, signer: SignerStyle, rest: np.ndarray, fps: float,
                 rng: np.random.Generator) -> np.ndarray:
    """(n, 2, D) hand states of one execution of a sign (slot 0 dominant, slot 1 other hand)."""
    n = max(8, round(proto.duration * rng.uniform(0.9, 1.1) / signer.speed * fps))
    tau = (np.arange(n) + 0.5) / n
    w = rng.uniform(-0.3, 0.3)
    p = tau - w * np.sin(2 * np.pi * tau) / (2 * np.pi)  # monotonic time warp
    loc = (_anchor(proto.anchor, signer) + np.asarray(proto.offset)
           + np.array([*signer.location_bias, 0.0]) + rng.normal(0.0, 0.03, 3))
    size = proto.size * signer.amplitude * rng.uniform(0.88, 1.12)
    off, droll = _path(proto, p, size)
    roll = np.deg2rad(proto.roll + rng.normal(0, 6)) + droll
    yaw = np.deg2rad(proto.yaw + rng.normal(0, 8))
    mix = _min_jerk(np.clip((p - 0.3) / 0.4, 0, 1))[:, None]
    shape = (1 - mix) * _shape(proto.shapes[0]) + mix * _shape(proto.shapes[1])
    shape = np.clip(shape + rng.normal(0.0, 0.05, 7), 0, 1)
    dom = np.concatenate([loc + off, roll[:, None], np.full((n, 1), yaw), shape], axis=1)  # (n, D)
    if proto.two_hand == "none":
        other = np.repeat(_idle_hand(rest[1], signer)[None], n, axis=0)
    elif proto.two_hand == "base":
        base = _hand_state(np.array([0.05, 0.8, -0.65]) + rng.normal(0, 0.03, 3), 95 + rng.normal(0, 6),
                           75, np.clip(_shape("flat") + rng.normal(0, 0.04, 7), 0, 1))
        other = np.repeat(base[None], n, axis=0)
    else:
        shift = 0.5 / proto.repeats if proto.two_hand == "alternate" else 0.0
        other_off, other_roll = _path(proto, p + shift, size)
        other = dom.copy()
        other[:, _POS] = loc + other_off + rng.normal(0.0, 0.025, 3)
        other[:, _ROLL] = np.deg2rad(proto.roll) + other_roll
    return np.stack([dom, other], axis=1)  # (n, 2, D)


def _move_frames(seconds: float, signer: SignerStyle, fps: float, rng: np.random.Generator) -> int:
    return max(3, round(seconds * rng.uniform(0.85, 1.15) / signer.speed * fps))


def _signing(start: np.ndarray, rest: np.ndarray, length: int, signer: SignerStyle,
             protos: list[SignPrototype], fps: float, rng: np.random.Generator
             ) -> tuple[np.ndarray, int, int]:
    """(length, 2, D): raise the hands, sign a sequence of signs with pauses, lower the hands.

    Also returns the frames spent raising and lowering (the annotation changes halfway through them).
    """
    n_up, n_down = _move_frames(0.4, signer, fps, rng), _move_frames(0.4, signer, fps, rng)
    keep = max(1, length - n_down)
    first = _sign_states(protos[rng.integers(len(protos))], signer, rest, fps, rng)
    parts = [_transition(start, first[0], n_up), first]
    count = n_up + len(first)
    while count < keep:
        sign = _sign_states(protos[rng.integers(len(protos))], signer, rest, fps, rng)
        last = parts[-1][-1]
        if rng.random() < 0.3:  # a brief pause with the hands held in the signing space
            hold = np.repeat(last[None], max(3, round(rng.uniform(0.2, 0.8) * fps)), axis=0)
            parts.append(hold)
            count += len(hold)
        parts += [_transition(last, sign[0], _move_frames(0.22, signer, fps, rng)), sign]
        count += len(parts[-2]) + len(sign)
    body = np.concatenate(parts)[:keep]
    down = _transition(body[-1], rest, length - keep) if length > keep else body[:0]
    return np.concatenate([body, down])[:length], n_up, length - keep


_FIDGETS: dict[str, tuple[str, tuple[float, float, float], float, float]] = {
    "chin": ("chin", (0.02, 0.1, 0.0), 20.0, 30.0),
    "cheek": ("cheek", (0.0, 0.05, 0.0), 40.0, 20.0),
    "hair": ("temple", (-0.05, -0.1, 0.0), 60.0, 30.0),
    "arms": ("contra_shoulder", (-0.1, 0.3, 0.05), 90.0, 60.0),
}


def _resting(start: np.ndarray, rest: np.ndarray, length: int, signer: SignerStyle, fps: float,
             rng: np.random.Generator, fidget_prob: float) -> np.ndarray:
    """(length, 2, D): hands drift to `rest`; sometimes one hand fidgets (touches the face/chest)."""
    states = _transition(start, rest, length)
    n_move = _move_frames(0.5, signer, fps, rng)
    n_hold = max(3, round(rng.uniform(0.3, 0.9) * fps))
    if length < 2 * n_move + n_hold + 6 or rng.random() >= fidget_prob:
        return states
    hand = int(rng.integers(2))
    anchor, offset, roll, yaw = _FIDGETS[str(rng.choice(list(_FIDGETS)))]
    pos = _anchor(anchor, signer) + np.asarray(offset) + rng.normal(0.0, 0.04, 3)
    target = _hand_state(pos, roll + rng.normal(0, 10), yaw, np.clip(_shape("relaxed") + rng.normal(0, 0.08, 7), 0, 1))
    t0 = int(rng.integers(3, length - 2 * n_move - n_hold))
    t1, t2, t3 = t0 + n_move, t0 + n_move + n_hold, t0 + 2 * n_move + n_hold
    states[t0:t1, hand] = _transition(states[t0 - 1, hand], target, n_move)
    states[t1:t2, hand] = target
    states[t2:t3, hand] = _transition(target, states[t3 - 1, hand], n_move)
    return states


def _add_idle_motion(states: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Small smooth wandering of every hand parameter (people are never perfectly still)."""
    T = states.shape[0]
    out = states.copy()
    out[:, :, _POS] += _smooth_noise(rng, T, 6, 0.012, 10).reshape(T, 2, 3)
    out[:, :, 3:5] += _smooth_noise(rng, T, 4, np.deg2rad(3.0), 12).reshape(T, 2, 2)
    out[:, :, _SHAPE] = np.clip(out[:, :, _SHAPE] + _smooth_noise(rng, T, 14, 0.03, 8).reshape(T, 2, 7), 0, 1)
    return out


# ----------------------------------------------------------------------------------------- rendering


@dataclass(frozen=True)
class _Camera:
    scale: float
    cx: float
    cy: float
    aspect: float
    roll: float  # radians


def _video_camera(signer: SignerStyle, rng: np.random.Generator) -> _Camera:
    """The signer's camera, re-placed slightly for each recording."""
    return _Camera(
        scale=signer.scale * (1 + rng.normal(0.0, 0.015)),
        cx=signer.center[0] + rng.normal(0.0, 0.008), cy=signer.center[1] + rng.normal(0.0, 0.008),
        aspect=signer.aspect, roll=np.deg2rad(signer.roll + rng.normal(0.0, 1.0)),
    )


def _to_image(points: np.ndarray, cam: _Camera) -> np.ndarray:
    """Body frame (..., 3) -> normalized image x, y and pose-style z (..., 3)."""
    c, s = np.cos(cam.roll), np.sin(cam.roll)
    x, y, d = points[..., 0], points[..., 1], points[..., 2]
    return np.stack([
        cam.cx + cam.scale * (c * x - s * y),
        cam.cy + cam.scale * cam.aspect * (s * x + c * y),
        cam.scale * 3.0 * (d - 0.25),  # MediaPipe pose z: hips at 0, exaggerated like the real thing
    ], axis=-1)


def _two_link_ik(shoulder: np.ndarray, target: np.ndarray, upper: float, fore: float,
                 pole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elbow and (reachable) wrist (T, 3) for wrist targets (T, 3); the elbow bends toward `pole`."""
    v = target - shoulder  # (T, 3)
    d = np.linalg.norm(v, axis=1, keepdims=True)
    u = v / np.maximum(d, 1e-9)
    dc = np.clip(d, abs(upper - fore) + 0.02, 0.98 * (upper + fore))
    a = (upper**2 - fore**2 + dc**2) / (2 * dc)
    h = np.sqrt(np.maximum(upper**2 - a**2, 0.0))
    perp = pole[None] - (u @ pole)[:, None] * u
    perp /= np.maximum(np.linalg.norm(perp, axis=1, keepdims=True), 1e-9)
    return shoulder + a * u + h * perp, shoulder + dc * u


def _head(signer: SignerStyle, sway: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Face mesh (T, 478, 3) and ears (T, 2, 3) in the body frame, with small head motion."""
    T = sway.shape[0]
    unit = signer.eye / 0.4  # face width in shoulder widths
    tmpl = np.concatenate([face_template(), _EAR[None] * (1, 1, 1), _EAR[None] * (-1, 1, 1)])  # (480, 3)
    ang = _smooth_noise(rng, T, 1, np.deg2rad(3.0), 20)[:, 0]
    c, s = np.cos(ang)[:, None], np.sin(ang)[:, None]
    x, y = tmpl[None, :, 0] * c - tmpl[None, :, 1] * s, tmpl[None, :, 0] * s + tmpl[None, :, 1] * c
    pts = unit * np.stack([x, y, np.broadcast_to(tmpl[:, 2], x.shape)], axis=-1)  # (T, 480, 3)
    nose = np.array([0.0, -signer.head, -0.3]) + sway + _smooth_noise(rng, T, 3, 0.015, 20)
    pts += nose[:, None]
    return pts[:, :NUM_FACE], pts[:, NUM_FACE:]


_VIS_BASE = np.array([0.999] * 11 + [0.99, 0.99, 0.9, 0.9, 0.85, 0.85] + [0.8] * 6 + [0.7, 0.7] + [0.02] * 8)


def _visibility(img_y: np.ndarray, img_x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Pose visibility (T, 33): high in frame, low below/outside it, legs always low."""
    inside = 1 / (1 + np.exp((img_y - 1.0) / 0.03)) * 1 / (1 + np.exp((np.abs(img_x - 0.5) - 0.5) / 0.03))
    vis = _VIS_BASE * (0.03 + 0.97 * inside) + rng.normal(0.0, 0.01, img_y.shape)
    return np.clip(vis, 0.0, 1.0)


def _detected(raised: np.ndarray, in_frame: np.ndarray, signer: SignerStyle,
              rng: np.random.Generator) -> np.ndarray:
    """(T,) bool hand detections: likely when raised, rare when lowered, never out of frame; bursty."""
    p = signer.rest_detect + (signer.sign_detect - signer.rest_detect) * raised
    p = np.where(in_frame, p, 0.0)
    z = _smooth_noise(rng, len(p), 1, 1.0, 3)[:, 0] + rng.normal(0.0, 0.3, len(p))
    u = (np.argsort(np.argsort(z)) + 0.5) / len(p)  # uniform marginals, correlated in time
    return u < p


def _upper_body(signer: SignerStyle, sway: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pose (T, 33, 3) with shoulders and face points filled in, and the face mesh (T, 478, 3), body frame."""
    T = sway.shape[0]
    body = np.zeros((T, NUM_POSE, 3))
    body[:, 11] = np.array([0.5, 0.0, 0.0]) + sway + _smooth_noise(rng, T, 3, 0.008, 15)
    body[:, 12] = np.array([-0.5, 0.0, 0.0]) + sway + _smooth_noise(rng, T, 3, 0.008, 15)
    face, ears = _head(signer, sway, rng)
    for j, i in _POSE_FROM_FACE.items():
        body[:, j] = face[:, i]
    body[:, 7], body[:, 8] = ears[:, 0], ears[:, 1]
    return body, face


def _arm_and_hand(body: np.ndarray, state: np.ndarray, side: str, signer: SignerStyle, sway: np.ndarray,
                  rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Pose the `side` arm in `body` (in place) from a hand-state track (T, D).

    Returns the hand landmarks (T, 21, 3) in the body frame and how raised the hand is (T,) in [0, 1].
    """
    T = state.shape[0]
    mx = 1.0 if side == "right" else -1.0  # ipsilateral -> body frame
    target = state[:, _POS] * (mx, 1.0, 1.0) + sway
    elbow, wrist = _two_link_ik(body[:, 12 if side == "right" else 11], target, signer.upper_arm,
                                signer.forearm, np.array([-0.55 * mx, 0.75, 0.35]))
    local = hand_landmarks(state[:, _SHAPE], state[:, _ROLL], state[:, _YAW]) * signer.hand * (mx, 1.0, 1.0)
    offset = _smooth_noise(rng, T, 3, 0.03, 30)  # holistic hand vs pose wrist disagreement
    hand = wrist[:, None] + offset[:, None] + local  # (T, 21, 3)
    hand += rng.normal(0.0, 0.6 * signer.jitter, hand.shape)
    hand[:, 1:, 2] += rng.normal(0.0, 0.02 * signer.hand, (T, NUM_HAND - 1))
    base = 13 if side == "left" else 14  # elbow; +2 wrist, +4 pinky, +6 index, +8 thumb
    body[:, base], body[:, base + 2] = elbow, wrist
    body[:, base + 4], body[:, base + 6], body[:, base + 8] = hand[:, 17], hand[:, 5], hand[:, 2]
    y_hi, y_lo = 0.75 * signer.torso, 0.95 * signer.torso  # below y_lo: on the lap / hanging
    return hand, np.clip((y_lo - state[:, 1]) / (y_lo - y_hi), 0.0, 1.0)


def _legs(signer: SignerStyle, sway: np.ndarray) -> np.ndarray:
    """Pose points 23-32 (hips, knees, ankles, heels, toes) of a standing person (T, 10, 3), body frame."""
    y = np.array([0.0, 0.0, 1.2, 1.2, 2.4, 2.4, 2.48, 2.48, 2.52, 2.52]) + signer.torso
    d = np.array([0.25, 0.25, 0.2, 0.2, 0.25, 0.25, 0.35, 0.35, 0.05, 0.05])
    x = np.tile([1.0, -1.0], 5) * (signer.hip_width / 2 + np.array([0, 0, 0.05, 0.05, 0, 0, 0, 0, 0.03, 0.03]))
    return np.stack([x, y, d], axis=-1)[None] + 0.3 * sway[:, None]


def _hand_image(hand: np.ndarray, raised: np.ndarray, signer: SignerStyle, cam: _Camera,
                rng: np.random.Generator) -> np.ndarray:
    """Hand (T, 21, 3) body frame -> MediaPipe hand array, NaN where the detector misses it."""
    img = _to_image(hand, cam)
    img[..., 2] = (hand[..., 2] - hand[:, :1, 2]) * cam.scale  # hand z: relative to the wrist
    palm = img[:, [0, 5, 9, 17], :2]  # (T, 4, 2) the palm must be in the picture to be detected
    in_frame = ((palm > 0.02) & (palm < 0.98)).all(axis=(1, 2))
    img[~_detected(raised, in_frame, signer, rng)] = np.nan
    return img


def _render(states: np.ndarray, signer: SignerStyle, cam: _Camera, include_face: bool,
            rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Hand-state track (T, 2, D) -> MediaPipe-like float32 arrays (pose, left_hand, right_hand[, face])."""
    T = states.shape[0]
    sway = _smooth_noise(rng, T, 3, 0.02, 25)  # (T, 3) whole upper body
    body, face = _upper_body(signer, sway, rng)
    hands: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for slot in range(2):  # slot 0 = dominant hand
        side = "right" if (slot == 0) == signer.right_handed else "left"
        hands[side] = _arm_and_hand(body, states[:, slot], side, signer, sway, rng)
    body[:, 23:] = _legs(signer, sway)
    noise = np.full(NUM_POSE, signer.jitter)
    noise[23:25], noise[25:] = 2 * signer.jitter, 5 * signer.jitter
    body += rng.normal(0.0, 1.0, body.shape) * noise[None, :, None]
    img = _to_image(body, cam)  # (T, 33, 3)
    out = {"pose": np.concatenate([img, _visibility(img[..., 1], img[..., 0], rng)[..., None]], axis=-1)}
    for side, (hand, raised) in hands.items():
        out[f"{side}_hand"] = _hand_image(hand, raised, signer, cam, rng)
    if include_face:
        fimg = _to_image(face + rng.normal(0.0, 0.3 * signer.jitter, face.shape), cam)
        fimg[..., 2] = (face[..., 2] - face[:, 1:2, 2]) * cam.scale
        out["face"] = fimg
    dropped = rng.random(T) < 0.004  # the whole frame lost (blur, tracking failure)
    for arr in out.values():
        arr[dropped] = np.nan
    return {k: _trim_precision(out[k]) for k in ("pose", "left_hand", "right_hand", "face") if k in out}


def _trim_precision(a: np.ndarray) -> np.ndarray:
    """float32 with the 8 lowest mantissa bits cleared (relative error < 3e-5, files ~20% smaller)."""
    bits = a.astype(np.float32).view(np.uint32) & np.uint32(0xFFFFFF00)
    return bits.view(np.float32)


# ------------------------------------------------------------------------------------------ videos


def _segments(total: int, share: float, seconds: tuple[float, float], fps: float,
              rng: np.random.Generator) -> list[tuple[int, str, int]]:
    """Alternating (start, label, length) rest/signing segments covering `total` frames."""
    ratio = math.sqrt(share / (1 - share))
    mult = {SIGN_LABEL: ratio, REST_LABEL: 1 / ratio}
    min_len = max(6, round(0.6 * seconds[0] * fps))
    label = REST_LABEL if rng.random() < 0.6 else SIGN_LABEL
    segs: list[list] = []
    t = 0
    while t < total:
        length = max(min_len, round(rng.uniform(*seconds) * fps * mult[label]))
        segs.append([t, label, min(length, total - t)])
        t += length
        label = SIGN_LABEL if label == REST_LABEL else REST_LABEL
    if len(segs) > 1 and segs[-1][2] < min_len:
        segs[-2][2] += segs.pop()[2]
    return [(s, lab, n) for s, lab, n in segs]


def _detection_video(signer: SignerStyle, total: int, fps: float, seconds: tuple[float, float],
                     protos: list[SignPrototype], rng: np.random.Generator
                     ) -> tuple[np.ndarray, list[tuple[int, str]]]:
    """Hand-state track (T, 2, D) of a long video and its (start frame, label) annotations.

    Signing segments hold the raise and the lowering of the hands; like a human annotator, the label
    changes halfway through those movements (a video's first annotation stays at frame 0).
    """
    segs = _segments(total, signer.signing_share, seconds, fps, rng)
    current = _rest_state(signer, rng)
    parts, starts = [], [start for start, _, _ in segs]
    for i, (start, label, length) in enumerate(segs):
        rest = _rest_state(signer, rng)
        if label == SIGN_LABEL:
            part, n_up, n_down = _signing(current, rest, length, signer, protos, fps, rng)
            if i > 0:
                starts[i] = start + n_up // 2
            if i + 1 < len(segs):
                starts[i + 1] = start + length - n_down // 2
        else:
            part = _resting(current, rest, length, signer, fps, rng, fidget_prob=0.2)
        parts.append(part)
        current = part[-1]
    return np.concatenate(parts), [(s, lab) for s, (_, lab, _) in zip(starts, segs)]


def _recognition_clip(proto: SignPrototype, signer: SignerStyle, frames: tuple[int, int], fps: float,
                      rng: np.random.Generator) -> np.ndarray:
    """Hand-state track (T, 2, D): a little rest, raise, one sign, lower (T within `frames`)."""
    rest = _rest_state(signer, rng)
    sign = _sign_states(proto, signer, rest, fps, rng)
    lo, hi = frames
    n_up = _move_frames(0.35, signer, fps, rng)
    if n_up + len(sign) + 2 > hi:  # too slow for the clip: compress the sign in time
        idx = np.linspace(0, len(sign) - 1, max(4, hi - n_up - 2)).round().astype(int)
        sign = sign[idx]
    pre = np.repeat(rest[None], int(rng.integers(1, 8)), axis=0)
    up = _transition(rest, sign[0], n_up)
    down = _transition(sign[-1], rest, _move_frames(0.35, signer, fps, rng))
    post = np.repeat(rest[None], int(rng.integers(0, 6)), axis=0)
    clip = np.concatenate([pre, up, sign, down, post])
    if len(clip) < lo:
        clip = np.concatenate([np.repeat(rest[None], lo - len(clip), axis=0), clip])
    return clip[:hi]


def _recognition_classes(signer: SignerStyle, count: int, num_classes: int, bias: float,
                         rng: np.random.Generator) -> list[int]:
    """Class of each clip: balanced per signer, each replaced by a preferred class with prob. bias."""
    classes = rng.permutation(np.arange(count) % num_classes).tolist()
    prefer = rng.random(count) < bias
    return [int(rng.choice(signer.preferred_classes)) if p else c for c, p in zip(classes, prefer)]


# ------------------------------------------------------------------------------------------ writing


def check_out_dir(out_dir: str | Path, overwrite: bool = False) -> None:
    """Raise DataError unless `generate_dataset` may write into `out_dir` (nothing is changed here).

    An absent or empty folder is fine; a non-empty one only with `overwrite`, and never when it holds
    landmark files the generator did not write (those are user data).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise DataError(f"{out_dir}: exists and is not a folder")
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return
    if not overwrite:
        raise DataError(f"{out_dir}: folder is not empty; choose an empty folder or pass overwrite=True "
                        "(--overwrite)")
    foreign = [p for p in out_dir.rglob("*.npz") if p.parent != out_dir or not _VIDEO_FILE.fullmatch(p.name)]
    if foreign:
        raise DataError(f"{out_dir}: holds other landmark files (e.g. {foreign[0].relative_to(out_dir)}) that "
                        "overwriting would mix with the new dataset; use an empty folder")


def _prepare_out_dir(out_dir: Path, overwrite: bool) -> None:
    """Create `out_dir` after `check_out_dir`; with overwrite remove only the files this generator writes."""
    check_out_dir(out_dir, overwrite)
    if out_dir.is_dir():
        for p in out_dir.iterdir():
            if p.is_file() and (_VIDEO_FILE.fullmatch(p.name) or p.name in _OWN_FILES):
                p.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _write_lines(path: Path, header: str, lines: list[str]) -> None:
    path.write_text("\n".join([f"# {header}", *lines]) + "\n", encoding="utf-8")


def _check_args(task: str, num_signers: int, videos_per_signer: int | None, num_classes: int,
                signer_class_bias: float, fps: float, frames: tuple[int, int],
                segment_seconds: tuple[float, float]) -> None:
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if num_signers < 1:
        raise ValueError(f"num_signers must be >= 1, got {num_signers}")
    if videos_per_signer is not None and videos_per_signer < 1:
        raise ValueError(f"videos_per_signer must be >= 1, got {videos_per_signer}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    if not 0.0 <= signer_class_bias <= 1.0:
        raise ValueError(f"signer_class_bias must be in [0, 1], got {signer_class_bias}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    if not 8 <= frames[0] <= frames[1]:
        raise ValueError(f"frames must be (lo, hi) with 8 <= lo <= hi, got {frames}")
    if not 0 < segment_seconds[0] <= segment_seconds[1]:
        raise ValueError(f"segment_seconds must be (lo, hi) with 0 < lo <= hi, got {segment_seconds}")


def generate_dataset(
    out_dir: str | Path,
    *,
    task: str = "detection",
    num_signers: int = 6,
    videos_per_signer: int | None = None,
    num_classes: int = 5,
    signer_class_bias: float = 0.0,
    include_face: bool = False,
    seed: int = 0,
    fps: float = 25.0,
    frames: tuple[int, int] | None = None,
    segment_seconds: tuple[float, float] = (1.0, 4.0),
    overwrite: bool = False,
    write_signer_scalar: bool = False,
) -> SyntheticInfo:
    """Write a synthetic MediaPipe-like dataset folder and describe it.

    task "detection": `videos_per_signer` (default 3) long videos of `frames` (default 300-450) frames
    alternating resting ("n") and signing ("s") segments of `segment_seconds`; groundtruth has a line at
    each segment start. task "recognition": `videos_per_signer` (default 6 per class) clips of `frames`
    (default 30-60) frames, one sign of `num_classes` classes ("sign00", ...) each, labelled at frame 0.
    `signer_class_bias` in [0, 1] ties classes (signing share in detection) and a style cue to signers.
    The same seed gives the same signers for both tasks and identical arrays. Raises DataError for a
    non-empty `out_dir` unless `overwrite` (which only replaces files this generator writes).
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    frames = tuple(frames) if frames is not None else DEFAULT_FRAMES[task]
    _check_args(task, num_signers, videos_per_signer, num_classes, signer_class_bias, fps, frames,
                tuple(segment_seconds))
    out = Path(out_dir)
    _prepare_out_dir(out, overwrite)
    task_id = TASKS.index(task)
    bias_rng = np.random.default_rng(np.random.SeedSequence([seed, 11, task_id]))
    signers = _with_bias(make_signers(num_signers, seed), task, num_classes, signer_class_bias, bias_rng)
    names = class_names(num_classes)
    if videos_per_signer is None:
        videos_per_signer = DEFAULT_VIDEOS_PER_SIGNER if task == "detection" else _CLIPS_PER_CLASS * num_classes
    protos = sign_prototypes(max(num_classes, len(_PROTOTYPES)))
    info = SyntheticInfo(out, task, [], {}, [REST_LABEL, SIGN_LABEL] if task == "detection" else names, {},
                         signers={sg.signer_id: sg for sg in signers})
    gt_lines, signer_lines = [], []
    for s, signer in enumerate(signers):
        rng = np.random.default_rng(np.random.SeedSequence([seed, 13, task_id, s]))
        clip_classes = _recognition_classes(signer, videos_per_signer, num_classes, signer_class_bias, rng)
        for v in range(videos_per_signer):
            vrng = np.random.default_rng(np.random.SeedSequence([seed, 17, task_id, s, v]))
            if task == "detection":
                total = int(vrng.integers(frames[0], frames[1] + 1))
                states, labels = _detection_video(signer, total, fps, tuple(segment_seconds), protos, vrng)
            else:
                states = _recognition_clip(protos[clip_classes[v]], signer, frames, fps, vrng)
                labels = [(0, names[clip_classes[v]])]
                info.labels[f"{signer.signer_id}_vid{v:03d}"] = labels[0][1]
            arrays = _render(_add_idle_motion(states, vrng), signer, _video_camera(signer, vrng), include_face, vrng)
            vid = f"{signer.signer_id}_vid{v:03d}"
            extra = {"signer": np.array(signer.signer_id)} if write_signer_scalar else {}
            np.savez_compressed(out / f"{vid}.npz", **arrays, fps=np.array(fps, dtype=np.float32), **extra)
            info.video_ids.append(vid)
            info.signer_of[vid] = signer.signer_id
            info.num_frames[vid] = int(states.shape[0])
            gt_lines += [f"{vid} {start} {label}" for start, label in labels]
            signer_lines.append(f"{vid} {signer.signer_id}")
    header = f"synthetic SignSTGCN data (signstgcn.data.synthetic): task={task} seed={seed}"
    _write_lines(out / "groundtruth.txt", header + "; <video_id> <frame> <label>", gt_lines)
    _write_lines(out / "signers.txt", header + "; <video_id> <signer_id>", signer_lines)
    meta = {
        "generator": "signstgcn.data.synthetic", "task": task, "seed": seed, "fps": fps,
        "num_signers": num_signers, "videos_per_signer": videos_per_signer, "num_classes": num_classes,
        "signer_class_bias": signer_class_bias, "include_face": include_face, "frames": list(frames),
        "segment_seconds": list(segment_seconds), "classes": info.classes,
        "signers": {sg.signer_id: asdict(sg) for sg in signers},
    }
    (out / "synthetic.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return info
