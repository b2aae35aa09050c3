"""Frame-by-frame backbone and the incremental streaming detector against the offline computation.

Models have random weights and random BatchNorm statistics and edge importances, so the folded
weights are exercised; no training is needed here (the trained-detector comparison is in
tests/test_inference.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from signstgcn.data.groundtruth import LabelVocab
from signstgcn.data.landmarks import PartSelection
from signstgcn.data.pipeline import DataConfig
from signstgcn.data.windows import WindowConfig
from signstgcn.errors import CheckpointError
from signstgcn.inference.predictor import (
    Predictor,
    frame_probabilities,
    has_tail_window,
    sigmoid,
    sliding_window_scores,
)
from signstgcn.inference.streaming import IncrementalDetector, StreamingDetector
from signstgcn.model.config import ModelConfig
from signstgcn.model.incremental import IncrementalBackbone
from signstgcn.model.model import SignSTGCNModel

pytestmark = pytest.mark.usefixtures("one_thread")

WINDOW = 25
SPEC = PartSelection().layout_spec()


def random_model(seed: int = 0, **config) -> SignSTGCNModel:
    """Eval-mode model whose BatchNorms and edge importances are far from their initial identity."""
    torch.manual_seed(seed)
    model = SignSTGCNModel(ModelConfig(layout=SPEC, stgcn_channels=(16, 32, 32), temporal_hidden=16,
                                       signer_emb_dim=8, **config))
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.normal_(0, 0.3)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1.0, 0.3)
                m.bias.normal_(0, 0.3)
        for p in model.backbone.edge_importance or ():
            p.uniform_(0.5, 1.5)
    return model.eval()


def predictor(model: SignSTGCNModel, binary: bool = True) -> Predictor:
    vocab = LabelVocab(True, ("n", "s"), ("s",)) if binary else LabelVocab(False, ("a", "b", "c"))
    data = DataConfig(selection=PartSelection(), layout=SPEC, window=WindowConfig(WINDOW, 1), vocab=vocab)
    return Predictor(model, data)


def stream_frames(T: int, seed: int = 0, still_shoulders: bool = False) -> np.ndarray:
    """(T, V, C) raw frames: a body in the unit square moving randomly, some joints and one frame missing."""
    rng = np.random.default_rng(seed)
    layout = SPEC.build()
    base = rng.uniform(0.3, 0.7, size=(1, layout.num_nodes, 2))
    frames = (base + np.cumsum(rng.normal(0, 0.01, size=(T, layout.num_nodes, 2)), axis=0)).astype(np.float32)
    frames[rng.random((T, layout.num_nodes)) < 0.1] = np.nan
    frames[T // 3] = np.nan  # a frame without any detection
    if still_shoulders:
        for name, x in (("left_shoulder", 0.6), ("right_shoulder", 0.4)):
            frames[:, layout.joint(name)] = (x, 0.5)
    return frames


# ------------------------------------------------------------------------------------------ backbone


@pytest.mark.parametrize("T, joint_pool", [(25, "mean"), (7, "mean"), (3, "mean"), (1, "mean"), (25, "flat"),
                                           (3, "flat")])
def test_incremental_backbone_equals_offline_window(T, joint_pool):
    """Pushing a window's frames one by one, then flushing, gives the offline backbone's features (either
    pooling over joints)."""
    model = random_model(joint_pool=joint_pool)
    V = model.num_nodes
    torch.manual_seed(1)
    x = torch.randn(1, 2, T, V)
    mask = torch.rand(1, T, V) > 0.2
    mask[0, T // 2] = False  # a frame without any joint
    x[~mask.unsqueeze(1).expand_as(x)] = float("nan")  # absent joints are NaN, as in raw data
    with torch.inference_mode():
        ref = model.backbone(x, mask)[0]  # (T, D)
    inc = IncrementalBackbone(model.backbone)
    assert inc.lag == 1 + 2 + 3  # (kernel - 1) / 2 * dilation, summed
    out = [inc.push(x[0, :, t].t(), mask[0, t]) for t in range(T)]
    assert all(o is None for o in out[:inc.lag])  # look-ahead: frame t comes out at push t + lag
    got = torch.stack([o for o in out if o is not None] + inc.flush())
    assert got.shape == ref.shape
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    # flush resets: a second stream gives the same result
    again = [inc.push(x[0, :, t].t(), mask[0, t]) for t in range(T)]
    torch.testing.assert_close(torch.stack([o for o in again if o is not None] + inc.flush()), ref,
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("streams", [("joint", "bone", "motion"), ("motion",)])
def test_incremental_backbone_with_input_streams_equals_offline_window(streams):
    """Bone and motion channels computed frame by frame (motion from the previous pushed frame) give the
    offline model's backbone features of a window."""
    model = random_model(input_streams=streams)
    T, V = 11, model.num_nodes
    torch.manual_seed(2)
    x = torch.randn(1, 2, T, V)
    mask = torch.rand(1, T, V) > 0.2
    x[~mask.unsqueeze(1).expand_as(x)] = float("nan")
    with torch.inference_mode():
        ref = model.backbone(model.streams(x, mask), mask)[0]  # (T, D)
    inc = IncrementalBackbone(model.backbone, model.streams)
    assert inc.in_channels == 2
    out = [inc.push(x[0, :, t].t(), mask[0, t]) for t in range(T)]
    got = torch.stack([o for o in out if o is not None] + inc.flush())
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    # a new stream starts without motion from the old one
    again = [inc.push(x[0, :, t].t(), mask[0, t]) for t in range(T)]
    torch.testing.assert_close(torch.stack([o for o in again if o is not None] + inc.flush()), ref,
                               atol=1e-5, rtol=1e-5)


