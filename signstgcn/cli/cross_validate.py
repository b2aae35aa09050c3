"""``signstgcn cross-validate``: signer-disjoint k-fold cross-validation of training configs (leave signers out).

    signstgcn cross-validate --data DIR --folds 4 --configs stgcn-pool adversarial --out cv \\
        -- --epochs 20 --sample-mode video --window 30

Every signer (``--group-by signer``: real ids from ``signers.txt`` / the npz ``signer``) or video
(``--group-by video``) is tested in exactly one fold, by a model trained on the other folds; everything
after ``--`` goes to ``train_landmarks`` for every fold, with each ``--configs`` preset's flags on top (see
:data:`signstgcn.evaluation.crossval.PRESETS`). Without ``--inner-val-fraction`` a fold trains on all its training
videos and its ``last.pt`` is evaluated; with it, a validation split carved from the training signers picks
``best.pt``. The test fold never selects anything.

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
import csv
import io
import json
import logging
import math
import shutil
import sys
from pathlib import Path
from typing import Any

from signstgcn.atomic import write_text_atomic
from signstgcn.cli.common import HelpFormatter, run_cli
from signstgcn.data.splits import write_splits
from signstgcn.errors import SignSTGCNError
from signstgcn.evaluation.crossval import (
    GROUP_BY,
    PRESETS,
    FoldSplits,
    assign_folds,
    check_train_flags,
    evaluate_fold,
    fold_splits,
    fold_train_flags,
    metric_columns,
    parse_train_flags,
    result_row,
    splits_payload,
    summarize,
    summary_markdown,
    train_fold,
    video_groups,
    write_json,
)
from signstgcn.evaluation.report import REPORT_NAME
from signstgcn.progress import wants_progress
from signstgcn.training.adaptation import ADAPT_LAYERS

PROG = "signstgcn cross-validate"
FOLDS_NAME, RESULTS_NAME, SUMMARY_JSON, SUMMARY_MD, FOLD_INFO = (
    "folds.json", "results.csv", "summary.json", "summary.md", "fold.json")
_OWN_FILES = (FOLDS_NAME, RESULTS_NAME, SUMMARY_JSON, SUMMARY_MD)


def _epilog() -> str:
    width = max(len(k) for k in PRESETS)
    presets = "\n".join(f"  {k:<{width}}  {' '.join(v) or '(train_landmarks defaults)'}" for k, v in PRESETS.items())
    return ("Everything after '--' goes to train_landmarks for every fold, e.g. -- --epochs 20 --sample-mode video\n"
            "--window 30; cross-validate sets --data, --gt, --out, --splits-json, --val-fraction, --overwrite and\n"
            "--resume itself. Presets (--configs), applied on top of those flags:\n" + presets)


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0].split(": ", 1)[1],
                                formatter_class=HelpFormatter, epilog=_epilog())
    p.add_argument("--data", required=True, help="folder of .npz landmark files with ground truth")
    p.add_argument("--gt", default=None, help="ground-truth file (default: DATA/groundtruth.txt)")
    p.add_argument("--folds", type=int, default=4, help="number of folds (K >= 2)")
    p.add_argument("--group-by", choices=GROUP_BY, default="signer",
                   help="signer: leave whole signers out (every video needs a signer id); video: leave videos out")
    p.add_argument("--configs", nargs="+", default=["default"], metavar="NAME",
                   help=f"ablation presets to cross-validate: {', '.join(PRESETS)}, or all (every one, in this order)")
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


# ----------------------------------------------------------------------------------------------- checks


def _configs(names: list[str]) -> list[str]:
    chosen: list[str] = []
    for name in names:
        if name != "all" and name not in PRESETS:
            raise ValueError(f"Invalid --configs {name!r}. Only {', '.join(PRESETS)} or all are supported")
        chosen.extend(PRESETS if name == "all" else [name])
    return list(dict.fromkeys(chosen))


def _check_args(args: argparse.Namespace) -> None:
    if args.resume and args.overwrite:
        raise ValueError("--resume continues the cross-validation in --out and --overwrite replaces it; pass only one")
    if not (math.isfinite(args.inner_val_fraction) and 0.0 <= args.inner_val_fraction < 1.0):
        raise ValueError(f"--inner-val-fraction must be in [0, 1), got {args.inner_val_fraction}")
    if args.folds < 2:
        raise ValueError(f"--folds must be at least 2 (one fold is tested, the others train), got {args.folds}")
    if args.repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {args.repeats}")
    if args.repeats > 1 and any(f == "--seed" or f.startswith("--seed=") for f in args.train_flags):
        raise ValueError("--repeats trains with seeds SEED .. SEED+R-1 (SEED = cross-validate's --seed); drop --seed "
                         "after '--'")
    check_train_flags(args.train_flags, args.inner_val_fraction)


def _check_out(out: Path, args: argparse.Namespace) -> None:
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held and not (args.resume or args.overwrite):
        raise ValueError(f"--out {out} is not empty ({', '.join(held[:5])}{', ...' if len(held) > 5 else ''}); pass "
                         f"--resume to continue a cross-validation, --overwrite to replace it, or choose another --out")
    if held and args.resume and not (out / FOLDS_NAME).is_file():
        raise ValueError(f"--resume: {out} holds no {FOLDS_NAME}, so no cross-validation to continue; choose another "
                         f"--out")


def _check_same_run(out: Path, payload: dict[str, Any]) -> None:
    """--resume: the folds and settings of OUT must be the ones this command would make."""
    previous = _read_json(out / FOLDS_NAME)
    stored = previous.get("settings", {})
    for key, value in payload["settings"].items():
        if key == "adapt":  # adapted scores can be added to (or left out of) a finished run
            continue
        if stored.get(key, 1 if key == "repeats" else None) != value:  # runs from before --repeats had one
            raise ValueError(f"--resume: {out / FOLDS_NAME} was made with {key} = {stored.get(key)!r}, this command "
                             f"has {value!r}; use the same settings, --overwrite, or another --out")
    if previous.get("folds") != payload["folds"]:
        raise ValueError(f"--resume: the folds in {out / FOLDS_NAME} differ from the folds of --data now (videos "
                         f"added or removed?); use --overwrite or another --out")


def _clear(out: Path) -> None:
    """--overwrite: remove what a previous cross-validation wrote in OUT (its files and fold folders)."""
    for name in _OWN_FILES:
        (out / name).unlink(missing_ok=True)
    for fold_dir in sorted(out.glob("*/fold[0-9]*")):
        if fold_dir.parent.name in PRESETS and fold_dir.is_dir():
            shutil.rmtree(fold_dir)


# ------------------------------------------------------------------------------------------------ steps


def _folds_payload(args: argparse.Namespace, groups: dict[str, str], folds: list[list[str]]) -> dict[str, Any]:
    settings = {"data": str(Path(args.data).resolve()), "gt": None if args.gt is None else str(Path(args.gt).resolve()),
                "folds": args.folds, "group_by": args.group_by, "seed": args.seed,
                "inner_val_fraction": args.inner_val_fraction, "repeats": args.repeats, "adapt": args.adapt,
                "train_flags": list(args.train_flags)}
    return {"version": 1, "settings": settings,
            "folds": [{"fold": k, "test_groups": sorted({groups[v] for v in vids}), "test_videos": vids}
                      for k, vids in enumerate(folds)],
            "group_of": dict(sorted(groups.items())) if args.group_by == "signer" else {}}


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _run_name(args: argparse.Namespace, k: int, seed: int) -> str:
    """``fold<k>``, or ``fold<k>-seed<s>`` with --repeats."""
    return f"fold{k}" if args.repeats == 1 else f"fold{k}-seed{seed}"


ADAPTED_DIR = "eval_adapted"


def _run_fold(args: argparse.Namespace, config: str, k: int, seed: int, splits: FoldSplits, groups: dict[str, str],
              train_args: argparse.Namespace, out: Path) -> tuple[dict[str, Any], dict[str, Any] | None,
                                                                   dict[str, Any], str]:
    """Train (with ``seed``) and evaluate one fold of one config; returns (report, adapted report or None, fold
    info, "trained" | "evaluated" | "skipped")."""
    fold_dir = out / config / _run_name(args, k, seed)
    report_path, info_path = fold_dir / "eval" / REPORT_NAME, fold_dir / FOLD_INFO
    adapted_path = fold_dir / ADAPTED_DIR / REPORT_NAME
    if args.resume and report_path.is_file() and info_path.is_file() and (not args.adapt or adapted_path.is_file()):
        adapted = _read_json(adapted_path) if args.adapt else None
        return _read_json(report_path), adapted, _read_json(info_path), "skipped"
    select = args.inner_val_fraction > 0
    splits_path = fold_dir / "splits.json"
    settings = {"fold": k, "folds": args.folds, "group_by": args.group_by, "seed": args.seed,
                "inner_val_fraction": args.inner_val_fraction}
    write_splits(splits_path, splits_payload(splits, groups, settings), overwrite=True)
    if args.resume and info_path.is_file():  # trained before an interruption; only the evaluation is missing
        info, status = _read_json(info_path), "evaluated"
    else:
        flags = fold_train_flags(args.train_flags, config, splits_path, gt=args.gt, seed=seed, select_best=select)
        seconds = train_fold(flags, args.data, fold_dir, resume=args.resume, quiet=args.quiet)
        info = {"config": config, "fold": k, "seed": seed, "train_seconds": seconds,
                "checkpoint": "best.pt" if select else "last.pt",
                "train_flags": flags, "test_groups": sorted({groups[v] for v in splits.test}),
                "val_groups": sorted({groups[v] for v in splits.val})}
        write_json(info_path, info)
        status = "trained"
    ckpt = fold_dir / info["checkpoint"]
    if args.resume and report_path.is_file():
        report = _read_json(report_path)
    else:
        report = evaluate_fold(ckpt, args.data, splits_path, fold_dir / "eval", gt=args.gt, train_args=train_args,
                               seed=seed, quiet=args.quiet)
    adapted = None
    if args.adapt:
        adapted = evaluate_fold(ckpt, args.data, splits_path, fold_dir / ADAPTED_DIR, gt=args.gt,
                                train_args=train_args, seed=seed, quiet=args.quiet, adapt=args.adapt)
    return report, adapted, info, status


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else
                             f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    write_text_atomic(path, buffer.getvalue())


def _footer(args: argparse.Namespace, payload: dict[str, Any], configs: list[str]) -> list[str]:
    unit = args.group_by
    per_fold = ", ".join(str(len(f["test_groups"])) for f in payload["folds"])
    total = sum(len(f["test_groups"]) for f in payload["folds"])
    selection = ("no model selection: last.pt of each fold evaluated" if args.inner_val_fraction <= 0 else
                 f"model selection: best.pt on an inner validation split of {args.inner_val_fraction:g} of the "
                 f"training {unit}s' windows")
    flags = " ".join(args.train_flags) or "(train_landmarks defaults)"
    presets = "; ".join(f"{c} = `{' '.join(PRESETS[c])}`" if PRESETS[c] else f"{c} = train defaults" for c in configs)
    last = args.seed + args.repeats - 1
    seeds = (f"seed {args.seed}" if args.repeats == 1 else
             f"folds from seed {args.seed}, each trained {args.repeats} times (seeds {args.seed}..{last}) and "
             f"averaged over its repeats")
    return [f"{args.folds} folds grouped by {unit} ({total} {unit}s; {per_fold} per test fold), {seeds}; "
            f"mean ± std (population) over folds; {selection}.",
            f"Train flags: `{flags}`. Configs: {presets}.",
            "Signer probe: accuracy of a linear classifier recovering the test signer from the frozen embedding "
            "(lower = less signer information; chance = majority share). Worst signer: lowest test accuracy "
            "over all folds."]


def _write_results(out: Path, rows: list[dict[str, Any]], reports: dict[str, list[tuple[str, dict[str, Any]]]],
                   footer: list[str], settings: dict[str, Any]) -> str:
    _write_csv(out / RESULTS_NAME, rows)
    summary = summarize(rows, reports)
    write_json(out / SUMMARY_JSON, {"settings": settings, "configs": summary})
    table = summary_markdown(summary, footer)
    (out / SUMMARY_MD).write_text(table, encoding="utf-8")
    return table


def _fold_line(config: str, k: int, args: argparse.Namespace, splits: FoldSplits, groups: dict[str, str]) -> str:
    names = sorted({groups[v] for v in splits.test})
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    test = f"{len(names)} {args.group_by}s ({shown})" if args.group_by == "signer" else f"{len(names)} videos"
    val = f", {len(splits.val)} val" if splits.val else ""
    return f"{PROG}: [{config}] fold{k} ({k + 1}/{args.folds}): test {test}; {len(splits.train)} train{val} videos"


def _result_line(config: str, name: str, row: dict[str, Any], status: str) -> str:
    shown = "  ".join(f"{key} {row[key]:.3f}" for key, _ in metric_columns(row["task"]) if math.isfinite(row[key]))
    worst = f"  worst signer {row['worst_signer']}" if row["worst_signer"] else ""
    note = {"skipped": "done before, skipped", "evaluated": "trained before, evaluated now"}.get(
        status, f"trained in {row['train_seconds']:.0f}s")
    return f"{PROG}: [{config}] {name}: {shown}{worst}  ({note})"


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Cross-validate every config; returns the summary (per config: mean ± std over folds)."""
    from signstgcn.data.corpus import load_corpus
    from signstgcn.data.landmarks import PartSelection

    configs = _configs(args.configs)
    _check_args(args)
    for config in configs:  # every fold's flags parse before any work
        parse_train_flags(fold_train_flags(args.train_flags, config, Path("splits.json"), gt=args.gt, seed=args.seed,
                                           select_best=args.inner_val_fraction > 0), data=args.data)
    train_args = parse_train_flags(args.train_flags, data=args.data)
    out = Path(args.out)
    _check_out(out, args)

    corpus = load_corpus(args.data, selection=PartSelection(coords=2), gt_path=args.gt,
                         progress=wants_progress(args.quiet))
    groups = video_groups(corpus.video_ids, corpus.signers, args.group_by)
    folds = assign_folds(groups, args.folds, seed=args.seed, unit=args.group_by)
    payload = _folds_payload(args, groups, folds)
    if args.resume and (out / FOLDS_NAME).is_file():
        _check_same_run(out, payload)
    elif args.overwrite and out.is_dir():
        _clear(out)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / FOLDS_NAME, payload)
    splits = [fold_splits(k, folds, groups=groups, group_by=args.group_by, inner_val_fraction=args.inner_val_fraction,
                          corpus=corpus, train_args=train_args, seed=args.seed) for k in range(args.folds)]
    del corpus  # the landmarks are reloaded by each fold's training

    footer = _footer(args, payload, configs)
    settings = {**payload["settings"], "configs": {c: list(PRESETS[c]) for c in configs}}
    rows: list[dict[str, Any]] = []
    reports: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    table = ""
    for config in configs:
        for k in range(args.folds):
            if not args.quiet:
                print(_fold_line(config, k, args, splits[k], groups), flush=True)
            for seed in range(args.seed, args.seed + args.repeats):
                name = _run_name(args, k, seed)
                try:
                    report, adapted, info, status = _run_fold(args, config, k, seed, splits[k], groups, train_args,
                                                              out)
                except (SignSTGCNError, ValueError, FileNotFoundError) as err:  # say which fold; --resume continues
                    raise ValueError(f"[{config}] {name}: {err}") from err
                scored = [(config, report)] + ([(f"{config}+adapt", adapted)] if adapted is not None else [])
                for label, rep in scored:
                    row = result_row(label, k, rep, info, seed=seed)
                    rows.append(row)
                    reports.setdefault(label, []).append((name, rep))
                    if not args.quiet:
                        print(_result_line(label, name, row, status), flush=True)
                        for warning in rep.get("warnings", []):
                            print(f"{PROG}: warning: [{label}] {name}: {warning}", file=sys.stderr, flush=True)
                table = _write_results(out, rows, reports, footer, settings)
    print(table, end="", flush=True)
    print(f"{PROG}: wrote {out / RESULTS_NAME}, {out / SUMMARY_JSON}, {out / SUMMARY_MD}", flush=True)
    return _read_json(out / SUMMARY_JSON)["configs"]


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    own, train_flags = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    args = get_args_parser(prog).parse_args(own)
    args.train_flags = train_flags
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args)


if __name__ == "__main__":
    raise SystemExit(main())
