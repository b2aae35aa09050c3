"""Signer-disjoint k-fold cross-validation: "how well does it work on people it never saw?".

Four steps, each a small function (the ``signstgcn cross-validate`` command chains them):

1. :func:`video_groups` + :func:`assign_folds`: every signer (``group_by="signer"``, real ids from
   ``signers.txt`` / the npz ``signer``) or every video (``group_by="video"``) goes to exactly one of K
   folds. Groups are shuffled with the seed, then placed largest first on the fold with the fewest videos
   (greedy longest-first), so fold sizes differ by at most the largest group's videos and the same seed gives
   the same folds. (sklearn's ``GroupKFold`` balances sizes but ignores the seed; with ``shuffle`` it stops balancing.)
2. :func:`fold_splits`: fold k is the test split, the other folds train. With ``inner_val_fraction > 0`` a
   validation split is carved out of the *training* groups only (signer-disjoint with ``group_by="signer"``)
   for model selection (``--save-best``, ``best.pt`` evaluated); by default there is none: training uses
   every training-fold video and ``last.pt`` is evaluated. The test fold never selects anything.
3. :func:`train_fold` / :func:`evaluate_fold`: ``train_landmarks`` on the fold's splits JSON, then the
   :mod:`signstgcn.evaluation.report` report of the final checkpoint on the test fold (``eval/report.json`` + plots).
4. :func:`result_row` / :func:`summarize` / :func:`summary_markdown`: one row per config and fold, and
   mean ± std (population std, ``np.std``) over folds per config, plus the worst test signer overall.

Ablation presets (:data:`PRESETS`): name → ``train_landmarks`` flags applied on top of the user's flags
(later flags win, so a preset's ``--signer-loss-weight 0`` overrides the user's value):

- ``stgcn-pool``: ``--attention none --temporal pool --signer-loss-weight 0`` (ST-GCN + masked mean pooling)
- ``stgcn-bigru``: ``--attention none --temporal bigru --signer-loss-weight 0`` (ST-GCN + BiGRU)
- ``signer-attention``: ``--attention signer --temporal bigru --signer-loss-weight 0`` (+ signer-conditioned
  attention)
- ``adversarial``: ``--attention signer --temporal bigru`` (+ the adversarial signer head at the train default
  weight; real signer ids when the data has them)
- ``pseudo-signers``: adversarial + ``--use-pseudo-signers`` (K-means pseudo-signers instead of real ids)
- ``supcon``: pseudo-signers + ``--use-supcon``
- ``default``: no extra flags (the ``train_landmarks`` defaults)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import numpy as np

from signstgcn.atomic import write_json_atomic
from signstgcn.data.corpus import Corpus
from signstgcn.errors import DataError
from signstgcn.progress import wants_progress

__all__ = [
    "GROUP_BY",
    "MANAGED_FLAGS",
    "PRESETS",
    "FoldSplits",
    "assign_folds",
    "check_train_flags",
    "evaluate_fold",
    "fold_splits",
    "fold_train_flags",
    "metric_columns",
    "parse_train_flags",
    "result_row",
    "splits_payload",
    "summarize",
    "summary_markdown",
    "train_fold",
    "video_groups",
    "write_json",
]

GROUP_BY = ("signer", "video")
_ADVERSARIAL = ("--attention", "signer", "--temporal", "bigru")
PRESETS: dict[str, tuple[str, ...]] = {  # in ablation order; "all" runs every one
    "stgcn-pool": ("--attention", "none", "--temporal", "pool", "--signer-loss-weight", "0"),
    "stgcn-bigru": ("--attention", "none", "--temporal", "bigru", "--signer-loss-weight", "0"),
    "signer-attention": ("--attention", "signer", "--temporal", "bigru", "--signer-loss-weight", "0"),
    "adversarial": _ADVERSARIAL,
    "pseudo-signers": (*_ADVERSARIAL, "--use-pseudo-signers"),
    "supcon": (*_ADVERSARIAL, "--use-pseudo-signers", "--use-supcon"),
    "default": (),
}
# train_landmarks flags the cross-validation sets itself, per fold
MANAGED_FLAGS = ("--data", "--gt", "--out", "--splits-json", "--val-fraction", "--overwrite", "--resume")
_SELECTION_FLAGS = ("--save-best", "--patience")  # need a validation split: --inner-val-fraction > 0

# (report metric key, column title); multi-class or binary classification columns, then the bias columns
_MULTICLASS = (("top1", "top-1"), ("macro_f1", "macro-F1"))
_BINARY = (("accuracy", "accuracy"), ("f1", "F1"), ("pr_auc", "PR-AUC"), ("frame_pr_auc", "frame PR-AUC"),
           ("frame_f1", "frame F1"))
_BIAS = (("worst_signer_acc", "worst-signer acc"), ("signer_gap", "signer gap"), ("signer_probe", "signer probe"),
         ("signer_probe_chance", "probe chance"), ("within_class_signer_probe", "within-class probe"),
         ("within_class_signer_probe_chance", "within-class chance"))


# ------------------------------------------------------------------------------------------------ folds


def video_groups(video_ids: Sequence[str], signers: Mapping[str, str], group_by: str) -> dict[str, str]:
    """Video → group: its signer id (``"signer"``) or itself (``"video"``).

    Raises DataError naming the videos without a signer id when grouping by signer.
    """
    if group_by not in GROUP_BY:
        raise ValueError(f"Invalid group_by {group_by!r}. Only {', '.join(GROUP_BY)} are supported")
    if group_by == "video":
        return {v: v for v in video_ids}
    missing = [v for v in video_ids if v not in signers]
    if missing:
        raise DataError(f"{len(missing)} of {len(video_ids)} videos have no signer id in signers.txt or their npz "
                        f"'signer' (e.g. {', '.join(missing[:5])}); add them, or use --group-by video (folds of "
                        f"videos: a signer may then be in both train and test)")
    return {v: str(signers[v]) for v in video_ids}


def assign_folds(groups: Mapping[str, str], folds: int, *, seed: int = 0, unit: str = "signer") -> list[list[str]]:
    """Sorted test videos of each of ``folds`` folds; a group's videos always share a fold.

    Seeded shuffle of the groups, then greedy longest-first onto the fold with the fewest videos (ties: fewer
    groups, then the lower fold). Raises ValueError for ``folds < 2`` or fewer groups than folds.
    """
    if folds < 2:
        raise ValueError(f"--folds must be at least 2 (one fold is tested, the others train), got {folds}")
    members: dict[str, list[str]] = {}
    for video, group in sorted(groups.items()):
        members.setdefault(group, []).append(video)
    names = sorted(members)
    if len(names) < folds:
        raise ValueError(f"--folds {folds} needs at least {folds} {unit}s (one per fold), found {len(names)}"
                         f"{': ' + ', '.join(names[:10]) if unit == 'signer' else ''}; lower --folds")
    shuffled = [names[i] for i in np.random.default_rng(seed).permutation(len(names))]
    order = sorted(shuffled, key=lambda g: -len(members[g]))  # stable: the shuffle breaks size ties
    videos: list[list[str]] = [[] for _ in range(folds)]
    count = [0] * folds
    for group in order:
        k = min(range(folds), key=lambda i: (len(videos[i]), count[i], i))
        videos[k].extend(members[group])
        count[k] += 1
    return [sorted(v) for v in videos]


class FoldSplits(NamedTuple):
    train: list[str]
    val: list[str]  # empty without inner validation
    test: list[str]


def _window_counts(corpus: Corpus, ids: list[str], train_args: argparse.Namespace):
    """Per-video window counts under the training flags (what the inner validation split balances)."""
    from signstgcn.data.groundtruth import build_vocab, parse_signing_labels
    from signstgcn.data.splits import count_windows
    from signstgcn.data.windows import WindowConfig, build_window_index

    assert corpus.gt is not None
    vocab = build_vocab(corpus.gt, ids, binary=train_args.binary,
                        signing_labels=parse_signing_labels(train_args.signing_labels))
    window = WindowConfig(train_args.window, train_args.stride, train_args.rule, train_args.sample_mode)
    labels = [corpus.gt.frame_labels(v, corpus.num_frames(v), vocab) for v in ids]
    return count_windows(ids, build_window_index(labels, window, binary=train_args.binary),
                         binary=train_args.binary, class_names=vocab.classes)


def fold_splits(
    fold: int,
    test_folds: Sequence[Sequence[str]],
    *,
    groups: Mapping[str, str],
    group_by: str,
    inner_val_fraction: float = 0.0,
    corpus: Corpus | None = None,
    train_args: argparse.Namespace | None = None,
    seed: int = 0,
) -> FoldSplits:
    """Train / inner validation / test videos of fold ``fold`` (test = that fold, train = the others).

    The inner validation split (``inner_val_fraction > 0``, needs ``corpus`` and ``train_args`` for the
    window counts) is balanced like ``train_landmarks --val-fraction`` but taken from the training groups
    only, signer-disjoint from the rest of training with ``group_by="signer"``.
    """
    from signstgcn.data.splits import validation_split

    test = sorted(test_folds[fold])
    train = sorted(v for k, vids in enumerate(test_folds) if k != fold for v in vids)
    if inner_val_fraction <= 0:
        return FoldSplits(train, [], test)
    if corpus is None or train_args is None:
        raise ValueError("fold_splits: an inner validation split needs the corpus and the training flags")
    counts = _window_counts(corpus, train, train_args)
    by_signer = group_by == "signer"
    try:
        split = validation_split(train, val_fraction=inner_val_fraction, window_counts=counts.windows,
                                 positive_counts=counts.positives, class_counts=counts.classes,
                                 signers=dict(groups) if by_signer else None, signer_disjoint=by_signer, seed=seed)
    except DataError as err:
        unit = "signers" if by_signer else "videos"
        raise DataError(f"fold {fold}: --inner-val-fraction {inner_val_fraction:g} cannot carve a validation split "
                        f"out of the {len({groups[v] for v in train})} training {unit} ({err})") from None
    return FoldSplits(list(split.train), list(split.val), test)


def splits_payload(splits: FoldSplits, groups: Mapping[str, str], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The fold's splits JSON (the :mod:`signstgcn.data.splits` format, read by ``--splits-json``)."""
    from signstgcn import __version__
    from signstgcn.data.splits import SPLITS_VERSION

    named = {"train": splits.train, "val": splits.val, "test": splits.test}
    return {"version": SPLITS_VERSION, "tool": f"signstgcn {__version__} cross-validate", "settings": dict(settings),
            "splits": named, "counts": {k: {"videos": len(v)} for k, v in named.items()},
            "groups": {k: sorted({groups[v] for v in vids}) for k, vids in named.items()}}


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
    from signstgcn.cli.train import get_args_parser

    parser = get_args_parser()
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


