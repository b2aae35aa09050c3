"""``signstgcn export``: ONNX / TorchScript graphs equal the PyTorch checkpoint (dynamic batch and time)."""

from __future__ import annotations

import json
import re
import sys
import warnings

import numpy as np
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from signstgcn.cli import export as export_cli
from signstgcn.data.readers import load_landmarks
from signstgcn.data.synthetic import generate_dataset
from signstgcn.inference.export import LogitsModel, UnpackedBiGRU, example_inputs, export_model
from signstgcn.inference.predictor import Predictor, covering_starts, prepare_window, raw_window, sliding_window_scores
from signstgcn.model.temporal import BiGRUAggregator, valid_lengths
from tests.test_inference import make_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def ckpts(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {"binary": make_checkpoint(root / "binary.pt", seed=1),
            "multi": make_checkpoint(root / "multi.pt", classes=("a", "b", "c", "d"), seed=2),
            "streams": make_checkpoint(root / "streams.pt", seed=3, input_streams=("joint", "bone", "motion")),
            "flat": make_checkpoint(root / "flat.pt", classes=("a", "b", "c"), seed=4, joint_pool="flat")}


def _onnxruntime():
    pytest.importorskip("onnx", reason="onnx is not installed (pip install 'signstgcn[onnx]')")
    return pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (pip install 'signstgcn[onnx]')")


def test_unpacked_bigru_equals_the_packed_one():
    torch.manual_seed(0)
    packed = BiGRUAggregator(12, hidden=5).eval()
    unpacked = UnpackedBiGRU(packed).eval()
    x = torch.randn(4, 9, 12)  # (N, T, D)
    valid = torch.ones(4, 9, dtype=torch.bool)
    valid[0, 5:] = False  # padded tail: the backward direction starts at frame 4
    valid[1, 2:4] = False  # a gap inside the window is a real time step
    valid[2] = False  # nothing valid: length 1
    with torch.no_grad():
        got = unpacked(x, valid).numpy()
        np.testing.assert_allclose(got, packed(x, valid).numpy(), atol=1e-6)
        # and against nn.GRU on packed sequences directly (the CUDA path of BiGRUAggregator)
        lengths = valid_lengths(valid)
        seq = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, _ = pad_packed_sequence(packed.gru(seq)[0], batch_first=True, total_length=9)  # (N, T, 2H)
        keep = torch.arange(9)[None] < lengths[:, None]
        ref = (out * keep[..., None]).sum(1) / keep.sum(1, keepdim=True)
        np.testing.assert_allclose(got, ref.numpy(), atol=1e-6)


def test_logits_model_equals_the_model(ckpts):
    pred = Predictor.from_checkpoint(ckpts["binary"])
    wrapper = LogitsModel(pred.model).eval()
    for n, t in ((1, 25), (3, 11), (2, 40)):
        x, mask, stats = example_inputs(pred.model, n, t, seed=n)
        with torch.no_grad():
            np.testing.assert_allclose(wrapper(x, mask, stats).numpy(), pred.model(x, mask, stats).logits.numpy(),
                                       atol=1e-6)


@pytest.mark.parametrize("kind", ["binary", "multi", "streams", "flat"])
def test_onnx_export_matches_pytorch(ckpts, tmp_path, capsys, kind):
    ort = _onnxruntime()
    out = tmp_path / "model.onnx"
    assert export_cli.main(["--ckpt", str(ckpts[kind]), "--format", "onnx", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "max abs diff vs PyTorch" in printed and "dynamic batch and time" in printed
    meta = json.loads(out.with_name("model.onnx.json").read_text())
    assert meta["verification"]["max_abs_diff"] <= 1e-4
    assert {c["batch"] for c in meta["verification"]["checks"]} >= {1, 4}
    assert len({c["time"] for c in meta["verification"]["checks"]}) >= 3
    assert meta["window"] == 25 and meta["task"] == ("multiclass" if kind in ("multi", "flat") else "binary")
    # independent check on batch/time sizes the export never saw
    pred = Predictor.from_checkpoint(ckpts[kind])
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["x", "mask", "stats"]
    for n, t in ((7, 25), (1, 3), (5, 61)):
        x, mask, stats = example_inputs(pred.model, n, t, seed=10 + n)
        got = session.run(None, {"x": x.numpy(), "mask": mask.numpy(), "stats": stats.numpy()})[0]
        with torch.no_grad():
            ref = pred.model(x, mask, stats).logits.numpy()
        assert got.shape == ref.shape
        assert np.abs(got - ref).max() <= 1e-4


def test_onnx_on_real_windows_equals_sliding_window_scores(ckpts, tmp_path):
    ort = _onnxruntime()
    pred = Predictor.from_checkpoint(ckpts["binary"])
    export_model(pred, tmp_path / "m.onnx", "onnx")
    info = generate_dataset(tmp_path / "data", task="detection", num_signers=1, videos_per_signer=1,
                            frames=(60, 60), seed=3)
    frames = pred.frames(load_landmarks(info.out_dir / f"{info.video_ids[0]}.npz"))
    starts = covering_starts(len(frames), pred.window, 7)
    items = [prepare_window(raw_window(frames, int(s), pred.window), pred.layout, pred.transform) for s in starts]
    x, mask, stats = (np.stack(z) for z in zip(*items))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": x, "mask": mask, "stats": stats})[0]
    ref = sliding_window_scores(pred, frames, stride=7).logits
    assert np.abs(got - ref).max() <= 1e-4


@pytest.mark.parametrize("kind", ["multi", "streams"])
def test_torchscript_export(ckpts, tmp_path, kind):
    pred = Predictor.from_checkpoint(ckpts[kind])
    result = export_model(pred, tmp_path / "m.pt", "torchscript")
    assert result.max_abs_diff <= 1e-5 and result.metadata_path.is_file()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        loaded = torch.jit.load(str(tmp_path / "m.pt"))
    x, mask, stats = example_inputs(pred.model, 6, 33, seed=5)
    with torch.no_grad():
        np.testing.assert_allclose(loaded(x, mask, stats).numpy(), pred.model(x, mask, stats).logits.numpy(),
                                   atol=1e-5)


def test_export_refuses_to_overwrite(ckpts, tmp_path, capsys):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"precious")
    assert export_cli.main(["--ckpt", str(ckpts["binary"]), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("signstgcn export: error: ") and "already exists" in err and "--overwrite" in err
    assert out.read_bytes() == b"precious"
    _onnxruntime()
    assert export_cli.main(["--ckpt", str(ckpts["binary"]), "--out", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != b"precious"


def test_export_bad_checkpoint_and_missing_onnx(ckpts, tmp_path, capsys, monkeypatch):
    (tmp_path / "x.pt").write_text("no")
    assert export_cli.main(["--ckpt", str(tmp_path / "x.pt"), "--out", str(tmp_path / "m.onnx")]) == 2
    assert re.search(r"checkpoint .*x\.pt: (not a SignSTGCN checkpoint|cannot be read)", capsys.readouterr().err)
    monkeypatch.setitem(sys.modules, "onnx", None)
    assert export_cli.main(["--ckpt", str(ckpts["binary"]), "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err
    assert "ONNX export needs the onnx package: pip install 'signstgcn[onnx]'" in err
    assert not (tmp_path / "m.onnx").exists() and not list(tmp_path.glob(".m.onnx*"))
