"""The documentation cannot rot: the README stays short, the site builds with warnings as errors, every Python block
in the README and ``docs/`` runs, and every command line in them parses with the command's real parser."""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import shlex
import subprocess
import sys
from argparse import ArgumentParser
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 12 * 1024  # bytes


def _blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(encoding="utf-8"), flags=re.S | re.M)


def test_readme_is_short_and_links_into_the_docs():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.encode()) <= README_LIMIT, f"README.md is {len(text.encode())} bytes (limit {README_LIMIT})"
    for target in re.findall(r"\]\(((?:docs/)?[\w./-]+\.(?:md|png))(?:#[\w-]*)?\)", text):
        assert (ROOT / target).is_file(), f"README.md links to {target}, which does not exist"


def test_readme_command_table_lists_every_command():
    from signstgcn.cli.main import COMMANDS

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    listed = re.findall(r"^\| `([\w-]+)` \|", text, flags=re.M)
    assert sorted(listed) == sorted(COMMANDS), "the README's command table and signstgcn's commands differ"


# ------------------------------------------------------------------------------------------- the site


def test_site_builds_strict_with_generated_help(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs site needs requirements-dev.txt (mkdocs, mkdocs-material)")
    pytest.importorskip("mkdocstrings", reason="the API reference needs mkdocstrings-python (requirements-dev.txt)")
    site = tmp_path / "site"
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}  # mkdocs-material's banner about its successor
    build = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                           cwd=ROOT, capture_output=True, text=True, timeout=600, env=env)
    assert build.returncode == 0, build.stderr[-4000:]
    cli = (site / "cli" / "index.html").read_text(encoding="utf-8")
    from signstgcn.cli.main import COMMANDS

    for name in COMMANDS:  # every command's generated --help, with its own flags
        assert f"usage: signstgcn {name}" in cli, f"the command reference lacks signstgcn {name} --help"
    assert "--signing-labels" in cli and "--joint-pool" in cli
    training = (site / "training" / "index.html").read_text(encoding="utf-8")
    assert "usage: signstgcn train" in training
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    assert "TrainConfig" in api and "Many live streams, one batched model" in api  # the docstrings, rendered
    assert ":class:<code>" not in api and ":func:<code>" not in api  # their roles shown as plain code names
    assert (site / "changelog" / "index.html").read_text(encoding="utf-8").count("0.1.0") >= 1


# ---------------------------------------------------------------------------------------- Python blocks


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    """A short synthetic MediaPipe recording at 30 fps, the ``clip.npz`` the examples read (made once)."""
    from signstgcn.data.synthetic import generate_dataset

    folder = tmp_path_factory.mktemp("clip")
    generate_dataset(folder, task="detection", num_signers=1, videos_per_signer=1, seed=0)
    return next(folder.glob("*.npz")).read_bytes()


def _python_blocks() -> list[tuple[str, int, str]]:
    return [(page.relative_to(ROOT).as_posix(), k, code) for page in PAGES
            for k, code in enumerate(_blocks(page, "python"), start=1)]


@pytest.mark.slow
@pytest.mark.parametrize("page", sorted({p for p, _, _ in _python_blocks()}))
def test_python_blocks_run(page, clip, tmp_path, monkeypatch, capsys):
    """Each page's blocks in order, in one namespace, in an empty folder holding ``clip.npz``."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "clip.npz").write_bytes(clip)
    namespace: dict = {"__name__": f"docs_{Path(page).stem}"}
    threads = torch.get_num_threads()
    try:
        for name, k, code in _python_blocks():
            if name == page:
                exec(compile(code, f"{page} python block {k}", "exec"), namespace)
    finally:
        torch.set_num_threads(threads)  # an example may set one thread for streaming
    printed = capsys.readouterr().out
    EXPECTED[page](tmp_path, printed)


def _api(tmp_path: Path, printed: str) -> None:
    assert (tmp_path / "runs" / "recognition" / "best.pt").is_file()
    assert (tmp_path / "runs" / "recognition" / "eval" / "report.json").is_file()
    assert "signing" in printed or "(" in printed


def _names_the_shipped_detector(tmp_path: Path, printed: str) -> None:
    assert "signstgcn-signing-detector" in printed


def _live(tmp_path: Path, printed: str) -> None:
    assert "signing at frame" in printed  # the synthetic clip signs


def _readme(tmp_path: Path, printed: str) -> None:
    _names_the_shipped_detector(tmp_path, printed)
    assert (tmp_path / "runs" / "mine" / "last.pt").is_file(), "the README example trained no model"


EXPECTED = {"README.md": _readme, "docs/api.md": _api, "docs/getting-started.md": _names_the_shipped_detector,
            "docs/detection.md": _live}


def test_the_docs_hold_python_examples():
    counts = {page: n for page, n in ((p.relative_to(ROOT).as_posix(), len(_blocks(p, "python"))) for p in PAGES)}
    assert counts["README.md"] == 1 and counts["docs/api.md"] >= 3 and sum(counts.values()) >= 7, counts


# ------------------------------------------------------------------------------------------- commands


def _commands() -> list[tuple[str, str]]:
    """(page, command line) of every shell line in a bash block (continuations joined, comments dropped)."""
    out = []
    for page in PAGES:
        for block in _blocks(page, "bash"):
            for line in block.replace("\\\n", " ").splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    out.append((page.relative_to(ROOT).as_posix(), line))
    return out


def _script_parser(path: Path) -> ArgumentParser | None:
    spec = importlib.util.spec_from_file_location(f"_doc_script_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module.get_args_parser() if hasattr(module, "get_args_parser") else None


def _parser_and_args(tokens: list[str]) -> tuple[ArgumentParser | None, list[str]]:
    """The real parser of a command line's program and its arguments; None for programs that are not ours."""
    from signstgcn.cli.main import COMMANDS, SCRIPTS

    tokens = [re.sub(r"\$\{?\w+\}?", "0", t) for t in tokens]  # shell variables ($S of a seed loop): a number
    while tokens and (re.match(r"^[A-Z_]+=", tokens[0]) or tokens[0] in ("do", "then", "else")):  # VAR=1 / loops
        tokens = tokens[1:]
    if not tokens:
        return None, []
    if tokens[0] == "torchrun" and "-m" in tokens:
        tokens = ["python", *tokens[tokens.index("-m"):]]
    if tokens[0] == "signstgcn":
        command, args = (tokens[1] if len(tokens) > 1 else "--help"), tokens[2:]
    elif tokens[0] == "python" and tokens[1:2] == ["-m"] and tokens[2] in ("signstgcn", *SCRIPTS):
        if tokens[2] == "signstgcn":
            command, args = tokens[3], tokens[4:]
        else:
            command, args = SCRIPTS[tokens[2]], tokens[3:]
    elif tokens[0] == "python" and len(tokens) > 1 and tokens[1].endswith(".py") and (ROOT / tokens[1]).is_file():
        return _script_parser(ROOT / tokens[1]), tokens[2:]
    else:
        return None, []
    if command in ("--help", "-h", "--version"):
        return None, []
    assert command in COMMANDS, f"unknown command signstgcn {command}"
    return importlib.import_module(COMMANDS[command][0]).get_args_parser(prog=f"signstgcn {command}"), args