def test_incremental_backbone_without_residual_dilation_or_edge_importance():
    model = random_model(stgcn_kernel=1, stgcn_dilations=(1, 1, 1), edge_importance=False)
    inc = IncrementalBackbone(model.backbone)
    assert inc.lag == 0
    x, mask = torch.randn(1, 2, 5, model.num_nodes), torch.ones(1, 5, model.num_nodes, dtype=torch.bool)
    with torch.inference_mode():
        ref = model.backbone(x, mask)[0]
    got = torch.stack([inc.push(x[0, :, t].t(), mask[0, t]) for t in range(5)])
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)
    assert inc.flush() == []


def test_incremental_backbone_refuses_training_mode_and_bad_frames():
    model = random_model()
    with pytest.raises(ValueError, match="eval-mode"):
        IncrementalBackbone(model.train().backbone)
    inc = IncrementalBackbone(model.eval().backbone)
    with pytest.raises(ValueError, match=r"expected x \(V, C\) = \(67, 2\)"):
        inc.push(torch.zeros(10, 2), torch.ones(10, dtype=torch.bool))


# ------------------------------------------------------------------------------------------ detector


def _run(detector, frames: np.ndarray) -> tuple[list[tuple[int, float]], np.ndarray]:
    windows, final = [], np.full(len(frames), np.nan, dtype=np.float32)
    for t in range(len(frames) + 1):
        step = detector.push(frames[t]) if t < len(frames) else detector.flush()
        windows += step.windows
        assert step.window == (step.windows[-1] if step.windows else None)
        assert np.isnan(final[step.final_start:step.final_start + len(step.final)]).all()  # each frame once
        final[step.final_start:step.final_start + len(step.final)] = step.final
    return windows, final


