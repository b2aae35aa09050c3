"""``python -m visualize_signer_embeddings`` / ``signstgcn visualize``: 2-D maps of a model's embeddings.

    python -m visualize_signer_embeddings --data DIR --ckpt best.pt --window 25 --include-pose --include-hands \\
        --reduce tsne|pca --out plot.png --save-csv emb.csv

Runs the checkpoint's frozen model over the windows of ``--data`` and reduces two embeddings to 2-D with
t-SNE or PCA: the signer encoder's embedding (what the signer-conditioned attention sees) and the
classifier embedding (what the classifier and the adversarial signer head see). The figure has 2x2
panels, each embedding coloured by signer and by label; a model without a signer encoder gets only the
classifier row. ``--save-csv`` writes one row per window drawn: ``video_id, window_start, signer, label``
and the 2-D coordinates. The data settings come from the checkpoint; ``--window``/``--stride`` override
them, and ``--include-*``/``--coords``/``--*-subset`` must match what the model reads.
"""

from __future__ import annotations

import argparse
import csv
import logging
from pathlib import Path

import numpy as np

from signstgcn.cli.common import HelpFormatter, run_cli
from signstgcn.data.splits import SPLITS
from signstgcn.evaluation.embeddings import REDUCERS, extract_outputs, reduce_2d, tsne_perplexity
from signstgcn.evaluation.report import prepare_evaluation
from signstgcn.progress import wants_progress
from signstgcn.training.loop import resolve_precision

PROG = "visualize_signer_embeddings"
UNKNOWN_SIGNER = "unknown"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="2-D t-SNE / PCA maps of a checkpoint's signer and "
                                "classifier embeddings, coloured by signer and by label.",
                                formatter_class=HelpFormatter)
    p.add_argument("--data", required=True, help="folder of .npz landmark files with ground truth")
    p.add_argument("--ckpt", required=True, help="checkpoint written by train_landmarks")
    p.add_argument("--gt", default=None, help="ground-truth file (default: DATA/groundtruth.txt)")
    p.add_argument("--splits-json", default=None, help="splits file from build_video_splits")
    p.add_argument("--split", choices=SPLITS, default=None,
                   help="draw one split (train/val without --splits-json = the checkpoint's own split; "
                        "default: test with --splits-json, else every labeled video)")
    d = p.add_argument_group("data settings", "Not given: the checkpoint's. Parts and coordinates must match "
                             "the model.")
    d.add_argument("--window", type=int, default=None, help="frames per window (default: the checkpoint's)")
    d.add_argument("--stride", type=int, default=None,
                   help="frames between window starts (default: the checkpoint's)")
    d.add_argument("--coords", type=int, default=None, help="coordinate channels (default: the checkpoint's)")
    d.add_argument("--include-pose", action="store_true",
                   help="use the pose (none of --include-* = the checkpoint's parts)")
    d.add_argument("--include-hands", action="store_true", help="use both hands")
    d.add_argument("--include-face", action="store_true", help="use the face")
    d.add_argument("--pose-subset", choices=("upper", "full"), default=None,
                   help="pose joints: upper body (no legs) or the full pose (default: the checkpoint's)")
    d.add_argument("--face-subset", choices=("compact", "full"), default=None,
                   help="face points: the contour subset or the full mesh (default: the checkpoint's)")
    r = p.add_argument_group("reduction and output")
    r.add_argument("--reduce", choices=REDUCERS, default="tsne", help="2-D reduction")
    r.add_argument("--perplexity", type=float, default=30.0, help="t-SNE perplexity (shrunk for few windows)")
    r.add_argument("--max-points", type=int, default=3000,
                   help="t-SNE: draw a seeded random subset of at most this many windows (0 = all)")
    r.add_argument("--seed", type=int, default=0, help="seed of the subset and of t-SNE")
    r.add_argument("--out", default="signer_embeddings.png", help="figure path (PNG)")
    r.add_argument("--save-csv", default=None, help="also write the 2-D coordinates, one row per window drawn")
    o = p.add_argument_group("run")
    o.add_argument("--batch", type=int, default=64, help="windows per forward pass")
    o.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    o.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    o.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _write_csv(path: Path, rows: dict[str, list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(rows)
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(names)
        for values in zip(*(rows[n] for n in names)):
            w.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in values])


