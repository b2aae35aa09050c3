"""The one atomic text writer every JSON/CSV output goes through."""

from __future__ import annotations

import pytest

from signstgcn.atomic import atomic_open, write_text_atomic


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
