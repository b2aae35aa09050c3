"""``python -m build_video_splits``: video-level train/val/test splits balanced on positive windows.

Thin entry point; the work is in :mod:`signstgcn.cli.build_video_splits` (``--help`` for the flags).
"""

from __future__ import annotations

from signstgcn.cli.build_video_splits import main

if __name__ == "__main__":
    raise SystemExit(main())
