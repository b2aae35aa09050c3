"""Training: the run configuration, ``fit``, the epoch loop, losses, distributed set-up, checkpoints and test-time
adaptation. Imports :mod:`signstgcn.data` and :mod:`signstgcn.model`, never inference, evaluation or the CLI."""
