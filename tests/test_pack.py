"""``signstgcn pack``: a packed folder loads as the same corpus, memory-mapped, and is never used stale."""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from signstgcn.cli.main import main as signstgcn_main
from signstgcn.cli.train import main as train_main
from signstgcn.data.corpus import Corpus, load_corpus
from signstgcn.data.groundtruth import build_vocab
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.pack import FRAMES_FILE, OFFSETS_FILE, PACK_DIRNAME, PACK_FILE, open_pack, pack_folder
from signstgcn.data.pipeline import DataConfig, fit_signers, make_dataset
from signstgcn.data.synthetic import generate_dataset
from signstgcn.data.windows import WindowConfig
from signstgcn.errors import DataError
from tests.conftest import TINY_MODEL, one_error_line, write_video

pytestmark = pytest.mark.usefixtures("one_thread")

FACE = PartSelection(include_face=True, coords=3)


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """Three short synthetic detection videos (NaN hands while resting), labels and signers.txt."""
    out = tmp_path / "data"
    generate_dataset(out, task="detection", num_signers=3, videos_per_signer=1, frames=(60, 80), seed=0,
                     include_face=True)
    return out


def _assert_same_corpus(packed: Corpus, plain: Corpus) -> None:
    assert packed.video_ids == plain.video_ids
    for v in plain.video_ids:
        a, b = packed.frames[v], plain.frames[v]
        assert a.shape == b.shape and a.dtype == b.dtype == np.float32
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), v  # bit-identical, NaNs included
    assert packed.layout_spec == plain.layout_spec and packed.coords == plain.coords
    assert packed.layout.num_nodes == plain.layout.num_nodes
    assert packed.fps == plain.fps and packed.signers == plain.signers and packed.report == plain.report
    assert packed.gt.annotations == plain.gt.annotations


def _assert_memory_mapped(corpus: Corpus) -> None:
    for frames in corpus.frames.values():
        assert isinstance(frames, np.memmap) and not frames.flags.writeable and not frames.flags.owndata


@pytest.mark.parametrize("selection", [PartSelection(), FACE], ids=["pose+hands", "face-xyz"])
def test_packed_corpus_is_bit_identical_and_memory_mapped(data, tmp_path, selection):
    plain = load_corpus(data, selection=selection)
    assert any(np.isnan(f).any() for f in plain.frames.values())  # the NaN bits are compared too
    info = pack_folder(data, tmp_path / "pack", selection)
    assert info.num_frames == plain.total_frames and info.video_ids == plain.video_ids
    packed = load_corpus(tmp_path / "pack", selection=selection)
    _assert_same_corpus(packed, plain)
    _assert_memory_mapped(packed)
    assert packed.data_dir == tmp_path / "pack"
    with pytest.raises(ValueError, match="read-only"):
        packed.frames[plain.video_ids[0]][0, 0, 0] = 1.0  # nothing downstream can write into the pack


def test_loading_a_pack_does_not_read_the_frames_into_memory(tmp_path):
    psutil = pytest.importorskip("psutil", reason="psutil (the [dev] extra) measures resident memory")
    data = tmp_path / "data"
    data.mkdir()
    for k in range(10):
        write_video(data / f"v{k}.npz", 4000, channels=2, seed=k)
    (data / "groundtruth.txt").write_text("".join(f"v{k} 0 s\n" for k in range(10)))
    info = pack_folder(data)
    process = psutil.Process()
    before = process.memory_info().rss
    corpus = load_corpus(data)
    grown = process.memory_info().rss - before
    assert corpus.nbytes == info.nbytes > 20e6
    assert grown < info.nbytes / 10, f"loading the pack grew RSS by {grown / 1e6:.1f} MB"


def test_pack_files_and_sidecars(data, tmp_path):
    pack = tmp_path / "pack"
    pack_folder(data, pack)
    assert sorted(p.name for p in pack.iterdir()) == sorted(
        [FRAMES_FILE, OFFSETS_FILE, PACK_FILE, "groundtruth.txt", "signers.txt"])
    assert (pack / "groundtruth.txt").read_bytes() == (data / "groundtruth.txt").read_bytes()
    opened = open_pack(pack)
    assert opened.frames.shape == (opened.info.num_frames, 67, 2)  # (total_frames, V, C)
    assert opened.offsets[0] == 0 and opened.offsets[-1] == opened.info.num_frames
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind


