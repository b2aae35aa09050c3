"""Model speed on a random batch: one JSON line per (config, mode, dtype, implementation).

    python bench/model_speed.py                          # default + compact, train + infer, fp32 + bf16
    python bench/model_speed.py --baseline HEAD          # also the model code of a git revision, interleaved
    python bench/model_speed.py --configs compact --modes train --dtypes bf16 --reps 9 --threads 1

``train`` is one optimizer step (forward, loss, backward, AdamW); ``infer`` one eval-mode forward under
``torch.no_grad``. ``bf16`` is CPU/CUDA autocast. Timings are medians over ``--reps`` repetitions; with
``--baseline`` every repetition runs the current and the baseline implementation back to back, so both
see the same machine load. FLOPs are counted once per implementation with
``torch.utils.flop_counter.FlopCounterMode`` (2 per multiply-add; the two implementations do not run the
same number of FLOPs, so compare ``ms`` first), ``gflops`` is that count over the median time.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from signstgcn.model import ModelConfig  # noqa: E402
from signstgcn.model import model as current_model  # noqa: E402

CONFIGS: dict[str, dict[str, Any]] = {
    "default": {},
    "compact": {"stgcn_channels": (32, 64, 64), "temporal_hidden": 64, "signer_emb_dim": 32},
}
MODEL_FILES = ("stgcn", "temporal", "attention", "model")  # the modules --baseline swaps in


def get_args_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--configs", default="default,compact", help=f"comma list of {', '.join(CONFIGS)}")
    p.add_argument("--modes", default="train,infer", help="comma list of train, infer")
    p.add_argument("--dtypes", default="fp32,bf16", help="comma list of fp32, bf16 (autocast)")
    p.add_argument("--batch", type=int, default=32, help="windows per batch N")
    p.add_argument("--window", type=int, default=25, help="frames per window T")
    p.add_argument("--num-signers", type=int, default=4, help="signer-head classes (0 = no head)")
    p.add_argument("--reps", type=int, default=5, help="timed repetitions (median reported)")
    p.add_argument("--warmup", type=int, default=1, help="untimed repetitions first")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    p.add_argument("--baseline", default=None, help="git revision whose signstgcn/model code runs alongside")
    p.add_argument("--device", default="cpu")
    p.add_argument("--seed", type=int, default=0)
    return p


def load_baseline(rev: str, workdir: Path) -> ModuleType:
    """The ``model`` module of ``rev``'s ``signstgcn/model/{stgcn,temporal,attention,model}.py``, importable
    next to the current package (config, heads, signer encoder and graph are shared)."""
    name = "_signstgcn_baseline_" + re.sub(r"\W", "_", rev)
    pkg = workdir / name
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    pattern = re.compile(r"signstgcn\.model\.(" + "|".join(MODEL_FILES) + r")\b")
    for stem in MODEL_FILES:
        text = subprocess.run(
            ["git", "show", f"{rev}:signstgcn/model/{stem}.py"], cwd=ROOT, check=True, capture_output=True, text=True
        ).stdout
        (pkg / f"{stem}.py").write_text(pattern.sub(name + r".\1", text))
    sys.path.insert(0, str(workdir))
    return importlib.import_module(f"{name}.model")


def make_batch(model: torch.nn.Module, cfg: ModelConfig, N: int, T: int, device: str, seed: int):
    g = torch.Generator().manual_seed(seed)
    V = model.num_nodes
    x = torch.randn(N, cfg.in_channels, T, V, generator=g)  # (N, C, T, V)
    mask = torch.rand(N, T, V, generator=g) > 0.1  # (N, T, V), ~10% joints missing
    mask[: N // 4, (3 * T) // 4 :] = False  # a quarter of the windows have a padded tail
    stats = torch.randn(N, cfg.signer_stats_dim, generator=g)  # (N, S)
    labels = torch.randint(0, 2, (N,), generator=g).float()
    signers = torch.randint(0, max(cfg.num_signers, 1), (N,), generator=g)
    return [t.to(device) for t in (x, mask, stats, labels, signers)]


class Runner:
    """One implementation's model + optimizer and its train / infer steps."""

    def __init__(self, label: str, module: ModuleType, cfg: ModelConfig, args: argparse.Namespace) -> None:
        torch.manual_seed(args.seed)
        self.label = label
        self.model = module.SignSTGCNModel(cfg).to(args.device)
        self.opt = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.batch = make_batch(self.model, cfg, args.batch, args.window, args.device, args.seed)
        self.device = torch.device(args.device)

    def autocast(self, dtype: str):
        if dtype == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def train_step(self, dtype: str) -> None:
        x, mask, stats, labels, signers = self.batch
        self.model.train()
        with self.autocast(dtype):
            out = self.model(x, mask, stats)
            loss = F.binary_cross_entropy_with_logits(out.logits.float().squeeze(-1), labels)
            if out.signer_logits is not None:
                loss = loss + F.cross_entropy(out.signer_logits.float(), signers)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def infer_step(self, dtype: str) -> None:
        x, mask, stats, _, _ = self.batch
        self.model.eval()
        with torch.no_grad(), self.autocast(dtype):
            self.model(x, mask, stats)

    def step(self, mode: str, dtype: str) -> None:
        (self.train_step if mode == "train" else self.infer_step)(dtype)
        if self.device.type == "cuda":
            torch.cuda.synchronize()

    def flops(self, mode: str, dtype: str) -> int:
        with FlopCounterMode(display=False) as counter:
            self.step(mode, dtype)
        return counter.get_total_flops()


def main(argv: list[str] | None = None) -> int:
    args = get_args_parser().parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    configs = args.configs.split(",")
    for name in configs:
        if name not in CONFIGS:
            raise SystemExit(f"Invalid config {name!r}. Only {', '.join(CONFIGS)} are supported.")
    modules = {"current": current_model}
    with tempfile.TemporaryDirectory() as tmp:
        if args.baseline:
            modules[f"baseline@{args.baseline}"] = load_baseline(args.baseline, Path(tmp))
        for name in configs:
            cfg = ModelConfig(num_signers=args.num_signers, supcon_dim=0, **CONFIGS[name])
            runners = [Runner(label, module, cfg, args) for label, module in modules.items()]
            for mode in args.modes.split(","):
                for dtype in args.dtypes.split(","):
                    times: dict[str, list[float]] = {r.label: [] for r in runners}
                    flops = {r.label: r.flops(mode, dtype) for r in runners}
                    for _ in range(args.warmup):
                        for r in runners:
                            r.step(mode, dtype)
                    for _ in range(args.reps):
                        for r in runners:
                            t0 = time.perf_counter()
                            r.step(mode, dtype)
                            times[r.label].append((time.perf_counter() - t0) * 1e3)
                    for r in runners:
                        ms = statistics.median(times[r.label])
                        print(json.dumps({
                            "config": name, "impl": r.label, "batch": args.batch, "window": args.window,
                            "mode": mode, "dtype": dtype, "threads": torch.get_num_threads(),
                            "ms": round(ms, 2), "ms_min": round(min(times[r.label]), 2),
                            "windows_per_s": round(args.batch / ms * 1e3, 1),
                            "gflop": round(flops[r.label] / 1e9, 3), "gflops": round(flops[r.label] / ms / 1e6, 1),
                        }), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
