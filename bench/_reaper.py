"""Run commands as a subreaper that reaps every orphan at once.

PID 1 on the bench machine does not reap orphans, and every runtime leaves its container's init
orphaned (runc/crun/lamina exit after `create`). The bench is therefore a subreaper: the inits are
re-parented to it, and it waits on *any* child while one of its commands runs, so a killed init is
reaped immediately (a zombie would make `delete` wait or fail and would skew the timings).
"""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass


@dataclass
class Result:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str

    def last_error_line(self) -> str:
        lines = [ln.strip() for ln in (self.stderr or self.stdout).splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit code {self.returncode}"


class CommandTimeout(Exception):
    pass


def become_subreaper() -> None:
    from lamina import syscalls

    syscalls.set_subreaper()


def _alarm(_signum, _frame):
    raise CommandTimeout


def run(argv: list[str], timeout: float = 300.0, env: dict[str, str] | None = None) -> Result:
    """Run argv to completion; reap orphans meanwhile. On timeout the command's process group
    is killed (containers it left behind are removed by the bench's cleanup)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env,
                             start_new_session=True)
        old = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, timeout)
        try:
            status = _wait_for(p.pid)
        except BaseException as e:  # timeout, ^C, SIGTERM: stop the command before cleaning up
            signal.setitimer(signal.ITIMER_REAL, 0)
            os.killpg(p.pid, signal.SIGKILL)
            p.returncode = os.waitstatus_to_exitcode(_wait_for(p.pid))
            if isinstance(e, CommandTimeout):
                raise CommandTimeout(f"{' '.join(argv[:3])} ...: no result after {timeout:.0f} s") from None
            raise
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
        # we reaped it ourselves: tell Popen, or it would wait for it again
        p.returncode = os.waitstatus_to_exitcode(status)
        reap_orphans()
        out.seek(0)
        err.seek(0)
        return Result(argv, p.returncode, out.read().decode(errors="replace"),
                      err.read().decode(errors="replace"))


def _wait_for(pid: int) -> int:
    while True:
        got, status = os.waitpid(-1, 0)
        if got == pid:
            return status


def reap_orphans() -> None:
    """Reap whatever has exited already (container inits re-parented to us)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
