"""Bad config.json, real `lamina create`/`run` as root: one line naming the field, exit 1, nothing
left behind (no state dir, no cgroup, no mount in the host's namespace, no process).

Several problems in one config are reported together, on ONE line, separated by "; ". One line
per problem was considered and rejected: with `--log-format json` every error is one log record,
and containerd shows only the last error line of the log, so a list split over several records
would reach the user cut down to its last item. One line keeps the whole report in one record.

Relative mount destinations are accepted (taken relative to the container's /), as runc does for
compatibility with old configs; test_security checks they land inside the rootfs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from lamina import syscalls, testing

pytestmark = pytest.mark.integration


# where a mount leaking from a container would show in the host's namespace (the whole table
# also changes with what other test sessions on the host mount meanwhile)
HOST_DIRS = ("/etc", "/dev", "/bin", "/usr", "/root", "/home", "/sbin", "/lib")


def mounts(*paths: str) -> set[str]:
    return testing.mount_table(*paths, *HOST_DIRS)


@pytest.fixture(autouse=True, scope="module")
def _subreaper():
    syscalls.set_subreaper()  # orphaned inits come to us, not to a PID 1 that does not reap them


def setp(cfg: dict, dotted: str, value) -> None:
    """Set a field by dotted path; a numeric part indexes a list."""
    parts = dotted.split(".")
    cur = cfg
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur.setdefault(p, {})
    last = parts[-1]
    if isinstance(cur, list):
        cur[int(last)] = value
    else:
        cur[last] = value


def delp(cfg: dict, dotted: str) -> None:
    parts = dotted.split(".")
    cur = cfg
    for p in parts[:-1]:
        cur = cur[int(p)] if isinstance(cur, list) else cur[p]
    del cur[parts[-1]]


def ns_list(*types: str, **paths: str) -> list[dict]:
    out = [{"type": t} for t in types]
    for t, p in paths.items():
        out.append({"type": t, "path": p})
    return out


BASE_NS = ("pid", "network", "ipc", "uts", "mount")


@dataclass
class Case:
    id: str
    expect: str  # the field path (and wording) that must be on the one stderr line
    edit: Callable[[dict], None] | None = None  # edits config.json
    raw: Callable[[testing.Bundle], None] | None = None  # edits the bundle on disk after writing it


def mount(**m) -> Callable[[dict], None]:
    return lambda c: c["mounts"].append(m)


CASES = [
    # ------------------------------------------------------------ the file itself
    Case("config-missing", "config.json: no such file or directory",
         raw=lambda b: os.unlink(os.path.join(b.path, "config.json"))),
    Case("config-invalid-json", "config.json: invalid JSON",
         raw=lambda b: open(os.path.join(b.path, "config.json"), "w").write('{"ociVersion": "1.0",')),
    Case("config-empty", "config.json: invalid JSON",
         raw=lambda b: open(os.path.join(b.path, "config.json"), "w").close()),
    Case("config-not-object", "config.json: must be a JSON object",
         raw=lambda b: open(os.path.join(b.path, "config.json"), "w").write("[1, 2]")),
    Case("ociVersion-missing", "ociVersion: is required", lambda c: delp(c, "ociVersion")),
    Case("ociVersion-type", "ociVersion: must be a string", lambda c: setp(c, "ociVersion", 1.1)),
    Case("annotation-type", "annotations.a: must be a string", lambda c: setp(c, "annotations", {"a": 1})),
    # ------------------------------------------------------------ root
    Case("root-missing", "root: is required", lambda c: delp(c, "root")),
    Case("root-path-type", "root.path: must be a string", lambda c: setp(c, "root.path", 5)),
    Case("root-readonly-type", "root.readonly: must be a boolean", lambda c: setp(c, "root.readonly", "yes")),
    Case("rootfs-missing", "root.path: ", raw=lambda b: os.rename(b.rootfs, b.rootfs + ".gone")),
    Case("rootfs-nonexistent-path", "root.path: ", lambda c: setp(c, "root.path", "no-such-rootfs")),
    # ------------------------------------------------------------ process
    Case("process-missing", "process: is required", lambda c: delp(c, "process")),
    Case("process-type", "process: must be an object", lambda c: setp(c, "process", "sh")),
    Case("args-missing", "process.args: must be a non-empty list", lambda c: delp(c, "process.args")),
    Case("args-empty", "process.args: must be a non-empty list", lambda c: setp(c, "process.args", [])),
    Case("args-string", "process.args: must be a list", lambda c: setp(c, "process.args", "/bin/true")),
    Case("args0-empty", "process.args[0]: must not be empty", lambda c: setp(c, "process.args", [""])),
    Case("args-item-type", "process.args[1]: must be a string",
         lambda c: setp(c, "process.args", ["true", 1])),
    Case("args-nul", "process.args[1]: must not contain a NUL byte",
         lambda c: setp(c, "process.args", ["true", "a\0b"])),
    Case("terminal-type", "process.terminal: must be a boolean", lambda c: setp(c, "process.terminal", "no")),
    Case("cwd-missing", "process.cwd: is required", lambda c: delp(c, "process.cwd")),
    Case("cwd-relative", "process.cwd: must be an absolute path", lambda c: setp(c, "process.cwd", "tmp")),
    Case("cwd-type", "process.cwd: must be a string", lambda c: setp(c, "process.cwd", 7)),
    Case("env-type", "process.env: must be a list", lambda c: setp(c, "process.env", "PATH=/bin")),
    Case("env-no-equals", "process.env[2]: 'NOVALUE' is not of the form KEY=VALUE",
         lambda c: c["process"]["env"].append("NOVALUE")),
    Case("user-type", "process.user: must be an object", lambda c: setp(c, "process.user", "root")),
    Case("user-uid-missing", "process.user.uid: is required", lambda c: setp(c, "process.user", {"gid": 0})),
    Case("user-uid-negative", "process.user.uid: -1 is out of range",
         lambda c: setp(c, "process.user.uid", -1)),
    Case("user-gid-type", "process.user.gid: must be an integer", lambda c: setp(c, "process.user.gid", "0")),
    Case("user-gids-type", "process.user.additionalGids[0]: must be an integer",
         lambda c: setp(c, "process.user.additionalGids", ["wheel"])),
    Case("user-umask-range", "process.user.umask: 4096 is out of range",
         lambda c: setp(c, "process.user.umask", 0o10000)),
    Case("cap-unknown", "process.capabilities.bounding[1]: unknown capability 'CAP_FOO'",
         lambda c: c["process"]["capabilities"]["bounding"].insert(1, "CAP_FOO")),
    Case("cap-lowercase", "process.capabilities.effective[0]: unknown capability 'cap_kill'",
         lambda c: c["process"]["capabilities"]["effective"].insert(0, "cap_kill")),
    Case("cap-set-type", "process.capabilities.permitted: must be a list",
         lambda c: setp(c, "process.capabilities.permitted", "CAP_KILL")),
    Case("cap-name-type", "process.capabilities.ambient[0]: must be a string",
         lambda c: setp(c, "process.capabilities.ambient", [21])),
    Case("rlimit-unknown", "process.rlimits[0].type: unknown rlimit 'RLIMIT_FOO'",
         lambda c: setp(c, "process.rlimits", [{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}])),
    Case("rlimit-hard-missing", "process.rlimits[0].hard: is required",
         lambda c: setp(c, "process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1}])),
    Case("rlimit-soft-above-hard",
         "process.rlimits[0]: RLIMIT_NOFILE soft limit 10 is above its hard limit 5",
         lambda c: setp(c, "process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}])),
    Case("rlimit-twice", "process.rlimits[1].type: RLIMIT_NOFILE is given twice",
         lambda c: c["process"]["rlimits"].append({"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1})),
    Case("oom-range", "process.oomScoreAdj: 5000 is out of range",
         lambda c: setp(c, "process.oomScoreAdj", 5000)),
    Case("nnp-type", "process.noNewPrivileges: must be a boolean",
         lambda c: setp(c, "process.noNewPrivileges", 1)),
    Case("terminal-without-socket", "process.terminal: is true, but no --console-socket",
         lambda c: setp(c, "process.terminal", True)),
    # ------------------------------------------------------------ mounts
    Case("mounts-type", "mounts: must be a list", lambda c: setp(c, "mounts", {"destination": "/x"})),
    Case("mount-destination-missing", "mounts[7].destination: is required",
         mount(type="tmpfs", source="tmpfs")),
    Case("mount-destination-type", "mounts[7].destination: must be a string",
         mount(destination=["/x"], type="tmpfs")),
    Case("mount-options-type", "mounts[7].options: must be a list",
         mount(destination="/x", type="tmpfs", options="ro")),
    Case("mount-type-missing", "mounts[7].type: is required unless options contain",
         mount(destination="/x", source="tmpfs")),
    Case("mount-bind-no-source", "mounts[7].source: a bind mount needs a source",
         mount(destination="/x", options=["bind"])),
    Case("mount-over-root", "mounts[7].destination: cannot mount over the container's root",
         mount(destination="/", type="tmpfs", source="tmpfs")),
    Case("mount-tmpfs-on-proc", "mounts[7].destination: only a proc mount may be placed on /proc",
         mount(destination="/proc", type="tmpfs", source="tmpfs")),
    Case("mount-unsupported-option", "mounts[7].options: 'idmap' is not supported",
         mount(destination="/x", type="tmpfs", source="tmpfs", options=["idmap"])),
    Case("mount-idmapped", "mounts[7].uidMappings: id-mapped mounts are not supported",
         mount(destination="/x", type="bind", source="/tmp", options=["bind"],
               uidMappings=[{"containerID": 0, "hostID": 1000, "size": 1}])),
    # ------------------------------------------------------------ namespaces
    Case("ns-type-unknown", "linux.namespaces[5].type: unknown namespace type 'foo'",
         lambda c: c["linux"]["namespaces"].append({"type": "foo"})),
    Case("ns-type-missing", "linux.namespaces[5].type: is required",
         lambda c: c["linux"]["namespaces"].append({"path": "/proc/1/ns/net"})),
    Case("ns-duplicate", "linux.namespaces[5].type: namespace 'pid' is listed twice (also at [0])",
         lambda c: c["linux"]["namespaces"].append({"type": "pid"})),
    Case("ns-list-type", "linux.namespaces: must be a list", lambda c: setp(c, "linux.namespaces", "pid")),
    Case("ns-path-relative", "linux.namespaces[5].path: must be an absolute path, got 'proc/1/ns/net'",
         lambda c: setp(c, "linux.namespaces", ns_list("pid", "ipc", "uts", "mount", "cgroup",
                                                       network="proc/1/ns/net"))),
    Case("ns-path-missing", "linux.namespaces[4].path: /no/such/ns: no such file or directory",
         lambda c: setp(c, "linux.namespaces", ns_list("pid", "ipc", "uts", "mount", network="/no/such/ns"))),
    Case("ns-no-mount", 'linux.namespaces: a "mount" namespace is required',
         lambda c: setp(c, "linux.namespaces", ns_list("pid", "uts"))),
    Case("ns-maps-without-userns", "linux.uidMappings: id mappings need a new user namespace",
         lambda c: setp(c, "linux.uidMappings", [{"containerID": 0, "hostID": 1000, "size": 1}])),
    Case("ns-userns-without-maps", "linux.uidMappings: a new user namespace needs both",
         lambda c: c["linux"]["namespaces"].append({"type": "user"})),
    Case("ns-idmap-field-missing", "linux.uidMappings[0].size: is required",
         lambda c: setp(c, "linux.uidMappings", [{"containerID": 0, "hostID": 1000}])),
    Case("hostname-without-uts", 'hostname: setting it needs a "uts" namespace',
         lambda c: setp(c, "linux.namespaces", ns_list("pid", "mount"))),
    Case("hostname-type", "hostname: must be a string", lambda c: setp(c, "hostname", 1)),
    Case("timeoffsets-without-timens", 'linux.timeOffsets: needs a "time" namespace',
         lambda c: setp(c, "linux.timeOffsets", {"monotonic": {"secs": 1}})),
    Case("sysctl-host", "linux.sysctl.kernel.panic: not a namespaced sysctl",
         lambda c: setp(c, "linux.sysctl", {"kernel.panic": "1"})),
    Case("sysctl-value-type", "linux.sysctl.net.ipv4.ip_forward: must be a string",
         lambda c: setp(c, "linux.sysctl", {"net.ipv4.ip_forward": 1})),
    # ------------------------------------------------------------ hooks
    Case("hook-path-relative", "hooks.prestart[0].path: must be an absolute path, got 'bin/true'",
         lambda c: setp(c, "hooks", {"prestart": [{"path": "bin/true"}]})),
    Case("hook-path-missing", "hooks.createRuntime[0].path: is required",
         lambda c: setp(c, "hooks", {"createRuntime": [{"args": ["x"]}]})),
    Case("hook-path-nonexistent", "hooks.poststop[0].path: /no/such/hook: no such file or directory",
         lambda c: setp(c, "hooks", {"poststop": [{"path": "/no/such/hook"}]})),
    Case("hook-timeout-zero", "hooks.createContainer[0].timeout: must be greater than zero",
         lambda c: setp(c, "hooks", {"createContainer": [{"path": "/bin/true", "timeout": 0}]})),
    Case("hook-list-type", "hooks.poststart: must be a list",
         lambda c: setp(c, "hooks", {"poststart": {"path": "/bin/true"}})),
    # ------------------------------------------------------------ devices, masks, cgroups
    Case("device-path-relative", "linux.devices[0].path: must be an absolute path, got 'dev/fuse'",
         lambda c: setp(c, "linux.devices", [{"type": "c", "path": "dev/fuse", "major": 10, "minor": 229}])),
    Case("device-outside-dev", "linux.devices[0].path: device nodes must be under /dev",
         lambda c: setp(c, "linux.devices", [{"type": "c", "path": "/etc/null", "major": 1, "minor": 3}])),
    Case("device-type-unknown", "linux.devices[0].type: unknown device type 'x'",
         lambda c: setp(c, "linux.devices", [{"type": "x", "path": "/dev/x", "major": 1, "minor": 3}])),
    Case("device-major-missing", "linux.devices[0]: major and minor are required",
         lambda c: setp(c, "linux.devices", [{"type": "c", "path": "/dev/x"}])),
    Case("device-path-missing", "linux.devices[0].path: is required",
         lambda c: setp(c, "linux.devices", [{"type": "c", "major": 1, "minor": 3}])),
    Case("masked-relative", "linux.maskedPaths[1]: must be an absolute path, got 'proc/kcore'",
         lambda c: setp(c, "linux.maskedPaths", ["/proc/keys", "proc/kcore"])),
    Case("readonly-relative", "linux.readonlyPaths[0]: must be an absolute path, got 'proc/sys'",
         lambda c: setp(c, "linux.readonlyPaths", ["proc/sys"])),
    Case("cgroupspath-dotdot", "linux.cgroupsPath: '/a/../../b'",
         lambda c: setp(c, "linux.cgroupsPath", "/a/../../b")),
    Case("cgroupspath-systemd", "linux.cgroupsPath: 'system.slice:lamina:x'",
         lambda c: setp(c, "linux.cgroupsPath", "system.slice:lamina:x")),
    Case("cgroupspath-type", "linux.cgroupsPath: must be a string",
         lambda c: setp(c, "linux.cgroupsPath", 1)),
    Case("device-rule-access", "linux.resources.devices[1].access: 'rwx' must be made of r, w and m",
         lambda c: c["linux"]["resources"]["devices"].append({"allow": True, "access": "rwx"})),
    Case("device-rule-allow-missing", "linux.resources.devices[1].allow: is required",
         lambda c: c["linux"]["resources"]["devices"].append({"access": "rwm"})),
    Case("propagation-unknown", "linux.rootfsPropagation: unknown value 'bogus'",
         lambda c: setp(c, "linux.rootfsPropagation", "bogus")),
    Case("memory-limit-type", "linux.resources.memory.limit: must be an integer",
         lambda c: setp(c, "linux.resources.memory", {"limit": "1G"})),
    Case("seccomp-syscall-names", "linux.seccomp.syscalls[0].names: is required",
         lambda c: setp(c, "linux.seccomp", {"defaultAction": "SCMP_ACT_ALLOW",
                                             "syscalls": [{"action": "SCMP_ACT_ERRNO"}]})),
    # ------------------------------------------------------------ fields nobody honours
    Case("unclaimed-intelrdt", "no enabled plugin honours linux.intelRdt",
         lambda c: setp(c, "linux.intelRdt", {"closID": "x"})),
    Case("unclaimed-personality", "no enabled plugin honours linux.personality",
         lambda c: setp(c, "linux.personality", {"domain": "LINUX32"})),
]


def _bundle_for(bundle, case: Case) -> testing.Bundle:
    b = bundle(["/bin/true"])
    if case.edit:
        case.edit(b.config)
        b.write()
    if case.raw:
        case.raw(b)
    return b


def assert_refused(lamina, b: testing.Bundle, p, expect: str, before: set[str]) -> None:
    __tracebackhide__ = True
    out = f"exit {p.returncode}\nstdout: {p.stdout!r}\nstderr: {p.stderr!r}"
    assert p.returncode == 1, out
    assert "Traceback" not in p.stderr + p.stdout, out
    lines = p.stderr.splitlines()
    assert len(lines) == 1, out
    assert lines[0].startswith("lamina: "), out
    assert expect in lines[0], f"expected {expect!r} in the error\n{out}"
    cgroups_path = b.cgroups_path if isinstance(b.cgroups_path, str) and b.cgroups_path else \
        f"/{testing.CGROUP_PARENT}/{b.id}"
    assert testing.leftovers(lamina.root, b.id, cgroups_path) == []
    assert mounts(b.path, lamina.root) == before


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_create_refuses_bad_config(lamina, bundle, case: Case):
    b = _bundle_for(bundle, case)
    before = mounts(b.path, lamina.root)
    p = lamina.create(b)
    assert_refused(lamina, b, p, case.expect, before)


RUN_CASES = [c for c in CASES if c.id in (
    "config-missing", "config-invalid-json", "args-empty", "cwd-relative", "cap-unknown", "ns-duplicate",
    "ns-type-unknown", "hook-path-relative", "rootfs-missing", "mount-tmpfs-on-proc", "device-path-relative")]


@pytest.mark.parametrize("case", RUN_CASES, ids=[c.id for c in RUN_CASES])
def test_run_refuses_bad_config(lamina, bundle, case: Case):
    b = _bundle_for(bundle, case)
    before = mounts(b.path, lamina.root)
    p = lamina.run(b)
    assert_refused(lamina, b, p, case.expect, before)


def test_json_log_has_one_error_record(lamina, bundle, tmp_path):
    b = bundle(["/bin/true"])
    b.config["process"]["args"] = []
    b.write()
    log = tmp_path / "log.json"
    p = lamina("--log", str(log), "--log-format", "json", "create", "--bundle", b.path, b.id)
    assert p.returncode == 1
    assert len(p.stderr.splitlines()) == 1
    records = [json.loads(line) for line in log.read_text().splitlines()]
    errors = [r for r in records if r["level"] == "error"]
    assert len(errors) == 1 and "process.args: must be a non-empty list" in errors[0]["msg"]
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []


def test_several_problems_share_one_line(lamina, bundle):
    b = bundle(["/bin/true"])
    b.config["process"]["cwd"] = "relative"
    b.config["process"]["capabilities"]["bounding"].append("CAP_NOPE")
    b.config["linux"]["namespaces"].append({"type": "ipc"})
    b.config["hooks"] = {"prestart": [{"path": "x"}]}
    b.write()
    before = mounts(b.path, lamina.root)
    p = lamina.create(b)
    assert_refused(lamina, b, p, "process.cwd: must be an absolute path", before)
    line = p.stderr.strip()
    for part in ("process.capabilities.bounding[3]: unknown capability 'CAP_NOPE'",
                 "linux.namespaces[5].type: namespace 'ipc' is listed twice", "hooks.prestart[0].path"):
        assert part in line
    assert line.count("; ") >= 3


def test_type_errors_are_reported_before_meaning(lamina, bundle):
    """A config with a type error is refused by the schema alone, every type problem at once,
    and no plugin's check runs on a value of the wrong type (which would be a traceback)."""
    b = bundle(["/bin/true"])
    b.config["linux"]["namespaces"] = [{"type": 3}, {"type": "mount", "path": 4}]
    b.config["mounts"][0]["destination"] = None
    b.config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": "1", "hard": 2}]
    b.write()
    before = mounts(b.path, lamina.root)
    p = lamina.create(b)
    assert_refused(lamina, b, p, "linux.namespaces[0].type: must be a string", before)
    for part in ("linux.namespaces[1].path: must be a string", "mounts[0].destination: is required",
                 "process.rlimits[0].soft: must be an integer"):
        assert part in p.stderr


