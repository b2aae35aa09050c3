"""``evaluate(ckpt, data)``: a checkpoint scored against ground truth from Python (what ``signstgcn evaluate`` runs).

    from signstgcn import evaluate
    result = evaluate("runs/x/best.pt", "data/", splits_json="splits.json", split="test", out="runs/x/eval")
    result.report["metrics"]["top1"], result.report["per_signer_acc"]
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path

from signstgcn.evaluation.report import (
    EvaluationResult,
    check_report_dir,
    evaluate_prepared,
    prepare_evaluation,
    save_evaluation,
)
from signstgcn.runtime import configure_threads, resolve_device
from signstgcn.training.loop import resolve_precision

__all__ = ["evaluate"]


def evaluate(
    ckpt: str | PathLike[str],
    data: str | PathLike[str],
    *,
    gt: str | PathLike[str] | None = None,
    splits_json: str | PathLike[str] | None = None,
    split: str | None = None,
    out: str | PathLike[str] | None = None,
    overwrite: bool = False,
    window: int | None = None,
    stride: int | None = None,
    threshold: float | None = None,
    adapt: str | None = None,
    open_set: bool | Sequence[str] = False,
    probe: bool = True,
    plots: bool = True,
    save_predictions: bool = False,
    batch_size: int = 64,
    device: str = "auto",
    workers: int = 0,
    threads: int | None = None,
    amp: bool = False,
    seed: int = 0,
    progress: bool = False,
) -> EvaluationResult:
    """Score ``ckpt`` on the labeled videos of ``data`` (``split`` of ``splits_json``, or the checkpoint's own
    ``train``/``val`` split, or every labeled video); with ``out`` also write ``report.json`` (+ plots, +
    ``predictions.csv``). ``adapt`` ("all" | "input"): score each signer with a copy adapted to them (AdaBN).
    ``open_set`` (multi-class): labels outside the checkpoint's vocabulary whose windows are scored as unknown signs
    (``True``: every such label): the report's ``open_set`` entry; the closed-set metrics use the known windows."""
    if batch_size < 1:
        raise ValueError(f"--batch must be at least 1, got {batch_size}")
    if threshold is not None and not 0.0 < threshold < 1.0:
        raise ValueError(f"--threshold must be a probability in (0, 1), got {threshold}")
    if out is not None:
        check_report_dir(out, overwrite)  # fail before any work
    dev = resolve_device(device)
    configure_threads(threads, workers)
    prepared = prepare_evaluation(ckpt, data, gt_path=gt, splits_json=splits_json, split=split, window=window,
                                  stride=stride, open_set=open_set, map_location=dev, progress=progress)
    result = evaluate_prepared(prepared, device=dev, precision=resolve_precision(amp, dev), threshold=threshold,
                               batch_size=batch_size, workers=workers, probe=probe, seed=seed, progress=progress,
                               adapt=adapt)
    if out is not None:
        result.files = save_evaluation(result, Path(out), overwrite=overwrite, plots=plots,
                                       predictions=save_predictions)
    return result
