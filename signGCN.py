"""``python -m signGCN``: build the default SignSTGCN model, run a random batch, print shapes and sizes.

Thin entry point; the work is in :mod:`signstgcn.cli.model_summary` (``--help`` for the flags).
"""

from __future__ import annotations

from signstgcn.cli.model_summary import main

if __name__ == "__main__":
    raise SystemExit(main())
