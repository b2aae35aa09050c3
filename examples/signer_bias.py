"""Does the adversarial signer head reduce signer bias? Plain vs adversarial training on signer-biased data.

    python examples/signer_bias.py --out examples/results            # 3 seeds, a few minutes on 2 CPU cores
    python examples/signer_bias.py --out /tmp/bias --seeds 0 1 2 3 4 --epochs 60

For every seed it generates a synthetic isolated-sign dataset in which each signer mostly signs "their"
classes and the signer's style (camera position, speed, movement size) follows those classes
(``--bias``, e.g. 0.85), plus a second, unbiased dataset of new signers. It trains two identical models
with ``train_landmarks`` (signer-disjoint validation split): one without the adversarial signer head
(``--signer-loss-weight 0``) and one with it (``--signer-loss-weight W --lambda-grl L``). Each checkpoint
is evaluated with ``signstgcn evaluate`` on three sets:

- ``held-out signers``: the checkpoint's own validation videos (biased, signers never trained on);
- ``all videos``: every video of the biased dataset (mostly training signers);
- ``unbiased new signers``: the unbiased dataset (no class/style correlation, new signers).

A third row, ``untrained``, evaluates the plain model before training (its initial weights): the signer probe
of a model that learned nothing, i.e. how much signer identity the data itself carries into any embedding.

Writes to ``--out``: ``signer_bias.md`` (the table, mean ± std over seeds), ``signer_bias.csv`` (one row per
seed, model and set), ``signer_bias.png`` (probe, gap, worst-signer and top-1 accuracy per set), the t-SNE
maps of both models for the first seed (``embeddings_plain.png``, ``embeddings_adversarial.png``), and
the full runs and ``report.json`` files under ``--out/work`` (``--keep-work`` keeps them).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from signstgcn.cli import evaluate as evaluate_cli
from signstgcn.cli import train as train_cli
from signstgcn.cli import visualize as visualize_cli
from signstgcn.data.synthetic import generate_dataset
from signstgcn.model.model import SignSTGCNModel
from signstgcn.training.checkpoint import load_checkpoint, save_checkpoint

MODELS = ("untrained", "plain", "adversarial")
SETS = (("held-out signers", "val"), ("all videos", "all"), ("unbiased new signers", "unbiased"))
COLUMNS = (("top1", "top-1"), ("worst_signer_acc", "worst-signer acc"), ("signer_gap", "signer gap"),
           ("signer_probe", "signer probe"), ("signer_probe_chance", "probe chance"),
           ("within_class_signer_probe", "within-class probe"),
           ("within_class_signer_probe_chance", "within-class chance"))
CHANCE = {"signer_probe": "signer_probe_chance", "within_class_signer_probe": "within_class_signer_probe_chance"}
MODEL_ARGS = ["--stgcn-channels", "16,32", "--stgcn-dilations", "1,2", "--temporal-hidden", "16",
              "--signer-emb-dim", "8", "--attn-heads", "2"]


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--out", default="examples/results", help="where the table and figures go")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--bias", type=float, default=0.85, help="signer_class_bias of the generated data")
    p.add_argument("--signers", type=int, default=6)
    p.add_argument("--clips", type=int, default=12, help="clips per signer")
    p.add_argument("--classes", type=int, default=3)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--signer-loss-weight", type=float, default=1.0, help="adversarial model's weight")
    p.add_argument("--lambda-grl", type=float, default=0.5, help="adversarial model's GRL strength")
    p.add_argument("--grl-schedule", choices=("constant", "dann"), default="constant")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 is fastest for these tiny models)")
    p.add_argument("--train-flags", default="", help="more train_landmarks flags for both models, e.g. "
                   "'--no-canonical-bones' (one string)")
    p.add_argument("--keep-work", action="store_true", help="keep OUT/work (data, runs, reports)")
    return p


def _quiet(fn, argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()) as err:
        rc = fn(argv)
    if rc != 0:
        print(err.getvalue(), file=sys.stderr)
    return rc


def train(data: Path, out: Path, seed: int, adversarial: bool, args: argparse.Namespace) -> Path:
    adv = (["--signer-loss-weight", str(args.signer_loss_weight), "--lambda-grl", str(args.lambda_grl),
            "--grl-schedule", args.grl_schedule] if adversarial else ["--signer-loss-weight", "0"])
    argv = ["--data", str(data), "--sample-mode", "video", "--window", "16", "--epochs", str(args.epochs),
            "--batch", "16", "--lr", "3e-3", "--val-fraction", "0.34", "--seed", str(seed), "--out", str(out),
            "--overwrite", "--quiet", *MODEL_ARGS, *adv, *shlex.split(args.train_flags)]
    if _quiet(train_cli.main, argv) != 0:
        raise RuntimeError(f"training failed: train_landmarks {' '.join(argv)}")
    return out / "last.pt"


def untrained(ckpt: Path, out: Path, seed: int) -> Path:
    """The plain run's architecture, data settings and initial weights (same seed): the probe's reference."""
    loaded = load_checkpoint(ckpt)
    torch.manual_seed(seed)
    model = SignSTGCNModel(loaded.model.config)
    out.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(out / "last.pt", model, data=loaded.data, epoch=0)


def evaluate(ckpt: Path, data: Path, out: Path, split: str | None) -> dict:
    argv = ["--ckpt", str(ckpt), "--data", str(data), "--out", str(out), "--overwrite", "--quiet"]
    if split:
        argv += ["--split", split]
    if _quiet(evaluate_cli.main, argv) != 0:
        raise RuntimeError(f"evaluation failed: signstgcn evaluate {' '.join(argv)}")
    return json.loads((out / "report.json").read_text())


def _fmt(values: list[float]) -> str:
    v = np.array([x for x in values if x is not None], dtype=float)
    if v.size == 0:
        return "n/a"
    return f"{v.mean():.2f} ± {v.std():.2f}" if v.size > 1 else f"{v[0]:.2f}"


def table(rows: list[dict], seeds: list[int]) -> str:
    lines = [f"| evaluated on | model | {' | '.join(name for _, name in COLUMNS)} |",
             "|---|---|" + "---|" * len(COLUMNS)]
    for set_name, _ in SETS:
        for model in MODELS:
            sel = [r for r in rows if r["set"] == set_name and r["model"] == model]
            cells = [_fmt([r[key] for r in sel]) for key, _ in COLUMNS]
            lines.append(f"| {set_name} | {model} | {' | '.join(cells)} |")
    return "\n".join(lines) + f"\n\nmean ± std over {len(seeds)} seeds ({', '.join(map(str, seeds))}); signer probe: " \
        "cross-validated logistic regression recovering the signer from the frozen classifier embedding " \
        "(lower = less signer information; compare with its chance level); within-class probe: the same probe on " \
        "one class's windows at a time, averaged over classes (signer information the class cannot explain); " \
        "signer gap = best − worst per-signer accuracy.\n"


def figure(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [c for c in COLUMNS if c[0] not in CHANCE.values()]
    fig, axes = plt.subplots(1, len(keys), figsize=(4 * len(keys), 4), dpi=100)
    x = np.arange(len(SETS))
    for ax, (key, name) in zip(axes, keys):
        for k, (model, color) in enumerate(zip(MODELS, ("#d9d9d9", "#7f7f7f", "#1f77b4"))):
            per_set = [[r[key] for r in rows if r["set"] == s and r["model"] == model and r[key] is not None]
                       for s, _ in SETS]
            means = [np.mean(v) if v else np.nan for v in per_set]
            ax.bar(x + (k - 1) * 0.27, means, width=0.26, color=color, label=model)
            for j, v in enumerate(per_set):
                ax.scatter(np.full(len(v), x[j] + (k - 1) * 0.27), v, s=10, color="black", zorder=3)
        if key in CHANCE:
            chance = [np.mean([r[CHANCE[key]] for r in rows
                               if r["set"] == s and r[key] is not None] or [np.nan]) for s, _ in SETS]
            ax.scatter(x, chance, marker="_", s=400, color="red", zorder=4, label="chance")
        ax.set_xticks(x, [s.replace(" ", "\n", 1) for s, _ in SETS], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.set_title(name + (" (lower is better)" if key == "signer_gap" or key in CHANCE else ""), fontsize=10)
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=8)
    fig.suptitle("untrained vs plain vs adversarial signer head (bars: mean over seeds, dots: seeds)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    work = out / "work"
    out.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    tic = time.perf_counter()
    for seed in args.seeds:
        data, unbiased = work / f"data_s{seed}", work / f"unbiased_s{seed}"
        for path, bias, gen_seed, clips in ((data, args.bias, seed, args.clips),
                                            (unbiased, 0.0, seed + 1000, max(2, args.clips // 2))):
            if path.exists():
                shutil.rmtree(path)
            generate_dataset(path, task="recognition", num_signers=args.signers, videos_per_signer=clips,
                             num_classes=args.classes, signer_class_bias=bias, seed=gen_seed)
        for model in ("plain", "adversarial", "untrained"):  # untrained reuses the plain run's settings
            run = work / f"{model}_s{seed}"
            if model == "untrained":
                ckpt = untrained(work / f"plain_s{seed}" / "last.pt", run, seed)
            else:
                ckpt = train(data, run, seed, model == "adversarial", args)
            for set_name, key in SETS:
                target = unbiased if key == "unbiased" else data
                report = evaluate(ckpt, target, run / f"eval_{key}", "val" if key == "val" else None)
                m = report["metrics"]
                rows.append({"seed": seed, "model": model, "set": set_name, **{k: m.get(k) for k, _ in COLUMNS},
                             "windows": report["counts"]["windows"], "signers": report["counts"]["signers"]})
            if seed == args.seeds[0] and model != "untrained":
                png = out / f"embeddings_{model}.png"
                _quiet(visualize_cli.main, ["--data", str(data), "--ckpt", str(ckpt), "--reduce", "tsne",
                                            "--out", str(png), "--quiet"])
        print(f"seed {seed} done ({time.perf_counter() - tic:.0f}s)", file=sys.stderr, flush=True)
    with (out / "signer_bias.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    settings = (f"data: {args.signers} signers x {args.clips} clips, {args.classes} classes, signer_class_bias "
                f"{args.bias}; model: {' '.join(MODEL_ARGS)}, {args.epochs} epochs; adversarial: "
                f"--signer-loss-weight {args.signer_loss_weight} --lambda-grl {args.lambda_grl} "
                f"--grl-schedule {args.grl_schedule}; train flags: {args.train_flags or '(defaults)'}")
    md = f"# Plain vs adversarial signer head\n\n{settings}\n\n{table(rows, args.seeds)}"
    (out / "signer_bias.md").write_text(md)
    figure(rows, out / "signer_bias.png")
    if not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    print(md)
    print(f"wrote {out} in {time.perf_counter() - tic:.0f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
