"""Group-disjoint k-fold cross-validation: "how well does it work on people (or sessions) it never saw?".

    from signstgcn import TrainConfig, cross_validate
    base = TrainConfig.from_flat(data="data/", sample_mode="video", window=30, epochs=15)
    summary = cross_validate(base, out="runs/cv", folds=4, configs=("stgcn-pool", "default"), repeats=3)
    summary["default"]["metrics"]["top1"]  # {"mean": ..., "std": ..., "folds": 4}

Every signer (``group_by="signer"``), recording session (``"sessions"``: ``DATA/sessions.txt``), group of a
``<video> <group>`` file (``groups_file``) or video is tested in exactly one fold (:mod:`.folds`; folds of videos
of multi-class data are stratified by label), by a model that :func:`~signstgcn.training.fit.fit` trains on the
other folds with the base config, the config preset (:data:`PRESETS`) on top; the final checkpoint (``last.pt``,
or ``best.pt`` on an inner validation split) is scored by :mod:`.report` on the test fold. ``repeats`` trains
every fold with seeds ``seed .. seed+R-1``.

Writes ``OUT/folds.json`` (fold → signers and videos, settings), ``OUT/<config>/fold<k>/`` (``fold<k>-seed<s>/``
with repeats: ``splits.json``, the training run, ``train.log``, ``fold.json``, ``eval/report.json`` + plots),
``OUT/results.csv`` (one row per config, fold and seed), ``OUT/summary.json`` and ``OUT/summary.md`` (mean ±
std over folds, :mod:`.cv_results`). ``resume`` skips what a previous run in OUT finished.

Ablation presets (:data:`PRESETS`): name → settings applied on top of the base config (so a preset's
``signer_loss_weight=0`` overrides the user's value):

- ``stgcn-pool``: ``--attention none --temporal pool --signer-loss-weight 0`` (ST-GCN + masked mean pooling)
- ``stgcn-bigru``: ``--attention none --temporal bigru --signer-loss-weight 0`` (ST-GCN + BiGRU)
- ``signer-attention``: ``--attention signer --temporal bigru --signer-loss-weight 0`` (+ signer-conditioned
  attention)
- ``adversarial``: ``--attention signer --temporal bigru`` (+ the adversarial signer head at the train default
  weight; real signer ids when the data has them)
- ``pseudo-signers``: adversarial + ``--use-pseudo-signers`` (K-means pseudo-signers instead of real ids)
- ``supcon``: pseudo-signers + ``--use-supcon``
- ``default``: nothing on top (the ``train_landmarks`` defaults)

Floors (not in ``all``; name them): what the graph network must beat, on the same folds and input.

- ``gru``: ``--backbone linear --attention none --temporal bigru --signer-loss-weight 0`` (a per-frame linear
  projection of all joints instead of the ST-GCN, then the same BiGRU; trained like every preset)
- ``logreg``: a logistic regression on the flattened, normalized evaluation-time input windows
  (:mod:`.baselines`; no training run, ``logreg.npz`` instead of a checkpoint, no signer probe, no ``adapt``)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from signstgcn.atomic import write_json_atomic, write_text_atomic
from signstgcn.data.corpus import load_corpus
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.splits import write_splits
from signstgcn.errors import SignSTGCNError
from signstgcn.evaluation.baselines import LOGREG_NAME, logreg_fold
from signstgcn.evaluation.cv_results import metric_columns, result_row, summarize, summary_markdown
from signstgcn.evaluation.folds import (
    GROUP_BY,
    GROUPS_FILE,
    FoldSplits,
    assign_folds,
    fold_splits,
    group_unit,
    groups_path,
    splits_payload,
    stratified_folds,
    video_groups,
    video_labels,
)
from signstgcn.evaluation.html import crossval_page
from signstgcn.evaluation.report import REPORT_NAME, evaluate_prepared, prepare_evaluation, save_evaluation
from signstgcn.progress import wants_progress
from signstgcn.runtime import resolve_device
from signstgcn.training.config import TrainConfig, config_flags
from signstgcn.training.fit import fit
from signstgcn.training.loop import resolve_precision
from signstgcn.training.outputs import RUN_FILES

__all__ = ["ABLATIONS", "ADAPTED_DIR", "BASELINES", "GROUP_BY", "PRESETS", "CrossValidation", "config_recipe",
           "cross_validate", "evaluate_fold", "preset_flags", "train_fold"]

_ADVERSARIAL: dict[str, Any] = {"attention": "signer", "temporal": "bigru"}
PRESETS: dict[str, dict[str, Any]] = {  # training presets: the ablations in order ("all"), then the GRU floor
    "stgcn-pool": {"attention": "none", "temporal": "pool", "signer_loss_weight": 0.0},
    "stgcn-bigru": {"attention": "none", "temporal": "bigru", "signer_loss_weight": 0.0},
    "signer-attention": {"attention": "signer", "temporal": "bigru", "signer_loss_weight": 0.0},
    "adversarial": dict(_ADVERSARIAL),
    "pseudo-signers": {**_ADVERSARIAL, "use_pseudo_signers": True},
    "supcon": {**_ADVERSARIAL, "use_pseudo_signers": True, "use_supcon": True},
    "default": {},
    "gru": {"backbone": "linear", "attention": "none", "temporal": "bigru", "signer_loss_weight": 0.0},
}
ABLATIONS = ("stgcn-pool", "stgcn-bigru", "signer-attention", "adversarial", "pseudo-signers", "supcon", "default")
BASELINES = ("logreg",)  # floors that are not a training run
LOGREG_RECIPE = "logistic regression (C=1, standardized) on the flattened evaluation-time input windows"
FOLDS_NAME, RESULTS_NAME, SUMMARY_JSON, SUMMARY_MD, FOLD_INFO, HTML_NAME = (
    "folds.json", "results.csv", "summary.json", "summary.md", "fold.json", "report.html")
ADAPTED_DIR = "eval_adapted"
_OWN_FILES = (FOLDS_NAME, RESULTS_NAME, SUMMARY_JSON, SUMMARY_MD, HTML_NAME)


def preset_flags(name: str) -> tuple[str, ...]:
    """A preset as ``train_landmarks`` flags, e.g. ``("--attention", "none", ...)``."""
    return tuple(config_flags(PRESETS[name]))


def config_recipe(name: str) -> str:
    """What a config adds, in words: its ``train_landmarks`` flags, or what the floor is."""
    if name in BASELINES:
        return LOGREG_RECIPE
    return " ".join(preset_flags(name)) or "train defaults"


def presets_of(names: Sequence[str]) -> list[str]:
    """``names`` with ``all`` expanded (every ablation preset, in order; the floors gru and logreg are not in
    it), duplicates dropped; unknown names are a ValueError."""
    chosen: list[str] = []
    for name in names:
        if name != "all" and name not in PRESETS and name not in BASELINES:
            raise ValueError(f"Invalid --configs {name!r}. Only {', '.join([*PRESETS, *BASELINES])} or all are "
                             f"supported")
        chosen.extend(ABLATIONS if name == "all" else [name])
    return list(dict.fromkeys(chosen))


@dataclass(frozen=True)
class CrossValidation:
    """The settings of one cross-validation (besides the base training config)."""

    out: Path
    folds: int = 4
    group_by: str | None = None  # signer, video, sessions or file; None: file with groups_file, else signer
    groups_file: str | None = None  # a '<video> <group>' file to group by (group_by "file")
    configs: tuple[str, ...] = ("default",)
    inner_val_fraction: float = 0.0
    seed: int = 0
    repeats: int = 1
    adapt: str | None = None
    gt: str | None = None
    resume: bool = False
    overwrite: bool = False
    quiet: bool = False
    train_seed: int | None = None  # training seed of every fold instead of ``seed`` (``repeats`` must be 1)
    train_flags: tuple[str, ...] = ()  # the user's train flags, for the record (folds.json, fold.json, tables)
    prog: str = "signstgcn cross-validate"  # prefix of the progress lines

    def __post_init__(self) -> None:
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "configs", tuple(presets_of(self.configs)))
        if self.resume and self.overwrite:
            raise ValueError("--resume continues the cross-validation in --out and --overwrite replaces it; pass "
                             "only one")
        if not (math.isfinite(self.inner_val_fraction) and 0.0 <= self.inner_val_fraction < 1.0):
            raise ValueError(f"--inner-val-fraction must be in [0, 1), got {self.inner_val_fraction}")
        if self.folds < 2:
            raise ValueError(f"--folds must be at least 2 (one fold is tested, the others train), got {self.folds}")
        if self.repeats < 1:
            raise ValueError(f"--repeats must be at least 1, got {self.repeats}")
        if self.repeats > 1 and self.train_seed is not None:
            raise ValueError("--repeats trains with seeds SEED .. SEED+R-1 (SEED = cross-validate's --seed); drop "
                             "--seed after '--'")
        if self.groups_file is not None and self.group_by not in (None, GROUPS_FILE):
            raise ValueError(f"--groups FILE groups by that file and --group-by {self.group_by} by something else; "
                             f"pass only one")
        if self.group_by is None:
            object.__setattr__(self, "group_by", "signer" if self.groups_file is None else GROUPS_FILE)
        if self.group_by not in (*GROUP_BY, GROUPS_FILE):
            raise ValueError(f"Invalid group_by {self.group_by!r}. Only {', '.join(GROUP_BY)} (or file with "
                             f"groups_file) are supported")
        if self.group_by == GROUPS_FILE and self.groups_file is None:
            raise ValueError("group_by='file' needs groups_file (--groups FILE)")

    @property
    def unit(self) -> str:
        """What one group is: signer, video, session or group."""
        return group_unit(str(self.group_by))

    def seeds(self) -> range:
        first = self.seed if self.train_seed is None else self.train_seed
        return range(first, first + self.repeats)


# ------------------------------------------------------------------------------------------- one fold


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


def fold_config(base: TrainConfig, preset: str, data: str, run_dir: Path, splits_json: Path, *, seed: int,
                gt: str | None, select_best: bool, resume: bool, quiet: bool) -> TrainConfig:
    """The training config of one fold: the base, the preset on top (nothing for a floor that is not a training
    run), then the fold's data, splits and folder."""
    if preset not in PRESETS and preset not in BASELINES:
        raise ValueError(f"Invalid config {preset!r}. Only {', '.join([*PRESETS, *BASELINES])} (or all) are "
                         f"supported")
    again = resume and (run_dir / "last.pt").is_file()
    stale = not again and any((run_dir / n).exists() for n in RUN_FILES)
    changes: dict[str, Any] = {"seed": seed, **PRESETS.get(preset, {}), "data": str(data), "gt": gt,
                               "out": str(run_dir), "splits_json": str(splits_json), "resume": again,
                               "overwrite": stale, "quiet": quiet or base.run.quiet}
    if select_best:
        changes["save_best"] = True
    return base.updated(changes)


