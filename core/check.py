"""`lamina check`: would this bundle be accepted here? Nothing is created.

The same checks as `create`, in the same order (the spec's types, then the claims of the
enabled plugins and every plugin's own validation, which includes the host policy of the admin
file), with every problem reported by its field path.
"""

from __future__ import annotations

from typing import Any

from lamina.config import load as config_load
from lamina.config import schema
from lamina.errors import ConfigError


def problems(bundle: str, plugins: Any | None = None) -> list[str]:
    """Every problem of the bundle's config.json on this host; empty when `create` would accept it."""
    try:
        config = config_load.load(bundle)
    except ConfigError as e:
        return list(e.problems)
    found = schema.check_config(config)
    if isinstance(config, dict) and "process" not in config:
        found.append("process: is required to create a container")
    if found:
        return found  # the plugins' checks assume well-typed fields
    if plugins is None:
        from lamina.pluginmanager import Plugins

        plugins = Plugins()
    return plugins.validate(config, bundle)
