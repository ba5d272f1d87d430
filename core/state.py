"""Container state on disk: `<root>/<id>/state.json`, the exec FIFO and the per-container lock.

The directory is made with one mkdir(2), so of several concurrent `create`s exactly one wins.
Mutating verbs hold flock(2) on the directory. Status is derived, never trusted from the file:
the init's pid plus its start time (against pid reuse), whether the exec FIFO still exists, and
the freezer state the cgroups plugin recorded.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os

from lamina.errors import ContainerNotFound, LaminaError
from lamina.procinfo import is_alive

DEFAULT_ROOT = "/run/lamina"
STATE_FILE = "state.json"
FIFO = "exec.fifo"


def container_dir(root: str, cid: str) -> str:
    return os.path.join(root, cid)


def make_container_dir(root: str, cid: str) -> tuple[str, int]:
    """Create `<root>/<id>` atomically and return it with an exclusive lock held on it."""
    os.makedirs(root, mode=0o711, exist_ok=True)
    path = container_dir(root, cid)
    try:
        os.mkdir(path, 0o711)
    except FileExistsError:
        raise LaminaError(f"container with id {cid} already exists") from None
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return path, fd


def lock(root: str, cid: str, exclusive: bool = True, wait: bool = True) -> int:
    """Lock an existing container; raises ContainerNotFound if it is gone (or goes while we wait)."""
    path = container_dir(root, cid)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ContainerNotFound(cid) from None
    op = (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | (0 if wait else fcntl.LOCK_NB)
    try:
        fcntl.flock(fd, op)
    except BlockingIOError:
        os.close(fd)
        raise LaminaError(f"container {cid} is busy: another lamina command holds its lock") from None
    # a concurrent delete may have removed the directory while we waited for the lock
    if os.fstat(fd).st_nlink == 0:
        os.close(fd)
        raise ContainerNotFound(cid)
    return fd


def is_locked(path: str) -> bool:
    """True while some process holds the container's lock (a `create` still running)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def read(root: str, cid: str) -> dict:
    """The stored state; ContainerNotFound if there is none, LaminaError if it is unreadable."""
    path = os.path.join(container_dir(root, cid), STATE_FILE)
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if os.path.isdir(container_dir(root, cid)):
            return {"id": cid, "pid": 0, "_incomplete": True}
        raise ContainerNotFound(cid) from None
    except OSError as e:
        raise LaminaError(f"cannot read state of container {cid}: {path}: {e.strerror}") from None
    try:
        st = json.loads(data)
        if not isinstance(st, dict) or st.get("id") != cid or not isinstance(st.get("pid", 0), int):
            raise ValueError("not a lamina state object for this id")
    except ValueError as e:
        raise LaminaError(f"state of container {cid} is corrupt ({path}: {e}); "
                          f"remove it with 'delete --force {cid}'") from None
    return st


def write(cdir: str, st: dict) -> None:
    """Replace state.json atomically, so a reader or a crash never sees half a file."""
    tmp = os.path.join(cdir, f".{STATE_FILE}.tmp")
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.rename(tmp, os.path.join(cdir, STATE_FILE))


def _frozen(st: dict) -> bool:
    check = st.get("freezer")
    if not check:
        return False
    try:
        with open(check["path"]) as f:
            return f.read().strip() == check["frozen"]
    except OSError:
        return False


def status(cdir: str, st: dict) -> str:
    """creating / created / running / paused / stopped, from the live system."""
    pid = st.get("pid") or 0
    if not pid:
        return "creating" if is_locked(cdir) else "stopped"
    if not is_alive(pid, st.get("init_start")):
        return "stopped"
    if _frozen(st):
        return "paused"
    if os.path.exists(os.path.join(cdir, FIFO)):
        return "created"
    return "running"


def oci_state(st: dict, status_: str) -> dict:
    """The state object of the runtime spec (plus runc's extra fields that clients read)."""
    out = {
        "ociVersion": st.get("ociVersion", ""),
        "id": st["id"],
        "pid": st.get("pid", 0) if status_ != "stopped" else 0,
        "status": status_,
        "bundle": st.get("bundle", ""),
        "rootfs": st.get("rootfs", ""),
        "created": st.get("created", ""),
        "owner": st.get("owner", ""),
    }
    if st.get("annotations"):
        out["annotations"] = st["annotations"]
    return out


def remove_dir(cdir: str) -> None:
    """Remove a container directory (state.json, fifo, leftovers); missing is fine."""
    try:
        names = os.listdir(cdir)
    except FileNotFoundError:
        return
    for n in names:
        try:
            os.unlink(os.path.join(cdir, n))
        except IsADirectoryError:
            import shutil

            shutil.rmtree(os.path.join(cdir, n), ignore_errors=True)
        except FileNotFoundError:
            pass
    try:
        os.rmdir(cdir)
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
