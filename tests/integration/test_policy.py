"""The host policy ([policy] in the admin file), enforced by the built-in policy plugin at validate
time: for every rule a violating config is refused (naming the rule and the field, leaving
nothing behind) and a compliant one runs, in real containers.
"""

from __future__ import annotations

import os

import pytest
from lamina import testing

pytestmark = pytest.mark.integration

ALLOW_BUT_MKNOD = {"defaultAction": "SCMP_ACT_ALLOW",
                   "syscalls": [{"names": ["mknod", "mknodat"], "action": "SCMP_ACT_ERRNO"}]}


def refused(lamina, b, rule: str, field: str) -> str:
    """`lamina run` refuses the bundle with the rule and field named, and leaves no state."""
    p = lamina.run(b)
    assert p.returncode == 1, p.stdout
    assert f"(policy.{rule})" in p.stderr and field in p.stderr, p.stderr
    assert "Traceback" not in p.stderr
    assert not os.path.exists(os.path.join(lamina.root, b.id))
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    return p.stderr


def runs(lamina, b) -> str:
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    return p.stdout


@pytest.fixture
def policy(lamina, admin_file):
    """Set [policy] for this test: ``policy(require_seccomp=True, ...)``."""
    def set_(**rules) -> str:
        lamina.admin = admin_file({"policy": rules})
        return lamina.admin

    return set_


def test_require_seccomp(lamina, bundle, policy):
    policy(require_seccomp=True)
    refused(lamina, bundle(), "require_seccomp", "linux.seccomp")
    cfg = testing.base_config(["/bin/true"])
    cfg["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ALLOW"}
    refused(lamina, bundle(config=cfg), "require_seccomp", "linux.seccomp.defaultAction")
    cfg["linux"]["seccomp"] = ALLOW_BUT_MKNOD
    out = runs(lamina, bundle(["/bin/sh", "-c", "grep Seccomp: /proc/self/status"], config=cfg))
    assert "Seccomp:\t2" in out


def test_require_selinux_label(lamina, bundle, policy):
    policy(require_selinux_label=True)
    refused(lamina, bundle(), "require_selinux_label", "process.selinuxLabel")
    cfg = testing.base_config(["/bin/true"])
    cfg["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0:c1,c2"
    # SELinux is disabled here: the selinux plugin ignores the label (as runc does) and the
    # container runs; the policy only demands that the config carries one
    runs(lamina, bundle(config=cfg))


def test_forbid_host_namespaces_absent_type(lamina, bundle, policy):
    policy(forbid_host_namespaces=["network", "ipc"])
    cfg = testing.base_config(["/bin/true"])
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "network"]
    err = refused(lamina, bundle(config=cfg), "forbid_host_namespaces", "linux.namespaces")
    assert "network namespace" in err and "ipc" not in err
    runs(lamina, bundle())  # pid, network, ipc, uts, mount: all its own


def test_forbid_host_namespaces_joined_by_path(lamina, bundle, policy, subreaper):
    policy(forbid_host_namespaces=["network"])
    cfg = testing.base_config(["/bin/true"])
    host_net = {"type": "network", "path": f"/proc/{os.getpid()}/ns/net"}  # the runtime's own
    cfg["linux"]["namespaces"] = [host_net if ns["type"] == "network" else ns
                                  for ns in cfg["linux"]["namespaces"]]
    refused(lamina, bundle(config=cfg), "forbid_host_namespaces", "linux.namespaces[1].path")
    # joining another container's network namespace is not sharing the host's
    other = bundle(["/bin/sleep", "30"])
    assert lamina.create(other).returncode == 0
    pid = lamina.state(other.id)["pid"]
    cfg["linux"]["namespaces"][1]["path"] = f"/proc/{pid}/ns/net"
    b = bundle(["/bin/sh", "-c", "readlink /proc/self/ns/net"], config=cfg)
    assert runs(lamina, b).strip() == os.readlink(f"/proc/{pid}/ns/net")


