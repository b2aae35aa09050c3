"""``python -m train_landmarks`` / ``signstgcn train``: the flags of :class:`~signstgcn.training.config.TrainConfig`
and :func:`~signstgcn.training.fit.fit` behind them.

Writes ``OUT/last.pt`` every epoch, ``OUT/best.pt`` with ``--save-best``, ``OUT/metrics.csv`` (and
``OUT/curves.png``) with ``--log-csv`` and the resolved settings in ``OUT/config.json``. Runs unchanged
under ``torchrun --nproc_per_node=K`` (DDP: gloo on CPU, nccl on GPU; only rank 0 writes).
"""

from __future__ import annotations

import argparse
import logging

from signstgcn.cli.common import HelpFormatter, add_threads_arg, run_cli
from signstgcn.cli.data_args import add_part_args, add_representation_args
from signstgcn.cli.model_args import add_model_args
from signstgcn.data.groundtruth import DEFAULT_SIGNING_LABELS, parse_signing_labels
from signstgcn.data.windows import RULES, SAMPLE_MODES
from signstgcn.errors import SignSTGCNError
from signstgcn.training.config import TrainConfig
from signstgcn.training.fit import fit
from signstgcn.training.loop import BEST_METRICS
from signstgcn.training.outputs import RUN_FILES

