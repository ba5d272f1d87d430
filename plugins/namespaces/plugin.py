"""Built-in plugin: Linux namespaces (create or join), id maps, hostname, time offsets, sysctls."""

from __future__ import annotations

import os

from lamina import hookimpl, syscalls
from lamina.errors import LaminaError

NAME = "namespaces"
CLONE = syscalls.CLONE
TYPES = {
    "pid": CLONE.NEWPID, "network": CLONE.NEWNET, "mount": CLONE.NEWNS, "ipc": CLONE.NEWIPC,
    "uts": CLONE.NEWUTS, "user": CLONE.NEWUSER, "cgroup": CLONE.NEWCGROUP, "time": CLONE.NEWTIME,
}
# setns order for joined namespaces: user first (it owns the others), mount last (it changes
# what the other paths resolve to)
JOIN_ORDER = ("user", "ipc", "uts", "network", "pid", "cgroup", "time", "mount")
# which namespace owns each sysctl prefix (only namespaced sysctls may be set)
SYSCTL_NS = {"kernel.msgmax": "ipc", "kernel.msgmnb": "ipc", "kernel.msgmni": "ipc",
             "kernel.sem": "ipc", "kernel.shmall": "ipc", "kernel.shmmax": "ipc",
             "kernel.shmmni": "ipc", "kernel.shm_rmid_forced": "ipc", "fs.mqueue.": "ipc",
             "kernel.hostname": "uts", "kernel.domainname": "uts", "net.": "network"}


def namespaces(config: dict) -> dict[str, dict]:
    return {ns["type"]: ns for ns in (config.get("linux") or {}).get("namespaces") or []}


@hookimpl
def lamina_claims() -> list[str]:
    return ["linux.namespaces", "linux.uidMappings", "linux.gidMappings", "linux.timeOffsets",
            "hostname", "domainname", "linux.sysctl"]


@hookimpl
def lamina_features() -> dict:
    return {"linux": {"namespaces": list(TYPES)}}


def _sysctl_namespace(name: str) -> str | None:
    for prefix, ns in SYSCTL_NS.items():
        if name == prefix or (prefix.endswith(".") and name.startswith(prefix)):
            return ns
    return None


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    problems = []
    linux = config.get("linux") or {}
    seen: dict[str, int] = {}
    for i, ns in enumerate(linux.get("namespaces") or []):
        where = f"linux.namespaces[{i}]"
        t = ns["type"]
        if t not in TYPES:
            problems.append(f"{where}.type: unknown namespace type {t!r} "
                            f"(expected one of {', '.join(TYPES)})")
            continue
        if t in seen:
            problems.append(f"{where}.type: namespace {t!r} is listed twice (also at [{seen[t]}])")
        seen[t] = i
        path = ns.get("path")
        if path is not None:
            if not os.path.isabs(path):
                problems.append(f"{where}.path: must be an absolute path, got {path!r}")
            elif not os.path.exists(path):
                problems.append(f"{where}.path: {path}: no such file or directory")
    has = set(seen)
    new_user = "user" in has and not namespaces(config)["user"].get("path")
    maps = bool(linux.get("uidMappings") or linux.get("gidMappings"))
    if new_user and not (linux.get("uidMappings") and linux.get("gidMappings")):
        problems.append("linux.uidMappings: a new user namespace needs both uidMappings and gidMappings")
    if maps and not new_user:
        problems.append("linux.uidMappings: id mappings need a new user namespace in linux.namespaces")
    for key in ("hostname", "domainname"):
        if config.get(key) and "uts" not in has:
            problems.append(f"{key}: setting it needs a \"uts\" namespace in linux.namespaces")
    if linux.get("timeOffsets"):
        if "time" not in has:
            problems.append("linux.timeOffsets: needs a \"time\" namespace in linux.namespaces")
        for clock in linux["timeOffsets"]:
            if clock not in ("monotonic", "boottime"):
                problems.append(f"linux.timeOffsets.{clock}: unknown clock (expected monotonic or boottime)")
    for name in linux.get("sysctl") or {}:
        ns = _sysctl_namespace(name)
        if ns is None:
            problems.append(f"linux.sysctl.{name}: not a namespaced sysctl; it would change the host")
        elif ns not in has or _is_runtime_namespace(ns, namespaces(config)[ns].get("path")):
            problems.append(f"linux.sysctl.{name}: needs a \"{ns}\" namespace of the container's own "
                            "in linux.namespaces (it would change the host's)")
    return problems


