"""Evaluation of a checkpoint on a data folder: the ``report.json`` of ``signstgcn evaluate`` and its plots.

Three steps, each reusable (e.g. by a cross-validation command that evaluates one checkpoint per fold):

1. :func:`prepare_evaluation` loads the checkpoint and rebuilds the training data pipeline from it
   (parts, layout, coordinates, windows, label vocabulary, pseudo-signers) on the chosen videos: every
   labeled video of ``--data``, a split of a ``build_video_splits`` file, or the checkpoint's own
   train/val split. Windows whose label is outside the checkpoint's vocabulary are not used (counted), unless
   that label is named for open-set evaluation (``open_set``): those windows are then scored as *unknown*
   signs, apart from the known ones.
2. :func:`evaluate_prepared` runs the frozen model once over those windows and computes every metric of
   DESIGN §4: classification metrics, per-signer accuracy, worst-signer accuracy and gap, and the signer
   probe on the classifier embedding; plus the confusion matrix (multi-class) or the best-F1 threshold
   (binary); the calibration of the probabilities (the checkpoint's temperature, ECE and NLL with and without
   it, a reliability diagram); with open-set labels, how well the calibrated top-1 probability rejects them.
3. :func:`save_evaluation` writes ``report.json`` (NaN → null) and the PNG plots, refusing to replace an
   existing report unless asked.

``report.json`` (``REPORT_VERSION`` 1) holds: ``checkpoint`` (path, epoch, task, classes, training signer
source, heads), ``data`` (dir, ground truth, split and where it came from), ``settings`` (window, stride,
parts, layout, overrides), ``counts`` (videos, windows, signers, windows and labels out of vocabulary,
absent classes, videos of the checkpoint's training split, class or positive windows), ``signers``
(source: real / pseudo / none), ``threshold`` (binary: used and best-F1), ``metrics`` (scalars),
``metrics_at_best_threshold`` (binary), ``per_signer_acc``, ``per_signer_windows``, ``signer_probe``
(accuracy on the classifier embedding, chance level, accuracy on the signer-encoder embedding),
``calibration`` (temperature and where it came from, ``ece``/``nll`` and their ``*_uncalibrated`` values, the
reliability bins before and after), ``open_set`` (with open-set labels: the labels, AUROC known vs unknown, the
threshold that keeps 95 % of the correct known predictions and the share of unknown windows it rejects, per label),
``confusion_matrix``, ``per_class`` and ``per_signer_confusion`` (multi-class; see
:mod:`signstgcn.evaluation.label_check` for the swapped-label warning), ``frame_detection`` (binary sliding-window
checkpoints: ``signstgcn detect``'s per-frame probability scored on every labeled frame, pooled and per
signer; see :mod:`signstgcn.evaluation.frame_metrics`; its scalars are also ``metrics.frame_*``), ``plots``,
``warnings``.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import torch

from signstgcn import __version__
from signstgcn.atomic import json_safe, write_json_atomic, write_text_atomic
from signstgcn.data.corpus import GROUNDTRUTH_NAME, Corpus, load_corpus
from signstgcn.data.groundtruth import DROPPED, LabelVocab
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.pipeline import DataConfig, make_dataset
from signstgcn.data.signers import video_signer_names
from signstgcn.data.splits import SPLITS, check_split_videos, load_splits
from signstgcn.data.windows import WindowDataset, build_window_index
from signstgcn.errors import CheckpointError, DataError
from signstgcn.evaluation.embeddings import extract_outputs
from signstgcn.evaluation.html import evaluation_page, worst_clips
from signstgcn.evaluation.label_check import per_signer_confusion, swapped_label_warnings
from signstgcn.inference.predictor import checkpoint_threshold
from signstgcn.inference.pretrained import release_fields, release_of
from signstgcn.metrics import (
    ECE_BINS,
    binary_metrics,
    compute_metrics,
    confusion_matrix,
    open_set_metrics,
    reliability_bins,
    scalar_metrics,
    signer_probe,
)
from signstgcn.training.calibration import Calibration, nll, probabilities
from signstgcn.training.checkpoint import LoadedCheckpoint, load_checkpoint
from signstgcn.training.loop import LossSetup, Precision, split_loss

__all__ = [
    "PLOT_FILES",
    "REPORT_NAME",
    "REPORT_VERSION",
    "EvalData",
    "EvaluationResult",
    "check_report_dir",
    "evaluate_prepared",
    "json_safe",
    "parts_text",
    "prepare_evaluation",
    "requested_selection",
    "save_evaluation",
]

REPORT_NAME = "report.json"
REPORT_VERSION = 1
PLOT_FILES = ("confusion.png", "pr_curve.png", "roc_curve.png", "per_signer.png", "reliability.png")
OPEN_SET_KEEP = 0.95  # share of the correct known predictions the open-set threshold keeps
PREDICTIONS_NAME = "predictions.csv"
HTML_NAME = "report.html"
_OWN_FILES = (REPORT_NAME, HTML_NAME, PREDICTIONS_NAME, *PLOT_FILES)


# --------------------------------------------------------------------------------------------- helpers


def parts_text(sel: PartSelection) -> str:
    """``"pose(upper)+hands, 2 coords"``: the parts and channels a model reads."""
    parts = []
    if sel.include_pose:
        parts.append(f"pose({sel.pose_subset})")
    if sel.include_hands:
        parts.append("hands")
    if sel.include_face:
        parts.append(f"face({sel.face_subset})")
    return f"{'+'.join(parts)}, {sel.coords} coords"


def requested_selection(
    stored: PartSelection,
    *,
    include_pose: bool = False,
    include_hands: bool = False,
    include_face: bool = False,
    pose_subset: str | None = None,
    face_subset: str | None = None,
    coords: int | None = None,
) -> PartSelection:
    """The selection asked for on a command line, defaulting to ``stored`` for whatever was not given.

    ``--include-*`` flags, when any is given, name the parts exactly (like ``train_landmarks``).
    """
    chosen = include_pose or include_hands or include_face
    return PartSelection(
        include_pose=include_pose if chosen else stored.include_pose,
        include_hands=include_hands if chosen else stored.include_hands,
        include_face=include_face if chosen else stored.include_face,
        pose_subset=pose_subset or stored.pose_subset,
        face_subset=face_subset or stored.face_subset,
        coords=stored.coords if coords is None else coords,
    )


def _same_parts(a: PartSelection, b: PartSelection) -> bool:
    """Equal as far as the model can tell: subsets only matter for parts that are used."""
    return (a.include_pose == b.include_pose and a.include_hands == b.include_hands
            and a.include_face == b.include_face and a.coords == b.coords
            and (not a.include_pose or a.pose_subset == b.pose_subset)
            and (not a.include_face or a.face_subset == b.face_subset))


def _override_config(
    cfg: DataConfig, *, window: int | None, stride: int | None, selection: PartSelection | None
) -> tuple[DataConfig, dict[str, Any]]:
    """Apply window/stride overrides; refuse a part/coordinate selection the model was not built for."""
    if selection is not None and not _same_parts(selection, cfg.selection):
        raise ValueError(f"the checkpoint's model reads {parts_text(cfg.selection)}, but the flags ask for "
                         f"{parts_text(selection)}; a model cannot read other parts or coordinates than it was "
                         f"trained on: drop the --include-*/--coords/--*-subset flags to use the checkpoint's")
    overrides: dict[str, Any] = {}
    win = cfg.window
    if window is not None and window != win.length:
        overrides["window"] = {"checkpoint": win.length, "used": window}
        win = replace(win, length=window)
    if stride is not None and stride != win.stride:
        overrides["stride"] = {"checkpoint": win.stride, "used": stride}
        win = replace(win, stride=stride)
    return (replace(cfg, window=win) if overrides else cfg), overrides


def _check_parts(corpus: Corpus, selection: PartSelection) -> None:
    """Refuse data in which a part the model reads is missing from every video."""
    layout = corpus.layout
    groups = {"pose": ("pose",), "hands": ("left_hand", "right_hand"), "face": ("face",)}
    for name, parts in groups.items():
        slices = [s for s in (layout.part_slice(p) for p in parts) if s is not None]
        if not slices:
            continue
        found = any(np.isfinite(frames[:, s]).any() for frames in corpus.frames.values() for s in slices)
        if not found:
            raise DataError(f"{corpus.data_dir}: no video has {name} landmarks ({'/'.join(parts)} arrays absent or "
                            f"never detected), but the checkpoint's model reads {parts_text(selection)}")


def check_report_dir(out_dir: str | Path, overwrite: bool) -> Path:
    """Raise when ``OUT/report.json`` exists and ``overwrite`` is off (checked before any work)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    if (out / REPORT_NAME).exists() and not overwrite:
        raise ValueError(f"{out / REPORT_NAME}: already exists; pass --overwrite to replace it or choose another --out")
    return out


