"""``signstgcn pretrain``: self-supervised pretraining of the encoder on unlabeled landmark folders (masked pose
modelling, :mod:`signstgcn.training.pretrain`); ``signstgcn train --init encoder.pt`` starts from it."""

from __future__ import annotations

import argparse
import logging

from signstgcn.cli.common import HelpFormatter, add_threads_arg, run_cli, selection_from_args
from signstgcn.cli.data_args import add_part_args, add_representation_args, representation_values
from signstgcn.cli.model_args import add_model_args, model_flag_values
from signstgcn.errors import SignSTGCNError
from signstgcn.model.masked import MaskSpec
from signstgcn.training.config import InputOptions, ModelOptions
from signstgcn.training.pretrain import PretrainConfig, pretrain

PROG = "signstgcn pretrain"
__all__ = ["PROG", "config_from_args", "get_args_parser", "main"]
_EPILOG = """example:
  signstgcn pretrain --data ../shared/data/mp_signers ../shared/data/traduttore --out runs/encoder.pt \\
      --stgcn-channels 32,64,64
  signstgcn train --data my_signs --sample-mode video --window 30 --stgcn-channels 32,64,64 --init runs/encoder.pt
The model flags that shape the backbone (--stgcn-*, --joint-pool, --input-streams) and the input flags must be
the same in both commands; --init says which one differs. --joint-pool auto pretrains the flat pooling of
multi-class models; for a --binary detector pass --joint-pool mean to both."""


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, formatter_class=HelpFormatter, epilog=_EPILOG,
                                description="Pretrain the ST-GCN encoder on landmark folders without labels: "
                                            "hide joints, hands and frames and learn to rebuild them.")
    d = p.add_argument_group("data (labels are not read)")
    d.add_argument("--data", required=True, nargs="+", metavar="DIR",
                   help="one or more folders of landmark files (every format --data reads), on one skeleton")
    d.add_argument("--window", type=int, default=30,
                   help="frames per sample: a clip of up to twice this is resampled to it, a longer recording "
                        "is cut into windows of it every half window")
    add_part_args(d)
    add_representation_args(p)
    add_model_args(p)
    m = p.add_argument_group("masking and optimization")
    defaults = MaskSpec()
    m.add_argument("--mask-joints", type=float, default=defaults.joints, help="probability of hiding a joint")
    m.add_argument("--mask-hands", type=float, default=defaults.hands,
                   help="probability of hiding a whole hand in a frame")
    m.add_argument("--mask-frames", type=float, default=defaults.frames,
                   help="probability of hiding every joint of a frame")
    m.add_argument("--epochs", type=int, default=20, help="passes over the samples")
    m.add_argument("--batch", type=int, default=64, help="samples per batch")
    m.add_argument("--lr", type=float, default=1e-3, help="AdamW learning rate (cosine schedule)")
    m.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW weight decay")
    r = p.add_argument_group("run")
    r.add_argument("--out", default="runs/pretrain/encoder.pt", help="the encoder file to write")
    r.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    r.add_argument("--seed", type=int, default=0, help="random seed (held-out videos, masks, init, data order)")
    r.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    add_threads_arg(r)
    r.add_argument("--amp", action="store_true", help="mixed precision: bf16 autocast")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    return p


def config_from_args(args: argparse.Namespace) -> PretrainConfig:
    """The :class:`PretrainConfig` of parsed flags."""
    return PretrainConfig(
        data=tuple(args.data), out=args.out, window=args.window, parts=selection_from_args(args),
        input=InputOptions(**representation_values(args)), model=ModelOptions(**model_flag_values(args)),
        mask=MaskSpec(joints=args.mask_joints, hands=args.mask_hands, frames=args.mask_frames),
        epochs=args.epochs, batch=args.batch, lr=args.lr, weight_decay=args.weight_decay, seed=args.seed,
        device=args.device, threads=args.threads, amp=args.amp, overwrite=args.overwrite, quiet=args.quiet)


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{prog}: warning: %(message)s")
    return run_cli(prog, lambda a: pretrain(config_from_args(a)), args,
                   errors=(SignSTGCNError, ValueError, FileNotFoundError, FileExistsError, FloatingPointError))
