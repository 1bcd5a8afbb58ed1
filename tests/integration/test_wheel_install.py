"""The wheel works on its own: built from a copy of the source tree, installed into a fresh
virtualenv, run from an empty directory — ``zerobeta --version``, ``zerobeta init`` (the
packaged ``agent.toml``) and a short backtest over the packaged replay data, exit 0 with fills
in the journal (the replay data is read from the installed package).

The new virtualenv installs the wheel with ``--no-deps`` and sees the test environment's
packages through a ``.pth`` file naming its site-packages (a plain path: the test
environment's own ``.pth`` files, among them the editable install of this tree, are not run),
so nothing is downloaded but the build backend (build isolation fetches setuptools from the
package index); the test checks that ``agent`` is imported from the new virtualenv.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import sysconfig
from importlib.metadata import version
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "agent.toml")
_PACKAGES = ("agent", "strategies", "venues")


def _run(argv: list[str | Path], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ZEROBETA_", "PYTHON"))}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _build_wheel(tmp_path: Path) -> Path:
    # A copy of the tree, so that a stale build/ of the checkout cannot leak into the wheel.
    src = tmp_path / "src"
    src.mkdir()
    for name in _SOURCES:
        shutil.copy2(ROOT / name, src / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in _PACKAGES:
        shutil.copytree(ROOT / name, src / name, ignore=ignore)
    dist = tmp_path / "dist"
    built = _run(
        [sys.executable, "-m", "pip", "wheel", src, "--no-deps", "-w", dist], tmp_path, 300
    )
    assert built.returncode == 0, built.stdout + built.stderr
    wheels = list(dist.glob("zerobeta-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


def _venv_with_wheel(tmp_path: Path, wheel: Path) -> Path:
    venv = tmp_path / "venv"
    made = _run([sys.executable, "-m", "venv", venv], tmp_path, 120)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    site = _run(
        [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], tmp_path, 60
    )
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    Path(site.stdout.strip(), "test-env.pth").write_text("\n".join(sorted(ours)) + "\n")
    installed = _run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", wheel], tmp_path, 300
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return venv


def test_the_wheel_installs_and_runs_from_an_empty_directory(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)
    venv = _venv_with_wheel(tmp_path, wheel)
    zerobeta = venv / "bin" / "zerobeta"
    work = tmp_path / "work"
    work.mkdir()

    where = _run([venv / "bin" / "python", "-c", "import agent; print(agent.__file__)"], work, 60)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    shown = _run([zerobeta, "--version"], work, 60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == f"zerobeta {version('zerobeta')}"

    refused = _run([zerobeta, "run"], work, 60)
    assert refused.returncode == 2
    assert "zerobeta init" in refused.stderr

    init = _run([zerobeta, "init"], work, 60)
    assert init.returncode == 0, init.stderr
    assert (work / "agent.toml").read_bytes() == (ROOT / "agent.toml").read_bytes()

    # A week: with the default configuration the strategies first trade after two days of
    # warm-up (2025-09-01 to -03 ends with no fills).
    backtest = _run([zerobeta, "backtest", "--from", "2025-09-01", "--to", "2025-09-08"], work, 300)
    assert backtest.returncode == 0, backtest.stdout + backtest.stderr[-4000:]
    journal = work / "runs" / "zerobeta.sqlite"
    assert journal.exists()
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as conn:
        (fills,) = conn.execute("SELECT COUNT(*) FROM fills").fetchone()
    assert fills > 0
