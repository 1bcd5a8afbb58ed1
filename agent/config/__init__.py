"""Configuration: ``agent.toml`` → frozen pydantic-settings models.

Owns the section models (:mod:`.sections`), the ``[strategies.<name>]`` sections
(:mod:`.strategy_sections`) and the strategy classes they name (:mod:`.strategy_classes`),
where values come from — TOML, environment, secrets directory — and how their errors read
(:mod:`.sources`), the checks that span sections (:mod:`.checks`) and the root
:class:`AgentConfig` with :func:`load_config` (:mod:`.settings`).
May import: ``agent.errors``, ``venues`` (the registry's venue facts), ``strategies.base``,
``strategies.builtin`` and the flip monitor's config model; strategy classes are imported by
name (``importlib``) when a configuration names them. Nothing else in ``agent`` is imported
here.

The public names of :mod:`.settings` are re-exported: ``from agent.config import AgentConfig``.
"""

from agent.config.settings import *  # noqa: F403  (the package's public face is settings')
from agent.config.settings import __all__ as __all__
