"""The shipped signing detector: how it is trained, and how the same recipe scores people it never saw.

    # the model inside the package (signstgcn/models/signing_detector.pt), trained on every person:
    python recipes/signing_detector.py --shared ../shared/data --out runs/shipped --ship --amp
    # the recipe's held-out figures: leave one mp_detect person out / leave traduttore sessions out, 3 seeds:
    python recipes/signing_detector.py --shared ../shared/data --out runs/heldout --evaluate all --seeds 0 1 2 --amp

**The training pool** (the real recordings in ``--shared`` that show the same people signing and not signing;
labels become ``s`` / ``n``):

- ``mp_detect``: 4 people, each person's idle (``n``) and signing (``s``) recordings alternating, as recorded;
- ``traduttore``: each webcam session's clips joined into streams (``signstgcn make-stream``: the session's
  ``idle`` clips spread between its words, 16 clips a stream); ``idle`` is not signing, the 15 words are
  signing. At most ``--words-per-session`` word clips of a session (drawn with the seed; all its idle clips), so
  the few idle sessions are not drowned;
- ``mp_signers`` only with ``--clips-per-signer N`` (N clips of each person, the same number of each sign, joined
  into one all-signing stream per person): not in the shipped model, because every frame of those clips is
  labelled signing, also before the hands rise and after they drop, and with them two of the four held-out
  ``mp_detect`` people scored 0.12 lower (docs/results.md, *The shipped signing detector*);
- hard negatives (``--hard-negatives 0.2``): a fifth of the training windows become still or resting hands
  in view, labelled not signing (:mod:`signstgcn.data.negatives`).

``wlasl50`` is left out: its clips keep only the frames with a hand (irregular time steps, no frame rate) and
its licence does not allow redistributing what is derived from it.

**The input and model**: MediaPipe pose (upper body) and both hands, x and y (the face is not used, so files
with or without it work), hands relative to the wrists and canonical bones (the training defaults), random
mirroring (either handedness), windows of 16 frames with stride 4 at the recordings' ~30 frames per second
(recorded in the checkpoint, so ``detect`` resamples other rates), the compact ST-GCN (32, 64, 64 channels,
BiGRU 64), the last epoch (no selection on validation windows, which score ~0.99 on seen people).

**Held-out evaluation** (``--evaluate``): ``mp_detect:PERSON`` trains on the pool without that person and scores
their four recordings; ``traduttore:K`` (K = 0, 1, 2) trains without two of the six sessions that hold
``idle`` clips (``TRADUTTORE_FOLDS``) and scores their streams (words vs idle). The figure is the per-frame
PR-AUC of ``signstgcn detect``'s probability (``evaluate``'s ``frame_pr_auc``). ``OUT/results.json`` collects
every run; ``OUT/results.md`` is the table.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

from signstgcn import __version__
from signstgcn.data.groundtruth import parse_groundtruth
from signstgcn.data.readers import find_landmark_files
from signstgcn.data.signers import read_video_table
from signstgcn.data.streams import clips_from_groundtruth, plan_streams, write_streams

MP_DETECT_PEOPLE = ("s20", "s31", "s32", "s34")
TRADUTTORE_FOLDS = (("session01", "session12"), ("session02", "session19"), ("session03", "session04"))
NAME, VERSION = "signstgcn-signing-detector", "1.0"
SHIP_TO = Path(__file__).resolve().parents[1] / "signstgcn" / "models" / "signing_detector.pt"
TRAIN_FLAGS = ["--binary", "--signing-labels", "s", "--window", "16", "--stride", "4",
               "--stgcn-channels", "32,64,64", "--temporal-hidden", "64", "--hard-negatives", "0.2",
               "--fps", "30"]


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() or dst.is_symlink():
        dst.unlink()
    dst.symlink_to(src.resolve())


def _binary(label: str, idle: str) -> str:
    return "n" if label == idle else "s"


def _mp_detect(shared: Path, out: Path, people: set[str]) -> tuple[list[str], list[str]]:
    """Link the recordings of ``people``; (ground-truth lines, signer lines)."""
    src = shared / "mp_detect"
    gt = parse_groundtruth(src / "groundtruth.txt")
    signers = read_video_table(src / "signers.txt", "signer")
    files = find_landmark_files(src)
    gt_lines, signer_lines = [], []
    for video, path in sorted(files.items()):
        if signers[video] not in people:
            continue
        _link(path, out / f"{video}.npz")
        gt_lines += [f"{video} {frame} {label}" for frame, label in gt.annotations[video]]
        signer_lines.append(f"{video} det-{signers[video]}")  # mp_detect's ids are its own (SOURCE.md)
    return gt_lines, signer_lines


def _streams(folder: Path, out: Path, group_file: str, keep, *, idle: str | None, seed: int,
             prefix: str) -> tuple[list[str], list[str]]:
    """Streams of the clips ``keep(clips)`` returns, labels s / n; (ground-truth lines, signer lines)."""
    gt = parse_groundtruth(folder / "groundtruth.txt")
    files = find_landmark_files(folder)
    groups = read_video_table(folder / group_file, group_file.removesuffix("s.txt"))
    clips, _ = clips_from_groundtruth(files, gt, {v: g for v, g in groups.items() if v in files})
    chosen = keep(clips)
    plans = plan_streams(chosen, idle_label=idle, clips_per_stream=16, seed=seed)
    results = write_streams(plans, out, relabel={c.label: _binary(c.label, idle) for c in chosen})
    gt_lines = [f"{r.id} {s} {label}" for r in results for s, _, label, _ in r.segments]
    return gt_lines, [f"{r.id} {prefix}{r.group}" for r in results]


def _subsample(clips, per_group: int, seed: int, idle: str | None):
    """At most ``per_group`` non-idle clips of each group (the same number of each label where possible), every
    idle clip."""
    rng = np.random.default_rng(seed)
    kept = []
    groups = sorted({c.group for c in clips})
    for group in groups:
        mine = [c for c in clips if c.group == group]
        kept += [c for c in mine if c.label == idle]
        signs = [c for c in mine if c.label != idle]
        by_label: dict[str, list] = {}
        for c in signs:
            by_label.setdefault(c.label, []).append(c)
        order = []  # round-robin over labels, each label's clips shuffled
        queues = [list(np.array(v, dtype=object)[rng.permutation(len(v))]) for _, v in sorted(by_label.items())]
        while any(queues):
            for q in queues:
                if q:
                    order.append(q.pop())
        kept += order[:per_group]
    return kept


def _write_tables(out: Path, gt: list[str], who: list[str]) -> Path:
    """``out/groundtruth.txt`` and ``out/signers.txt`` from their lines; returns ``out``."""
    (out / "groundtruth.txt").write_text("".join(line + "\n" for line in gt))
    (out / "signers.txt").write_text("".join(line + "\n" for line in who))
    return out


def build_pool(shared: Path, out: Path, *, people: set[str], sessions_out: set[str], seed: int,
               words_per_session: int, clips_per_signer: int) -> Path:
    """The training folder (see the module docstring) in ``out``: npz links and streams, groundtruth.txt,
    signers.txt."""
    if out.exists():
        shutil.rmtree(out)
    gt, who = _mp_detect(shared, out / "mp_detect", people)
    trad = shared / "traduttore"
    g, s = _streams(trad, out / "traduttore", "sessions.txt",
                    lambda clips: _subsample([c for c in clips if c.group not in sessions_out],
                                             words_per_session, seed, "idle"),
                    idle="idle", seed=seed, prefix="trad-")
    gt, who = gt + g, who + s
    if clips_per_signer > 0:  # 0: no mp_signers (an ablation)
        g, s = _streams(shared / "mp_signers", out / "mp_signers", "signers.txt",
                        lambda clips: _subsample(clips, clips_per_signer, seed, None), idle=None, seed=seed,
                        prefix="sig-")
        gt, who = gt + g, who + s
    return _write_tables(out, gt, who)


def build_heldout(shared: Path, out: Path, *, people: set[str], sessions: set[str], seed: int) -> Path:
    """The held-out recordings: ``people``'s mp_detect files, or every clip of ``sessions`` as streams."""
    if out.exists():
        shutil.rmtree(out)
    gt, who = _mp_detect(shared, out, people)
    if sessions:
        g, s = _streams(shared / "traduttore", out, "sessions.txt",
                        lambda clips: [c for c in clips if c.group in sessions], idle="idle", seed=seed,
                        prefix="trad-")
        gt, who = gt + g, who + s
    return _write_tables(out, gt, who)


