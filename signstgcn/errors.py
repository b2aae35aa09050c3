"""Exceptions raised at the library's boundaries, each with a one-line message."""

from __future__ import annotations


class SignSTGCNError(Exception):
    """Base class of every error this library raises on purpose."""


class DataError(SignSTGCNError, ValueError):
    """A data file or folder is missing, malformed or inconsistent."""


class CheckpointError(SignSTGCNError, ValueError):
    """A checkpoint cannot be read or does not fit the request."""


class MissingDependencyError(SignSTGCNError, ImportError):
    """An optional extra (MediaPipe, onnxruntime, pose-format) is not installed."""
