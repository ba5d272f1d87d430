"""The selinux plugin's audit report: the labels asked for, and what the kernel holds.

On a host without SELinux the labels are ignored (as runc does) and the report says so; with
SELinux, the init's current label is read from /proc/<init>/attr. Kept apart from plugin.py,
whose lamina_audit imports this module only for a container that has a label.
"""

from __future__ import annotations


def _attr(pid: int, name: str) -> str | None:
    try:
        with open(f"/proc/{pid}/attr/{name}", "rb") as f:
            return f.read().rstrip(b"\0\n").decode() or None
    except OSError:
        return None


def report(ctx, label: str | None, mount: str | None) -> dict:
    """The audit report of a container with a process label or a mount label."""
    from lamina.plugins.selinux import plugin

    on = plugin.enabled()
    out = {"enabled": on, "process_label": label, "mount_label": mount}
    if on:
        # the process label is written to attr/exec at the very end (lamina_init_exec), so at
        # created the init still runs in the runtime's domain
        out["init_current"] = _attr(ctx.pid, "current")
        out["process_label_applies"] = "at exec"
    else:
        out["applied"] = False  # SELinux is off on this host: the labels were ignored
    return out