# ---------------------------------------------------------------- failures found only while creating




LATE = [
    # (id, config edit, rootfs edit, expected text)
    ("exec-not-found", lambda c: setp(c, "process.args", ["no-such-binary"]), None,
     'exec: "no-such-binary": executable file not found in $PATH'),
    ("exec-not-executable", lambda c: setp(c, "process.args", ["/etc/passwd"]), None,
     'exec: "/etc/passwd": permission denied'),
    ("exec-missing-path", lambda c: setp(c, "process.args", ["/no/such"]), None, "no such file or directory"),
    ("bind-source-missing", mount(destination="/x", type="bind", source="/no/such/source", options=["bind"]),
     None, "mounts[7]: bind source /no/such/source: no such file or directory"),
    ("mount-bad-fs", mount(destination="/x", type="no-such-fs", source="none"), None,
     "mounts[7]: mount none on /x (type no-such-fs): no such device"),
    ("hook-fails", lambda c: setp(c, "hooks", {"createRuntime": [{"path": "/bin/false"}]}), None,
     "hook #0 (createRuntime) /bin/false failed: exit status 1"),
    ("hook-timeout", lambda c: setp(c, "hooks", {"prestart": [{"path": "/bin/sleep", "args": ["sleep", "30"],
                                                              "timeout": 1}]}), None,
     "hook #0 (prestart) /bin/sleep: timeout after 1s"),
    ("create-container-hook-fails",
     lambda c: setp(c, "hooks", {"createContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 3"]}]}),
     None, "hook #0 (createContainer) /bin/sh failed: exit status 3"),
    ("rlimit-raise-hard", lambda c: setp(c, "process.rlimits", [{"type": "RLIMIT_NOFILE", "soft": 1024,
                                                                 "hard": 2**40}]),
     None, "process.rlimits[0]: setrlimit(RLIMIT_NOFILE"),
    ("cwd-is-file", lambda c: setp(c, "process.cwd", "/etc/passwd"), None, "process.cwd"),
    ("devnode-over-dir", lambda c: setp(c, "linux.devices", [{"type": "c", "path": "/dev/pts", "major": 1,
                                                              "minor": 3}]),
     None, "/dev/pts: is a directory"),
]


