"""Export a checkpoint's model to ONNX or TorchScript, verified against PyTorch.

The exported graph maps the *normalized* model inputs to logits::

    x (N, C, T, V) float32, mask (N, T, V) bool, stats (N, S) float32  ->  logits (N, K) float32

(the preprocessing, :func:`signstgcn.inference.predictor.prepare_window`, stays in Python/numpy; its settings are
written next to the model in ``<out>.json``). The batch axis ``N`` and the time axis ``T`` are dynamic.

The BiGRU of the model runs on packed sequences (its backward direction starts at each window's last
valid frame), which neither exporter supports. :class:`UnpackedBiGRU` computes exactly the same thing
without packing: the forward direction runs over the whole padded window (its outputs before the last
valid frame do not depend on what follows), and the backward direction runs over each sequence reversed
*within its length* (a gather), then un-reversed. It shares the weights of the original GRU, and the
export verifies that the exported model equals the PyTorch model (packed GRU) on windows with and
without padded tails, at several batch sizes and window lengths.
"""

from __future__ import annotations

import copy
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from signstgcn.atomic import atomic_path, write_text_atomic
from signstgcn.errors import MissingDependencyError
from signstgcn.inference.predictor import Predictor
from signstgcn.model.model import SignSTGCNModel
from signstgcn.model.temporal import BiGRUAggregator, masked_mean, valid_lengths

FORMATS = ("onnx", "torchscript")
INPUT_NAMES = ("x", "mask", "stats")
OUTPUT_NAMES = ("logits",)
DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-4
ONNX_HINT = "pip install 'signstgcn[onnx]' (onnx, onnxruntime)"


class UnpackedBiGRU(nn.Module):
    """Drop-in for :class:`BiGRUAggregator` without packed sequences (same outputs; see module docstring)."""

    def __init__(self, source: BiGRUAggregator) -> None:
        super().__init__()
        gru = source.gru
        if gru.num_layers != 1 or not gru.bidirectional or not gru.batch_first:
            raise ValueError("UnpackedBiGRU: expected a one-layer bidirectional batch_first GRU")
        self.out_dim = source.out_dim
        self.forward_gru = nn.GRU(gru.input_size, gru.hidden_size, batch_first=True)
        self.backward_gru = nn.GRU(gru.input_size, gru.hidden_size, batch_first=True)
        with torch.no_grad():
            for name in ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"):
                getattr(self.forward_gru, name).copy_(getattr(gru, name))
                getattr(self.backward_gru, name).copy_(getattr(gru, f"{name}_reverse"))

    def forward(self, x: Tensor, frame_valid: Tensor) -> Tensor:
        N, T, D = x.shape
        lengths = valid_lengths(frame_valid).unsqueeze(1)  # (N, 1)
        t = torch.arange(T, device=x.device).unsqueeze(0)  # (1, T)
        keep = t < lengths  # (N, T)
        rev = torch.where(keep, lengths - 1 - t, t)  # (N, T) reverses [0, length), identity after
        out_f, _ = self.forward_gru(x)  # (N, T, H)
        x_rev = torch.gather(x, 1, rev.unsqueeze(-1).expand(N, T, D))  # (N, T, D)
        out_b, _ = self.backward_gru(x_rev)  # (N, T, H)
        H = out_b.shape[-1]
        out_b = torch.gather(out_b, 1, rev.unsqueeze(-1).expand(N, T, H))  # (N, T, H)
        return masked_mean(torch.cat([out_f, out_b], dim=-1), keep)  # (N, 2H)


class LogitsModel(nn.Module):
    """``(x, mask, stats) -> logits``: the classifier path of a :class:`SignSTGCNModel`, exportable."""

    def __init__(self, model: SignSTGCNModel) -> None:
        super().__init__()
        net = copy.deepcopy(model).cpu().eval()
        if isinstance(net.temporal, BiGRUAggregator):
            net.temporal = UnpackedBiGRU(net.temporal)
        net.signer_head = None  # training-only heads: not part of the exported graph
        net.projection = None
        self.net = net

    def forward(self, x: Tensor, mask: Tensor, stats: Tensor) -> Tensor:
        return self.net(x, mask, stats).logits  # (N, K)


@dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff: float
    dynamic_time: bool
    checks: list[dict[str, Any]]  # per verification input: batch, time, max_abs_diff
    metadata_path: Path | None = None