# ----------------------------------------------------------------------------------------- preparation


@dataclass
class EvalData:
    """A checkpoint and the windows it is evaluated on (what :func:`prepare_evaluation` returns)."""

    ckpt_path: Path
    checkpoint: LoadedCheckpoint
    config: DataConfig  # the checkpoint's data settings with any window/stride override applied
    corpus: Corpus
    video_ids: list[str]
    split: str  # "all", "train", "val" or "test"
    split_source: str
    dataset: WindowDataset
    video_signers: list[str | None]  # per video of ``dataset.video_ids``; None = unknown
    signer_source: str  # "real", "pseudo" or "none"
    signer_note: str
    coverage: dict[str, Any]
    overrides: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    open_set_labels: tuple[str, ...] = ()  # labels outside the vocabulary scored as unknown (dataset ids K, K+1, ...)

    @property
    def binary(self) -> bool:
        return self.config.vocab.binary

    @property
    def class_names(self) -> list[str]:
        return list(self.config.vocab.classes)


def _choose_videos(
    ckpt_data: dict[str, Any], splits_json: str | Path | None, split: str | None
) -> tuple[list[str] | None, str, str]:
    """``(video ids or None for all, split name, where it came from)``."""
    if split is not None and split not in SPLITS:
        raise ValueError(f"Invalid --split {split!r}. Only {', '.join(SPLITS)} are supported")
    if splits_json is not None:
        split = split or "test"
        splits = load_splits(splits_json)
        ids = splits.get(split, [])
        if not ids:
            have = ", ".join(f"{k} ({len(v)} videos)" for k, v in splits.items() if v)
            raise DataError(f"{splits_json}: split {split!r} is empty or absent (has {have}); choose --split "
                            f"{'|'.join(k for k, v in splits.items() if v)}")
        return list(ids), split, f"{splits_json} ({split!r})"
    if split is None:
        return None, "all", "every labeled video of --data"
    stored = ckpt_data.get("splits") if isinstance(ckpt_data.get("splits"), dict) else {}
    ids = list(stored.get(split) or [])
    if not ids:
        raise ValueError(f"--split {split} without --splits-json uses the checkpoint's own {split} videos, "
                         f"but it records none (it records: {', '.join(k for k, v in stored.items() if v) or 'none'}); "
                         f"pass --splits-json F")
    return ids, split, f"the checkpoint's own {split} split"


