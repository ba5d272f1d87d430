"""Built-in plugin: the container process: user, capabilities, rlimits, no_new_privs,
oom_score_adj, cwd, and the exec of process.args."""

from __future__ import annotations

import os

from lamina import hookimpl, syscalls
from lamina.errors import LaminaError
from lamina.plugins.process import caps, execute, keyring

NAME = "process"
RLIM_INFINITY = 2**64 - 1
_rlimits: dict[str, int] = {}


def rlimits() -> dict[str, int]:
    """RLIMIT_* name -> number, from the resource module (imported on first use: a C extension
    that a container without process.rlimits does not need in its init)."""
    if not _rlimits:
        import resource

        _rlimits.update((n, getattr(resource, n)) for n in dir(resource) if n.startswith("RLIMIT_"))
    return _rlimits


@hookimpl
def lamina_claims() -> list[str]:
    return ["process.user", "process.capabilities", "process.noNewPrivileges", "process.rlimits",
            "process.oomScoreAdj"]


@hookimpl
def lamina_features() -> dict:
    return {"linux": {"capabilities": caps.NAMES[: caps.last_cap() + 1]}}


def _arg_limit() -> int:
    import resource  # (lazily: see rlimits())

    soft, _ = resource.getrlimit(resource.RLIMIT_STACK)
    return min(soft if soft != resource.RLIM_INFINITY else 2**62, 6 * 2**30) // 4


@hookimpl
def lamina_validate(config: dict, bundle: str) -> list[str]:
    p = config.get("process")
    if not isinstance(p, dict):
        return []
    problems = []
    args = p.get("args")
    if not args:
        problems.append("process.args: must be a non-empty list")
    elif not args[0]:
        problems.append("process.args[0]: must not be empty")
    cwd = p.get("cwd", "")
    if not cwd.startswith("/"):
        problems.append(f"process.cwd: must be an absolute path, got {cwd!r}")
    total = 0
    for key in ("args", "env"):
        for i, s in enumerate(p.get(key) or []):
            size = len(s.encode()) + 1
            total += size + 8
            if "\0" in s:
                problems.append(f"process.{key}[{i}]: must not contain a NUL byte")
            if size > execute.MAX_ARG_STRLEN:
                problems.append(f"process.{key}[{i}]: {size} bytes is over the kernel's limit of "
                                f"{execute.MAX_ARG_STRLEN} for one string: argument list too long")
    if total > _arg_limit():
        problems.append(f"process.env: args and env take {total} bytes, over the kernel's limit of "
                        f"{_arg_limit()}: argument list too long")
    for i, e in enumerate(p.get("env") or []):
        if "=" not in e or e.startswith("="):
            problems.append(f"process.env[{i}]: {e[:40]!r} is not of the form KEY=VALUE")
    for s in caps.SETS:
        for i, name in enumerate((p.get("capabilities") or {}).get(s) or []):
            if name not in caps.NUMBERS:
                problems.append(f"process.capabilities.{s}[{i}]: unknown capability {name!r}")
            elif caps.NUMBERS[name] > caps.last_cap():
                problems.append(f"process.capabilities.{s}[{i}]: {name} is not known to this kernel")
    seen = set()
    for i, rl in enumerate(p.get("rlimits") or []):
        t = rl["type"]
        if t not in rlimits():
            problems.append(f"process.rlimits[{i}].type: unknown rlimit {t!r}")
        elif t in seen:
            problems.append(f"process.rlimits[{i}].type: {t} is given twice")
        elif rl["soft"] > rl["hard"]:
            problems.append(f"process.rlimits[{i}]: {t} soft limit {rl['soft']} is above its hard limit "
                            f"{rl['hard']}: invalid argument")
        seen.add(t)
    adj = p.get("oomScoreAdj")
    if adj is not None and not -1000 <= adj <= 1000:
        problems.append(f"process.oomScoreAdj: {adj} is out of range for oom_score_adj [-1000, 1000]")
    user = p.get("user") or {}
    if user.get("umask") is not None and user["umask"] > 0o777:
        problems.append(f"process.user.umask: {user['umask']} is out of range [0, 0777]")
    return problems


@hookimpl
def lamina_prepare(ctx) -> None:
    ctx.scratch["cap_last"] = caps.last_cap()
    if (ctx.config.get("process") or {}).get("rlimits"):
        rlimits()  # imports resource, which the init's _setrlimits needs after pivot_root


