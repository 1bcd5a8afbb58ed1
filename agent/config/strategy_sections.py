"""The ``[strategies.<name>]`` sections: which strategy class each runs, its parameters, and
the order the strategies run in.

A section is named in snake_case (``^[a-z][a-z0-9_]{0,39}$``) and holds an optional
``class = "package.module:ClassName"`` key (:mod:`agent.config.strategy_classes`; required
for a name that is not a built-in of :data:`strategies.builtin.BUILTIN_STRATEGIES`), the
agent's leg-risk keys every section may hold (:data:`LEG_RISK_KEYS`: ``leg_policy``,
``naked_budget_usd_s``, validated by :class:`agent.config.sections.LegRiskConfig`; a strategy's
own model may not use these names) and the strategy's parameters, validated by the class's
``config_model``:

- an **enabled** section is validated in full, its errors reported under its path
  (``strategies.stat_arb.entry_z: ...``);
- a **disabled** one is checked for form only: it is a table, its class imports and keeps the
  contract, and its keys are fields of the model (an unknown key is refused), but their values
  are not validated, so a section can be kept switched off while it would not run as written.

Built-in sections that no source writes are present with their defaults (as before strategies
could be plugged in), after the written ones. ``[strategies.funding_flip_monitor]`` is not a
strategy: it configures the guardian (:class:`~strategies.flip_monitor.config.FlipMonitorConfig`)
and is an ordinary typed field.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any, Self, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from agent.config.sections import FieldErrors, LegRiskConfig
from agent.config.sources import config_dir, unknown_key_reason, validation_errors
from agent.config.strategy_classes import CLASS_PATH_FORM, load_strategy_class
from strategies.base import ConfigurableStrategy
from strategies.builtin import BUILTIN_STRATEGIES
from strategies.flip_monitor.config import FlipMonitorConfig

SECTION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
"""What a ``[strategies.<name>]`` section may be called."""
MONITOR_SECTION = "funding_flip_monitor"
"""The guardian's section: not a strategy."""
CLASS_KEY = "class"
LEG_RISK_KEYS = tuple(LegRiskConfig.model_fields)
"""The agent's per-strategy keys (``leg_policy``, ``naked_budget_usd_s``): read here, not by
the strategy's model."""
_RESERVED = {"unattributed": "the ledger's owner of positions that no strategy claims"}
_ENABLED = TypeAdapter(bool)

