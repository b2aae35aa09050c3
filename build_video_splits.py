"""``python -m build_video_splits``: video-level train/val/test splits balanced on positive windows.

Thin entry point; the work is in :mod:`signstgcn.cli.build_video_splits` (``--help`` for the flags).
"""

from __future__ import annotations

from _signstgcn_boot import load_main

main = load_main("signstgcn.cli.build_video_splits", "build_video_splits")

if __name__ == "__main__":
    raise SystemExit(main())
