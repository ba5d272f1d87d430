"""The audit trail: what each plugin applied to a container, and one log line per lifecycle event.

At *created* every plugin reports what it applied (``lamina_audit``: namespaces made or joined,
cgroup, capabilities, masks, seccomp, labels, ...), read back from the kernel where it can be;
the record is kept in ``audit.json`` beside state.json (a sidecar, so ``state`` stays small and
fast) and shown by ``lamina inspect``. When the admin file sets ``[audit] log``, create, start,
kill and delete each append one JSON line to it. The path is recorded in state.json at create,
so the hot verbs (start, kill) never parse the admin file.

A create whose line cannot be written is undone (no container runs unaudited on a host that
asks for an audit log); a start, kill or delete has already happened, so a write failure there
is a warning.
"""

from __future__ import annotations

import os
import time

from lamina import jsonfast as json
from lamina.errors import LaminaError

TYPE_CHECKING = False  # typing itself costs ~3 ms to import
if TYPE_CHECKING:
    from typing import Any

AUDIT_FILE = "audit.json"


def now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _caller() -> dict[str, int]:
    return {"uid": os.getuid(), "pid": os.getpid(), "ppid": os.getppid()}


def append(path: str, entry: dict[str, Any]) -> None:
    """One line, one write(2) with O_APPEND: concurrent runtimes never interleave within a line."""
    line = (json.dumps(entry, sort_keys=True, separators=(",", ":")) + "\n").encode()
    os.makedirs(os.path.dirname(path) or "/", mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def build(ctx: Any, plugins: Any, created: str) -> dict[str, Any]:
    """The audit record of a container that has just reached *created*."""
    from lamina.hookspecs import HOOK_API_VERSION

    return {
        "id": ctx.id,
        "created": created,
        "bundle": ctx.bundle,
        "pid": ctx.pid,
        "admin_file": plugins.admin.path,
        "hook_api": HOOK_API_VERSION,
        "plugins": {name: {"version": i.version, "distribution": i.dist}
                    for name, i in sorted(plugins.infos.items())},
        "applied": dict(sorted(plugins.audit(ctx).items())),
    }


def created(ctx: Any, plugins: Any, created_at: str) -> dict[str, Any]:
    """Collect and keep the record; write the create line (LaminaError if it cannot be)."""
    from lamina import state

    record = build(ctx, plugins, created_at)
    state.write(ctx.state_dir, record, AUDIT_FILE)
    log = plugins.admin.audit_log
    if log:
        entry = {"time": now(), "event": "create", "result": "ok", "id": ctx.id, "pid": ctx.pid,
                 "bundle": ctx.bundle, "caller": _caller(), "plugins": record["plugins"],
                 "applied": record["applied"]}
        try:
            append(log, entry)
        except OSError as e:
            raise LaminaError(f"audit log {log} (admin file [audit] log): cannot write: "
                              f"{e.strerror.lower()}") from None
    return record


def refused(log: str | None, cid: str, bundle: str, error: BaseException) -> None:
    """A create that validation refused (policy, claims, spec): worth a line for the admin."""
    if not log:
        return
    problems = getattr(error, "problems", None) or [str(error)]
    entry = {"time": now(), "event": "create", "result": "refused", "id": cid, "bundle": bundle,
             "caller": _caller(), "problems": problems}
    _append_or_warn(log, entry)


def event(st: dict[str, Any], name: str, **fields: Any) -> None:
    """A start, kill or delete of a container whose state recorded an audit log."""
    log = st.get("audit_log")
    if not log:
        return
    entry = {"time": now(), "event": name, "result": "ok", "id": st.get("id"), "pid": st.get("pid"),
             "caller": _caller()}
    entry.update(fields)
    _append_or_warn(log, entry)


def _append_or_warn(log: str, entry: dict[str, Any]) -> None:
    try:
        append(log, entry)
    except OSError as e:
        from lamina import log as logger

        logger.warning(f"audit log {log}: cannot write the {entry['event']} event: {e.strerror.lower()}")


def read(cdir: str) -> dict[str, Any] | None:
    """The stored record, or None for a container created before it existed (or still creating)."""
    try:
        with open(os.path.join(cdir, AUDIT_FILE), "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LaminaError(f"cannot read the audit record {cdir}/{AUDIT_FILE}: {e}") from None