def test_windows_from_the_pack_equal_windows_from_the_folder(data, tmp_path):
    pack_folder(data, tmp_path / "pack")
    datasets = []
    for corpus in (load_corpus(data), load_corpus(tmp_path / "pack")):
        ids = corpus.video_ids
        vocab = build_vocab(corpus.gt, ids, binary=True, signing_labels=("s",))
        source, names, pseudo = fit_signers(corpus, ids, use_pseudo=True, num_pseudo=2)
        cfg = DataConfig(PartSelection(), corpus.layout_spec, WindowConfig(length=16, stride=3), vocab,
                         signer_source=source, signers=names, pseudo_signers=pseudo)
        datasets.append(make_dataset(corpus, ids, cfg, train=True, seed=5))
    plain, packed = datasets
    assert len(plain) == len(packed) > 20
    for i in range(len(plain)):
        a, b = plain[i], packed[i]
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) for k in a), i


def test_default_pack_is_found_in_the_data_folder(data, caplog):
    plain = load_corpus(data)
    some = load_corpus(data, video_ids=plain.video_ids[1:])
    pack_folder(data)
    assert (data / PACK_DIRNAME / PACK_FILE).is_file()
    with caplog.at_level(logging.WARNING):
        packed = load_corpus(data)
        packed_some = load_corpus(data, video_ids=plain.video_ids[1:])
    assert not caplog.records
    _assert_same_corpus(packed, plain)
    _assert_same_corpus(packed_some, some)
    _assert_memory_mapped(packed)
    assert packed.data_dir == data  # ground truth and signers.txt still come from DIR


def test_labels_signers_and_report_behave_as_for_the_folder(tmp_path, caplog):
    """Unlabeled videos, orphan labels, labels past the end, video_ids and npz signer scalars, as unpacked."""
    data = tmp_path / "data"
    data.mkdir()
    for k in range(3):
        write_video(data / f"v{k}.npz", 12, seed=k, signer=np.array(f"s{k}"))
    (data / "groundtruth.txt").write_text("v0 0 s\nv1 0 n\nghost 0 s\nv0 50 n\n")
    pack_folder(data, tmp_path / "pack")
    for kwargs in ({}, {"require_labels": False}, {"video_ids": ["v2", "v0"], "require_labels": False}):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            plain = load_corpus(data, **kwargs)
        plain_log = caplog.text.replace(str(data), "DIR")
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            packed = load_corpus(tmp_path / "pack", **kwargs)
        _assert_same_corpus(packed, plain)
        assert caplog.text.replace(str(tmp_path / "pack"), "DIR") == plain_log
    assert packed.video_ids == ["v2", "v0"] and packed.signers == {"v2": "s2", "v0": "s0"}
    with pytest.raises(DataError, match="1 requested videos have no landmark file"):
        load_corpus(tmp_path / "pack", video_ids=["v0", "nope"])
    (tmp_path / "pack" / "groundtruth.txt").unlink()
    with pytest.raises(DataError, match="ground-truth file not found"):
        load_corpus(tmp_path / "pack")