def _run(args: list[str], log: Path) -> None:
    cmd = [sys.executable, "-m", "signstgcn", *args]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as f:
        f.write("$ signstgcn " + " ".join(args) + "\n")
        f.flush()
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if done.returncode:
        raise SystemExit(f"signing_detector: '{' '.join(cmd[3:5])} ...' failed (exit {done.returncode}); see {log}")


def train(pool: Path, out: Path, seed: int, a: argparse.Namespace) -> Path:
    flags = TRAIN_FLAGS + list(a.train_flag) + ["--epochs", str(a.epochs), "--seed", str(seed),
                                                "--threads", str(a.threads), "--quiet", "--overwrite"]
    flags += ["--amp"] if a.amp else []
    _run(["train", "--data", str(pool), "--out", str(out), *flags], out.parent / f"{out.name}.log")
    return out / "last.pt"


def evaluate(ckpt: Path, heldout: Path, out: Path, a: argparse.Namespace) -> dict:
    _run(["evaluate", "--ckpt", str(ckpt), "--data", str(heldout), "--out", str(out), "--quiet",
          "--threads", str(a.threads), "--overwrite"], out.parent / f"{out.name}.log")
    m = json.loads((out / "report.json").read_text())["metrics"]
    return {k: m.get(k) for k in ("frame_pr_auc", "frame_roc_auc", "frame_f1", "segment_f1", "segment_precision",
                                  "segment_recall", "pr_auc")}