@pytest.mark.parametrize("edit,fs,expect", [pytest.param(e, f, x, id=i) for i, e, f, x in LATE])
def test_late_failure_leaves_nothing(lamina, bundle, edit, fs, expect):
    """Errors found after the state dir, cgroup and mounts exist still end in one line and a
    complete clean-up."""
    b = bundle(["/bin/true"])
    edit(b.config)
    b.write()
    if fs:
        fs(b)
    before = mounts(b.path, lamina.root)
    p = lamina.create(b)
    assert_refused(lamina, b, p, expect, before)


# ---------------------------------------------------------------- invalid container ids


BAD_IDS = ["../x", "a/b", "a b", "", ".", "..", "x" * 256, "x" * 1025, "../../x", "/abs", "a\nb", "x/../../x",
           "a\0b"]


def _verbs(cid: str, bundle_path: str) -> list[list[str]]:
    return [["create", "--bundle", bundle_path, cid], ["run", "--bundle", bundle_path, cid],
            ["run", "--detach", "--bundle", bundle_path, cid], ["state", cid], ["start", cid],
            ["kill", cid, "KILL"], ["kill", "--all", cid, "KILL"], ["delete", cid],
            ["delete", "--force", cid],
            ["pause", cid], ["resume", cid]]


@pytest.mark.parametrize("cid", [c for c in BAD_IDS if "\0" not in c],
                         ids=lambda c: repr(c) if len(c) < 20 else f"{len(c)}-chars")
