"""``python -m train_landmarks``: train SignSTGCN (flags: DESIGN §5; see ``--help``)."""

from _signstgcn_boot import load_main

main = load_main("signstgcn.cli.train", "train_landmarks")

if __name__ == "__main__":
    raise SystemExit(main())