class _Tee(io.TextIOBase):
    """Writes to a log file and, unless quiet, to the console."""

    def __init__(self, log: TextIO, console: TextIO | None) -> None:
        self.log, self.console = log, console

    def write(self, text: str) -> int:
        self.log.write(text)
        if self.console is not None:
            self.console.write(text)
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        if self.console is not None:
            self.console.flush()


@contextlib.contextmanager
def _logged(path: Path, quiet: bool) -> Iterator[None]:
    with path.open("a", encoding="utf-8") as log, contextlib.redirect_stdout(_Tee(log, None if quiet else sys.stdout)):
        yield


# ------------------------------------------------------------------------------------------- one fold


def fold_train_flags(
    user_flags: Sequence[str], config: str, splits_json: Path, *, gt: str | Path | None = None, seed: int = 0,
    select_best: bool = False,
) -> list[str]:
    """``train_landmarks`` flags of one fold (without --data/--out): ``--seed SEED`` (the user's own --seed
    wins, being later), the user's flags, the preset's on top, then the fold's splits (+ ``--save-best``)."""
    if config not in PRESETS:
        raise ValueError(f"Invalid config {config!r}. Only {', '.join(PRESETS)} (or all) are supported")
    flags = ["--seed", str(seed), *user_flags, *PRESETS[config], "--splits-json", str(splits_json)]
    if gt is not None:
        flags += ["--gt", str(gt)]
    return [*flags, "--save-best"] if select_best else flags