def train_fold(config: TrainConfig) -> float:
    """Train one fold with ``config`` (output also in ``OUT/train.log``); returns the training seconds."""
    run_dir = Path(config.run.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    tic = time.perf_counter()
    with _logged(run_dir / "train.log", config.run.quiet):
        fit(config)
    return time.perf_counter() - tic


def evaluate_fold(ckpt: Path, data: str | Path, splits_json: Path, out_dir: Path, *, config: TrainConfig,
                  gt: str | Path | None = None, seed: int = 0, quiet: bool = False,
                  adapt: str | None = None) -> dict[str, Any]:
    """Evaluate ``ckpt`` on the ``test`` split of ``splits_json``; writes ``out_dir/report.json`` + plots.

    ``adapt``: each test signer's windows are scored by the model adapted to them (AdaBN, no labels read)."""
    device = resolve_device(config.run.device)
    progress = wants_progress(quiet)
    prepared = prepare_evaluation(ckpt, data, gt_path=gt, splits_json=splits_json, split="test",
                                  map_location=device, progress=progress)
    result = evaluate_prepared(prepared, device=device, precision=resolve_precision(config.run.amp, device),
                               batch_size=max(config.optim.batch, 64), workers=config.run.workers, seed=seed,
                               progress=progress, adapt=adapt)
    save_evaluation(result, out_dir, overwrite=True)  # the fold folder is the cross-validation's own
    return result.report


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _run_name(cv: CrossValidation, k: int, seed: int) -> str:
    """``fold<k>``, or ``fold<k>-seed<s>`` with repeats."""
    return f"fold{k}" if cv.repeats == 1 else f"fold{k}-seed{seed}"


def _fold_flags(cv: CrossValidation, preset: str, splits_path: Path, seed: int) -> list[str]:
    """The fold's recipe as ``train_landmarks`` flags (for the record; ``fold.json``; a floor that is not a training
    run reads the data settings of the same flags)."""
    own = preset_flags(preset) if preset in PRESETS else ()
    flags = ["--seed", str(seed), *cv.train_flags, *own, "--splits-json", str(splits_path)]
    flags += ["--gt", str(cv.gt)] if cv.gt is not None else []
    return [*flags, "--save-best"] if cv.inner_val_fraction > 0 else flags


def _run_fold(cv: CrossValidation, base: TrainConfig, data: str, preset: str, k: int, seed: int,
              splits: FoldSplits, groups: dict[str, str]) -> tuple[dict[str, Any], dict[str, Any] | None,
                                                                   dict[str, Any], str]:
    """Train (with ``seed``) and evaluate one fold of one preset; returns (report, adapted report or None, fold
    info, "trained" | "evaluated" | "skipped")."""
    fold_dir = cv.out / preset / _run_name(cv, k, seed)
    report_path, info_path = fold_dir / "eval" / REPORT_NAME, fold_dir / FOLD_INFO
    adapted_path = fold_dir / ADAPTED_DIR / REPORT_NAME
    adapt = cv.adapt if preset not in BASELINES else None  # no BatchNorm to adapt in a logistic regression
    if cv.resume and report_path.is_file() and info_path.is_file() and (not adapt or adapted_path.is_file()):
        adapted = _read_json(adapted_path) if adapt else None
        return _read_json(report_path), adapted, _read_json(info_path), "skipped"
    select = cv.inner_val_fraction > 0
    splits_path = fold_dir / "splits.json"
    settings = {"fold": k, "folds": cv.folds, "group_by": cv.group_by, "seed": cv.seed,
                "inner_val_fraction": cv.inner_val_fraction}
    write_splits(splits_path, splits_payload(splits, groups, settings), overwrite=True)
    config = fold_config(base, preset, data, fold_dir, splits_path, seed=seed, gt=cv.gt, select_best=select,
                         resume=cv.resume, quiet=cv.quiet)
    info = {"config": preset, "fold": k, "seed": seed, "train_flags": _fold_flags(cv, preset, splits_path, seed),
            "train_config": config.to_dict(), "test_groups": sorted({groups[v] for v in splits.test}),
            "val_groups": sorted({groups[v] for v in splits.val})}
    if preset in BASELINES:  # fitted and scored in one step, in seconds: done again unless both files exist
        tic = time.perf_counter()
        with _logged(fold_dir / "train.log", cv.quiet):
            report = logreg_fold(config, fold_dir / "eval", fold_dir / LOGREG_NAME, progress=wants_progress(cv.quiet))
        info = {**info, "train_seconds": time.perf_counter() - tic, "checkpoint": LOGREG_NAME}
        write_json_atomic(info_path, info, indent=1)
        return report, None, info, "trained"
    if cv.resume and info_path.is_file():  # trained before an interruption; only the evaluation is missing
        info, status = _read_json(info_path), "evaluated"
    else:
        seconds = train_fold(config)
        info = {**info, "train_seconds": seconds, "checkpoint": "best.pt" if select else "last.pt"}
        write_json_atomic(info_path, info, indent=1)
        status = "trained"
    ckpt = fold_dir / info["checkpoint"]
    if cv.resume and report_path.is_file():
        report = _read_json(report_path)
    else:
        report = evaluate_fold(ckpt, data, splits_path, fold_dir / "eval", config=config, gt=cv.gt, seed=seed,
                               quiet=cv.quiet)
    adapted = None
    if adapt:
        adapted = evaluate_fold(ckpt, data, splits_path, fold_dir / ADAPTED_DIR, config=config, gt=cv.gt,
                                seed=seed, quiet=cv.quiet, adapt=adapt)
    return report, adapted, info, status


# ----------------------------------------------------------------------------------------- run folder


def _check_out(cv: CrossValidation) -> None:
    out = cv.out
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    held = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if held and not (cv.resume or cv.overwrite):
        raise ValueError(f"--out {out} is not empty ({', '.join(held[:5])}{', ...' if len(held) > 5 else ''}); pass "
                         f"--resume to continue a cross-validation, --overwrite to replace it, or choose another --out")
    if held and cv.resume and not (out / FOLDS_NAME).is_file():
        raise ValueError(f"--resume: {out} holds no {FOLDS_NAME}, so no cross-validation to continue; choose another "
                         f"--out")


_BEFORE: dict[str, Any] = {"repeats": 1, "stratify": "none"}  # settings of runs made before they were recorded


def _check_same_run(out: Path, payload: dict[str, Any]) -> None:
    """resume: the folds and settings of OUT must be the ones this run would make."""
    previous = _read_json(out / FOLDS_NAME)
    stored = previous.get("settings", {})
    for key, value in payload["settings"].items():
        if key == "adapt":  # adapted scores can be added to (or left out of) a finished run
            continue
        if stored.get(key, _BEFORE.get(key)) != value:  # what runs from before a setting existed had
            raise ValueError(f"--resume: {out / FOLDS_NAME} was made with {key} = {stored.get(key)!r}, this command "
                             f"has {value!r}; use the same settings, --overwrite, or another --out")
    if previous.get("folds") != payload["folds"]:
        raise ValueError(f"--resume: the folds in {out / FOLDS_NAME} differ from the folds of --data now (videos "
                         f"added or removed?); use --overwrite or another --out")


def _clear(out: Path) -> None:
    """overwrite: remove what a previous cross-validation wrote in OUT (its files and fold folders)."""
    for name in _OWN_FILES:
        (out / name).unlink(missing_ok=True)
    for fold_dir in sorted(out.glob("*/fold[0-9]*")):
        if (fold_dir.parent.name in PRESETS or fold_dir.parent.name in BASELINES) and fold_dir.is_dir():
            shutil.rmtree(fold_dir)


def _folds_payload(cv: CrossValidation, data: str, groups: dict[str, str], folds: list[list[str]],
                   groups_file: Path | None, stratify: str) -> dict[str, Any]:
    settings = {"data": str(Path(data).resolve()), "gt": None if cv.gt is None else str(Path(cv.gt).resolve()),
                "folds": cv.folds, "group_by": cv.group_by, "seed": cv.seed,
                "inner_val_fraction": cv.inner_val_fraction, "repeats": cv.repeats, "adapt": cv.adapt,
                "train_flags": list(cv.train_flags), "stratify": stratify}
    if groups_file is not None:
        settings["groups_file"] = str(groups_file.resolve())
    return {"version": 1, "settings": settings,
            "folds": [{"fold": k, "test_groups": sorted({groups[v] for v in vids}), "test_videos": vids}
                      for k, vids in enumerate(folds)],
            "group_of": dict(sorted(groups.items())) if cv.group_by != "video" else {}}


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = list(dict.fromkeys(k for r in rows for k in r))
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=fields)
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if isinstance(v, float) and not math.isfinite(v) else
                             f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    write_text_atomic(path, buffer.getvalue())


