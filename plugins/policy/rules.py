"""The host policy of the admin file's ``[policy]`` table: parsing it and checking a config.

Pure functions over config.json (plus a few stats of host paths), so every rule is checked at
validate time, before anything exists, and `lamina check` reports exactly what `create` would
refuse. Each problem names the config field and the rule: ``<field>: <why> (policy.<rule>)``.
"""

from __future__ import annotations

import os
from typing import Any

from lamina.errors import LaminaError

# namespace type (config.json) -> name under /proc/<pid>/ns
NS_FILES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts", "user": "user",
            "cgroup": "cgroup", "time": "time"}
CAP_SETS = ("bounding", "effective", "inheritable", "permitted", "ambient")
# capabilities that administer a namespace: holding one while sharing that namespace with the
# host administers the host's (its network, its processes, its hostname, its IPC objects)
ADMIN_CAPS = {"network": ("CAP_NET_ADMIN", "CAP_SYS_ADMIN"), "pid": ("CAP_SYS_PTRACE", "CAP_SYS_ADMIN"),
              "ipc": ("CAP_IPC_OWNER", "CAP_SYS_ADMIN"), "uts": ("CAP_SYS_ADMIN",),
              "mount": ("CAP_SYS_ADMIN",), "cgroup": ("CAP_SYS_ADMIN",)}
PERMISSIVE_ACTIONS = ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG")
BOOL_RULES = ("require_seccomp", "require_selinux_label", "require_no_new_privileges", "forbid_privileged")
LIST_RULES = ("forbid_host_namespaces", "max_capabilities", "bind_source_prefixes", "hook_path_prefixes")


class Policy:
    """The rules in force (a plain class: dataclasses costs ~1 ms of import)."""

    def __init__(self, admin_file: str | None = None) -> None:
        self.admin_file = admin_file
        self.require_seccomp = False
        self.require_selinux_label = False
        self.require_no_new_privileges = False
        self.forbid_privileged = False
        self.forbid_host_namespaces: list[str] = []
        self.max_capabilities: list[str] | None = None  # None: no ceiling; []: no capability at all
        self.bind_source_prefixes: list[str] | None = None  # None: any source; []: no bind mount
        self.hook_path_prefixes: list[str] | None = None  # None: any hook; []: no hook

    def active(self) -> dict[str, Any]:
        """The rules in force, as the admin wrote them (for the audit record)."""
        out: dict[str, Any] = {r: True for r in BOOL_RULES if getattr(self, r)}
        for r in LIST_RULES:
            v = getattr(self, r)
            if v is not None and (v or r != "forbid_host_namespaces"):
                out[r] = list(v)
        return out


def parse(table: Any, admin_file: str | None) -> Policy:
    """The ``[policy]`` table, checked completely: a typo must not silently switch a rule off."""
    from lamina.plugins.process import caps

    where = f"admin file {admin_file}"
    if table is None:
        return Policy(admin_file)
    if not isinstance(table, dict):
        raise LaminaError(f"{where}: [policy] must be a table")
    pol = Policy(admin_file)
    for key, value in table.items():
        if key in BOOL_RULES:
            if not isinstance(value, bool):
                raise LaminaError(f"{where}: policy.{key} must be true or false, got {value!r}")
            setattr(pol, key, value)
        elif key in LIST_RULES:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise LaminaError(f"{where}: policy.{key} must be a list of strings, got {value!r}")
            setattr(pol, key, list(value))
        else:
            raise LaminaError(f"{where}: policy.{key}: unknown rule (expected one of "
                              f"{', '.join(BOOL_RULES + LIST_RULES)})")
    for t in pol.forbid_host_namespaces:
        if t not in NS_FILES:
            raise LaminaError(f"{where}: policy.forbid_host_namespaces: unknown namespace type {t!r} "
                              f"(expected one of {', '.join(NS_FILES)})")
    for c in pol.max_capabilities or []:
        if c not in caps.NUMBERS:
            raise LaminaError(f"{where}: policy.max_capabilities: unknown capability {c!r}")
    for key in ("bind_source_prefixes", "hook_path_prefixes"):
        for p in getattr(pol, key) or []:
            if not p.startswith("/"):
                raise LaminaError(f"{where}: policy.{key}: {p!r} must be an absolute path")
    return pol


# ---------------------------------------------------------------- helpers


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def host_namespaces(config: dict) -> dict[str, tuple[str, str]]:
    """type -> (field, how) for every namespace the container would share with the host: a type
    absent from linux.namespaces, or joined by a path that is the runtime's or PID 1's own."""
    listed = {}
    for i, ns in enumerate((config.get("linux") or {}).get("namespaces") or []):
        listed.setdefault(ns.get("type"), (i, ns))
    out = {}
    for t, f in NS_FILES.items():
        if t not in listed:
            out[t] = ("linux.namespaces", f"has no {t} namespace, so the container shares the host's")
            continue
        i, ns = listed[t]
        path = ns.get("path")
        if path and (_same_file(path, f"/proc/self/ns/{f}") or _same_file(path, f"/proc/1/ns/{f}")):
            out[t] = (f"linux.namespaces[{i}].path", f"{path} is the host's {t} namespace")
    return out


def _under(path: str, prefixes: list[str]) -> bool:
    return any(path == p.rstrip("/") or path.startswith(p.rstrip("/") + "/") or p == "/" for p in prefixes)


