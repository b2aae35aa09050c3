"""Every performance figure of the project in one run, one JSON line per figure (issue 7's targets).

    python bench/run.py                      # the full run (~5 min on 2 CPU cores)
    python bench/run.py --frames 200000      # smaller dataset, quicker
    python bench/run.py --device cuda        # on a GPU: the model figures with fp32 and bf16 autocast

Figures, all on generated data (the project's synthetic MediaPipe-like generator, tiled to ``--frames``):

- ``loader``: stride-1 windows of ``--window`` frames served per second by the training DataLoader
  (augmentations on, shuffled, batch 32), in RAM and from a ``signstgcn pack`` memory-mapped cache;
- ``dataset_memory``: resident memory the stride-1 dataset adds, over the raw landmark bytes
  (frames x joints x coords x 4); for the pack, the pages it maps after one pass over the windows;
- ``train`` / ``infer``: windows per second of the default model (batch 32, pose + hands, 67 joints),
  fp32 and bf16 autocast; ``flops_per_window`` from torch's flop counter and the achieved FLOP/s as a
  fraction of a same-run fp32 matmul (``matmul``, 2048 x 2048);
- ``loader_vs_train``: loader windows/s over fp32 training windows/s (target >= 5);
- ``streaming``: frames per second and per-frame latency (wall time of ``push``, p50/p99) of
  :class:`signstgcn.inference.streaming.IncrementalDetector` (and the exact :class:`StreamingDetector` for
  comparison) on one long stream, default model, one torch thread;
- ``multistream``: frames per second of one :class:`signstgcn.inference.multistream.MultiStreamDetector` serving
  1, 8, 32 and 128 streams (no network; ``bench/serve_load.py`` measures the server);
- ``train_busy_cpu``: training windows/s of the demo detector idle and beside a competing busy process, with
  torch's default OpenMP settings and with SignSTGCN's (``bench/busy_cpu.py``, ~4 min; ``--skip busy``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, RandomSampler

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from busy_cpu import SETTINGS, bench_busy_cpu  # noqa: E402
from model_speed import Runner, current_model  # noqa: E402

from signstgcn.data.corpus import load_corpus  # noqa: E402
from signstgcn.data.groundtruth import LabelVocab  # noqa: E402
from signstgcn.data.landmarks import PartSelection  # noqa: E402
from signstgcn.data.pipeline import DataConfig, make_dataset  # noqa: E402
from signstgcn.data.synthetic import generate_dataset  # noqa: E402
from signstgcn.data.windows import WindowConfig  # noqa: E402
from signstgcn.inference.multistream import MultiStreamDetector  # noqa: E402
from signstgcn.inference.predictor import Predictor  # noqa: E402
from signstgcn.inference.streaming import IncrementalDetector, StreamingDetector  # noqa: E402
from signstgcn.model import ModelConfig, SignSTGCNModel  # noqa: E402


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--frames", type=int, default=1_000_000, help="frames in the stride-1 dataset (default 1M)")
    p.add_argument("--window", type=int, default=25)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--loader-windows", type=int, default=20_000, help="windows timed per loader figure")
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers for the loader figure")
    p.add_argument("--reps", type=int, default=5, help="timed model steps (median reported)")
    p.add_argument("--stream-frames", type=int, default=3000, help="frames of the timed stream")
    p.add_argument("--stream-stride", type=int, default=8, help="IncrementalDetector window stride")
    p.add_argument("--device", default="cpu")
    p.add_argument("--skip", default="", help="comma list of figures to skip: loader, pack, model, streaming, busy")
    p.add_argument("--seed", type=int, default=0)
    return p


def emit(figure: str, **fields: Any) -> None:
    print(json.dumps({"figure": figure, **fields}), flush=True)


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


# ------------------------------------------------------------------------------------------ data


def write_tiled_folder(tmp: Path, total: int, seed: int) -> Path:
    """A user-format folder of at least ``total`` frames: the generator's detection videos (x, y only),
    copied with small random shifts under new ids, and their ground truth."""
    src = tmp / "synthetic"
    generate_dataset(src, task="detection", num_signers=4, seed=seed)
    rng = np.random.default_rng(seed)
    gt: dict[str, list[str]] = {}
    for line in (src / "groundtruth.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            vid, frame, label = line.split()
            gt.setdefault(vid, []).append(f"{frame} {label}")
    out = tmp / "tiled"
    out.mkdir()
    videos = [(p.stem, dict(np.load(p))) for p in sorted(src.glob("*.npz"))]
    lines, count, k = [], 0, 0
    while count < total:
        for vid, arrays in videos:
            shift = rng.normal(0, 0.01, size=2).astype(np.float32)
            parts = {name: arrays[name][..., :2] + shift for name in ("pose", "left_hand", "right_hand")}
            new = f"{vid}_{k:05d}"
            np.savez(out / f"{new}.npz", **parts)
            lines += [f"{new} {rest}" for rest in gt[vid]]
            count += len(parts["pose"])
            k += 1
            if count >= total:
                break
    (out / "groundtruth.txt").write_text("\n".join(lines) + "\n")
    return out


def time_loader(ds: Any, batch: int, windows: int, workers: int, seed: int) -> float:
    sampler = RandomSampler(ds, generator=torch.Generator().manual_seed(seed))
    loader = DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=workers)
    seen, t0 = 0, time.perf_counter()
    for b in loader:
        seen += len(b["x"])
        if seen >= windows:
            break
    return seen / (time.perf_counter() - t0)


def dataset_figures(args: argparse.Namespace, folder: Path, storage: str, extra: dict[str, Any]) -> float:
    """Memory and loader figures of the stride-1 training set of ``folder`` (a user folder or a pack)."""
    vocab = LabelVocab(True, ("n", "s"), ("s",))
    gc.collect()
    before = rss_bytes()
    corpus = load_corpus(folder)
    config = DataConfig(selection=PartSelection(), layout=corpus.layout_spec,
                        window=WindowConfig(args.window, 1), vocab=vocab)
    ds = make_dataset(corpus, corpus.video_ids, config, train=True, seed=args.seed)
    for v in corpus.video_ids:  # read every frame once (maps all of a pack's pages: the worst case)
        float(np.nansum(corpus.frames[v]))
    added = rss_bytes() - before
    raw = corpus.nbytes
    emit("dataset_memory", storage=storage, frames=corpus.total_frames, windows=len(ds),
         raw_mb=round(raw / 2**20, 1), resident_mb=round(added / 2**20, 1), ratio=round(added / raw, 3),
         target="<= 1.5", **extra)
    rate = time_loader(ds, args.batch, args.loader_windows, args.workers, args.seed)
    emit("loader", storage=storage, stride=1, windows_per_s=round(rate, 1), workers=args.workers,
         augment=True, batch=args.batch)
    return rate


def bench_data(args: argparse.Namespace, tmp: Path, skip: set[str]) -> float:
    """Loader and memory figures, in RAM and (unless skipped) from a pack; returns the slower loader rate."""
    folder = write_tiled_folder(tmp, args.frames, args.seed)
    rates = [dataset_figures(args, folder, "ram", {})]
    gc.collect()
    if "pack" not in skip:
        from signstgcn.data.pack import pack_folder

        t0 = time.perf_counter()
        pack_folder(folder, tmp / "packed", PartSelection())
        seconds = round(time.perf_counter() - t0, 1)
        rates.append(dataset_figures(args, tmp / "packed", "pack", {"pack_seconds": seconds}))
    return min(rates)


# ------------------------------------------------------------------------------------------ model


def matmul_flops(device: str, n: int = 2048, reps: int = 5) -> float:
    """FLOP/s of an fp32 ``n x n`` matmul on ``device`` (the achievable peak the model is compared to)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    times = []
    for _ in range(reps):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        a @ b
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / statistics.median(times)


