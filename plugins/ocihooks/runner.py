"""Running one OCI hook: argv, env, the state JSON on stdin, a timeout, and a clear error."""

from __future__ import annotations

import json
import os
import signal
import subprocess

from lamina.errors import LaminaError


def run_hook(kind: str, index: int, hook: dict, state: dict) -> None:
    path = hook["path"]
    args = hook.get("args") or [path]
    env = None
    if hook.get("env") is not None:
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in hook["env"])
    timeout = hook.get("timeout")
    what = f"hook #{index} ({kind}) {path}"
    try:
        proc = subprocess.Popen(args, executable=path, env=env, stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    except OSError as e:
        raise LaminaError(f"{what}: {e.strerror.lower()}") from None
    try:
        out, _ = proc.communicate(json.dumps(state).encode(), timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise LaminaError(f"{what}: timeout after {timeout}s: killed") from None
    except BaseException:
        _kill_group(proc)
        raise
    # a hook's own children must not outlive it in its session either
    _kill_group(proc, reap=False)
    if proc.returncode != 0:
        detail = out.decode(errors="replace").strip().splitlines()[-1:] if out else []
        status = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
                  else f"exit status {proc.returncode}")
        raise LaminaError(f"{what} failed: {status}" + (f": {detail[0]}" if detail else ""))


def _kill_group(proc: subprocess.Popen, reap: bool = True) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if reap:
        proc.wait()