@hookimpl(trylast=True)
def lamina_init_namespaces(ctx) -> None:
    # last in this phase: after the user namespace exists (the keyring's owner is the container's
    # root) and after an LSM plugin set the label new keys get (selinux: attr/keycreate)
    if not ctx.options.no_new_keyring:
        nss = (ctx.config.get("linux") or {}).get("namespaces") or []
        userns = any(ns.get("type") == "user" for ns in nss)
        keyring.join_new_session_keyring(ctx.id, userns)


@hookimpl
def lamina_child_spawned(ctx, pid: int) -> None:
    # set on the first child before it forks: the init and everything after it inherit the value,
    # and the host's /proc is the one place it can be written without a proc in the container
    adj = ctx.config["process"].get("oomScoreAdj")
    if adj is None:
        return  # the spec: leave it as inherited
    try:
        with open(f"/proc/{pid}/oom_score_adj", "w") as f:
            f.write(str(adj))
    except OSError as e:
        raise LaminaError(f"process.oomScoreAdj: cannot write {adj} to oom_score_adj: "
                          f"{e.strerror.lower()}") from None


def _setrlimits(wanted: list[dict]) -> None:
    if not wanted:
        return
    import resource  # imported by lamina_prepare, on the host

    for i, rl in enumerate(wanted):
        def lim(v: int) -> int:
            return resource.RLIM_INFINITY if v >= RLIM_INFINITY else v
        try:
            resource.prlimit(0, rlimits()[rl["type"]], (lim(rl["soft"]), lim(rl["hard"])))
        except (OSError, ValueError) as e:
            why = e.strerror.lower() if isinstance(e, OSError) and e.strerror else str(e)
            raise LaminaError(f"process.rlimits[{i}]: setrlimit({rl['type']}, soft={rl['soft']}, "
                              f"hard={rl['hard']}): {why}") from None


@hookimpl
def lamina_init_privileges(ctx) -> None:
    p = ctx.config["process"]
    user = p.get("user") or {}
    # rlimits first: raising a hard limit needs CAP_SYS_RESOURCE, which may be dropped below
    _setrlimits(p.get("rlimits") or [])
    if user.get("umask") is not None:
        os.umask(user["umask"])
    if p.get("noNewPrivileges"):
        syscalls.prctl(syscalls.PR_SET_NO_NEW_PRIVS, 1, what="PR_SET_NO_NEW_PRIVS")
    c = p.get("capabilities") or {}
    bounding = caps.mask(c.get("bounding") or [])
    # the bounding set is dropped while we still have CAP_SETPCAP
    for n in range(ctx.scratch["cap_last"] + 1):
        if not bounding & (1 << n):
            syscalls.prctl(syscalls.PR_CAPBSET_DROP, n, what=f"PR_CAPBSET_DROP {n}")
    # keep the permitted set across the uid change, then set the exact sets
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 1, what="PR_SET_KEEPCAPS")
    try:
        if not ctx.scratch.get("setgroups_denied"):
            os.setgroups(user.get("additionalGids") or [])
        elif user.get("additionalGids"):
            raise LaminaError("process.user.additionalGids: cannot set supplementary groups: the user "
                              "namespace has setgroups \"deny\" (a runtime without root)")
    except OSError as e:
        raise LaminaError(f"process.user.additionalGids: setgroups: {e.strerror.lower()}") from None
    try:
        os.setresgid(user.get("gid", 0), user.get("gid", 0), user.get("gid", 0))
        os.setresuid(user.get("uid", 0), user.get("uid", 0), user.get("uid", 0))
    except OSError as e:
        raise LaminaError(f"process.user: cannot become uid {user.get('uid', 0)} gid {user.get('gid', 0)}: "
                          f"{e.strerror.lower()}") from None
    syscalls.prctl(syscalls.PR_SET_KEEPCAPS, 0, what="PR_SET_KEEPCAPS")
    permitted = caps.mask(c.get("permitted") or [])
    # never outside the bounding set: capset keeps an inheritable bit the caller already had even
    # when the bounding set lacks it, and root's exec turns inheritable into permitted (and an
    # ambient bit needs only permitted and inheritable), so the bounding set would be bypassed
    inheritable = caps.mask(c.get("inheritable") or []) & bounding
    syscalls.capset(caps.mask(c.get("effective") or []) & permitted, permitted, inheritable)
    syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_CLEAR_ALL,
                   what="PR_CAP_AMBIENT_CLEAR_ALL")
    # the kernel allows an ambient capability only if it is permitted and inheritable; like runc,
    # the others are left out (which only ever gives the process less)
    for name in c.get("ambient") or []:
        bit = 1 << caps.NUMBERS[name]
        if permitted & bit and inheritable & bit:
            syscalls.prctl(syscalls.PR_CAP_AMBIENT, syscalls.PR_CAP_AMBIENT_RAISE, caps.NUMBERS[name],
                           what=f"PR_CAP_AMBIENT_RAISE {name}")


