"""The verbs that act on an existing container: start, kill, delete, pause/resume, state, list."""

from __future__ import annotations

import os
import select
from _signal import SIGKILL  # not signal: its enums cost `state` ~4 ms

from lamina import state
from lamina.container import Container
from lamina.errors import ContainerNotFound, ContainerNotRunning, LaminaError


def start(root: str, cid: str) -> None:
    c = Container.load(root, cid, lock=True)
    try:
        start_locked(c)
    finally:
        c.close()


def start_locked(c: Container, plugins=None) -> None:
    status = c.status()
    if status == "stopped":
        raise LaminaError(f"cannot start a container that has stopped: {c.id}")
    if status != "created":
        raise LaminaError(f"cannot start an already {status} container: {c.id}")
    release(c)
    _audit(c, "start")
    if c.st.get("wants_started"):
        from lamina.pluginmanager import Plugins

        plugins = plugins or Plugins()
        ctx = c.context()
        try:
            plugins.started(ctx)
        except LaminaError as e:
            # a failed poststart hook stops the container (as runc does); delete tears it down
            plugins.kill_all(ctx, SIGKILL)
            _kill_init(c)
            raise LaminaError(f"{e}; the container was stopped") from None


def release(c: Container) -> None:
    """Open the exec FIFO for reading: the waiting init writes one byte and goes on to exec."""
    fifo = os.path.join(c.dir, state.FIFO)
    try:
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise LaminaError(f"cannot start container {c.id}: it has been started already") from None
    try:
        while True:
            r, _, _ = select.select([fd], [], [], 0.05)
            if r:
                data = os.read(fd, 1)
                if data:
                    break
            if c.status() == "stopped":
                raise LaminaError(f"cannot start container {c.id}: its init exited before the start")
        os.unlink(fifo)
        # the init holds its end until exec (close-on-exec): EOF means the user process runs
        # (poststart must come after that) or the init died in a startContainer hook
        while select.select([fd], [], [])[0] and os.read(fd, 64):
            pass
    finally:
        os.close(fd)


def _audit(c: Container, event: str, **fields) -> None:
    """One line in the admin's audit log, if the container was created with one."""
    if c.st.get("audit_log"):
        from lamina import audit

        audit.event(c.st, event, **fields)


def _kill_init(c: Container) -> None:
    from lamina.create import kill_init

    if c.pid:
        kill_init(c.pid, c.st.get("init_start"))


def parse_signal(value: str) -> int:
    import signal as signals  # (enum: not on the way of `state` and `start`)

    v = value.strip().upper()
    if v.isdigit():
        n = int(v)
        if 0 < n < signals.NSIG:
            return n
    else:
        name = v if v.startswith("SIG") else "SIG" + v
        sig = getattr(signals.Signals, name, None) if hasattr(signals.Signals, name) else None
        if sig is not None:
            return int(sig)
    raise LaminaError(f"invalid signal {value!r}")


def kill(root: str, cid: str, sig: int, all_: bool) -> None:
    c = Container.load(root, cid)
    status = c.status()
    if all_:
        if status == "stopped" and not c.st.get("plugins"):
            return
        from lamina.pluginmanager import Plugins

        if not Plugins().kill_all(c.context(), sig):
            raise LaminaError("kill --all: no enabled plugin can signal every process of the container")
        _audit(c, "kill", signal=sig, all=True)
        return
    if status in ("stopped", "creating"):
        raise ContainerNotRunning(cid)
    from lamina import syscalls

    try:
        fd = syscalls.pidfd_open(c.pid)
    except ProcessLookupError:
        raise ContainerNotRunning(cid) from None
    try:
        # the pidfd pins the process: re-check its identity, then signal without a reuse race
        if state.status(c.dir, c.st) == "stopped":
            raise ContainerNotRunning(cid)
        syscalls.pidfd_send_signal(fd, sig)
    except ProcessLookupError:
        raise ContainerNotRunning(cid) from None
    finally:
        os.close(fd)
    _audit(c, "kill", signal=sig, all=False)


def delete(root: str, cid: str, force: bool) -> None:
    try:
        c = Container.load(root, cid, lock=True)
    except ContainerNotFound:
        if force:
            return
        raise
    except LaminaError:
        if not force:
            raise
        _force_remove_unreadable(root, cid)
        return
    if force and c.st.get("_incomplete"):
        # state.json is gone but the directory is not: its copy may still name what to remove
        c.st = state.read_backup(root, cid) or c.st
    try:
        delete_locked(c, force)
    finally:
        c.close()


def delete_locked(c: Container, force: bool, plugins=None) -> list[str]:
    status = c.status()
    if status in ("running", "paused") and not force:
        raise LaminaError(f"cannot delete container {c.id} that is not stopped: {status}")
    from lamina.pluginmanager import Plugins

    plugins = plugins or Plugins()
    ctx = c.context()
    if status == "paused":
        try:
            plugins.freeze(ctx, False)
        except (LaminaError, OSError):
            pass
    _kill_init(c)
    errors = plugins.teardown(ctx)
    state.remove_dir(c.dir)
    _audit(c, "delete", force=force, status=status, errors=errors)
    if errors:
        raise LaminaError(f"container {c.id} deleted, but: {'; '.join(errors)}")
    return errors


def _force_remove_unreadable(root: str, cid: str) -> None:
    """delete --force of a container whose state.json is corrupt: its copy (state.backup.json)
    still names the init and the plugins' records, so everything goes as usual; without a
    usable copy only the directory can go, and that is reported, not hidden."""
    from lamina.ids import check_id

    check_id(cid)
    try:
        fd = state.lock(root, cid)
    except ContainerNotFound:
        return
    c = Container(root, cid, state.read_backup(root, cid) or {}, fd)
    try:
        if c.st:
            delete_locked(c, force=True)
            return
        state.remove_dir(c.dir)
    finally:
        c.close()
    raise LaminaError(f"state of container {cid} is unreadable and has no usable copy: its state "
                      "directory was removed, but its init and cgroups cannot be found")


def pause(root: str, cid: str, frozen: bool) -> None:
    c = Container.load(root, cid, lock=True)
    try:
        status = c.status()
        if frozen and status != "running":
            raise ContainerNotRunning(cid, status)
        if not frozen and status != "paused":
            raise LaminaError(f"container {cid} is not paused: {status}")
        from lamina.pluginmanager import Plugins

        if not Plugins().freeze(c.context(), frozen):
            raise LaminaError("no enabled plugin can freeze the container")
    finally:
        c.close()


def query(root: str, cid: str) -> dict:
    c = Container.load(root, cid)
    return state.oci_state(c.st, c.status())


def list_all(root: str) -> tuple[list[dict], list[str]]:
    out, problems = [], []
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return [], []
    for name in names:
        if name.startswith("."):
            continue
        try:
            out.append(query(root, name))
        except ContainerNotFound:
            continue
        except LaminaError as e:
            problems.append(str(e))
    return out, problems

