"""Regression tests for the known runtime escapes, with real containers as root.

fds leaking into the container (CVE-2016-9962, CVE-2024-21626), a cwd outside the root through
/proc/self/fd/N and other magic links (CVE-2024-21626), /proc replaced by a symlink or covered by
another filesystem (CVE-2019-16884, CVE-2019-19921), mount destinations through symlinks in the
image (CVE-2021-30465 class), inheritable capabilities (CVE-2022-29162), /dev/null replaced in
the image to redirect masks (CVE-2025-31133).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time

import pytest
from lamina import syscalls, testing

pytestmark = pytest.mark.integration


# where a mount leaking from a container would show in the host's namespace (the whole table
# also changes with what other test sessions on the host mount meanwhile)
HOST_DIRS = ("/etc", "/dev", "/bin", "/usr", "/root", "/home", "/sbin", "/lib")


def mounts(*paths: str) -> set[str]:
    return testing.mount_table(*paths, *HOST_DIRS)

# lists the fds of the container's PID 1 (the shell) from a child, so the listing adds none
LIST_FDS = ["sh", "-c", "ls /proc/$$/fd; true"]


@pytest.fixture(autouse=True, scope="module")
def _subreaper():
    syscalls.set_subreaper()


def fds_of(out: str) -> list[int]:
    return sorted(int(x) for x in out.split())


def refused(lamina, b: testing.Bundle, p, expect: str, before: set[str]) -> str:
    __tracebackhide__ = True
    assert p.returncode == 1, f"exit {p.returncode}: {p.stdout} {p.stderr}"
    assert "Traceback" not in p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1, p.stderr
    assert expect in lines[0], lines[0]
    assert testing.leftovers(lamina.root, b.id, b.cgroups_path) == []
    assert mounts(b.path, lamina.root) == before
    return lines[0]


def with_fds(lamina, fds: dict[int, str], *args: str, **kw) -> subprocess.CompletedProcess:
    """Run lamina with the given fds open (number -> file it reads), set up by a shell in the
    child, so the test process's own fds stay untouched."""
    redirs = " ".join(f"{n}<'{path}'" for n, path in fds.items())
    lamina._remember(args)
    if "stdout" not in kw:
        kw["capture_output"] = True
    return subprocess.run(["/bin/bash", "-c", f'exec "$@" {redirs}', "bash", *lamina.argv(*args)],
                          env=lamina.env(),
                          text=True, stdin=subprocess.DEVNULL, timeout=60, **kw)


def host_dirs(*numbers: int) -> dict[int, str]:
    """fds on /etc, a host directory: the CVE-2024-21626 kind of leak."""
    return {n: "/etc" for n in numbers}


# ---------------------------------------------------------------- file descriptors


def test_only_stdio_reaches_the_container(lamina, bundle):
    b = bundle(LIST_FDS)
    p = with_fds(lamina, host_dirs(3, 4, 5, 9, 20), "run", "--bundle", b.path, b.id)
    assert p.returncode == 0, p.stderr
    assert fds_of(p.stdout) == [0, 1, 2]


@pytest.mark.parametrize("n", [1, 3])
def test_preserve_fds_passes_exactly_those(lamina, bundle, n):
    b = bundle(LIST_FDS)
    fds = host_dirs(*range(3, 3 + n + 3))  # 3 .. 3+n+2: the last three must not arrive
    p = with_fds(lamina, fds, "run", "--preserve-fds", str(n), "--bundle", b.path, b.id)
    assert p.returncode == 0, p.stderr
    assert fds_of(p.stdout) == list(range(3 + n))


def test_preserved_fd_is_the_callers(lamina, bundle, tmp_path):
    b = bundle(["sh", "-c", "cat <&3"])
    (tmp_path / "data").write_text("from the caller\n")
    p = with_fds(lamina, {3: str(tmp_path / "data")}, "run", "--preserve-fds", "1", "--bundle", b.path, b.id)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "from the caller\n"


