"""Built-in plugin: the host administrator's policy (``[policy]`` in the admin file).

It applies nothing to a container; it refuses, at validate time, every config that breaks a
rule (the rules and their messages are in lamina.plugins.policy.rules, the reference in
docs/security.md). It claims no field: the fields it looks at are honoured by other plugins.
Its settings come only from the admin file; nothing in config.json is read as an exception.
"""

from __future__ import annotations

from typing import Any

from lamina import hookimpl

NAME = "policy"
# None while the admin file has no [policy] table: no rule is in force, and the rules module is
# not even imported (an empty Policy checks nothing and reports nothing)
_policy: Any = None


@hookimpl
def lamina_configure(settings: dict[str, Any]) -> None:
    global _policy
    from lamina import adminconf

    path = adminconf.path() if settings else None
    table = settings.get("policy")
    if table is None:
        _policy = None
        return
    from lamina.plugins.policy import rules

    _policy = rules.parse(table, path)


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    if _policy is None:
        return []
    from lamina.plugins.policy import rules

    return rules.check(_policy, config, bundle)


@hookimpl
def lamina_audit(ctx) -> dict | None:
    if _policy is None:
        return None
    active = _policy.active()
    if not active:
        return None
    return {"admin_file": _policy.admin_file, **active}
