"""``signstgcn <command> ...``: one entry point for every tool (each lives in its own module)."""

from __future__ import annotations

import importlib
import sys

from signstgcn.runtime import prepare_openmp

# command -> (module with get_args_parser(prog) and main(argv, prog) -> int, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("signstgcn.cli.demo", "the main job: synthetic data -> detector + sign classifier, in minutes"),
    "train": ("signstgcn.cli.train", "train on a landmark folder (= python -m train_landmarks)"),
    "pretrain": ("signstgcn.cli.pretrain", "self-supervised pretraining of the encoder on unlabeled landmark folders "
                                          "(then train --init)"),
    "pack": ("signstgcn.cli.pack", "pack a landmark folder into one memory-mapped array (fast, low-RAM loading)"),
    "convert": ("signstgcn.cli.convert", "any landmark data (GISLR, pyskl, OpenHands, .pose, ...) -> npz or .pose"),
    "make-stream": ("signstgcn.cli.make_stream", "join isolated clips (and idle clips) into long recordings with "
                                                 "gloss segments"),
    "make-demo-data": ("signstgcn.cli.make_demo_data", "write a synthetic MediaPipe-like dataset in the user format"),
    "build-splits": ("signstgcn.cli.build_video_splits", "video-level train/val/test splits (= build_video_splits)"),
    "evaluate": ("signstgcn.cli.evaluate", "metrics, per-signer bias report and plots for a checkpoint on a folder"),
    "adapt": ("signstgcn.cli.adapt", "adapt a checkpoint to a new signer from unlabeled recordings (AdaBN)"),
    "cross-validate": ("signstgcn.cli.cross_validate", "signer-disjoint k-fold cross-validation of ablation configs"),
    "visualize": ("signstgcn.cli.visualize", "t-SNE/PCA plot of signer and classifier embeddings"),
    "plot-metrics": ("signstgcn.cli.plot_metrics", "training curves PNG from a metrics.csv"),
    "render": ("signstgcn.cli.render", "a recording's skeleton with its signing probability or top signs (GIF/MP4)"),
    "detect": ("signstgcn.cli.detect", "signing segments (binary) or top-k signs from a checkpoint on recordings"),
    "transcribe": ("signstgcn.cli.transcribe", "detect, then name each sign: JSON, CSV, ELAN (2 tiers), subtitles"),
    "web-assets": ("signstgcn.cli.web_assets", "fetch MediaPipe Holistic (npm) for the browser page of serve"),
    "serve": ("signstgcn.cli.serve", "live signing detection for many streams over WebSocket (needs .[serve])"),
    "extract": ("signstgcn.cli.extract", "MediaPipe Holistic landmarks from videos into .npz (resumable)"),
    "export": ("signstgcn.cli.export", "export a checkpoint to ONNX / TorchScript, verified against PyTorch"),
    "model-summary": ("signstgcn.cli.model_summary", "build the default model, print shapes, parameters, FLOPs"),
}

# the design's script names (``python -m NAME``, files at the repository root) -> the command they run
SCRIPTS: dict[str, str] = {"train_landmarks": "train", "build_video_splits": "build-splits",
                           "visualize_signer_embeddings": "visualize", "signGCN": "model-summary"}


def _usage() -> str:
    width = max(len(c) for c in COMMANDS)
    lines = [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "usage: signstgcn <command> [options]\n\ncommands:\n" + "\n".join(lines) + \
        "\n\nRun 'signstgcn <command> --help' for a command's options."


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        from signstgcn import __version__

        print(f"signstgcn {__version__}")
        return 0
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"signstgcn: error: unknown command {name!r}; choose from {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    prepare_openmp()  # before the command imports torch
    module = importlib.import_module(COMMANDS[name][0])
    return int(module.main(rest, prog=f"signstgcn {name}") or 0)  # usage and errors name the command as run


if __name__ == "__main__":
    raise SystemExit(main())
