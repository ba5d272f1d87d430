"""`lamina inspect`: a container's state and its audit record, for a person or a program.

Reads only files (state.json, audit.json) and /proc: no plugin is loaded, so it is as cheap as
`state`. The table shows one row per item each plugin reported; ``--format json`` the whole
record.
"""

from __future__ import annotations

import json
from typing import Any

from lamina import audit
from lamina.container import Container


def inspect(root: str, cid: str) -> dict[str, Any]:
    c = Container.load(root, cid)
    status = c.status()
    st = c.st
    return {
        "id": cid,
        "status": status,
        "pid": c.pid if status != "stopped" else 0,
        "bundle": st.get("bundle", ""),
        "rootfs": st.get("rootfs", ""),
        "created": st.get("created", ""),
        "annotations": st.get("annotations") or {},
        "audit_log": st.get("audit_log"),
        "audit": audit.read(c.dir),
    }


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "-"
    if isinstance(value, list) and all(not isinstance(v, (dict, list)) for v in value):
        return ", ".join(_text(v) for v in value) if value else "-"
    if isinstance(value, dict) and all(not isinstance(v, (dict, list)) for v in value.values()):
        return " ".join(f"{k}={_text(v)}" for k, v in value.items()) if value else "-"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def rows(info: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(plugin, item, what was applied) for each item of each plugin's audit report."""
    out = []
    record = info.get("audit") or {}
    for plugin, report in (record.get("applied") or {}).items():
        if not isinstance(report, dict):
            out.append((plugin, "-", _text(report)))
            continue
        for key, value in report.items():
            out.append((plugin, key, _text(value)))
    return out


def table(info: dict[str, Any]) -> str:
    record = info.get("audit") or {}
    head = [("ID", info["id"]), ("STATUS", info["status"]), ("PID", str(info["pid"])),
            ("BUNDLE", info["bundle"]), ("CREATED", info["created"]),
            ("ADMIN FILE", record.get("admin_file") or "-"), ("AUDIT LOG", info.get("audit_log") or "-")]
    plugins = record.get("plugins") or {}
    if plugins:
        head.append(("PLUGINS", ", ".join(f"{n} {p.get('version', '')}".strip() for n, p in plugins.items())))
    width = max(len(k) for k, _ in head)
    lines = [f"{k.ljust(width)}  {v}" for k, v in head]
    if not record:
        lines.append("(no audit record: the container was not created by this lamina, or is still creating)")
        return "\n".join(lines)
    body = [("PLUGIN", "ITEM", "APPLIED")] + rows(info)
    w0 = max(len(r[0]) for r in body)
    w1 = max(len(r[1]) for r in body)
    lines.append("")
    lines.extend(f"{r[0].ljust(w0)}  {r[1].ljust(w1)}  {r[2]}".rstrip() for r in body)
    return "\n".join(lines)
