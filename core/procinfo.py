"""Facts about host processes read from /proc, used to tell a live init from a reused pid."""

from __future__ import annotations


def stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat from the state on ('R', 'S', 'Z', ...), or None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return data[data.rindex(b")") + 2:].decode().split()


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (field 22), or None if gone."""
    f = stat_fields(pid)
    return int(f[19]) if f else None


def is_alive(pid: int, started: int | None) -> bool:
    """True while pid is the same, un-reaped, non-zombie process that started at `started`."""
    if pid <= 0:
        return False
    f = stat_fields(pid)
    if f is None or f[0] in ("Z", "X"):
        return False
    return started is None or int(f[19]) == started