def _video_signers(corpus: Corpus, dataset: WindowDataset, cfg: DataConfig) -> tuple[list[str | None], str, str]:
    """Signer name per video for the bias metrics (:func:`~signstgcn.data.signers.video_signer_names`), with
    its source and a note for the report."""
    ids = dataset.video_ids
    names, source = video_signer_names(ids, corpus.signers, source=cfg.signer_source, pseudo_ids=dataset.signer_ids)
    if source == "real":
        note = f"real signer ids from {corpus.data_dir / 'signers.txt'} or the npz 'signer' scalar"
        missing = sum(s is None for s in names)
        if missing:
            note += f"; {missing} videos without an id are left out of the per-signer metrics"
        return names, "real", note
    if source == "pseudo":
        return names, "pseudo", ("the data has no signer ids: pseudo-signers assigned by the checkpoint's K-means "
                                 "centroids (per-video pose statistics, fit on its training videos)")
    return names, "none", ("the data has no signer ids and the checkpoint has no pseudo-signers: "
                           "no per-signer metrics and no signer probe")


def _coverage(corpus: Corpus, ids: list[str], cfg: DataConfig) -> dict[str, Any]:
    """Which of the data's labels the checkpoint's vocabulary covers, and the windows it cannot use."""
    assert corpus.gt is not None
    present = corpus.gt.labels_present(ids)  # label -> segments
    vocab = cfg.vocab
    where = corpus.gt.path or "ground truth"
    if vocab.binary:
        positive = sorted(label for label in present if vocab.encode(label) == 1)
        return {"labels_in_data": sorted(present), "positive_labels": positive, "labels_out_of_vocab": {},
                "classes_absent": [] if positive else ["signing"], "labeled_windows": None}
    classes = list(vocab.classes)
    k = len(classes)
    extra = sorted(label for label in present if vocab.encode(label) == DROPPED)
    absent = [c for c in classes if c not in present]
    if len(absent) == k:
        raise DataError(f"{where}: none of the checkpoint's {k} classes ({', '.join(classes[:10])}"
                        f"{', ...' if k > 10 else ''}) occurs in the {len(ids)} videos evaluated (their labels: "
                        f"{', '.join(extra[:10])}{', ...' if len(extra) > 10 else ''}); wrong --data or --ckpt?")
    mapping = {c: i for i, c in enumerate(classes)} | {label: k + j for j, label in enumerate(extra)}
    labels = [corpus.gt.frame_labels(v, corpus.num_frames(v), mapping) for v in ids]
    full = build_window_index(labels, cfg.window, binary=False)  # every labeled window, any label
    oov = Counter(extra[int(y) - k] for y in full.label if y >= k)
    return {"labels_in_data": sorted(present), "labels_out_of_vocab": dict(sorted(oov.items())),
            "classes_absent": absent, "labeled_windows": len(full)}


def _open_set_labels(open_set: bool | Sequence[str], coverage: dict[str, Any], cfg: DataConfig,
                     warnings: list[str]) -> tuple[str, ...]:
    """The labels scored as unknown signs: ``True`` = every label of the data outside the vocabulary, else those
    named (each must be outside the vocabulary; at least one must occur in the evaluated videos)."""
    if open_set is False or (not isinstance(open_set, bool) and not list(open_set)):
        return ()
    if cfg.vocab.binary:
        raise ValueError("open-set evaluation (--open-set / --open-set-labels) needs a multi-class checkpoint, but "
                         "this one is a binary signing detector")
    classes = set(cfg.vocab.classes)
    outside = [label for label in coverage["labels_in_data"] if label not in classes]
    if open_set is True:
        if not outside:
            raise DataError("--open-set: every label of the evaluated videos is a class of the checkpoint; there is "
                            "no unknown sign to evaluate")
        return tuple(outside)
    asked = tuple(dict.fromkeys(str(label) for label in open_set))
    known = [label for label in asked if label in classes]
    if known:
        raise ValueError(f"--open-set-labels: {', '.join(known)} {'is a class' if len(known) == 1 else 'are classes'} "
                         f"of the checkpoint (a known sign); name labels outside its {len(classes)} classes")
    absent = [label for label in asked if label not in outside]
    if len(absent) == len(asked):
        have = ", ".join(outside[:10]) or "none"
        raise DataError(f"--open-set-labels: {', '.join(absent[:10])} occur{'s' if len(absent) == 1 else ''} in none "
                        f"of the evaluated videos (their labels outside the vocabulary: {have})")
    if absent:
        warnings.append(f"--open-set-labels: {', '.join(absent)} occur in none of the evaluated videos")
    return tuple(label for label in asked if label not in absent)


