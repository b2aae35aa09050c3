"""Checkpoints shipped inside the package (data only; loaded by :mod:`signstgcn.inference.pretrained`).

``signing_detector.pt``: the signing detector that ``signstgcn detect``, ``evaluate``, ``serve`` and ``render`` use
without ``--ckpt``; trained by ``recipes/signing_detector.py`` (its docstring has the command), described in the
model card (``docs/model_card_signing_detector.md``).
"""
