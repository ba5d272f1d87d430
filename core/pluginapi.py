"""What a plugin must satisfy to be loaded: the hook API version it declares, and hook names.

Both checks turn a mistake that would otherwise be silent into a load error: a plugin written
for another hook API (it may implement a hook whose arguments changed, or rely on one this
lamina lacks), and a function named like a hook that pluggy would ignore (misspelled, or
missing ``@lamina.hookimpl``), so that the isolation it was meant to apply never happens.
"""

from __future__ import annotations

from typing import Any

from lamina.errors import LaminaError

ATTRIBUTE = "LAMINA_HOOK_API"
PREFIX = "lamina_"


def is_builtin(dist: str, target: str) -> bool:
    """Built-in plugins ship in the lamina distribution and are always at the core's version."""
    return dist == "lamina" and target.startswith("lamina.plugins.")


def check_version(name: str, dist: str, target: str, obj: Any) -> int | None:
    """The hook API version a plugin declares; LaminaError unless this lamina speaks it."""
    from lamina.hookspecs import HOOK_API_MIN, HOOK_API_VERSION

    declared = getattr(obj, ATTRIBUTE, None)
    if declared is None and is_builtin(dist, target):
        return HOOK_API_VERSION
    speaks = f"this lamina speaks hook API {HOOK_API_MIN}..{HOOK_API_VERSION}"
    if declared is None:
        raise LaminaError(f"plugin {name} ({target}) does not declare {ATTRIBUTE}, the hook API "
                          f"version it was written for; {speaks} (see docs/plugins.md)")
    if not isinstance(declared, int) or isinstance(declared, bool):
        raise LaminaError(f"plugin {name} ({target}): {ATTRIBUTE} must be an integer, got {declared!r}")
    if declared > HOOK_API_VERSION:
        raise LaminaError(f"plugin {name} ({target}) needs hook API {declared}, but {speaks}: "
                          f"upgrade lamina")
    if declared < HOOK_API_MIN:
        raise LaminaError(f"plugin {name} ({target}) was written for hook API {declared}, which "
                          f"changed incompatibly since; {speaks}: upgrade the plugin")
    return declared


def spec_names() -> set[str]:
    from lamina import hookspecs

    return {n for n in dir(hookspecs) if n.startswith(PREFIX)}


def check_hook_names(name: str, obj: Any, specs: set[str]) -> None:
    """Every attribute named ``lamina_*`` must be a hook implementation of a known hook: the
    prefix is reserved for hooks (as ``pytest_`` is in pytest), so helpers take other names."""
    for attr in sorted(dir(obj)):
        if not attr.startswith(PREFIX):
            continue
        value = getattr(obj, attr, None)
        opts = getattr(value, "lamina_impl", None) if callable(value) else None
        # @hookimpl(specname=...) implements a hook under another name (two impls of one hook)
        hook = (opts or {}).get("specname") or attr
        if hook not in specs:
            import difflib

            near = difflib.get_close_matches(hook, sorted(specs), n=1)
            hint = f" (did you mean {near[0]}?)" if near else ""
            raise LaminaError(f"plugin {name}: {hook} is not a lamina hook{hint}")
        if opts is None:
            raise LaminaError(f"plugin {name}: {attr} is not marked with @lamina.hookimpl, so it would "
                              f"never be called")
