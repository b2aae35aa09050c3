"""``report.html``: one self-contained page of an evaluation or a cross-validation, to look at rather than read.

The page needs nothing but itself: the CSS is inline, every plot is a PNG inlined as a ``data:`` URI, there is no
script and no request to the network, so it opens from a mail attachment or an archived run folder alike.

- :func:`evaluation_page` (``signstgcn evaluate``): the headline metrics, accuracy per signer, the confusion matrix
  (multi-class) or the precision-recall and ROC curves (binary), the calibration (temperature, ECE and NLL before and
  after it, the reliability diagram) and, when evaluated, how unknown signs are rejected (open set), the signer
  probe, and the worst clips with their true and predicted labels, from ``report.json`` and the plots beside it;
- :func:`crossval_page` (``signstgcn cross-validate``): the same, pooled over the runs, plus the per-config
  summary and the table of every fold and seed, with each run's plots.

Every section is a ``<section id=...>`` with an ``<h2>``; :data:`EVALUATION_SECTIONS` and :data:`CROSSVAL_SECTIONS`
name them (the browser test checks each is shown).
"""

from __future__ import annotations

import base64
import html
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from signstgcn.evaluation.cv_results import metric_columns, summary_table, summary_task

__all__ = ["CROSSVAL_SECTIONS", "EVALUATION_SECTIONS", "crossval_page", "evaluation_page", "worst_clips"]

