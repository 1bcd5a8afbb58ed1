"""What an installed wheel and the deployment need besides the code: the packaged default
configuration equals the repository's ``agent.toml`` byte for byte, the bundled replay data
and that file are declared package data, ``deploy/requirements.lock`` pins every runtime
dependency (and the hyperliquid extra) with hashes, and the Dockerfile and compose.yaml do
what deploy/README.md says (non-root, hash-checked install, journal volume, health check).
The wheel itself is built and installed in ``tests/integration/test_wheel_install.py``."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from agent.config.default_file import default_config_bytes

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "deploy" / "requirements.lock"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def _pyproject() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _runtime_requirements() -> list[Requirement]:
    project = _pyproject()["project"]
    assert isinstance(project, dict)
    names = [*project["dependencies"], *project["optional-dependencies"]["hyperliquid"]]
    return [Requirement(text) for text in names]


def _lock_entries() -> dict[str, tuple[Version, list[str]]]:
    """name → (pinned version, sha256 hashes) of every requirement in the lock file."""
    entries: dict[str, tuple[Version, list[str]]] = {}
    current: str | None = None
    for raw in LOCK.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        match = _PIN.match(line)
        if match:
            current = canonicalize_name(match.group(1))
            entries[current] = (Version(match.group(2)), [])
        elif line.startswith("--hash=sha256:") and current is not None:
            entries[current][1].append(line.removeprefix("--hash=sha256:").rstrip(" \\"))
        elif line and not line.startswith("#"):
            current = None
    return entries


def test_packaged_default_config_is_the_repository_agent_toml_byte_for_byte() -> None:
    packaged = ROOT / "agent" / "config" / "agent.toml"
    top = (ROOT / "agent.toml").read_bytes()
    assert packaged.read_bytes() == top, "run: cp agent.toml agent/config/agent.toml"
    assert default_config_bytes() == top


def test_config_and_replay_data_are_package_data() -> None:
    tool = _pyproject()["tool"]
    assert isinstance(tool, dict)
    package_data = tool["setuptools"]["package-data"]
    assert package_data["agent.config"] == ["agent.toml"]
    assert "data/**/*.csv.gz" in package_data["venues.replay"]


def test_every_runtime_dependency_is_pinned_with_hashes_in_the_lock() -> None:
    entries = _lock_entries()
    for requirement in _runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{name} missing from {LOCK.name}: regenerate it"
        pinned, hashes = entries[name]
        assert requirement.specifier.contains(pinned, prereleases=True), (
            f"{name}=={pinned} outside {requirement.specifier}: regenerate {LOCK.name}"
        )
        assert hashes, f"{name} has no hash"


def test_every_lock_entry_has_a_sha256_hash() -> None:
    entries = _lock_entries()
    assert len(entries) > len(_runtime_requirements())  # transitive dependencies are pinned too
    for name, (_, hashes) in entries.items():
        assert hashes, f"{name} has no hash: pip install --require-hashes would refuse it"
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), name


def test_lock_header_names_the_target_and_how_to_regenerate() -> None:
    header = LOCK.read_text(encoding="utf-8").split("\n", 3)[:2]
    command = header[1]
    for flag in ("--generate-hashes", "--extra hyperliquid", "--python-version 3.11"):
        assert flag in command
    assert "x86_64-unknown-linux-gnu" in command


def test_dockerfile_runs_as_non_root_from_the_hashed_lock_with_a_health_check() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert froms
    assert all(image.startswith("python:3.11-slim") for image in froms)
    assert "--require-hashes" in text
    assert "deploy/requirements.lock" in text
    assert re.search(r"^USER zerobeta", text, flags=re.MULTILINE)
    assert 'VOLUME ["/var/lib/zerobeta"]' in text
    healthcheck = text[text.index("HEALTHCHECK") :]
    assert "urllib.request" in healthcheck.split("\n\n")[0]
    assert "http://127.0.0.1:9108/healthz" in healthcheck
    assert "curl" not in text


def test_compose_has_env_file_volume_restart_policy_and_health_check() -> None:
    yaml = pytest.importorskip("yaml")
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["zerobeta"]
    assert service["env_file"]
    assert any(v.endswith(":/var/lib/zerobeta") for v in service["volumes"])
    assert service["restart"] == "on-failure"
    assert service["stop_grace_period"] == "60s"
    assert "http://127.0.0.1:9108/healthz" in " ".join(service["healthcheck"]["test"])