def train_fold(
    flags: Sequence[str], data: str | Path, run_dir: Path, *, resume: bool = False, quiet: bool = False
) -> float:
    """Train with ``train_landmarks`` flags on ``data`` into ``run_dir`` (output also in ``run_dir/train.log``).

    ``resume`` continues a run that has ``last.pt`` (a previous cross-validation was interrupted); other
    leftovers of a run that never finished an epoch are replaced. Returns the training seconds.
    """
    from signstgcn.cli import train as train_cli

    run_dir.mkdir(parents=True, exist_ok=True)
    if resume and (run_dir / "last.pt").is_file():
        mode = ["--resume"]
    else:
        mode = ["--overwrite"] if any((run_dir / n).exists() for n in train_cli.RUN_FILES) else []
    args = parse_train_flags([*flags, *mode, *(["--quiet"] if quiet else [])], data=str(data), out=str(run_dir))
    tic = time.perf_counter()
    with _logged(run_dir / "train.log", quiet):
        train_cli.run(args)
    return time.perf_counter() - tic


def evaluate_fold(
    ckpt: Path, data: str | Path, splits_json: Path, out_dir: Path, *, gt: str | Path | None = None,
    train_args: argparse.Namespace, seed: int = 0, quiet: bool = False, adapt: str | None = None,
) -> dict[str, Any]:
    """Evaluate ``ckpt`` on the ``test`` split of ``splits_json``; writes ``out_dir/report.json`` + plots.

    ``adapt``: each test signer's windows are scored by the model adapted to them (AdaBN, no labels read)."""
    from signstgcn.cli.train import resolve_device
    from signstgcn.evaluation.report import evaluate_prepared, prepare_evaluation, save_evaluation
    from signstgcn.training.loop import resolve_precision

    device = resolve_device(train_args.device)
    progress = wants_progress(quiet)
    prepared = prepare_evaluation(ckpt, data, gt_path=gt, splits_json=splits_json, split="test",
                                  map_location=device, progress=progress)
    result = evaluate_prepared(prepared, device=device, precision=resolve_precision(train_args.amp, device),
                               batch_size=max(train_args.batch, 64), workers=train_args.workers, seed=seed,
                               progress=progress, adapt=adapt)
    save_evaluation(result, out_dir, overwrite=True)  # the fold folder is the cross-validation's own
    return result.report


