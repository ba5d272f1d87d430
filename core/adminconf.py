"""The host administrator's file, `/etc/lamina/lamina.toml`: which plugins run, and their settings.

Only root may decide this: the file must be owned by root and not writable by group or others,
or lamina refuses to run. config.json can never disable or replace a plugin. `LAMINA_CONFIG`
names another file (tests use it); the same ownership rules apply to it.

    [plugins]
    disable = ["ocihooks"]          # entry-point names that must not load
    require = ["landlock"]          # names that must be present, or nothing runs
    [plugins.replace]
    cgroups = "acme-cgroups"        # run acme-cgroups instead of the built-in cgroups
    [plugin.cgroups]                # a plugin's own settings (see lamina_configure)
    [policy]                        # host policy, enforced by the built-in policy plugin
    require_seccomp = true          #   (docs/security.md lists every rule)
    [audit]
    log = "/var/log/lamina/audit.jsonl"   # one JSON line per create, start, kill, delete
"""

from __future__ import annotations

import os
import stat
from typing import Any

from lamina.errors import LaminaError

DEFAULT_PATH = "/etc/lamina/lamina.toml"


class AdminConfig:
    """The parsed admin file (what it says, with defaults for what it does not)."""

    def __init__(self, path: str | None, settings: dict[str, Any] | None = None, mtime: float = 0.0) -> None:
        self.path = path
        self.settings: dict[str, Any] = settings if settings is not None else {}
        self.disabled: set[str] = set()
        self.required: set[str] = set()
        self.mtime = mtime
        self.audit_log: str | None = None  # [audit] log: one JSON line per lifecycle event


def path() -> str:
    return os.environ.get("LAMINA_CONFIG") or DEFAULT_PATH


def load() -> AdminConfig:
    p = path()
    try:
        fd = os.open(p, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        if p != DEFAULT_PATH:
            raise LaminaError(f"admin file {p} (LAMINA_CONFIG): no such file or directory") from None
        return AdminConfig(None)
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            raise LaminaError(f"admin file {p} must be owned by root and writable only by root")
        import tomllib

        try:
            data = tomllib.load(f)
        except tomllib.TOMLDecodeError as e:
            raise LaminaError(f"admin file {p}: invalid TOML: {e}") from None
    cfg = AdminConfig(p, data, mtime=st.st_mtime)
    plugins = data.get("plugins", {})
    if not isinstance(plugins, dict):
        raise LaminaError(f"admin file {p}: [plugins] must be a table")
    for key in ("disable", "require"):
        v = plugins.get(key, [])
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise LaminaError(f"admin file {p}: plugins.{key} must be a list of plugin names")
    cfg.disabled = set(plugins.get("disable", []))
    cfg.required = set(plugins.get("require", []))
    replace = plugins.get("replace", {})
    if not isinstance(replace, dict) or not all(isinstance(v, str) for v in replace.values()):
        raise LaminaError(f"admin file {p}: plugins.replace must map a plugin name to its replacement")
    for old, new in replace.items():
        cfg.disabled.add(old)
        cfg.required.add(new)
    _policy_and_audit(p, data, cfg, replace)
    both = cfg.disabled & cfg.required
    if both:
        raise LaminaError(f"admin file {p}: {', '.join(sorted(both))} both disabled and required")
    return cfg


def _policy_and_audit(p: str, data: dict, cfg: AdminConfig, replace: dict) -> None:
    """A [policy] with rules makes the policy plugin required (it alone enforces them), unless
    the admin replaced it; [audit] log must be an absolute path."""
    policy = data.get("policy")
    if policy is not None and not isinstance(policy, dict):
        raise LaminaError(f"admin file {p}: [policy] must be a table")
    if policy and "policy" not in replace:
        if "policy" in cfg.disabled:
            raise LaminaError(f"admin file {p}: [policy] sets rules, but plugins.disable turns off the "
                              f"policy plugin that enforces them")
        cfg.required.add("policy")
    audit = data.get("audit", {})
    if not isinstance(audit, dict):
        raise LaminaError(f"admin file {p}: [audit] must be a table")
    unknown = sorted(set(audit) - {"log"})
    if unknown:
        raise LaminaError(f"admin file {p}: audit.{unknown[0]}: unknown setting (expected: log)")
    log = audit.get("log")
    if log is not None and (not isinstance(log, str) or not log.startswith("/")):
        raise LaminaError(f"admin file {p}: audit.log must be an absolute path, got {log!r}")
    cfg.audit_log = log
