"""CPU threads: how many intra-op threads torch uses and how long its idle OpenMP threads spin.

torch's CPU build runs operators on a GNU OpenMP (libgomp) thread team. Between two parallel regions an idle
team thread spins for libgomp's default 300,000 iterations before it sleeps. When another process wants the
cores, spinning threads hold cores that a descheduled thread of the same team needs, every parallel region
waits for that thread, and a model made of many small operators slows down several times: one epoch of the
demo detector took 8.5 s on 2 idle cores, 24.5 s beside one busy process and 70 s beside another torch job
(``bench/run.py``, figure ``train_busy_cpu``). A short spin (``GOMP_SPINCOUNT=3000``) keeps the idle speed
(8.5 s) and degrades gracefully (16 s and 17 s); one thread is fastest on a shared machine (13-14.5 s) but
1.6x slower on an idle one.

:func:`prepare_openmp` must run before ``torch`` is imported (libgomp reads its settings when it loads); the
command-line entry points call it first. :func:`configure_threads` sets torch's thread count.
"""

from __future__ import annotations

import functools
import os
import sys

SPIN_ENV = "GOMP_SPINCOUNT"
DEFAULT_SPINCOUNT = "3000"
USER_ENV = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")  # the user's own choice of wait policy is kept


def prepare_openmp() -> bool:
    """Set ``GOMP_SPINCOUNT=3000`` for this process and its children unless torch is already imported or the
    user set ``OMP_WAIT_POLICY`` / ``GOMP_SPINCOUNT``; returns whether it was set."""
    if "torch" in sys.modules or any(name in os.environ for name in USER_ENV):
        return False
    os.environ[SPIN_ENV] = DEFAULT_SPINCOUNT
    return True


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. under ``taskset`` or a container's cpuset)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def parse_threads(text: str) -> int | None:
    """``--threads`` value: ``auto`` → None, else a positive integer."""
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"--threads must be auto or a positive integer, got {text!r}")
    return value


def resolve_threads(threads: int | None, workers: int = 0) -> int:
    """Intra-op threads to use: ``threads`` as given, or (None = auto) torch's default (``OMP_NUM_THREADS`` when
    set, else the physical cores) capped by the usable CPUs, less one per data-loader worker process, at least 1."""
    if threads is not None:
        return threads
    return max(1, min(_torch_default_threads(), usable_cpus()) - max(0, workers))


@functools.cache
def _torch_default_threads() -> int:
    """torch's own default, read once, before any ``set_num_threads`` of ours."""
    import torch

    return torch.get_num_threads()


def configure_threads(threads: int | None, workers: int = 0) -> str:
    """Set torch's intra-op threads (see :func:`resolve_threads`); returns a description for the start-up line,
    e.g. ``"2 CPU threads (OpenMP spin 3000)"``."""
    import torch

    count = resolve_threads(threads, workers)
    torch.set_num_threads(count)
    spin = os.environ.get("OMP_WAIT_POLICY", "").lower() or os.environ.get(SPIN_ENV) or "300000 (libgomp default)"
    return f"{count} CPU thread{'s' if count != 1 else ''} (OpenMP spin {spin})"


def resolve_device(name: str = "auto"):
    """``torch.device`` of ``--device``: ``auto`` (CUDA when available, else CPU), ``cpu``, ``cuda`` or
    ``cuda:N``; a one-line ValueError for an unknown name or CUDA on a machine without it."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ValueError(f"Invalid --device {name!r}. Use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available on this machine (use --device cpu or auto)")
    return device
