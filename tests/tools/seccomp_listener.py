#!/usr/bin/python3
"""An example seccomp agent: receives a container's notify fd from the runtime and answers its
SCMP_ACT_NOTIFY syscalls.

The protocol is the runtime spec's (config-linux.md, listenerPath): the runtime connects to the
unix socket, sends one JSON *container process state* with the seccomp fd attached (SCM_RIGHTS),
and closes the connection. The agent then reads notifications from the fd
(SECCOMP_IOCTL_NOTIF_RECV) and sends one answer for each (SECCOMP_IOCTL_NOTIF_SEND): an errno,
a fake success, or "continue" (let the kernel run the call).

    seccomp_listener.py --socket /run/agent.sock --errno 100 --state-file state.json --log calls.jsonl

serves one container (one connection) and exits when every process of that container's filter
is gone. Only the standard library is used, so it runs with any python3.
"""

from __future__ import annotations

import argparse
import errno
import fcntl
import json
import os
import select
import socket
import struct
import sys
import threading

# linux/seccomp.h: _IOWR('!', 0, struct seccomp_notif) and _IOWR('!', 1, struct seccomp_notif_resp)
SECCOMP_IOCTL_NOTIF_RECV = 0xC0502100
SECCOMP_IOCTL_NOTIF_SEND = 0xC0182101
SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1
# struct seccomp_notif {u64 id; u32 pid; u32 flags; struct seccomp_data {int nr; u32 arch;
# u64 instruction_pointer; u64 args[6];}}   and   struct seccomp_notif_resp {u64 id; s64 val;
# s32 error; u32 flags;}
NOTIF = struct.Struct("=QIIiIQ6Q")
RESP = struct.Struct("=QqiI")


def receive_state(conn: socket.socket) -> tuple[dict, dict[str, int]]:
    """The container process state and its fds by name; the fds come with the first message."""
    data = b""
    fds: list[int] = []
    while True:
        chunk, got, _flags, _addr = socket.recv_fds(conn, 65536, 4)
        fds += got
        if not chunk:
            break
        data += chunk
    state = json.loads(data)
    names = state.get("fds") or []
    if len(names) != len(fds):
        raise SystemExit(f"listener: {len(fds)} fds received for names {names}")
    return state, dict(zip(names, fds, strict=True))


def ns_pids(pid: int) -> list[int]:
    """The pid of ``pid`` in each of its pid namespaces, outermost first (NSpid)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []


def answer(mode: str, value: int, notif_id: int) -> bytes:
    if mode == "errno":
        return RESP.pack(notif_id, 0, -value, 0)
    if mode == "continue":
        return RESP.pack(notif_id, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE)
    return RESP.pack(notif_id, value, 0, 0)  # a fake success: the call returns value, unexecuted


def serve(fd: int, mode: str, value: int, log) -> int:
    """Answer notifications until the filter has no process left; returns how many."""
    count = 0
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        events = poller.poll()
        if not events:
            continue
        if events[0][1] & select.POLLIN:
            buf = bytearray(NOTIF.size)  # the kernel wants it zeroed
            try:
                fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, buf, True)
            except OSError as e:
                if e.errno in (errno.ENOENT, errno.EINTR):  # the caller died or was signalled
                    continue
                raise
            notif_id, pid, _flags, nr, arch, _ip, *args = NOTIF.unpack(buf)
            count += 1
            if log:
                log.write(json.dumps({"pid": pid, "nr": nr, "arch": arch, "args": args}) + "\n")
                log.flush()
            try:
                fcntl.ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, bytearray(answer(mode, value, notif_id)), True)
            except OSError as e:
                if e.errno != errno.ENOENT:
                    raise
        elif events[0][1] & (select.POLLHUP | select.POLLERR):
            return count


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--socket", required=True, help="the unix socket to listen on (listenerPath)")
    how = ap.add_mutually_exclusive_group()
    how.add_argument("--errno", type=int, help="fail each notified call with this errno")
    how.add_argument("--success", type=int, metavar="VALUE", help="return VALUE without running the call")
    how.add_argument("--continue", dest="cont", action="store_true", help="let the kernel run the call")
    ap.add_argument("--state-file", help="write the received container process state here (JSON)")
    ap.add_argument("--log", help="append one JSON line per notification here")
    ap.add_argument("--connections", type=int, default=1,
                    help="how many filters to serve (the init's, then one per exec'd process)")
    opts = ap.parse_args(argv)
    if opts.errno is not None:
        mode, value = "errno", opts.errno
    elif opts.cont:
        mode, value = "continue", 0
    else:
        mode, value = "success", opts.success or 0

    try:
        os.unlink(opts.socket)
    except FileNotFoundError:
        pass
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(opts.socket)
    srv.listen(opts.connections)
    print("listening", flush=True)
    log = open(opts.log, "a") if opts.log else None  # noqa: SIM115
    threads, counts, failed = [], [], []
    for i in range(opts.connections):  # one per filter: the init's, then each exec'd process's
        conn, _ = srv.accept()
        with conn:
            state, fds = receive_state(conn)
        if "seccompFd" not in fds:
            print(f"listener: no seccompFd in {state}", file=sys.stderr)
            failed.append(i)
            continue
        state["_nspid"] = ns_pids(state["pid"])  # for a test: the pid really is the container's
        if opts.state_file:
            path = opts.state_file if i == 0 else f"{opts.state_file}.{i}"
            with open(path + ".tmp", "w") as f:
                json.dump(state, f)
            os.rename(path + ".tmp", path)
        t = threading.Thread(target=lambda fd=fds["seccompFd"]: counts.append(serve(fd, mode, value, log)))
        t.start()
        threads.append(t)
    srv.close()
    os.unlink(opts.socket)
    for t in threads:
        t.join()
    if log:
        log.close()
    print(f"answered {sum(counts)} notifications", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
