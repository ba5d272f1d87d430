"""Runtime logging in the shapes clients parse.

With `--log-format json` every record is one line `{"level":…,"msg":…,"time":…}` in the log
file (podman reads the file, containerd takes the last error line); errors also go to stderr
as plain text. Kept free of the logging module: it is on the path of every command.
"""

from __future__ import annotations

import os
import sys
import time

_settings = {"path": None, "format": "text", "debug": False}


def configure(path: str | None, fmt: str, debug: bool) -> None:
    _settings.update(path=path, format=fmt, debug=debug)


def _timestamp() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def _write(level: str, msg: str) -> None:
    path = _settings["path"]
    if not path:
        return
    from lamina import jsonfast as json

    if _settings["format"] == "json":
        # logrus's shape, byte for byte: podman json-decodes the whole file as one object
        line = json.dumps({"level": level, "msg": msg, "time": _timestamp()}, separators=(",", ":"))
    else:
        # logrus's text shape; the message quoted so that a quote or newline in it stays one line
        line = f'time="{_timestamp()}" level={level} msg={json.dumps(msg)}'
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError:
        pass


def error(msg: str) -> None:
    """An error: to the log file (if any) and, always, one plain line on stderr."""
    _write("error", msg)
    try:
        sys.stderr.write(f"lamina: {msg}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def warning(msg: str) -> None:
    _write("warning", msg)
    if not _settings["path"]:
        try:
            sys.stderr.write(f"lamina: warning: {msg}\n")
        except (OSError, ValueError):
            pass


def debug(msg: str) -> None:
    if _settings["debug"]:
        _write("debug", msg)
        if not _settings["path"]:
            sys.stderr.write(f"lamina: debug: {msg}\n")
