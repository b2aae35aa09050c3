"""Data: landmark readers (:mod:`.readers`), skeleton layouts, ground truth, signers, windows, splits and the
transform pipeline that turns a folder of recordings into model-ready windows. Imports nothing above it."""
