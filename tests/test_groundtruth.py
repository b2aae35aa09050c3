"""Ground-truth parsing, forward-fill semantics, vocabularies."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from signstgcn.data.groundtruth import (
    DROPPED,
    UNLABELED,
    LabelVocab,
    build_vocab,
    parse_groundtruth,
    parse_signing_labels,
)
from signstgcn.errors import DataError


def _gt(tmp_path, text):
    path = tmp_path / "groundtruth.txt"
    path.write_text(text)
    return parse_groundtruth(path)


def test_forward_fill_with_unsorted_lines_comments_and_blank_lines(tmp_path):
    gt = _gt(tmp_path, "# header\nv 6 n\n\nv 2 s   # trailing comment\nw 0 hello world\nv 4 n\n")
    vocab = LabelVocab(binary=True, classes=("not-signing", "signing"), signing_labels=("s",))
    labels = gt.frame_labels("v", 8, vocab)
    np.testing.assert_array_equal(labels, [UNLABELED, UNLABELED, 1, 1, 0, 0, 0, 0])
    assert gt.segments("v", 8) == [(2, 4, "s"), (4, 6, "n"), (6, 8, "n")]
    assert gt.annotations["w"] == [(0, "hello world")]  # labels may contain spaces


def test_label_before_frame_zero_covers_the_start(tmp_path):
    gt = _gt(tmp_path, "v -5 s\nv 3 n\n")
    np.testing.assert_array_equal(gt.frame_labels("v", 5, {"s": 1, "n": 0}), [1, 1, 1, 0, 0])


def test_indices_beyond_the_video_are_counted_and_ignored(tmp_path):
    gt = _gt(tmp_path, "v 0 s\nv 3 n\nv 10 s\nv 12 n\n")
    np.testing.assert_array_equal(gt.frame_labels("v", 5, {"s": 1, "n": 0}), [1, 1, 1, 0, 0])
    assert gt.beyond_video("v", 5) == [(10, 3), (12, 4)]  # (frame, line of the file)


def test_unknown_video_and_unknown_labels(tmp_path):
    gt = _gt(tmp_path, "v 0 a\nv 2 zzz\n")
    np.testing.assert_array_equal(gt.frame_labels("v", 4, {"a": 0}), [0, 0, DROPPED, DROPPED])
    np.testing.assert_array_equal(gt.frame_labels("other", 3, {"a": 0}), [UNLABELED] * 3)


def test_duplicate_frames_last_line_wins_with_a_warning(tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        gt = _gt(tmp_path, "v 0 a\nv 0 b\n")
    assert gt.annotations["v"] == [(0, "b")] and gt.duplicates == 1
    assert "repeat an annotated frame" in caplog.text


@pytest.mark.parametrize("text,match", [
    ("v 0 s\nv 1\n", r"groundtruth\.txt:2: expected '<video_id> <frame_idx> <label>', got 'v 1'"),
    ("v x s\n", r"groundtruth\.txt:1: frame index 'x' is not an integer"),
    ("v 1.5 s\n", r":1: frame index '1.5'"),
    ("# only comments\n\n", "no annotations"),
])
def test_malformed_files_name_file_and_line(tmp_path, text, match):
    with pytest.raises(DataError, match=match):
        _gt(tmp_path, text)


def test_missing_and_binary_garbage_files(tmp_path):
    with pytest.raises(DataError, match="ground-truth file not found"):
        parse_groundtruth(tmp_path / "nope.txt")
    (tmp_path / "gt.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(DataError, match="not UTF-8"):
        parse_groundtruth(tmp_path / "gt.txt")


def test_binary_vocab_matches_signing_labels_case_insensitively(tmp_path):
    gt = _gt(tmp_path, "v 0 N\nv 2 Sign\nv 4 S\n")
    vocab = build_vocab(gt, ["v"], binary=True, signing_labels=parse_signing_labels("s, SIGN"))
    np.testing.assert_array_equal(gt.frame_labels("v", 6, vocab), [0, 0, 1, 1, 1, 1])
    assert vocab.num_classes == 1
    with pytest.raises(DataError, match="no label matches the signing labels signing"):
        build_vocab(gt, ["v"], binary=True, signing_labels=["signing"])


def test_multiclass_vocab_keeps_most_frequent_and_reports_dropped(tmp_path, caplog):
    lines = ["a 0 hello", "b 0 hello", "c 0 hello", "d 0 thanks", "e 0 thanks", "f 0 bye", "g 0 cat"]
    gt = _gt(tmp_path, "\n".join(lines))
    ids = list("abcdefg")
    full = build_vocab(gt, ids, binary=False)
    assert full.classes == ("bye", "cat", "hello", "thanks")
    with caplog.at_level(logging.WARNING):
        top = build_vocab(gt, ids, binary=False, num_classes=3)
    assert top.classes == ("bye", "hello", "thanks")  # tie bye/cat broken alphabetically
    assert top.dropped == {"cat": 1} and "dropped 1 labels" in caplog.text
    assert top.encode("cat") == DROPPED and top.encode("hello") == 1
    with pytest.raises(DataError, match="--num-classes 5 asked but the training videos have only 4 labels"):
        build_vocab(gt, ids, binary=False, num_classes=5)
    only_train = build_vocab(gt, ["a", "d"], binary=False)  # built from the train split only
    assert only_train.classes == ("hello", "thanks")


def test_excluded_labels_are_left_out_of_the_vocabulary_and_their_frames_dropped(tmp_path, caplog):
    lines = ["a 0 hello", "b 0 hello", "c 0 idle", "d 0 thanks", "e 0 idle", "f 0 bye"]
    gt = _gt(tmp_path, "\n".join(lines))
    ids = list("abcdef")
    with caplog.at_level(logging.WARNING):
        vocab = build_vocab(gt, ids, binary=False, exclude=["idle"])
    assert vocab.classes == ("bye", "hello", "thanks") and vocab.dropped == {"idle": 2}
    assert vocab.encode("idle") == DROPPED and "--exclude-labels: idle (2 segments)" in caplog.text
    assert build_vocab(gt, ids, binary=False, exclude=["idle"], num_classes=2).classes == ("bye", "hello")  # ties: a-z
    with pytest.raises(DataError, match="--exclude-labels idel: no such label"):
        build_vocab(gt, ids, binary=False, exclude=["idel"])
    with pytest.raises(ValueError, match="multi-class"):
        build_vocab(gt, ids, binary=True, signing_labels=["hello"], exclude=["idle"])


def test_vocab_round_trip():
    vocab = LabelVocab(binary=False, classes=("a", "b"))
    assert LabelVocab.from_dict(vocab.to_dict()) == vocab
    binary = LabelVocab(binary=True, classes=("not-signing", "signing"), signing_labels=("s",))
    assert LabelVocab.from_dict(binary.to_dict()).encode("S") == 1


def test_signing_labels_parsing():
    assert parse_signing_labels("s,Sign, signing,") == ("s", "sign", "signing")
    with pytest.raises(ValueError, match="at least one label"):
        parse_signing_labels(" , ")
