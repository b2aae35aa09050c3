"""CPU threads: the OpenMP spin set before torch loads, ``--threads`` resolution, and the start-up line."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from signstgcn import runtime as threads
from signstgcn.data.synthetic import generate_dataset
from tests.conftest import TINY_MODEL

CHECK = ("import os, sys; from signstgcn.runtime import prepare_openmp; {before}"
         "print(prepare_openmp(), os.environ.get('GOMP_SPINCOUNT'))")


def _run(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in threads.USER_ENV}
    result = subprocess.run([sys.executable, "-c", code], env={**clean, **env}, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_prepare_openmp_shortens_the_spin_before_torch_loads():
    assert _run(CHECK.format(before="")) == "True 3000"


def test_prepare_openmp_keeps_the_users_choice_and_does_nothing_after_torch():
    assert _run(CHECK.format(before=""), OMP_WAIT_POLICY="ACTIVE") == "False None"
    assert _run(CHECK.format(before=""), GOMP_SPINCOUNT="123") == "False 123"
    assert _run(CHECK.format(before="import torch; ")) == "False None"  # libgomp has read its settings


@pytest.mark.parametrize("given,workers,cpus,expected", [
    (3, 0, 2, 3),      # an explicit count is used as given
    (None, 0, 2, 2),   # auto: torch's default capped by the usable CPUs
    (None, 1, 2, 1),   # one loader worker process takes a core
    (None, 4, 2, 1),   # never below 1
    (None, 0, 1, 1),   # a 1-CPU affinity mask (taskset, cpuset)
])
def test_resolve_threads(given, workers, cpus, expected, monkeypatch):
    monkeypatch.setattr(threads, "usable_cpus", lambda: cpus)
    monkeypatch.setattr(threads, "_torch_default_threads", lambda: 2)
    assert threads.resolve_threads(given, workers) == expected


@pytest.mark.parametrize("text,value", [("auto", None), ("1", 1), ("8", 8)])
def test_parse_threads(text, value):
    assert threads.parse_threads(text) == value


@pytest.mark.parametrize("text", ["0", "-1", "x", ""])
def test_parse_threads_refuses(text):
    with pytest.raises(ValueError, match="--threads must be auto or a positive integer"):
        threads.parse_threads(text)


def test_python_dash_m_training_logs_its_threads_and_spin(tmp_path):
    """The entry point sets the spin before torch loads, and the start-up line says what training uses."""
    data = tmp_path / "data"
    generate_dataset(data, task="detection", num_signers=3, videos_per_signer=2, seed=0)
    clean = {k: v for k, v in os.environ.items() if k not in threads.USER_ENV}
    for extra, expected in ((["--threads", "1"], r"1 CPU thread \(OpenMP spin 3000\)"),
                            ([], r"\d+ CPU threads? \(OpenMP spin 3000\)")):
        result = subprocess.run(
            [sys.executable, "-m", "train_landmarks", "--data", str(data), "--binary", "--signing-labels", "s",
             "--stride", "12", "--epochs", "1", "--quiet", "--overwrite", "--out", str(tmp_path / "run"),
             *TINY_MODEL, *extra], cwd=tmp_path, env=clean, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert re.search(expected, result.stdout.splitlines()[0]), result.stdout
