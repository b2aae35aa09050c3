"""``.npz`` landmark files: the user format (arrays ``pose``, ``left_hand``, ``right_hand``, ``face``; optional
scalars ``fps`` and ``signer``, and ``image_size`` = the frame's (width, height) in pixels), see
:mod:`signstgcn.data.landmarks`."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from signstgcn.data.landmarks import EXPECTED_PARTS, PART_JOINTS, Landmarks, check_image_size, validate_part
from signstgcn.errors import DataError


def _scalar(path: Path, data: np.lib.npyio.NpzFile, key: str) -> np.ndarray | None:
    if key not in data.files:
        return None
    value = data[key]
    if value.size != 1:
        raise DataError(f"{path}: {key!r} must be a scalar, got shape {tuple(value.shape)}")
    return value.reshape(())


def load_npz(path: str | Path) -> Landmarks:
    """Read and validate one ``.npz`` landmark file (see module docstring for the format)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such landmark file")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: validate_part(path, name, data[name]) for name in PART_JOINTS if name in data.files}
            fps = _scalar(path, data, "fps")
            signer = _scalar(path, data, "signer")
            image_size = check_image_size(path, data["image_size"]) if "image_size" in data.files else None
            files = list(data.files)
    except DataError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as err:
        raise DataError(f"{path}: not a readable .npz file ({type(err).__name__}: {err})") from None
    if not arrays:
        raise DataError(f"{path}: no landmark arrays (found {files or 'none'}); expected {EXPECTED_PARTS}")
    lengths = {name: a.shape[0] for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(f"{path}: parts have different frame counts {lengths}; expected one T for all")
    if next(iter(lengths.values())) == 0:
        raise DataError(f"{path}: has 0 frames")
    fps_value = None
    if fps is not None:
        try:
            fps_value = float(fps)
        except (TypeError, ValueError):
            raise DataError(f"{path}: 'fps' must be a number, got {fps!r}") from None
        if not np.isfinite(fps_value) or fps_value <= 0:
            raise DataError(f"{path}: 'fps' must be positive, got {fps_value}")
    signer_value = None if signer is None else str(signer.item())
    return Landmarks(path=path, arrays=arrays, fps=fps_value, signer=signer_value, image_size=image_size)