def folds(which: str) -> list[str]:
    every = [f"mp_detect:{p}" for p in MP_DETECT_PEOPLE] + [f"traduttore:{k}" for k in range(len(TRADUTTORE_FOLDS))]
    if which == "all":
        return every
    chosen = which.split(",")
    unknown = [f for f in chosen if f not in every]
    if unknown:
        raise SystemExit(f"signing_detector: unknown --evaluate fold {unknown[0]!r}; choose from all, "
                         f"{', '.join(every)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--shared", default="../shared/data", help="the folder holding mp_detect, traduttore, mp_signers")
    p.add_argument("--out", required=True, help="working folder")
    p.add_argument("--ship", action="store_true", help=f"train on every person and write {SHIP_TO}")
    p.add_argument("--evaluate", default=None, help="held-out folds: all, or a comma list such as mp_detect:s34")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--words-per-session", type=int, default=24)
    p.add_argument("--clips-per-signer", type=int, default=0,
                   help="mp_signers clips per person (0: none, the shipped recipe; 15: the pooled one of the docs)")
    p.add_argument("--train-flag", action="append", default=[],
                   help="one more flag for every training run (repeat; e.g. --train-flag=--aspect-augment)")
    p.add_argument("--threads", default="1")
    p.add_argument("--amp", action="store_true", help="bfloat16 autocast (CPU with native bf16)")
    a = p.parse_args(argv)
    shared, out = Path(a.shared), Path(a.out)
    if not (shared / "mp_detect").is_dir():
        raise SystemExit(f"signing_detector: {shared}/mp_detect not found; pass --shared")
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    every_person = set(MP_DETECT_PEOPLE)
    todo = [] if a.evaluate is None else folds(a.evaluate)
    for fold in todo:
        for seed in a.seeds:
            key = f"{fold}/seed{seed}"
            if key in results:
                continue
            corpus, which = fold.split(":")
            people = every_person - {which} if corpus == "mp_detect" else every_person
            held = set(TRADUTTORE_FOLDS[int(which)]) if corpus == "traduttore" else set()
            tag = fold.replace(":", "-") + f"-seed{seed}"
            tic = time.time()
            pool = build_pool(shared, out / "pools" / tag, people=people, sessions_out=held, seed=seed,
                              words_per_session=a.words_per_session, clips_per_signer=a.clips_per_signer)
            heldout = build_heldout(shared, out / "heldout" / tag, people={which} if corpus == "mp_detect" else set(),
                                    sessions=held, seed=seed)
            ckpt = train(pool, out / "runs" / tag, seed, a)
            results[key] = {**evaluate(ckpt, heldout, out / "runs" / tag / "eval", a),
                            "train_seconds": round(time.time() - tic)}
            results_path.write_text(json.dumps(results, indent=2) + "\n")
            print(f"{key}: frame PR-AUC {results[key]['frame_pr_auc']:.3f} ({results[key]['train_seconds']} s)",
                  flush=True)
    if todo:
        table(results, out / "results.md")
    if a.ship:
        seed = a.seeds[0]
        pool = build_pool(shared, out / "pools" / "ship", people=every_person, sessions_out=set(), seed=seed,
                          words_per_session=a.words_per_session, clips_per_signer=a.clips_per_signer)
        ckpt = train(pool, out / "runs" / "ship", seed, a)
        ship(ckpt, a)
    return 0


