"""The deploy/ files say what deploy/README.md says they do: the systemd unit verifies clean and
is a notify service with a watchdog that never stops restarting; the PM2 file restarts after a
fixed delay into one log."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def _unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(DEPLOY / "zerobeta.service")
    return parser


def test_the_unit_is_a_notify_service_with_a_watchdog_that_keeps_restarting() -> None:
    unit = _unit()
    assert unit["Service"]["Type"] == "notify"
    assert unit["Service"]["NotifyAccess"] == "main"
    assert unit["Service"]["WatchdogSec"].endswith("s")
    assert unit["Service"]["Restart"] == "on-failure"
    assert unit["Service"]["RestartPreventExitStatus"] == "2"
    assert unit["Unit"]["StartLimitIntervalSec"] == "0"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_systemd_analyze_verify_is_clean(tmp_path: Path) -> None:
    # The installed path of the console script does not exist here; point ExecStart at a real
    # executable so that verify checks everything else.
    text = (DEPLOY / "zerobeta.service").read_text(encoding="utf-8")
    unit = tmp_path / "zerobeta.service"
    unit.write_text(
        text.replace("/opt/zerobeta/.venv/bin/zerobeta", shutil.which("true") or "/bin/true"),
        encoding="utf-8",
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


@pytest.mark.skipif(shutil.which("node") is None, reason="no node to evaluate the PM2 file")
def test_pm2_restarts_after_a_fixed_delay_into_one_log(tmp_path: Path) -> None:
    script = "const c = require(process.argv[1]).apps[0];process.stdout.write(JSON.stringify(c));"
    env_file = tmp_path / "zerobeta.env"
    env_file.write_text("ZEROBETA_MODE=paper\n", encoding="utf-8")
    out = subprocess.run(
        ["node", "-e", script, str(DEPLOY / "ecosystem.config.js")],
        capture_output=True,
        text=True,
        check=True,
        env={"PM2_ZEROBETA_ENV_FILE": str(env_file), "PATH": "/usr/bin:/bin"},
    )
    app = json.loads(out.stdout)
    assert app["restart_delay"] == 10_000
    assert "exp_backoff_restart_delay" not in app  # it would replace restart_delay
    assert app["out_file"] == app["error_file"]
    assert app["stop_exit_codes"] == [0, 2]
    assert app["env"]["ZEROBETA_MODE"] == "paper"