PROG = "train_landmarks"
__all__ = ["PROG", "RUN_FILES", "config_from_args", "get_args_parser", "main"]


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Train SignSTGCN on a folder of landmark .npz files.",
                                formatter_class=HelpFormatter)
    d = p.add_argument_group("data")
    d.add_argument("--data", required=True, help="folder of .npz landmark files (searched recursively)")
    d.add_argument("--gt", default=None, help="ground-truth file (default: DATA/groundtruth.txt)")
    d.add_argument("--window", type=int, default=25, help="frames per window")
    d.add_argument("--stride", type=int, default=1, help="frames between window starts")
    d.add_argument("--rule", choices=RULES, default="majority", help="binary window label rule")
    d.add_argument("--sample-mode", choices=SAMPLE_MODES, default="window",
                   help="window: sliding windows; video: one sample per video resampled to --window frames")
    d.add_argument("--fps", type=float, default=None,
                   help="frame rate of the training recordings, recorded in the checkpoint: detect and evaluate "
                   "resample recordings of another rate to it (default: not recorded, no resampling)")
    add_part_args(d)
    r = add_representation_args(p)
    r.add_argument("--cross-signer-augment", action=argparse.BooleanOptionalAction, default=False,
                   help="training augmentation: half the windows get the body proportions of another training "
                        "video, bone directions kept (an alternative to --canonical-bones)")
    r.add_argument("--hard-negatives", type=float, default=0.0, metavar="SHARE",
                   help="binary training: this share of training windows is replaced by a not-signing window with "
                        "the hands in view, held still or resting, with MediaPipe-like jitter (0 = off)")
    d.add_argument("--binary", action="store_true", help="signing-vs-not detection (else multi-class)")
    d.add_argument("--signing-labels", default=",".join(DEFAULT_SIGNING_LABELS),
                   help="labels counted as signing in --binary mode (comma list, case-insensitive)")
    d.add_argument("--num-classes", type=int, default=None,
                   help="keep the N most frequent labels (multi-class; default: every label)")
    d.add_argument("--exclude-labels", default=None, metavar="L1,L2",
                   help="leave these labels' clips out of training and validation (multi-class), e.g. idle, to "
                        "measure later how the model rejects them (evaluate --open-set-labels)")
    d.add_argument("--splits-json", default=None, help="splits from build_video_splits (uses train and val; "
                   "an empty or missing val = no validation; default: a split by --val-fraction)")
    d.add_argument("--val-fraction", type=float, default=0.2, help="share of videos for validation "
                   "(without --splits-json; signer-disjoint when signer ids are known; 0 = no validation: "
                   "train on every video, keep last.pt)")
    s = p.add_argument_group("signer bias")
    s.add_argument("--signer-loss-weight", type=float, default=0.5,
                   help="weight of the adversarial signer loss (0 = no signer head)")
    s.add_argument("--use-pseudo-signers", action="store_true",
                   help="K-means pseudo-signers (fit on train videos) instead of real signer ids")
    s.add_argument("--num-pseudo-signers", type=int, default=8, help="K of the pseudo-signer K-means")
    s.add_argument("--grl-schedule", choices=("constant", "dann"), default="constant",
                   help="GRL strength: constant --lambda-grl, or the DANN ramp from 0 to it")
    s.add_argument("--use-supcon", action="store_true", help="add the supervised contrastive loss")
    s.add_argument("--supcon-weight", type=float, default=0.1, help="weight of the contrastive loss (--use-supcon)")
    s.add_argument("--supcon-temp", type=float, default=0.07, help="temperature of the contrastive loss")
    add_model_args(p)
    o = p.add_argument_group("optimization")
    o.add_argument("--batch", type=int, default=32, help="training windows per batch (per process under torchrun)")
    o.add_argument("--epochs", type=int, default=50, help="training epochs")
    o.add_argument("--min-steps", type=int, default=0, metavar="N",
                   help="train at least N optimizer steps: --epochs is raised for small data sets (0 = off)")
    o.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate")
    o.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    o.add_argument("--scheduler", choices=("cosine", "step", "none"), default="cosine",
                   help="learning-rate schedule: cosine decay, step (x0.1 every third of --epochs) or none")
    o.add_argument("--label-smoothing", type=float, default=0.0, help="multi-class cross-entropy smoothing")
    o.add_argument("--mixup", type=float, default=0.0, metavar="ALPHA",
                   help="mix pairs of training samples and their labels, weight ~ Beta(ALPHA, ALPHA) (0 = off)")
    o.add_argument("--pos-weight", default="none", help="binary positive-class weight: none, auto or a number")
    o.add_argument("--weighted-sampler", action="store_true", help="sample training windows class-balanced")
    o.add_argument("--patience", type=int, default=0, help="stop after N epochs without improvement (0 = off)")
    o.add_argument("--best-metric", choices=BEST_METRICS, default="acc", help="what --save-best keeps")
    r = p.add_argument_group("run")
    r.add_argument("--out", default="runs/train", help="output folder")
    r.add_argument("--init", default=None, metavar="ENCODER.pt",
                   help="start the backbone from an encoder of 'signstgcn pretrain' (same model and input flags; "
                        "the heads start fresh; ignored by --resume, which continues from OUT/last.pt)")
    r.add_argument("--save-best", action="store_true", help="also keep OUT/best.pt (by --best-metric)")
    r.add_argument("--log-csv", action="store_true", help="write OUT/metrics.csv and OUT/curves.png")
    r.add_argument("--resume", action="store_true", help="continue the run in OUT from OUT/last.pt")
    r.add_argument("--overwrite", action="store_true", help="replace a previous run in OUT")
    r.add_argument("--seed", type=int, default=0,
                   help="random seed (validation split, pseudo-signers, model init, data order)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    r.add_argument("--workers", type=int, default=0, help="data-loader worker processes")
    add_threads_arg(r)
    r.add_argument("--amp", action="store_true", help="mixed precision: bf16 autocast (fp16 on old GPUs)")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The :class:`TrainConfig` of parsed ``train_landmarks`` flags (``--no-signer-attention`` and
    ``--attention`` become ``model.attention``; ``--signing-labels`` a tuple)."""
    values = {k: v for k, v in vars(args).items() if k not in ("no_signer_attention", "attention")}
    values["attention"] = args.attention or ("plain" if args.no_signer_attention else "signer")
    values["signing_labels"] = parse_signing_labels(args.signing_labels)
    values["input_streams"] = tuple(args.input_streams)
    values["exclude_labels"] = tuple(x.strip() for x in (args.exclude_labels or "").split(",") if x.strip())
    return TrainConfig.from_flat(values)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, lambda a: fit(config_from_args(a)), args,
                   errors=(SignSTGCNError, ValueError, FileNotFoundError, FloatingPointError))


if __name__ == "__main__":
    raise SystemExit(main())
