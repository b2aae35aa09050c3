"""``signstgcn adapt --ckpt best.pt --data NEW_SIGNER_DIR --out adapted.pt``: adapt a model to a new signer.

Reads every ``.npz`` under ``--data`` (one new person's recordings; no ground truth is opened), makes the
checkpoint's windows of them, re-estimates the model's BatchNorm statistics on those windows (AdaBN,
:mod:`signstgcn.training.adaptation`) and writes a checkpoint that every command reads like the original
(``evaluate``, ``detect``, ``export``, streaming). The checkpoint records what it was adapted to under
``data["adaptation"]``; it holds no optimizer state, so it cannot be ``--resume``'d.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from signstgcn.cli.common import HelpFormatter, add_threads_arg, plural, run_cli
from signstgcn.errors import DataError, SignSTGCNError
from signstgcn.progress import wants_progress
from signstgcn.runtime import configure_threads
from signstgcn.training.adaptation import ADAPT_LAYERS, adapt_batchnorm, unlabeled_windows

PROG = "signstgcn adapt"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Adapt a checkpoint to a new signer from unlabeled "
                                "recordings (AdaBN: BatchNorm statistics re-estimated; no labels read).",
                                formatter_class=HelpFormatter)
    p.add_argument("--ckpt", required=True, help="trained checkpoint (best.pt / last.pt)")
    p.add_argument("--data", required=True, help="folder of one new signer's .npz landmark files (labels unused)")
    p.add_argument("--out", required=True, help="adapted checkpoint to write (e.g. adapted.pt)")
    p.add_argument("--layers", choices=ADAPT_LAYERS, default="all",
                   help="BatchNorms to re-estimate: all, or input (the backbone's input BatchNorm only)")
    p.add_argument("--batch", type=int, default=256, help="windows per forward pass")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_threads_arg(p)
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def run(args: argparse.Namespace) -> int:

    from signstgcn.data.corpus import load_corpus
    from signstgcn.data.pipeline import DataConfig
    from signstgcn.runtime import resolve_device
    from signstgcn.training.checkpoint import load_checkpoint, save_checkpoint

    out = Path(args.out)
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name (e.g. {out / 'adapted.pt'})")
    if out.exists() and not args.overwrite:
        raise ValueError(f"{out} already exists; pass --overwrite to replace it")
    if Path(args.ckpt).resolve() == out.resolve():
        raise ValueError(f"--out {out} is the checkpoint being adapted; write the adapted one elsewhere")
    if args.batch < 1:
        raise ValueError(f"--batch must be at least 1, got {args.batch}")
    data_dir = Path(args.data)
    if not data_dir.is_dir():
        raise DataError(f"--data {data_dir}: folder not found")
    threads = configure_threads(args.threads)
    device = resolve_device(args.device)
    loaded = load_checkpoint(args.ckpt, map_location=device)
    config = DataConfig.from_dict(loaded.data)
    corpus = load_corpus(data_dir, selection=config.selection, layout_spec=config.layout, require_labels=False,
                         read_labels=False, progress=wants_progress(args.quiet))
    dataset = unlabeled_windows(corpus.frames, config, corpus.layout)
    model = loaded.model
    windows = adapt_batchnorm(model, dataset, layers=args.layers, device=device, batch_size=args.batch)
    data = dict(loaded.data)
    data["adaptation"] = {"method": "AdaBN", "layers": args.layers, "data": str(data_dir.resolve()),
                          "videos": len(corpus.video_ids), "windows": windows, "from": str(Path(args.ckpt).resolve()),
                          "replaces": data.get("adaptation")}
    # no optimizer, scheduler or train_state: an adapted checkpoint is not a run to --resume
    save_checkpoint(out, model, data=data, epoch=loaded.epoch, metrics=loaded.metrics, args=loaded.raw["args"],
                    val_acc=loaded.raw["val_acc"])
    print(f"{PROG}: adapted {args.layers} BatchNorm statistics to {plural(len(corpus.video_ids), 'video')} "
          f"({plural(windows, 'window')}) of {data_dir} ({threads}); wrote {out}", flush=True)
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
