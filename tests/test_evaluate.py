"""``signstgcn evaluate`` and ``signstgcn plot-metrics`` on tiny synthetic data and tiny 1-epoch models."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from signstgcn.cli import evaluate as evaluate_cli
from signstgcn.cli import plot_metrics as plot_metrics_cli
from signstgcn.cli.train import main as train_main
from signstgcn.data.synthetic import generate_dataset
from signstgcn.evaluation.report import PLOT_FILES, REPORT_NAME, json_safe
from signstgcn.inference.predictor import Predictor
from signstgcn.training.calibration import temperature_threshold
from signstgcn.training.checkpoint import read_checkpoint
from tests.conftest import TINY_MODEL, one_error_line, png_shape

pytestmark = pytest.mark.usefixtures("one_thread")

REPORT_KEYS = {"version", "signstgcn", "created", "checkpoint", "data", "settings", "counts", "signers", "threshold",
               "metrics", "per_signer_acc", "per_signer_windows", "signer_probe", "plots", "warnings"}
SIGNER_METRICS = {"mean_signer_acc", "worst_signer_acc", "best_signer_acc", "signer_gap", "num_signers",
                  "signer_probe", "signer_probe_chance", "within_class_signer_probe",
                  "within_class_signer_probe_chance"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory, one_thread) -> dict[str, Path]:
    """Tiny data (recognition: 4 signers x 6 clips, 3 classes; detection: 4 x 1 short videos) and 1-epoch models."""
    root = tmp_path_factory.mktemp("evaluate")
    rec, det = root / "rec", root / "det"
    generate_dataset(rec, task="recognition", num_signers=4, videos_per_signer=6, num_classes=3, seed=1)
    generate_dataset(det, task="detection", num_signers=4, videos_per_signer=1, frames=(90, 120),
                     segment_seconds=(0.8, 1.6), seed=1)
    common = ["--epochs", "1", "--batch", "16", "--log-csv", *TINY_MODEL, "--quiet"]
    rec_args = ["--data", str(rec), "--sample-mode", "video", "--window", "16", *common]
    assert train_main([*rec_args, "--out", str(root / "rec_run")]) == 0
    assert train_main([*rec_args, "--use-pseudo-signers", "--num-pseudo-signers", "2",
                       "--out", str(root / "rec_pseudo")]) == 0
    assert train_main(["--data", str(det), "--binary", "--signing-labels", "s", "--window", "25", "--stride", "10",
                       "--val-fraction", "0.25", *common, "--out", str(root / "det_run")]) == 0
    return {"root": root, "rec": rec, "det": det, "rec_ckpt": root / "rec_run" / "last.pt",
            "pseudo_ckpt": root / "rec_pseudo" / "last.pt", "det_ckpt": root / "det_run" / "last.pt"}


def _evaluate(ckpt: Path, data: Path, out: Path, *extra: str) -> int:
    return evaluate_cli.main(["--ckpt", str(ckpt), "--data", str(data), "--out", str(out), "--quiet", *extra])


def _report(out: Path) -> dict:
    def no_nan(token: str):
        raise AssertionError(f"report.json holds {token}: NaN must be written as null")

    return json.loads((out / REPORT_NAME).read_text(), parse_constant=no_nan)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_multiclass_report_and_plots(runs, tmp_path):
    out = tmp_path / "eval"
    assert _evaluate(runs["rec_ckpt"], runs["rec"], out, "--save-predictions") == 0
    r = _report(out)
    assert REPORT_KEYS | {"confusion_matrix", "per_class"} <= set(r)
    assert r["checkpoint"]["epoch"] == 1 and r["checkpoint"]["task"] == "multiclass"  # epochs count from 1
    assert r["checkpoint"]["path"] == str(runs["rec_ckpt"].resolve())
    assert r["data"]["split"] == "all" and r["data"]["dir"] == str(runs["rec"].resolve())
    c = r["counts"]
    assert (c["videos"], c["windows"], c["signers"], c["windows_out_of_vocab"]) == (24, 24, 4, 0)
    assert c["videos_seen_in_training"] > 0 and any("training split" in w for w in r["warnings"])
    m = r["metrics"]
    assert {"top1", "top5", "macro_f1", "loss", "num_samples"} | SIGNER_METRICS <= set(m)
    assert m["num_samples"] == 24 and m["num_signers"] == 4 and 0 <= m["top1"] <= 1
    assert r["signers"]["source"] == "real"
    assert set(r["per_signer_acc"]) == {"sig00", "sig01", "sig02", "sig03"}
    accs = list(r["per_signer_acc"].values())
    assert m["worst_signer_acc"] == pytest.approx(min(accs))
    assert m["signer_gap"] == pytest.approx(max(accs) - min(accs))
    assert r["per_signer_windows"] == {f"sig0{k}": 6 for k in range(4)}
    probe = r["signer_probe"]
    assert 0 <= probe["accuracy"] <= 1 and probe["chance"] == pytest.approx(0.25)
    assert probe["signer_embedding_accuracy"] > probe["chance"] + 0.25  # the signer encoder's job: signer info
    assert probe["accuracy"] == m["signer_probe"] and probe["chance"] == m["signer_probe_chance"]
    cm = np.array(r["confusion_matrix"]["counts"])
    assert cm.shape == (3, 3) and cm.sum() == 24 and r["confusion_matrix"]["classes"] == ["sign00", "sign01", "sign02"]
    assert np.trace(cm) / 24 == pytest.approx(m["top1"])
    assert r["threshold"] is None
    cal = r["calibration"]  # the checkpoint's temperature, ECE / NLL with and without it
    assert cal["temperature"] == read_checkpoint(runs["rec_ckpt"])["calibration"]["temperature"] != 1.0
    assert (m["ece"], m["nll"]) == (cal["ece"], cal["nll"]) and cal["fitted_on"] == "val"
    assert sum(cal["reliability"]["count"]) == sum(cal["reliability_uncalibrated"]["count"]) == 24
    assert cal["nll_uncalibrated"] == pytest.approx(m["loss"], abs=1e-5)  # the plain cross-entropy
    assert r["open_set"] is None
    assert r["plots"] == ["confusion.png", "reliability.png", "per_signer.png"]
    assert png_shape(out / "reliability.png")[:2] == (600, 600)
    assert png_shape(out / "confusion.png")[:2] == (700, 800)
    assert png_shape(out / "per_signer.png")[:2] == (450, 800)
    assert not (out / "pr_curve.png").exists() and not (out / "roc_curve.png").exists()
    rows = (out / "predictions.csv").read_text().splitlines()
    assert rows[0] == "video_id,window_start,signer,label,pred,score" and len(rows) == 25


def test_binary_report_pr_and_roc_curves(runs, tmp_path):
    out = tmp_path / "eval"
    assert _evaluate(runs["det_ckpt"], runs["det"], out, "--stride", "25") == 0
    r = _report(out)
    assert r["checkpoint"]["task"] == "binary" and r["checkpoint"]["signing_labels"] == ["s"]
    assert r["settings"]["overridden"] == {"stride": {"checkpoint": 10, "used": 25}}
    m = r["metrics"]
    assert {"accuracy", "precision", "recall", "f1", "pr_auc", "roc_auc", "best_threshold", "best_f1"} <= set(m)
    assert 0 < r["counts"]["positive_windows"] < r["counts"]["windows"]
    th = r["threshold"]
    assert 0 < th["best_f1"] <= 1
    # the same rule as detect: the checkpoint's best-F1 validation threshold, moved to the calibrated probability
    raw = read_checkpoint(runs["det_ckpt"])
    stored, t = raw["metrics"]["best_threshold"], raw["calibration"]["temperature"]
    assert th["used"] == pytest.approx(temperature_threshold(stored, t)) and r["calibration"]["temperature"] == t
    assert th["source"].startswith("checkpoint best-F1 (validation)")
    assert th["used"] == Predictor.from_checkpoint(runs["det_ckpt"]).best_threshold
    assert r["metrics_at_best_threshold"]["f1"] == pytest.approx(th["best_f1_value"])
    assert r["metrics_at_best_threshold"]["f1"] >= m["f1"] - 1e-9
    assert set(r["plots"]) == {"pr_curve.png", "roc_curve.png", "reliability.png", "per_signer.png"}
    for name in ("pr_curve.png", "roc_curve.png"):
        assert png_shape(out / name)[:2] == (500, 600)
    assert not (out / "confusion.png").exists()


def test_binary_frame_metrics_are_detects_probability_on_every_labeled_frame(runs, tmp_path):
    from signstgcn.data.corpus import load_corpus
    from signstgcn.inference.predictor import Predictor, detect
    from signstgcn.metrics import binary_metrics

    out = tmp_path / "eval"
    assert _evaluate(runs["det_ckpt"], runs["det"], out) == 0
    r = _report(out)
    fd = r["frame_detection"]
    assert fd["settings"]["stride"] == 5 and fd["settings"]["smooth"] == 5  # detect's defaults for window 25
    predictor = Predictor.from_checkpoint(runs["det_ckpt"])
    corpus = load_corpus(runs["det"], selection=predictor.data.selection, layout_spec=predictor.data.layout)
    probs, labels, per_signer = [], [], {}
    for vid in corpus.video_ids:
        det = detect(predictor, corpus.frames[vid], fps=25.0, stride=5, smooth=5)
        lab = corpus.gt.frame_labels(vid, corpus.num_frames(vid), predictor.data.vocab)
        keep = lab >= 0
        probs.append(det.probability[keep])
        labels.append(lab[keep])
        per_signer[corpus.signers[vid]] = binary_metrics(det.probability[keep], lab[keep])["pr_auc"]
    # at the checkpoint's best-F1 threshold, as detect decides
    expected = binary_metrics(np.concatenate(probs), np.concatenate(labels), predictor.best_threshold)
    assert fd["metrics"]["frames"] == sum(len(p) for p in probs) > r["counts"]["windows"]
    assert r["metrics"]["frame_pr_auc"] == pytest.approx(expected["pr_auc"], abs=1e-6)
    assert r["metrics"]["frame_f1"] == pytest.approx(expected["f1"], abs=1e-6)
    assert fd["per_signer_pr_auc"] == pytest.approx({k: v for k, v in per_signer.items() if v == v}, abs=1e-6)
    assert r["metrics"]["worst_signer_frame_pr_auc"] == pytest.approx(min(fd["per_signer_pr_auc"].values()))


def test_split_from_splits_json_and_from_the_checkpoint(runs, tmp_path, capsys):
    vids = sorted(p.stem for p in runs["rec"].glob("*.npz"))
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({"splits": {"train": vids[:18], "val": vids[18:]}}))
    assert _evaluate(runs["rec_ckpt"], runs["rec"], tmp_path / "val", "--splits-json", str(splits),
                     "--split", "val") == 0
    r = _report(tmp_path / "val")
    assert r["data"]["split"] == "val" and r["counts"]["videos"] == 6 and r["counts"]["windows"] == 6
    assert _evaluate(runs["rec_ckpt"], runs["rec"], tmp_path / "test", "--splits-json", str(splits),
                     "--split", "test") == 2
    line = one_error_line(capsys)
    assert line.startswith("signstgcn evaluate: error:") and "split 'test' is empty or absent" in line
    assert not (tmp_path / "test" / REPORT_NAME).exists()
    # --split val without --splits-json: the checkpoint's own validation videos
    assert _evaluate(runs["rec_ckpt"], runs["rec"], tmp_path / "own", "--split", "val") == 0
    own = _report(tmp_path / "own")
    stored = torch.load(runs["rec_ckpt"], weights_only=True)["data"]["splits"]["val"]
    assert own["counts"]["videos"] == len(stored) and own["counts"]["videos_seen_in_training"] == 0


def test_existing_report_needs_overwrite(runs, tmp_path, capsys):
    out = tmp_path / "eval"
    assert _evaluate(runs["rec_ckpt"], runs["rec"], out, "--no-plots", "--no-probe") == 0
    first = _report(out)
    assert first["plots"] == [] and first["signer_probe"]["accuracy"] is None
    assert _evaluate(runs["rec_ckpt"], runs["rec"], out) == 2
    assert "--overwrite" in one_error_line(capsys)
    assert _report(out)["created"] == first["created"] and not (out / "confusion.png").exists()
    assert _evaluate(runs["rec_ckpt"], runs["rec"], out, "--overwrite") == 0
    assert (out / "confusion.png").is_file() and _report(out)["plots"]


def test_bad_inputs_are_one_line_errors(runs, tmp_path, capsys):
    assert _evaluate(tmp_path / "missing.pt", runs["rec"], tmp_path / "a") == 2
    assert "missing.pt" in one_error_line(capsys)
    not_ckpt = tmp_path / "bad.pt"
    not_ckpt.write_text("not a checkpoint")
    assert _evaluate(not_ckpt, runs["rec"], tmp_path / "b") == 2
    assert "bad.pt" in one_error_line(capsys)
    assert _evaluate(runs["rec_ckpt"], tmp_path / "nowhere", tmp_path / "c") == 2
    assert "nowhere" in one_error_line(capsys)
    # the model reads pose + hands: data whose files have no hands at all is refused
    no_hands = tmp_path / "no_hands"
    no_hands.mkdir()
    for f in runs["rec"].glob("*.npz"):
        with np.load(f) as z:
            np.savez(no_hands / f.name, **{k: z[k] for k in z.files if k not in ("left_hand", "right_hand")})
    for name in ("groundtruth.txt", "signers.txt"):
        shutil.copy(runs["rec"] / name, no_hands / name)
    assert _evaluate(runs["rec_ckpt"], no_hands, tmp_path / "d") == 2
    assert "no video has hands landmarks" in one_error_line(capsys)
    assert not (tmp_path / "d" / REPORT_NAME).exists()


def test_labels_outside_the_vocabulary(runs, tmp_path, capsys):
    data = _copy(runs["rec"], tmp_path / "data")
    gt = data / "groundtruth.txt"
    lines = [line for line in gt.read_text().splitlines() if line and not line.startswith("#")]
    renamed = [f"{line.rsplit(' ', 1)[0]} zzz" if line.startswith("sig01_") else line for line in lines]
    gt.write_text("\n".join(renamed) + "\n")
    assert _evaluate(runs["rec_ckpt"], data, tmp_path / "eval") == 0  # partial overlap: the rest is evaluated
    c = _report(tmp_path / "eval")["counts"]
    assert (c["videos"], c["windows"], c["windows_out_of_vocab"], c["videos_without_windows"]) == (24, 18, 6, 6)
    assert c["labels_out_of_vocab"] == {"zzz": 6}
    r = _report(tmp_path / "eval")
    assert any("outside the checkpoint's vocabulary" in w for w in r["warnings"])
    gt.write_text("\n".join(f"{line.rsplit(' ', 1)[0]} other{k % 2}" for k, line in enumerate(lines)) + "\n")
    assert _evaluate(runs["rec_ckpt"], data, tmp_path / "none") == 2
    line = one_error_line(capsys)
    assert "none of the checkpoint's 3 classes" in line and "other0" in line


def test_open_set_labels_are_scored_as_unknown_signs_apart_from_the_known_ones(runs, tmp_path, capsys):
    from signstgcn.data.readers import load_landmarks
    from signstgcn.inference.predictor import recognize
    from signstgcn.metrics import open_set_metrics

    data = _copy(runs["rec"], tmp_path / "data")
    gt = data / "groundtruth.txt"
    lines = [line for line in gt.read_text().splitlines() if line and not line.startswith("#")]
    gt.write_text("\n".join(f"{line.rsplit(' ', 1)[0]} zzz" if line.startswith("sig01_") else line
                            for line in lines) + "\n")
    out = tmp_path / "open"
    assert _evaluate(runs["rec_ckpt"], data, out, "--open-set-labels", "zzz", "--save-predictions") == 0
    assert "open set (zzz: 6 windows): AUROC" in capsys.readouterr().out
    r = _report(out)
    o, c = r["open_set"], r["counts"]
    assert o["labels"] == ["zzz"] and (o["num_known"], o["num_unknown"]) == (18, 6)
    assert (c["windows"], c["windows_out_of_vocab"], c["open_set_windows"]) == (18, 0, {"zzz": 6})
    assert r["metrics"]["num_samples"] == 18 and r["metrics"]["open_set_auroc"] == o["open_set_auroc"]
    assert not any("outside the checkpoint's vocabulary" in w for w in r["warnings"])
    # the closed-set metrics are those of the known clips alone (what evaluate does without --open-set-labels)
    assert _evaluate(runs["rec_ckpt"], data, tmp_path / "closed") == 0
    closed = _report(tmp_path / "closed")
    assert closed["open_set"] is None and closed["counts"]["labels_out_of_vocab"] == {"zzz": 6}
    for key in ("top1", "macro_f1", "ece", "nll"):
        assert r["metrics"][key] == pytest.approx(closed["metrics"][key]), key
    # the open-set numbers from the calibrated top-1 probability of each clip, as Predictor computes it
    predictor = Predictor.from_checkpoint(runs["rec_ckpt"])
    names = {line.split()[0]: line.split()[2] for line in gt.read_text().splitlines()}
    known, correct, unknown = [], [], []
    for vid, label in sorted(names.items()):
        probs = recognize(predictor, predictor.frames(load_landmarks(data / f"{vid}.npz"))).video_probs
        if label == "zzz":
            unknown.append(probs.max())
        else:
            known.append(probs.max())
            correct.append(predictor.classes[int(np.argmax(probs))] == label)
    expected = open_set_metrics(np.array(known), np.array(correct), np.array(unknown))
    for key in ("open_set_auroc", "open_set_threshold", "unknown_rejected", "known_rejected"):
        assert o[key] == pytest.approx(expected[key], abs=1e-5), key
    rows = (out / "predictions.csv").read_text().splitlines()
    assert len(rows) == 25 and sum(row.split(",")[3] == "zzz" for row in rows) == 6
    assert "Unknown signs (open set)" in (out / "report.html").read_text()
    # --open-set: every label outside the vocabulary
    assert _evaluate(runs["rec_ckpt"], data, tmp_path / "all", "--open-set") == 0
    assert _report(tmp_path / "all")["open_set"]["labels"] == ["zzz"]
    # wrong uses are one-line errors
    for extra, message in ((["--open-set-labels", "sign00"], "is a class of the checkpoint"),
                           (["--open-set-labels", "nope"], "occurs in none of the evaluated videos"),
                           (["--open-set-labels", "zzz", "--open-set"], "give one"),
                           (["--open-set-labels", " , "], "needs at least one label")):
        assert _evaluate(runs["rec_ckpt"], data, tmp_path / "bad", *extra) == 2
        assert message in one_error_line(capsys), extra
    assert _evaluate(runs["rec_ckpt"], runs["rec"], tmp_path / "bad", "--open-set") == 2
    assert "no unknown sign to evaluate" in one_error_line(capsys)
    assert _evaluate(runs["det_ckpt"], runs["det"], tmp_path / "bad", "--open-set-labels", "n") == 2
    assert "needs a multi-class checkpoint" in one_error_line(capsys)


def test_signer_names_real_pseudo_or_none(runs, tmp_path):
    data = _copy(runs["rec"], tmp_path / "data")
    (data / "signers.txt").unlink()
    assert _evaluate(runs["pseudo_ckpt"], data, tmp_path / "pseudo") == 0
    r = _report(tmp_path / "pseudo")
    assert r["signers"]["source"] == "pseudo" and "pseudo-signers" in r["signers"]["note"]
    assert r["per_signer_acc"] and all(k.startswith("pseudo") for k in r["per_signer_acc"])
    assert sum(r["per_signer_windows"].values()) == 24
    # a checkpoint trained on real ids cannot name the signers of data without ids
    assert _evaluate(runs["rec_ckpt"], data, tmp_path / "none") == 0
    r = _report(tmp_path / "none")
    assert r["signers"]["source"] == "none" and r["per_signer_acc"] == {} and r["counts"]["signers"] == 0
    assert r["metrics"]["worst_signer_acc"] is None and r["signer_probe"]["accuracy"] is None
    assert "per_signer.png" not in r["plots"] and any("no signer ids" in w for w in r["warnings"])


def test_plot_metrics_cli(runs, tmp_path, capsys):
    csv_path = runs["root"] / "rec_run" / "metrics.csv"
    (csv_path.parent / "curves.png").unlink(missing_ok=True)
    assert plot_metrics_cli.main([str(csv_path)]) == 0
    assert png_shape(csv_path.parent / "curves.png")[:2] == (400, 1600)
    assert plot_metrics_cli.main([str(csv_path), "--out", str(tmp_path / "c.png"), "--title", "run"]) == 0
    assert png_shape(tmp_path / "c.png")[:2] == (400, 1600)
    assert plot_metrics_cli.main([str(tmp_path / "nope.csv")]) == 2
    assert "nope.csv" in one_error_line(capsys)


def test_json_safe_and_plot_files():
    assert json_safe({"a": float("nan"), "b": [np.float32(1.5), np.int64(2), float("inf")], "c": (1, None)}) == \
        {"a": None, "b": [1.5, 2, None], "c": [1, None]}
    assert set(PLOT_FILES) == {"confusion.png", "pr_curve.png", "roc_curve.png", "per_signer.png", "reliability.png"}


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("SIGNSTGCN_BIAS_TEST"), reason=(
    "issue 5 acceptance check, NOT met by the current model (run with SIGNSTGCN_BIAS_TEST=1): over seeds 0-2 "
    "and several signer-loss weights / GRL schedules the adversarial run's signer probe was never reliably lower "
    "(held-out signers: 0.90 adversarial, 0.90 plain, 0.90 untrained) and its top-1 and worst-signer accuracy "
    "dropped; see examples/results/signer_bias.md"))
def test_adversarial_head_reduces_signer_bias(tmp_path):
    data = tmp_path / "biased"
    generate_dataset(data, task="recognition", num_signers=6, videos_per_signer=12, num_classes=3,
                     signer_class_bias=0.85, seed=0)
    model = ["--stgcn-channels", "16,32", "--stgcn-dilations", "1,2", "--temporal-hidden", "16",
             "--signer-emb-dim", "8", "--attn-heads", "2", "--quiet"]
    reports = {}
    for name, adv in (("plain", ["--signer-loss-weight", "0"]),
                      ("adversarial", ["--signer-loss-weight", "1.0", "--lambda-grl", "0.5"])):
        assert train_main(["--data", str(data), "--sample-mode", "video", "--window", "16", "--epochs", "40",
                           "--batch", "16", "--lr", "3e-3", "--val-fraction", "0.34", "--seed", "0",
                           "--out", str(tmp_path / name), *model, *adv]) == 0
        assert _evaluate(tmp_path / name / "last.pt", data, tmp_path / f"eval_{name}") == 0
        reports[name] = _report(tmp_path / f"eval_{name}")["metrics"]
    plain, adv = reports["plain"], reports["adversarial"]
    assert adv["signer_probe"] < plain["signer_probe"] - 0.05, (plain, adv)
    assert adv["signer_gap"] < plain["signer_gap"], (plain, adv)


def test_swapped_label_warning_names_the_signer_and_the_classes():
    from signstgcn.evaluation.label_check import swapped_label_warnings

    classes = ["hello", "thanks", "iloveyou"]
    swapped = np.array([[15, 0, 0], [0, 1, 14], [1, 13, 1]])  # thanks <-> iloveyou nearly always
    confused = np.array([[15, 0, 0], [0, 5, 10], [0, 5, 10]])  # thanks -> iloveyou only: a model error, no cycle
    cycle = np.array([[0, 9, 0], [0, 0, 9], [9, 0, 0]])  # every class predicted as the next one
    few = np.array([[1, 0, 0], [0, 0, 3], [0, 3, 0]])  # too few windows to say
    warnings = swapped_label_warnings({"s07": swapped, "s23": confused, "s30": cycle, "s40": few}, classes)
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("signer s07: 27 of 30 windows of thanks, iloveyou")
    assert "thanks→iloveyou, iloveyou→thanks" in warnings[0]
    assert warnings[1].startswith("signer s30: 27 of 27 windows of hello, thanks, iloveyou")


# ------------------------------------------------------------------------------------------ report.html


def _html_pages(runs, root: Path) -> dict[str, Path]:
    """report.html of a multi-class and a binary evaluation, and a cross-validation page over both."""
    from signstgcn.evaluation.cv_results import result_row, summarize
    from signstgcn.evaluation.html import crossval_page

    pages = {}
    for name, ckpt, data in (("rec", runs["rec_ckpt"], runs["rec"]), ("det", runs["det_ckpt"], runs["det"])):
        assert _evaluate(ckpt, data, root / name) == 0
        pages[name] = root / name / "report.html"
    cv = root / "cv"
    report = _report(root / "rec")
    reports = {"default": []}
    rows = []
    for k in range(2):
        shutil.copytree(root / "rec", cv / "default" / f"fold{k}" / "eval")
        reports["default"].append((f"fold{k}", report))
        rows.append(result_row("default", k, report, {"train_seconds": 1.0}))
    (cv / "report.html").write_text(crossval_page(summarize(rows, reports), rows, reports, ["a footer line"], cv))
    pages["cv"] = cv / "report.html"
    return pages


def test_report_html_is_one_self_contained_page_with_every_section(runs, tmp_path):
    from signstgcn.evaluation.html import CROSSVAL_SECTIONS, EVALUATION_SECTIONS

    pages = _html_pages(runs, tmp_path)
    for name, page in pages.items():
        text = page.read_text()
        for sid in CROSSVAL_SECTIONS if name == "cv" else EVALUATION_SECTIONS:
            assert f'<section id="{sid}">' in text, (name, sid)
        assert "http://" not in text and "https://" not in text and "<script" not in text  # nothing to fetch
        images = text.count('<img src="data:image/png;base64,')
        assert images >= (2 if name == "det" else 1), name  # PR + ROC (+ per signer) / confusion, inlined
    report = _report(tmp_path / "rec")
    clips = report["worst_clips"]
    assert clips and all(0.0 <= c["accuracy"] < 1.0 and c["true"] in report["checkpoint"]["classes"]
                         for c in clips)
    assert [(c["accuracy"], -c["confidence"]) for c in clips] == sorted((c["accuracy"], -c["confidence"])
                                                                         for c in clips)
    assert all(0.0 <= c["probability"] <= 1.0 and c["predicted"] != c["true"] for c in clips)
    for c in _report(tmp_path / "det")["worst_clips"]:  # binary: confidence = how far past the threshold
        assert c["predicted"] != c["true"] and 0.0 <= c["confidence"] <= 1.0 and 0.0 <= c["probability"] <= 1.0
    assert clips[0]["video"] in pages["rec"].read_text()


def test_report_html_loads_in_headless_chromium_without_errors(runs, tmp_path):
    """The pages in a real browser: no console error, every section shown, every image decoded, no request
    beyond the file itself."""
    from signstgcn.evaluation.html import CROSSVAL_SECTIONS, EVALUATION_SECTIONS

    sync_api = pytest.importorskip("playwright.sync_api", reason="the browser check needs playwright "
                                   "(pip install -r requirements-dev.txt)")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if chromium is None:
        pytest.skip("no Chromium on this machine (Debian: apt-get install chromium); report.html was checked "
                    "without a browser only")
    pages = _html_pages(runs, tmp_path)
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-quic"]
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=flags)
        try:
            for name, path in pages.items():
                page = browser.new_page()
                errors, requests = [], []
                page.on("console", lambda m, errors=errors: errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e, errors=errors: errors.append(str(e)))
                page.on("request", lambda r, requests=requests: requests.append(r.url))
                page.goto(path.as_uri(), wait_until="load")
                for sid in CROSSVAL_SECTIONS if name == "cv" else EVALUATION_SECTIONS:
                    assert page.locator(f"section#{sid} h2").is_visible(), (name, sid)
                decoded = page.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
                assert decoded and all(decoded), (name, decoded)
                assert errors == [], (name, errors)
                assert all(u.startswith(("file:", "data:")) for u in requests), (name, requests)
                page.close()
        finally:
            browser.close()
