"""Every command's ``--help`` in one style: help text on every option, each default stated once as
``(default: X)`` (comma lists, not Python reprs), ``(required)`` on required options, and the usage line
naming the command as it was run (``signstgcn NAME`` or ``python -m`` module)."""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from signstgcn.cli import common
from signstgcn.cli.main import COMMANDS, main

# python -m entry point -> the signstgcn.cli module it runs
ENTRY_POINTS = {
    "train_landmarks": "signstgcn.cli.train",
    "build_video_splits": "signstgcn.cli.build_video_splits",
    "visualize_signer_embeddings": "signstgcn.cli.visualize",
    "signGCN": "signstgcn.cli.model_summary",
}
PYTHON_REPR = re.compile(r"\(\d+, \d+|\[['\"\d]|\(['\"]")  # (64, 128, 128)  ['a']  [1, 2]  ('joint',)


def _parser(module: str, **kwargs: str) -> argparse.ArgumentParser:
    return importlib.import_module(module).get_args_parser(**kwargs)


def _options(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    return [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]


def _rendered(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text of ``action`` as ``--help`` prints it, on one line."""
    return " ".join(parser._get_formatter()._expand_help(action).split())


def _values(action: argparse.Action) -> set[str]:
    default = action.default if isinstance(action.default, (list, tuple)) else [action.default]
    return {str(v) for v in [*(action.choices or ()), *default]}


def _default_words(action: argparse.Action, text: str) -> list[str]:
    """Each 'default' of ``text`` that states a default (a value named default, as cross-validate's preset, is
    not one)."""
    if "default" in _values(action):
        text = re.sub(r"\bdefault\b(?!:)", "", text)
    return re.findall(r"\bdefault\b:?", text, flags=re.IGNORECASE)


def _problems(parser: argparse.ArgumentParser) -> list[str]:
    problems = []
    for action in _options(parser):
        name = "/".join(action.option_strings) or action.dest
        if not (action.help or "").strip():
            problems.append(f"{name}: no help text")
            continue
        text = _rendered(parser, action)
        words = _default_words(action, text)
        if "default: None" in text or re.search(r"\bNone\b", text):
            problems.append(f"{name}: says None: {text!r}")
        if len(words) > 1:
            problems.append(f"{name}: default stated {len(words)} times: {text!r}")
        if any(w.lower() != "default:" for w in words):
            problems.append(f"{name}: default not stated as 'default: X': {text!r}")
        if PYTHON_REPR.search(text):
            problems.append(f"{name}: Python repr in the help: {text!r}")
        if "(default: False)" in text or "(default: True)" in text:
            problems.append(f"{name}: a flag's default shown: {text!r}")
        if action.option_strings and action.required and (not text.endswith("(required)") or words):
            problems.append(f"{name}: required, but the help does not end in '(required)' alone: {text!r}")
        if not action.required and action.nargs != 0 and action.default not in (None, argparse.SUPPRESS) \
                and not words:
            problems.append(f"{name}: default {action.default!r} not shown: {text!r}")
    return problems


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_in_one_style(name):
    parser = _parser(COMMANDS[name][0])
    assert issubclass(parser.formatter_class, common.HelpFormatter), parser.formatter_class
    assert _problems(parser) == []
    text = parser.format_help()
    assert "default: None" not in text and not PYTHON_REPR.search(text)


@pytest.mark.parametrize("name", COMMANDS)
def test_usage_names_the_signstgcn_command(name, capsys):
    with pytest.raises(SystemExit) as exc:
        main([name, "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: signstgcn {name} "), out[:200]


def test_usage_error_names_the_signstgcn_command(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--no-such-flag"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "usage: signstgcn train " in err and "signstgcn train: error:" in err


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_python_dash_m_keeps_its_name(entry, tmp_path: Path):
    assert _parser(ENTRY_POINTS[entry]).prog == entry
    result = subprocess.run([sys.executable, "-m", entry, "--help"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr[-500:]
    assert result.stdout.startswith(f"usage: {entry} "), result.stdout[:200]


def _option_help(parser: argparse.ArgumentParser, flag: str) -> str:
    (action,) = [a for a in parser._actions if flag in a.option_strings]
    return _rendered(parser, action)


def test_train_help_regressions():
    parser = _parser("signstgcn.cli.train")
    for flag, default in [("--epochs", "50"), ("--batch", "32"), ("--lr", "0.001"), ("--weight-decay", "0.0001"),
                          ("--scheduler", "cosine"), ("--seed", "0"), ("--input-streams", "joint")]:
        assert _option_help(parser, flag).endswith(f"(default: {default})"), flag
    channels = _option_help(parser, "--stgcn-channels")
    assert channels.endswith("(default: 64,128,128)") and channels.count("default") == 1, channels
    assert _option_help(parser, "--stgcn-dilations").endswith("(default: 1,2,3)")
    assert _option_help(parser, "--data").endswith("(required)")
    attention = _option_help(parser, "--attention")
    assert attention.count("default") == 1 and "default: signer" in attention, attention
    assert "DATA/groundtruth.txt" in _option_help(parser, "--gt")
    text = parser.format_help()
    assert text.count("(default: 64,128,128)") == 1 and "(default: False)" not in text


def test_cross_validate_lists_its_configs_default_once():
    parser = _parser("signstgcn.cli.cross_validate")
    configs = _option_help(parser, "--configs")
    assert configs.endswith("(default: default)") and configs.count("default:") == 1, configs


def test_prog_is_a_parameter():
    for name, (module, _) in COMMANDS.items():
        assert _parser(module, prog=f"signstgcn {name}").prog == f"signstgcn {name}"


def test_formatter_rules():
    p = argparse.ArgumentParser(prog="x", formatter_class=common.HelpFormatter)
    p.add_argument("--a", type=int, default=3, help="an int")
    p.add_argument("--b", default=(1, 2), help="a tuple")
    p.add_argument("--c", nargs="+", default=["u", "v"], help="a list")
    p.add_argument("--d", default=None, help="unset")
    p.add_argument("--e", action="store_true", help="a flag")
    p.add_argument("--f", required=True, help="needed")
    p.add_argument("--g", default="5%", help="a percent (default: five percent)")
    p.add_argument("--h2", default=argparse.SUPPRESS, help="suppressed")
    p.add_argument("pos", help="a positional")
    shown = {a.dest: _rendered(p, a) for a in _options(p)}
    assert shown == {
        "a": "an int (default: 3)",
        "b": "a tuple (default: 1,2)",
        "c": "a list (default: u v)",
        "d": "unset",
        "e": "a flag",
        "f": "needed (required)",
        "g": "a percent (default: five percent)",
        "h2": "suppressed",
        "pos": "a positional",
    }
    p.add_argument("--i", default="50%", help="percent")
    assert _rendered(p, p._actions[-1]) == "percent (default: 50%)"
