"""Inference: a checkpoint's predictions on recordings (:mod:`.predictor`), live frame-by-frame detection
(:mod:`.streaming`), export (TorchScript / ONNX), landmark extraction from video and ELAN output. Imports
data, model and training (checkpoints), never evaluation or the CLI."""