def test_preserve_fds_gap_gets_no_runtime_fd(lamina, bundle):
    """--preserve-fds N with nothing open at 3..: the runtime's own fds (lock, channel, pipes)
    that land there never reach the container."""
    b = bundle(LIST_FDS)
    p = with_fds(lamina, {}, "run", "--preserve-fds", "5", "--bundle", b.path, b.id)
    assert p.returncode == 0, p.stderr
    assert fds_of(p.stdout) == [0, 1, 2]


def test_create_start_preserve_fds(lamina, bundle, tmp_path):
    b = bundle(LIST_FDS)
    out = tmp_path / "out"
    err = tmp_path / "err"
    with open(out, "w") as o, open(err, "w") as e:
        p = with_fds(lamina, host_dirs(3, 4, 5, 6), "create", "--preserve-fds", "2", "--bundle", b.path, b.id,
                     stdout=o, stderr=e)
    assert p.returncode == 0, err.read_text()
    assert lamina("start", b.id).returncode == 0
    for _ in range(500):
        if lamina.state(b.id)["status"] == "stopped":
            break
        testing.reap_orphans()
        time.sleep(0.01)
    assert fds_of(out.read_text()) == [0, 1, 2, 3, 4]


# ---------------------------------------------------------------- cwd


@pytest.mark.parametrize("cwd", ["/proc/self/fd/3", "/proc/self/fd/7", "/proc/thread-self/fd/3",
                                 "/proc/self/cwd", "/proc/1/root", "/proc/self/root/etc",
                                 "/proc/self/fd/3/..", "/proc/1/cwd/x"])
def test_cwd_magic_link_is_refused(lamina, bundle, cwd):
    b = bundle(["sh", "-c", "pwd; ls .."])
    b.config["process"]["cwd"] = cwd
    b.write()
    before = mounts(b.path, lamina.root)
    # host directories open at 3.. (as a leaked fd would be): with --preserve-fds they even reach the init
    p = with_fds(lamina, host_dirs(3, 4, 5, 6, 7), "run", "--preserve-fds", "5", "--bundle", b.path, b.id)
    refused(lamina, b, p, "process.cwd", before)


@pytest.mark.parametrize("cwd,link", [("/../../../..", None), ("/tmp/../../../etc", None), ("/wd", "/etc"),
                                      ("/wd", "../../../../../../etc"), ("/wd/sub", "/etc")])
def test_cwd_resolves_inside_the_rootfs(lamina, bundle, cwd, link):
    b = bundle(["sh", "-c", "ls"])
    marker = f"marker-{b.id}"
    open(os.path.join(b.rootfs, "etc", marker), "w").close()
    if link:
        os.symlink(link, os.path.join(b.rootfs, "wd"))
    b.config["process"]["cwd"] = cwd
    b.write()
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    names = p.stdout.split()
    if cwd.startswith("/wd/sub"):
        assert names == [] and os.path.isdir(os.path.join(b.rootfs, "etc", "sub"))
        assert not os.path.exists("/etc/sub")
    elif cwd.endswith("etc") or link:
        assert marker in names
    else:
        assert "bin" in names and "etc" in names


# ---------------------------------------------------------------- /proc


@pytest.mark.parametrize("target", ["/", "/tmp", "/etc", "../../../../../../etc", "/no/such/host/path",
                                    "CANARY"])
def test_proc_symlink_in_rootfs_is_refused(lamina, bundle, tmp_path, target):
    b = bundle(["true"])
    canary = tmp_path / "canary"
    canary.mkdir()
    if target == "CANARY":
        target = str(canary)
    os.rmdir(os.path.join(b.rootfs, "proc"))
    os.symlink(target, os.path.join(b.rootfs, "proc"))
    before = mounts(b.path, lamina.root)
    p = lamina.run(b)
    refused(lamina, b, p, "mounts[0]: /proc is a symlink inside the rootfs", before)
    assert list(canary.iterdir()) == []


def test_sys_symlink_in_rootfs_is_refused(lamina, bundle):
    b = bundle(["true"])
    os.rmdir(os.path.join(b.rootfs, "sys"))
    os.symlink("/tmp", os.path.join(b.rootfs, "sys"))
    before = mounts(b.path, lamina.root)
    refused(lamina, b, lamina.run(b), "mounts[5]: /sys is a symlink inside the rootfs", before)