def _offline(pred: Predictor, frames: np.ndarray, stride: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    scores = sliding_window_scores(pred, frames, stride=stride)
    probs = sigmoid(scores.logits[:, 0])
    tail = has_tail_window(scores.starts, len(frames), WINDOW, stride)
    return scores.starts, probs, frame_probabilities(probs, scores.starts, WINDOW, len(frames), tail=tail)


@pytest.mark.parametrize("threaded", [False, True])
@pytest.mark.parametrize("stride,T", [(1, 60), (4, 83), (25, 50), (3, 12)])
def test_incremental_detector_equals_offline_without_temporal_context(stride, T, threaded):
    """With kernel 1 (no temporal receptive field) and still shoulders (one normalization for every window),
    the incremental detector's windows and final frames are the offline ones, tail and short streams too."""
    pred = predictor(random_model(stgcn_kernel=1))
    frames = stream_frames(T, still_shoulders=True)
    starts, probs, frame_probs = _offline(pred, frames, stride)
    with IncrementalDetector(pred, stride=stride, threaded=threaded) as det:
        windows, final = _run(det, frames)
    assert [s for s, _ in windows] == starts.tolist()
    np.testing.assert_allclose([p for _, p in windows], probs, atol=1e-5)
    np.testing.assert_allclose(final, frame_probs, atol=1e-5)


def test_incremental_detector_first_window_is_exact_and_later_ones_close():
    """Default dilations: the stream's first window has the offline window's zero padding on both sides
    (stream start, flush), so it is exact; later windows see their real neighbours instead."""
    pred = predictor(random_model())
    frames = stream_frames(WINDOW, still_shoulders=True)
    _, probs, _ = _offline(pred, frames, 1)
    det = IncrementalDetector(pred, stride=1, threaded=False)
    windows, _ = _run(det, frames)
    assert windows == [(0, pytest.approx(float(probs[0]), abs=1e-5))]
    assert det.latency_frames == det.lag == 6

    long = stream_frames(90, seed=3)
    starts, probs, frame_probs = _offline(pred, long, 5)
    windows, final = _run(IncrementalDetector(pred, stride=5, threaded=False), long)
    assert [s for s, _ in windows] == starts.tolist()
    assert not np.isnan(final).any()
    # same inputs, different padding and normalization: close, not equal (the trained-model effect is in
    # tests/test_inference.py and bench/streaming_accuracy.py)
    assert np.abs(np.array([p for _, p in windows]) - probs).max() < 0.05


def test_incremental_detector_with_motion_stream():
    """A motion-stream model streams too: its first window (no motion before frame 0 either way) is the
    offline one; later windows differ only by the real motion at their first frame and their padding."""
    pred = predictor(random_model(input_streams=("joint", "bone", "motion")))
    frames = stream_frames(WINDOW, still_shoulders=True)
    _, probs, _ = _offline(pred, frames, 1)
    windows, _ = _run(IncrementalDetector(pred, stride=1, threaded=False), frames)
    assert windows == [(0, pytest.approx(float(probs[0]), abs=1e-5))]
    long = stream_frames(60, seed=4)
    starts, probs, _ = _offline(pred, long, 5)
    windows, final = _run(IncrementalDetector(pred, stride=5, threaded=False), long)
    assert [s for s, _ in windows] == starts.tolist() and not np.isnan(final).any()
    assert np.abs(np.array([p for _, p in windows]) - probs).max() < 0.05


def test_incremental_detector_reset_and_part_dicts():
    pred = predictor(random_model())
    frames = stream_frames(40)
    det = IncrementalDetector(pred, stride=4, threaded=False)
    first, _ = _run(det, frames)
    det.reset()
    again, _ = _run(det, frames)
    assert again == first
    layout = pred.layout
    parts = {"pose": np.full((33, 2), np.nan, np.float32), "left_hand": np.zeros((21, 2), np.float32),
             "right_hand": np.zeros((21, 2), np.float32)}
    assert det.push(parts).frame == 0  # a frame given per part (nothing detected) is accepted
    with pytest.raises(ValueError, match=f"expected \\(V, C\\) with V={layout.num_nodes}"):
        det.push(np.zeros((10, 2)))


def test_incremental_detector_refuses_what_it_cannot_stream():
    with pytest.raises(CheckpointError, match="needs a binary"):
        IncrementalDetector(predictor(random_model(num_classes=3), binary=False))
    with pytest.raises(ValueError, match="stride must be in 1..window=25"):
        IncrementalDetector(predictor(random_model()), stride=26)
    with pytest.raises(CheckpointError, match="needs a binary"):
        StreamingDetector(predictor(random_model(num_classes=3), binary=False))


def test_incremental_detector_with_the_invariant_input_representation():
    """Face channels, canonical bones, levelled shoulders and hands relative stream too (each frame normalized
    with its trailing window's measurements): same windows as offline, probabilities close."""
    import dataclasses

    layout = SPEC.build()
    model = random_model(in_channels=4, joint_pool="mean")  # its sensitivity to the options is measured below
    base = predictor(model)
    data = dataclasses.replace(base.data, hands_relative=True, face_channels=True, level_shoulders=True,
                               bone_lengths=tuple(np.full(layout.num_nodes, 0.2)))
    pred = Predictor(model, data)
    frames = stream_frames(80, seed=5, still_shoulders=True)
    starts, probs, _ = _offline(pred, frames, 5)
    windows, final = _run(IncrementalDetector(pred, stride=5, threaded=False), frames)
    assert [s for s, _ in windows] == starts.tolist()
    assert not np.isnan(final).any()
    streamed = np.array([p for _, p in windows])
    _, plain, _ = _offline(Predictor(model, dataclasses.replace(data, hands_relative=False, bone_lengths=(),
                                                                 level_shoulders=False)), frames, 5)
    assert np.abs(plain - probs).max() > 1e-3  # the options reach the model
    assert np.abs(streamed - probs).max() < 0.05  # as close as the plain representation streams (test above)
