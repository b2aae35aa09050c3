"""Flags shared by the commands that read landmark folders for a model: the parts and the input representation
(``train`` and ``pretrain`` use the same ones, so an encoder and the model it initializes read the same input)."""

from __future__ import annotations

import argparse

from signstgcn.data.transforms import AUGMENT_PRESETS, DOMINANT_HAND

__all__ = ["REPRESENTATION_FLAGS", "add_part_args", "add_representation_args", "representation_values"]

# the flags of add_representation_args, by their InputOptions field names
REPRESENTATION_FLAGS = ("hands_relative", "face_channels", "canonical_bones", "level_shoulders", "dominant_hand",
                        "augment", "aspect_augment")


def add_part_args(group: argparse._ArgumentGroup) -> None:
    """``--coords``, ``--include-pose/-hands/-face``, ``--pose-subset``, ``--face-subset``."""
    group.add_argument("--coords", type=int, default=2, help="coordinate channels to use (2 = x,y; 3 adds z)")
    group.add_argument("--include-pose", action="store_true",
                       help="use the pose (none of --include-* = pose+hands)")
    group.add_argument("--include-hands", action="store_true", help="use both hands")
    group.add_argument("--include-face", action="store_true", help="use the face (see --face-subset)")
    group.add_argument("--pose-subset", choices=("upper", "full"), default="upper",
                       help="pose joints: upper body (no legs) or the full pose")
    group.add_argument("--face-subset", choices=("compact", "full"), default="compact",
                       help="face points with --include-face: the contour subset or the full mesh")


def add_representation_args(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """The input representation group (normalization and augmentation); returns it for more flags."""
    r = parser.add_argument_group("input representation (signer and camera invariance; stored in the checkpoint)")
    r.add_argument("--hands-relative", action=argparse.BooleanOptionalAction, default=True,
                   help="hand joints relative to their own wrist (hand shape apart from hand location)")
    r.add_argument("--face-channels", action=argparse.BooleanOptionalAction, default=False,
                   help="2 more channels per joint: its position relative to the nose in face units, so a hand "
                        "'at the chin' reads the same for every person and camera (needs the pose)")
    r.add_argument("--canonical-bones", action=argparse.BooleanOptionalAction, default=True,
                   help="retarget every bone onto a reference skeleton fitted on the training videos, keeping "
                        "its direction (arm length, hand size and build no longer identify the signer)")
    r.add_argument("--level-shoulders", action=argparse.BooleanOptionalAction, default=False,
                   help="rotate each window so the shoulder line is level (camera roll, leaning)")
    r.add_argument("--dominant-hand", choices=DOMINANT_HAND, default="any",
                   help="right: mirror windows whose left hand moves more, in training and at test time "
                        "(left-handed signing read as right-handed; replaces the random mirror)")
    r.add_argument("--augment", choices=AUGMENT_PRESETS, default="standard",
                   help="training augmentation: standard (mirror, rotation 15 deg, scale, shear, speed "
                        "0.8-1.2x, joint dropout), strong (wider: speed 0.5-1.5x, whole-hand dropout, ...) "
                        "or none")
    r.add_argument("--aspect-augment", action=argparse.BooleanOptionalAction, default=False,
                   help="draw the camera's aspect ratio (x stretched 9:16 .. 16:9 before normalization), for "
                        "landmarks whose frame size is unknown: robustness to other cameras and phone video")
    return r


def representation_values(args: argparse.Namespace) -> dict[str, object]:
    """The flags of :func:`add_representation_args` as ``{InputOptions field: value}``."""
    return {name: getattr(args, name) for name in REPRESENTATION_FLAGS}
