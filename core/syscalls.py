"""Every raw system call lamina makes that the os module does not offer.

One place, so that the C prototypes, errno handling and architecture numbers live together.
libc.so.6 is opened directly: ctypes.util.find_library runs a subprocess and cannot work
after pivot_root. Failures raise OSError(errno, strerror, "<the call>") so that a message
always shows which call failed and with which arguments.
"""

from __future__ import annotations

import ctypes
import enum
import errno
import os

_libc = ctypes.CDLL("libc.so.6", use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

_ARCH = os.uname().machine  # (platform.machine() costs ~2 ms of imports)
# syscall numbers that glibc 2.36 has no wrapper for
_NR = {
    "x86_64": {"pivot_root": 155, "openat2": 437, "close_range": 436, "pidfd_open": 434,
               "pidfd_send_signal": 424, "capget": 125, "capset": 126, "seccomp": 317, "bpf": 321},
    "aarch64": {"pivot_root": 41, "openat2": 437, "close_range": 436, "pidfd_open": 434,
                "pidfd_send_signal": 424, "capget": 90, "capset": 91, "seccomp": 277, "bpf": 280},
}[_ARCH]


def _check(ret: int, call: str) -> int:
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), call)
    return ret


class MS(enum.IntFlag):
    """mount(2) flags."""

    RDONLY = 1
    NOSUID = 2
    NODEV = 4
    NOEXEC = 8
    SYNCHRONOUS = 16
    REMOUNT = 32
    MANDLOCK = 64
    DIRSYNC = 128
    NOSYMFOLLOW = 256
    NOATIME = 1024
    NODIRATIME = 2048
    BIND = 4096
    MOVE = 8192
    REC = 16384
    SILENT = 32768
    UNBINDABLE = 1 << 17
    PRIVATE = 1 << 18
    SLAVE = 1 << 19
    SHARED = 1 << 20
    RELATIME = 1 << 21
    STRICTATIME = 1 << 24
    LAZYTIME = 1 << 25


class CLONE(enum.IntFlag):
    """Namespace flags for unshare(2) and setns(2)."""

    NEWTIME = 0x00000080
    NEWNS = 0x00020000
    NEWCGROUP = 0x02000000
    NEWUTS = 0x04000000
    NEWIPC = 0x08000000
    NEWUSER = 0x10000000
    NEWPID = 0x20000000
    NEWNET = 0x40000000


MNT_DETACH = 2
UMOUNT_NOFOLLOW = 8

# int mount(const char *source, const char *target, const char *fstype,
#           unsigned long flags, const void *data);
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    ret = _libc.mount(source.encode() if source is not None else None, target.encode(),
                      fstype.encode() if fstype is not None else None, int(flags),
                      data.encode() if data else None)
    _check(ret, f"mount({source!r}, {target!r}, {fstype!r}, {int(flags):#x}, {data!r})")


# int umount2(const char *target, int flags);
def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), flags), f"umount2({target!r}, {flags})")


# int pivot_root(const char *new_root, const char *put_old);
def pivot_root(new_root: str, put_old: str) -> None:
    ret = _syscall(_NR["pivot_root"], new_root.encode(), put_old.encode())
    _check(ret, f"pivot_root({new_root!r}, {put_old!r})")


# int unshare(int flags);
def unshare(flags: int) -> None:
    _check(_libc.unshare(int(flags)), f"unshare({CLONE(flags)!r})")


# int setns(int fd, int nstype);
def setns(fd: int, nstype: int = 0, what: str = "") -> None:
    _check(_libc.setns(fd, int(nstype)), f"setns({what or fd!r})")


# int sethostname(const char *name, size_t len);
def sethostname(name: str) -> None:
    b = name.encode()
    _check(_libc.sethostname(b, len(b)), f"sethostname({name!r})")


# int setdomainname(const char *name, size_t len);
def setdomainname(name: str) -> None:
    b = name.encode()
    _check(_libc.setdomainname(b, len(b)), f"setdomainname({name!r})")


# int prctl(int option, unsigned long arg2, arg3, arg4, arg5);
_libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0, what: str = "") -> int:
    return _check(_libc.prctl(option, a2, a3, a4, a5), f"prctl({what or option})")


PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAP_V3 = 0x20080522


# int capset(cap_user_header_t hdrp, const cap_user_data_t datap);
def capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        sh = 32 * i
        data[i].effective = (effective >> sh) & 0xFFFFFFFF
        data[i].permitted = (permitted >> sh) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> sh) & 0xFFFFFFFF
    ret = _syscall(_NR["capset"], ctypes.byref(hdr), data)
    _check(ret, f"capset(eff={effective:#x}, prm={permitted:#x}, inh={inheritable:#x})")


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


# long openat2(int dirfd, const char *path, struct open_how *how, size_t size);
def openat2(dirfd: int, path: str, flags: int, resolve: int, mode: int = 0) -> int:
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    ret = _syscall(_NR["openat2"], dirfd, path.encode(), ctypes.byref(how), ctypes.sizeof(how))
    return _check(ret, f"openat2({path!r})")