def prepare_evaluation(
    ckpt: str | Path,
    data_dir: str | Path,
    *,
    gt_path: str | Path | None = None,
    splits_json: str | Path | None = None,
    split: str | None = None,
    window: int | None = None,
    stride: int | None = None,
    part_flags: dict[str, Any] | None = None,
    open_set: bool | Sequence[str] = False,
    map_location: str | torch.device = "cpu",
    progress: bool = False,
) -> EvalData:
    """Load ``ckpt`` and the windows of ``data_dir`` it is evaluated on (see the module docstring).

    ``window``/``stride`` override the checkpoint's windows (the model accepts any length).
    ``part_flags`` (keyword arguments of :func:`requested_selection`: the ``--include-*``, ``--coords``,
    ``--*-subset`` flags) must describe the checkpoint's parts and coordinates (a clear error otherwise).
    ``open_set`` (multi-class checkpoints): labels outside the vocabulary whose windows are kept as unknown signs
    (``True``: every such label); without it those windows are not used.
    """
    ckpt_path = Path(ckpt)
    data_root = Path(data_dir)
    if not data_root.is_dir():
        raise DataError(f"--data {data_root}: folder not found")
    loaded = load_checkpoint(ckpt_path, map_location=map_location)
    stored = DataConfig.from_dict(loaded.data)
    model_cfg = loaded.model.config
    if model_cfg.in_channels != stored.in_channels or model_cfg.layout != stored.layout:
        raise CheckpointError(f"checkpoint {ckpt_path}: its data settings ({parts_text(stored.selection)}) do not "
                              f"match its model (in_channels={model_cfg.in_channels})")
    selection = None if part_flags is None else requested_selection(stored.selection, **part_flags)
    cfg, overrides = _override_config(stored, window=window, stride=stride, selection=selection)
    ids, split_name, split_source = _choose_videos(loaded.data, splits_json, split)
    corpus = load_corpus(data_root, selection=cfg.selection, layout_spec=cfg.layout, gt_path=gt_path,
                         video_ids=ids, progress=progress)
    if ids is None:
        ids = list(corpus.video_ids)
    else:
        check_split_videos({split_name: ids}, corpus.video_ids, splits_json or ckpt_path)
    _check_parts(corpus, cfg.selection)
    coverage = _coverage(corpus, ids, cfg)
    warnings: list[str] = []
    open_labels = _open_set_labels(open_set, coverage, cfg, warnings)
    # open-set labels get the ids K, K+1, ... after the checkpoint's classes, so their windows are indexed too
    dataset_cfg = replace(cfg, vocab=LabelVocab(binary=False, classes=cfg.vocab.classes + open_labels)) \
        if open_labels else cfg
    dataset = make_dataset(corpus, ids, dataset_cfg, train=False)
    signers, source, note = _video_signers(corpus, dataset, cfg)
    oov = {k: v for k, v in coverage["labels_out_of_vocab"].items() if k not in open_labels}
    if oov:
        warnings.append(f"{sum(oov.values())} windows have labels outside the checkpoint's vocabulary and are not "
                        f"used ({', '.join(f'{k}: {v}' for k, v in list(oov.items())[:10])})")
    if coverage["classes_absent"]:
        warnings.append(f"classes of the checkpoint absent from the evaluated videos: "
                        f"{', '.join(coverage['classes_absent'][:20])}")
    trained = set((loaded.data.get("splits") or {}).get("train") or [])
    seen = sum(v in trained for v in ids)
    stored_dir = loaded.data.get("data_dir")
    same_dir = stored_dir is None or Path(stored_dir).resolve() == data_root.resolve()
    coverage["videos_seen_in_training"] = seen
    coverage["same_data_dir_as_training"] = same_dir
    if seen and same_dir:
        warnings.append(f"{seen} of the {len(ids)} evaluated videos are in the checkpoint's training split "
                        f"(same data folder): these scores are not held-out")
    return EvalData(ckpt_path=ckpt_path, checkpoint=loaded, config=cfg, corpus=corpus, video_ids=list(ids),
                    split=split_name, split_source=split_source, dataset=dataset, video_signers=signers,
                    signer_source=source, signer_note=note, coverage=coverage, overrides=overrides,
                    warnings=warnings, open_set_labels=open_labels)


# ------------------------------------------------------------------------------------------ evaluation


@dataclass
class EvaluationResult:
    """The report dict plus what the plots and the predictions file need."""

    report: dict[str, Any]
    outputs: dict[str, np.ndarray | None]
    signers: np.ndarray  # (N,) object: signer name per window, None unknown
    scores: np.ndarray  # binary: (N,) positive probability; multi-class: (N, K) softmax probabilities (calibrated)
    preds: np.ndarray  # (N,) predicted class id (binary: at the threshold used)
    video_ids: list[str]
    class_names: list[str]
    files: list[Path] = field(default_factory=list)  # what save_evaluation wrote (via signstgcn.evaluate)
    reliability_before: dict[str, Any] | None = None  # reliability bins of the uncalibrated probabilities
    open_set: dict[str, Any] | None = None  # open-set windows: outputs, label_names, signers, preds (M,), scores (M, K)


