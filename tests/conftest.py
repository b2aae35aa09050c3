"""Shared fixtures and helpers: tiny landmark folders in the user format, the real data location, one torch
thread, the tiny train-CLI model, and checks of written figures and one-line CLI errors."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
# A tiny model for the train CLI: 1-epoch runs take seconds.
TINY_MODEL = ["--stgcn-channels", "8,16", "--stgcn-dilations", "1,2", "--temporal-hidden", "8",
              "--signer-emb-dim", "8", "--attn-heads", "2"]


# ModelConfig keyword arguments of a tiny model (unit tests of the model and checkpoints).
SMALL = {
    "stgcn_channels": (8, 16),
    "stgcn_dilations": (1, 2),
    "temporal_hidden": 8,
    "signer_emb_dim": 8,
    "signer_hidden": 16,
    "signer_head_hidden": 16,
    "supcon_dim": 8,
}


def shared_data(name: str) -> Path:
    """Path of a real data folder in ../shared/data, skipping the test (with the reason) when absent."""
    path = SHARED_DATA / name
    if not path.is_dir():
        pytest.skip(f"real data {path} is absent (it ships beside the repo in ../shared/data, not in a clone)")
    return path


def write_video(path: Path, num_frames: int, *, parts=("pose", "left_hand", "right_hand"), channels: int = 3,
                seed: int = 0, **extra) -> dict[str, np.ndarray]:
    """Write one npz with plausible random landmarks in [0.2, 0.8]; returns the arrays."""
    rng = np.random.default_rng(seed)
    joints = {"pose": 33, "left_hand": 21, "right_hand": 21, "face": 478}
    arrays = {p: rng.uniform(0.2, 0.8, size=(num_frames, joints[p], channels)).astype(np.float32) for p in parts}
    np.savez(path, **arrays, **extra)
    return arrays


def png_shape(png: Path) -> tuple[int, ...]:
    """Shape of a written, non-blank PNG figure."""
    assert png.is_file() and png.stat().st_size > 1000, png
    img = mpimg.imread(png)
    assert img.std() > 0, f"{png} is blank"
    return img.shape


def one_error_line(capsys: pytest.CaptureFixture) -> str:
    """The single ``prog: error: ...`` line a CLI wrote to stderr (no traceback)."""
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def tiny_folder(tmp_path: Path) -> Path:
    """Three short videos with ground truth and signers: v0 (40 frames), v1 (30), v2 (10)."""
    for k, t in enumerate((40, 30, 10)):
        write_video(tmp_path / f"v{k}.npz", t, seed=k, fps=np.float32(25.0))
    (tmp_path / "groundtruth.txt").write_text(
        "# video frame label\nv0 0 n\nv0 10 s\nv0 30 n\nv1 0 s\nv1 20 n\n\nv2 0 s\n"
    )
    (tmp_path / "signers.txt").write_text("v0 alice\nv1 bob\nv2 alice\n")
    return tmp_path


@pytest.fixture(scope="module")
def one_thread():
    """Tiny tensors: one intra-op thread is fastest, and two threads on a shared 2-core machine can be 10x slower.

    A module uses it for all its tests with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
