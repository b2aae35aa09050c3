"""``MultiStreamDetector``: many streams in one batched object give each stream ``IncrementalDetector``'s results."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from signstgcn.inference.multistream import MultiStreamDetector
from signstgcn.inference.predictor import Predictor
from signstgcn.inference.streaming import IncrementalDetector
from signstgcn.model.incremental import BatchedIncrementalBackbone, IncrementalBackbone
from tests.test_streaming import predictor, random_model, stream_frames

pytestmark = pytest.mark.usefixtures("one_thread")


def _single(pred, frames: np.ndarray, stride: int) -> list:
    det = IncrementalDetector(pred, stride=stride, threaded=False)
    steps = [det.push(f) for f in frames]
    return [*steps, det.flush()]


def _assert_same(steps_a: list, steps_b: list) -> None:
    assert len(steps_a) == len(steps_b)
    for a, b in zip(steps_a, steps_b):
        assert a.frame == b.frame and a.final_start == b.final_start
        assert [s for s, _ in a.windows] == [s for s, _ in b.windows]
        np.testing.assert_allclose([p for _, p in a.windows], [p for _, p in b.windows], atol=1e-5)
        np.testing.assert_allclose(a.final, b.final, atol=1e-5)
        assert (a.probability is None) == (b.probability is None)
        if a.probability is not None:
            assert abs(a.probability - b.probability) < 1e-5


@pytest.mark.parametrize("streams, joint_pool", [((), "mean"), (("bone", "motion"), "mean"), ((), "flat")])
def test_batched_backbone_equals_one_backbone_per_stream(streams, joint_pool):
    model = random_model(1, input_streams=("joint", *streams), joint_pool=joint_pool)
    V, C = model.backbone.num_nodes, 2
    rng = np.random.default_rng(0)
    lengths = [30, 9, 41]
    data = [(torch.randn(t, V, C), torch.from_numpy(rng.random((t, V)) > 0.2)) for t in lengths]
    expected = []
    for x, m in data:
        one = IncrementalBackbone(model.backbone, model.streams)
        feats = [f for f in (one.push(x[t], m[t]) for t in range(len(x))) if f is not None] + one.flush()
        expected.append(torch.stack(feats))
    batched = BatchedIncrementalBackbone(model.backbone, model.streams, slots=6)
    slots, got, pos = [4, 0, 2], {0: [], 1: [], 2: []}, [0, 0, 0]
    while any(pos[i] < lengths[i] for i in range(3)):
        live = [i for i in range(3) if pos[i] < lengths[i] and rng.random() < 0.7]  # the streams' clocks differ
        if not live:
            continue
        idx = torch.tensor([slots[i] for i in live])
        done, feats = batched.push(idx, torch.stack([data[i][0][pos[i]] for i in live]),
                                   torch.stack([data[i][1][pos[i]] for i in live]))
        for s, f in zip(done.tolist(), feats):
            got[slots.index(s)].append(f)
        for i in live:
            pos[i] += 1
            if pos[i] == lengths[i]:
                got[i] += batched.flush([slots[i]])[slots[i]]
    for i in range(3):
        torch.testing.assert_close(torch.stack(got[i]), expected[i], atol=1e-5, rtol=0)


@pytest.mark.parametrize("stride, default_input", [(1, False), (8, False), (8, True)])
def test_every_stream_gets_the_single_stream_results_whatever_the_interleaving(stride, default_input):
    pred = predictor(random_model(2))
    if default_input:  # hands relative + canonical bones: the batched normalization's common path
        V = pred.layout.num_nodes
        bones = tuple(np.random.default_rng(1).uniform(0.05, 0.3, V))
        pred = Predictor(pred.model, dataclasses.replace(pred.data, hands_relative=True, bone_lengths=bones))
    lengths = {"alice": 70, "bob": 33, "carol": 12, 7: 51}
    frames = {sid: stream_frames(t, seed=k) for k, (sid, t) in enumerate(lengths.items())}
    expected = {sid: _single(pred, f, stride) for sid, f in frames.items()}
    det = MultiStreamDetector(pred, stride=stride, max_streams=3)
    rng = np.random.default_rng(0)
    got: dict = {sid: [] for sid in frames}
    pos = dict.fromkeys(frames, 0)
    waiting = list(frames)  # streams join in this order when a slot is free; 3 slots for 4 streams
    while waiting or det.streams:
        while waiting and len(det.streams) < 3 and rng.random() < 0.7:
            det.open(waiting.pop(0))
        tick = {sid: frames[sid][pos[sid]] for sid in det.streams if rng.random() < 0.8}
        for sid, step in det.push(tick).items():
            got[sid].append(step)
            pos[sid] += 1
        for sid in [s for s in det.streams if pos[s] == lengths[s]]:
            got[sid].append(det.close(sid))  # leaves in the middle of the others
    for sid in frames:
        _assert_same(got[sid], expected[sid])


def test_join_leave_and_bad_frames_are_per_stream():
    pred = predictor(random_model(3))
    det = MultiStreamDetector(pred, stride=8, max_streams=2)
    a, b = det.open(), det.open()
    assert (a, b) == (0, 1) and det.streams == [0, 1]
    with pytest.raises(ValueError, match="2 streams are open"):
        det.open()
    with pytest.raises(ValueError, match="already open"):
        det.close(b) and det.open(a)
    frames = stream_frames(40, seed=1)
    with pytest.raises(ValueError, match=r"stream 0: frame: expected \(V, C\)"):
        det.push({a: frames[0][:5]})
    assert det._streams[a].count == 0  # nothing was pushed
    with pytest.raises(KeyError, match="no open stream 'zed'"):
        det.push({"zed": frames[0]})
    c = det.open("c")
    steps = [det.push({a: frames[t], c: frames[t]}) for t in range(40)]
    last_a, last_c = det.close(a), det.close("c")
    assert det.streams == [] and len(det._free) == 2
    assert steps[-1][a].windows == steps[-1][c].windows  # same frames, same results in two slots
    np.testing.assert_array_equal(last_a.final, last_c.final)
    empty = det.open()
    assert det.close(empty).frame == -1


def test_bf16_backbone_stays_close_to_float32():
    pred = predictor(random_model(8))
    frames = stream_frames(60, seed=5)
    runs = {}
    for bf16 in (False, True):
        det = MultiStreamDetector(pred, stride=4, max_streams=2, bf16=bf16)
        a = det.open()
        steps = [det.push({a: f})[a] for f in frames] + [det.close(a)]
        runs[bf16] = np.concatenate([s.final for s in steps])
    assert runs[True].shape == runs[False].shape == (60,)
    assert np.nanmax(np.abs(runs[True] - runs[False])) < 0.05  # bfloat16 rounding, not a different model


def _staggered(pred, streams: list, starts: list[int], max_streams: int, bf16: bool) -> dict[int, np.ndarray]:
    """Stream k joins at tick ``starts[k]`` and leaves after its frames: each stream's final probabilities."""
    det = MultiStreamDetector(pred, stride=4, max_streams=max_streams, bf16=bf16)
    ids: dict[int, object] = {}
    out: dict[int, list] = {k: [] for k in range(len(streams))}
    for t in range(max(s + len(f) for s, f in zip(starts, streams, strict=True)) + 1):
        for k, (s, f) in enumerate(zip(starts, streams, strict=True)):
            if t == s:
                ids[k] = det.open()
            elif t == s + len(f):
                out[k].append(det.close(ids.pop(k)).final)
        if ids:
            steps = det.push({sid: streams[k][t - starts[k]] for k, sid in ids.items()})
            for k, sid in ids.items():
                out[k].append(steps[sid].final)
    return {k: np.concatenate(v) for k, v in out.items()}


