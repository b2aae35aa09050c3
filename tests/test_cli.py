"""The ``signstgcn`` console entry point and the one-command demo."""

from __future__ import annotations

import argparse
import subprocess
import sys

import matplotlib.image as mpimg
import pytest

from signstgcn.cli import demo
from signstgcn.cli.common import run_cli
from signstgcn.cli.main import COMMANDS, SCRIPTS, main
from signstgcn.errors import DataError
from signstgcn.training.checkpoint import read_checkpoint
from tests.conftest import REPO


def test_help_lists_every_command(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in COMMANDS)


def test_unknown_command(capsys):
    assert main(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err


def test_run_cli_exit_status_and_one_line_error(capsys, monkeypatch):
    monkeypatch.delenv("SIGNSTGCN_DEBUG", raising=False)
    args = argparse.Namespace()
    assert run_cli("prog", lambda a: 1, args) == 1  # an int result is the exit status
    assert run_cli("prog", lambda a: {"report": 1}, args) == 0  # any other result: success
    assert run_cli("prog", lambda a: None, args) == 0

    def fail(a: argparse.Namespace) -> int:
        raise DataError("bad folder")

    assert run_cli("prog", fail, args) == 2
    assert capsys.readouterr().err == "prog: error: bad folder\n"
    with pytest.raises(DataError):
        run_cli("prog", fail, args, errors=(OSError,))  # not a handled error: propagates
    monkeypatch.setenv("SIGNSTGCN_DEBUG", "1")
    with pytest.raises(DataError, match="bad folder"):
        run_cli("prog", fail, args)  # debug: the traceback instead of the one-line error


def test_every_command_has_help(capsys):
    for name in COMMANDS:
        with pytest.raises(SystemExit) as exc:
            main([name, "--help"])
        assert exc.value.code == 0, name
        assert "usage:" in capsys.readouterr().out


ENTRY_MODULES = ("signstgcn", "train_landmarks", "build_video_splits", "signGCN", "visualize_signer_embeddings")


def test_python_dash_m_entry_points(tmp_path):
    """Works from any folder, also beside a folder named ``signstgcn`` (a clone's parent) that is not the package."""
    (tmp_path / "signstgcn" / "tests").mkdir(parents=True)  # what ``git clone .../signstgcn`` leaves in the parent
    (tmp_path / "signstgcn" / "README.md").write_text("a clone\n")
    for module in ENTRY_MODULES:
        result = subprocess.run([sys.executable, "-m", module, "--help"], cwd=tmp_path, capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0 and "usage" in result.stdout.lower(), (module, result.stderr[-500:])
    result = subprocess.run([sys.executable, "-m", "signstgcn", "train", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "--data" in result.stdout, result.stderr[-500:]


def test_entry_point_names_the_folder_that_shadows_a_missing_package(tmp_path):
    """Without an installed package (``python -S``: no site-packages) the shadowing folder is named in one line."""
    for name in ("_signstgcn_boot.py", "train_landmarks.py"):
        (tmp_path / name).write_text((REPO / name).read_text())
    (tmp_path / "signstgcn").mkdir()
    result = subprocess.run([sys.executable, "-S", "-m", "train_landmarks", "--help"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("train_landmarks: error:"), result.stderr
    assert str(tmp_path / "signstgcn") in lines[0] and "Traceback" not in result.stderr


@pytest.mark.slow
def test_demo_end_to_end_writes_every_artifact(tmp_path, capsys):
    out = tmp_path / "demo"
    results = demo.run(demo.get_args_parser().parse_args(
        ["--out", str(out), "--detection-epochs", "1", "--recognition-epochs", "2", "--quiet"]))
    assert set(results) == {"detection", "recognition"}
    for task in ("detection", "recognition"):
        for name in ("last.pt", "best.pt", "metrics.csv", "curves.png", "config.json"):
            assert (out / task / name).is_file(), (task, name)
        image = mpimg.imread(out / task / "curves.png")
        assert image.shape[:2] == (400, 1600)
        ckpt = read_checkpoint(out / task / "best.pt")
        assert ckpt["config"]["num_signers"] > 1  # the adversarial signer head is on
    assert read_checkpoint(out / "detection" / "best.pt")["config"]["num_classes"] == 1
    assert "PR-AUC" in capsys.readouterr().out
    assert demo.main(["--out", str(out), "--quiet"]) == 2  # a previous demo is not overwritten


def test_the_design_scripts_run_the_commands_the_docs_say():
    """``python -m train_landmarks`` etc. (files at the repository root) run the command ``SCRIPTS`` names, which
    the docs' command checks rely on; every such script is listed."""
    scripts = {p.stem for p in REPO.glob("*.py") if "= load_main(" in p.read_text(encoding="utf-8")}
    assert scripts == set(SCRIPTS)
    for name, command in SCRIPTS.items():
        text = (REPO / f"{name}.py").read_text(encoding="utf-8")
        assert f'load_main("{COMMANDS[command][0]}", "{name}")' in text, name

