"""The host policy's rules as pure functions over config.json (the integration tests run them
in real containers: tests/integration/test_policy.py)."""

from __future__ import annotations

import os

import pytest
from lamina.errors import LaminaError
from lamina.plugins.policy import rules
from lamina.testing import base_config


def check(config: dict, **table) -> list[str]:
    return rules.check(rules.parse(table, "/etc/lamina/lamina.toml"), config, "/bundle")


@pytest.mark.parametrize("table, message", [
    ({"require_secomp": True}, "policy.require_secomp: unknown rule"),
    ({"require_seccomp": 1}, "must be true or false"),
    ({"max_capabilities": "CAP_KILL"}, "must be a list of strings"),
    ({"max_capabilities": ["CAP_FLY"]}, "unknown capability 'CAP_FLY'"),
    ({"forbid_host_namespaces": ["net"]}, "unknown namespace type 'net'"),
    ({"bind_source_prefixes": ["srv"]}, "'srv' must be an absolute path"),
])
def test_bad_tables_are_refused(table, message):
    with pytest.raises(LaminaError, match=message):
        rules.parse(table, "/etc/lamina/lamina.toml")


def test_no_table_means_no_rule():
    pol = rules.parse(None, None)
    assert pol.active() == {}
    assert rules.check(pol, base_config(), "/b") == []


def test_seccomp_that_filters_nothing():
    cfg = base_config()
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_LOG",
                               "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}
    assert check(cfg, require_seccomp=True) == [
        "linux.seccomp.defaultAction: SCMP_ACT_LOG with no rule that denies anything is no filter at all "
        "(policy.require_seccomp)"]
    cfg["linux"]["seccomp"]["syscalls"].append({"names": ["ptrace"], "action": "SCMP_ACT_ERRNO"})
    assert check(cfg, require_seccomp=True) == []


def test_host_namespaces():
    cfg = base_config()
    shared = rules.host_namespaces(cfg)
    assert set(shared) == {"user", "cgroup", "time"}  # what base_config does not unshare
    cfg["linux"]["namespaces"][0] = {"type": "pid", "path": f"/proc/{os.getpid()}/ns/pid"}
    assert rules.host_namespaces(cfg)["pid"][0] == "linux.namespaces[0].path"


def test_ceiling_counts_every_set():
    cfg = base_config()
    cfg["process"]["capabilities"]["ambient"] = ["CAP_KILL"]
    cfg["process"]["capabilities"]["inheritable"] = ["CAP_SYS_ADMIN"]
    problems = check(cfg, max_capabilities=["CAP_KILL", "CAP_AUDIT_WRITE", "CAP_NET_BIND_SERVICE"])
    assert problems == ["process.capabilities.inheritable[0]: CAP_SYS_ADMIN is above the host's "
                        "capability ceiling (policy.max_capabilities)"]


def test_privileged_hallmarks_are_each_refused():
    cfg = base_config()
    assert check(cfg, forbid_privileged=True) == []
    cfg["mounts"].append({"destination": "/host-sys", "type": "bind", "source": "/sys", "options": ["rbind"]})
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "pid"]
    cfg["process"]["capabilities"]["permitted"].append("CAP_SYS_PTRACE")
    problems = check(cfg, forbid_privileged=True)
    assert any(p.startswith(f"mounts[{len(cfg['mounts']) - 1}]: sysfs mounted writable") for p in problems)
    assert any("CAP_SYS_PTRACE while sharing the host's pid namespace" in p for p in problems)


def test_prefixes_match_whole_components(tmp_path):
    assert rules._outside("/srv/data", ["/srv"], resolve=False) is None
    assert rules._outside("/srv", ["/srv/"], resolve=False) is None
    assert "outside" in rules._outside("/srvx/data", ["/srv"], resolve=False)
    assert "outside" in rules._outside("/srv/../etc", ["/srv"], resolve=False)
    link = tmp_path / "link"
    link.symlink_to("/etc")
    assert "resolves to /etc" in rules._outside(str(link), [str(tmp_path)], resolve=True)
    assert rules._outside("/anything", ["/"], resolve=True) is None
