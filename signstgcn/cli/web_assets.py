"""``signstgcn web-assets [--out DIR]``: fetch MediaPipe Holistic for the browser page of ``signstgcn serve``.

Runs ``npm pack @mediapipe/holistic`` (the npm registry is the only download) and unpacks its JavaScript, wasm and
models into ``DIR/holistic`` (default: the user's cache, where ``serve`` looks), so the page runs MediaPipe offline,
without any CDN. Needs ``npm`` (Debian: ``apt-get install npm``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from signstgcn.cli.common import CLI_ERRORS, HelpFormatter, run_cli
from signstgcn.inference.web_assets import HOLISTIC_PACKAGE, assets_dir, install_assets, missing_assets

PROG = "signstgcn web-assets"


def get_args_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description=__doc__.splitlines()[0].split(": ", 1)[1],
                                formatter_class=HelpFormatter)
    p.add_argument("--out", default=None,
                   help="folder to unpack into, as OUT/holistic (default: $SIGNSTGCN_WEB_ASSETS, else the user's "
                        "cache folder signstgcn/web)")
    p.add_argument("--force", action="store_true", help="fetch again even when every file is there")
    return p


def run(args: argparse.Namespace) -> int:
    root = Path(args.out) if args.out else assets_dir()
    had = not missing_assets(root)
    install_assets(root, force=args.force)
    what = "already there" if had and not args.force else "installed"
    print(f"{PROG}: {HOLISTIC_PACKAGE} {what} in {root / 'holistic'} (serve it with: signstgcn serve --assets {root})",
          flush=True)
    return 0


def main(argv: list[str] | None = None, prog: str = PROG) -> int:
    args = get_args_parser(prog).parse_args(argv)
    return run_cli(prog, run, args, errors=CLI_ERRORS)


if __name__ == "__main__":
    raise SystemExit(main())
