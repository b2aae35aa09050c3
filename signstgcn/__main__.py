"""``python -m signstgcn`` is the same as the ``signstgcn`` console script."""

from signstgcn.cli.main import main

raise SystemExit(main())