def _footer(cv: CrossValidation, payload: dict[str, Any]) -> list[str]:
    unit = cv.unit
    per_fold = ", ".join(str(len(f["test_groups"])) for f in payload["folds"])
    total = sum(len(f["test_groups"]) for f in payload["folds"])
    selection = ("no model selection: last.pt of each fold evaluated" if cv.inner_val_fraction <= 0 else
                 f"model selection: best.pt on an inner validation split of {cv.inner_val_fraction:g} of the "
                 f"training {unit}s' windows")
    if not any(c in PRESETS for c in cv.configs):
        selection = "no model selection"
    elif any(c in BASELINES for c in cv.configs):
        selection += f" ({', '.join(c for c in cv.configs if c in BASELINES)}: fitted on the training videos only)"
    flags = " ".join(cv.train_flags) or "(train_landmarks defaults)"
    presets = "; ".join(f"{c} = train defaults" if PRESETS.get(c) == {} else f"{c} = `{config_recipe(c)}`"
                        for c in cv.configs)
    last = cv.seed + cv.repeats - 1
    seeds = (f"seed {cv.seed}" if cv.repeats == 1 else
             f"folds from seed {cv.seed}, each trained {cv.repeats} times (seeds {cv.seed}..{last}) and "
             f"averaged over its repeats")
    source = f" of {Path(payload['settings']['groups_file']).name}" if "groups_file" in payload["settings"] else ""
    strata = (", stratified by label (each label's videos spread over the folds as evenly as possible)"
              if payload["settings"]["stratify"] == "label" else "")
    return [f"{cv.folds} folds grouped by {unit}{source} ({total} {unit}s; {per_fold} per test fold){strata}, "
            f"{seeds}; mean ± std (population) over folds; {selection}.",
            f"Train flags: `{flags}`. Configs: {presets}.",
            "Signer probe: accuracy of a linear classifier recovering the test signer from the frozen embedding "
            "(lower = less signer information; chance = majority share). Worst signer: lowest test accuracy "
            "over all folds."]