# ---------------------------------------------------------------------------------------- aggregation


def metric_columns(task: str) -> tuple[tuple[str, str], ...]:
    """(metric key, title) pairs of the results table for ``"multiclass"`` or ``"binary"`` reports."""
    return (_BINARY if task == "binary" else _MULTICLASS) + _BIAS


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def _worst_signer(report: Mapping[str, Any]) -> str:
    """Name of the fold's lowest per-signer accuracy ("" without per-signer metrics)."""
    per = {k: _num(v) for k, v in (report.get("per_signer_acc") or {}).items()}
    per = {k: v for k, v in per.items() if math.isfinite(v)}
    return min(per, key=lambda k: (per[k], k)) if per else ""


def result_row(
    config: str, fold: int, report: Mapping[str, Any], fold_info: Mapping[str, Any], *, seed: int = 0
) -> dict[str, Any]:
    """One ``results.csv`` row: a config's fold and training seed, its test counts and metrics, the seconds."""
    task = report["checkpoint"]["task"]
    metrics, counts = report["metrics"], report["counts"]
    worst = _worst_signer(report)
    row: dict[str, Any] = {"config": config, "fold": fold, "seed": seed, "task": task,
                           "checkpoint": Path(report["checkpoint"]["path"]).name,
                           "test_signers": counts.get("signers", 0), "test_videos": counts.get("videos", 0),
                           "test_windows": counts.get("windows", 0)}
    row.update({key: _num(metrics.get(key)) for key, _ in metric_columns(task)})
    row.update({"worst_signer": worst, "train_seconds": _num(fold_info.get("train_seconds"))})
    return row


def _mean_std(values: Sequence[float]) -> dict[str, Any]:
    finite = np.array([v for v in values if math.isfinite(v)], dtype=np.float64)
    if not finite.size:
        return {"mean": None, "std": None, "folds": 0}
    return {"mean": float(finite.mean()), "std": float(finite.std()), "folds": int(finite.size)}


def _pooled_worst_signer(reports: Sequence[tuple[int | str, Mapping[str, Any]]]) -> dict[str, Any] | None:
    """Lowest per-signer accuracy over all test folds (and repeats), pooled by windows for real signer ids
    (pseudo-signers are specific to a run: named ``fold<run>/<name>``, run = ``k`` or ``k-seed<s>``)."""
    correct: dict[str, float] = {}
    windows: dict[str, int] = {}
    for fold, report in reports:
        real = report.get("signers", {}).get("source") == "real"
        for name, acc in (report.get("per_signer_acc") or {}).items():
            n = int((report.get("per_signer_windows") or {}).get(name, 0))
            if not math.isfinite(_num(acc)) or n <= 0:
                continue
            key = name if real else (f"fold{fold}/{name}" if isinstance(fold, int) else f"{fold}/{name}")
            correct[key] = correct.get(key, 0.0) + _num(acc) * n
            windows[key] = windows.get(key, 0) + n
    if not windows:
        return None
    acc = {k: correct[k] / windows[k] for k in windows}
    name = min(acc, key=lambda k: (acc[k], k))
    return {"name": name, "accuracy": acc[name], "windows": windows[name]}