# int close_range(unsigned int first, unsigned int last, int flags);
def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    _check(_syscall(_NR["close_range"], ctypes.c_uint(first), ctypes.c_uint(last), flags),
           f"close_range({first}, {last})")


# int pidfd_open(pid_t pid, unsigned int flags);
def pidfd_open(pid: int) -> int:
    return _check(_syscall(_NR["pidfd_open"], pid, 0), f"pidfd_open({pid})")


# int pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags);
def pidfd_send_signal(pidfd: int, sig: int) -> None:
    _check(_syscall(_NR["pidfd_send_signal"], pidfd, sig, None, 0), f"pidfd_send_signal({sig})")


def set_subreaper() -> None:
    """Become the reaper of orphaned descendants (the container init, and what it leaves)."""
    prctl(PR_SET_CHILD_SUBREAPER, 1, what="PR_SET_CHILD_SUBREAPER")


# int seccomp(unsigned int operation, unsigned int flags, void *args);
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_GET_ACTION_AVAIL = 2


class SECCOMP_FILTER_FLAG(enum.IntFlag):
    """Flags of seccomp(SECCOMP_SET_MODE_FILTER) (linux/seccomp.h)."""

    TSYNC = 1
    LOG = 2
    SPEC_ALLOW = 4
    NEW_LISTENER = 8
    TSYNC_ESRCH = 16
    WAIT_KILLABLE_RECV = 32


class SockFprog(ctypes.Structure):
    """struct sock_fprog: a classic BPF program; keeps its instruction buffer alive."""

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    @classmethod
    def of(cls, bpf: bytes) -> SockFprog:
        buf = ctypes.create_string_buffer(bpf, len(bpf))
        prog = cls(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
        prog._buf = buf  # the kernel reads it at load time, long after this returns
        return prog


def seccomp_set_mode_filter(prog: SockFprog | None, flags: int) -> int:
    """Install a filter on the calling thread; returns the listener fd with NEW_LISTENER, else 0.
    ``prog=None`` probes whether the kernel knows ``flags``: it fails with EFAULT if it does."""
    ret = _syscall(_NR["seccomp"], SECCOMP_SET_MODE_FILTER, ctypes.c_uint(int(flags)),
                   ctypes.byref(prog) if prog is not None else None)
    return _check(ret, f"seccomp(SECCOMP_SET_MODE_FILTER, {SECCOMP_FILTER_FLAG(flags)!r})")


def seccomp_action_avail(action: int) -> bool:
    """Whether the kernel knows the filter return action ``action`` (SECCOMP_RET_*)."""
    value = ctypes.c_uint32(action)
    ret = _syscall(_NR["seccomp"], SECCOMP_GET_ACTION_AVAIL, 0, ctypes.byref(value))
    if ret == 0:
        return True
    err = ctypes.get_errno()
    if err == errno.EOPNOTSUPP:
        return False
    raise OSError(err, os.strerror(err), f"seccomp(SECCOMP_GET_ACTION_AVAIL, {action:#x})")


# ---------------------------------------------------------------- bpf(2): cgroup device programs

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6  # enum bpf_attach_type
BPF_F_ALLOW_MULTI = 2


class _BpfProgLoad(ctypes.Structure):
    """The BPF_PROG_LOAD part of union bpf_attr (up to expected_attach_type)."""

    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64), ("log_level", ctypes.c_uint32),
                ("log_size", ctypes.c_uint32), ("log_buf", ctypes.c_uint64),
                ("kern_version", ctypes.c_uint32), ("prog_flags", ctypes.c_uint32),
                ("prog_name", ctypes.c_char * 16), ("prog_ifindex", ctypes.c_uint32),
                ("expected_attach_type", ctypes.c_uint32)]


class _BpfProgAttach(ctypes.Structure):
    """The BPF_PROG_ATTACH / BPF_PROG_DETACH part of union bpf_attr."""

    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("replace_bpf_fd", ctypes.c_uint32)]


class _BpfProgQuery(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
                ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32), ("_pad", ctypes.c_uint32)]


class _BpfGetFdById(ctypes.Structure):
    _fields_ = [("prog_id", ctypes.c_uint32), ("next_id", ctypes.c_uint32), ("open_flags", ctypes.c_uint32)]


class _BpfObjInfo(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32), ("info", ctypes.c_uint64)]


# int bpf(int cmd, union bpf_attr *attr, unsigned int size);
def _bpf(cmd: int, attr: ctypes.Structure, call: str) -> int:
    return _check(_syscall(_NR["bpf"], cmd, ctypes.byref(attr), ctypes.sizeof(attr)), call)


