"""``zerobeta --version``, ``zerobeta init [DIR] [--force]`` and the message of ``zerobeta run``
without a configuration, in-process (``agent.cli.main``).

The default configuration ``init`` writes is the packaged copy of the repository's
``agent.toml`` (``agent/config/agent.toml``); ``tests/unit/test_packaging.py`` checks the copy
is byte-identical, here the written file is compared with the top-level one.
"""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest

from agent.cli import main
from tests.integration.conftest import AGENT_TOML


def test_version_prints_the_installed_distribution_version(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"zerobeta {version('zerobeta')}"


def test_init_writes_the_documented_default_into_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    assert (tmp_path / "agent.toml").read_bytes() == AGENT_TOML.read_bytes()
    assert "zerobeta check-config" in capsys.readouterr().out
    assert main(["check-config"]) == 0


def test_init_creates_the_named_directory(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b"
    assert main(["init", str(target)]) == 0
    assert (target / "agent.toml").read_bytes() == AGENT_TOML.read_bytes()


def test_init_refuses_to_overwrite_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    existing = tmp_path / "agent.toml"
    existing.write_text("mode = 'paper'\n# mine\n", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err
    assert "--force" in err
    assert existing.read_text(encoding="utf-8") == "mode = 'paper'\n# mine\n"
    assert main(["init", str(tmp_path), "--force"]) == 0
    assert existing.read_bytes() == AGENT_TOML.read_bytes()


def test_init_into_an_unwritable_place_is_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory", encoding="utf-8")
    assert main(["init", str(blocker)]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command",
    [["run"], ["check-config"], ["backtest", "--from", "2025-09-01", "--to", "2025-09-02"]],
)
def test_no_config_here_says_to_run_init(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "zerobeta init" in err
    assert not (tmp_path / "runs").exists()


def test_a_missing_explicit_config_is_still_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "elsewhere.toml"
    assert main(["run", "--config", str(missing)]) == 2
    err = capsys.readouterr().err
    assert str(missing) in err
    assert "not found" in err
