"""Transcription on recording sessions never seen: ``traduttore`` streams, detector and classifier trained without them.

    python recipes/transcribe_traduttore.py --shared ../shared/data --out runs/transcribe --seeds 0 1 2 --amp

For each seed S and each of the 5 session-grouped folds of ``signstgcn cross-validate --data traduttore --folds 5
--group-by sessions`` (the ``traduttore`` table of docs/results.md, the same folds):

1. **classifier**: that fold's ``last.pt`` of ``signstgcn cross-validate ... -- --sample-mode video --window 20
   --epochs 15 --stgcn-channels 32,64,64 --temporal-hidden 64 --seed S`` (docs/results.md's ``traduttore`` command;
   run here unless ``--cv-dir`` names its output, ``{seed}`` standing for S): 15 words and ``idle``, the held-out
   sessions never seen;
2. **detector**: the shipped detector's recipe (``recipes/signing_detector.py``: ``mp_detect`` and ``traduttore``
   streams with hard negatives, 8 epochs) with the fold's sessions left out of its pool;
3. **test recordings**: the held-out sessions' clips joined into streams (``signstgcn make-stream``: a session's
   ``idle`` clips spread between its words, 16 clips a stream) with the words as gloss labels, at 30 frames per
   second (the webcam's rate; the clips store none);
4. ``signstgcn transcribe STREAMS --detector ... --classifier ... --gt STREAMS/groundtruth.txt --fps 30`` with the
   defaults otherwise: segment F1 at IoU >= 0.5, gloss accuracy and gloss error rate, also without the signs of
   words only the held-out sessions hold (fold 2: water; fold 4: large, muffin), which the classifier never saw
   (``OUT/results.md``). A detector already trained in ``OUT`` is reused, so a changed ``transcribe`` is rescored
   in minutes (move ``results.json`` away).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from signstgcn.data.groundtruth import parse_groundtruth
from signstgcn.data.readers import find_landmark_files
from signstgcn.data.signers import read_video_table
from signstgcn.data.streams import clips_from_groundtruth, plan_streams, write_stream_tables, write_streams

HERE = Path(__file__).resolve().parent
CLASSIFIER_FLAGS = ["--sample-mode", "video", "--window", "20", "--epochs", "15", "--stgcn-channels", "32,64,64",
                    "--temporal-hidden", "64"]
FOLDS = 5
FPS = 30.0


def _detector_recipe():
    spec = importlib.util.spec_from_file_location("signing_detector_recipe", HERE / "signing_detector.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def _run(args: list[str], log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write("$ signstgcn " + " ".join(args) + "\n")
        f.flush()
        done = subprocess.run([sys.executable, "-m", "signstgcn", *args], stdout=f, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode:
        raise SystemExit(f"transcribe_traduttore: 'signstgcn {args[0]} ...' failed (exit {done.returncode}); see {log}")


def classifiers(shared: Path, cv_dir: Path, seed: int, a: argparse.Namespace) -> Path:
    """The cross-validation folder of ``seed`` (run now unless its five folds are there)."""
    if all((cv_dir / "default" / f"fold{k}" / "last.pt").is_file() for k in range(FOLDS)):
        return cv_dir
    _run(["cross-validate", "--data", str(shared / "traduttore"), "--folds", str(FOLDS), "--group-by", "sessions",
          "--out", str(cv_dir), "--", *CLASSIFIER_FLAGS, "--seed", str(seed), "--threads", str(a.threads)],
         cv_dir.parent / f"{cv_dir.name}.log")
    return cv_dir


def test_streams(shared: Path, out: Path, videos: set[str], seed: int) -> Path:
    """The held-out ``videos`` as streams with gloss labels (``idle`` kept as the not-signing label)."""
    trad = shared / "traduttore"
    files = {v: p for v, p in find_landmark_files(trad).items() if v in videos}
    sessions = read_video_table(trad / "sessions.txt", "session")
    clips, _ = clips_from_groundtruth(files, parse_groundtruth(trad / "groundtruth.txt"),
                                      {v: sessions[v] for v in files})
    results = write_streams(plan_streams(clips, idle_label="idle", seed=seed), out)
    write_stream_tables(results, out, group_file="sessions.txt")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--shared", default="../shared/data", help="the folder holding traduttore and mp_detect")
    p.add_argument("--out", required=True, help="working folder")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--cv-dir", default=None,
                   help="an existing 'signstgcn cross-validate' output of the classifier command, {seed} for the seed")
    p.add_argument("--folds", type=int, nargs="+", default=list(range(FOLDS)), help="which of the 5 folds")
    p.add_argument("--threads", default="1")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast for the detectors (CPU with native bf16)")
    a = p.parse_args(argv)
    shared, out = Path(a.shared), Path(a.out)
    det = _detector_recipe()
    det_args = argparse.Namespace(train_flag=[], epochs=8, threads=a.threads, amp=a.amp)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    sessions = read_video_table(shared / "traduttore" / "sessions.txt", "session")
    for seed in a.seeds:
        cv_dir = Path(a.cv_dir.format(seed=seed)) if a.cv_dir else out / f"cv_seed{seed}"
        classifiers(shared, cv_dir, seed, a)
        for k in a.folds:
            key = f"fold{k}/seed{seed}"
            if key in results:
                continue
            tic = time.time()
            fold = cv_dir / "default" / f"fold{k}"
            held = set(json.loads((fold / "splits.json").read_text())["splits"]["test"])
            held_sessions = {sessions[v] for v in held}
            tag = f"fold{k}-seed{seed}"
            pool = out / "pools" / tag
            if not (out / "detectors" / tag / "last.pt").is_file():
                det.build_pool(shared, pool, people=set(det.MP_DETECT_PEOPLE), sessions_out=held_sessions, seed=seed,
                               words_per_session=24, clips_per_signer=0)
            detector = out / "detectors" / tag / "last.pt"
            if not detector.is_file():  # a finished detector is reused (rescoring with another transcribe)
                detector = det.train(pool, out / "detectors" / tag, seed, det_args)
            streams = test_streams(shared, out / "streams" / tag, held, seed)
            report_dir = out / "transcripts" / tag
            _run(["transcribe", str(streams), "--detector", str(detector), "--classifier", str(fold / "last.pt"),
                  "--out", str(report_dir), "--gt", str(streams / "groundtruth.txt"), "--fps", str(FPS),
                  "--threads", str(a.threads), "--quiet", "--overwrite"], out / "transcripts" / f"{tag}.log")
            report = json.loads((report_dir / "report.json").read_text())
            results[key] = {**report["metrics"], "sessions": sorted(held_sessions),
                            "seconds": round(time.time() - tic)}
            results_path.write_text(json.dumps(results, indent=2) + "\n")
            m = results[key]
            print(f"{key} ({', '.join(sorted(held_sessions))}): segment F1 {m['segment_f1']:.3f}, gloss error rate "
                  f"{m['gloss_error_rate']:.3f} ({m['gloss_error_rate_in_vocabulary']:.3f} without the "
                  f"{m['out_of_vocabulary']} signs of unseen glosses), gloss accuracy {m['gloss_accuracy']:.3f} "
                  f"({m['seconds']} s)", flush=True)
    table(results, out / "results.md")
    return 0


def table(results: dict, path: Path) -> None:
    """Per fold the mean over seeds of segment F1, gloss accuracy and gloss error rate; the mean over folds last."""
    metrics = (("segment_f1", "segment F1"), ("gloss_accuracy", "gloss accuracy of matched signs"),
               ("gloss_error_rate", "gloss error rate"),
               ("gloss_error_rate_in_vocabulary", "gloss error rate, glosses the classifier knows"))
    by_fold: dict[str, dict[str, dict]] = {}
    for key, value in sorted(results.items()):
        fold, seed = key.split("/")
        by_fold.setdefault(fold, {})[seed] = value
    folds = list(by_fold)
    lines = ["| fold | " + " | ".join(folds) + " | mean ± std over folds |", "|---" * (len(folds) + 2) + "|"]
    for key, name in metrics:
        means = [float(np.mean([v[key] for v in by_fold[f].values()])) for f in folds]
        seeds = sorted({s for v in by_fold.values() for s in v})
        per_seed = [np.mean([by_fold[f][s][key] for f in folds if s in by_fold[f]]) for s in seeds]
        lines.append(f"| {name} | " + " | ".join(f"{m:.3f}" for m in means)
                     + f" | {np.mean(means):.3f} ± {np.std(means):.3f} (seeds "
                     + " ".join(f"{v:.3f}" for v in per_seed) + ") |")
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    raise SystemExit(main())
