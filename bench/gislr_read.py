"""How long reading a GISLR / Kaggle asl-signs folder takes: parquet files directly, and through ``signstgcn pack``.

    python bench/gislr_read.py --clips 10000            # writes a synthetic folder of that many clips first
    python bench/gislr_read.py --data /data/asl-signs   # a real one (train.csv + train_landmark_files/)

Clips are written in the competition's schema (543 rows per frame: face, left hand, pose, right hand; NaN rows
for a hand not found), 10-60 frames each (asl-signs clips have 1-500 frames, median about 30), 21 participants.
Reported: seconds to read every clip (``load_corpus`` on the folder), to pack it, and to load the pack. The last
line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signstgcn.data.corpus import load_corpus  # noqa: E402
from signstgcn.data.landmarks import PartSelection  # noqa: E402
from signstgcn.data.pack import pack_folder  # noqa: E402

TYPES = (("face", 468), ("left_hand", 21), ("pose", 33), ("right_hand", 21))


def write_synthetic(root: Path, clips: int, seed: int = 0) -> None:
    """``clips`` parquet files and a ``train.csv`` in the GISLR layout."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    kinds = np.concatenate([np.full(n, name) for name, n in TYPES])  # (543,)
    index = np.concatenate([np.arange(n) for _, n in TYPES]).astype(np.int16)
    rows = ["path,participant_id,sequence_id,sign"]
    for k in range(clips):
        T, first = int(rng.integers(10, 61)), int(rng.integers(0, 200))
        xyz = rng.uniform(0.1, 0.9, size=(T, 543, 3))
        xyz[rng.random(T) < 0.4, 468:489] = np.nan  # left hand not found
        participant, seq = 16000 + k % 21, 1_000_000 + k
        rel = f"train_landmark_files/{participant}/{seq}.parquet"
        frame = np.repeat(np.arange(first, first + T), 543).astype(np.int16)
        kind, idx = pa.array(np.tile(kinds, T)), pa.array(np.tile(index, T))
        row_id = pc.binary_join_element_wise(pa.array(frame).cast(pa.string()), kind, idx.cast(pa.string()), "-")
        table = pa.table({"frame": frame, "row_id": row_id, "type": kind, "landmark_index": idx,
                          "x": xyz[..., 0].ravel(), "y": xyz[..., 1].ravel(), "z": xyz[..., 2].ravel()})
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, root / rel)
        rows.append(f"{rel},{participant},{seq},sign{k % 250}")
    (root / "train.csv").write_text("\n".join(rows) + "\n")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=None, help="a GISLR folder (default: write a synthetic one)")
    p.add_argument("--clips", type=int, default=10_000, help="clips of the synthetic folder")
    args = p.parse_args(argv)
    tmp = None
    if args.data is None:
        tmp = Path(tempfile.mkdtemp(prefix="gislr-bench-"))
        tic = time.perf_counter()
        write_synthetic(tmp, args.clips)
        print(f"wrote {args.clips} synthetic clips in {time.perf_counter() - tic:.0f} s", flush=True)
    root = Path(args.data) if args.data else tmp
    selection = PartSelection(coords=2)  # pose + hands, the training default
    try:
        tic = time.perf_counter()
        corpus = load_corpus(root, selection=selection)
        read_s = time.perf_counter() - tic
        tic = time.perf_counter()
        pack = pack_folder(root, selection=selection, overwrite=True)
        pack_s = time.perf_counter() - tic
        tic = time.perf_counter()
        packed = load_corpus(root, selection=selection)
        load_s = time.perf_counter() - tic
        assert packed.video_ids == corpus.video_ids
        row = {"clips": len(corpus.video_ids), "frames": corpus.total_frames, "read_s": round(read_s, 1),
               "clips_per_s": round(len(corpus.video_ids) / read_s), "pack_s": round(pack_s, 1),
               "pack_load_s": round(load_s, 2), "pack_mb": round(pack.nbytes / 1e6, 1)}
        print(json.dumps(row))
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