def main_metric(task: str) -> str:
    """The metric the per-seed column shows: top-1, or the frame PR-AUC of detection."""
    return "frame_pr_auc" if task == "binary" else "top1"


def _seed_average(rows: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    """Per fold (in first-seen order): the mean of ``key`` over the fold's repeats (NaN where none is finite)."""
    by_fold: dict[Any, list[float]] = {}
    for r in rows:
        by_fold.setdefault(r["fold"], []).append(_num(r[key]))
    return [float(np.mean(f)) if (f := [v for v in vs if math.isfinite(v)]) else math.nan for vs in by_fold.values()]


def summarize(
    rows: Sequence[Mapping[str, Any]], reports: Mapping[str, Sequence[tuple[int | str, Mapping[str, Any]]]]
) -> dict[str, dict[str, Any]]:
    """Per config (in first-seen order): folds, repeats, mean ± std over folds of every metric (each fold
    averaged over its repeats first), the main metric of each seed (mean over folds), test counts, training
    seconds and the worst test signer overall. ``reports[config]`` holds ``(run, report.json)`` pairs."""
    out: dict[str, dict[str, Any]] = {}
    for config in dict.fromkeys(r["config"] for r in rows):
        mine = [r for r in rows if r["config"] == config]
        task = mine[0]["task"]
        folds = list(dict.fromkeys(r["fold"] for r in mine))
        seeds = list(dict.fromkeys(r["seed"] for r in mine))
        main = main_metric(task)
        out[config] = {
            "task": task,
            "folds": len(folds),
            "repeats": len(seeds),
            "metrics": {key: _mean_std(_seed_average(mine, key)) for key, _ in metric_columns(task)},
            "main_metric": main,
            "per_seed": {str(seed): _mean_std([_num(r[main]) for r in mine if r["seed"] == seed]) for seed in seeds},
            "test_signers": [r["test_signers"] for r in mine if r["seed"] == seeds[0]],
            "test_videos": [r["test_videos"] for r in mine if r["seed"] == seeds[0]],
            "train_seconds": {**_mean_std([_num(r["train_seconds"]) for r in mine]),
                              "total": float(np.nansum([_num(r["train_seconds"]) for r in mine]))},
            "worst_signer": _pooled_worst_signer(reports.get(config, ())),
        }
    return out


def _cell(stat: Mapping[str, Any]) -> str:
    if stat["mean"] is None:
        return "–"
    return f"{stat['mean']:.2f} ± {stat['std']:.2f}"


def summary_markdown(summary: Mapping[str, Mapping[str, Any]], footer: Sequence[str] = ()) -> str:
    """The markdown table: config, each metric ``mean ± std``, the worst signer; then ``footer`` lines."""
    tasks = {s["task"] for s in summary.values()}
    task = "binary" if tasks == {"binary"} else "multiclass"
    columns = metric_columns(task)
    repeats = any(s["repeats"] > 1 for s in summary.values())
    titles = dict(columns)
    head = ["config", *(title for _, title in columns), "worst signer"]
    if repeats:
        head.append(f"{titles[main_metric(task)]} per seed")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for config, s in summary.items():
        worst = s["worst_signer"]
        cells = [_cell(s["metrics"].get(key, {"mean": None})) for key, _ in columns]
        cells.append("–" if worst is None else f"{worst['name']} ({worst['accuracy']:.2f})")
        if repeats:
            seeds = s["per_seed"].values()
            cells.append(" ".join("–" if v["mean"] is None else f"{v['mean']:.3f}" for v in seeds) or "–")
        lines.append("| " + " | ".join([config, *cells]) + " |")
    return "\n".join([*lines, *([""] if footer else []), *footer]) + "\n"


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Atomic JSON (NaN → null)."""
    write_json_atomic(path, dict(payload), indent=1)