def run(args: argparse.Namespace) -> dict:
    from signstgcn.plots import plot_embeddings
    from signstgcn.runtime import resolve_device

    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    if args.max_points < 0:
        raise ValueError(f"--max-points must be >= 0 (0 = all windows), got {args.max_points}")
    if not args.perplexity > 0:
        raise ValueError(f"--perplexity must be positive, got {args.perplexity}")
    for flag, path in (("--out", args.out), ("--save-csv", args.save_csv)):
        if path and Path(path).is_dir():
            raise ValueError(f"{flag} {path}: is a folder; expected a file path")
    device = resolve_device(args.device)
    progress = wants_progress(args.quiet)
    part_flags = dict(include_pose=args.include_pose, include_hands=args.include_hands,
                      include_face=args.include_face, pose_subset=args.pose_subset, face_subset=args.face_subset,
                      coords=args.coords)
    data = prepare_evaluation(args.ckpt, args.data, gt_path=args.gt, splits_json=args.splits_json, split=args.split,
                              window=args.window, stride=args.stride, part_flags=part_flags, map_location=device,
                              progress=progress)
    total = len(data.dataset)
    indices = None
    if args.reduce == "tsne" and args.max_points and total > args.max_points:
        rng = np.random.default_rng(args.seed)
        indices = np.sort(rng.choice(total, size=args.max_points, replace=False))
    model = data.checkpoint.model.to(device).eval()
    out = extract_outputs(model, data.dataset, device=device, precision=resolve_precision(False, device),
                          indices=indices, batch_size=args.batch, workers=args.workers, progress=progress)
    n = len(out["labels"])
    names = np.asarray([UNKNOWN_SIGNER if s is None else s for s in data.video_signers], dtype=object)
    signers = names[out["videos"]]  # (N,)
    labels = np.asarray(data.class_names, dtype=object)[out["labels"]]  # (N,)
    panels: dict[str, np.ndarray] = {}
    note = None
    if out["signer_embeddings"] is not None:
        panels["signer"] = reduce_2d(out["signer_embeddings"], args.reduce, seed=args.seed,
                                     perplexity=args.perplexity)  # (N, 2)
    else:
        note = (f"the model has no signer encoder (attention '{model.config.attention}'): only the classifier "
                f"embedding is drawn")
    panels["classifier"] = reduce_2d(out["embeddings"], args.reduce, seed=args.seed,
                                     perplexity=args.perplexity)  # (N, 2)
    method = args.reduce if args.reduce == "pca" else f"t-SNE, perplexity {tsne_perplexity(n, args.perplexity):.3g}"
    drawn = f"{n} windows" + (f" of {total}" if n < total else "")
    title = (f"{Path(args.ckpt).name} on {Path(args.data).name} ({data.split}): {drawn}, "
             f"{len(set(signers.tolist()))} signers ({data.signer_source} ids)")
    out_png = Path(args.out) if Path(args.out).suffix else Path(args.out).with_suffix(".png")
    png = plot_embeddings(panels, signers, labels, out_png, method=method, title=title, note=note)
    if args.save_csv:
        rows: dict[str, list] = {
            "video_id": [data.dataset.video_ids[int(v)] for v in out["videos"]],
            "window_start": [int(s) for s in out["starts"]],
            "signer": signers.tolist(),
            "label": labels.tolist(),
        }
        for name, xy in panels.items():
            rows[f"{name}_x"] = xy[:, 0].tolist()
            rows[f"{name}_y"] = xy[:, 1].tolist()
        _write_csv(Path(args.save_csv), rows)
    if note:
        print(f"{PROG}: note: {note}", flush=True)
    subset = f" (a seeded subset: --max-points {args.max_points})" if n < total else ""
    print(f"{PROG}: {drawn}{subset}, signers from {data.signer_source} ids; wrote {png}"
          f"{f' and {args.save_csv}' if args.save_csv else ''}", flush=True)
    return {"windows": n, "total_windows": total, "panels": list(panels), "png": png}


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args)


if __name__ == "__main__":
    raise SystemExit(main())
