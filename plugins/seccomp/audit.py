"""The seccomp plugin's audit report: which profile, how big, and that the kernel has it.

The digest is over the profile as config.json gave it (canonical JSON), so two containers with
the same profile show the same digest; the mode and filter count come from /proc/<init>/status,
i.e. what the kernel really installed. Kept apart from plugin.py, whose lamina_audit imports
this module only for a container that has a profile (hashlib alone costs ~4 ms of import).
"""

from __future__ import annotations

import hashlib
import json


def report(ctx, profile: dict) -> dict:
    """The audit report of a container whose config has the seccomp profile ``profile``."""
    rules = profile.get("syscalls") or []
    out = {
        "profile_sha256": hashlib.sha256(json.dumps(profile, sort_keys=True, separators=(",", ":"))
                                         .encode()).hexdigest(),
        "default_action": profile.get("defaultAction"),
        "rules": len(rules),
        "syscall_names": sum(len(r.get("names") or []) for r in rules),
    }
    prepared = ctx.scratch.get("seccomp")
    length = getattr(getattr(prepared, "prog", None), "len", None)
    if isinstance(length, int):
        out["bpf_instructions"] = length
    with open(f"/proc/{ctx.pid}/status") as f:
        status = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    out["kernel_mode"] = {"0": "disabled", "1": "strict", "2": "filter"}.get(status.get("Seccomp", ""), "?")
    if "Seccomp_filters" in status:
        out["kernel_filters"] = int(status["Seccomp_filters"])
    return out
