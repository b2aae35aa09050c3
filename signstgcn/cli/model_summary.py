"""``python -m signGCN``: build the model, run a random batch, print shapes, parameter counts and FLOPs."""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from signstgcn.cli.common import HelpFormatter
from signstgcn.cli.model_args import add_model_args, model_config_from_args
from signstgcn.data.layout import LayoutSpec
from signstgcn.model import ModelConfig, SignSTGCNModel

PROG = "signGCN"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="Build a SignSTGCN model, run a random batch, print shapes, parameter counts and FLOPs.",
        formatter_class=HelpFormatter,
    )
    p.add_argument("--batch", type=int, default=2, help="random batch size N")
    p.add_argument("--window", type=int, default=25, help="frames per window T")
    p.add_argument("--coords", type=int, default=2, help="channels per joint C (2 = x,y; 3 adds z)")
    p.add_argument("--include-pose", action="store_true", help="pose joints (none of the three -> pose + hands)")
    p.add_argument("--include-hands", action="store_true", help="hand joints")
    p.add_argument("--include-face", action="store_true", help="face joints (see --face-subset)")
    p.add_argument("--pose-subset", choices=("upper", "full"), default="upper",
                   help="pose joints: upper body (no legs) or the full pose")
    p.add_argument("--face-subset", choices=("compact", "full"), default="compact",
                   help="face points with --include-face: the contour subset or the full mesh")
    p.add_argument("--num-classes", type=int, default=1, help="1 = binary (one logit)")
    p.add_argument("--num-signers", type=int, default=0, help="signer-head classes (0 = no signer head)")
    p.add_argument("--supcon-dim", type=int, default=ModelConfig.__dataclass_fields__["supcon_dim"].default,
                   help="SupCon projection size (0 = none)")
    p.add_argument("--seed", type=int, default=0, help="random seed of the weights and the random batch")
    p.add_argument("--device", default="cpu", help="cpu, cuda, or auto")
    add_model_args(p)
    return p


def _layout(args: argparse.Namespace) -> LayoutSpec:
    pose, hands, face = args.include_pose, args.include_hands, args.include_face
    if not (pose or hands or face):
        pose = hands = True
    return LayoutSpec(include_pose=pose, include_hands=hands, include_face=face,
                      pose_subset=args.pose_subset, face_subset=args.face_subset)


def _shape(t: torch.Tensor | None) -> str:
    return "None" if t is None else str(tuple(t.shape))


def count_flops(model: SignSTGCNModel, window: int) -> int:
    """FLOPs (2 per multiply-add, FlopCounterMode convention) of one window: batch 1, eval mode, no grad."""
    cfg = model.config
    device = next(model.parameters()).device
    x = torch.randn(1, cfg.in_channels, window, model.num_nodes, device=device)  # (1, C, T, V)
    stats = torch.randn(1, cfg.signer_stats_dim, device=device)  # (1, S)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(x, None, stats)
    finally:
        model.train(was_training)
    return counter.get_total_flops()


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    parser = get_args_parser(prog)
    args = parser.parse_args(argv)
    if args.batch < 1 or args.window < 1 or args.coords < 1:
        parser.error("--batch, --window and --coords must be >= 1")
    device = args.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        config = model_config_from_args(
            args, layout=_layout(args), in_channels=args.coords, num_classes=args.num_classes,
            num_signers=args.num_signers, supcon_dim=args.supcon_dim,
        )
    except ValueError as e:
        parser.error(str(e))
    torch.manual_seed(args.seed)
    model = SignSTGCNModel(config).to(device).eval()
    layout = config.layout.build()
    N, C, T, V, S = args.batch, config.in_channels, args.window, model.num_nodes, config.signer_stats_dim

    x = torch.randn(N, C, T, V, device=device)  # (N, C, T, V)
    mask = torch.ones(N, T, V, dtype=torch.bool, device=device)  # (N, T, V)
    notes = []
    hand = layout.part_slice("left_hand")
    if N > 1 and hand is not None:
        mask[1, :, hand] = False  # sample 1: left hand never detected
        notes.append("sample 1 has no left hand")
    if N > 1 and T > 2:
        mask[N - 1, T - T // 5 :] = False  # last sample: a short video padded at the end
        notes.append(f"sample {N - 1} padded after frame {T - T // 5}")
    stats = torch.randn(N, S, device=device)  # (N, S)
    with torch.no_grad():
        out = model(x, mask, stats)

    print(f"SignSTGCN model summary (torch {torch.__version__}, device {device})")
    print(f"layout   {layout.name}: V={V} joints; C={C} coords; window T={T}; batch N={N}")
    print(f"config   {config}")
    print("inputs")
    print(f"  x                {_shape(x)}")
    print(f"  mask             {_shape(mask)}" + (f"  ({'; '.join(notes)})" if notes else ""))
    print(f"  stats            {_shape(stats)}")
    print("outputs")
    for name, value in out._asdict().items():
        print(f"  {name:<16} {_shape(value)}")
    print("parameters")
    for name, n in model.parameter_counts().items():
        print(f"  {name:<16} {n:>12,}")
    print(f"  {'total':<16} {model.num_parameters():>12,}")
    flops = count_flops(model, T)
    print(f"FLOPs per window (N=1, T={T}): {flops:,} ({flops / 1e9:.3f} GFLOPs)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