ParamsT = TypeVar("ParamsT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class StrategySection:
    """One ``[strategies.<name>]`` section, read.

    Attributes
    ----------
    name : str
        The section name; the strategy built from it carries it as its ``name``.
    class_path : str
        ``"package.module:ClassName"`` of the strategy class (a built-in's when the section
        names none).
    strategy_class : type[ConfigurableStrategy]
        That class, imported and checked.
    enabled : bool
        Whether the strategy runs.
    params : pydantic.BaseModel
        An instance of ``strategy_class.config_model``: validated when ``enabled``; for a
        disabled section, the values as written over the model's defaults, *not* validated.
    leg_risk : LegRiskConfig
        The section's ``leg_policy`` and ``naked_budget_usd_s`` (validated like ``params``).
    """

    name: str
    class_path: str
    strategy_class: type[ConfigurableStrategy[Any]]
    enabled: bool
    params: BaseModel
    leg_risk: LegRiskConfig = dataclass_field(default_factory=LegRiskConfig)

    @property
    def hedges_portfolio(self) -> bool:
        """Whether the class hedges what the other strategies hold (runs after them)."""
        return bool(getattr(self.strategy_class, "hedges_portfolio", False))

    def dump(self, mode: str) -> dict[str, Any]:
        """The section as ``agent.toml`` would write it: ``class`` first, then every
        parameter, then the leg-risk keys (``mode`` as in ``BaseModel.model_dump``)."""
        # A disabled section's values are unvalidated: dump them as they are, without
        # pydantic's warnings about values of an unexpected type.
        values = self.params.model_dump(mode=mode, warnings=self.enabled)
        leg_risk = self.leg_risk.model_dump(mode=mode, warnings=self.enabled)
        return {CLASS_KEY: self.class_path, **values, **leg_risk}


class StrategiesConfig(BaseModel):
    """``[strategies.*]``: one section per strategy, plus the funding-flip monitor's.

    Frozen. Read a section with :meth:`section` (or its typed parameters with
    :meth:`params`); :meth:`run_order` is what the agent builds, in order.

    Raises
    ------
    pydantic.ValidationError
        Every problem of every section at once (see the module docstring), with key paths
        under ``strategies``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    funding_flip_monitor: FlipMonitorConfig = Field(
        default_factory=FlipMonitorConfig,
        description="Guardian closing funding positions once funding turns against them.",
    )
    _sections: tuple[StrategySection, ...] = PrivateAttr(default=())

    @model_validator(mode="wrap")
    @classmethod
    def _read_sections(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Self:
        """Read every strategy section (errors of all sections together), then the monitor's
        section as an ordinary field."""
        if not isinstance(data, Mapping):  # an instance, or not a table: pydantic's own rules
            built: Self = handler(data)
            return built
        given = dict(data)
        monitor = {MONITOR_SECTION: given.pop(MONITOR_SECTION)} if MONITOR_SECTION in given else {}
        sections, errors = read_sections(given, config_dir())
        try:
            model: Self = handler(monitor)
        except ValidationError as err:
            raise FieldErrors([*validation_errors(err, cls), *errors]) from None
        if errors:
            raise FieldErrors(errors)
        model._sections = sections
        return model

    @model_serializer(mode="wrap")
    def _dump(
        self, handler: SerializerFunctionWrapHandler, info: SerializationInfo
    ) -> dict[str, Any]:
        """Each strategy section (in order), then the monitor's."""
        out = {s.name: s.dump(info.mode) for s in self._sections}
        out.update(handler(self))
        return out

    @property
    def sections(self) -> tuple[StrategySection, ...]:
        """Every strategy section, enabled or not, in configuration order (the order of the
        sections in ``agent.toml``; sections named only in the environment or in overrides
        after them; built-in sections written nowhere last, in the built-in table's order)."""
        return self._sections

    def names(self) -> tuple[str, ...]:
        """The strategy section names, in configuration order (not the monitor's)."""
        return tuple(s.name for s in self._sections)

    def section(self, name: str) -> StrategySection:
        """The section ``[strategies.<name>]``.

        Raises
        ------
        KeyError
            If there is no strategy section of that name.
        """
        for s in self._sections:
            if s.name == name:
                return s
        raise KeyError(f"no [strategies.{name}] section; sections: {', '.join(self.names())}")

    def params(self, name: str, model: type[ParamsT]) -> ParamsT:
        """The parameters of section ``name``, typed: ``params("stat_arb", StatArbConfig)``.

        Raises
        ------
        KeyError
            If there is no such section.
        TypeError
            If its parameters are not a ``model`` (the section runs another class).
        """
        params = self.section(name).params
        if not isinstance(params, model):
            kind = type(params).__name__
            raise TypeError(f"[strategies.{name}] parameters are a {kind}, not a {model.__name__}")
        return params

    def run_order(self) -> list[StrategySection]:
        """The enabled sections in the order their strategies run in each step.

        Configuration order (:attr:`sections`), except that strategies whose class hedges the
        portfolio (``hedges_portfolio = True``: the beta hedger) run after all the others,
        in configuration order among themselves.
        """
        enabled = [s for s in self._sections if s.enabled]
        return sorted(enabled, key=lambda s: s.hedges_portfolio)  # stable: keeps the order


def read_sections(
    given: Mapping[str, Any], search_dir: Path | None
) -> tuple[tuple[StrategySection, ...], list[tuple[str, str]]]:
    """Read the strategy sections ``given`` (name → table), then add each built-in section
    not given, with its defaults.

    Returns
    -------
    tuple
        The sections in order, and every problem found as ``(path, reason)`` with paths
        relative to ``strategies`` (``stat_arb.entry_z``).
    """
    sections: list[StrategySection] = []
    errors: list[tuple[str, str]] = []
    for name, raw in given.items():
        try:
            sections.append(read_section(str(name), raw, search_dir))
        except FieldErrors as err:
            errors.extend(err.errors)
    unwritten = [name for name in BUILTIN_STRATEGIES if name not in given]
    sections.extend(read_section(name, {}, None) for name in unwritten)
    return tuple(sections), errors


def read_section(name: str, raw: Any, search_dir: Path | None) -> StrategySection:
    """Read one section ``[strategies.<name>]`` (see the module docstring).

    Raises
    ------
    FieldErrors
        Every problem of the section, paths relative to ``strategies``.
    """
    _check_name(name)
    if not isinstance(raw, Mapping) and name not in BUILTIN_STRATEGIES:
        raise FieldErrors([(name, "must be a table: the strategy's class and parameters")])
    class_path, strategy_class = _strategy_class(name, raw, search_dir)
    model = strategy_class.config_model
    if not isinstance(raw, Mapping):  # the model's own error ("a valid dictionary")
        return StrategySection(name, class_path, strategy_class, True, _validate(name, model, raw))
    own = {k: v for k, v in raw.items() if k != CLASS_KEY and k not in LEG_RISK_KEYS}
    given = _decode_json_values(model, own)
    leg_risk_given = {k: raw[k] for k in LEG_RISK_KEYS if k in raw}
    enabled = _is_enabled(model, given)
    if not enabled:
        params = _check_form(name, model, given)
        leg_risk = LegRiskConfig.model_construct(**leg_risk_given)
        return StrategySection(name, class_path, strategy_class, False, params, leg_risk)
    errors: list[tuple[str, str]] = []
    try:
        params = _validate(name, model, given)
    except FieldErrors as err:
        errors.extend(err.errors)
    try:
        leg_risk = LegRiskConfig.model_validate(leg_risk_given)
    except ValidationError as err:
        errors.extend(validation_errors(err, LegRiskConfig, (name,)))
    if errors:
        raise FieldErrors(errors)
    return StrategySection(name, class_path, strategy_class, True, params, leg_risk)


def _check_name(name: str) -> None:
    if not SECTION_NAME.match(name):
        reason = (
            "not a strategy section name: a lowercase letter, then lowercase letters, digits "
            "or _, 40 characters at most"
        )
        raise FieldErrors([(name, reason)])
    if name in _RESERVED:
        raise FieldErrors([(name, f"reserved name ({_RESERVED[name]}); choose another")])


def _strategy_class(
    name: str, raw: Any, search_dir: Path | None
) -> tuple[str, type[ConfigurableStrategy[Any]]]:
    """The class path the section names (or its built-in's) and the class, checked."""
    path = f"{name}.{CLASS_KEY}"
    if isinstance(raw, Mapping) and CLASS_KEY in raw:
        class_path, where = raw[CLASS_KEY], search_dir
    elif name in BUILTIN_STRATEGIES:
        class_path, where = BUILTIN_STRATEGIES[name], None
    else:
        builtins = ", ".join(sorted(BUILTIN_STRATEGIES))
        reason = (
            f"required: {name!r} is not a built-in strategy ({builtins}); name the strategy "
            f"class as {CLASS_PATH_FORM}"
        )
        raise FieldErrors([(path, reason)])
    try:
        return str(class_path), load_strategy_class(class_path, where)
    except ValueError as err:
        raise FieldErrors([(path, str(err))]) from None


def _is_enabled(model: type[BaseModel], given: Mapping[str, Any]) -> bool:
    """The section's ``enabled`` value (or the model's default); a value that is no boolean
    counts as enabled, so the full validation reports it."""
    field = model.model_fields["enabled"]
    value = given["enabled"] if "enabled" in given else field.get_default(call_default_factory=True)
    try:
        return _ENABLED.validate_python(value)
    except ValidationError:
        return True


def _validate(name: str, model: type[BaseModel], given: Any) -> BaseModel:
    try:
        return model.model_validate(given)
    except ValidationError as err:
        errors = validation_errors(err, model, (name,))
        plain, section = unknown_key_reason(model), _unknown_key_reason(model)
        raise FieldErrors([(p, section if r == plain else r) for p, r in errors]) from None


def _check_form(name: str, model: type[BaseModel], given: Mapping[str, Any]) -> BaseModel:
    """A disabled section: every key a field of ``model``; values kept unvalidated."""
    unknown = [k for k in given if k not in model.model_fields]
    if unknown:
        reason = _unknown_key_reason(model)
        raise FieldErrors([(f"{name}.{key}", reason) for key in unknown])
    return model.model_construct(**{**given, "enabled": False})


def _unknown_key_reason(model: type[BaseModel]) -> str:
    """Why a key is refused in a section of ``model``: the model's keys and the agent's
    leg-risk keys are allowed there."""
    allowed = sorted({*model.model_fields, *LEG_RISK_KEYS})
    return f"unknown key; allowed here: {', '.join(allowed)}"


def _decode_json_values(model: type[BaseModel], given: dict[str, Any]) -> dict[str, Any]:
    """Values of list or table parameters given as JSON text (as the environment gives them:
    ``ZEROBETA_STRATEGIES__STAT_ARB__SYMBOLS='["BTCUSDT", "ETHUSDT"]'``) decoded; text that
    is not JSON is left for the validation to refuse."""
    out = dict(given)
    for key, value in given.items():
        field = model.model_fields.get(key)
        if field is None or not isinstance(value, str) or not _is_complex(field.annotation):
            continue
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            continue
    return out


def _is_complex(annotation: Any) -> bool:
    """Whether a field's type is a container or a model (its environment value is JSON)."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        return any(_is_complex(arg) for arg in typing.get_args(annotation))
    target = origin if origin is not None else annotation
    return isinstance(target, type) and (
        issubclass(target, list | tuple | dict | set | frozenset | BaseModel)
    )
