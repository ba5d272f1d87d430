"""Hide the grace period of the first cgroup move behind lamina's own start-up work.

Every write to a `cgroup.procs` file takes the kernel's cgroup_threadgroup_rwsem for writing.
That lock is a per-CPU rwsem: the first writer after a quiet spell waits for a full RCU grace
period (measured here: 4 to 30 ms), and writers that follow within about one more grace period
pass at once. `create`, `run` and `exec` move their first process into its cgroups, so they
pay that wait on every call, after everything else was ready.

`start()` forks a small helper that writes "0" (itself) into the `cgroup.procs` of the cgroup it
is already in, which moves nothing, then again every millisecond: the wait is paid on the other
CPU while this process loads its plugins and checks the config, and the real moves find the lock
warm. `stop()` kills it by pid and `reap()` waits for it (it is also killed with lamina, by
PR_SET_PDEATHSIG, and ends by itself after LIFETIME seconds). Where the write is refused (no
cgroupfs, a read-only one, no permission) the helper just exits. LAMINA_CGROUP_WARMUP=0 turns it off.
"""

from __future__ import annotations

import os
import signal

LIFETIME = 5.0
INTERVAL = 0.001


def _own_procs_file() -> str | None:
    """The cgroup.procs of this process's own cgroup, preferring the cgroup2 hierarchy (any
    hierarchy's file takes the same lock)."""
    from lamina.cgroupinfo import host_hierarchies, own_cgroups

    mine = own_cgroups()
    for h in sorted(host_hierarchies(), key=lambda h: -h.version):
        if h.key in mine:
            return f"{h.mountpoint}{mine[h.key].rstrip('/')}/cgroup.procs"
    return None


class Warmup:
    __slots__ = ("pid", "killed", "owner")

    def __init__(self, pid: int) -> None:
        self.pid, self.killed, self.owner = pid, False, os.getpid()

    def stop(self) -> None:
        """End the helper now; it is reaped by `reap` (its exit takes a millisecond that the
        caller should not wait for). It is our child and not yet reaped: its pid is not reused."""
        if self.pid > 0 and not self.killed:
            self.killed = True
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def reap(self) -> None:
        """Stop and reap the helper (idempotent)."""
        self.stop()
        if self.pid > 0:
            pid, self.pid = self.pid, 0
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


_current: Warmup | None = None


def start() -> Warmup | None:
    """The running warm-up of this process, started now if there is none (the verbs start it
    before their imports, when the process is smallest and its fork cheapest)."""
    global _current
    if _current is not None and _current.pid > 0 and not _current.killed and _current.owner == os.getpid():
        return _current
    if os.environ.get("LAMINA_CGROUP_WARMUP") == "0":
        return None
    parent = os.getpid()
    try:
        pid = os.fork()
    except OSError:  # a pids limit on lamina's own cgroup, say: a warm-up is never worth failing for
        return None
    if pid == 0:
        _loop(parent)
    _current = Warmup(pid)
    return _current


def _loop(parent: int) -> None:
    """In the helper (finding the file here keeps it off lamina's own path): write until
    stopped, until lamina is gone (we were re-parented), or LIFETIME has passed."""
    import time

    try:
        # dies with lamina, even in the middle of a write that waits for the grace period: a
        # killed `create` must leave no process of its own behind
        from lamina import syscalls

        syscalls.prctl(syscalls.PR_SET_PDEATHSIG, signal.SIGKILL, what="PR_SET_PDEATHSIG")
        if os.getppid() != parent:  # lamina died before that
            os._exit(0)
        target = _own_procs_file()
        if target is None:
            os._exit(0)
        fd = os.open(target, os.O_WRONLY | os.O_CLOEXEC)
        deadline = time.monotonic() + LIFETIME
        while os.getppid() == parent and time.monotonic() < deadline:
            os.write(fd, b"0")
            time.sleep(INTERVAL)
    except BaseException:  # noqa: BLE001 - a warm-up that cannot run changes nothing
        pass
    os._exit(0)
