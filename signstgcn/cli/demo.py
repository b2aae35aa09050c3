"""``signstgcn demo``: the main job on the embedded default data, end to end, in a few minutes on a CPU.

Generates the synthetic MediaPipe-like datasets (detection and recognition, several signers), trains a
binary signing detector and a multi-class sign classifier, both with the adversarial signer head on real
signer ids, and writes per run: ``last.pt``, ``best.pt``, ``metrics.csv``, ``curves.png`` and
``config.json``. Validation is always on signers the model never saw.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from signstgcn.cli.common import HelpFormatter, add_threads_arg, run_cli
from signstgcn.data.synthetic import generate_dataset
from signstgcn.training.config import TrainConfig, config_flags
from signstgcn.training.fit import fit

PROG = "signstgcn demo"
# A compact model so the demo trains in minutes on 2 CPU cores; the library default is larger.
DEMO_SETTINGS = {"stgcn_channels": (32, 64, 64), "temporal_hidden": 64, "signer_emb_dim": 32}
DEMO_MODEL = config_flags(DEMO_SETTINGS)


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0], formatter_class=HelpFormatter)
    p.add_argument("--out", default="demo_out", help="output folder (data/, detection/, recognition/)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the generated data and of training")
    p.add_argument("--detection-epochs", type=int, default=4, help="training epochs of the signing detector")
    p.add_argument("--recognition-epochs", type=int, default=12, help="training epochs of the sign classifier")
    p.add_argument("--signer-class-bias", type=float, default=0.0,
                   help="correlate signer style with class in the generated data (0..1)")
    p.add_argument("--overwrite", action="store_true", help="replace a previous demo in --out")
    add_threads_arg(p)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def _common(out: Path, args: argparse.Namespace) -> dict:
    return {"seed": args.seed, "out": str(out), **DEMO_SETTINGS, "threads": args.threads,
            "overwrite": args.overwrite, "quiet": args.quiet, "save_best": True, "log_csv": True,
            "signer_loss_weight": 0.5, "val_fraction": 0.34, "lr": 2e-3}


def detection_config(data: Path, out: Path, args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_flat(data=str(data), binary=True, signing_labels=("s",), window=25, stride=4,
                                 rule="majority", epochs=args.detection_epochs, batch=32, best_metric="pr_auc",
                                 **_common(out, args))


def recognition_config(data: Path, out: Path, args: argparse.Namespace) -> TrainConfig:
    return TrainConfig.from_flat(data=str(data), sample_mode="video", window=32, epochs=args.recognition_epochs,
                                 batch=16, best_metric="acc", **_common(out, args))


def _command(config: TrainConfig) -> str:
    """The ``train_landmarks`` command of ``config``'s settings that differ from the defaults."""
    defaults = TrainConfig.from_flat(data=config.data.data).flat()
    changed = {k: v for k, v in config.flat().items() if v != defaults[k] and k not in ("data", "out")}
    return " ".join(["--data", config.data.data, *config_flags(changed), "--out", config.run.out])


def run(args: argparse.Namespace) -> dict[str, dict]:
    out = Path(args.out)
    data = out / "data"
    for sub in ("detection", "recognition"):
        if (data / sub).exists() and any((data / sub).iterdir()) and not args.overwrite:
            raise ValueError(f"{out} holds a previous demo ({data / sub}); pass --overwrite to replace it "
                             f"or choose another --out")
    tic = time.perf_counter()
    det = generate_dataset(data / "detection", task="detection", seed=args.seed,
                           signer_class_bias=args.signer_class_bias, overwrite=args.overwrite)
    rec = generate_dataset(data / "recognition", task="recognition", seed=args.seed,
                           signer_class_bias=args.signer_class_bias, overwrite=args.overwrite)
    print(f"{PROG}: generated {len(det.video_ids)} detection videos and {len(rec.video_ids)} recognition clips "
          f"in {data} ({time.perf_counter() - tic:.1f}s)", flush=True)
    results = {}
    for name, config in (("detection", detection_config(data / "detection", out / "detection", args)),
                         ("recognition", recognition_config(data / "recognition", out / "recognition", args))):
        print(f"\n== {name}: python -m train_landmarks {_command(config)}", flush=True)
        results[name] = fit(config).best_metrics
    det_m, rec_m = results["detection"], results["recognition"]
    print(f"\n{PROG}: done in {time.perf_counter() - tic:.0f}s. On signers never seen in training:\n"
          f"  detection   PR-AUC {det_m['pr_auc']:.3f}  F1 {det_m['f1']:.3f}  worst-signer acc "
          f"{det_m['worst_signer_acc']:.3f}   -> {out / 'detection'}\n"
          f"  recognition top-1 {rec_m['top1']:.3f}  macro-F1 {rec_m['macro_f1']:.3f}  worst-signer acc "
          f"{rec_m['worst_signer_acc']:.3f}   -> {out / 'recognition'}\n"
          f"  curves: {out / 'detection' / 'curves.png'}, {out / 'recognition' / 'curves.png'}", flush=True)
    return results


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="signstgcn: warning: %(message)s")
    return run_cli(prog, run, args)


if __name__ == "__main__":
    raise SystemExit(main())