def evaluate_prepared(
    data: EvalData,
    *,
    device: torch.device | str = "cpu",
    precision: Precision | None = None,
    threshold: float | None = None,
    batch_size: int = 64,
    workers: int = 0,
    probe: bool = True,
    seed: int = 0,
    progress: bool = False,
    adapt: str | None = None,
) -> EvaluationResult:
    """Run the frozen model over ``data`` and build the report (DESIGN §4 metrics and more).

    ``threshold`` (binary): None = the rule of ``signstgcn detect``, the checkpoint's best-F1 validation
    threshold (0.5 when it stores none); the report says which was used. ``adapt`` (``"all"`` / ``"input"``):
    score each signer's windows with a copy of the model adapted to that signer's windows first (AdaBN,
    :mod:`signstgcn.training.adaptation`; no label is read; videos without a signer id are adapted to together).
    """
    calibration = Calibration.from_checkpoint(data.checkpoint.raw)
    temperature = calibration.temperature
    source = "given"
    if threshold is None:
        threshold, source = checkpoint_threshold(data.checkpoint.metrics, temperature)
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"--threshold must be a probability in (0, 1), got {threshold}")
    device = torch.device(device)
    model = data.checkpoint.model.to(device).eval()
    names = np.array(list(data.video_signers), dtype=object)  # (M,) None = unknown
    if adapt is None:
        outputs = extract_outputs(model, data.dataset, device=device, precision=precision, batch_size=batch_size,
                                  workers=workers, progress=progress, desc="evaluate")
    else:
        outputs = _adapted_outputs(model, data.dataset, names, layers=adapt, device=device, precision=precision,
                                   batch_size=batch_size, workers=workers)
    open_outputs = None
    if data.open_set_labels:  # windows of the open-set labels (ids >= K) apart from the known ones
        known_rows = outputs["labels"] < len(data.class_names)
        if not known_rows.any():
            raise DataError(f"every evaluated window has an open-set label ({', '.join(data.open_set_labels)}); "
                            f"closed-set metrics need windows of the checkpoint's classes too")
        open_outputs = _rows(outputs, ~known_rows)
        outputs = _rows(outputs, known_rows)
    videos = outputs["videos"]
    signers = names[videos]  # (N,)
    binary = data.binary
    logits = outputs["logits"]
    labels = outputs["labels"]
    scores = probabilities(logits.reshape(-1) if binary else logits, temperature, binary=binary)  # (N,) / (N, K)
    inputs = {"labels": labels, "signers": signers, "embeddings": outputs["embeddings"], "groups": videos}
    inputs.update({"probs": scores} if binary else {"logits": logits})  # binary: thresholds on the calibrated scale
    metrics = compute_metrics(inputs, binary=binary, threshold=threshold, probe=probe, probe_seed=seed)
    metrics["loss"] = split_loss(outputs, LossSetup(binary=binary))
    report_extra: dict[str, Any] = {"open_set": None}
    report_extra["calibration"], before = _calibration(calibration, logits, scores, labels, binary)
    metrics["ece"], metrics["nll"] = report_extra["calibration"]["ece"], report_extra["calibration"]["nll"]
    if binary:
        preds = (scores >= threshold).astype(np.int64)
        best_t = float(metrics["best_threshold"])
        report_extra["threshold"] = {
            "used": threshold, "source": source, "best_f1": best_t if math.isfinite(metrics["best_f1"]) else None,
            "best_f1_value": metrics["best_f1"],
            "note": "best_f1 is tuned on this split itself: optimistic; pick thresholds on a validation split"}
        report_extra["metrics_at_best_threshold"] = binary_metrics(scores, labels, best_t)
        report_extra["counts"] = {"positive_windows": int(np.count_nonzero(labels == 1))}
        if data.config.window.sample_mode != "video" and adapt is None:  # frame scores: the unadapted model's
            frame = _frame_metrics(data, model, threshold, batch_size, temperature)
            metrics.update({f"frame_{k}": v for k, v in frame["metrics"].items() if k in _FRAME_SCALARS})
            metrics.update({k: v for k, v in frame["metrics"].items() if k in _SEGMENT_SCALARS})
            per = frame["per_signer_pr_auc"]
            metrics["worst_signer_frame_pr_auc"] = min(per.values()) if per else float("nan")
            report_extra["frame_detection"] = frame
    else:
        preds = np.argmax(logits, axis=1).astype(np.int64)
        report_extra["threshold"] = None
        report_extra.update(class_sections(preds, labels, signers, data.class_names))
    known = np.array([s is not None for s in signers], dtype=bool)
    per_signer_windows = dict(sorted(Counter(str(s) for s in signers[known]).items()))
    signer_emb = outputs["signer_embeddings"]
    probe_signer_emb = float("nan")
    if probe and signer_emb is not None and known.any():
        probe_signer_emb = signer_probe(signer_emb, signers, groups=videos, seed=seed)
    open_set = None
    if open_outputs is not None:
        open_set = _open_set(data, open_outputs, scores, preds == labels, logits, temperature)
        open_set["signers"] = names[open_outputs["videos"]]  # (M,)
        report_extra["open_set"] = open_set.pop("report")
        metrics.update({k: report_extra["open_set"][k] for k in ("open_set_auroc", "unknown_rejected",
                                                                 "open_set_threshold")})
    report = _report(data, metrics, report_extra, per_signer_windows, probe_signer_emb, signer_emb is not None,
                     probe)
    report["adaptation"] = None if adapt is None else {
        "method": "AdaBN", "layers": adapt, "per": "signer",
        "note": "each signer's windows scored by a copy of the model whose BatchNorm statistics were re-estimated on "
                "those windows (no labels read)" + ("; frame-level detection metrics are not computed"
                                                     if binary and data.config.window.sample_mode != "video" else "")}
    return EvaluationResult(report=report, outputs=outputs, signers=signers, scores=scores, preds=preds,
                            video_ids=list(data.dataset.video_ids), class_names=data.class_names,
                            reliability_before=before, open_set=open_set)


