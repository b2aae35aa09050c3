"""Packed data folder: every video's selected joints in one memory-mapped ``frames.npy``.

``signstgcn pack DIR`` (:func:`pack_folder`) reads each landmark file once, exactly as
:func:`~signstgcn.data.corpus.load_corpus` does, and writes (atomically, default ``DIR/.signstgcn-pack``):

- ``frames.npy`` (total_frames, V, C) float32, NaN = missing, appended video by video (never all in RAM);
- ``offsets.npy`` (M+1,) int64: video ``m`` is ``frames[offsets[m]:offsets[m + 1]]``;
- ``pack.json``: format version, layout and part selection, and per video (in order) its id, fps, npz
  ``signer`` scalar and source file (path relative to DIR, size, mtime_ns);
- copies of ``groundtruth.txt`` and ``signers.txt`` (GISLR: ``train.csv`` and its class map), so ``--data PACK``
  is self-contained.

:func:`open_pack` maps ``frames.npy`` read-only: a video is a view, resident memory stays near zero until
pages are read, and processes reading the same pack (DDP ranks, loader workers) share the page cache.
:func:`find_pack` is how ``load_corpus`` picks a pack up: ``--data PACK`` directly, or a fresh
``DIR/.signstgcn-pack`` packed with the same parts (else one warning and the landmark files are read).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import struct
import tempfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from signstgcn import __version__
from signstgcn.data.landmarks import JointSelector, PartSelection
from signstgcn.data.layout import LayoutSpec
from signstgcn.data.readers import find_landmark_files, load_landmarks
from signstgcn.data.readers.gislr import CLASS_MAP, TRAIN_CSV
from signstgcn.data.signers import SIGNERS_FILE
from signstgcn.errors import DataError

log = logging.getLogger(__name__)

PACK_DIRNAME = ".signstgcn-pack"
PACK_FILE = "pack.json"
FRAMES_FILE = "frames.npy"
OFFSETS_FILE = "offsets.npy"
PACK_FORMAT = "signstgcn-pack"
PACK_VERSION = 1
SIDECAR_FILES = ("groundtruth.txt", SIGNERS_FILE, TRAIN_CSV, CLASS_MAP)  # copied from DIR when present
_NPY_HEADER_BYTES = 128  # fixed .npy v1.0 header, rewritten in place once the frame count is known


@dataclass(frozen=True)
class SourceStamp:
    """Where a packed video came from: path relative to the data folder, size and mtime_ns."""

    path: str
    size: int
    mtime_ns: int


@dataclass
class PackInfo:
    """What ``pack.json`` describes (no arrays)."""

    path: Path
    video_ids: list[str]
    layout_spec: LayoutSpec
    selection: PartSelection
    num_frames: int
    fps: dict[str, float | None]
    signers: dict[str, str]
    sources: dict[str, SourceStamp]
    source_dir: str

    @property
    def coords(self) -> int:
        return self.selection.coords

    @property
    def num_joints(self) -> int:
        return self.layout_spec.build().num_nodes

    @property
    def nbytes(self) -> int:
        return self.num_frames * self.num_joints * self.coords * 4  # float32

    def to_json(self) -> dict[str, Any]:
        return {
            "format": PACK_FORMAT,
            "version": PACK_VERSION,
            "signstgcn_version": __version__,
            "source_dir": self.source_dir,
            "num_frames": self.num_frames,
            "num_joints": self.num_joints,
            "coords": self.coords,
            "selection": asdict(self.selection),
            "layout_spec": asdict(self.layout_spec),
            "videos": [
                {"id": v, "fps": self.fps.get(v), "signer": self.signers.get(v), **asdict(self.sources[v])}
                for v in self.video_ids
            ],
        }


@dataclass
class Pack:
    """An opened pack: ``frames`` (total_frames, V, C) is a read-only memmap, ``offsets`` (M+1,) int64."""

    info: PackInfo
    frames: np.ndarray
    offsets: np.ndarray
    _index: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._index = {v: m for m, v in enumerate(self.info.video_ids)}

    def video(self, video_id: str) -> np.ndarray:
        """(T, V, C) read-only view of one video (no copy)."""
        m = self._index[video_id]
        return self.frames[self.offsets[m]:self.offsets[m + 1]]


def is_pack(path: str | Path) -> bool:
    """Whether ``path`` is a pack folder (holds ``pack.json``)."""
    return (Path(path) / PACK_FILE).is_file()


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def _source_stamp(path: Path, root: Path) -> SourceStamp:
    """Size and mtime of a landmark file; for an OpenPose folder, of all its files together."""
    rel = path.relative_to(root).as_posix()
    if path.is_dir():
        stats = [path.stat(), *(p.stat() for p in path.iterdir() if p.is_file())]
        return SourceStamp(rel, sum(s.st_size for s in stats[1:]), max(s.st_mtime_ns for s in stats))
    stat = path.stat()
    return SourceStamp(rel, stat.st_size, stat.st_mtime_ns)


def _npy_header(shape: tuple[int, ...]) -> bytes:
    """A ``.npy`` v1.0 header for little-endian float32 C-order data, padded to a fixed size."""
    text = repr({"descr": "<f4", "fortran_order": False, "shape": shape})
    assert len(text) < _NPY_HEADER_BYTES - 16, text
    prefix = np.lib.format.magic(1, 0)
    body = text.ljust(_NPY_HEADER_BYTES - len(prefix) - 2 - 1) + "\n"
    return prefix + struct.pack("<H", len(body)) + body.encode("latin1")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _check_out_dir(out: Path, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise DataError(f"{out}: exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return
    if not overwrite:
        raise DataError(f"{out}: folder is not empty; pass --overwrite (overwrite=True) to replace the pack in it")
    if not is_pack(out):
        raise DataError(f"{out}: holds files but no {PACK_FILE}; refusing to replace a folder that is not a pack")


def pack_folder(
    data_dir: str | Path,
    out_dir: str | Path | None = None,
    selection: PartSelection | None = None,
    *,
    overwrite: bool = False,
    progress: bool = False,
) -> PackInfo:
    """Pack every landmark file under ``data_dir`` into ``out_dir`` (default ``DATA/.signstgcn-pack``).

    The pack is written in a temporary folder beside ``out_dir`` and renamed into place at the end; an
    existing non-empty ``out_dir`` is replaced only with ``overwrite`` and only when it is a pack.
    """
    selection = selection or PartSelection()
    root = Path(data_dir)
    out = Path(out_dir) if out_dir is not None else root / PACK_DIRNAME
    files = find_landmark_files(root)
    _check_out_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; a pack is as shared as any new folder
        info = _write_pack(root, files, tmp, selection, progress)
        for name in SIDECAR_FILES:
            if (root / name).is_file():
                shutil.copy2(root / name, tmp / name)
        (tmp / PACK_FILE).write_text(json.dumps(info.to_json(), indent=1) + "\n", encoding="utf-8")
        _replace_dir(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    info.path = out
    return info


def _write_pack(root: Path, files: Mapping[str, Path], tmp: Path, selection: PartSelection,
                progress: bool) -> PackInfo:
    """Write ``frames.npy`` and ``offsets.npy`` into ``tmp``, one video at a time."""
    selector = JointSelector(selection)
    offsets = [0]
    fps: dict[str, float | None] = {}
    signers: dict[str, str] = {}
    sources: dict[str, SourceStamp] = {}
    with open(tmp / FRAMES_FILE, "wb") as f:
        f.write(_npy_header((0, 0, 0)))  # placeholder of the same size
        for vid in tqdm(files, desc="packing landmarks", unit="video", disable=not progress, leave=False):
            sources[vid] = _source_stamp(files[vid], root)  # before reading: a later change reads as stale
            lm = load_landmarks(files[vid])
            frames = selector(lm)  # (T, V, C)
            f.write(np.ascontiguousarray(frames, dtype="<f4").tobytes())
            offsets.append(offsets[-1] + frames.shape[0])
            fps[vid] = lm.fps
            if lm.signer is not None:
                signers[vid] = lm.signer
        assert selector.spec is not None and selector.layout is not None
        shape = (offsets[-1], selector.layout.num_nodes, selection.coords)  # (total_frames, V, C)
        f.seek(0)
        f.write(_npy_header(shape))
    np.save(tmp / OFFSETS_FILE, np.asarray(offsets, dtype=np.int64))  # (M+1,)
    return PackInfo(path=tmp, video_ids=list(files), layout_spec=selector.spec, selection=selection,
                    num_frames=offsets[-1], fps=fps, signers=signers, sources=sources,
                    source_dir=str(root.resolve()))


def _replace_dir(new: Path, out: Path) -> None:
    """Move ``new`` to ``out``; a previous ``out`` is set aside first and removed after the rename."""
    old = None
    if out.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
        os.replace(out, old / out.name)
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def read_pack_info(pack_dir: str | Path) -> PackInfo:
    """Parse ``PACK/pack.json`` (no arrays are opened); a DataError names what is wrong."""
    path = Path(pack_dir) / PACK_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DataError(f"{path}: not found; expected a pack written by 'signstgcn pack'") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DataError(f"{path}: not a readable pack description ({type(err).__name__}: {err})") from None
    if not isinstance(meta, dict) or meta.get("format") != PACK_FORMAT:
        raise DataError(f"{path}: not a signstgcn pack (no \"format\": \"{PACK_FORMAT}\")")
    if meta.get("version") != PACK_VERSION:
        raise DataError(f"{path}: pack format version {meta.get('version')!r}, this signstgcn reads version "
                        f"{PACK_VERSION}; re-create it with: signstgcn pack {meta.get('source_dir') or 'DIR'} "
                        f"--out {Path(pack_dir)} --overwrite")
    try:
        videos = meta["videos"]
        return PackInfo(
            path=Path(pack_dir),
            video_ids=[str(v["id"]) for v in videos],
            layout_spec=LayoutSpec(**meta["layout_spec"]),
            selection=PartSelection(**{"isotropic": False, **meta["selection"]}),  # packs before frame sizes
            num_frames=int(meta["num_frames"]),
            fps={str(v["id"]): None if v["fps"] is None else float(v["fps"]) for v in videos},
            signers={str(v["id"]): str(v["signer"]) for v in videos if v.get("signer") is not None},
            sources={str(v["id"]): SourceStamp(str(v["path"]), int(v["size"]), int(v["mtime_ns"])) for v in videos},
            source_dir=str(meta.get("source_dir", "")),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise DataError(f"{path}: incomplete or malformed pack description ({type(err).__name__}: {err})") from None


def _repack_hint(info: PackInfo) -> str:
    source = Path(info.source_dir or "DIR")
    out = "" if info.path.resolve() == (source / PACK_DIRNAME).resolve() else f" --out {info.path}"
    return f"re-create it with: signstgcn pack {source}{out}{_pack_flags(info.layout_spec, info.coords)} --overwrite"


def _load_array(path: Path, info: PackInfo, mmap: bool) -> np.ndarray:
    how = _repack_hint(info)
    if not path.is_file():
        raise DataError(f"{path}: missing from the pack; {how}")
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path}: not a readable .npy array ({type(err).__name__}: {err}); {how}") from None


def open_pack(pack_dir: str | Path) -> Pack:
    """Open a pack: ``pack.json``, ``offsets.npy`` and ``frames.npy`` memory-mapped read-only, checked."""
    info = read_pack_info(pack_dir)
    root = Path(pack_dir)
    how = _repack_hint(info)
    offsets = _load_array(root / OFFSETS_FILE, info, mmap=False)
    m = len(info.video_ids)
    if (offsets.shape != (m + 1,) or offsets.dtype != np.int64 or offsets[0] != 0
            or np.any(np.diff(offsets) < 0) or offsets[-1] != info.num_frames):
        raise DataError(f"{root / OFFSETS_FILE}: expected {m + 1} non-decreasing int64 offsets from 0 to "
                        f"{info.num_frames}, got shape {offsets.shape} {offsets.dtype}; {how}")
    frames = _load_array(root / FRAMES_FILE, info, mmap=True)
    expected = (info.num_frames, info.num_joints, info.coords)
    if frames.shape != expected or frames.dtype != np.float32:
        raise DataError(f"{root / FRAMES_FILE}: expected float32 {expected} (frames, V, C), got {frames.dtype} "
                        f"{frames.shape}; {how}")
    return Pack(info=info, frames=frames, offsets=offsets)


# --------------------------------------------------------------------------------------------------
# Choosing a pack in load_corpus
# --------------------------------------------------------------------------------------------------


def describe_parts(spec: LayoutSpec, coords: int) -> str:
    """What a corpus holds in a few words, e.g. ``mediapipe pose(upper)+hands, coords 2``."""
    parts = [f"pose({spec.pose_subset})"] if spec.include_pose else []
    parts += ["hands"] if spec.include_hands else []
    parts += [f"face({spec.face_subset})"] if spec.include_face else []
    return f"{spec.skeleton} {'+'.join(parts)}, coords {coords}"


def _pack_flags(spec: LayoutSpec, coords: int) -> str:
    """The ``signstgcn pack`` flags that select ``spec`` and ``coords``."""
    flags = []
    if not (spec.include_pose and spec.include_hands and not spec.include_face):
        flags += [f"--include-{p}" for p, on in (("pose", spec.include_pose), ("hands", spec.include_hands),
                                                 ("face", spec.include_face)) if on]
    flags += ["--pose-subset full"] if spec.include_pose and spec.pose_subset != "upper" else []
    flags += ["--face-subset full"] if spec.include_face and spec.face_subset != "compact" else []
    flags += [f"--coords {coords}"] if coords != PartSelection().coords else []
    return "".join(f" {f}" for f in flags)


def selection_mismatch(info: PackInfo, selection: PartSelection, layout_spec: LayoutSpec | None) -> str | None:
    """Why ``info`` does not hold the joints ``load_corpus(selection, layout_spec)`` asks for (None: it does)."""
    packed = info.layout_spec
    wanted = layout_spec or selection.layout_spec(skeleton=packed.skeleton, face_points=packed.face_points)
    if wanted == packed and selection.coords == info.coords:
        if info.selection.isotropic == selection.isotropic:
            return None
        return ("packed before frame sizes were used (x as a fraction of the frame width), asked for isotropic "
                "coordinates" if selection.isotropic else "packed with isotropic coordinates, asked for x as a "
                "fraction of the frame width (a model trained before frame sizes were used)")
    return (f"packed with {describe_parts(packed, info.coords)}, "
            f"asked for {describe_parts(wanted, selection.coords)}")


def _stale_reason(info: PackInfo, root: Path) -> str | None:
    """Why the pack no longer matches the landmark files under ``root`` (None: it is fresh)."""
    files = find_landmark_files(root)
    added = [v for v in files if v not in info.sources]
    removed = [v for v in info.sources if v not in files]
    changed = [v for v in files if v in info.sources and _source_stamp(files[v], root) != info.sources[v]]
    if not (added or removed or changed):
        return None
    paths = {v: s.path for v, s in info.sources.items()}
    paths.update((v, p.relative_to(root).as_posix()) for v, p in files.items())
    counts = [f"{len(ids)} {what} (e.g. {paths[ids[0]]})"
              for ids, what in ((changed, "changed"), (added, "added"), (removed, "removed")) if ids]
    return f"landmark files changed since packing: {', '.join(counts)}"


def find_pack(data_dir: str | Path, selection: PartSelection, layout_spec: LayoutSpec | None = None) -> Pack | None:
    """The pack ``load_corpus(data_dir)`` should read, or None to read the landmark files.

    ``data_dir`` itself a pack: it must hold the asked-for joints (else a DataError). ``data_dir`` with
    a ``.signstgcn-pack`` inside: used when fresh and of the same joints, else one warning and None.
    """
    root = Path(data_dir)
    if is_pack(root):
        pack = open_pack(root)
        mismatch = selection_mismatch(pack.info, selection, layout_spec)
        if mismatch:
            flags = _pack_flags(layout_spec or selection.layout_spec(), selection.coords)
            raise DataError(f"{root / PACK_FILE}: {mismatch}; pass the flags it was packed with, or re-pack: "
                            f"signstgcn pack {pack.info.source_dir or 'DIR'} --out {root}{flags} --overwrite")
        return pack
    auto = root / PACK_DIRNAME
    if not is_pack(auto):
        return None
    try:
        info = read_pack_info(auto)
        why = selection_mismatch(info, selection, layout_spec) or _stale_reason(info, root)
        if why is None:
            return open_pack(auto)
    except DataError as err:  # unreadable pack: the landmark files are still there
        why = str(err)
    flags = _pack_flags(layout_spec or selection.layout_spec(), selection.coords)
    log.warning("%s: not used (%s); reading the landmark files instead. Re-pack with: signstgcn pack %s%s "
                "--overwrite", auto / PACK_FILE, why, root, flags)
    return None
