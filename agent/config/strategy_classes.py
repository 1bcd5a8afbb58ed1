"""Finding the strategy class a ``[strategies.<name>]`` section names, and checking that it
keeps the strategy class contract (:class:`strategies.base.ConfigurableStrategy`).

A class is named ``"package.module:ClassName"``. The module is imported from ``sys.path``;
when it is not found there, from the folder of the configuration file as well (that folder
is put at the end of ``sys.path`` while the module is imported), so ``my_strategy.py`` next
to ``agent.toml`` is ``class = "my_strategy:MyStrategy"``. A name already importable from
``sys.path`` (an installed or standard-library module) wins over a file of the same name
next to the configuration.

Every problem is a :class:`StrategyClassError` (a ``ValueError``) whose message says what was
looked for and why it does not fit; the configuration reports it on
``strategies.<name>.class``.
"""

from __future__ import annotations

import importlib
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, cast

from pydantic import BaseModel

from agent.config.sections import LegRiskConfig
from strategies.base import ConfigurableStrategy

CLASS_PATH_FORM = '"package.module:ClassName"'
_CLASS_PATH = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")
_METHODS = ("instruments", "initial_state", "load_state", "refit", "decide")


class StrategyClassError(ValueError):
    """A strategy class cannot be found, imported, or does not keep the contract."""


def load_strategy_class(
    class_path: object, search_dir: Path | None
) -> type[ConfigurableStrategy[Any]]:
    """The strategy class named by ``class_path``, checked against the contract.

    Parameters
    ----------
    class_path : object
        The section's ``class`` value; must be a string ``"package.module:ClassName"``.
    search_dir : Path or None
        The configuration file's folder, searched after ``sys.path``; None = ``sys.path``
        only.

    Returns
    -------
    type[ConfigurableStrategy]

    Raises
    ------
    StrategyClassError
        If ``class_path`` is not of that form, the module cannot be found or raises while it
        is imported, it has no such attribute, or the attribute is not a strategy class
        (:func:`contract_problems`).
    """
    if not isinstance(class_path, str) or not _CLASS_PATH.match(class_path):
        raise StrategyClassError(f"{class_path!r} is not of the form {CLASS_PATH_FORM}")
    module_name, attr = class_path.split(":")
    module = _import(module_name, search_dir)
    found = getattr(module, attr, None)
    if found is None:
        where = getattr(module, "__file__", None) or module_name
        raise StrategyClassError(f"module {module_name!r} ({where}) has no attribute {attr!r}")
    if not isinstance(found, type):
        raise StrategyClassError(f"{class_path} is not a class")
    problems = contract_problems(found)
    if problems:
        raise StrategyClassError(
            f"{class_path} is not a strategy class: {'; '.join(problems)} "
            "(see strategies.base.ConfigurableStrategy)"
        )
    return cast(type[ConfigurableStrategy[Any]], found)


def contract_problems(cls: type) -> list[str]:
    """What ``cls`` lacks to be a strategy class agent.toml can name ([] when nothing).

    Checked: ``config_model`` is a pydantic model class, frozen, refusing unknown keys, with an
    ``enabled: bool`` field and none of the agent's per-strategy keys (``leg_policy``,
    ``naked_budget_usd_s``: :class:`agent.config.sections.LegRiskConfig`); ``from_config``
    and the :class:`~strategies.base.Strategy` methods are callable; ``hedges_portfolio``,
    when present, is a bool.
    """
    problems: list[str] = []
    model = getattr(cls, "config_model", None)
    if isinstance(model, type) and issubclass(model, BaseModel):
        problems.extend(_model_problems(model))
    else:
        problems.append("no config_model (the pydantic model class of its parameters)")
    if not callable(getattr(cls, "from_config", None)):
        problems.append("no from_config classmethod")
    missing = [m for m in _METHODS if not callable(getattr(cls, m, None))]
    if missing:
        problems.append(f"no {', '.join(missing)} method{'s' if len(missing) > 1 else ''}")
    if not isinstance(getattr(cls, "hedges_portfolio", False), bool):
        problems.append("hedges_portfolio is not a bool")
    return problems


def _model_problems(model: type[BaseModel]) -> list[str]:
    problems: list[str] = []
    enabled = model.model_fields.get("enabled")
    if enabled is None or enabled.annotation is not bool:
        problems.append("its config_model has no `enabled: bool` field")
    config = model.model_config
    if not config.get("frozen") or config.get("extra") != "forbid":
        problems.append(
            "its config_model must be frozen and refuse unknown keys "
            '(model_config = ConfigDict(frozen=True, extra="forbid"))'
        )
    taken = [key for key in LegRiskConfig.model_fields if key in model.model_fields]
    if taken:
        problems.append(
            f"its config_model has a field {', '.join(taken)}: a key the agent reads in every "
            "strategy section (leg risk), not the strategy's"
        )
    return problems


def _import(module_name: str, search_dir: Path | None) -> ModuleType:
    """Import ``module_name`` from ``sys.path``, else from ``search_dir`` too."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if not _is_missing(module_name, err):
            raise _import_failed(module_name, err) from err
        if search_dir is None or str(search_dir) in sys.path:
            raise StrategyClassError(
                f"cannot import module {module_name!r}: not found on sys.path"
            ) from err
    except Exception as err:  # the user's module may raise anything while it is imported
        raise _import_failed(module_name, err) from err
    return _import_from(module_name, search_dir)


def _import_from(module_name: str, search_dir: Path) -> ModuleType:
    """Import ``module_name`` with ``search_dir`` at the end of ``sys.path`` meanwhile."""
    entry = str(search_dir)
    importlib.invalidate_caches()  # the file may be newer than the finders' directory listings
    sys.path.append(entry)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        if not _is_missing(module_name, err):
            raise _import_failed(module_name, err) from err
        raise StrategyClassError(
            f"cannot import module {module_name!r}: not found on sys.path nor in {search_dir}"
        ) from err
    except Exception as err:  # the user's module may raise anything while it is imported
        raise _import_failed(module_name, err) from err
    finally:
        _remove_last(sys.path, entry)


def _is_missing(module_name: str, err: ModuleNotFoundError) -> bool:
    """Whether ``err`` says the module itself (or a package of its path) does not exist, as
    opposed to a module it imports."""
    missing = err.name or ""
    return bool(missing) and (module_name == missing or module_name.startswith(missing + "."))


def _import_failed(module_name: str, err: BaseException) -> StrategyClassError:
    return StrategyClassError(
        f"importing module {module_name!r} failed: {type(err).__name__}: {err}"
    )


def _remove_last(items: list[str], entry: str) -> None:
    """Remove the last occurrence of ``entry`` (the one appended), if still there."""
    for k in range(len(items) - 1, -1, -1):
        if items[k] == entry:
            del items[k]
            return
