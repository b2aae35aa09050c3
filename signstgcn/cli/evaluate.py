"""``signstgcn evaluate``: every metric of a checkpoint on a data folder, as ``OUT/report.json`` plus plots.

    signstgcn evaluate --ckpt runs/rec/best.pt --data DIR [--splits-json F --split test] --out runs/rec/eval

Evaluates every labeled video of ``--data`` (default), one split of a ``build_video_splits`` file
(``--splits-json F --split test|val|train``), or the checkpoint's own train/val videos (``--split`` without
``--splits-json``). The data pipeline (parts, layout, coordinates, windows, vocabulary, pseudo-signers) is
the checkpoint's. Writes ``report.json`` (see :mod:`signstgcn.evaluation.report`), ``per_signer.png``,
``reliability.png`` (calibration: accuracy per confidence bin, with the checkpoint's temperature) and
``confusion.png`` (multi-class) or ``pr_curve.png`` + ``roc_curve.png`` (binary). ``--open-set-labels idle`` (or
``--open-set``: every label outside the vocabulary) keeps windows of labels the checkpoint does not know as unknown
signs and reports how well the calibrated top-1 probability rejects them.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from signstgcn.cli.common import HelpFormatter, add_threads_arg, run_cli
from signstgcn.data.splits import SPLITS
from signstgcn.evaluation.evaluate import evaluate
from signstgcn.inference.pretrained import checkpoint_file
from signstgcn.progress import wants_progress
from signstgcn.training.adaptation import ADAPT_LAYERS

PROG = "signstgcn evaluate"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0].split(": ", 1)[1],
                                formatter_class=HelpFormatter)
    p.add_argument("--ckpt", default=None, help="checkpoint written by train_landmarks (best.pt / last.pt) "
                   "(default: the signing detector shipped with signstgcn; then --out is required)")
    p.add_argument("--data", required=True, help="folder of .npz landmark files with ground truth")
    p.add_argument("--gt", default=None, help="ground-truth file (default: DATA/groundtruth.txt)")
    p.add_argument("--splits-json", default=None, help="splits file from build_video_splits")
    p.add_argument("--split", choices=SPLITS, default=None,
                   help="which split to evaluate (train/val without --splits-json = the checkpoint's own split; "
                        "default: test with --splits-json, else every labeled video)")
    p.add_argument("--out", default=None, help="output folder (default: CKPT_DIR/eval)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUT/report.json")
    p.add_argument("--window", type=int, default=None, help="frames per window (default: the checkpoint's)")
    p.add_argument("--stride", type=int, default=None, help="frames between window starts (default: the checkpoint's)")
    p.add_argument("--threshold", type=float, default=None,
                   help="binary decision threshold on the probability (default: the checkpoint's best-F1 "
                   "validation threshold, as detect uses; 0.5 when it stores none)")
    p.add_argument("--adapt", choices=ADAPT_LAYERS, default=None,
                   help="score each signer's windows with the model adapted to them first (AdaBN on those windows, "
                        "no labels read): all = every BatchNorm, input = the input BatchNorm only (default: off)")
    p.add_argument("--open-set-labels", default=None, metavar="LABELS",
                   help="comma list of labels outside the checkpoint's vocabulary to keep as unknown signs: reports "
                        "open-set AUROC and the share rejected at the threshold that keeps 95%% of the correct known "
                        "predictions (multi-class; default: such windows are not used)")
    p.add_argument("--open-set", action="store_true",
                   help="like --open-set-labels with every label of the data outside the vocabulary")
    p.add_argument("--no-probe", action="store_true", help="skip the signer probe (faster on huge splits)")
    p.add_argument("--no-plots", action="store_true", help="write report.json only")
    p.add_argument("--save-predictions", action="store_true", help="also write OUT/predictions.csv (one row per "
                   "window: video_id, window_start, signer, label, pred, score)")
    p.add_argument("--batch", type=int, default=64, help="windows per forward pass")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    add_threads_arg(p)
    p.add_argument("--amp", action="store_true", help="bf16 autocast (fp16 on old GPUs)")
    p.add_argument("--seed", type=int, default=0, help="seed of the signer probe's folds")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def open_set_arg(args: argparse.Namespace) -> bool | list[str]:
    """``--open-set`` / ``--open-set-labels a,b`` as ``evaluate``'s ``open_set``."""
    if args.open_set_labels is None:
        return bool(args.open_set)
    if args.open_set:
        raise ValueError("--open-set and --open-set-labels: give one (--open-set = every label outside the vocabulary)")
    labels = [label.strip() for label in args.open_set_labels.split(",") if label.strip()]
    if not labels:
        raise ValueError(f"--open-set-labels needs at least one label, got {args.open_set_labels!r}")
    return labels