def example_inputs(model: SignSTGCNModel, batch: int, time: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
    """Random normalized-looking inputs; sample 0 has a padded tail and dropped joints when batch > 1."""
    cfg = model.config
    g = torch.Generator().manual_seed(seed)
    V = model.num_nodes
    x = torch.randn(batch, cfg.in_channels, time, V, generator=g)  # (N, C, T, V)
    mask = torch.rand(batch, time, V, generator=g) > 0.15  # (N, T, V)
    if batch > 1 and time > 2:
        mask[0, time // 2:] = False  # a short video padded to the window
        mask[1, :, : V // 3] = False  # a part never detected
    x = x * mask.unsqueeze(1)
    stats = torch.randn(batch, cfg.signer_stats_dim, generator=g)  # (N, S)
    return x, mask, stats


def _check_shapes(window: int) -> list[tuple[int, int]]:
    return [(1, window), (4, window), (3, max(2, window // 2)), (2, window + 7)]


@torch.no_grad()
def _reference(model: SignSTGCNModel, inputs: tuple[Tensor, Tensor, Tensor]) -> np.ndarray:
    return model(*inputs).logits.float().numpy()


def _verify(run: Any, model: SignSTGCNModel, window: int) -> list[dict[str, Any]]:
    checks = []
    for k, (n, t) in enumerate(_check_shapes(window)):
        inputs = example_inputs(model, n, t, seed=k + 1)
        got = np.asarray(run(inputs), dtype=np.float32)
        ref = _reference(model, inputs)
        if got.shape != ref.shape:
            raise RuntimeError(f"exported model returned shape {got.shape} for batch {n}, time {t}; "
                               f"expected {ref.shape}")
        checks.append({"batch": n, "time": t, "max_abs_diff": float(np.abs(got - ref).max())})
    return checks


def _onnx_runner(path: Path) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingDependencyError(f"verifying the ONNX export needs onnxruntime: {ONNX_HINT} "
                                     "(or pass --no-verify)") from None
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def run(inputs: tuple[Tensor, Tensor, Tensor]) -> np.ndarray:
        feed = {name: t.numpy() for name, t in zip(INPUT_NAMES, inputs)}
        return session.run(list(OUTPUT_NAMES), feed)[0]

    return run


def _export_onnx(wrapper: LogitsModel, inputs: tuple[Tensor, Tensor, Tensor], path: Path, opset: int) -> None:
    try:
        import onnx  # noqa: F401  (torch.onnx serializes through it)
    except ImportError:
        raise MissingDependencyError(f"ONNX export needs the onnx package: {ONNX_HINT}") from None
    dynamic = {"x": {0: "batch", 2: "time"}, "mask": {0: "batch", 1: "time"}, "stats": {0: "batch"},
               "logits": {0: "batch"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about the model's Python-side shape checks
        torch.onnx.export(wrapper, inputs, str(path), dynamo=False, opset_version=opset,
                          input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES), dynamic_axes=dynamic)


def _export_torchscript(wrapper: LogitsModel, inputs: tuple[Tensor, Tensor, Tensor], path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            traced = torch.jit.trace(wrapper, inputs, check_trace=False)
            traced.save(str(path))
        except RuntimeError as err:  # e.g. a Python autograd.Function in the forward pass
            lines = [line.strip() for line in str(err).splitlines() if line.strip()]
            first = lines[0].rstrip(":") if lines else type(err).__name__
            raise RuntimeError(f"TorchScript export failed ({first}); "
                               "try --format onnx") from None


def _torchscript_runner(path: Path) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated in favour of torch.export
        loaded = torch.jit.load(str(path), map_location="cpu")

    def run(inputs: tuple[Tensor, Tensor, Tensor]) -> np.ndarray:
        with torch.no_grad():
            return loaded(*inputs).float().numpy()

    return run


def metadata(predictor: Predictor, fmt: str, opset: int | None) -> dict[str, Any]:
    """What a deployment needs besides the graph: inputs, preprocessing settings, labels, threshold, temperature."""
    cfg = predictor.model.config
    data = predictor.data
    return {
        "format": fmt,
        "opset": opset,
        "inputs": {
            "x": ["batch", cfg.in_channels, "time", predictor.layout.num_nodes],
            "mask": ["batch", "time", predictor.layout.num_nodes],
            "stats": ["batch", cfg.signer_stats_dim],
        },
        "outputs": {"logits": ["batch", cfg.num_classes]},
        "task": "binary" if predictor.binary else "multiclass",
        "classes": list(data.vocab.classes),
        "threshold": predictor.best_threshold if predictor.binary else None,
        "temperature": predictor.temperature,
        "probabilities": ("sigmoid(logits / temperature); threshold applies to it" if predictor.binary
                          else "softmax(logits / temperature)"),
        "window": data.window.length,
        "layout": predictor.layout.name,
        "preprocessing": f"signstgcn.inference.predictor.prepare_window: Normalize (per window; input "
                         f"{data.representation()}: settings under data) + signer_statistics",
        "data": data.to_dict(),
        "checkpoint": str(predictor.path) if predictor.path else None,
    }


def export_model(
    predictor: Predictor,
    out: str | Path,
    fmt: str = "onnx",
    *,
    opset: int = DEFAULT_OPSET,
    verify: bool = True,
    tolerance: float = DEFAULT_TOLERANCE,
    write_metadata: bool = True,
) -> ExportResult:
    """Export ``predictor``'s model to ``out`` (written atomically, only after verification passes).

    Raises RuntimeError when the exported model differs from PyTorch by more than ``tolerance``
    (max absolute logit difference over the verification inputs); nothing is written then.
    """
    if fmt not in FORMATS:
        raise ValueError(f"Invalid format {fmt!r}. Only {', '.join(FORMATS)} are supported")
    out = Path(out)
    model = copy.deepcopy(predictor.model).cpu().eval()
    wrapper = LogitsModel(model).eval()
    window = predictor.window
    inputs = example_inputs(model, 2, window)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:  # replaces out only when the export verified
        if fmt == "onnx":
            _export_onnx(wrapper, inputs, tmp, opset)
            runner = _onnx_runner(tmp) if verify else None
        else:
            _export_torchscript(wrapper, inputs, tmp)
            runner = _torchscript_runner(tmp) if verify else None
        checks = _verify(runner, model, window) if runner is not None else []
        worst = max((c["max_abs_diff"] for c in checks), default=float("nan"))
        if checks and not worst <= tolerance:
            raise RuntimeError(f"the {fmt} export differs from PyTorch by {worst:.3g} (tolerance {tolerance:g}); "
                               "nothing was written")
    meta_path = None
    if write_metadata:
        meta = metadata(predictor, fmt, opset if fmt == "onnx" else None)
        meta["verification"] = {"max_abs_diff": worst if checks else None, "checks": checks, "tolerance": tolerance}
        meta_path = out.with_name(out.name + ".json")
        write_text_atomic(meta_path, json.dumps(meta, indent=2))
    return ExportResult(out, fmt, worst, dynamic_time=True, checks=checks, metadata_path=meta_path)
