"""Will the exec into the container's label work? Asked before it is too late to say why.

An execve into another SELinux domain is checked in two places. The transition itself
(``process transition``, the new domain's ``file entrypoint`` on the executable, and with
no_new_privs or a nosuid mount ``process2 nnp_transition``/``nosuid_transition``) is checked
before the point of no return: the exec fails with EACCES or EPERM. But mapping the executable
happens after it, with the new domain's rights: if those deny ``file read/execute/map`` (MCS
categories of the label that do not dominate the file's, say) the new process is killed with
SIGSEGV, and `start` would only see a dead container. So the init asks the policy first, while
`create` can still report a clear error.
"""

from __future__ import annotations

import errno
import os

from lamina.errors import LaminaError
from lamina.plugins.selinux import labels
from lamina.plugins.selinux.selinuxfs import SelinuxFS

ST_NOSUID = 2


def file_label(path: str) -> str:
    try:
        raw = os.getxattr(path, "security.selinux")
    except OSError as e:
        if e.errno in (errno.ENODATA, errno.ENOTSUP):
            return "system_u:object_r:unlabeled_t:s0"
        raise LaminaError(f"{path}: cannot read its SELinux label: {os.strerror(e.errno).lower()}") from None
    return raw.rstrip(b"\0").decode()


def denials(fs: SelinuxFS, current: str, label: str, path: str, nnp: bool) -> tuple[list[str], str]:
    """What the policy would refuse for ``current`` exec'ing ``path`` into ``label``: a list
    of "class { perms }" phrases, and the file's label."""
    flabel = file_label(path)
    found: list[str] = []
    permissive = []

    def ask(scon: str, tcon: str, tclass: str, perms: list[str], who: str) -> None:
        denied, perm = fs.compute_av(scon, tcon, tclass, perms)
        if denied:
            found.append(f"{who}: {tclass} {{ {' '.join(denied)} }}")
            permissive.append(perm)

    src, dst = labels.parse(current).type, labels.parse(label).type
    ask(current, flabel, "file", ["execute"], f"{src} on the file")
    if label != current:
        ask(current, label, "process", ["transition"], f"{src} -> {dst}")
        extra = []
        if nnp:
            extra.append("nnp_transition")
        try:
            if os.statvfs(path).f_flag & ST_NOSUID:
                extra.append("nosuid_transition")
        except OSError:
            pass
        if extra:
            ask(current, label, "process2", extra, f"{src} -> {dst}")
        ask(label, flabel, "file", ["entrypoint"], f"{dst} entering through the file")
    ask(label, flabel, "file", ["read", "execute", "map"], f"{dst} mapping the file")
    if found and all(permissive):
        return [], flabel  # the domain is permissive: the kernel only logs
    return found, flabel


def check_exec(fs: SelinuxFS, current: str, label: str, path: str, nnp: bool,
               field: str = "process.selinuxLabel") -> None:
    """Raise a LaminaError naming ``field`` if, on an enforcing host, exec'ing ``path`` from
    ``current`` into ``label`` would be refused or would kill the new process."""
    if not fs.enforcing():
        return
    found, flabel = denials(fs, current, label, path, nnp)
    if not found:
        return
    why = labels.missing_categories(label, flabel)
    msg = (f"{field}: {label} cannot run {path} (labelled {flabel}): the SELinux policy denies "
           + "; ".join(found))
    if why:
        msg += f"; {why}"
    raise LaminaError(msg)