def _write_results(out: Path, rows: list[dict[str, Any]], reports: dict[str, list[tuple[str, dict[str, Any]]]],
                   footer: list[str], settings: dict[str, Any]) -> str:
    _write_csv(out / RESULTS_NAME, rows)
    summary = summarize(rows, reports)
    write_json_atomic(out / SUMMARY_JSON, {"settings": settings, "configs": summary}, indent=1)
    table = summary_markdown(summary, footer)
    (out / SUMMARY_MD).write_text(table, encoding="utf-8")
    write_text_atomic(out / HTML_NAME, crossval_page(summary, rows, reports, footer, out))
    return table


def _fold_line(cv: CrossValidation, preset: str, k: int, splits: FoldSplits, groups: dict[str, str]) -> str:
    names = sorted({groups[v] for v in splits.test})
    shown = ", ".join(names[:8]) + (", ..." if len(names) > 8 else "")
    test = f"{len(names)} {cv.unit}s ({shown})" if cv.group_by != "video" else f"{len(names)} videos"
    val = f", {len(splits.val)} val" if splits.val else ""
    return f"{cv.prog}: [{preset}] fold{k} ({k + 1}/{cv.folds}): test {test}; {len(splits.train)} train{val} videos"


def _result_line(cv: CrossValidation, preset: str, name: str, row: dict[str, Any], status: str) -> str:
    shown = "  ".join(f"{key} {row[key]:.3f}" for key, _ in metric_columns(row["task"]) if math.isfinite(row[key]))
    worst = f"  worst signer {row['worst_signer']}" if row["worst_signer"] else ""
    note = {"skipped": "done before, skipped", "evaluated": "trained before, evaluated now"}.get(
        status, f"trained in {row['train_seconds']:.0f}s")
    return f"{cv.prog}: [{preset}] {name}: {shown}{worst}  ({note})"


