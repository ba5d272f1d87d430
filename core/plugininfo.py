"""`lamina plugins`: what is installed, what is enabled, and what each plugin hooks and claims."""

from __future__ import annotations

from typing import Any


def describe_plugins(plugins: Any | None = None) -> list[dict[str, Any]]:
    if plugins is None:
        from lamina.pluginmanager import Plugins

        plugins = Plugins()
    claims = plugins.claims_by_plugin()
    rows = []
    for name, info in sorted(plugins.infos.items()):
        rows.append({"name": name, "version": info.version, "distribution": info.dist,
                     "target": info.target, "enabled": True, "hooks": plugins.hooks_of(name),
                     "claims": sorted(claims.get(name, []))})
    for info in sorted(plugins.disabled, key=lambda i: i.name):
        rows.append({"name": info.name, "version": info.version, "distribution": info.dist,
                     "target": info.target, "enabled": False, "hooks": [], "claims": []})
    return rows
