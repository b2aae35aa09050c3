"""The one atomic text writer every JSON/CSV output goes through."""

from __future__ import annotations

import os
import stat

import pytest

from signstgcn.atomic import atomic_open, atomic_path, write_text_atomic
from signstgcn.inference.elan import write_eaf


def test_writes_exactly_the_text_and_replaces_the_old_file(tmp_path):
    path = tmp_path / "out.csv"
    path.write_text("old\n")
    assert write_text_atomic(path, "a,b\r\n1,2\r\n", fsync=True) == path
    assert path.read_bytes() == b"a,b\r\n1,2\r\n"  # line endings kept as given
    assert [p.name for p in tmp_path.iterdir()] == ["out.csv"]


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("{}\n")
    with pytest.raises(UnicodeEncodeError):
        write_text_atomic(path, "\udcff")  # a lone surrogate cannot be written as UTF-8
    assert path.read_text() == "{}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_binary_mode_and_an_error_inside_the_block(tmp_path):
    path = tmp_path / "x.bin"
    with atomic_open(path, "wb", fsync=True) as f:
        f.write(b"\x00\x01")
    assert path.read_bytes() == b"\x00\x01"
    with pytest.raises(RuntimeError, match="boom"), atomic_open(path, "wb") as f:
        f.write(b"partial")
        raise RuntimeError("boom")
    assert path.read_bytes() == b"\x00\x01" and [p.name for p in tmp_path.iterdir()] == ["x.bin"]
    with pytest.raises(ValueError, match="mode"), atomic_open(path, "a"):
        pass


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_files_get_the_mode_of_a_plain_open_under_the_umask(tmp_path, umask):
    """mkstemp's private 0600 must not leak into results that colleagues read (0666 less the umask)."""
    old = os.umask(umask)
    try:
        write_text_atomic(tmp_path / "report.json", "{}\n")
        with atomic_open(tmp_path / "best.pt", "wb") as f:
            f.write(b"x")
        with atomic_path(tmp_path / "model.onnx") as tmp:
            tmp.write_bytes(b"onnx")  # a writer that reopens the name
        write_eaf(tmp_path / "clip.eaf", [(0.0, 1.0, "SIGNING")])
    finally:
        os.umask(old)
    for name in ("report.json", "best.pt", "model.onnx", "clip.eaf"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o666 & ~umask, name