_PROC_NS = {"network": "net", "mount": "mnt"}


def _is_runtime_namespace(t: str, path: str | None) -> bool:
    """True if `path` names the namespace the runtime itself is in (joining a prepared one, as
    podman does for the network, is fine; a sysctl in the host's own is not)."""
    if not path:
        return False
    try:
        a, b = os.stat(path), os.stat(f"/proc/self/ns/{_PROC_NS.get(t, t)}")
    except OSError:
        return False  # a missing path is reported by the namespace check itself
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _open_paths(ctx) -> dict[str, int]:
    fds = ctx.scratch.get("ns_fds")
    if fds is None:
        fds = {}
        for t, ns in namespaces(ctx.config).items():
            if ns.get("path"):
                try:
                    fds[t] = os.open(ns["path"], os.O_RDONLY | os.O_CLOEXEC)
                except OSError as e:
                    raise LaminaError(f"linux.namespaces: cannot open {t} namespace {ns['path']}: "
                                      f"{e.strerror.lower()}") from None
        ctx.scratch["ns_fds"] = fds
    return fds


def _join(t: str, fd: int, path: str) -> None:
    try:
        syscalls.setns(fd, TYPES[t], what=f"{t} namespace {path}")
    except OSError as e:
        raise LaminaError(f"linux.namespaces: cannot join {t} namespace {path}: "
                          f"{e.strerror.lower()}") from None


@hookimpl
def lamina_init_user_namespace(ctx) -> bool:
    nss = namespaces(ctx.config)
    fds = _open_paths(ctx)  # before any unshare: afterwards the paths may be out of reach
    if "user" not in nss:
        return False
    if "user" in fds:
        _join("user", fds["user"], nss["user"]["path"])
        return False
    syscalls.unshare(CLONE.NEWUSER)
    return True


def setgroups_denied() -> bool:
    """Whether the user namespace we make gets setgroups "deny". As runc: only when the runtime
    runs without root (the kernel lets an unprivileged writer set gid_map only after "deny");
    root leaves it "allow", so the container may set its additionalGids."""
    return os.geteuid() != 0


@hookimpl
def lamina_write_id_maps(ctx, pid: int) -> None:
    linux = ctx.config.get("linux") or {}
    if setgroups_denied():
        try:
            with open(f"/proc/{pid}/setgroups", "w") as f:
                f.write("deny")
        except OSError as e:
            raise LaminaError(f"linux.gidMappings: cannot write deny to /proc/{pid}/setgroups: "
                              f"{e.strerror.lower()}") from None
    for kind, key in (("uid", "uidMappings"), ("gid", "gidMappings")):
        lines = "".join(f"{m['containerID']} {m['hostID']} {m['size']}\n" for m in linux.get(key) or [])
        try:
            with open(f"/proc/{pid}/{kind}_map", "w") as f:
                f.write(lines)
        except OSError as e:
            raise LaminaError(f"linux.{key}: cannot write /proc/{pid}/{kind}_map: "
                              f"{e.strerror.lower()}") from None


@hookimpl
def lamina_init_namespaces(ctx) -> None:
    nss = namespaces(ctx.config)
    fds = _open_paths(ctx)
    if "user" in nss:
        # we own every capability in the new (or joined) namespace; become its root so that
        # mounts and files we make belong to the container's root (our host uid is unmapped
        # in a joined one: it could not even create a directory)
        try:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        except OSError as e:
            raise LaminaError(f"linux.namespaces: cannot become root (id 0) of the user namespace: "
                              f"{e.strerror.lower()}") from None
        # made or joined with setgroups "deny": the process plugin must not call setgroups(2)
        with open("/proc/self/setgroups") as f:
            ctx.scratch["setgroups_denied"] = f.read().strip() == "deny"
    for t in JOIN_ORDER:
        if t in fds and t != "user":
            _join(t, fds[t], nss[t]["path"])
            os.close(fds[t])
    flags = 0
    for t, ns in nss.items():
        if t != "user" and not ns.get("path"):
            flags |= TYPES[t]
    if flags:
        # the cgroup namespace is created after the lamina process moved us into the container's
        # cgroup, so that cgroup becomes the namespace's root
        syscalls.unshare(flags)
    if flags & CLONE.NEWTIME:
        offsets = (ctx.config.get("linux") or {}).get("timeOffsets") or {}
        text = "".join(f"{clock} {o.get('secs', 0)} {o.get('nanosecs', 0)}\n" for clock, o in offsets.items())
        if text:
            with open("/proc/self/timens_offsets", "w") as f:
                f.write(text)
    if "uts" in nss:
        if ctx.config.get("hostname"):
            syscalls.sethostname(ctx.config["hostname"])
        if ctx.config.get("domainname"):
            syscalls.setdomainname(ctx.config["domainname"])
    if flags & CLONE.NEWNET:
        _loopback_up()


