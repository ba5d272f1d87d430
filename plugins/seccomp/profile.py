"""Checks of linux.seccomp that need no kernel change: every problem, each with its field path.

The core has checked the JSON types already. What is checked here is meaning: names libseccomp
knows, actions and flags this kernel supports, errno values that fit, argument indexes a syscall
has, and that a notify filter has somewhere to send its fd. Syscall names are not checked: real
profiles list syscalls newer than the host's libseccomp, and those are skipped when compiling.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from lamina.plugins.seccomp import bindings, names

WHERE = "linux.seccomp"
SUN_PATH_MAX = 107  # sizeof(sockaddr_un.sun_path) - 1 for the terminating NUL
# the init sends the listener its fd with sendmsg, under the new filter: notifying sendmsg would
# make the init wait for an answer from a listener that cannot have the fd yet
NOTIFY_FORBIDDEN = ("sendmsg",)


def notify_used(section: dict[str, Any]) -> bool:
    return section.get("defaultAction") == "SCMP_ACT_NOTIFY" or any(
        r.get("action") == "SCMP_ACT_NOTIFY" for r in section.get("syscalls") or [])


def requested_flags(section: dict[str, Any]) -> int:
    bits = 0
    for f in section.get("flags") or []:
        bits |= names.FLAGS.get(f, 0)
    return bits


def check(section: dict[str, Any], lib: ModuleType | None, kernel: Any) -> list[str]:
    """Every problem of ``section`` (linux.seccomp). ``kernel`` answers action_available(ret),
    flag_supported(bit), flags_accepted(bits) and load_flags(bits, notify): the module
    lamina.plugins.seccomp.kernel, or a stand-in in unit tests."""
    if lib is None:
        return [f"{WHERE}: {bindings.MISSING}"]
    problems: list[str] = []
    known = set(names.actions(lib))

    def action(path: str, name: str, data: int | None, data_path: str) -> None:
        if name not in names.ACTIONS:
            problems.append(f"{path}: unknown action {name!r} (expected one of {', '.join(names.ACTIONS)})")
            return
        if name not in known:
            problems.append(f"{path}: {name} cannot be built with this libseccomp (its bindings have no "
                            f"{names.ACTIONS[name]})")
            return
        if not kernel.action_available(names.kernel_action(names.action_value(lib, name, None))):
            problems.append(f"{path}: {name} is not supported by this kernel")
        if data is not None:
            if name not in names.WITH_DATA:
                problems.append(f"{data_path}: {name} returns no errno (errnoRet is for "
                                f"{' and '.join(names.WITH_DATA)} only), got {data}")
            elif data > names.WITH_DATA[name]:
                problems.append(f"{data_path}: {data} is out of range for {name} "
                                f"[0, {names.WITH_DATA[name]}]")

    default = section["defaultAction"]
    action(f"{WHERE}.defaultAction", default, section.get("defaultErrnoRet"), f"{WHERE}.defaultErrnoRet")
    if default == "SCMP_ACT_NOTIFY":
        problems.append(f"{WHERE}.defaultAction: SCMP_ACT_NOTIFY cannot be the default action (the init "
                        "would wait on a listener for the very call that hands it the fd)")

    arches = names.arches(lib)
    for i, arch in enumerate(section.get("architectures") or []):
        if arch not in arches:
            problems.append(f"{WHERE}.architectures[{i}]: unknown architecture {arch!r} (this libseccomp "
                            f"knows {', '.join(sorted(arches))})")

    for i, flag in enumerate(section.get("flags") or []):
        if flag not in names.FLAGS:
            problems.append(f"{WHERE}.flags[{i}]: unknown flag {flag!r} (expected one of "
                            f"{', '.join(names.FLAGS)})")
        elif not kernel.flag_supported(names.FLAGS[flag]):
            problems.append(f"{WHERE}.flags[{i}]: {flag} is not supported by this kernel")

    notify = notify_used(section)
    flags = requested_flags(section)
    if flags and not problems and not kernel.flags_accepted(kernel.load_flags(flags, notify)):
        problems.append(f"{WHERE}.flags: this kernel refuses {', '.join(section['flags'])} together"
                        + (" with a notify listener" if notify else ""))

    listener = section.get("listenerPath")
    if notify and not listener:
        problems.append(f"{WHERE}.listenerPath: is required when SCMP_ACT_NOTIFY is used (the runtime sends "
                        "the notify fd to the agent listening there)")
    if listener is not None:
        if not listener.startswith("/"):
            problems.append(f"{WHERE}.listenerPath: must be an absolute path, got {listener!r}")
        elif len(listener.encode()) > SUN_PATH_MAX:
            problems.append(f"{WHERE}.listenerPath: {len(listener.encode())} bytes is too long for a unix "
                            f"socket address (at most {SUN_PATH_MAX})")
    if section.get("listenerMetadata") and not listener:
        problems.append(f"{WHERE}.listenerMetadata: must not be set without listenerPath")

    ops = names.operators(lib)
    for i, rule in enumerate(section.get("syscalls") or []):
        where = f"{WHERE}.syscalls[{i}]"
        if not rule["names"]:
            problems.append(f"{where}.names: must contain at least one syscall name")
        for j, name in enumerate(rule["names"]):
            if not name:
                problems.append(f"{where}.names[{j}]: must not be empty")
            elif rule["action"] == "SCMP_ACT_NOTIFY" and name in NOTIFY_FORBIDDEN:
                problems.append(f"{where}.names[{j}]: SCMP_ACT_NOTIFY cannot be used for {name} (the init "
                                "sends the notify fd to the listener with it)")
        action(f"{where}.action", rule["action"], rule.get("errnoRet"), f"{where}.errnoRet")
        for k, arg in enumerate(rule.get("args") or []):
            if arg["index"] > names.MAX_ARG_INDEX:
                problems.append(f"{where}.args[{k}].index: {arg['index']} is out of range: a syscall has "
                                f"arguments 0 to {names.MAX_ARG_INDEX}")
            if arg["op"] not in names.OPERATORS:
                problems.append(f"{where}.args[{k}].op: unknown operator {arg['op']!r} (expected one of "
                                f"{', '.join(names.OPERATORS)})")
            elif arg["op"] not in ops:
                problems.append(f"{where}.args[{k}].op: {arg['op']} is not known to this libseccomp")
    return problems
