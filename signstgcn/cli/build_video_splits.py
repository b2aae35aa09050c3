"""``python -m build_video_splits``: video-level train/val/test splits balanced on positive windows.

Whole videos — or, with ``--group-by signer``, whole signers (real ids, else K-means pseudo-signers); with
``--group-by sessions`` whole recording sessions (``DATA/sessions.txt``); with ``--groups FILE`` whole groups of
any ``<video> <group>`` file — go to one split each, so windows of one video (or one person, or one session)
never straddle splits. Per-split window shares follow ``--train/--val/--test`` and per-split positive-window
ratios (``--multiclass``: class distributions) follow the global one. Writes a JSON read back by
``train_landmarks --splits-json`` (format in :mod:`signstgcn.data.splits`) and prints the counts per split.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import numpy as np

from signstgcn import __version__
from signstgcn.cli.common import HelpFormatter, run_cli
from signstgcn.data.corpus import Corpus, load_corpus
from signstgcn.data.groundtruth import DEFAULT_SIGNING_LABELS
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.signers import SESSIONS_FILE, read_video_groups
from signstgcn.data.splits import (
    SPLITS,
    SPLITS_VERSION,
    VideoCounts,
    check_fractions,
    corpus_window_counts,
    split_counts,
    split_videos,
    write_splits,
)
from signstgcn.data.windows import RULES, SAMPLE_MODES, WindowConfig
from signstgcn.errors import DataError
from signstgcn.progress import wants_progress

PROG = "build_video_splits"
GROUP_BY = ("video", "signer", "pseudo-signer", "sessions")
_FILE_UNITS = {"sessions": "session", "file": "group"}  # groupings read from a '<video> <group>' file


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Video-level train/val/test splits (signer-disjoint with --group-by signer), balanced on "
                    "the positive-window ratio (or the class distribution with --multiclass).",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--data", required=True, help="folder of *.npz landmark files and groundtruth.txt")
    p.add_argument("--gt", default=None, help="ground-truth file (default: DATA/groundtruth.txt)")
    p.add_argument("--window", type=int, default=25, help="frames per window")
    p.add_argument("--stride", type=int, default=1, help="frames between window starts")
    p.add_argument("--sample-mode", choices=SAMPLE_MODES, default="window",
                   help="window: sliding windows; video: one sample per video")
    p.add_argument("--s-label", "--signing-labels", dest="s_label", default=",".join(DEFAULT_SIGNING_LABELS),
                   help="comma list of labels that count as signing (case-insensitive)")
    p.add_argument("--rule", choices=RULES, default="majority",
                   help="when a window is positive: any/all/majority/center frame signing")
    p.add_argument("--multiclass", action="store_true",
                   help="balance the per-split class distribution instead of the positive ratio")
    p.add_argument("--train", type=float, default=0.8, help="fraction of windows for training")
    p.add_argument("--val", type=float, default=0.1, help="fraction for validation")
    p.add_argument("--test", type=float, default=0.1, help="fraction for testing")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same splits")
    p.add_argument("--group-by", choices=GROUP_BY, default=None,
                   help="video: split videos (used when neither --group-by nor --groups is given); signer: keep "
                        "each signer's videos together (ids from DATA/signers.txt or the npz 'signer', else "
                        "pseudo-signers); pseudo-signer: always K-means pseudo-signers; sessions: keep each "
                        "recording session together (DATA/sessions.txt, lines '<video> <session>')")
    p.add_argument("--groups", default=None, metavar="FILE",
                   help="keep each group of FILE together (lines '<video> <group>', '#' comments; every video needs "
                        "one); replaces --group-by")
    p.add_argument("--num-pseudo-signers", type=int, default=8,
                   help="K of the pseudo-signer K-means when no signer ids exist")
    p.add_argument("--out", required=True, help="JSON file to write (refuses to replace one without --overwrite)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    return p


def _signing_labels(text: str) -> tuple[str, ...]:
    labels = tuple(dict.fromkeys(s.strip().lower() for s in text.split(",") if s.strip()))
    if not labels:
        raise ValueError(f"--s-label needs at least one label (comma list), got {text!r}")
    return labels


def _check_signing_labels(corpus: Corpus, labels: tuple[str, ...]) -> None:
    """Balancing on the positive ratio needs a label of ``--s-label``; multi-class data (one sign per clip) is
    balanced on its class distribution with ``--multiclass``."""
    if corpus.gt is None:
        return
    present = corpus.gt.labels_present(corpus.video_ids)
    if present and not any(label.lower() in labels for label in present):
        names = sorted(present)
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        raise DataError(f"{corpus.gt.path or corpus.data_dir}: no label is a signing label ({','.join(labels)}); its "
                        f"{len(names)} labels ({shown}) look like multi-class data: add --multiclass to balance the "
                        f"class distribution (or name the signing labels of detection data with --s-label)")


def _counts(corpus: Corpus, config: WindowConfig, labels: tuple[str, ...], multiclass: bool) -> VideoCounts:
    return corpus_window_counts(corpus, corpus.video_ids, config, binary=not multiclass, signing_labels=labels)


def _pseudo_signers(corpus: Corpus, k: int, seed: int) -> dict[str, str]:
    from signstgcn.data.signers import PseudoSigners, video_statistics

    n = len(corpus.video_ids)
    if not 1 <= k <= n:
        raise DataError(f"--num-pseudo-signers {k}: expected 1 <= K <= number of videos ({n})")
    stats = np.stack([video_statistics(corpus.frames[v], corpus.layout) for v in corpus.video_ids])  # (M, S)
    labels = PseudoSigners().fit(stats, k, seed=seed).labels_
    assert labels is not None
    return {v: f"pseudo{int(c):02d}" for v, c in zip(corpus.video_ids, labels)}


def _group_by(args: argparse.Namespace) -> str:
    """``--group-by``, or ``file`` for ``--groups FILE`` (the two exclude each other)."""
    if args.groups is not None and args.group_by is not None:
        raise ValueError(f"--groups FILE groups by that file and --group-by {args.group_by} by something else; "
                         f"pass only one")
    return "file" if args.groups is not None else (args.group_by or "video")


def _groups_file(args: argparse.Namespace, corpus: Corpus, group_by: str) -> Path:
    return corpus.data_dir / SESSIONS_FILE if group_by == "sessions" else Path(args.groups)


def _groups(args: argparse.Namespace, corpus: Corpus,
            group_by: str) -> tuple[dict[str, str] | None, str | None, list[str]]:
    """``(groups, signer source, notes)``: video → group (signer, session, ...) for grouping, and where the
    signer ids come from: "real"/"pseudo"/None."""
    ids = corpus.video_ids
    real = {v: corpus.signers[v] for v in ids if v in corpus.signers}
    if group_by == "video":
        return None, ("real" if real else None), []
    if group_by in _FILE_UNITS:
        path, unit = _groups_file(args, corpus, group_by), _FILE_UNITS[group_by]
        groups = read_video_groups(path, ids, unit)
        return groups, ("real" if real else None), [f"grouping by {len(set(groups.values()))} {unit}s of {path}"]
    if args.group_by == "signer" and real:
        missing = [v for v in ids if v not in real]
        if missing:
            raise DataError(f"{corpus.data_dir}: {len(missing)} of {len(ids)} videos have no signer id in "
                            f"signers.txt or their npz 'signer' (e.g. {', '.join(missing[:5])}); add them, or "
                            f"use --group-by pseudo-signer")
        return real, "real", [f"grouping by {len(set(real.values()))} real signers"]
    why = "" if args.group_by == "pseudo-signer" else " (no signer ids in signers.txt or the npz files)"
    pseudo = _pseudo_signers(corpus, args.num_pseudo_signers, args.seed)
    note = (f"grouping by {len(set(pseudo.values()))} pseudo-signers{why}: K-means (K={args.num_pseudo_signers}) "
            f"on per-video pose statistics")
    return pseudo, "pseudo", [note]


def _table(counts: dict[str, dict[str, Any]], multiclass: bool, unit: str | None) -> str:
    """The counts per split; ``unit``: what a group is (signer, session, group), None when videos were split."""
    total = counts["total"]
    tw = max(total["windows"], 1)
    other = unit is not None and "groups" in total  # sessions / file groups: a column of their own
    head = f"{'split':<6} {'videos':>7} {'signers':>7}" + (f" {unit + 's':>8}" if other else "") + \
        f" {'windows':>9} {'share':>6}"
    classes = list(total.get("class_windows", {}))
    if multiclass:
        head += f" {'class TV':>8}" + ("".join(f" {c[:8]:>8}" for c in classes) if len(classes) <= 6 else "")
    else:
        head += f" {'positive':>9} {'ratio':>6}"
    lines = [head]
    for name, row in counts.items():
        signers = str(row["signers"]) if "signers" in row else "-"
        line = f"{name:<6} {row['videos']:>7} {signers:>7}" + (f" {row['groups']:>8}" if other else "") + \
            f" {row['windows']:>9} {row['windows'] / tw:>6.1%}"
        if multiclass:
            w = max(row["windows"], 1)
            share = {c: row["class_windows"].get(c, 0) / w for c in classes}
            ref = {c: total["class_windows"][c] / tw for c in classes}
            tv = 0.5 * sum(abs(share[c] - ref[c]) for c in classes)  # total variation to the global distribution
            line += f" {tv:>8.3f}" + ("".join(f" {share[c]:>8.1%}" for c in classes) if len(classes) <= 6 else "")
        else:
            line += f" {row['positive_windows']:>9} {row['positive_ratio']:>6.3f}"
        lines.append(line)
    if unit is not None:
        lines.append(f"({unit}s: distinct groups per split; no {unit} is in two splits)")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Build the splits and write ``args.out``; returns the JSON payload."""
    fractions = check_fractions((args.train, args.val, args.test))
    labels = _signing_labels(args.s_label)
    config = WindowConfig(length=args.window, stride=args.stride, rule=args.rule, sample_mode=args.sample_mode)
    out = Path(args.out)
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out}: already exists; pass --overwrite to replace it")
    if args.num_pseudo_signers < 1:
        raise ValueError(f"--num-pseudo-signers must be >= 1, got {args.num_pseudo_signers}")

    # Counts do not depend on the parts: load the smallest selection (pose + hands, x and y).
    group_by = _group_by(args)
    corpus = load_corpus(args.data, selection=PartSelection(coords=2), gt_path=args.gt,
                         progress=wants_progress(quiet=False))
    if not args.multiclass:
        _check_signing_labels(corpus, labels)
    counts = _counts(corpus, config, labels, args.multiclass)
    groups, signer_source, notes = _groups(args, corpus, group_by)
    by_signer = group_by in ("signer", "pseudo-signer")
    signers = groups if by_signer else (corpus.signers if signer_source == "real" else None)
    unit = _FILE_UNITS.get(group_by) or ("pseudo-signer" if signer_source == "pseudo" else "signer")
    try:
        splits = split_videos(corpus.video_ids, groups=groups, window_counts=counts.windows,
                              positive_counts=counts.positives, class_counts=counts.classes,
                              fractions=fractions, seed=args.seed, group_name=unit)
    except DataError as err:
        if signer_source == "pseudo":
            raise DataError(f"{err}; raise --num-pseudo-signers") from None
        raise
    kw: dict[str, Any] = dict(window_counts=counts.windows, positive_counts=counts.positives,
                              class_counts=counts.classes, signers=signers)
    per_split = split_counts(splits, **kw)
    total = split_counts({"total": corpus.video_ids}, **kw)["total"]
    if groups is not None and not by_signer:
        for name, row in [*per_split.items(), ("total", total)]:
            row["groups"] = len({groups[v] for v in (corpus.video_ids if name == "total" else splits[name])})

    settings: dict[str, Any] = {
        "data": str(args.data), "gt": None if args.gt is None else str(args.gt),
        "window": args.window, "stride": args.stride, "sample_mode": args.sample_mode, "rule": args.rule,
        "s_labels": list(labels), "multiclass": bool(args.multiclass),
        "train": fractions[0], "val": fractions[1], "test": fractions[2], "seed": args.seed,
        "group_by": group_by, "signer_source": signer_source,
    }
    if signer_source == "pseudo":
        settings["num_pseudo_signers"] = args.num_pseudo_signers
    if group_by in _FILE_UNITS:
        settings["groups_file"] = str(_groups_file(args, corpus, group_by))
    payload: dict[str, Any] = {
        "version": SPLITS_VERSION, "tool": f"signstgcn {__version__} {PROG}", "settings": settings,
        "splits": splits, "counts": per_split, "total": total,
    }
    if groups is not None:
        payload["groups"] = {name: sorted({groups[v] for v in splits[name]}) for name in SPLITS}
        payload["signer_of" if by_signer else "group_of"] = {v: groups[v] for v in corpus.video_ids}
    write_splits(out, payload, overwrite=args.overwrite)

    for note in notes:
        print(note)
    print(_table({**per_split, "total": total}, args.multiclass, unit if groups is not None else None))
    print(f"wrote {out}")
    return payload


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, run, args, errors=(ValueError, OSError))  # DataError is a ValueError


if __name__ == "__main__":
    raise SystemExit(main())