def test_proc_as_a_file_is_refused(lamina, bundle):
    b = bundle(["true"])
    os.rmdir(os.path.join(b.rootfs, "proc"))
    open(os.path.join(b.rootfs, "proc"), "w").close()
    before = mounts(b.path, lamina.root)
    refused(lamina, b, lamina.run(b), "mounts[0]: /proc is not a directory inside the rootfs", before)


@pytest.mark.parametrize("m", [
    {"destination": "/proc", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "/proc", "type": "bind", "source": "/tmp", "options": ["bind"]},
    {"destination": "/proc/sys", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "/proc/self", "type": "bind", "source": "/tmp", "options": ["rbind"]},
    {"destination": "/proc/", "type": "sysfs", "source": "sysfs"},
    {"destination": "//proc//sys/..", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "proc", "type": "tmpfs", "source": "tmpfs"},
    {"destination": "/proc", "type": "cgroup", "source": "cgroup"},
], ids=["tmpfs", "bind", "tmpfs-sys", "rbind-self", "sysfs", "unnormalised", "relative", "cgroup"])
def test_non_proc_mount_on_proc_is_refused(lamina, bundle, m):
    b = bundle(["true"])
    b.config["mounts"].append(m)
    b.write()
    before = mounts(b.path, lamina.root)
    refused(lamina, b, lamina.run(b), "mounts[7].destination: only a proc mount may be placed on /proc",
            before)


@pytest.mark.parametrize("link", ["/proc", "proc", "/proc/sys", "../../../proc"])
@pytest.mark.parametrize("mtype", ["tmpfs", "bind"])
def test_mount_onto_proc_through_a_symlink_is_refused(lamina, bundle, tmp_path, link, mtype):
    b = bundle(["true"])
    os.symlink(link, os.path.join(b.rootfs, "p"))
    if mtype == "tmpfs":
        b.config["mounts"].append({"destination": "/p", "type": "tmpfs", "source": "tmpfs"})
    else:
        b.config["mounts"].append({"destination": "/p", "type": "bind", "source": str(tmp_path),
                                   "options": ["bind"]})
    b.write()
    before = mounts(b.path, lamina.root)
    refused(lamina, b, lamina.run(b), "mounts[7].destination: /p resolves to /proc", before)


def test_lxcfs_style_bind_on_proc_file_is_allowed(lamina, bundle, tmp_path):
    src = tmp_path / "uptime"
    src.write_text("12345.67 890.12\n")
    b = bundle(["cat", "/proc/uptime"])
    b.config["mounts"].append({"destination": "/proc/uptime", "type": "bind", "source": str(src),
                               "options": ["bind", "ro"]})
    b.write()
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "12345.67 890.12\n"


# ---------------------------------------------------------------- mount destinations through symlinks


def _host_fingerprint(path: str):
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest() if os.path.isfile(path) else ""
    return (st.st_ino, st.st_mode, st.st_size, st.st_mtime_ns, digest)


@pytest.mark.parametrize("link", ["/etc", "../../../../../../../../etc", "/var/../etc"])
def test_tmpfs_through_absolute_symlink_lands_inside(lamina, bundle, link):
    b = bundle()
    name = f"canary-{b.id}"
    os.symlink(link, os.path.join(b.rootfs, "evil"))
    b.config["mounts"].append({"destination": f"/evil/{name}", "type": "tmpfs", "source": "tmpfs"})
    b.config["process"]["args"] = ["sh", "-c", f"grep ' /etc/{name} ' /proc/self/mounts | cut -d' ' -f3; "
                                               f"touch /etc/{name}/inside && ls /etc/{name}"]
    b.write()
    before = mounts(b.path, lamina.root)
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["tmpfs", "inside"]
    assert not os.path.lexists(f"/etc/{name}")
    assert os.path.isdir(os.path.join(b.rootfs, "etc", name))
    assert mounts(b.path, lamina.root) == before


