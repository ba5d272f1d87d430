"""The type check of config.json (lamina.config.schema): every problem, each with its field path."""

from __future__ import annotations

import copy

import pytest
from lamina.config.schema import check_config
from lamina.testing import base_config


def problems(edit) -> list[str]:
    cfg = copy.deepcopy(base_config())
    edit(cfg)
    return check_config(cfg)


def test_the_default_config_is_clean():
    assert check_config(base_config()) == []


@pytest.mark.parametrize("value,expect", [
    ([], "config.json: must be a JSON object, got []"),
    ("x", "config.json: must be a JSON object, got 'x'"),
    (None, "config.json: must be a JSON object, got None"),
])
def test_not_an_object(value, expect):
    assert check_config(value) == [expect]


def test_required_top_level():
    assert check_config({}) == ["ociVersion: is required", "root: is required"]


@pytest.mark.parametrize("path,value,expect", [
    ("process.args", "sh", "process.args: must be a list, got 'sh'"),
    ("process.args", ["sh", 1], "process.args[1]: must be a string, got 1"),
    ("process.terminal", 1, "process.terminal: must be a boolean, got 1"),
    ("process.user.uid", -1, "process.user.uid: -1 is out of range [0, 4294967295]"),
    ("process.user.uid", 2**32, "process.user.uid: 4294967296 is out of range [0, 4294967295]"),
    ("process.user.uid", True, "process.user.uid: must be an integer, got True"),
    ("process.user.uid", 1.5, "process.user.uid: must be an integer, got 1.5"),
    ("process.oomScoreAdj", "5", "process.oomScoreAdj: must be an integer, got '5'"),
    ("process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": -1, "hard": 1}],
     "process.rlimits[0].soft: -1 is out of range [0, 18446744073709551615]"),
    ("process.capabilities", ["CAP_KILL"], "process.capabilities: must be an object, got ['CAP_KILL']"),
    ("root", "rootfs", "root: must be an object, got 'rootfs'"),
    ("hostname", ["a"], "hostname: must be a string, got ['a']"),
    ("annotations", {"a": 1}, "annotations.a: must be a string, got 1"),
    ("linux.sysctl", {"net.x": 1}, "linux.sysctl.net.x: must be a string, got 1"),
    ("linux.resources.blockIO", {"weight": 70000},
     "linux.resources.blockIO.weight: 70000 is out of range [0, 65535]"),
    ("linux.namespaces", [{"path": "/x"}], "linux.namespaces[0].type: is required"),
    ("linux.devices", [{"type": "c"}], "linux.devices[0].path: is required"),
    ("mounts", [{"type": "tmpfs"}], "mounts[0].destination: is required"),
    ("hooks", {"prestart": [{"args": []}]}, "hooks.prestart[0].path: is required"),
    ("linux.seccomp", {"syscalls": []}, "linux.seccomp.defaultAction: is required"),
    ("linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": "read", "action": "x"}]},
     "linux.seccomp.syscalls[0].names: must be a list, got 'read'"),
    ("linux.uidMappings", [{"containerID": 0, "hostID": "0", "size": 1}],
     "linux.uidMappings[0].hostID: must be an integer, got '0'"),
])
def test_one_problem(path, value, expect):
    def edit(cfg):
        parts = path.split(".")
        cur = cfg
        for p in parts[:-1]:
            cur = cur.setdefault(p, {})
        cur[parts[-1]] = value

    assert problems(edit) == [expect]


def test_missing_required_nested():
    def edit(cfg):
        del cfg["process"]["cwd"]
        cfg["process"]["user"] = {}
        cfg["process"]["consoleSize"] = {"height": 1}

    assert sorted(problems(edit)) == ["process.consoleSize.width: is required", "process.cwd: is required",
                                      "process.user.gid: is required", "process.user.uid: is required"]


def test_every_problem_at_once():
    def edit(cfg):
        cfg["ociVersion"] = 1
        cfg["process"]["args"] = [1, 2]
        cfg["linux"]["namespaces"] = [{"type": 3}, "pid"]

    out = problems(edit)
    assert out == ["ociVersion: must be a string, got 1", "process.args[0]: must be a string, got 1",
                   "process.args[1]: must be a string, got 2",
                   "linux.namespaces[0].type: must be a string, got 3",
                   "linux.namespaces[1]: must be an object, got 'pid'"]


def test_null_means_absent():
    def edit(cfg):
        cfg["hostname"] = None
        cfg["process"]["env"] = None

    assert problems(edit) == []


def test_null_required_is_missing():
    assert problems(lambda c: c["process"].__setitem__("cwd", None)) == ["process.cwd: is required"]


def test_unknown_fields_are_ignored():
    def edit(cfg):
        cfg["vendorThing"] = {"x": [1]}
        cfg["process"]["futureField"] = 3
        cfg["linux"]["resources"]["futureController"] = "x"

    assert problems(edit) == []


def test_long_values_are_shortened():
    out = problems(lambda c: c["process"].__setitem__("cwd", ["x" * 500]))
    assert len(out) == 1 and len(out[0]) < 120 and out[0].endswith("...")


def test_messages_are_one_line():
    out = problems(lambda c: c["process"].__setitem__("cwd", {"a\nb": 1}))
    assert out and all("\n" not in p for p in out)