def _loopback_up() -> None:
    """Bring up `lo` in the new network namespace (SIOCSIFFLAGS IFF_UP|IFF_RUNNING)."""
    import _socket  # not socket: its module costs ~2 ms here, on the way to the container
    import fcntl
    import struct

    s = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM | _socket.SOCK_CLOEXEC)
    try:
        ifr = struct.pack("16sH22x", b"lo", 0x1 | 0x40)
        fcntl.ioctl(s.fileno(), 0x8914, ifr)
    finally:
        s.close()


@hookimpl(tryfirst=True)
def lamina_init_finalize(ctx) -> None:
    # first in this phase: /proc/sys becomes read-only when the rootfs plugin applies readonlyPaths
    for name, value in ((ctx.config.get("linux") or {}).get("sysctl") or {}).items():
        path = "/proc/sys/" + name.replace(".", "/")
        try:
            with open(path, "w") as f:
                f.write(value)
        except OSError as e:
            raise LaminaError(f"linux.sysctl.{name}: cannot write {value!r}: {e.strerror.lower()}") from None


@hookimpl
def lamina_exec_join(ctx) -> None:
    # one setns(pidfd, flags) joins every namespace of the init at once, the kernel taking the
    # user namespace first; the pidfd was checked against the init's start time by the core
    flags = 0
    for t in namespaces(ctx.config):
        flags |= TYPES[t]
    if not flags:
        return
    if flags & CLONE.NEWUSER:
        # read while the host's /proc is ours: with "deny" the process plugin skips setgroups(2)
        try:
            with open(f"/proc/{ctx.pid}/setgroups") as f:
                ctx.scratch["setgroups_denied"] = f.read().strip() == "deny"
        except OSError:
            pass  # the init is gone: setns below reports it
    try:
        syscalls.setns(ctx.scratch["init_pidfd"], flags, what=f"pidfd of init {ctx.pid}, {CLONE(flags)!r}")
    except OSError as e:
        raise LaminaError(f"exec: cannot join the namespaces of container {ctx.id}: "
                          f"{e.strerror.lower()}") from None


# /proc/<pid>/ns/<name> for each namespace type
NS_FILES = {"pid": "pid", "network": "net", "mount": "mnt", "ipc": "ipc", "uts": "uts", "user": "user",
            "cgroup": "cgroup", "time": "time"}


@hookimpl
def lamina_audit(ctx) -> dict:
    """Each namespace of the init as the kernel has it: created, joined (a config path), or the
    host's (the runtime's own: absent from linux.namespaces, or joined by a host path)."""
    nss = namespaces(ctx.config)
    out: dict = {}
    for t, name in NS_FILES.items():
        try:
            theirs = os.stat(f"/proc/{ctx.pid}/ns/{name}")
            ours = os.stat(f"/proc/self/ns/{name}")
        except OSError:
            continue  # this kernel has no such namespace
        entry = {"mode": "created", "id": f"{name}:[{theirs.st_ino}]"}
        if t in nss and nss[t].get("path"):
            entry = {"mode": "joined", "id": entry["id"], "path": nss[t]["path"]}
        if (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino):
            entry["mode"] = "host"
        out[t] = entry
    for key in ("hostname", "domainname"):
        if ctx.config.get(key):
            out[key] = ctx.config[key]
    return out