def test_invalid_id_is_refused_before_anything_is_touched(lamina, bundle, tmp_path, cid):
    """A bait beside the state root: a directory `x` whose state.json names a live process. An
    id that escaped the root would kill it (kill), remove it (delete --force) or start it."""
    import signal
    import subprocess

    from lamina.procinfo import start_time

    root = tmp_path / "r" / "root"
    root.mkdir(parents=True)
    bait = tmp_path / "r" / "x"
    bait.mkdir()
    victim = subprocess.Popen(["sleep", "60"])
    try:
        st = {"id": cid, "pid": victim.pid, "init_start": start_time(victim.pid), "bundle": "", "plugins": {}}
        (bait / "state.json").write_text(json.dumps(st))
        b = bundle(["true"])
        before = mounts(b.path, lamina.root)
        for argv in _verbs(cid, b.path):
            p = subprocess.run([lamina.binary, "--root", str(root), *argv], env=lamina.env(),
                               capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30)
            assert p.returncode == 1, (argv, p.stdout, p.stderr)
            assert "Traceback" not in p.stderr
            assert len(p.stderr.splitlines()) == 1 or (cid.count("\n") and len(p.stderr.splitlines()) == 2)
            assert "invalid container id" in p.stderr, (argv, p.stderr)
            assert p.stdout == ""
            assert victim.poll() is None, argv
            assert sorted(os.listdir(bait)) == ["state.json"]
            assert os.listdir(root) == []
        assert mounts(b.path, lamina.root) == before
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()


