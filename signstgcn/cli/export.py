"""``signstgcn export --ckpt best.pt --format onnx|torchscript --out F``: export the model, verified.

The exported model maps normalized inputs ``x (N, C, T, V)``, ``mask (N, T, V)`` bool and signer
statistics ``stats (N, S)`` to ``logits (N, K)``, with dynamic batch and time axes; ``F.json`` beside it
holds the preprocessing settings, labels and threshold. Before ``F`` is written, the export is run
(onnxruntime / ``torch.jit.load``) on inputs of several batch sizes and window lengths, with padded
tails and missing joints, and compared with the PyTorch checkpoint; the max absolute logit difference
is printed, and a difference above ``--tolerance`` is an error (nothing written).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from signstgcn.cli.common import HelpFormatter, run_cli
from signstgcn.errors import SignSTGCNError
from signstgcn.inference.export import DEFAULT_OPSET, DEFAULT_TOLERANCE, FORMATS, export_model
from signstgcn.inference.predictor import Predictor

PROG = "signstgcn export"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Export a checkpoint to ONNX or TorchScript, verified "
                                "against PyTorch.", formatter_class=HelpFormatter)
    p.add_argument("--ckpt", required=True, help="trained checkpoint (best.pt / last.pt)")
    p.add_argument("--format", choices=FORMATS, default="onnx", help="onnx (needs the onnx extra) or torchscript")
    p.add_argument("--out", required=True, help="output file (e.g. model.onnx); metadata goes to OUT.json")
    p.add_argument("--opset", type=int, default=DEFAULT_OPSET, help="ONNX opset")
    p.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE,
                   help="max absolute logit difference allowed against PyTorch")
    p.add_argument("--no-verify", action="store_true", help="skip the comparison (e.g. without onnxruntime)")
    p.add_argument("--overwrite", action="store_true", help="replace OUT and OUT.json if they exist")
    return p


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    targets = [out, out.with_name(out.name + ".json")]
    existing = [t for t in targets if t.exists()]
    if existing and not args.overwrite:
        raise ValueError(f"{existing[0]} already exists; pass --overwrite to replace it")
    if out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name (e.g. {out / 'model.onnx'})")
    if not args.tolerance > 0:
        raise ValueError(f"--tolerance must be positive, got {args.tolerance}")
    predictor = Predictor.from_checkpoint(args.ckpt, device="cpu")
    result = export_model(predictor, out, args.format, opset=args.opset, verify=not args.no_verify,
                          tolerance=args.tolerance)
    if result.checks:
        shapes = ", ".join(f"{c['batch']}x{c['time']}" for c in result.checks)
        print(f"{PROG}: wrote {result.path} ({args.format}, dynamic batch and time); max abs diff vs PyTorch "
              f"{result.max_abs_diff:.3g} over batch x time {shapes} (tolerance {args.tolerance:g})", flush=True)
    else:
        print(f"{PROG}: wrote {result.path} ({args.format}); not verified (--no-verify)", flush=True)
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args, errors=(SignSTGCNError, ValueError, RuntimeError, OSError))


if __name__ == "__main__":
    raise SystemExit(main())