EVALUATION_SECTIONS = ("summary", "per-signer", "plots", "calibration", "signer-probe", "worst-clips")
CROSSVAL_SECTIONS = ("summary", "runs", "per-signer", "signer-probe", "worst-clips", "plots")
WORST_CLIPS = 10

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;color:#1d1d1f;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
.meta{color:#666}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ddd;padding:3px 8px;
text-align:right}th{background:#f4f4f6}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:6px 0}.bar{display:inline-block;height:10px;background:#4c78a8}
.warn{color:#a15c00}.grid{display:flex;flex-wrap:wrap;gap:8px}.grid figure{margin:0;max-width:48%}
figcaption{color:#666;font-size:12px}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.3f}"
    return _esc(value)


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    header = "".join(f"<th>{_esc(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _image(path: Path, caption: str = "") -> str:
    """A PNG inlined as a data URI (empty when the file is missing)."""
    if not path.is_file():
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    alt = _esc(caption or path.stem)
    img = f'<img src="data:image/png;base64,{data}" alt="{alt}">'
    return f"<figure>{img}<figcaption>{alt}</figcaption></figure>" if caption else img


def _section(sid: str, title: str, body: str) -> str:
    return f'<section id="{sid}"><h2>{_esc(title)}</h2>{body}</section>'


def _page(title: str, meta: str, sections: Sequence[str], warnings: Sequence[str] = ()) -> str:
    warn = "".join(f'<p class="warn">⚠ {_esc(w)}</p>' for w in warnings)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{_esc(title)}</title>"
            f"<style>{_CSS}</style></head><body><h1>{_esc(title)}</h1><p class=\"meta\">{meta}</p>{warn}"
            + "".join(sections) + "</body></html>\n")


def _signer_table(accuracy: Mapping[str, float | None], counts: Mapping[str, Any], count_title: str) -> str:
    """Signers from the worst up, with a bar per accuracy."""
    ranked = sorted(accuracy.items(), key=lambda kv: (2.0 if kv[1] is None else kv[1], kv[0]))
    body = "".join(f"<tr><td>{_esc(name)}</td><td>{_fmt(counts.get(name, '–'))}</td><td>{_fmt(acc)}</td>"
                   f'<td style="text-align:left"><span class="bar" style="width:{int(round(120 * (acc or 0)))}px">'
                   f"</span></td></tr>" for name, acc in ranked)
    return (f"<table><thead><tr><th>signer</th><th>{_esc(count_title)}</th><th>accuracy</th><th></th></tr></thead>"
            f"<tbody>{body}</tbody></table>")


def worst_clips(video_ids: Sequence[str], videos: np.ndarray, labels: np.ndarray, preds: np.ndarray,
                scores: np.ndarray, signers: Sequence[Any], class_names: Sequence[str], *,
                threshold: float | None = None, limit: int = WORST_CLIPS) -> list[dict[str, Any]]:
    """The ``limit`` clips with the lowest window accuracy, the most confidently wrong first, each with its signer,
    and over its wrong windows: the most frequent true label, the label most often predicted instead and the mean
    probability of that prediction (``scores``: multi-class (N, K) probabilities; binary (N,) signing probability,
    reported as is, with ``threshold`` the one the predictions used)."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1:  # binary: how far past the threshold, as a share of the room on that side
        thr = 0.5 if threshold is None else float(threshold)
        confidence = np.where(preds == 1, (scores - thr) / max(1.0 - thr, 1e-9), (thr - scores) / max(thr, 1e-9))
        shown = scores
    else:
        confidence = shown = scores[np.arange(len(preds)), preds]
    by_video: dict[int, list[int]] = defaultdict(list)
    for i, v in enumerate(np.asarray(videos).tolist()):
        by_video[int(v)].append(i)
    clips = []
    for v, rows in by_video.items():
        truth, guess = labels[rows], preds[rows]
        wrong = truth != guess
        if not wrong.any():
            continue
        clips.append({"video": video_ids[v], "signer": signers[rows[0]], "windows": len(rows),
                      "accuracy": float(1.0 - wrong.mean()),
                      "true": class_names[Counter(truth[wrong].tolist()).most_common(1)[0][0]],
                      "predicted": class_names[Counter(guess[wrong].tolist()).most_common(1)[0][0]],
                      "confidence": float(confidence[rows][wrong].mean()),
                      "probability": float(shown[rows][wrong].mean())})
    clips.sort(key=_worst_first)
    return clips[:limit]


def _worst_first(clip: Mapping[str, Any]) -> tuple:
    return clip["accuracy"], -clip.get("confidence", 0.0), -clip["windows"], clip["video"]


def _clip_table(clips: Sequence[Mapping[str, Any]] | None, run: bool = False, binary: bool = False) -> str:
    if clips is None:
        return "<p>Not recorded (a report.json written before worst clips were kept).</p>"
    if not clips:
        return "<p>Every clip's windows are all correct.</p>"
    head = [*(["run"] if run else []), "clip", "signer", "windows", "window accuracy", "true (wrong windows)",
            "predicted instead", "signing probability" if binary else "its probability"]
    return _table(head, [[*([c["run"]] if run else []), c["video"], c["signer"] or "–", c["windows"],
                          c["accuracy"], c["true"], c["predicted"], c.get("probability")] for c in clips])


def _probe(probe: Mapping[str, Any]) -> str:
    if probe.get("accuracy") is None:
        return "<p>Not measured (fewer than two signers with enough windows).</p>"
    rows = [["classifier embedding", probe["accuracy"], probe["chance"]],
            ["within one class", probe.get("within_class_accuracy"), probe.get("within_class_chance")]]
    if probe.get("signer_embedding_accuracy") is not None:
        rows.append(["signer-encoder embedding", probe["signer_embedding_accuracy"], probe["chance"]])
    return (_table(["embedding", "signer recovered", "chance"], rows)
            + f"<p class=\"meta\">{_esc(probe.get('method', ''))}</p>")


def _calibration(report: Mapping[str, Any], out: Path) -> str:
    """Temperature, ECE / NLL before and after it, the reliability diagram and the open-set results."""
    cal = report.get("calibration")
    if not cal:
        return "<p>Not recorded (a report.json written before calibration was measured).</p>"
    body = _table(["", "temperature", "ECE", "NLL"],
                  [["without temperature", 1.0, cal["ece_uncalibrated"], cal["nll_uncalibrated"]],
                   ["with the checkpoint's", cal["temperature"], cal["ece"], cal["nll"]]])
    body += f'<p class="meta">{_esc(cal.get("fit", ""))}. {_esc(cal.get("note", ""))}.</p>'
    body += _image(out / "reliability.png", f"reliability: {cal.get('binned', '')}")
    o = report.get("open_set")
    if o:
        body += "<h3>Unknown signs (open set)</h3>" + _table(
            ["open-set labels", "unknown windows", "AUROC", "threshold", "unknown rejected", "known rejected",
             "correct known kept"],
            [[", ".join(o["labels"]), o["num_unknown"], o["open_set_auroc"], o["open_set_threshold"],
              o["unknown_rejected"], o["known_rejected"], o["known_correct_kept"]]])
        body += _table(["label", "windows", "mean confidence", "rejected", "predicted as"],
                       [[name, v["windows"], v["mean_confidence"], v["rejected"],
                         ", ".join(f"{k} ({n})" for k, n in v["predicted_as"].items())]
                        for name, v in o["per_label"].items()])
        body += f'<p class="meta">{_esc(o.get("note", ""))}</p>'
    return body


def evaluation_page(report: Mapping[str, Any], out_dir: str | Path) -> str:
    """The page of one ``signstgcn evaluate`` run (``report.json`` and the plots in ``out_dir``)."""
    out = Path(out_dir)
    ck, data, counts = report["checkpoint"], report["data"], report["counts"]
    binary = ck["task"] == "binary"
    metrics = [[k, v] for k, v in report["metrics"].items() if isinstance(v, (int, float)) or v is None]
    summary = _table(["metric", "value"], metrics) + _table(
        ["videos", "windows", "signers", "task", "classes"],
        [[counts["videos"], counts["windows"], counts["signers"], ck["task"], ", ".join(ck["classes"])]])
    signers = (_signer_table(report["per_signer_acc"], report.get("per_signer_windows", {}), "windows")
               if report["per_signer_acc"] else "<p>No signer ids.</p>") + _image(out / "per_signer.png")
    names = ("pr_curve.png", "roc_curve.png") if binary else ("confusion.png",)
    plots = "".join(_image(out / n, n.removesuffix(".png").replace("_", " ")) for n in names)
    meta = (f"{_esc(Path(ck['path']).name)} (epoch {ck['epoch']}, {ck['parameters']:,} parameters) on "
            f"{_esc(data['dir'])}, split {_esc(data['split'])}; created {_esc(report.get('created', ''))}")
    sections = [
        _section("summary", "Headline metrics", summary),
        _section("per-signer", "Accuracy per signer", signers),
        _section("plots", "Precision-recall and ROC" if binary else "Confusion matrix",
                 f'<div class="grid">{plots}</div>' if plots else "<p>No plots (--no-plots).</p>"),
        _section("calibration", "Calibration: how far the probabilities can be trusted", _calibration(report, out)),
        _section("signer-probe", "Signer probe: how much of the signer the embedding keeps",
                 _probe(report["signer_probe"])),
        _section("worst-clips", "Worst clips", _clip_table(report.get("worst_clips"), binary=binary)),
    ]
    return _page(f"SignSTGCN evaluation: {Path(ck['path']).name}", meta, sections, report.get("warnings", ()))


def crossval_page(summary: Mapping[str, Mapping[str, Any]], rows: Sequence[Mapping[str, Any]],
                  reports: Mapping[str, Sequence[tuple[str, Mapping[str, Any]]]], footer: Sequence[str],
                  out_dir: str | Path) -> str:
    """The page of a cross-validation (``out_dir`` holds ``<config>/<run>/eval/``)."""
    out = Path(out_dir)
    columns = metric_columns(summary_task(summary))
    head, table = summary_table(summary, digits=3, per_seed=True)
    notes = "".join(f"<p class=\"meta\">{_esc(line)}</p>" for line in footer)
    runs = _table(["config", "fold", "seed", "test signers", "test windows", *(t for _, t in columns)],
                  [[r["config"], r["fold"], r["seed"], r["test_signers"], r["test_windows"],
                    *(r.get(k) for k, _ in columns)] for r in rows])
    pooled: dict[str, list[float]] = defaultdict(list)
    probes, clips, figures, recorded = [], [], [], False
    for config, pairs in reports.items():
        for run, rep in pairs:
            for name, acc in rep.get("per_signer_acc", {}).items():
                if acc is not None:
                    pooled[f"{name} ({config})" if len(reports) > 1 else name].append(acc)
            p = rep.get("signer_probe", {})
            probes.append([config, run, p.get("accuracy"), p.get("chance"), p.get("within_class_accuracy")])
            recorded |= "worst_clips" in rep
            clips += [{**c, "run": f"{config}/{run}"} for c in rep.get("worst_clips", [])]
            for png in rep.get("plots", []):
                figures.append(_image(out / config / run / "eval" / png, f"{config} {run}: {png[:-4]}"))
    clips.sort(key=_worst_first)
    mean = {k: float(np.mean(v)) for k, v in pooled.items()}
    signers = _signer_table(mean, {k: len(v) for k, v in pooled.items()}, "runs") if mean else "<p>No signer ids.</p>"
    sections = [
        _section("summary", "Summary: mean ± std over folds", _table(head, table) + notes),
        _section("runs", "Every fold and seed", runs),
        _section("per-signer", "Test accuracy per signer (mean over the runs that tested them)", signers),
        _section("signer-probe", "Signer probe per run",
                 _table(["config", "run", "signer recovered", "chance", "within one class"], probes)),
        _section("worst-clips", "Worst clips over all runs",
                 _clip_table(clips[:2 * WORST_CLIPS] if recorded else None, run=True,
                             binary=summary_task(summary) == "binary")),
        _section("plots", "Plots of every run",
                 f'<div class="grid">{"".join(figures)}</div>' if any(figures) else "<p>No plots.</p>"),
    ]
    return _page(f"SignSTGCN cross-validation: {out.name}", f"{len(rows)} runs in {_esc(out)}", sections)