def bpf_prog_load(prog_type: int, insns: bytes, license: str = "Apache-2.0", name: str = "",
                  log_size: int = 0) -> tuple[int, str]:
    """Load a program; returns (fd, verifier log). With ``log_size`` the verifier's log is kept
    and, when the load fails, put in the OSError's message."""
    code = ctypes.create_string_buffer(insns, len(insns))
    lic = ctypes.create_string_buffer(license.encode())
    log = ctypes.create_string_buffer(log_size) if log_size else None
    attr = _BpfProgLoad(prog_type=prog_type, insn_cnt=len(insns) // 8,
                        insns=ctypes.cast(code, ctypes.c_void_p).value,
                        license=ctypes.cast(lic, ctypes.c_void_p).value,
                        log_level=1 if log else 0, log_size=log_size,
                        log_buf=ctypes.cast(log, ctypes.c_void_p).value if log else 0,
                        prog_name=name.encode()[:15])
    ret = _syscall(_NR["bpf"], BPF_PROG_LOAD, ctypes.byref(attr), ctypes.sizeof(attr))
    text = log.value.decode(errors="replace").strip() if log else ""
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), f"bpf(BPF_PROG_LOAD, type={prog_type}, "
                                             f"{len(insns) // 8} insns){': ' + text[-400:] if text else ''}")
    return ret, text


def bpf_prog_attach(target_fd: int, prog_fd: int, attach_type: int, flags: int = 0) -> None:
    attr = _BpfProgAttach(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type,
                          attach_flags=flags)
    _bpf(BPF_PROG_ATTACH, attr, f"bpf(BPF_PROG_ATTACH, type={attach_type}, flags={flags:#x})")


def bpf_prog_detach(target_fd: int, prog_fd: int, attach_type: int) -> None:
    attr = _BpfProgAttach(target_fd=target_fd, attach_bpf_fd=prog_fd, attach_type=attach_type)
    _bpf(BPF_PROG_DETACH, attr, f"bpf(BPF_PROG_DETACH, type={attach_type})")


def bpf_prog_query(target_fd: int, attach_type: int, max_progs: int = 64) -> list[int]:
    """Ids of the programs attached to ``target_fd`` (a cgroup directory) for ``attach_type``."""
    ids = (ctypes.c_uint32 * max_progs)()
    attr = _BpfProgQuery(target_fd=target_fd, attach_type=attach_type,
                         prog_ids=ctypes.cast(ids, ctypes.c_void_p).value, prog_cnt=max_progs)
    _bpf(BPF_PROG_QUERY, attr, f"bpf(BPF_PROG_QUERY, type={attach_type})")
    return list(ids[:attr.prog_cnt])


def bpf_prog_get_fd_by_id(prog_id: int) -> int:
    return _bpf(BPF_PROG_GET_FD_BY_ID, _BpfGetFdById(prog_id=prog_id),
                f"bpf(BPF_PROG_GET_FD_BY_ID, {prog_id})")


def bpf_prog_id(prog_fd: int) -> int:
    """The kernel's id of a loaded program (struct bpf_prog_info.id), to find it again later."""
    info = (ctypes.c_uint32 * 2)()  # type, id: the first fields of struct bpf_prog_info
    attr = _BpfObjInfo(bpf_fd=prog_fd, info_len=ctypes.sizeof(info),
                       info=ctypes.cast(info, ctypes.c_void_p).value)
    _bpf(BPF_OBJ_GET_INFO_BY_FD, attr, f"bpf(BPF_OBJ_GET_INFO_BY_FD, {prog_fd})")
    return int(info[1])


# long keyctl(int operation, ...);  (no glibc wrapper: libkeyutils has it)
_NR_KEYCTL = {"x86_64": 250, "aarch64": 219}[_ARCH]
KEYCTL_JOIN_SESSION_KEYRING = 1
KEYCTL_SETPERM = 5
KEYCTL_DESCRIBE = 6
KEYCTL_GET_SECURITY = 17


def keyctl_join_session_keyring(name: str | None) -> int:
    """Join (creating it if needed) the session keyring ``name``; a new anonymous one for None.
    Returns the keyring's serial."""
    ret = _syscall(_NR_KEYCTL, KEYCTL_JOIN_SESSION_KEYRING, name.encode() if name else None)
    return _check(ret, f"keyctl(KEYCTL_JOIN_SESSION_KEYRING, {name!r})")


def keyctl_setperm(key: int, perm: int) -> None:
    _check(_syscall(_NR_KEYCTL, KEYCTL_SETPERM, key, ctypes.c_uint32(perm)),
           f"keyctl(KEYCTL_SETPERM, {key}, {perm:#x})")


def _keyctl_string(op: int, key: int, call: str) -> str:
    buf = ctypes.create_string_buffer(4096)
    n = _check(_syscall(_NR_KEYCTL, op, key, buf, ctypes.c_size_t(len(buf))), call)
    return buf.raw[:min(n, len(buf))].rstrip(b"\0").decode(errors="replace")


def keyctl_describe(key: int) -> str:
    """``type;uid;gid;perm;description`` of a key (perm in hex)."""
    return _keyctl_string(KEYCTL_DESCRIBE, key, f"keyctl(KEYCTL_DESCRIBE, {key})")


def keyctl_get_security(key: int) -> str:
    """The LSM label of a key (its SELinux context)."""
    return _keyctl_string(KEYCTL_GET_SECURITY, key, f"keyctl(KEYCTL_GET_SECURITY, {key})")
