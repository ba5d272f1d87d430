"""Device-access rules: what linux.resources.devices asks for, in the order it must be applied.

One list serves both back-ends: v1 writes each rule to devices.allow / devices.deny, v2 compiles
the list into an eBPF program (lamina.plugins.cgroups.bpf_devices). The list always starts by
denying everything and always ends with the devices every container may use, so a config can
neither open the host's devices by omission nor take /dev/null away.
"""

from __future__ import annotations

from lamina.values import Value

ACCESS_BITS = {"m": 1, "r": 2, "w": 4}  # BPF_DEVCG_ACC_MKNOD / READ / WRITE


class Rule(Value):
    __slots__ = ("allow", "type", "major", "minor", "access")

    def __init__(self, allow: bool, type: str, major: int | None, minor: int | None, access: str) -> None:
        self.allow = allow
        self.type = type  # "a" (all), "c" or "b"
        self.major = major  # None: any
        self.minor = minor
        self.access = access  # some of "rwm"

    def line(self) -> str:
        """The rule as the v1 devices.allow / devices.deny files take it."""
        if self.type == "a" and self.major is None and self.minor is None:
            return f"a *:* {self.access}"
        major = "*" if self.major is None else self.major
        minor = "*" if self.minor is None else self.minor
        return f"{self.type} {major}:{minor} {self.access}"

    @property
    def access_mask(self) -> int:
        return sum(ACCESS_BITS[c] for c in set(self.access))

    @property
    def matches_all(self) -> bool:
        return self.type == "a" and self.major is None and self.minor is None and self.access_mask == 7


DENY_ALL = Rule(False, "a", None, None, "rwm")

# what every container may use whatever linux.resources.devices says (runc's list): mknod of any
# node, the default devices (null, zero, full, tty, random, urandom), /dev/console, /dev/ptmx
# and the pty slaves of /dev/pts
DEFAULT_ALLOW = (
    Rule(True, "c", None, None, "m"), Rule(True, "b", None, None, "m"),
    Rule(True, "c", 1, 3, "rwm"), Rule(True, "c", 1, 5, "rwm"), Rule(True, "c", 1, 7, "rwm"),
    Rule(True, "c", 1, 8, "rwm"), Rule(True, "c", 1, 9, "rwm"), Rule(True, "c", 5, 0, "rwm"),
    Rule(True, "c", 5, 1, "rwm"), Rule(True, "c", 5, 2, "rwm"), Rule(True, "c", 136, None, "rwm"),
)


def check(rule: dict, where: str) -> list[str]:
    problems = []
    t = rule.get("type", "a")
    if t not in ("a", "c", "b"):
        problems.append(f"{where}.type: unknown device type {t!r} (expected a, c or b)")
    access = rule.get("access", "rwm")
    if not access or set(access) - set("rwm"):
        problems.append(f"{where}.access: {access!r} must be made of r, w and m")
    for k in ("major", "minor"):
        v = rule.get(k)
        if v is not None and not 0 <= v < 2**32:
            problems.append(f"{where}.{k}: {v} must be a device number in [0, 4294967295] "
                            "(or absent for any)")
    return problems


def from_config(r: dict) -> Rule:
    return Rule(bool(r["allow"]), r.get("type") or "a", r.get("major"), r.get("minor"),
                r.get("access") or "rwm")


def rules(config: dict) -> list[Rule]:
    """Deny all, the config's rules, the nodes of linux.devices, then the defaults: later rules
    win over earlier ones, as the kernel applies v1 writes one after another."""
    linux = config.get("linux") or {}
    out = [DENY_ALL]
    out += [from_config(r) for r in (linux.get("resources") or {}).get("devices") or []]
    for d in linux.get("devices") or []:
        t = "c" if d["type"] == "u" else d["type"]
        if t in ("c", "b"):
            out.append(Rule(True, t, d.get("major"), d.get("minor"), "rwm"))
    out += DEFAULT_ALLOW
    return out


def allowed(rule_list: list[Rule], dev_type: str, major: int, minor: int, access: str) -> bool:
    """Reference semantics of a rule list (what the v2 program must compute): the last rule that
    matches decides. An allow rule matches when it grants every access asked for; a deny rule
    when it takes away any of them."""
    want = sum(ACCESS_BITS[c] for c in set(access))
    for r in reversed(rule_list):
        if r.type != "a" and r.type != dev_type:
            continue
        if (r.major is not None and r.major != major) or (r.minor is not None and r.minor != minor):
            continue
        if r.allow and want & ~r.access_mask == 0:
            return True
        if not r.allow and want & r.access_mask:
            return False
    return False
