"""The models shipped inside the package: found with :mod:`importlib.resources`, so they load from an installed
wheel (or zip) as from a checkout, with no download.

    from signstgcn import Predictor
    predictor = Predictor.from_pretrained()          # the shipped signing detector
    print(predictor.name)                           # signstgcn-signing-detector 1.0

A shipped checkpoint carries ``release`` = ``{name, version, date, recipe, training_data}`` (written by
``recipes/signing_detector.py --ship``); every output of ``detect`` records the name and version.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from importlib import resources
from os import PathLike
from pathlib import Path
from typing import Any

from signstgcn.errors import CheckpointError

__all__ = ["DEFAULT_MODEL", "PRETRAINED", "checkpoint_file", "pretrained_file", "release_fields", "release_of"]

PACKAGE = "signstgcn.models"
DEFAULT_MODEL = "signing-detector"
PRETRAINED = {"signing-detector": "signing_detector.pt"}  # name -> file inside signstgcn/models


def pretrained_file(name: str = DEFAULT_MODEL) -> AbstractContextManager[Path]:
    """A context manager giving the path of the shipped checkpoint ``name`` (a real file, also from a zip).

    Raises CheckpointError, in one line, for an unknown name or a package installed without the file."""
    if name not in PRETRAINED:
        raise CheckpointError(f"no shipped model {name!r}; the package ships {', '.join(sorted(PRETRAINED))}")
    item = resources.files(PACKAGE) / PRETRAINED[name]
    if not item.is_file():
        raise CheckpointError(f"the shipped model {name!r} ({PACKAGE.replace('.', '/')}/{PRETRAINED[name]}) is "
                              "missing from this installation; reinstall signstgcn, or pass --ckpt")
    return resources.as_file(item)


def checkpoint_file(ckpt: str | PathLike[str] | None) -> AbstractContextManager[Path]:
    """``--ckpt`` as a context manager giving a path: the given checkpoint, or the shipped signing detector when
    it is None (what every command does without ``--ckpt``)."""
    return pretrained_file(DEFAULT_MODEL) if ckpt is None else nullcontext(Path(ckpt))


def release_of(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The ``release`` entry of a raw checkpoint dict (a shipped model's name, version, recipe); else empty."""
    release = raw.get("release")
    return dict(release) if isinstance(release, Mapping) else {}


def release_fields(release: Mapping[str, Any]) -> dict[str, Any]:
    """``model_name`` / ``model_version`` of a shipped model's ``release``, as outputs record them; empty when it
    names no model."""
    if not release.get("name"):
        return {}
    return {"model_name": release["name"], "model_version": release.get("version")}
