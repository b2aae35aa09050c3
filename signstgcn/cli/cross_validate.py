"""``signstgcn cross-validate``: signer-disjoint k-fold cross-validation of training configs (leave signers out).

    signstgcn cross-validate --data DIR --folds 4 --configs stgcn-pool adversarial --out cv \\
        -- --epochs 20 --sample-mode video --window 30

Every signer (``--group-by signer``: real ids from ``signers.txt`` / the npz ``signer``), recording session
(``--group-by sessions``: ``DATA/sessions.txt``), group of a ``<video> <group>`` file (``--groups FILE``) or
video (``--group-by video``; folds stratified by label on multi-class data) is tested in exactly one fold, by a
model trained on the other folds; everything after ``--`` goes to ``train_landmarks`` for every fold, with each
``--configs`` preset's flags on top (see :data:`signstgcn.evaluation.crossval.PRESETS`; the floors ``gru`` and
``logreg`` are named explicitly; :func:`signstgcn.evaluation.crossval.cross_validate` does the work). Without
``--inner-val-fraction`` a fold trains on all its training videos and its ``last.pt`` is evaluated; with it, a
validation split carved from the training groups picks ``best.pt``. The test fold never selects anything.

``--repeats R`` trains every fold R times, with training seeds SEED .. SEED+R-1 on the same folds: the
table then averages each fold over its repeats before the mean ± std over folds, and shows the main metric
of each seed (mean over folds), so a difference between configs can be compared with the seed-to-seed one.

Writes ``OUT/folds.json`` (fold → signers and videos, settings), ``OUT/<config>/fold<k>/`` (``fold<k>-seed<s>/``
with repeats: ``splits.json``, the training run, ``train.log``, ``fold.json``, ``eval/report.json`` + plots),
``OUT/results.csv`` (one row per config, fold and seed), ``OUT/summary.json`` and ``OUT/summary.md`` (mean ±
std over folds), and prints the table. Runs in one process (not under torchrun).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import sys
from collections.abc import Sequence
from typing import Any

from signstgcn.cli.common import HelpFormatter, run_cli
from signstgcn.cli.train import config_from_args
from signstgcn.cli.train import get_args_parser as train_parser
from signstgcn.evaluation.crossval import (
    ABLATIONS,
    BASELINES,
    PRESETS,
    CrossValidation,
    config_recipe,
    cross_validate,
    preset_flags,
)
from signstgcn.evaluation.folds import GROUP_BY
from signstgcn.training.adaptation import ADAPT_LAYERS

PROG = "signstgcn cross-validate"
PRESET_FLAGS: dict[str, tuple[str, ...]] = {name: preset_flags(name) for name in PRESETS}
# train_landmarks flags the cross-validation sets itself, per fold
MANAGED_FLAGS = ("--data", "--gt", "--out", "--splits-json", "--val-fraction", "--overwrite", "--resume")
_SELECTION_FLAGS = ("--save-best", "--patience")  # need a validation split: --inner-val-fraction > 0


def _epilog() -> str:
    width = max(len(k) for k in [*PRESETS, *BASELINES])
    presets = "\n".join(f"  {k:<{width}}  {' '.join(PRESET_FLAGS[k]) or '(train_landmarks defaults)'}"
                        for k in ABLATIONS)
    floors = "\n".join(f"  {k:<{width}}  {config_recipe(k)}"
                       for k in (*(p for p in PRESETS if p not in ABLATIONS), *BASELINES))
    return ("Everything after '--' goes to train_landmarks for every fold, e.g. -- --epochs 20 --sample-mode video\n"
            "--window 30; cross-validate sets --data, --gt, --out, --splits-json, --val-fraction, --overwrite and\n"
            "--resume itself. Presets (--configs; all = these, in this order), applied on top of those flags:\n"
            + presets + "\nFloors (name them; not in all): gru trains like a preset; logreg fits a logistic regression "
            "on the\nsame input windows and folds (no signer probe, no --adapt):\n" + floors)


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0].split(": ", 1)[1],
                                formatter_class=HelpFormatter, epilog=_epilog())
    p.add_argument("--data", required=True, help="folder of .npz landmark files with ground truth")
    p.add_argument("--gt", default=None, help="ground-truth file (default: DATA/groundtruth.txt)")
    p.add_argument("--folds", type=int, default=4, help="number of folds (K >= 2)")
    p.add_argument("--group-by", choices=GROUP_BY, default=None,
                   help="signer: leave whole signers out (every video needs a signer id; used when neither "
                        "--group-by nor --groups is given); sessions: leave whole recording sessions out "
                        "(DATA/sessions.txt, lines '<video> <session>'); video: leave videos out (stratified by label "
                        "on multi-class data)")
    p.add_argument("--groups", default=None, metavar="FILE",
                   help="leave whole groups of FILE out (lines '<video> <group>', '#' comments; every video needs "
                        "one); replaces --group-by")
    floors = [*(k for k in PRESETS if k not in ABLATIONS), *BASELINES]
    p.add_argument("--configs", nargs="+", default=["default"], metavar="NAME",
                   help=f"configs to cross-validate: the ablation presets {', '.join(ABLATIONS)}, or all (every "
                        f"one, in this order); the floors {', '.join(floors)} only when named")
    p.add_argument("--inner-val-fraction", type=float, default=0.0,
                   help="0: train on every training-fold video, evaluate last.pt; F > 0: a validation split of "
                        "share F from the training signers picks best.pt (--save-best)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the folds, the inner validation split and training (a --seed after '--' wins)")
    p.add_argument("--repeats", type=int, default=1,
                   help="train every fold R times (training seeds SEED .. SEED+R-1, same folds); the table "
                        "averages the repeats and shows the main metric per seed")
    p.add_argument("--adapt", choices=ADAPT_LAYERS, default=None,
                   help="also score every fold with each test signer's model adapted to that signer's own clips "
                        "(AdaBN, no labels read; 'CONFIG+adapt' rows, eval_adapted/ folders): all = every "
                        "BatchNorm, input = the input BatchNorm only (default: off)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--overwrite", action="store_true", help="replace a previous cross-validation in OUT")
    p.add_argument("--resume", action="store_true",
                   help="continue the cross-validation in OUT: folds with eval/report.json are skipped")
    p.add_argument("--quiet", action="store_true", help="only the final table (training output goes to train.log)")
    p.usage = p.format_usage().removeprefix("usage: ").rstrip() + " [-- TRAIN_FLAG ...]"
    return p


# ------------------------------------------------------------------------------------------ train flags


def check_train_flags(flags: Sequence[str], inner_val_fraction: float) -> None:
    """Refuse flags the cross-validation sets per fold, and epoch selection without an inner validation."""
    for token in flags:
        name = token.split("=", 1)[0]
        if name in MANAGED_FLAGS:
            raise ValueError(f"train flag {name} after '--' is set by cross-validate for every fold; drop it (the "
                             f"command's own --data/--gt/--out/--overwrite/--resume go before '--')")
        if name in _SELECTION_FLAGS and inner_val_fraction <= 0:
            raise ValueError(f"train flag {name} picks epochs on a validation split, which folds only have with "
                             f"--inner-val-fraction > 0 (the test fold never selects epochs)")


def parse_train_flags(flags: Sequence[str], *, data: str = "DATA", out: str = "OUT") -> argparse.Namespace:
    """``train_landmarks`` settings of ``flags`` (full flag names only); a one-line ValueError if invalid."""
    parser = train_parser()
    parser.allow_abbrev = False  # what check_train_flags sees is what train_landmarks gets
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args([*flags, "--data", data, "--out", out])
    except SystemExit as exit_:
        if exit_.code == 0:  # --help after '--'
            raise
        lines = err.getvalue().strip().splitlines()
        why = lines[-1].split("error: ", 1)[-1] if lines else "invalid"
        raise ValueError(f"train flags after '--': {why} (see python -m train_landmarks --help)") from None


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Cross-validate every config; returns the summary (per config: mean ± std over folds)."""
    user_seed = any(f == "--seed" or f.startswith("--seed=") for f in args.train_flags)
    check_train_flags(args.train_flags, args.inner_val_fraction)
    base = config_from_args(parse_train_flags(args.train_flags, data=args.data))
    cv = CrossValidation(out=args.out, folds=args.folds, group_by=args.group_by, groups_file=args.groups,
                         configs=tuple(args.configs),
                         inner_val_fraction=args.inner_val_fraction, seed=args.seed, repeats=args.repeats,
                         adapt=args.adapt, gt=args.gt, resume=args.resume, overwrite=args.overwrite,
                         quiet=args.quiet, train_flags=tuple(args.train_flags), prog=PROG,
                         train_seed=base.run.seed if user_seed else None)
    return cross_validate(base, cv)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    own, train_flags = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = get_args_parser(prog).parse_args(own)
    args.train_flags = train_flags
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args)


if __name__ == "__main__":
    raise SystemExit(main())