def test_bind_through_symlinks_lands_inside(lamina, bundle, tmp_path):
    """A directory bind through /evil -> /var/tmp, a file bind whose destination is itself a
    symlink to a host file (/etc/hostname -> /etc/shadow): both land in the rootfs."""
    b = bundle()
    src_dir = tmp_path / "srcdir"
    src_dir.mkdir()
    (src_dir / "data").write_text("bound\n")
    src_file = tmp_path / "srcfile"
    src_file.write_text("not the host's shadow\n")
    sub = f"sub-{b.id}"
    os.symlink("/var/tmp", os.path.join(b.rootfs, "evil"))
    os.unlink(os.path.join(b.rootfs, "etc", "passwd"))
    os.symlink("/etc/shadow", os.path.join(b.rootfs, "etc", "passwd"))
    shadow_before = _host_fingerprint("/etc/shadow")
    b.config["mounts"] += [
        {"destination": f"/evil/{sub}", "type": "bind", "source": str(src_dir), "options": ["bind"]},
        {"destination": "/etc/passwd", "type": "bind", "source": str(src_file), "options": ["bind", "ro"]},
    ]
    b.config["process"]["args"] = ["sh", "-c", f"cat /var/tmp/{sub}/data /etc/shadow"]
    b.write()
    before = mounts(b.path, lamina.root)
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "bound\nnot the host's shadow\n"
    assert not os.path.lexists(f"/var/tmp/{sub}")
    assert _host_fingerprint("/etc/shadow") == shadow_before
    assert mounts(b.path, lamina.root) == before


def test_relative_mount_destination_is_inside(lamina, bundle):
    """Not absolute: taken relative to the container's / (runc's compatible behaviour)."""
    b = bundle(["sh", "-c", "grep ' /tmp/rel ' /proc/self/mounts | cut -d' ' -f3"])
    b.config["mounts"].append({"destination": "tmp/rel", "type": "tmpfs", "source": "tmpfs"})
    b.write()
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "tmpfs\n"


def test_masked_path_through_symlink_stays_inside(lamina, bundle):
    b = bundle(["sh", "-c", "cat /etc/hostname-inside; echo; stat -c %t:%T /etc/hostname-inside"])
    with open(os.path.join(b.rootfs, "etc", "hostname-inside"), "w") as f:
        f.write("image secret")
    os.symlink("/etc/hostname-inside", os.path.join(b.rootfs, "mask-me"))
    b.config["linux"]["maskedPaths"].append("/mask-me")
    b.write()
    host = _host_fingerprint("/etc/hostname")
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["1:3"]
    assert _host_fingerprint("/etc/hostname") == host


# ---------------------------------------------------------------- capabilities


def caps(out: str) -> dict[str, int]:
    rows = (line.split(":\t") for line in out.splitlines() if line.startswith("Cap"))
    return {k: int(v, 16) for k, v in rows}


CAP_STATUS = ["grep", "^Cap", "/proc/self/status"]
CAPSH = shutil.which("capsh")


def test_default_inheritable_and_ambient_are_empty(lamina, bundle):
    b = bundle(CAP_STATUS)
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    c = caps(p.stdout)
    assert c["CapInh"] == 0 and c["CapAmb"] == 0
    assert c["CapBnd"] == c["CapPrm"] == c["CapEff"] == (1 << 5) | (1 << 10) | (1 << 29)


