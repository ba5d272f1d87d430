"""Device-access rules for the v1 devices controller."""

from __future__ import annotations

# what every container may use whatever linux.resources.devices says (runc's list): the default
# devices, /dev/pts/*, /dev/ptmx, /dev/console's pty, and mknod of any char/block node
DEFAULT_ALLOW = [
    ("c", "*", "*", "m"), ("b", "*", "*", "m"),
    ("c", 1, 3, "rwm"), ("c", 1, 5, "rwm"), ("c", 1, 7, "rwm"), ("c", 1, 8, "rwm"), ("c", 1, 9, "rwm"),
    ("c", 5, 0, "rwm"), ("c", 5, 1, "rwm"), ("c", 5, 2, "rwm"), ("c", 136, "*", "rwm"),
]


def check(rule: dict, where: str) -> list[str]:
    problems = []
    t = rule.get("type", "a")
    if t not in ("a", "c", "b"):
        problems.append(f"{where}.type: unknown device type {t!r} (expected a, c or b)")
    access = rule.get("access", "rwm")
    if not access or set(access) - set("rwm"):
        problems.append(f"{where}.access: {access!r} must be made of r, w and m")
    for k in ("major", "minor"):
        if rule.get(k) is not None and rule[k] < 0:
            problems.append(f"{where}.{k}: {rule[k]} must not be negative")
    return problems


def line(t: str, major, minor, access: str) -> str:
    if t == "a":
        return "a *:* rwm"
    return f"{t} {'*' if major is None else major}:{'*' if minor is None else minor} {access}"


def rules(config: dict) -> list[tuple[bool, str]]:
    """(allow, rule) in the order they must be written: deny all, the config's rules, the
    devices of linux.devices, then the defaults."""
    linux = config.get("linux") or {}
    out = [(False, "a *:* rwm")]
    for r in (linux.get("resources") or {}).get("devices") or []:
        out.append((r["allow"], line(r.get("type", "a"), r.get("major"), r.get("minor"),
                                     r.get("access", "rwm"))))
    for d in linux.get("devices") or []:
        t = "c" if d["type"] == "u" else d["type"]
        if t in ("c", "b"):
            out.append((True, line(t, d.get("major"), d.get("minor"), "rwm")))
    out += [(True, line(*r)) for r in DEFAULT_ALLOW]
    return out