def run(args: argparse.Namespace) -> dict:
    if args.ckpt is None and not args.out:
        raise ValueError("--out is required without --ckpt (the shipped detector's folder is not for reports)")
    with checkpoint_file(args.ckpt) as ckpt:
        return _run(args, ckpt)


def _run(args: argparse.Namespace, ckpt: Path) -> dict:
    out = Path(args.out) if args.out else ckpt.parent / "eval"
    result = evaluate(ckpt, args.data, gt=args.gt, splits_json=args.splits_json, split=args.split, out=out,
                      overwrite=args.overwrite, window=args.window, stride=args.stride, threshold=args.threshold,
                      adapt=args.adapt, open_set=open_set_arg(args), probe=not args.no_probe, plots=not args.no_plots,
                      save_predictions=args.save_predictions, batch_size=args.batch, device=args.device,
                      workers=args.workers, threads=args.threads, amp=args.amp, seed=args.seed,
                      progress=wants_progress(args.quiet))
    files = result.files
    r = result.report
    if r["checkpoint"].get("model_name"):
        print(f"{PROG}: the shipped model {r['checkpoint']['model_name']} {r['checkpoint']['model_version']}"
              f"{'' if args.ckpt else ' (pass --ckpt for your own)'}", flush=True)
    m, c = r["metrics"], r["counts"]
    binary = r["checkpoint"]["task"] == "binary"
    keys = (("accuracy", "f1", "pr_auc", "roc_auc", "frame_pr_auc", "frame_f1", "segment_f1") if binary
            else ("top1", "top5", "macro_f1"))
    keys += ("worst_signer_acc", "signer_gap", "signer_probe", "signer_probe_chance", "within_class_signer_probe",
             "within_class_signer_probe_chance")
    shown = "  ".join(f"{k} {m[k]:.4f}" for k in keys if isinstance(m.get(k), float) and m[k] == m[k])
    th = r["threshold"]
    rule = f" (threshold {th['used']:.3f}: {th['source']})" if th else ""
    print(f"{PROG}: {c['videos']} videos, {c['windows']} windows, {c['signers']} signers "
          f"({r['signers']['source']}) of {r['data']['split']}: {shown}{rule}", flush=True)
    cal = r["calibration"]
    fitted = f"fitted on {cal['fitted_on']}" if cal["fitted_on"] else "not fitted"
    print(f"{PROG}: calibration: temperature {cal['temperature']:.3g} ({fitted}): ECE {cal['ece_uncalibrated']:.4f} "
          f"-> {cal['ece']:.4f}, NLL {cal['nll_uncalibrated']:.4f} -> {cal['nll']:.4f}", flush=True)
    o = r.get("open_set")
    if o:
        print(f"{PROG}: open set ({', '.join(o['labels'])}: {o['num_unknown']} windows): AUROC "
              f"{o['open_set_auroc']:.4f}; threshold {o['open_set_threshold']:.4f} keeps "
              f"{100 * o['known_correct_kept']:.1f}% of the correct known predictions, rejects "
              f"{100 * o['unknown_rejected']:.1f}% of the unknown and {100 * o['known_rejected']:.1f}% of the known "
              f"windows", flush=True)
    for w in r["warnings"]:
        print(f"{PROG}: warning: {w}", file=sys.stderr, flush=True)
    print(f"{PROG}: wrote {', '.join(str(f) for f in files)}", flush=True)
    return r


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args)


if __name__ == "__main__":
    raise SystemExit(main())