def _outside(path: str, prefixes: list[str], resolve: bool) -> str | None:
    """Why ``path`` is not under one of ``prefixes`` (checked as written and, on the host, resolved)."""
    norm = os.path.normpath(path)
    if not _under(norm, prefixes):
        return f"{path} is outside the allowed prefixes {', '.join(prefixes) or '(none)'}"
    if resolve:
        real = os.path.realpath(norm)
        if not _under(real, prefixes):
            return f"{path} resolves to {real}, outside the allowed prefixes {', '.join(prefixes)}"
    return None


def _is_bind(m: dict) -> bool:
    return m.get("type") == "bind" or any(o in ("bind", "rbind") for o in m.get("options") or [])


def _readonly(m: dict) -> bool:
    ro = False
    for o in m.get("options") or []:
        if o in ("ro", "rw"):
            ro = o == "ro"
    return ro


def _caps(config: dict) -> dict[str, list[str]]:
    return {s: list(((config.get("process") or {}).get("capabilities") or {}).get(s) or []) for s in CAP_SETS}


# ---------------------------------------------------------------- the rules


def check(pol: Policy, config: dict, bundle: str) -> list[str]:
    """Every way config.json breaks the host policy."""
    problems: list[str] = []

    def refuse(fieldpath: str, why: str, rule: str) -> None:
        problems.append(f"{fieldpath}: {why} (policy.{rule})")

    proc = config.get("process") or {}
    linux = config.get("linux") or {}
    if pol.require_seccomp:
        sc = linux.get("seccomp")
        if not sc:
            refuse("linux.seccomp", "the host policy requires a seccomp filter, and there is none",
                   "require_seccomp")
        elif sc.get("defaultAction") in PERMISSIVE_ACTIONS and all(
                r.get("action") in PERMISSIVE_ACTIONS for r in sc.get("syscalls") or []):
            refuse("linux.seccomp.defaultAction", f"{sc.get('defaultAction')} with no rule that denies "
                   "anything is no filter at all", "require_seccomp")
    if pol.require_selinux_label and not proc.get("selinuxLabel"):
        refuse("process.selinuxLabel", "the host policy requires an SELinux label, and there is none",
               "require_selinux_label")
    if pol.require_no_new_privileges and not proc.get("noNewPrivileges"):
        refuse("process.noNewPrivileges", "must be true on this host", "require_no_new_privileges")
    shared = host_namespaces(config) if (pol.forbid_host_namespaces or pol.forbid_privileged) else {}
    for t in pol.forbid_host_namespaces:
        if t in shared:
            where, how = shared[t]
            refuse(where, f"{how}; the host policy forbids sharing it", "forbid_host_namespaces")
    caps = _caps(config)
    if pol.max_capabilities is not None:
        ceiling = set(pol.max_capabilities)
        for s in CAP_SETS:
            for i, c in enumerate(caps[s]):
                if c not in ceiling:
                    refuse(f"process.capabilities.{s}[{i}]", f"{c} is above the host's capability ceiling",
                           "max_capabilities")
    if pol.forbid_privileged:
        problems.extend(_privileged(config, caps, shared))
    if pol.bind_source_prefixes is not None:
        for i, m in enumerate(config.get("mounts") or []):
            if not _is_bind(m):
                continue
            src = m.get("source") or ""
            src = src if src.startswith("/") else os.path.join(bundle, src)
            why = _outside(src, pol.bind_source_prefixes, resolve=True)
            if why:
                refuse(f"mounts[{i}].source", f"bind mount of {why}", "bind_source_prefixes")
    if pol.hook_path_prefixes is not None:
        for kind, hooks in (config.get("hooks") or {}).items():
            for i, h in enumerate(hooks or []):
                # startContainer hooks resolve inside the container: their host path means nothing
                why = _outside(h.get("path") or "", pol.hook_path_prefixes, resolve=kind != "startContainer")
                if why:
                    refuse(f"hooks.{kind}[{i}].path", f"hook {why}", "hook_path_prefixes")
    return problems


def _privileged(config: dict, caps: dict[str, list[str]], shared: dict[str, tuple[str, str]]) -> list[str]:
    """The hallmarks of a `--privileged` container, each refused on its own: every capability,
    a writable sysfs, or a capability that administers a namespace shared with the host."""
    from lamina.plugins.process import caps as capnames

    out = []
    rule = "(policy.forbid_privileged)"
    everything = set(capnames.NAMES[: capnames.last_cap() + 1])
    for s in ("bounding", "effective", "permitted"):
        if everything <= set(caps[s]):
            out.append(f"process.capabilities.{s}: holds every capability, as a privileged container "
                       f"does {rule}")
    for i, m in enumerate(config.get("mounts") or []):
        source = os.path.realpath(os.path.normpath(m.get("source") or "/nonexistent"))
        sysfs = m.get("type") == "sysfs" or (_is_bind(m) and _under(source, ["/sys"]))
        if sysfs and not _readonly(m):
            out.append(f"mounts[{i}]: sysfs mounted writable at {m.get('destination')}, as a privileged "
                       f"container has it {rule}")
    held = {c: (s, i) for s in reversed(CAP_SETS) for i, c in enumerate(caps[s])}
    for t, admin in ADMIN_CAPS.items():
        if t not in shared:
            continue
        for c in admin:
            if c in held:
                s, i = held[c]
                out.append(f"process.capabilities.{s}[{i}]: {c} while sharing the host's {t} namespace "
                           f"would administer the host's {rule}")
                break
    return out
