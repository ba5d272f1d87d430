"""Typed messages between the lamina process and the container's init, over a socketpair.

SOCK_SEQPACKET keeps message boundaries, so every message is one JSON object, optionally with
file descriptors attached (SCM_RIGHTS). The whole create handshake, in order:

    init (first process)                     lamina process
    ------------------------------------     -----------------------------------------------
    waits for GO                             child_spawned: joins it to its cgroup; sends GO
    unshares the user namespace; USERNS ->   writes uid/gid maps; sends MAPS_WRITTEN
    unshares the rest, forks the real init
    INIT_PID {pid} -> and exits              records the pid in state.json (for delete --force)
    init (PID 1): mounts, devices
    CONSOLE + pty master fd ->               passes the master to --console-socket, or keeps it
    CREATE_RUNTIME ->                        runs createRuntime/prestart hooks; sends OK or ERROR
    createContainer hooks, finalize, pivot,
    privileges, checks; READY ->             writes state, pid file; create returns
    any step failed: ERROR {msg} ->          tears everything down, reports msg
"""

from __future__ import annotations

# _socket, not socket: socket.py (with selectors and its enums) costs ~2 ms of every create
import _socket
from array import array

from lamina import jsonfast as json
from lamina.errors import LaminaError

GO = "go"
USERNS = "userns"
MAPS_WRITTEN = "maps-written"
INIT_PID = "init-pid"
CONSOLE = "console"
CREATE_RUNTIME = "create-runtime"
OK = "ok"
READY = "ready"
ERROR = "error"

_MAX = 1 << 20
_MAX_FDS = 4


def _fds_of(anc: list) -> list[int]:
    fds = array("i")
    for level, kind, data in anc:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
    return list(fds)


class ChannelClosed(Exception):
    """The other side went away (exited or was killed)."""


class PeerError(LaminaError):
    """An ERROR message from the other side, which reports that error itself: the receiver must
    not print it a second time."""


class Channel:
    def __init__(self, sock: _socket.socket) -> None:
        self.sock = sock

    @classmethod
    def pair(cls) -> tuple[Channel, Channel]:
        a, b = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET | _socket.SOCK_CLOEXEC)
        return cls(a), cls(b)

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, kind: str, fds: list[int] | None = None, **fields) -> None:
        data = json.dumps({"type": kind, **fields}).encode()
        try:
            if fds:
                self.sock.sendmsg([data], [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, array("i", fds))])
            else:
                self.sock.send(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise ChannelClosed(str(e)) from None

    def recv(self) -> tuple[dict, list[int]]:
        try:
            data, anc, _flags, _addr = self.sock.recvmsg(_MAX, _socket.CMSG_SPACE(4 * _MAX_FDS),
                                                      _socket.MSG_CMSG_CLOEXEC)
            fds = _fds_of(anc)
        except ConnectionResetError:
            data, fds = b"", []
        if not data:
            raise ChannelClosed("peer closed the channel")
        return json.loads(data), fds

    def expect(self, kind: str) -> dict:
        """Wait for one message of a given type; an ERROR message is raised as the peer's error."""
        msg, fds = self.recv()
        for fd in fds:
            import os

            os.close(fd)
        if msg["type"] == ERROR:
            raise PeerError(msg.get("msg", "unknown error in the peer"))
        if msg["type"] != kind:
            raise ChannelClosed(f"expected {kind!r}, got {msg['type']!r}")
        return msg

    def close(self) -> None:
        self.sock.close()
