"""The code's structure (README "Layout"): no module imports another module's private names.

The layering, the packages' independence and the absence of import cycles (``TYPE_CHECKING``
imports included) are import-linter contracts (``[tool.importlinter]`` in pyproject.toml, run by
``lint-imports`` in ``.ci/run``); this test adds what import-linter cannot see: a private name
(``_x``) reached across modules, by ``from m import _x`` or as ``m._x``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("agent", "strategies", "venues")


def _is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _private_reaches(path: Path) -> list[str]:
    """``from m import _x``, imports of a module ``_m`` and ``m._x`` where ``m`` is one of ours."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    ours: set[str] = set()
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] not in PACKAGES:
                continue
            if any(_is_private(part) for part in node.module.split(".")):
                found.append(f"from {node.module} import ...")
            for alias in node.names:
                if _is_private(alias.name):
                    found.append(f"from {node.module} import {alias.name}")
                ours.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    ours.add((alias.asname or alias.name).split(".")[0])
    found.extend(
        f"{node.value.id}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id in ours
        and _is_private(node.attr)
    )
    return found


MODULES = sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def test_the_scan_sees_every_package() -> None:
    assert {p.relative_to(ROOT).parts[0] for p in MODULES} == set(PACKAGES)


def test_the_scan_finds_a_private_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from agent.engine import runner\nfrom venues.fields import _x\nrunner._slot\n",
        encoding="utf-8",
    )
    assert _private_reaches(module) == ["from venues.fields import _x", "runner._slot"]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_reaches_into_another_modules_private_names(path: Path) -> None:
    assert _private_reaches(path) == []
