"""Container state on disk: `<root>/<id>/state.json`, the exec FIFO and the per-container lock.

The directory is made with one mkdir(2), so of several concurrent `create`s exactly one wins.
Mutating verbs hold flock(2) on the directory. Status is derived, never trusted from the file:
the init's pid plus its start time (against pid reuse), whether the exec FIFO still exists, and
the freezer state the cgroups plugin recorded.
"""

from __future__ import annotations

import errno
import fcntl
import os

from lamina import jsonfast as json
from lamina.errors import ContainerNotFound, LaminaError
from lamina.procinfo import is_alive

DEFAULT_ROOT = "/run/lamina"
STATE_FILE = "state.json"
FIFO = "exec.fifo"
CONFIG_FILE = "config.json"
# a second copy of state.json, written after it: if state.json is corrupted, `delete --force`
# still finds the init and the plugins' records (cgroups) here; nothing else reads it
BACKUP_FILE = "state.backup.json"


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


def _well_formed(st, cid: str) -> bool:
    """The fields the verbs rely on have their types (anything else would be a traceback later)."""
    return (isinstance(st, dict) and st.get("id") == cid and isinstance(st.get("pid", 0), int)
            and not isinstance(st.get("pid", 0), bool) and isinstance(st.get("plugins") or {}, dict)
            and isinstance(st.get("init_start") or 0, int) and isinstance(st.get("annotations") or {}, dict))


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
        if not _well_formed(st, cid):
            raise ValueError("not a lamina state object for this id")
    except ValueError as e:
        raise LaminaError(f"state of container {cid} is corrupt ({path}: {e}); "
                          f"remove it with 'delete --force {cid}'") from None
    return st


def read_backup(root: str, cid: str) -> dict | None:
    """The copy of the state kept beside state.json, or None if it is missing or unusable too."""
    try:
        with open(os.path.join(container_dir(root, cid), BACKUP_FILE), "rb") as f:
            st = json.loads(f.read())
    except (OSError, ValueError):
        return None
    return st if _well_formed(st, cid) else None


def write(cdir: str, st: dict, name: str = STATE_FILE) -> None:
    """Replace state.json (or another record) atomically, so a reader or a crash never sees
    half a file."""
    tmp = os.path.join(cdir, f".{name}.tmp")
    # 0600: the config carries process.env, which may hold secrets; the directory itself is 0711
    # only so that the container's user can reach exec.fifo
    data = json.dumps(st).encode()  # one write: json.dump to a text file writes piece by piece
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)
    os.rename(tmp, os.path.join(cdir, name))


def read_config(cdir: str) -> dict:
    """The config.json the container was created from, as validated then (`exec` needs it, and
    the bundle's file may have changed or gone since)."""
    try:
        with open(os.path.join(cdir, CONFIG_FILE), "rb") as f:
            return json.loads(f.read())
    except (OSError, ValueError) as e:
        raise LaminaError(f"cannot read the container's saved config {cdir}/{CONFIG_FILE}: {e}") from None


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