def test_max_capabilities(lamina, bundle, policy):
    policy(max_capabilities=["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
    cfg = testing.base_config(["/bin/true"])
    cfg["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    refused(lamina, bundle(config=cfg), "max_capabilities", "process.capabilities.bounding[3]")
    runs(lamina, bundle())  # runc's default set is within the ceiling


def test_forbid_privileged(lamina, bundle, policy):
    from lamina.plugins.process import caps

    policy(forbid_privileged=True)
    cfg = testing.base_config(["/bin/true"])
    cfg["process"]["capabilities"] = {s: caps.NAMES[: caps.last_cap() + 1] for s in
                                      ("bounding", "effective", "permitted")}
    refused(lamina, bundle(config=cfg), "forbid_privileged", "process.capabilities.bounding")
    cfg = testing.base_config(["/bin/true"])
    sysfs = next(i for i, m in enumerate(cfg["mounts"]) if m["type"] == "sysfs")
    cfg["mounts"][sysfs]["options"] = ["nosuid", "noexec", "nodev", "rw"]
    refused(lamina, bundle(config=cfg), "forbid_privileged", f"mounts[{sysfs}]")
    cfg = testing.base_config(["/bin/true"])
    cfg["linux"]["namespaces"] = [ns for ns in cfg["linux"]["namespaces"] if ns["type"] != "network"]
    cfg["process"]["capabilities"]["bounding"].append("CAP_NET_ADMIN")
    err = refused(lamina, bundle(config=cfg), "forbid_privileged", "process.capabilities.bounding[3]")
    assert "CAP_NET_ADMIN while sharing the host's network namespace" in err
    # the host network without a capability to administer it is not privileged
    cfg["process"]["capabilities"]["bounding"].pop()
    runs(lamina, bundle(config=cfg))
    runs(lamina, bundle())


def test_bind_source_prefixes(lamina, bundle, policy, tmp_path):
    allowed = tmp_path / "volumes"
    (allowed / "data").mkdir(parents=True)
    (allowed / "data" / "hello").write_text("from the host\n")
    os.symlink("/etc", allowed / "sneaky")
    policy(bind_source_prefixes=[str(allowed)])

    def with_bind(source: str) -> testing.Bundle:
        cfg = testing.base_config(["/bin/cat", "/mnt/hello"])
        cfg["mounts"].append({"destination": "/mnt", "type": "bind", "source": source,
                              "options": ["rbind", "ro"]})
        return bundle(config=cfg)

    n = len(testing.base_config()["mounts"])
    refused(lamina, with_bind("/etc"), "bind_source_prefixes", f"mounts[{n}].source")
    err = refused(lamina, with_bind(str(allowed / "sneaky")), "bind_source_prefixes", f"mounts[{n}].source")
    assert "resolves to /etc" in err
    assert runs(lamina, with_bind(str(allowed / "data"))) == "from the host\n"
    # an empty list allows no bind mount at all; other mounts are not affected
    policy(bind_source_prefixes=[])
    refused(lamina, with_bind(str(allowed / "data")), "bind_source_prefixes", f"mounts[{n}].source")
    runs(lamina, bundle())


def test_require_no_new_privileges(lamina, bundle, policy):
    policy(require_no_new_privileges=True)
    cfg = testing.base_config(["/bin/true"])
    cfg["process"]["noNewPrivileges"] = False
    refused(lamina, bundle(config=cfg), "require_no_new_privileges", "process.noNewPrivileges")
    out = runs(lamina, bundle(["/bin/sh", "-c", "grep NoNewPrivs: /proc/self/status"]))
    assert "NoNewPrivs:\t1" in out


def test_hook_path_prefixes(lamina, bundle, policy, tmp_path):
    policy(hook_path_prefixes=["/usr/bin"])
    hook = tmp_path / "hook.sh"
    hook.write_text("#!/bin/sh\ntrue\n")
    hook.chmod(0o755)
    cfg = testing.base_config(["/bin/true"])
    cfg["hooks"] = {"prestart": [{"path": "/usr/bin/true"}], "poststop": [{"path": str(hook)}]}
    refused(lamina, bundle(config=cfg), "hook_path_prefixes", "hooks.poststop[0].path")
    cfg["hooks"] = {"prestart": [{"path": "/usr/bin/true"}], "poststop": [{"path": "/usr/bin/true"}]}
    runs(lamina, bundle(config=cfg))


def test_every_problem_is_reported_at_once(lamina, bundle, policy):
    policy(require_seccomp=True, require_no_new_privileges=True, max_capabilities=[])
    cfg = testing.base_config(["/bin/true"])
    cfg["process"]["noNewPrivileges"] = False
    p = lamina.run(bundle(config=cfg))
    assert p.returncode == 1
    for rule in ("require_seccomp", "require_no_new_privileges", "max_capabilities"):
        assert f"(policy.{rule})" in p.stderr


# ---------------------------------------------------------------- the admin's file is the only authority


def test_unknown_rule_is_an_error(lamina, bundle, admin_file):
    lamina.admin = admin_file({"policy": {"require_secomp": True}})
    p = lamina.run(bundle())
    assert p.returncode == 1 and "policy.require_secomp: unknown rule" in p.stderr
    lamina.admin = admin_file({"policy": {"max_capabilities": ["CAP_FLY"]}})
    assert "unknown capability 'CAP_FLY'" in lamina.run(bundle()).stderr
    lamina.admin = admin_file({"policy": {"require_seccomp": "yes"}})
    assert "policy.require_seccomp must be true or false" in lamina.run(bundle()).stderr


def test_policy_cannot_be_disabled_while_it_has_rules(lamina, bundle, admin_file):
    lamina.admin = admin_file({"plugins": {"disable": ["policy"]}, "policy": {"require_seccomp": True}})
    p = lamina.run(bundle())
    assert p.returncode == 1 and "turns off the policy plugin" in p.stderr


def test_no_annotation_turns_a_rule_off(lamina, bundle, policy):
    policy(require_no_new_privileges=True)
    cfg = testing.base_config(["/bin/true"])
    cfg["process"]["noNewPrivileges"] = False
    cfg["annotations"] = {"org.lamina.policy.require_no_new_privileges": "false",
                          "io.kubernetes.cri-o.Privileged": "true"}
    p = lamina.run(bundle(config=cfg))
    assert p.returncode == 1
    assert "(policy.require_no_new_privileges)" in p.stderr
    assert "no enabled plugin honours annotations.org.lamina.policy.require_no_new_privileges" in p.stderr
