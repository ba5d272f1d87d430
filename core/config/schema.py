"""The shape of config.json: every field of the runtime spec with its JSON type.

Only types are checked here, all at once, each problem naming its field path. What a value
means (is this a known capability, may this namespace be joined) is for the plugin that claims
the field. Unknown fields are ignored, as the spec requires.
"""

from __future__ import annotations

from typing import Any

U32 = ("int", 0, 2**32 - 1)
U64 = ("int", 0, 2**64 - 1)
I64 = ("int", -(2**63), 2**63 - 1)
INT = ("int", -(2**31), 2**31 - 1)
STR = ("str",)
BOOL = ("bool",)
ANY = ("any",)
STRS = ("list", STR)


def obj(fields: dict, required: tuple = ()) -> tuple:
    return ("obj", fields, required)


def lst(item: tuple) -> tuple:
    return ("list", item)


def mapping(value: tuple) -> tuple:
    return ("map", value)


ID_MAPPING = obj({"containerID": U32, "hostID": U32, "size": U32}, ("containerID", "hostID", "size"))
HOOK = obj({"path": STR, "args": STRS, "env": STRS, "timeout": INT}, ("path",))
DEVICE_RULE = obj({"allow": BOOL, "type": STR, "major": I64, "minor": I64, "access": STR}, ("allow",))
THROTTLE = obj({"major": I64, "minor": I64, "rate": U64}, ("major", "minor", "rate"))

RESOURCES = obj({
    "devices": lst(DEVICE_RULE),
    "memory": obj({"limit": I64, "reservation": I64, "swap": I64, "kernel": I64, "kernelTCP": I64,
                   "swappiness": U64, "disableOOMKiller": BOOL, "useHierarchy": BOOL,
                   "checkBeforeUpdate": BOOL}),
    "cpu": obj({"shares": U64, "quota": I64, "burst": U64, "period": U64, "realtimeRuntime": I64,
                "realtimePeriod": U64, "cpus": STR, "mems": STR, "idle": I64}),
    "pids": obj({"limit": I64}),
    "blockIO": obj({"weight": ("int", 0, 65535), "leafWeight": ("int", 0, 65535),
                    "weightDevice": lst(obj({"major": I64, "minor": I64, "weight": ("int", 0, 65535),
                                             "leafWeight": ("int", 0, 65535)}, ("major", "minor"))),
                    "throttleReadBpsDevice": lst(THROTTLE), "throttleWriteBpsDevice": lst(THROTTLE),
                    "throttleReadIOPSDevice": lst(THROTTLE), "throttleWriteIOPSDevice": lst(THROTTLE)}),
    "hugepageLimits": lst(obj({"pageSize": STR, "limit": U64}, ("pageSize", "limit"))),
    "network": obj({"classID": U32, "priorities": lst(obj({"name": STR, "priority": U32},
                                                          ("name", "priority")))}),
    "rdma": mapping(obj({"hcaHandles": U32, "hcaObjects": U32})),
    "unified": mapping(STR),
})