# ----------------------------------------------------------------------------------------------- run


def _check_base(base: TrainConfig, cv: CrossValidation) -> None:
    if cv.inner_val_fraction <= 0:
        for flag, on in (("--save-best", base.run.save_best), ("--patience", base.optim.patience)):
            if on:
                raise ValueError(f"train flag {flag} picks epochs on a validation split, which folds only have with "
                                 f"--inner-val-fraction > 0 (the test fold never selects epochs)")
    for preset in cv.configs:  # every fold's config is valid before any work
        base.updated(PRESETS.get(preset, {}))


def _score(cv: CrossValidation, preset: str, k: int, seed: int, outcome: tuple, rows: list[dict[str, Any]],
           reports: dict[str, list[tuple[str, dict[str, Any]]]]) -> None:
    report, adapted, info, status = outcome
    name = _run_name(cv, k, seed)
    scored = [(preset, report)] + ([(f"{preset}+adapt", adapted)] if adapted is not None else [])
    for label, rep in scored:
        row = result_row(label, k, rep, info, seed=seed)
        rows.append(row)
        reports.setdefault(label, []).append((name, rep))
        if not cv.quiet:
            print(_result_line(cv, label, name, row, status), flush=True)
            for warning in rep.get("warnings", []):
                print(f"{cv.prog}: warning: [{label}] {name}: {warning}", file=sys.stderr, flush=True)


