"""serve_memory: glibc's malloc arenas capped (and the cap passed on to worker processes), free pages handed back.
Each check runs in a fresh interpreter: the cap is process-wide and would stay on for the rest of the suite."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from signstgcn.inference import serve_memory

CHILD = ("import os, subprocess, sys; from signstgcn.inference.serve_memory import limit_arenas; "
         "print(limit_arenas()); print(os.environ['MALLOC_ARENA_MAX']); "
         "print(subprocess.run([sys.executable, '-c', 'import os; print(os.environ[\"MALLOC_ARENA_MAX\"])'], "
         "capture_output=True, text=True).stdout.strip())")


def _limit(env_value: str | None) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    if env_value is not None:
        env["MALLOC_ARENA_MAX"] = env_value
    return subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True,
                          env=env).stdout.split()


@pytest.fixture
def glibc():
    if serve_memory._glibc() is None:
        pytest.skip("not glibc (Linux): serve_memory does nothing here")


def test_the_arena_cap_is_set_and_inherited_by_worker_processes(glibc):
    assert _limit(None) == ["True", str(serve_memory.ARENAS), str(serve_memory.ARENAS)]


def test_a_users_setting_wins(glibc):
    assert _limit("8") == ["True", "8", "8"]


def test_trim_returns_freed_memory_without_error():
    blocks = [bytearray(1 << 16) for _ in range(200)]  # ~13 MB in small allocations, then freed
    del blocks
    serve_memory.trim()  # a no-op off glibc
