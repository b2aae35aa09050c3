"""``python -m train_landmarks``: train SignSTGCN (flags: DESIGN §5; see ``--help``)."""

from signstgcn.cli.train import main

if __name__ == "__main__":
    raise SystemExit(main())