def cross_validate(base: TrainConfig, cv: CrossValidation | None = None, /, **settings: Any) -> dict[str, Any]:
    """Cross-validate every preset of ``cv.configs`` on ``base.data.data``; returns the summary (per config:
    mean ± std over folds). ``settings`` are :class:`CrossValidation` fields (``out`` is required)."""
    cv = cv or CrossValidation(**settings)
    _check_base(base, cv)
    data = base.data.data
    _check_out(cv)
    corpus = load_corpus(data, selection=PartSelection(coords=2), gt_path=cv.gt, progress=wants_progress(cv.quiet))
    group_by = str(cv.group_by)
    groups_file = groups_path(group_by, corpus.data_dir, cv.groups_file)
    groups = video_groups(corpus.video_ids, corpus.signers, group_by, groups_file=groups_file)
    stratify = "label" if group_by == "video" and not base.data.binary else "none"
    if stratify == "label":
        folds = stratified_folds(video_labels(corpus, corpus.video_ids, base), cv.folds, seed=cv.seed)
    else:
        folds = assign_folds(groups, cv.folds, seed=cv.seed, unit=cv.unit)
    payload = _folds_payload(cv, data, groups, folds, groups_file, stratify)
    if cv.resume and (cv.out / FOLDS_NAME).is_file():
        _check_same_run(cv.out, payload)
    elif cv.overwrite and cv.out.is_dir():
        _clear(cv.out)
    cv.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(cv.out / FOLDS_NAME, payload, indent=1)
    splits = [fold_splits(k, folds, groups=groups, group_by=cv.group_by, inner_val_fraction=cv.inner_val_fraction,
                          corpus=corpus, config=base, seed=cv.seed) for k in range(cv.folds)]
    del corpus  # the landmarks are reloaded by each fold's training
    footer = _footer(cv, payload)
    recipes = {c: list(preset_flags(c)) if c in PRESETS else [config_recipe(c)] for c in cv.configs}
    settings_record = {**payload["settings"], "configs": recipes}
    rows: list[dict[str, Any]] = []
    reports: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    table = ""
    for preset in cv.configs:
        for k in range(cv.folds):
            if not cv.quiet:
                print(_fold_line(cv, preset, k, splits[k], groups), flush=True)
            for seed in cv.seeds():
                try:
                    outcome = _run_fold(cv, base, data, preset, k, seed, splits[k], groups)
                except (SignSTGCNError, ValueError, FileNotFoundError) as err:  # say which fold; resume continues
                    raise ValueError(f"[{preset}] {_run_name(cv, k, seed)}: {err}") from err
                _score(cv, preset, k, seed, outcome, rows, reports)
                table = _write_results(cv.out, rows, reports, footer, settings_record)
    print(table, end="", flush=True)
    print(f"{cv.prog}: wrote {cv.out / RESULTS_NAME}, {cv.out / SUMMARY_JSON}, {cv.out / SUMMARY_MD}, "
          f"{cv.out / HTML_NAME}", flush=True)
    return _read_json(cv.out / SUMMARY_JSON)["configs"]
