"""``python -m signstgcn`` is the same as the ``signstgcn`` console script."""

from _signstgcn_boot import ensure_package

ensure_package("signstgcn")  # a folder named signstgcn in the current folder may have been imported instead

from signstgcn.cli.main import main  # noqa: E402

raise SystemExit(main())
