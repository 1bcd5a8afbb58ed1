"""The configuration package's structure (README "Layout"): no import cycle,
not even behind ``TYPE_CHECKING``, and no private name imported across modules.

Read from the source with ``ast``, so a cycle hidden from the interpreter is found too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import agent.config

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "agent" / "config"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every absolute import in ``path``, at any depth."""
    out: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
    return out


def _config_graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in CONFIG_DIR.glob("*.py")}
    return {
        name: {target for target, _ in _imports(path) if target in modules}
        for name, path in modules.items()
    }


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            found = visit(target, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for start in sorted(graph):
        found = visit(start, [])
        if found:
            return found
    return None


def test_config_modules_form_no_import_cycle() -> None:
    graph = _config_graph()
    assert len(graph) >= 5  # __init__, checks, sections, settings, sources
    assert _cycle(graph) is None
    # the checks take sections, not the root model: they do not import the package
    assert "agent.config" not in graph["agent.config.checks"]


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}
    assert _cycle(graph) == ["a", "b", "c", "a"]


def test_no_private_name_is_imported_from_the_config_package() -> None:
    offenders = []
    for path in sorted([*(ROOT / "agent").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]):
        in_config = path.parent == CONFIG_DIR
        for module, names in _imports(path):
            if not (in_config or module.startswith("agent.config")):
                continue
            offenders += [
                f"{path.relative_to(ROOT)}: {module}.{n}"
                for n in names
                if n.startswith("_") and not n.endswith("__")  # dunders (__all__) are public
            ]
    assert offenders == []


def test_the_package_reexports_settings_public_names() -> None:
    from agent.config import settings

    assert agent.config.__all__ == settings.__all__
    assert all(getattr(agent.config, n) is getattr(settings, n) for n in settings.__all__)
    assert not any(n.startswith("_") for n in settings.__all__)
