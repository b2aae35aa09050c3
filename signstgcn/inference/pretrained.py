"""The models shipped inside the package: found with :mod:`importlib.resources`, so they load from an installed
wheel (or zip) as from a checkout, with no download.

    from signstgcn import Predictor
    predictor = Predictor.from_pretrained()          # the shipped signing detector
    print(predictor.name)                           # signstgcn-signing-detector 1.0

A shipped checkpoint carries ``release`` = ``{name, version, date, recipe, training_data}`` (written by
``recipes/signing_detector.py --ship``); every output of ``detect`` records the name and version.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from importlib import resources
from pathlib import Path

from signstgcn.errors import CheckpointError

__all__ = ["DEFAULT_MODEL", "PRETRAINED", "pretrained_file"]

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