@pytest.mark.parametrize("change", ["modified", "touched", "added", "removed"])
def test_stale_pack_warns_and_reads_the_files(data, caplog, change):
    pack_folder(data)
    first = sorted(data.glob("*.npz"))[0]
    if change == "modified":
        with np.load(first) as z:
            arrays = {k: z[k] for k in z.files}
        arrays["pose"] = arrays["pose"] + np.float32(0.01)
        np.savez(first, **arrays)
    elif change == "touched":
        st = first.stat()
        os.utime(first, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    elif change == "added":
        shutil.copy(first, data / "extra.npz")
    else:
        first.unlink()
    with caplog.at_level(logging.WARNING):
        corpus = load_corpus(data, require_labels=False)
    warnings = [r for r in caplog.records if PACK_FILE in r.getMessage()]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert f"1 {'changed' if change in ('modified', 'touched') else change}" in message
    assert f"signstgcn pack {data} --overwrite" in message
    assert not any(isinstance(f, np.memmap) for f in corpus.frames.values())
    _assert_same_corpus(corpus, _load_without_pack(data))


def test_openpose_folders_are_packed_and_a_changed_frame_makes_the_pack_stale(tmp_path, caplog):
    from tests.test_pose_readers import _person, _write_openpose

    rng = np.random.default_rng(0)
    for name, frames in (("a", 12), ("b", 9)):
        _write_openpose(tmp_path / "op" / name, [[_person(rng)] for _ in range(frames)], name=name)
    (tmp_path / "groundtruth.txt").write_text("a 0 s\nb 0 n\n")
    plain = load_corpus(tmp_path)
    info = pack_folder(tmp_path)
    assert info.layout_spec.skeleton == "body25" and info.sources["a"].path == "op/a"
    packed = load_corpus(tmp_path)
    _assert_same_corpus(packed, plain)
    _assert_memory_mapped(packed)
    frame = tmp_path / "op" / "b" / "b_000000000003_keypoints.json"
    frame.write_text(frame.read_text().replace("]", ", 0.0]", 1))  # one frame file edited in place
    with caplog.at_level(logging.WARNING):
        corpus = load_corpus(tmp_path)
    assert "1 changed (e.g. op/b)" in caplog.text
    assert not isinstance(corpus.frames["b"], np.memmap)


def _load_without_pack(data: Path, **kwargs) -> Corpus:
    shutil.rmtree(data / PACK_DIRNAME)
    return load_corpus(data, require_labels=False, **kwargs)


def test_other_parts_fall_back_with_a_warning_or_fail_for_an_explicit_pack(data, tmp_path, caplog):
    pack_folder(data)
    with caplog.at_level(logging.WARNING):
        corpus = load_corpus(data, selection=FACE)
    message = caplog.records[-1].getMessage()
    assert "packed with mediapipe pose(upper)+hands, coords 2" in message
    assert "asked for mediapipe pose(upper)+hands+face(compact), coords 3" in message
    assert f"signstgcn pack {data} --include-pose --include-hands --include-face --coords 3 --overwrite" in message
    assert corpus.frames[corpus.video_ids[0]].shape[1:] == (corpus.layout.num_nodes, 3)
    assert not isinstance(corpus.frames[corpus.video_ids[0]], np.memmap)

    pack_folder(data, tmp_path / "pack")
    with pytest.raises(DataError) as err:
        load_corpus(tmp_path / "pack", selection=FACE)
    text = str(err.value)
    assert str(tmp_path / "pack" / PACK_FILE) in text and "\n" not in text
    assert "packed with mediapipe pose(upper)+hands, coords 2" in text and "face(compact), coords 3" in text
    spec = replace(load_corpus(data).layout_spec, include_hands=False)  # a checkpoint's layout must match too
    with pytest.raises(DataError, match="asked for mediapipe pose"):
        load_corpus(tmp_path / "pack", layout_spec=spec)


def test_existing_output_is_never_silently_replaced(data, tmp_path):
    pack = tmp_path / "pack"
    pack_folder(data, pack)
    with pytest.raises(DataError, match="not empty; pass --overwrite"):
        pack_folder(data, pack, FACE)
    assert open_pack(pack).info.coords == 2
    info = pack_folder(data, pack, FACE, overwrite=True)
    assert info.coords == 3 and open_pack(pack).frames.shape[2] == 3
    with pytest.raises(DataError, match="no pack.json; refusing to replace a folder that is not a pack"):
        pack_folder(data, data, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "pack"]  # nothing left behind


def test_a_failed_pack_leaves_nothing(data):
    (data / "zz_broken.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="zz_broken.npz: not a readable .npz file"):
        pack_folder(data)
    assert not [p.name for p in data.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "offsets"])
def test_damaged_pack_is_a_one_line_error(data, tmp_path, damage, caplog):
    pack = tmp_path / "pack"
    pack_folder(data, pack)
    frames = pack / FRAMES_FILE
    if damage == "missing":
        frames.unlink()
    elif damage == "truncated":
        frames.write_bytes(frames.read_bytes()[:1000])
    elif damage == "garbage":
        frames.write_bytes(b"\x00" * 4096)
    else:
        np.save(pack / OFFSETS_FILE, np.array([0, 5], dtype=np.int64))
    with pytest.raises(DataError) as err:
        load_corpus(pack)
    text = str(err.value)
    assert "\n" not in text and "signstgcn pack" in text
    assert (OFFSETS_FILE if damage == "offsets" else FRAMES_FILE) in text
    # the default pack inside DIR: one warning, then the landmark files are read
    shutil.copytree(pack, data / PACK_DIRNAME)
    with caplog.at_level(logging.WARNING):
        corpus = load_corpus(data)
    assert len(caplog.records) == 1 and "reading the landmark files instead" in caplog.text
    assert corpus.total_frames > 0


def test_cli_packs_then_trains_on_the_pack(data, tmp_path, capsys):
    pack = tmp_path / "pack"
    assert signstgcn_main(["pack", str(data), "--out", str(pack), "--quiet"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "3 videos" in out[0] and "V=67, C=2" in out[0] and str(pack) in out[0]
    assert signstgcn_main(["pack", str(data), "--out", str(pack), "--quiet"]) == 2
    assert "--overwrite" in one_error_line(capsys)
    rc = train_main(["--data", str(pack), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch", "8",
                     "--binary", "--window", "16", "--stride", "8", "--val-fraction", "0", "--quiet", *TINY_MODEL])
    assert rc == 0 and (tmp_path / "run" / "last.pt").is_file()
    flags = ["--include-pose", "--include-hands", "--include-face", "--coords", "3"]  # what the warning suggests
    assert signstgcn_main(["pack", str(data), *flags, "--quiet"]) == 0
    assert "C=3" in capsys.readouterr().out
    assert open_pack(data / PACK_DIRNAME).info.selection == FACE