def bench_model(args: argparse.Namespace) -> dict[tuple[str, str], float]:
    """Train / infer windows per second of the default model, fp32 and bf16; FLOP/s vs the matmul's."""
    ns = argparse.Namespace(seed=args.seed, device=args.device, batch=args.batch, window=args.window)
    runner = Runner("default", current_model, ModelConfig(num_signers=4, supcon_dim=0), ns)
    peak = matmul_flops(args.device)
    emit("matmul", dtype="fp32", n=2048, gflops=round(peak / 1e9, 1), device=args.device)
    rates = {}
    for mode in ("train", "infer"):
        flops = runner.flops(mode, "fp32")
        emit("flops_per_window", mode=mode, gflop=round(flops / args.batch / 1e9, 4))
        for dtype in ("fp32", "bf16"):
            runner.step(mode, dtype)  # warm-up
            times = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                runner.step(mode, dtype)
                times.append(time.perf_counter() - t0)
            sec = statistics.median(times)
            rates[(mode, dtype)] = args.batch / sec
            achieved = flops / sec
            emit(mode, dtype=dtype, batch=args.batch, window=args.window, joints=runner.model.num_nodes,
                 windows_per_s=round(args.batch / sec, 1), ms_per_batch=round(sec * 1e3, 1),
                 gflops=round(achieved / 1e9, 1), fraction_of_fp32_matmul=round(achieved / peak, 3),
                 target=(">= 0.30" if mode == "train" else ">= 0.40") if dtype == "fp32" else None,
                 threads=torch.get_num_threads(), device=args.device)
    return rates


# ------------------------------------------------------------------------------------------ streaming


