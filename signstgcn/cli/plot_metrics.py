"""``signstgcn plot-metrics OUT/metrics.csv``: training curves (loss, accuracy, ranking, signer bias) as a PNG.

Writes ``curves.png`` next to the CSV unless ``--out`` names another file; the same figure
``train_landmarks --log-csv`` draws at the end of a run, useful while a run is going or after ``--resume``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from signstgcn.cli.common import HelpFormatter, run_cli

PROG = "signstgcn plot-metrics"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Draw training curves from a metrics.csv.",
                                formatter_class=HelpFormatter)
    p.add_argument("csv", help="metrics.csv written by train_landmarks --log-csv")
    p.add_argument("--out", default=None, help="PNG path (default: curves.png next to the CSV)")
    p.add_argument("--title", default=None, help="figure title (default: the run folder's name)")
    return p


def run(args: argparse.Namespace) -> Path:
    from signstgcn.plots import plot_metrics

    csv_path = Path(args.csv)
    out = Path(args.out) if args.out else csv_path.parent / "curves.png"
    if out.is_dir():
        raise ValueError(f"--out {out}: is a folder; expected a .png file path")
    png = plot_metrics(csv_path, out, title=args.title)
    print(f"{PROG}: wrote {png}", flush=True)
    return png


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args)


if __name__ == "__main__":
    raise SystemExit(main())