CONFIG = obj({
    "ociVersion": STR,
    "root": obj({"path": STR, "readonly": BOOL}, ("path",)),
    "mounts": lst(obj({"destination": STR, "source": STR, "type": STR, "options": STRS,
                       "uidMappings": lst(ID_MAPPING), "gidMappings": lst(ID_MAPPING)},
                      ("destination",))),
    "process": obj({
        "terminal": BOOL,
        "consoleSize": obj({"height": U32, "width": U32}, ("height", "width")),
        "cwd": STR,
        "env": STRS,
        "args": STRS,
        "commandLine": STR,
        "rlimits": lst(obj({"type": STR, "soft": U64, "hard": U64}, ("type", "soft", "hard"))),
        "apparmorProfile": STR,
        "capabilities": obj({k: STRS for k in ("bounding", "effective", "inheritable", "permitted",
                                               "ambient")}),
        "noNewPrivileges": BOOL,
        "oomScoreAdj": INT,
        "scheduler": obj({"policy": STR, "nice": INT, "priority": INT, "flags": STRS, "runtime": U64,
                          "deadline": U64, "period": U64}, ("policy",)),
        "selinuxLabel": STR,
        "ioPriority": obj({"class": STR, "priority": INT}, ("class",)),
        "execCPUAffinity": obj({"initial": STR, "final": STR}),
        "user": obj({"uid": U32, "gid": U32, "umask": U32, "additionalGids": lst(U32), "username": STR},
                    ("uid", "gid")),
    }, ("cwd",)),
    "hostname": STR,
    "domainname": STR,
    "hooks": obj({k: lst(HOOK) for k in ("prestart", "createRuntime", "createContainer", "startContainer",
                                         "poststart", "poststop")}),
    "annotations": mapping(STR),
    "linux": obj({
        "namespaces": lst(obj({"type": STR, "path": STR}, ("type",))),
        "uidMappings": lst(ID_MAPPING),
        "gidMappings": lst(ID_MAPPING),
        "timeOffsets": mapping(obj({"secs": I64, "nanosecs": U32})),
        "devices": lst(obj({"type": STR, "path": STR, "major": I64, "minor": I64, "fileMode": U32,
                            "uid": U32, "gid": U32}, ("type", "path"))),
        "netDevices": mapping(obj({"name": STR})),
        "cgroupsPath": STR,
        "resources": RESOURCES,
        "rootfsPropagation": STR,
        "seccomp": obj({"defaultAction": STR, "defaultErrnoRet": U32, "architectures": STRS,
                        "flags": STRS, "listenerPath": STR, "listenerMetadata": STR,
                        "syscalls": lst(obj({"names": STRS, "action": STR, "errnoRet": U32,
                                             "args": lst(obj({"index": U32, "value": U64,
                                                              "valueTwo": U64, "op": STR},
                                                             ("index", "value", "op")))},
                                            ("names", "action")))}, ("defaultAction",)),
        "sysctl": mapping(STR),
        "maskedPaths": STRS,
        "readonlyPaths": STRS,
        "mountLabel": STR,
        "intelRdt": obj({"closID": STR, "l3CacheSchema": STR, "memBwSchema": STR,
                         "enableCMT": BOOL, "enableMBM": BOOL}),
        "personality": obj({"domain": STR, "flags": STRS}, ("domain",)),
        "memoryPolicy": obj({"mode": STR, "nodes": STR, "flags": STRS}, ("mode",)),
    }),
}, ("ociVersion", "root"))

_TYPE_NAMES = {"str": "a string", "bool": "a boolean", "obj": "an object", "list": "a list",
               "map": "an object"}


def _describe(v: Any) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def check(spec: tuple, value: Any, path: str, problems: list[str]) -> None:
    kind = spec[0]
    if kind == "any":
        return
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: must be an integer, got {_describe(value)}")
        elif not spec[1] <= value <= spec[2]:
            problems.append(f"{path}: {value} is out of range [{spec[1]}, {spec[2]}]")
        return
    if kind == "str":
        if not isinstance(value, str):
            problems.append(f"{path}: must be a string, got {_describe(value)}")
        return
    if kind == "bool":
        if not isinstance(value, bool):
            problems.append(f"{path}: must be a boolean, got {_describe(value)}")
        return
    if kind == "list":
        if not isinstance(value, list):
            problems.append(f"{path}: must be a list, got {_describe(value)}")
            return
        for i, item in enumerate(value):
            check(spec[1], item, f"{path}[{i}]", problems)
        return
    if not isinstance(value, dict):
        problems.append(f"{path}: must be {_TYPE_NAMES[kind]}, got {_describe(value)}")
        return
    if kind == "map":
        for k, v in value.items():
            check(spec[1], v, f"{path}.{k}", problems)
        return
    fields, required = spec[1], spec[2]
    for name in required:
        if value.get(name) is None:
            problems.append(f"{path + '.' if path else ''}{name}: is required")
    for name, v in value.items():
        sub = fields.get(name)
        if sub is not None and v is not None:
            check(sub, v, f"{path + '.' if path else ''}{name}", problems)


def check_config(config: Any) -> list[str]:
    """Every type problem of a parsed config.json, in field order."""
    problems: list[str] = []
    if not isinstance(config, dict):
        return [f"config.json: must be a JSON object, got {_describe(config)}"]
    check(CONFIG, config, "", problems)
    return problems
