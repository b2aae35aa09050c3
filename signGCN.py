"""``python -m signGCN``: build the default SignSTGCN model, run a random batch, print shapes and sizes.

Thin entry point; the work is in :mod:`signstgcn.cli.model_summary` (``--help`` for the flags).
"""

from __future__ import annotations

from _signstgcn_boot import load_main

main = load_main("signstgcn.cli.model_summary", "signGCN")

if __name__ == "__main__":
    raise SystemExit(main())
