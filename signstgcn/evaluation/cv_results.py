"""Cross-validation results: one row per config, fold and seed, and mean ± std over folds per config.

:func:`result_row` / :func:`summarize` / :func:`summary_markdown`: mean ± std (population std, ``np.std``) over
folds per config (each fold averaged over its repeats first), the main metric per seed, plus the worst test
signer overall (pooled over folds and repeats).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["main_metric", "metric_columns", "result_row", "summarize", "summary_markdown", "summary_table",
           "summary_task"]

# (report metric key, column title); multi-class or binary classification columns, then the bias columns
_MULTICLASS = (("top1", "top-1"), ("top5", "top-5"), ("macro_f1", "macro-F1"))
_BINARY = (("accuracy", "accuracy"), ("f1", "F1"), ("pr_auc", "PR-AUC"), ("frame_pr_auc", "frame PR-AUC"),
           ("frame_f1", "frame F1"))
_BIAS = (("worst_signer_acc", "worst-signer acc"), ("signer_gap", "signer gap"), ("signer_probe", "signer probe"),
         ("signer_probe_chance", "probe chance"), ("within_class_signer_probe", "within-class probe"),
         ("within_class_signer_probe_chance", "within-class chance"))



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


def _cell(stat: Mapping[str, Any] | None, digits: int = 2) -> str:
    if not stat or stat["mean"] is None:
        return "–"
    return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"


def summary_task(summary: Mapping[str, Mapping[str, Any]]) -> str:
    """``binary`` when every config is binary, else ``multiclass`` (which columns a summary table shows)."""
    return "binary" if {s["task"] for s in summary.values()} == {"binary"} else "multiclass"


def summary_table(summary: Mapping[str, Mapping[str, Any]], *, digits: int = 2,
                  per_seed: bool | None = None) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-config summary: config, each metric ``mean ± std`` (``digits``), the worst
    signer, and the main metric per seed (``per_seed``; default: when some config has repeats)."""
    task = summary_task(summary)
    columns = metric_columns(task)
    if per_seed is None:
        per_seed = any(s["repeats"] > 1 for s in summary.values())
    head = ["config", *(title for _, title in columns), "worst signer"]
    if per_seed:
        head.append(f"{dict(columns)[main_metric(task)]} per seed")
    rows = []
    for config, s in summary.items():
        worst = s["worst_signer"]
        cells = [_cell(s["metrics"].get(key), digits) for key, _ in columns]
        cells.append("–" if worst is None else f"{worst['name']} ({worst['accuracy']:.2f})")
        if per_seed:
            seeds = s["per_seed"].values()
            cells.append(" ".join("–" if v["mean"] is None else f"{v['mean']:.3f}" for v in seeds) or "–")
        rows.append([config, *cells])
    return head, rows


def summary_markdown(summary: Mapping[str, Mapping[str, Any]], footer: Sequence[str] = ()) -> str:
    """The markdown table: config, each metric ``mean ± std``, the worst signer; then ``footer`` lines."""
    head, rows = summary_table(summary)
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([*lines, *([""] if footer else []), *footer]) + "\n"
