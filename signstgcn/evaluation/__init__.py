"""Evaluation: a checkpoint scored against ground truth (:mod:`.report`), frame-level detection metrics, label
checks, embeddings, plots, group-disjoint cross-validation and its logistic-regression floor (:mod:`.baselines`).
Imports every layer below it, never the CLI."""