def _block_sizes(monkeypatch, scratch: list[int] | None = None) -> list[int]:
    """The batch size of every ``_BatchedBlock.push`` from now on (and in ``scratch`` its padding rows: the slots
    past the ring's streams)."""
    from signstgcn.model import incremental

    sizes: list[int] = []
    push = incremental._BatchedBlock.push

    def counting(self, slots, x, m):
        sizes.append(len(slots))
        if scratch is not None:
            scratch.append(int((slots >= len(self.count) - incremental.SCRATCH_SLOTS).sum()))
        return push(self, slots, x, m)

    monkeypatch.setattr(incremental._BatchedBlock, "push", counting)
    return sizes


def test_bf16_batches_take_a_few_padded_shapes_and_keep_each_streams_results(monkeypatch):
    """Streams joining and leaving at different times: every bfloat16 block sees one of the padded batch sizes
    (oneDNN keeps memory per matrix shape), and each stream's probabilities stay those of float32."""
    sizes = _block_sizes(monkeypatch)
    pred = predictor(random_model(8))
    streams = [stream_frames(30 + 7 * k, seed=k) for k in range(6)]
    starts = [0, 3, 5, 11, 12, 20]
    finals, seen = {}, {}
    for bf16 in (False, True):
        sizes.clear()
        finals[bf16], seen[bf16] = _staggered(pred, streams, starts, 8, bf16), set(sizes)
    assert seen[True] <= {1, 2, 4, 8, 16} and len(seen[False] - {1, 2, 4, 8, 16}) > 0  # float32: any size
    for k in range(6):
        a, b = finals[False][k], finals[True][k]
        assert a.shape == b.shape == (len(streams[k]),) and np.nanmax(np.abs(a - b)) < 0.05


def test_bf16_padding_with_many_streams_at_different_depths(monkeypatch):
    """Forty streams joining one per tick, so every block returns a different subset (streams still filling its
    ring): the padding rows are never carried from block to block (they once piled up past the scratch slots and a
    tick failed with an index_copy_ size error), and each stream's results stay those of float32."""
    from signstgcn.model.incremental import padded_batch

    scratch: list[int] = []
    sizes = _block_sizes(monkeypatch, scratch)
    pred = predictor(random_model(8))
    streams = [stream_frames(25 + (5 * k) % 31, seed=k) for k in range(40)]
    starts = list(range(40))
    finals = {}
    for bf16 in (False, True):
        sizes.clear()
        scratch.clear()
        finals[bf16] = _staggered(pred, streams, starts, 48, bf16)
    assert max(sizes) > 16 and all(padded_batch(n) == n for n in sizes)  # the bfloat16 run's blocks
    assert max(scratch) <= 15 and max(scratch) > 0  # padding rows of this block only
    for k in range(40):
        a, b = finals[False][k], finals[True][k]
        assert a.shape == b.shape == (len(streams[k]),) and np.nanmax(np.abs(a - b)) < 0.05