def _check(parser: ArgumentParser, args: list[str], line: str, page: str) -> None:
    if "--help" in args or "-h" in args:
        return
    try:
        parsed, unknown = parser.parse_known_args(args)
    except SystemExit as err:
        raise AssertionError(f"{page}: `{line}` does not parse (exit {err.code})") from None
    assert not unknown, f"{page}: `{line}`: unknown arguments {unknown}"


def test_every_command_in_the_docs_parses(capsys):
    from signstgcn.cli.main import COMMANDS

    checked = 0
    for page, line in _commands():
        lexer = shlex.shlex(line, posix=True, punctuation_chars="|&;")
        lexer.whitespace_split = True
        lexer.commenters = "#"
        tokens = list(lexer)
        segments, current = [], []
        for token in tokens:
            if token in ("|", "||", "&&", ";", "&"):
                segments.append(current)
                current = []
            else:
                current.append(token)
        segments.append(current)
        for segment in segments:
            parser, args = _parser_and_args(segment)
            if parser is None:
                continue
            passthrough = args[args.index("--") + 1:] if "--" in args else None
            _check(parser, args[:args.index("--")] if passthrough is not None else args, line, page)
            if passthrough is not None and parser.prog.endswith("cross-validate"):  # train flags after '--'
                train = importlib.import_module(COMMANDS["train"][0]).get_args_parser(prog="signstgcn train")
                _check(train, ["--data", "x", *passthrough], line, page)
            checked += 1
    capsys.readouterr()
    assert checked >= 40, f"only {checked} command lines found in the docs"


@pytest.mark.slow
def test_the_getting_started_commands_run_on_the_demo_data(tmp_path, monkeypatch, capsys):
    """The "Train your own" commands, as written, on the demo's detection data (what ``signstgcn demo`` writes)."""
    from signstgcn.cli.main import main
    from signstgcn.data.synthetic import generate_dataset

    monkeypatch.chdir(tmp_path)
    generate_dataset(tmp_path / "demo_out" / "data" / "detection", task="detection", seed=0)
    section = (ROOT / "docs" / "getting-started.md").read_text(encoding="utf-8").split("## Train your own", 1)[1]
    (block,) = re.findall(r"^```bash\n(.*?)^```", section, flags=re.S | re.M)
    lines = [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]
    assert len(lines) == 3
    threads = torch.get_num_threads()
    try:
        for line in lines:
            tokens = shlex.split(line, comments=True)
            assert tokens[0] == "signstgcn" and main(tokens[1:]) == 0, line
    finally:
        torch.set_num_threads(threads)
    capsys.readouterr()
    assert (tmp_path / "runs" / "first" / "eval" / "report.html").is_file()
    assert any((tmp_path / "runs" / "first" / "detections").glob("*.segments.json"))


def test_a_renamed_flag_would_be_caught():
    from signstgcn.cli.main import COMMANDS

    parser = importlib.import_module(COMMANDS["train"][0]).get_args_parser(prog="signstgcn train")
    with pytest.raises(AssertionError, match="unknown arguments|does not parse"):
        _check(parser, ["--data", "x", "--windw", "25"], "signstgcn train --data x --windw 25", "test")
