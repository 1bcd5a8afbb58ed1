"""Configuration problems found before anything starts: exit 2 naming the key or file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent import cli

REPO = Path(__file__).resolve().parents[2]


def _run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> int:
    monkeypatch.setenv("ZEROBETA_JOURNAL__PATH", str(tmp_path / "run.sqlite"))
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        return cli.main(["run", "--config", str(REPO / "agent.toml")])
    finally:
        import signal

        signal.signal(signal.SIGINT, signal.default_int_handler)  # main() took the signals
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


def test_a_window_outside_the_data_exits_2_naming_the_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(monkeypatch, tmp_path, ZEROBETA_MARKET_DATA__START="2031-01-01")
    assert code == 2
    assert "market_data.start/end" in capsys.readouterr().err
    assert not (tmp_path / "run.sqlite").exists()


def test_a_symbol_without_data_exits_2_before_the_load(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(
        monkeypatch,
        tmp_path,
        ZEROBETA_STRATEGIES__FUNDING_HARVESTER__SYMBOLS='["BTCUSDT", "FOOUSDT"]',
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "strategies.funding_harvester.symbols" in err
    assert "FOOUSDT" in err
    assert "replay_started" not in err


def test_a_missing_data_file_exits_2_naming_the_symbols(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    (data / "binance" / "perp").mkdir(parents=True)
    code = _run(monkeypatch, tmp_path, ZEROBETA_MARKET_DATA__DATA_DIR=str(data))
    err = capsys.readouterr().err
    assert code == 2
    assert "market_data.reference_instrument" in err
    assert "strategies.stat_arb.symbols" in err


def test_an_unreadable_secret_file_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "venues__binance__api_key").symlink_to(tmp_path / "gone")  # dangling
    monkeypatch.setenv("ZEROBETA_SECRETS_DIR", str(secrets))
    code = _run(monkeypatch, tmp_path)
    err = capsys.readouterr().err
    assert code == 2
    assert f"{secrets / 'venues__binance__api_key'}: secret file cannot be read" in err


def test_an_unreadable_secrets_directory_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    if os.geteuid() == 0:  # root reads anything: make listing fail the way it would
        real_iterdir = Path.iterdir

        def refuse(self: Path):  # type: ignore[no-untyped-def]
            if self == secrets:
                raise PermissionError(13, "Permission denied", str(self))
            return real_iterdir(self)

        monkeypatch.setattr(Path, "iterdir", refuse)
    else:
        secrets.chmod(0)
    monkeypatch.setenv("ZEROBETA_SECRETS_DIR", str(secrets))
    try:
        code = _run(monkeypatch, tmp_path)
    finally:
        secrets.chmod(0o700)
    assert code == 2
    assert f"{secrets}: secrets directory cannot be read" in capsys.readouterr().err


def test_a_symbol_with_klines_but_no_trading_rules_exits_2_naming_symbol_and_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A copy of the bundled data whose Binance rules file lost the ETHUSDT perp row."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(REPO / "venues" / "replay" / "data", data)
    rules = data / "binance" / "instruments.csv"
    kept = [line for line in rules.read_text().splitlines() if not line.startswith("perp,ETHUSDT,")]
    rules.write_text("\n".join(kept) + "\n")
    code = _run(monkeypatch, tmp_path, ZEROBETA_MARKET_DATA__DATA_DIR=str(data))
    err = capsys.readouterr().err
    assert code == 2
    assert "no trading rules for binance:perp:ETHUSDT" in err
    assert str(rules) in err
    assert "replay_started" not in err
    assert not (tmp_path / "run.sqlite").exists()  # refused before anything was written


def test_an_unknown_unhealthy_venue_policy_exits_2_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(monkeypatch, tmp_path, ZEROBETA_RISK__UNHEALTHY_VENUE_POLICY="flatten")
    assert code == 2
    assert "risk.unhealthy_venue_policy" in capsys.readouterr().err
    assert not (tmp_path / "run.sqlite").exists()
