"""``python -m visualize_signer_embeddings``: t-SNE / PCA of a checkpoint's signer and classifier embeddings."""

from _signstgcn_boot import load_main

main = load_main("signstgcn.cli.visualize", "visualize_signer_embeddings")

if __name__ == "__main__":
    raise SystemExit(main())
