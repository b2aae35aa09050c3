"""Hard negatives (``--hard-negatives``): still or resting hands in view, labelled not signing."""

from __future__ import annotations

import json

import numpy as np
import pytest

from signstgcn.cli.train import main
from signstgcn.data.corpus import load_corpus
from signstgcn.data.groundtruth import build_vocab
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.negatives import StillHands
from signstgcn.data.pipeline import DataConfig, fit_signers, make_dataset
from signstgcn.data.synthetic import generate_dataset
from signstgcn.data.windows import WindowConfig
from tests.conftest import TINY_MODEL

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def det_data(tmp_path_factory):
    return generate_dataset(tmp_path_factory.mktemp("neg") / "det", task="detection", num_signers=2,
                            videos_per_signer=1, seed=3).out_dir


def _config(corpus, hard: float, binary: bool = True) -> DataConfig:
    vocab = build_vocab(corpus.gt, corpus.video_ids, binary=binary, signing_labels=("s",))
    source, names, pseudo = fit_signers(corpus, corpus.video_ids, use_pseudo=False)
    return DataConfig(PartSelection(), corpus.layout_spec, WindowConfig(25, 5), vocab, signer_source=source,
                      signers=names, pseudo_signers=pseudo, hard_negatives=hard)


def test_still_windows_keep_missing_joints_and_barely_move(det_data):
    corpus = load_corpus(det_data)
    layout = corpus.layout
    vid = corpus.video_ids[0]
    frames = corpus.frames[vid]
    vocab = build_vocab(corpus.gt, [vid], binary=True, signing_labels=("s",))
    signing = np.flatnonzero(corpus.gt.frame_labels(vid, len(frames), vocab) == 1)
    raw = frames[signing[5]:signing[5] + 25].copy()  # (T, V, C) while signing: hands up
    raw[:, 3] = np.nan  # a joint never detected
    maker = StillHands(layout, 1.0)
    for seed in range(6):
        out = maker(raw, np.random.default_rng(seed))
        assert out.shape == raw.shape and np.isnan(out[:, 3]).all()
        seen = out[:, np.isfinite(out[..., :2]).all(axis=(0, 2)), :2]  # (T, V', 2) joints seen throughout
        assert seen.std(axis=0).mean() < 0.01  # one held frame: jitter (0.003) and a drift of at most 0.02
        assert np.abs(seen - seen.mean(axis=0, keepdims=True)).max() < 0.03
    wrists = [layout.joint("left_wrist"), layout.joint("right_wrist")]
    wrist = min(wrists, key=lambda j: np.nanmean(raw[:, j, 1]))  # the signing (raised) hand
    shoulders = (layout.joint("left_shoulder"), layout.joint("right_shoulder"))
    rested = [maker(raw, np.random.default_rng(s)) for s in range(20)]
    below = [np.nanmean(o[:, wrist, 1]) > np.nanmean(o[:, shoulders, 1]) + 1.0 * np.nanmean(
        np.abs(o[:, shoulders[0], 0] - o[:, shoulders[1], 0])) for o in rested]
    assert any(below) and not all(below)  # about half the windows rest the hands low, half hold them
    with pytest.raises(ValueError, match="share in"):
        StillHands(layout, 1.5)


def test_the_dataset_turns_that_share_of_training_windows_into_negatives(det_data):
    corpus = load_corpus(det_data)
    plain = make_dataset(corpus, corpus.video_ids, _config(corpus, 0.0), train=True, seed=0)
    half = make_dataset(corpus, corpus.video_ids, _config(corpus, 0.5), train=True, seed=0)
    evaluation = make_dataset(corpus, corpus.video_ids, _config(corpus, 0.5), train=False, seed=0)
    positives = np.flatnonzero(plain.labels == 1)
    labels = np.array([int(half[i]["label"]) for i in positives])
    assert 0.3 < (labels == 0).mean() < 0.7  # about half of the signing windows became negatives
    assert all(int(evaluation[i]["label"]) == 1 for i in positives[:20])  # never at evaluation
    i = int(positives[0])
    np.testing.assert_array_equal(plain[i]["x"].numpy(), make_dataset(  # off: the same samples as before
        corpus, corpus.video_ids, _config(corpus, 0.0), train=True, seed=0)[i]["x"].numpy())
    with pytest.raises(ValueError, match="binary detection only"):
        _config(corpus, 0.2, binary=False)


def test_train_flag_records_it(det_data, tmp_path):
    out = tmp_path / "run"
    assert main(["--data", str(det_data), "--out", str(out), "--binary", "--signing-labels", "s", "--window", "25",
                 "--stride", "10", "--epochs", "1", "--quiet", "--hard-negatives", "0.25", *TINY_MODEL]) == 0
    assert json.loads((out / "config.json").read_text())["data"]["hard_negatives"] == 0.25
    assert main(["--data", str(det_data), "--out", str(tmp_path / "mc"), "--hard-negatives", "0.25",
                 "--epochs", "1", *TINY_MODEL]) == 2  # multi-class: refused in one line