def table(results: dict, path: Path) -> None:
    """``results.md``: per held-out fold the mean over seeds of frame PR-AUC, frame ROC-AUC and segment F1, then
    frame PR-AUC per seed; the last column is the mean over folds."""
    metrics = (("frame_pr_auc", "frame PR-AUC"), ("frame_roc_auc", "frame ROC-AUC"), ("segment_f1", "segment F1"))
    by_fold: dict[str, dict[str, dict[str, float]]] = {}
    for key, value in results.items():
        fold, seed = key.split("/")
        by_fold.setdefault(fold, {})[seed] = value
    folds_ = list(by_fold)
    lines = ["| held out | " + " | ".join(folds_) + " | mean |", "|---" * (len(folds_) + 2) + "|"]
    for key, name in metrics:
        means = [float(np.nanmean([v[key] if v.get(key) is not None else np.nan for v in by_fold[f].values()]))
                 for f in folds_]
        lines.append(f"| {name} (mean of seeds) | " + " | ".join(f"{m:.3f}" for m in means)
                     + f" | {np.nanmean(means):.3f} |")
    for s in sorted({s for v in by_fold.values() for s in v}):
        row = [by_fold[f][s]["frame_pr_auc"] if s in by_fold[f] else None for f in folds_]
        mean = f"{np.mean(row):.3f}" if None not in row else ""
        lines.append(f"| frame PR-AUC, {s} | " + " | ".join("" if v is None else f"{v:.3f}" for v in row)
                     + f" | {mean} |")
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def ship(ckpt: Path, a: argparse.Namespace) -> None:
    """Copy ``ckpt`` into the package without the optimizer state (only ``--resume`` needs it), with its name,
    version and recipe recorded as ``release``."""
    import torch

    from signstgcn.training.checkpoint import read_checkpoint

    raw = read_checkpoint(ckpt)
    raw.update({"optimizer": {}, "scheduler": {}})
    raw.pop("train_state", None)
    flags = f"--epochs {a.epochs} --seeds {a.seeds[0]} --words-per-session {a.words_per_session} " \
            f"--clips-per-signer {a.clips_per_signer}{' --amp' if a.amp else ''}"
    raw["release"] = {
        "name": NAME, "version": VERSION, "date": date.today().isoformat(), "signstgcn": __version__,
        "recipe": f"python recipes/signing_detector.py --shared ../shared/data --out runs/shipped --ship {flags}",
        "training_data": ["mp_detect: 4 people, idle and signing", "traduttore: 18 webcam sessions of 3 people, "
                          "15 words and idle", "mp_signers: 19 people signing 3 signs"],
    }
    SHIP_TO.parent.mkdir(parents=True, exist_ok=True)
    tmp = SHIP_TO.with_suffix(".tmp")
    torch.save(raw, tmp)
    tmp.replace(SHIP_TO)
    print(f"signing_detector: wrote {SHIP_TO} ({SHIP_TO.stat().st_size / 1e6:.2f} MB)")


if __name__ == "__main__":
    raise SystemExit(main())
