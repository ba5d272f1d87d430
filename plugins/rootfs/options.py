"""Mount options of config.json, split into mount(2) flags, propagation and filesystem data."""

from __future__ import annotations

from lamina.syscalls import MS

MS_I_VERSION = 1 << 23

# option -> (clear?, flag)
FLAGS: dict[str, tuple[bool, int]] = {
    "async": (True, MS.SYNCHRONOUS), "atime": (True, MS.NOATIME), "bind": (False, MS.BIND),
    "defaults": (False, 0), "dev": (True, MS.NODEV), "diratime": (True, MS.NODIRATIME),
    "dirsync": (False, MS.DIRSYNC), "exec": (True, MS.NOEXEC), "iversion": (False, MS_I_VERSION),
    "noiversion": (True, MS_I_VERSION), "lazytime": (False, MS.LAZYTIME),
    "nolazytime": (True, MS.LAZYTIME), "loud": (True, MS.SILENT), "mand": (False, MS.MANDLOCK),
    "nomand": (True, MS.MANDLOCK), "noatime": (False, MS.NOATIME), "nodev": (False, MS.NODEV),
    "nodiratime": (False, MS.NODIRATIME), "noexec": (False, MS.NOEXEC), "nosuid": (False, MS.NOSUID),
    "norelatime": (True, MS.RELATIME), "nostrictatime": (True, MS.STRICTATIME),
    "nosymfollow": (False, MS.NOSYMFOLLOW), "rbind": (False, MS.BIND | MS.REC),
    "relatime": (False, MS.RELATIME), "remount": (False, MS.REMOUNT), "ro": (False, MS.RDONLY),
    "rw": (True, MS.RDONLY), "silent": (False, MS.SILENT), "strictatime": (False, MS.STRICTATIME),
    "suid": (True, MS.NOSUID), "sync": (False, MS.SYNCHRONOUS),
}
PROPAGATION = {
    "private": MS.PRIVATE, "rprivate": MS.PRIVATE | MS.REC, "shared": MS.SHARED,
    "rshared": MS.SHARED | MS.REC, "slave": MS.SLAVE, "rslave": MS.SLAVE | MS.REC,
    "unbindable": MS.UNBINDABLE, "runbindable": MS.UNBINDABLE | MS.REC,
}
# options lamina understands beyond mount(2)
EXTRA = {"tmpcopyup"}
# options that ask for something lamina cannot do yet: refused, never silently dropped
UNSUPPORTED = {"idmap", "ridmap", "rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec",
               "rexec", "rnodiratime", "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime",
               "rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow", "copy-symlink"}


class MountOptions:
    """One mount's options, sorted by kind (a plain class: dataclasses costs ~1 ms of import on
    every create)."""

    __slots__ = ("flags", "propagation", "data", "extra", "unsupported")

    def __init__(self) -> None:
        self.flags = 0
        self.propagation: list[int] = []
        self.data: list[str] = []
        self.extra: set[str] = set()
        self.unsupported: list[str] = []

    @property
    def bind(self) -> bool:
        return bool(self.flags & MS.BIND)

    @property
    def readonly(self) -> bool:
        return bool(self.flags & MS.RDONLY)


def parse(options: list[str]) -> MountOptions:
    out = MountOptions()
    for opt in options:
        if opt in FLAGS:
            clear, flag = FLAGS[opt]
            out.flags = out.flags & ~flag if clear else out.flags | flag
        elif opt in PROPAGATION:
            out.propagation.append(PROPAGATION[opt])
        elif opt in EXTRA:
            out.extra.add(opt)
        elif opt in UNSUPPORTED:
            out.unsupported.append(opt)
        else:
            out.data.append(opt)
    return out
