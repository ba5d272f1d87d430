"""The audit record (`lamina inspect`) and the audit log ([audit] log in the admin file), for real
containers: what each plugin applied is read back from the kernel, and every lifecycle event is
one JSON line.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time

import pytest
from lamina import testing

pytestmark = pytest.mark.integration


def wait_stopped(lamina, cid: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while lamina.state(cid)["status"] != "stopped":
        assert time.monotonic() < deadline, "container did not stop"
        time.sleep(0.02)


def test_inspect_reports_what_was_applied(lamina, bundle, subreaper):
    cfg = testing.base_config(["/bin/sleep", "30"])
    cfg["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5]}
    cfg["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 1024}]
    cfg["hooks"] = {"poststop": [{"path": "/bin/true"}]}
    cfg["hostname"] = "audited"
    b = bundle(config=cfg)
    assert lamina.create(b).returncode == 0
    info = lamina.inspect(b.id)
    assert info["status"] == "created" and info["pid"] > 0
    applied = info["audit"]["applied"]
    ns = applied["namespaces"]
    for t in ("pid", "network", "ipc", "uts", "mount"):
        assert ns[t]["mode"] == "created", ns
        proc_name = {"network": "net", "mount": "mnt"}.get(t, t)
        assert ns[t]["id"] == os.readlink(f"/proc/{info['pid']}/ns/{proc_name}")
    for t in ("user", "cgroup"):  # not in linux.namespaces: the host's
        assert ns[t]["mode"] == "host", ns
    assert ns["hostname"] == "audited"
    proc = applied["process"]
    assert proc["uid"] == 1000 and proc["gid"] == 1000 and proc["groups"] == [5]
    assert proc["caps_bounding"] == ["CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_AUDIT_WRITE"]
    assert proc["no_new_privs"] is True
    assert proc["rlimits"] == {"RLIMIT_NOFILE": "512/1024"}
    rootfs = applied["rootfs"]
    # a file mask (/dev/null) and a directory mask (tmpfs); paths this kernel lacks are absent
    assert "/proc/keys" in rootfs["masked_paths"] and "/sys/firmware" in rootfs["masked_paths"]
    assert "/proc/sys" in rootfs["readonly_paths"]
    assert ("/proc/kcore" in rootfs["masked_paths"]) == os.path.exists("/proc/kcore")
    assert rootfs["root_readonly"] is False
    assert applied["ocihooks"] == {"poststop": ["/bin/true"]}
    assert applied["cgroups"]["path"] == b.cgroups_path
    assert "policy" not in applied  # no [policy]: nothing to report
    assert set(info["audit"]["plugins"]) >= {"namespaces", "rootfs", "process", "cgroups"}
    # the human table: one row per item, plugin first
    table = lamina("inspect", b.id)
    assert table.returncode == 0
    lines = table.stdout.splitlines()
    assert any(line.split()[:2] == ["namespaces", "pid"] and "created" in line for line in lines)
    assert any(line.split()[:2] == ["process", "caps_effective"] for line in lines)
    assert lines[0].split() == ["ID", b.id]


def test_inspect_follows_the_live_status(lamina, bundle, subreaper):
    b = bundle(["/bin/sleep", "30"])
    assert lamina.create(b).returncode == 0
    assert lamina("start", b.id).returncode == 0
    assert lamina.inspect(b.id)["status"] == "running"
    assert lamina("kill", b.id, "KILL").returncode == 0
    wait_stopped(lamina, b.id)
    info = lamina.inspect(b.id)
    assert info["status"] == "stopped" and info["pid"] == 0
    assert info["audit"]["applied"]["namespaces"]  # the record outlives the process


def test_inspect_of_a_missing_container(lamina):
    p = lamina("inspect", "no-such-container")
    assert p.returncode == 1 and "container no-such-container does not exist" in p.stderr


def test_audit_log_has_one_line_per_event(lamina, bundle, admin_file, tmp_path, subreaper):
    log = str(tmp_path / "log" / "audit.jsonl")
    lamina.admin = admin_file({"audit": {"log": log}, "policy": {"require_no_new_privileges": True}})
    b = bundle(["/bin/sleep", "30"])
    assert lamina.create(b).returncode == 0
    assert lamina("start", b.id).returncode == 0
    assert lamina("exec", "--user", "1000:1000", b.id, "true").returncode == 0
    assert lamina("kill", b.id, "KILL").returncode == 0
    wait_stopped(lamina, b.id)
    assert lamina("delete", b.id).returncode == 0
    events = [e for e in testing.read_jsonl(log) if e["id"] == b.id]
    assert [e["event"] for e in events] == ["create", "start", "exec", "kill", "delete"]
    create, start, exec_, kill, delete = events
    assert exec_["args"] == ["true"] and exec_["user"]["uid"] == 1000 and exec_["exec_pid"] > 0
    assert create["result"] == "ok" and create["pid"] > 0 and create["bundle"] == b.path
    assert create["applied"]["process"]["no_new_privs"] is True
    assert create["applied"]["policy"]["require_no_new_privileges"] is True
    assert create["caller"]["uid"] == 0
    assert kill["signal"] == signal.SIGKILL and kill["all"] is False
    assert delete["force"] is False and delete["status"] == "stopped" and delete["errors"] == []
    assert all(e["time"].endswith("Z") for e in events)
    assert oct(os.stat(log).st_mode & 0o777) == "0o600"


def test_refused_create_is_logged(lamina, bundle, admin_file, tmp_path):
    log = str(tmp_path / "audit.jsonl")
    lamina.admin = admin_file({"audit": {"log": log}, "policy": {"require_seccomp": True}})
    b = bundle()
    p = lamina.run(b)
    assert p.returncode == 1
    (entry,) = testing.read_jsonl(log)
    assert entry["event"] == "create" and entry["result"] == "refused" and entry["id"] == b.id
    assert any("(policy.require_seccomp)" in x for x in entry["problems"])


def test_run_logs_create_start_and_delete(lamina, bundle, admin_file, tmp_path):
    log = str(tmp_path / "audit.jsonl")
    lamina.admin = admin_file({"audit": {"log": log}})
    b = bundle(["/bin/true"])
    assert lamina.run(b).returncode == 0
    assert [e["event"] for e in testing.read_jsonl(log)] == ["create", "start", "delete"]


def test_unwritable_audit_log_fails_create(lamina, bundle, admin_file, tmp_path):
    """No container runs unaudited on a host that asks for an audit log."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    lamina.admin = admin_file({"audit": {"log": str(blocker / "audit.jsonl")}})
    b = bundle(["/bin/true"])
    p = lamina.create(b)
    assert p.returncode == 1 and "audit log" in p.stderr and "cannot write" in p.stderr
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_audit_settings_are_checked(lamina, bundle, admin_file):
    lamina.admin = admin_file({"audit": {"log": "relative.jsonl"}})
    assert "audit.log must be an absolute path" in lamina.run(bundle()).stderr
    lamina.admin = admin_file({"audit": {"path": "/var/log/x"}})
    assert "audit.path: unknown setting" in lamina.run(bundle()).stderr


def test_seccomp_and_selinux_report(lamina, bundle, subreaper):
    cfg = testing.base_config(["/bin/true"])
    profile = {"defaultAction": "SCMP_ACT_ALLOW",
               "syscalls": [{"names": ["mknod", "mknodat"], "action": "SCMP_ACT_ERRNO"}]}
    cfg["linux"]["seccomp"] = profile
    cfg["process"]["selinuxLabel"] = "system_u:system_r:container_t:s0"
    b = bundle(config=cfg)
    assert lamina.create(b).returncode == 0
    applied = lamina.inspect(b.id)["audit"]["applied"]
    sc = applied["seccomp"]
    digest = hashlib.sha256(json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert sc["profile_sha256"] == digest and sc["rules"] == 1 and sc["syscall_names"] == 2
    assert sc["kernel_mode"] == "filter" and sc["kernel_filters"] >= 1
    se = applied["selinux"]
    assert se["process_label"] == "system_u:system_r:container_t:s0"
    if not se["enabled"]:
        assert se["applied"] is False
