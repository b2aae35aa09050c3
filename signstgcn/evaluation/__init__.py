"""Evaluation: a checkpoint scored against ground truth (:mod:`.report`), frame-level detection metrics, label
checks, embeddings, plots and signer-disjoint cross-validation. Imports every layer below it, never the CLI."""