def class_sections(preds: np.ndarray, labels: np.ndarray, signers: np.ndarray,
                   class_names: Sequence[str]) -> dict[str, Any]:
    """The multi-class report sections of ``preds`` / ``labels`` ``(N,)`` and ``signers`` ``(N,)``:
    ``confusion_matrix``, ``per_class``, ``per_signer_confusion``, ``counts.class_windows`` and the swapped-label
    ``warnings`` (also used by the logreg floor, :mod:`.baselines`)."""
    classes, k = list(class_names), len(class_names)
    cm = confusion_matrix(preds, labels, k)  # (K, K)
    rows = cm.sum(axis=1)
    per_signer_cm = per_signer_confusion(preds, labels, signers, k)
    return {
        "confusion_matrix": {"classes": classes, "rows": "true class", "columns": "predicted class",
                             "counts": cm.tolist()},
        "per_class": {c: {"windows": int(rows[i]), "recall": float(cm[i, i] / rows[i]) if rows[i] else float("nan"),
                          "predicted": int(cm[:, i].sum())} for i, c in enumerate(classes)},
        "counts": {"class_windows": {c: int(rows[i]) for i, c in enumerate(classes)}},
        "per_signer_confusion": {"classes": classes, "rows": "true class", "columns": "predicted class",
                                 "counts": {n: m.tolist() for n, m in per_signer_cm.items()}},
        "warnings": swapped_label_warnings(per_signer_cm, classes),
    }