@pytest.mark.skipif(CAPSH is None, reason="capsh (libcap2-bin) missing")
@pytest.mark.parametrize("user", [0, 1000])
def test_callers_inheritable_caps_never_reach_the_container(lamina, bundle, user):
    """The runtime itself runs with inheritable capabilities (as under some supervisors); the
    container gets none of them, whatever its user."""
    b = bundle(CAP_STATUS)
    b.config["process"]["user"] = {"uid": user, "gid": user}
    b.write()
    argv = lamina.argv("run", "--bundle", b.path, b.id)
    lamina._remember(("run", b.id))
    p = subprocess.run([CAPSH, "--inh=cap_sys_admin,cap_net_raw,cap_kill", "--", "-c", 'exec "$@"', "sh",
                        *argv], env=lamina.env(), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    c = caps(p.stdout)
    assert c["CapInh"] == 0 and c["CapAmb"] == 0
    assert c["CapPrm"] & ((1 << 21) | (1 << 13)) == 0
    if user:
        assert c["CapPrm"] == c["CapEff"] == 0


@pytest.mark.skipif(CAPSH is None, reason="capsh (libcap2-bin) missing")
def test_inheritable_outside_bounding_is_never_gained(lamina, bundle):
    """Asking for CAP_SYS_ADMIN as inheritable (and ambient) but not in the bounding set: even if
    the caller holds it inheritable, the container's root must not end up with it."""
    b = bundle(CAP_STATUS)
    c = b.config["process"]["capabilities"]
    c["inheritable"] = ["CAP_SYS_ADMIN", "CAP_KILL"]
    c["ambient"] = ["CAP_SYS_ADMIN", "CAP_KILL"]
    c["permitted"].append("CAP_SYS_ADMIN")
    b.write()
    argv = lamina.argv("run", "--bundle", b.path, b.id)
    lamina._remember(("run", b.id))
    p = subprocess.run([CAPSH, "--inh=cap_sys_admin", "--", "-c", 'exec "$@"', "sh", *argv],
                       env=lamina.env(), capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=60)
    if p.returncode == 0:
        got = caps(p.stdout)
        for k in ("CapInh", "CapPrm", "CapEff", "CapAmb", "CapBnd"):
            assert not got[k] & (1 << 21), f"{k} has CAP_SYS_ADMIN: {got}"
    else:
        assert len(p.stderr.splitlines()) == 1 and "process.capabilities" in p.stderr, p.stderr


def test_ambient_needs_inheritable(lamina, bundle):
    b = bundle(CAP_STATUS)
    b.config["process"]["user"] = {"uid": 1000, "gid": 1000}
    b.config["process"]["capabilities"]["ambient"] = ["CAP_KILL", "CAP_NET_BIND_SERVICE"]
    b.config["process"]["capabilities"]["inheritable"] = ["CAP_KILL"]
    b.write()
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    c = caps(p.stdout)
    assert c["CapInh"] == c["CapAmb"] == c["CapPrm"] == c["CapEff"] == 1 << 5


# ---------------------------------------------------------------- /dev/null in the image


@pytest.mark.parametrize("dev_tmpfs", [True, False], ids=["dev-tmpfs", "image-dev"])
@pytest.mark.parametrize("kind", ["symlink-inside", "symlink-host", "regular-file"])
def test_dev_null_replaced_in_image_does_not_redirect_masks(lamina, bundle, kind, dev_tmpfs):
    b = bundle(["sh", "-c", "cat /etc/masked; echo :; stat -c %F:%t:%T /etc/masked /dev/null; cat /etc/leak"])
    with open(os.path.join(b.rootfs, "etc", "masked"), "w") as f:
        f.write("SECRET")
    with open(os.path.join(b.rootfs, "etc", "leak"), "w") as f:
        f.write("LEAK")
    null = os.path.join(b.rootfs, "dev", "null")
    if os.path.lexists(null):
        os.unlink(null)
    if kind == "symlink-inside":
        os.symlink("/etc/leak", null)
    elif kind == "symlink-host":
        os.symlink("/etc/hostname", null)
    else:
        with open(null, "w") as f:
            f.write("LEAK")
    if not dev_tmpfs:
        b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] != "/dev"]
    b.config["linux"]["maskedPaths"].append("/etc/masked")
    b.write()
    host = _host_fingerprint("/etc/hostname")
    p = lamina.run(b)
    assert p.returncode == 0, p.stderr
    out = p.stdout.split("\n")
    assert out[0] == ":"
    assert out[1:3] == ["character special file:1:3"] * 2
    assert out[3] == "LEAK"
    assert _host_fingerprint("/etc/hostname") == host
    with open(os.path.join(b.rootfs, "etc", "leak")) as f:
        assert f.read() == "LEAK"
