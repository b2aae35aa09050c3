"""MediaPipe Holistic for the browser page of ``signstgcn serve``: the npm package ``@mediapipe/holistic`` (its
JavaScript, wasm and models) unpacked into a local folder, so the page runs MediaPipe without any CDN.

:func:`install_assets` runs ``npm pack`` (the npm registry is the only download) and unpacks the tarball's files into
``DIR/holistic``; :func:`assets_dir` is where ``serve`` looks by default (``$SIGNSTGCN_WEB_ASSETS``, else
``$XDG_CACHE_HOME/signstgcn/web``, else ``~/.cache/signstgcn/web``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from signstgcn.errors import MissingDependencyError, SignSTGCNError

__all__ = ["HOLISTIC_PACKAGE", "REQUIRED_FILES", "assets_dir", "install_assets", "missing_assets"]

HOLISTIC_PACKAGE = "@mediapipe/holistic@0.5.1675471629"  # the version the page is tested with
REQUIRED_FILES = ("holistic.js", "holistic.binarypb", "holistic_solution_packed_assets.data",
                  "holistic_solution_packed_assets_loader.js", "holistic_solution_simd_wasm_bin.js",
                  "holistic_solution_simd_wasm_bin.wasm", "holistic_solution_wasm_bin.js",
                  "holistic_solution_wasm_bin.wasm", "pose_landmark_full.tflite")


def assets_dir() -> Path:
    """The default assets folder (see the module docstring)."""
    if os.environ.get("SIGNSTGCN_WEB_ASSETS"):
        return Path(os.environ["SIGNSTGCN_WEB_ASSETS"])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "signstgcn" / "web"


def missing_assets(root: Path) -> list[str]:
    """The files of :data:`REQUIRED_FILES` that ``root/holistic`` lacks."""
    return [name for name in REQUIRED_FILES if not (root / "holistic" / name).is_file()]


def install_assets(root: Path | None = None, *, force: bool = False) -> Path:
    """``npm pack`` :data:`HOLISTIC_PACKAGE` and unpack it into ``root/holistic`` (default :func:`assets_dir`);
    nothing to do when every file is there (unless ``force``). Returns ``root``."""
    root = Path(root) if root is not None else assets_dir()
    if not force and not missing_assets(root):
        return root
    npm = shutil.which("npm")
    if npm is None:
        raise MissingDependencyError("signstgcn web-assets needs npm (Debian: apt-get install npm) to fetch "
                                     f"{HOLISTIC_PACKAGE} from the npm registry")
    with tempfile.TemporaryDirectory(prefix="signstgcn-web-") as tmp:
        done = subprocess.run([npm, "pack", HOLISTIC_PACKAGE, "--pack-destination", tmp, "--silent"],
                              capture_output=True, text=True, timeout=600)
        tarballs = sorted(Path(tmp).glob("*.tgz"))
        if done.returncode or not tarballs:
            why = (done.stderr or done.stdout).strip().splitlines()
            last = why[-1] if why else f"exit {done.returncode}"
            raise SignSTGCNError(f"npm pack {HOLISTIC_PACKAGE} failed ({last})")
        target = root / "holistic"
        staging = root / ".holistic.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        with tarfile.open(tarballs[0]) as tar:
            for member in tar.getmembers():
                name = Path(member.name)
                if not member.isfile() or name.parts[:1] != ("package",) or len(name.parts) != 2:
                    continue  # flat package files only: no paths outside the folder
                source = tar.extractfile(member)
                assert source is not None
                (staging / name.name).write_bytes(source.read())
    lacking = [n for n in REQUIRED_FILES if not (staging / n).is_file()]
    if lacking:
        shutil.rmtree(staging, ignore_errors=True)
        raise SignSTGCNError(f"{HOLISTIC_PACKAGE} lacks {', '.join(lacking)}; the page needs them")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)
    return root