def _rows(outputs: dict[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """The windows ``rows`` (bool (N,)) of every per-window output (None stays None)."""
    return {k: None if v is None else v[rows] for k, v in outputs.items()}


def _calibration(calibration: Calibration, logits: np.ndarray, scores: np.ndarray, labels: np.ndarray,
                 binary: bool) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report's ``calibration`` entry (ECE, NLL and reliability bins with and without the temperature) and the
    uncalibrated reliability bins."""
    z = logits.reshape(-1) if binary else logits
    after = reliability_bins(scores, labels, binary=binary)
    before = reliability_bins(probabilities(z, 1.0, binary=binary), labels, binary=binary)
    t = calibration.temperature
    return {
        "method": "temperature scaling (Guo et al. 2017): probabilities of logits / T",
        "temperature": t, "fitted_on": calibration.fitted_on, "fit": calibration.describe(),
        "ece": after["ece"], "nll": nll(z, labels, binary=binary, temperature=t),
        "ece_uncalibrated": before["ece"], "nll_uncalibrated": nll(z, labels, binary=binary),
        "bins": ECE_BINS, "binned": after["what"],
        "note": (f"ECE over {ECE_BINS} equal-width bins; NLL = mean "
                 f"{'binary cross-entropy' if binary else 'negative log-likelihood'}; the temperature never changes "
                 f"a top-1 prediction"),
        "reliability": {k: after[k] for k in ("edges", "count", "confidence", "accuracy")},
        "reliability_uncalibrated": {k: before[k] for k in ("edges", "count", "confidence", "accuracy")},
    }, before


def _open_set(data: EvalData, open_outputs: dict[str, Any], scores: np.ndarray, correct: np.ndarray,
              logits: np.ndarray, temperature: float) -> dict[str, Any]:
    """Open-set metrics of the known windows (``scores (N, K)`` calibrated, ``correct (N,)``) against the open-set
    windows; returns the report entry under ``"report"`` and the open-set windows for ``predictions.csv``."""
    k = len(data.class_names)
    open_scores = probabilities(open_outputs["logits"], temperature, binary=False)  # (M, K)
    known_conf, open_conf = scores.max(axis=1), open_scores.max(axis=1)  # (N,), (M,)
    result = open_set_metrics(known_conf, correct, open_conf, keep=OPEN_SET_KEEP)
    raw = open_set_metrics(probabilities(logits, 1.0, binary=False).max(axis=1), correct,
                           probabilities(open_outputs["logits"], 1.0, binary=False).max(axis=1), keep=OPEN_SET_KEEP)
    label_ids = open_outputs["labels"] - k  # (M,) index into open_set_labels
    names = np.array(data.open_set_labels, dtype=object)[label_ids]  # (M,)
    preds = np.argmax(open_scores, axis=1)  # (M,)
    thr = result["open_set_threshold"]
    per_label = {}
    for j, label in enumerate(data.open_set_labels):
        rows = label_ids == j
        if not rows.any():
            continue
        taken = Counter(data.class_names[int(i)] for i in preds[rows]).most_common(3)
        per_label[label] = {"windows": int(rows.sum()), "mean_confidence": float(open_conf[rows].mean()),
                            "rejected": float(np.mean(open_conf[rows] < thr)) if math.isfinite(thr) else None,
                            "predicted_as": dict(taken)}
    entry = {"labels": list(data.open_set_labels), "score": "calibrated top-1 probability", "keep": OPEN_SET_KEEP,
             **result, "open_set_auroc_uncalibrated": raw["open_set_auroc"],
             "known_mean_confidence": float(known_conf.mean()), "unknown_mean_confidence": float(open_conf.mean()),
             "per_label": per_label,
             "note": f"AUROC: known-class windows (positive) vs open-set windows, scored by the top-1 probability; "
                     f"threshold = the {100 * (1 - OPEN_SET_KEEP):g}th percentile of the top-1 probability of the "
                     f"correctly classified known windows (keeps {100 * OPEN_SET_KEEP:g} % of them); "
                     f"unknown_rejected = share of open-set windows below it; closed-set metrics use the known "
                     f"windows only"}
    return {"report": entry, "outputs": open_outputs, "label_names": names, "scores": open_scores, "preds": preds}


def _adapted_outputs(model: torch.nn.Module, dataset: Any, video_signers: np.ndarray, *, layers: str,
                     device: torch.device, precision: Precision | None, batch_size: int,
                     workers: int) -> dict[str, Any]:
    """:func:`extract_outputs` where each signer's windows go through a copy of ``model`` adapted to them."""
    from signstgcn.training.adaptation import adapted_copy

    window_signer = np.array([str(s) for s in video_signers[dataset.index.video]], dtype=object)  # (N,)
    order, parts = [], []
    for name in sorted(set(window_signer)):
        idx = np.flatnonzero(window_signer == name)  # (n,)
        adapted = adapted_copy(model, dataset, idx, layers=layers, device=device)
        parts.append(extract_outputs(adapted, dataset, device=device, precision=precision, indices=idx,
                                     batch_size=batch_size, workers=workers))
        order.append(idx)
    back = np.argsort(np.concatenate(order), kind="stable")  # (N,) position of each window in the concatenation
    merged: dict[str, Any] = {}
    for key in parts[0]:
        values = [p[key] for p in parts]
        merged[key] = None if any(v is None for v in values) else np.concatenate(values)[back]
    return merged


_FRAME_SCALARS = ("pr_auc", "roc_auc", "f1", "accuracy", "raw_pr_auc")
_SEGMENT_SCALARS = ("segment_precision", "segment_recall", "segment_f1")  # IoU >= 0.5, detect's segments


def _frame_metrics(data: EvalData, model: torch.nn.Module, threshold: float, batch_size: int,
                   temperature: float = 1.0) -> dict[str, Any]:
    """Frame-level detection metrics of ``signstgcn detect``'s per-frame probability on the evaluated videos."""
    from signstgcn.evaluation.frame_metrics import frame_detection_metrics, frame_scores
    from signstgcn.inference.predictor import DEFAULT_SMOOTH, DEFAULT_SMOOTH_METHOD, Predictor, default_stride

    assert data.corpus.gt is not None
    predictor = Predictor(model, data.config, temperature=temperature)
    ids = list(data.dataset.video_ids)
    stride = default_stride(predictor.window)
    scores = frame_scores(predictor, data.corpus.frames, data.corpus.gt, ids, stride=stride, batch_size=batch_size,
                          fps=data.corpus.fps)
    result = frame_detection_metrics(scores, data.video_signers, threshold)
    result["settings"] = {"stride": stride, "smooth": DEFAULT_SMOOTH,
                          "smooth_method": DEFAULT_SMOOTH_METHOD, "weighting": "center", "threshold": threshold,
                          "note": "signstgcn detect's per-frame probability (its defaults) on every labeled frame "
                                  "of the evaluated videos; raw_pr_auc is before smoothing"}
    return result


def _report(data: EvalData, metrics: dict[str, Any], extra: dict[str, Any], per_signer_windows: dict[str, int],
            probe_signer_emb: float, has_signer_encoder: bool, probe: bool) -> dict[str, Any]:
    ck = data.checkpoint
    cfg = data.config
    mcfg = ck.model.config
    gt = data.corpus.gt
    win = cfg.window
    coverage = data.coverage
    windows = len(data.dataset)  # known and open-set windows
    open_set = extra.get("open_set")
    counts = {
        "videos": len(data.video_ids),
        "windows": int(metrics["num_samples"]),  # the known windows: what the closed-set metrics use
        "signers": int(metrics.get("num_signers", 0)),
        "videos_without_windows": len(data.video_ids) - len(np.unique(data.dataset.index.video)),
        "windows_out_of_vocab": (coverage["labeled_windows"] - windows) if coverage["labeled_windows"] else 0,
        "labels_out_of_vocab": coverage["labels_out_of_vocab"],
        "open_set_windows": {k: v["windows"] for k, v in open_set["per_label"].items()} if open_set else {},
        "classes_absent": coverage["classes_absent"],
        "videos_seen_in_training": coverage.get("videos_seen_in_training", 0),
        "same_data_dir_as_training": coverage.get("same_data_dir_as_training"),
        **extra.pop("counts"),
    }
    report: dict[str, Any] = {
        "version": REPORT_VERSION,
        "signstgcn": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "checkpoint": {
            "path": str(data.ckpt_path.resolve()),
            **release_fields(release_of(ck.raw)),
            "epoch": ck.epoch,
            "task": "binary" if cfg.vocab.binary else "multiclass",
            "classes": list(cfg.vocab.classes),
            "signing_labels": list(cfg.vocab.signing_labels) if cfg.vocab.binary else None,
            "trained_signer_source": cfg.signer_source,
            "trained_signers": len(cfg.signers),
            "adversarial_head": mcfg.num_signers > 0,
            "signer_encoder": mcfg.signer_encoder,
            "attention": mcfg.attention,
            "parameters": ck.model.num_parameters(),
        },
        "data": {
            "dir": str(data.corpus.data_dir.resolve()),
            "groundtruth": str(gt.path) if gt is not None and gt.path is not None
            else str(data.corpus.data_dir / GROUNDTRUTH_NAME),
            "split": data.split,
            "split_source": data.split_source,
        },
        "settings": {
            "window": win.length, "stride": win.stride, "rule": win.rule, "sample_mode": win.sample_mode,
            "parts": parts_text(cfg.selection), "layout": data.corpus.layout.name,
            "joints": data.corpus.layout.num_nodes, "overridden": data.overrides,
        },
        "counts": counts,
        "signers": {"source": data.signer_source, "note": data.signer_note,
                    "videos_without_signer": sum(s is None for s in data.video_signers)},
        "threshold": extra.pop("threshold"),
        "metrics": scalar_metrics(metrics),
    }
    if "metrics_at_best_threshold" in extra:
        report["metrics_at_best_threshold"] = extra.pop("metrics_at_best_threshold")
    report["per_signer_acc"] = metrics.get("per_signer_acc", {})
    report["per_signer_windows"] = per_signer_windows
    report["signer_probe"] = {
        "accuracy": metrics["signer_probe"] if probe else None,
        "chance": metrics["signer_probe_chance"] if probe else None,
        "within_class_accuracy": metrics["within_class_signer_probe"] if probe else None,
        "within_class_chance": metrics["within_class_signer_probe_chance"] if probe else None,
        "embedding": "classifier embedding (input of the classifier and signer heads)",
        "signer_embedding_accuracy": probe_signer_emb if has_signer_encoder and probe else None,
        "method": "logistic regression on standardized frozen embeddings, cross-validated with folds grouped by "
                  "video (never a video in both train and test); lower = less signer information. within_class: the "
                  "same probe on the windows of one class at a time, averaged over classes (signer information "
                  "the class cannot explain)",
    }
    label_warnings = extra.pop("warnings", [])
    report.update(extra)  # confusion_matrix, per_class, per_signer_confusion (multi-class); frame_detection (binary)
    report["plots"] = []
    report["warnings"] = list(data.warnings) + label_warnings
    if data.signer_source == "none":
        report["warnings"].append(data.signer_note)
    if cfg.vocab.binary and coverage["classes_absent"]:
        report["warnings"].append(f"no label of the evaluated videos is a signing label of the checkpoint "
                                  f"({', '.join(cfg.vocab.signing_labels)}): every window is negative")
    return report


# ---------------------------------------------------------------------------------------------- output


def save_evaluation(
    result: EvaluationResult,
    out_dir: str | Path,
    *,
    overwrite: bool = False,
    plots: bool = True,
    predictions: bool = False,
) -> list[Path]:
    """Write ``report.json`` (+ plots, + ``predictions.csv``) into ``out_dir``; returns the files written.

    Refuses an existing ``report.json`` unless ``overwrite`` (which also removes the previous plots, so
    no stale figure of another task stays beside the new report).
    """
    from signstgcn import plots as P

    out = check_report_dir(out_dir, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    if overwrite:
        for name in _OWN_FILES:
            (out / name).unlink(missing_ok=True)
    report = result.report
    written: list[Path] = []
    labels = result.outputs["labels"]
    if plots:
        ckpt_name, data_name = Path(report["checkpoint"]["path"]).name, Path(report["data"]["dir"]).name
        title = f"{ckpt_name} on {data_name} ({report['data']['split']})"
        if report["checkpoint"]["task"] == "binary":
            th = report["threshold"]
            marks = {"threshold": th["used"]}
            if th["best_f1"] is not None:
                marks["best-F1 threshold"] = th["best_f1"]
            written.append(P.plot_pr_curve(result.scores, labels, out / "pr_curve.png", thresholds=marks,
                                           title=f"precision-recall: {title}"))
            written.append(P.plot_roc_curve(result.scores, labels, out / "roc_curve.png", thresholds=marks,
                                            title=f"ROC: {title}"))
        else:
            cm = report["confusion_matrix"]
            written.append(P.plot_confusion(cm["counts"], cm["classes"], out / "confusion.png",
                                            title=f"confusion (rows normalized): {title}"))
        cal = report["calibration"]
        after = {**cal["reliability"], "ece": cal["ece"], "what": cal["binned"]}
        before = None if cal["temperature"] == 1.0 else {**cal["reliability_uncalibrated"],
                                                         "ece": cal["ece_uncalibrated"]}
        written.append(P.plot_reliability(after, out / "reliability.png", before=before,
                                          title=f"reliability (T = {cal['temperature']:.3g}): {title}"))
        if report["per_signer_acc"]:
            written.append(P.plot_per_signer(report["per_signer_acc"], out / "per_signer.png",
                                             counts=report["per_signer_windows"],
                                             title=f"accuracy per signer ({report['signers']['source']} ids)"))
    if predictions:
        path = out / PREDICTIONS_NAME
        binary = report["checkpoint"]["task"] == "binary"
        with path.open("w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["video_id", "window_start", "signer", "label", "pred", "score"])
            for i in range(len(labels)):
                score = result.scores[i] if binary else result.scores[i, result.preds[i]]
                w.writerow([result.video_ids[int(result.outputs["videos"][i])], int(result.outputs["starts"][i]),
                            "" if result.signers[i] is None else result.signers[i],
                            result.class_names[int(labels[i])], result.class_names[int(result.preds[i])],
                            f"{float(score):.6g}"])
            extra = result.open_set
            if extra is not None:  # open-set windows: their label is outside the vocabulary
                o = extra["outputs"]
                for i in range(len(extra["preds"])):
                    signer = extra["signers"][i]
                    w.writerow([result.video_ids[int(o["videos"][i])], int(o["starts"][i]),
                                "" if signer is None else signer, extra["label_names"][i],
                                result.class_names[int(extra["preds"][i])],
                                f"{float(extra['scores'][i, extra['preds'][i]]):.6g}"])
        written.append(path)
    report["plots"] = [p.name for p in written if p.suffix == ".png"]
    report["worst_clips"] = worst_clips(result.video_ids, result.outputs["videos"], labels, result.preds,
                                        result.scores, result.signers, result.class_names,
                                        threshold=(report.get("threshold") or {}).get("used"))
    write_json_atomic(out / REPORT_NAME, report)
    write_text_atomic(out / HTML_NAME, evaluation_page(report, out))
    written[:0] = [out / REPORT_NAME, out / HTML_NAME]
    return written