def stream_predictor(window: int) -> Predictor:
    spec = PartSelection().layout_spec()
    torch.manual_seed(0)
    model = SignSTGCNModel(ModelConfig(layout=spec)).eval()
    data = DataConfig(selection=PartSelection(), layout=spec, window=WindowConfig(window, 1),
                      vocab=LabelVocab(True, ("n", "s"), ("s",)))
    return Predictor(model, data)


def time_stream(detector: Any, frames: np.ndarray) -> tuple[float, np.ndarray]:
    """(frames per second including flush, per-push seconds)."""
    pushes = np.empty(len(frames))
    t0 = time.perf_counter()
    for t in range(len(frames)):
        s = time.perf_counter()
        detector.push(frames[t])
        pushes[t] = time.perf_counter() - s
    detector.flush()
    return len(frames) / (time.perf_counter() - t0), pushes


def bench_streaming(args: argparse.Namespace, tmp: Path) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        pred = stream_predictor(args.window)
        folder = tmp / "stream"
        generate_dataset(folder, task="detection", num_signers=2, seed=args.seed + 1)
        corpus = load_corpus(folder)
        frames = np.concatenate([corpus.frames[v] for v in corpus.video_ids])
        frames = np.concatenate([frames] * (args.stream_frames // len(frames) + 1))[:args.stream_frames]
        runs: list[tuple[str, Any, np.ndarray]] = [
            ("incremental", IncrementalDetector(pred, stride=args.stream_stride, threaded=True), frames),
            ("incremental-1core", IncrementalDetector(pred, stride=args.stream_stride, threaded=False), frames),
            ("exact", StreamingDetector(pred, stride=args.stream_stride), frames[:500]),
        ]
        for name, det, fr in runs:
            time_stream(det, fr[:200])  # warm-up
            fps, pushes = time_stream(det, fr)
            emit("streaming", method=name, stride=args.stream_stride, frames=len(fr), fps=round(fps, 1),
                 p50_ms=round(float(np.percentile(pushes, 50)) * 1e3, 3),
                 p99_ms=round(float(np.percentile(pushes, 99)) * 1e3, 3),
                 target="fps >= 1000, p99 <= 2 ms" if name == "incremental" else None,
                 threads="1 torch thread" + (" + 1 head thread" if name == "incremental" else ""))
            if hasattr(det, "close"):
                det.close()
        bench_multistream(args, pred, frames)
    finally:
        torch.set_num_threads(threads)


def bench_multistream(args: argparse.Namespace, pred: Predictor, frames: np.ndarray) -> None:
    """Frames per second of one :class:`MultiStreamDetector` serving 1, 8, 32 and 128 streams (no network): each
    tick pushes the next frame of every stream (streams start at different frames of the recording)."""
    for n, bf16 in ((1, False), (8, False), (32, False), (128, False), (128, True)):
        det = MultiStreamDetector(pred, stride=args.stream_stride, max_streams=n, bf16=bf16)
        ids = [det.open() for _ in range(n)]
        ticks = max(50, args.stream_frames // (4 * n))
        offsets = [(k * 37) % len(frames) for k in range(n)]
        for t in range(20):  # warm-up
            det.push({i: frames[(offsets[i] + t) % len(frames)] for i in ids})
        tic = time.perf_counter()
        for t in range(20, 20 + ticks):
            det.push({i: frames[(offsets[i] + t) % len(frames)] for i in ids})
        seconds = time.perf_counter() - tic
        emit("multistream", streams=n, bf16=bf16, stride=args.stream_stride, ticks=ticks,
             fps=round(n * ticks / seconds, 1),
             tick_ms=round(seconds / ticks * 1e3, 3), threads="1 torch thread",
             target="3000 frames/s at 100 streams (with the network: bench/serve_load.py)" if n == 128 else None)


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    skip = {s for s in args.skip.split(",") if s}
    emit("machine", cpus=os.cpu_count(), torch=torch.__version__, threads=torch.get_num_threads(),
         device=args.device, cuda=torch.cuda.get_device_name(0) if args.device.startswith("cuda") else None)
    with tempfile.TemporaryDirectory(prefix="signstgcn-bench-") as name:
        tmp = Path(name)
        loader_rate = None if "loader" in skip else bench_data(args, tmp, skip)
        rates = {} if "model" in skip else bench_model(args)
        if loader_rate is not None and rates:
            emit("loader_vs_train", ratio=round(loader_rate / rates[("train", "fp32")], 1),
                 ratio_bf16=round(loader_rate / rates[("train", "bf16")], 1), target=">= 5")
        if "streaming" not in skip and args.device == "cpu":
            bench_streaming(args, tmp)
        if "busy" not in skip and args.device == "cpu":
            bench_busy_cpu(["idle", "python", "torch"], list(SETTINGS), 1, tmp)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
