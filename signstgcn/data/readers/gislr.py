"""Kaggle's Google Isolated Sign Language Recognition data ("asl-signs"): one parquet per clip plus ``train.csv``.

A clip's parquet has one row per landmark per frame, columns ``frame``, ``row_id``, ``type``, ``landmark_index``,
``x``, ``y``, ``z``; ``type`` is ``face`` (468 points), ``left_hand`` (21), ``pose`` (33) or ``right_hand`` (21),
and a landmark MediaPipe did not find is a row of NaN (a hand missing in a frame: 21 NaN rows). It becomes one
video with our parts (x, y, z: 3 channels); frame ``f`` of the clip is row ``f - first frame`` (frame numbers
start anywhere), and a frame number without rows is an all-NaN frame.

``train.csv`` (columns ``path, participant_id, sequence_id, sign``) labels the clips: ``sign`` is the clip's label
(one label from its first frame), ``participant_id`` its signer and ``sequence_id`` its video id (the parquet's
file name, as in the Kaggle data). The optional ``sign_to_prediction_index_map.json`` (sign → index) fixes the
class order of a multi-class model, so its outputs line up with the competition's.

Needs pyarrow (``pip install 'signstgcn[parquet]'``). Rows of an unknown ``type`` are left out with one warning
per file (the other landmarks are still read).
"""

from __future__ import annotations

import csv
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from signstgcn.data.landmarks import Landmarks, validate_part
from signstgcn.errors import DataError

log = logging.getLogger(__name__)

TRAIN_CSV = "train.csv"
CLASS_MAP = "sign_to_prediction_index_map.json"
CSV_COLUMNS = ("path", "participant_id", "sequence_id", "sign")
PART_POINTS = {"face": 468, "left_hand": 21, "pose": 33, "right_hand": 21}  # the GISLR types, our part names
COLUMNS = ("frame", "type", "landmark_index", "x", "y", "z")


def _pyarrow(path: Path):
    """``(pyarrow, pyarrow.compute, pyarrow.parquet)``; a one-line error naming the extra without them."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError(f"{path}: reading GISLR parquet files needs pyarrow (pip install 'signstgcn[parquet]')") \
            from None
    return pa, pc, pq


def load_gislr_parquet(path: str | Path) -> Landmarks:
    """One GISLR clip (see the module docstring) → Landmarks with parts face, left_hand, pose, right_hand."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: GISLR parquet file not found")
    pa, pc, pq = _pyarrow(path)
    try:
        table = pq.read_table(path, columns=list(COLUMNS))
    except (OSError, ValueError) as err:  # pyarrow's errors derive from these (ArrowInvalid, ArrowIOError)
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise DataError(f"{path}: not a GISLR landmark parquet with columns {', '.join(COLUMNS)} "
                        f"({reason})") from None
    if table.num_rows == 0:
        raise DataError(f"{path}: GISLR parquet has no rows")
    frame = table.column("frame").to_numpy().astype(np.int64)  # (R,)
    index = table.column("landmark_index").to_numpy().astype(np.int64)
    kinds = table.column("type").cast(pa.string())  # plain or dictionary-encoded strings
    names = [str(v) for v in pc.unique(kinds).to_pylist()]
    codes = pc.index_in(kinds, value_set=pa.array(names)).to_numpy()  # (R,) position in names
    xyz = np.stack([table.column(c).to_numpy().astype(np.float32) for c in ("x", "y", "z")],
                   axis=1)  # (R, 3), NaN where not found (a null reads as NaN too)
    unknown = [n for n in names if n not in PART_POINTS]
    if unknown:
        log.warning("%s: rows of unknown landmark type %s left out (GISLR types: %s)", path,
                    ", ".join(repr(n) for n in unknown), ", ".join(PART_POINTS))
    first, T = int(frame.min()), int(frame.max() - frame.min()) + 1
    arrays: dict[str, np.ndarray] = {}
    for code, name in enumerate(names):
        points = PART_POINTS.get(name)
        if points is None:
            continue
        rows = codes == code
        idx = index[rows]
        if idx.min() < 0 or idx.max() >= points:
            raise DataError(f"{path}: {name} landmark_index {int(idx.max())} is out of range "
                            f"(a GISLR {name} has {points} points)")
        part = np.full((T, points, 3), np.nan, dtype=np.float32)  # (T, V_part, 3)
        part[frame[rows] - first, idx] = xyz[rows]
        arrays[name] = validate_part(path, name, part)
    if not arrays:
        raise DataError(f"{path}: no rows of the GISLR types {', '.join(PART_POINTS)}")
    return Landmarks(path=path, arrays=arrays, fps=None)


@dataclass(frozen=True)
class GislrIndex:
    """What ``train.csv`` (and the class map) say about a folder's clips, by video id (= sequence_id)."""

    labels: dict[str, str]
    signers: dict[str, str]
    paths: dict[str, str]  # parquet path relative to the folder
    classes: tuple[str, ...] | None  # class order of sign_to_prediction_index_map.json


def is_gislr_folder(path: str | Path) -> bool:
    """True when ``path`` is a folder whose ``train.csv`` has the GISLR columns."""
    csv_path = Path(path) / TRAIN_CSV
    if not csv_path.is_file():
        return False
    try:
        with open(csv_path, encoding="utf-8", newline="") as f:
            header = next(csv.reader(f), [])
    except (OSError, UnicodeDecodeError):
        return False
    return all(c in header for c in CSV_COLUMNS)


def read_gislr_index(root: str | Path) -> GislrIndex:
    """Parse ``root/train.csv`` (and ``root/sign_to_prediction_index_map.json`` when present)."""
    root = Path(root)
    csv_path = root / TRAIN_CSV
    labels: dict[str, str] = {}
    signers: dict[str, str] = {}
    paths: dict[str, str] = {}
    with open(csv_path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise DataError(f"{csv_path}: missing columns {', '.join(missing)} (GISLR: {', '.join(CSV_COLUMNS)})")
        for line, row in enumerate(reader, start=2):
            vid, sign = (row["sequence_id"] or "").strip(), (row["sign"] or "").strip()
            if not vid or not sign:
                raise DataError(f"{csv_path}:{line}: empty sequence_id or sign")
            stem = Path(row["path"] or "").stem
            if stem != vid:
                raise DataError(f"{csv_path}:{line}: path {row['path']!r} is not named after its sequence_id "
                                f"{vid} (expected .../{vid}.parquet, as in the Kaggle data)")
            if vid in labels:
                raise DataError(f"{csv_path}:{line}: sequence_id {vid} appears twice")
            labels[vid], paths[vid] = sign, row["path"]
            participant = (row["participant_id"] or "").strip()
            if participant:
                signers[vid] = participant
    return GislrIndex(labels, signers, paths, _read_class_map(root / CLASS_MAP))


def _read_class_map(path: Path) -> tuple[str, ...] | None:
    """Signs in prediction-index order from ``sign_to_prediction_index_map.json`` (None when absent)."""
    if not path.is_file():
        return None
    try:
        mapping = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a JSON object of sign -> index ({err})") from None
    if not isinstance(mapping, dict) or not all(isinstance(v, int) for v in mapping.values()):
        raise DataError(f"{path}: expected a JSON object of sign -> integer index")
    order = sorted(mapping, key=mapping.__getitem__)
    if sorted(mapping.values()) != list(range(len(mapping))):
        raise DataError(f"{path}: the indices must be 0..{len(mapping) - 1}, each once")
    return tuple(order)
