"""The Python API (``from signstgcn import fit, TrainConfig, evaluate, detect, ...``) and the package layout."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import numpy as np
import pytest

import signstgcn
from signstgcn.cli.train import config_from_args, get_args_parser
from signstgcn.data.signers import video_signer_names
from signstgcn.data.synthetic import generate_dataset
from signstgcn.training.config import TrainConfig, config_flags

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "signstgcn"
LAYERS = {"data": 1, "model": 2, "training": 3, "inference": 4, "evaluation": 5, "cli": 6}
TINY = {"stgcn_channels": (8, 16), "stgcn_dilations": (1, 2), "temporal_hidden": 8, "signer_emb_dim": 8,
        "attn_heads": 2}


# ------------------------------------------------------------------------------------------- TrainConfig


def test_train_config_defaults_are_the_command_defaults():
    from_flags = config_from_args(get_args_parser().parse_args(["--data", "somewhere"]))
    assert from_flags == TrainConfig.from_flat(data="somewhere")
    assert from_flags.input.hands_relative and from_flags.model.attention == "signer"


def test_train_config_round_trips_and_updates():
    cfg = TrainConfig.from_flat(data="d", sample_mode="video", window=30, stgcn_channels=[32, 64, 64],
                                attention="none", signing_labels="s,signing", seed=3)
    assert cfg.model.stgcn_channels == (32, 64, 64) and cfg.data.signing_labels == ("s", "signing")
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    assert TrainConfig.from_flat(cfg.flat()) == cfg
    changed = cfg.updated(lr=2e-3, attention="plain")
    assert changed.optim.lr == 2e-3 and changed.model.attention == "plain" and cfg.optim.lr == 1e-3
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.optim.lr = 1.0  # type: ignore[misc]
    flags = config_flags({"attention": "none", "signer_loss_weight": 0.0, "use_supcon": True,
                          "canonical_bones": False, "stgcn_channels": (8, 16), "stgcn_dilations": (1, 2)})
    assert flags == ["--attention", "none", "--signer-loss-weight", "0", "--use-supcon", "--no-canonical-bones",
                     "--stgcn-channels", "8,16", "--stgcn-dilations", "1,2"]
    assert config_from_args(get_args_parser().parse_args(["--data", "d", *flags])) == \
        TrainConfig.from_flat(data="d", attention="none", signer_loss_weight=0.0, use_supcon=True,
                              canonical_bones=False, stgcn_channels=(8, 16), stgcn_dilations=(1, 2))


@pytest.mark.parametrize("settings, message", [
    ({}, "data.data .* is required"),
    ({"data": "d", "lr": 0}, "--lr must be positive"),
    ({"data": "d", "window": 0}, "--window must be at least 1"),
    ({"data": "d", "binary": True, "num_classes": 3}, "--num-classes is for multi-class"),
    ({"data": "d", "val_fraction": 0, "save_best": True}, "--save-best needs a validation split"),
    ({"data": "d", "attn_heads": 3}, "attn_heads: expected a divisor"),
    ({"data": "d", "augment": "huge"}, "Invalid augment 'huge'"),
    ({"data": "d", "cross_signer_augment": True}, "add --no-canonical-bones"),
    ({"data": "d", "resume": True, "overwrite": True}, "pass only one"),
    ({"data": "d", "epoch": 3}, r"unknown settings \['epoch'\]"),
])
def test_train_config_refuses_bad_settings_in_one_line(settings, message):
    with pytest.raises(ValueError, match=message) as err:
        TrainConfig.from_flat(settings)
    assert "\n" not in str(err.value)


def test_fit_calls_back_every_epoch_and_a_callback_can_stop(tmp_path):
    data = generate_dataset(tmp_path / "data", task="recognition", num_signers=3, videos_per_signer=2,
                            num_classes=2, seed=0).out_dir
    seen: list[tuple[int, dict]] = []

    def record_then_stop(epoch, metrics):
        seen.append((epoch, metrics))
        return epoch == 2

    config = TrainConfig.from_flat(data=str(data), sample_mode="video", window=16, epochs=5, batch=8,
                                   val_fraction=0.34, out=str(tmp_path / "run"), quiet=True, **TINY)
    result = signstgcn.fit(config, callbacks=[record_then_stop])
    assert [e for e, _ in seen] == [1, 2] and result.stopped_early
    assert {"lr", "train_loss", "val_top1", "val_loss"} <= set(seen[0][1])
    assert len(result.history) == 2 and result.history[1]["epoch"] == 2
    assert result.last_checkpoint.is_file() and result.best_checkpoint is None  # save_best is off
    stored = signstgcn.load_model(result.last_checkpoint)
    assert stored.config.stgcn_channels == (8, 16)
    assert TrainConfig.from_dict(__import__("json").loads((tmp_path / "run" / "config.json").read_text())["config"]) \
        == config
    assert result.best_metrics["epoch"] in (1, 2) and "top1" in result.last_metrics


# ----------------------------------------------------------------------------------------- compatibility


def test_a_checkpoint_written_before_the_library_api_still_loads_and_evaluates(tmp_path):
    """``tests/data/checkpoint_before_library_api.pt``: written by commit ef7a44e (before the redesign),
    ``train --sample-mode video --window 8 --epochs 1`` on ``generate_dataset(recognition, 3 signers, 3 classes,
    2 videos per signer, seed 0)``."""
    ckpt = ROOT / "tests" / "data" / "checkpoint_before_library_api.pt"
    data = generate_dataset(tmp_path / "data", task="recognition", num_signers=3, videos_per_signer=2,
                            num_classes=3, seed=0).out_dir
    model = signstgcn.load_model(ckpt)
    assert model.config.stgcn_channels == (4, 4) and model.data_settings["window"]["window"] == 8
    predictor = signstgcn.Predictor.from_checkpoint(ckpt)
    assert predictor.classes and predictor.window == 8
    result = signstgcn.evaluate(ckpt, data, out=tmp_path / "eval")
    assert 0.0 <= result.report["metrics"]["top1"] <= 1.0 and (tmp_path / "eval" / "report.json").is_file()


# -------------------------------------------------------------------------------------------- signers


def test_video_signer_names_one_rule():
    assert video_signer_names(["a", "b"], {"a": "s1"}, source="real") == (["s1", None], "real")
    assert video_signer_names(["a", "b"], {}, source="pseudo", pseudo_ids=np.array([1, -1])) == \
        (["pseudo1", None], "pseudo")
    assert video_signer_names(["a"], {}, source="none") == ([None], "none")
    # real ids win over pseudo-signers whenever any video has one; a video without one is never a made-up signer
    assert video_signer_names(["a", "b"], {"b": "s2"}, source="pseudo", pseudo_ids=[0, 1]) == ([None, "s2"], "real")


# --------------------------------------------------------------------------------------------- layout


def _imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found += [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names]
    return found


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _layer(module: str) -> int:
    parts = module.split(".")
    return LAYERS.get(parts[1], 0) if len(parts) > 1 and parts[0] == "signstgcn" else -1


def test_the_layout_shows_the_pipeline():
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(top) <= 10, top
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported = [m for m in _imports(path) if m.startswith("signstgcn")]
        if not name.startswith("signstgcn.cli"):
            assert "argparse" not in _imports(path), f"{name} imports argparse (only signstgcn.cli may)"
            assert not any(m.startswith("signstgcn.cli") for m in imported) or name == "signstgcn.__main__", name
        for m in imported:
            target = m if m in modules else m.rsplit(".", 1)[0]
            if name in ("signstgcn", "signstgcn.__main__") or target not in modules:
                continue
            if _layer(name) == 0:
                assert _layer(target) <= 0, f"top-level {name} imports the package module {m}"
            else:
                assert _layer(target) <= _layer(name), f"{name} imports {m}, which stands above it in the pipeline"
        graph[name] = {m if m in modules else m.rsplit(".", 1)[0] for m in imported} & set(modules)
    # no import cycles between modules (a package's __init__ re-exporting its own modules is not a cycle)
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if nxt == node or node.startswith(nxt + ".") or nxt == "signstgcn":
                continue
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*stack, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*stack, node])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])


def test_public_names_import_from_the_package():
    from signstgcn import Predictor, TrainConfig, TrainResult, cross_validate, detect, evaluate, fit, load_model

    assert all(callable(x) for x in (Predictor, TrainConfig, TrainResult, cross_validate, detect, evaluate, fit,
                                     load_model))
    with pytest.raises(AttributeError):
        signstgcn.no_such_name  # noqa: B018