def change_dir(cwd: str) -> None:
    """chdir into cwd resolved inside the (new) root, refusing magic links such as
    /proc/self/fd/N that could point outside it."""
    root = os.open("/", os.O_PATH | os.O_CLOEXEC)
    try:
        fd = syscalls.openat2(root, cwd.lstrip("/") or ".", os.O_PATH | os.O_DIRECTORY,
                              syscalls.RESOLVE_IN_ROOT | syscalls.RESOLVE_NO_MAGICLINKS)
    except OSError as e:
        raise LaminaError(f"process.cwd {cwd}: {os.strerror(e.errno).lower()}") from None
    finally:
        os.close(root)
    try:
        os.fchdir(fd)
    except OSError as e:
        raise LaminaError(f"process.cwd {cwd}: {e.strerror.lower()}") from None
    finally:
        os.close(fd)


@hookimpl
def lamina_init_ready(ctx) -> None:
    p = ctx.config["process"]
    change_dir(p["cwd"])
    env = execute.env_dict(p.get("env") or [])
    ctx.scratch["exec_path"] = execute.find_executable(p["args"][0], env)


@hookimpl(trylast=True)
def lamina_init_exec(ctx) -> bool:
    p = ctx.config["process"]
    execute.execute(ctx.scratch["exec_path"], p["args"], p.get("env") or [], ctx.options.preserve_fds)
    return True


@hookimpl
def lamina_exec_prepare(ctx) -> None:
    lamina_prepare(ctx)


@hookimpl
def lamina_exec_spawned(ctx, pid: int) -> None:
    lamina_child_spawned(ctx, pid)


# the rows of /proc/<pid>/limits
_LIMIT_ROWS = {"RLIMIT_CPU": "Max cpu time", "RLIMIT_FSIZE": "Max file size", "RLIMIT_DATA": "Max data size",
               "RLIMIT_STACK": "Max stack size", "RLIMIT_CORE": "Max core file size",
               "RLIMIT_RSS": "Max resident set", "RLIMIT_NPROC": "Max processes",
               "RLIMIT_NOFILE": "Max open files", "RLIMIT_MEMLOCK": "Max locked memory",
               "RLIMIT_AS": "Max address space", "RLIMIT_LOCKS": "Max file locks",
               "RLIMIT_SIGPENDING": "Max pending signals", "RLIMIT_MSGQUEUE": "Max msgqueue size",
               "RLIMIT_NICE": "Max nice priority", "RLIMIT_RTPRIO": "Max realtime priority",
               "RLIMIT_RTTIME": "Max realtime timeout"}


def _cap_names(hexmask: str) -> list[str]:
    mask = int(hexmask, 16)
    return [name for i, name in enumerate(caps.NAMES) if mask & (1 << i)]


@hookimpl
def lamina_audit(ctx) -> dict:
    """The init's credentials as the kernel holds them after the privilege phase (it waits on the
    exec FIFO with the process's final uid, capability sets, no_new_privs and seccomp mode)."""
    status = {}
    with open(f"/proc/{ctx.pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    out = {
        "uid": int(status["Uid"].split()[0]), "gid": int(status["Gid"].split()[0]),
        "groups": [int(g) for g in status.get("Groups", "").split()],
        "no_new_privs": status.get("NoNewPrivs") == "1",
        "seccomp": {"0": "disabled", "1": "strict", "2": "filter"}.get(status.get("Seccomp", ""), "?"),
    }
    if "Seccomp_filters" in status:
        out["seccomp_filters"] = int(status["Seccomp_filters"])
    for key, name in (("CapBnd", "bounding"), ("CapEff", "effective"), ("CapPrm", "permitted"),
                      ("CapInh", "inheritable"), ("CapAmb", "ambient")):
        out[f"caps_{name}"] = _cap_names(status[key])
    wanted = {rl.get("type") for rl in ctx.config.get("process", {}).get("rlimits") or []}
    if wanted:
        # /proc/<pid>/limits, not prlimit(2): reading another uid's limits needs CAP_SYS_RESOURCE
        with open(f"/proc/{ctx.pid}/limits") as f:
            rows = {line[:26].strip(): line[26:].split()[:2] for line in f.readlines()[1:]}
        out["rlimits"] = {t: "/".join(rows[_LIMIT_ROWS[t]]) for t in sorted(wanted)
                          if _LIMIT_ROWS.get(t) in rows}
    with open(f"/proc/{ctx.pid}/oom_score_adj") as f:
        out["oom_score_adj"] = int(f.read())
    return out
