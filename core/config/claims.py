"""Which config.json fields must be honoured by some enabled plugin before `create` may go on.

A field listed here that is present (and not empty) in config.json must be claimed by a loaded,
enabled plugin; otherwise the runtime would silently run the container with less isolation
than asked for. The list is the security-relevant part of the runtime spec; everything else is
either the core's own business (ociVersion, annotations, process.terminal and consoleSize: the
console is the core's) or ignored as the spec requires. Annotations under ``org.lamina.`` are
requests to lamina's plugins and are security-relevant too (claimed as ``annotations.<key>``).
"""

from __future__ import annotations

from typing import Any

SECURITY_FIELDS: tuple[str, ...] = (
    "root.readonly",
    "mounts",
    "hostname",
    "domainname",
    "hooks",
    "process.user",
    "process.capabilities",
    "process.noNewPrivileges",
    "process.rlimits",
    "process.oomScoreAdj",
    "process.apparmorProfile",
    "process.selinuxLabel",
    "process.scheduler",
    "process.ioPriority",
    "process.execCPUAffinity",
    "linux.namespaces",
    "linux.uidMappings",
    "linux.gidMappings",
    "linux.timeOffsets",
    "linux.devices",
    "linux.netDevices",
    "linux.cgroupsPath",
    "linux.resources.devices",
    "linux.resources.memory",
    "linux.resources.cpu",
    "linux.resources.pids",
    "linux.resources.blockIO",
    "linux.resources.hugepageLimits",
    "linux.resources.network",
    "linux.resources.rdma",
    "linux.resources.unified",
    "linux.rootfsPropagation",
    "linux.seccomp",
    "linux.sysctl",
    "linux.maskedPaths",
    "linux.readonlyPaths",
    "linux.mountLabel",
    "linux.intelRdt",
    "linux.personality",
    "linux.memoryPolicy",
)


def _get(config: dict, dotted: str) -> Any:
    cur: Any = config
    for part in dotted.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


# Annotations under this prefix ask lamina's plugins for something (a Landlock ruleset, ...):
# each must be claimed as ``annotations.<key>`` by an enabled plugin, so that a config asking
# for an absent or disabled plugin's restriction is refused instead of run without it.
RESERVED_ANNOTATIONS = "org.lamina."


def present(config: dict) -> list[str]:
    """The security-relevant fields that config.json really asks for."""
    out = []
    for field in SECURITY_FIELDS:
        v = _get(config, field)
        if v is None or v is False or v == [] or v == {} or v == "":
            continue
        out.append(field)
    annotations = config.get("annotations")
    if isinstance(annotations, dict):
        out.extend(f"annotations.{k}" for k in sorted(annotations) if k.startswith(RESERVED_ANNOTATIONS))
    return out


def unclaimed(config: dict, claims: set[str]) -> list[str]:
    """Fields present in config.json that no claim covers (a claim covers its own sub-fields)."""
    missing = []
    for field in present(config):
        parts = field.split(".")
        if not any(".".join(parts[:i]) in claims for i in range(1, len(parts) + 1)):
            missing.append(field)
    return missing
