"""``python -m visualize_signer_embeddings``: t-SNE / PCA of a checkpoint's signer and classifier embeddings."""

from signstgcn.cli.visualize import main

if __name__ == "__main__":
    raise SystemExit(main())