def test_nul_in_id_is_refused(lamina):
    import subprocess

    # a NUL cannot even be passed in argv: the id ends there, and "a" alone is a valid, absent id
    with pytest.raises(ValueError):
        subprocess.run([lamina.binary, "state", "a\0b"], capture_output=True)


@pytest.mark.parametrize("length", [255, 256, 1024])
def test_long_id(lamina, bundle, length):
    """The id names the state directory: up to NAME_MAX (255) it works, beyond it is refused at
    once (runc's 1024 could only fail half-way with "file name too long")."""
    cid = "i" * length
    b = bundle(["true"])
    before = mounts(b.path, lamina.root)
    p = lamina("run", "--bundle", b.path, cid)
    assert "Traceback" not in p.stderr
    if length <= 255:
        assert p.returncode == 0, p.stderr
    else:
        assert p.returncode == 1 and p.stderr.splitlines() == [
            f"lamina: invalid container id: {length} characters is longer than 255 (the id names its state "
            "directory)"]
    assert testing.leftovers(lamina.root, cid, b.cgroups_path) == []
    assert mounts(b.path, lamina.root) == before
    for argv in (["state", cid], ["delete", cid], ["kill", cid]):
        p = lamina(*argv)
        assert p.returncode == 1 and len(p.stderr.splitlines()) == 1 and "Traceback" not in p.stderr, p.stderr
        assert "does not exist" in p.stderr or "invalid container id" in p.stderr, p.stderr
    assert lamina("delete", "--force", cid).returncode == (0 if length <= 255 else 1)
