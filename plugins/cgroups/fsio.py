"""Reading and writing cgroup files, with errors that say which field asked for the write."""

from __future__ import annotations

import errno
import os

from lamina.errors import LaminaError
from lamina.values import Value


class Write(Value):
    """One value for one cgroup file: the unit a resource section is turned into."""

    __slots__ = ("controller", "file", "value", "field", "hint", "missing")

    def __init__(self, controller: str, file: str, value: str, field: str, hint: str = "",
                 missing: str = "") -> None:
        self.controller = controller  # whose hierarchy (v1) or which controller must be enabled (v2)
        self.file = file
        self.value = value
        self.field = field  # the config.json field it comes from, for the error message
        self.hint = hint  # said when the kernel refuses the value (what it accepts)
        self.missing = missing  # said when the file does not exist (what the host lacks)


def write_file(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def read_file(path: str | None) -> str | None:
    if path is None:
        return None
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def read_int(path: str | None) -> int | None:
    text = read_file(path)
    if text is None:
        return None
    text = text.strip()
    if text == "max":
        return -1
    try:
        return int(text)
    except ValueError:
        return None


def read_kv(path: str | None) -> dict[str, int]:
    """A flat-keyed file ("key value" per line: memory.stat, cpu.stat, memory.events, ...)."""
    out: dict[str, int] = {}
    for line in (read_file(path) or "").splitlines():
        parts = line.split()
        if len(parts) == 2:
            try:
                out[parts[0]] = int(parts[1])
            except ValueError:
                pass
    return out


def procs(directory: str) -> list[int]:
    """The pids in cgroup.procs of ``directory`` and of every cgroup below it (a container may
    make its own sub-cgroups), in order, without duplicates."""
    seen: dict[int, None] = {}
    for dirpath, _dirs, _files in os.walk(directory):
        for word in (read_file(os.path.join(dirpath, "cgroup.procs")) or "").split():
            seen[int(word)] = None
    return list(seen)


def apply(directory: str, w: Write) -> None:
    """Write ``w`` into ``directory``; LaminaError naming the field and what the kernel said."""
    path = os.path.join(directory, w.file)
    try:
        write_file(path, w.value)
    except OSError as e:
        if e.errno == errno.ENOENT:
            raise LaminaError(f"{w.field}: cannot be applied on this host: {path} does not exist"
                              f"{' (' + w.missing + ')' if w.missing else ''}") from None
        raise LaminaError(f"{w.field}: writing {w.value!r} to {path}: {e.strerror.lower()}"
                          f"{' (' + w.hint + ')' if w.hint else ''}") from None
