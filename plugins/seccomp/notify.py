"""SCMP_ACT_NOTIFY: hand the filter's notify fd to the agent at linux.seccomp.listenerPath.

The runtime spec's protocol (config-linux.md, "The Container Process State"): one AF_UNIX
SOCK_STREAM connection per container; the runtime sends one JSON object, the *container
process state* ``{"ociVersion", "fds": ["seccompFd"], "pid", "metadata", "state"}``, with the fd
attached (SCM_RIGHTS) to the first sendmsg, then closes the connection.

lamina connects in the lamina process, before the fork (so an agent that is not there fails
`create` before anything runs, and the path is resolved on the host, whatever the container's
mount namespace); the init inherits the connected socket and sends right after loading the
filter, before any other syscall the filter might hand to the agent.
"""

from __future__ import annotations

import json
import socket
from typing import Any

from lamina import OCI_VERSION
from lamina.errors import LaminaError

FD_NAME = "seccompFd"


def connect(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
    except OSError as e:
        sock.close()
        raise LaminaError(f"linux.seccomp.listenerPath: cannot connect to the seccomp agent at {path}: "
                          f"{(e.strerror or str(e)).lower()}") from None
    return sock


def container_process_state(state: dict[str, Any], pid: int, metadata: str | None) -> bytes:
    """The message: ``state`` is the container's OCI state (status "creating")."""
    doc: dict[str, Any] = {"ociVersion": OCI_VERSION, "fds": [FD_NAME], "pid": pid,
                           "state": {**state, "pid": pid}}
    if metadata:
        doc["metadata"] = metadata
    return json.dumps(doc).encode()


def send(sock: socket.socket, payload: bytes, fd: int) -> None:
    """Send ``payload`` with ``fd`` in the first sendmsg (only sendmsg: it is the one call the
    plugin makes sure the filter does not hand to the agent)."""
    sent = socket.send_fds(sock, [payload], [fd])
    while sent < len(payload):
        sent += sock.sendmsg([payload[sent:]])
