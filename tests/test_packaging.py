"""The release a user installs: ``python -m build`` makes a wheel; a fresh virtual environment that installs it (not
``-e .``) runs ``signstgcn --version``, loads the shipped detector from the wheel and runs ``signstgcn demo``,
from outside the checkout."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

import signstgcn
from tests.conftest import REPO


def _run(cmd: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_the_built_wheel_installs_in_a_fresh_venv_and_runs_the_demo(tmp_path):
    pytest.importorskip("build", reason="python -m build needs requirements-dev.txt")
    dist = tmp_path / "dist"
    built = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, REPO], cwd=tmp_path)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = dist.glob("signstgcn-*.whl")
    assert wheel.name.startswith(f"signstgcn-{signstgcn.__version__}-")
    # A fresh environment; the pinned dependencies come from this interpreter's site (system_site_packages: no
    # download of torch), the package itself only from the wheel. --no-index: the wheel's requirements must be
    # met by what is installed, or the install fails.
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)  # no pip/setuptools of its own
    python, cli = env_dir / "bin" / "python", env_dir / "bin" / "signstgcn"
    install = _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-index", "-q", wheel],
                   cwd=tmp_path)
    assert install.returncode == 0, install.stdout[-2000:] + install.stderr[-2000:]

    work = tmp_path / "elsewhere"  # not the checkout: nothing can be imported from it by accident
    work.mkdir()
    where = _run([python, "-c", "import signstgcn; from signstgcn import Predictor; "
                                "print(signstgcn.__file__); print(Predictor.from_pretrained().name)"], cwd=work)
    assert where.returncode == 0, where.stderr[-2000:]
    path, name = where.stdout.splitlines()[:2]
    assert Path(path).resolve().is_relative_to(env_dir.resolve()), f"signstgcn imported from {path}, not the venv"
    assert name.startswith("signstgcn-signing-detector")  # the detector is inside the wheel

    version = _run([cli, "--version"], cwd=work)
    assert version.returncode == 0 and version.stdout.strip() == f"signstgcn {signstgcn.__version__}"
    demo = _run([cli, "demo", "--out", "demo_out", "--detection-epochs", "1", "--recognition-epochs", "2", "--quiet"],
                cwd=work)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-2000:]
    out = work / "demo_out"
    assert any((out / "detection").glob("*.pt")) and any((out / "recognition").glob("*.pt")), demo.stdout[-2000:]
