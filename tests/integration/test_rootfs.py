"""The rootfs plugin with real containers: mounts in config order, every mount type and option as
the kernel reports it in /proc/self/mountinfo, propagation (per mount and rootfsPropagation),
destinations resolved inside the rootfs through the image's symlinks, the read-only root, masked
and read-only paths, pivot_root and --no-pivot.

Devices and /dev are in test_devices.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import pytest
from lamina import syscalls, testing
from lamina.testing import ran, refused

pytestmark = pytest.mark.integration

SYS_ADMIN = "CAP_SYS_ADMIN"


def sh(bundle, script: str) -> testing.Bundle:
    return bundle(["sh", "-c", script])


def mountinfo(out: str) -> list[dict]:
    """Parsed /proc/self/mountinfo lines (as printed by the container)."""
    rows = []
    for line in out.splitlines():
        if " - " not in line:
            continue
        left, right = line.split(" - ", 1)
        f, r = left.split(), right.split()
        rows.append({"id": int(f[0]), "parent": int(f[1]), "root": f[3], "point": f[4],
                     "opts": set(f[5].split(",")), "tags": f[6:], "type": r[0], "source": r[1],
                     "super": set(r[2].split(",")) if len(r) > 2 else set()})
    return rows


def at(rows: list[dict], point: str) -> dict:
    """The top mount at a mount point."""
    found = [r for r in rows if r["point"] == point]
    assert found, f"nothing mounted at {point}: {[r['point'] for r in rows]}"
    return found[-1]


def grant(b: testing.Bundle, *caps: str) -> None:
    for s in ("bounding", "effective", "permitted"):
        b.config["process"]["capabilities"][s] += list(caps)


def mount(b: testing.Bundle, dest: str, mtype: str, source: str, options: list[str] | None = None) -> None:
    b.config["mounts"].append({"destination": dest, "type": mtype, "source": source,
                               "options": options or []})


@pytest.fixture
def host_dir():
    """Factory of host directories (under /var/tmp) with mounts on them undone afterwards."""
    made = []

    def make() -> str:
        d = os.path.join("/var/tmp", f"lt-src-{uuid.uuid4().hex[:10]}")
        os.makedirs(d)
        made.append(d)
        return d

    yield make
    for d in made:
        points = [line.split()[4] for line in testing.mount_table()]
        for p in sorted((p for p in points if p == d or p.startswith(d + "/")), key=len, reverse=True):
            subprocess.run(["umount", "-l", p], capture_output=True)
        subprocess.run(["rm", "-rf", "--one-file-system", d], capture_output=True)
        assert not os.path.exists(d)


def host_mount(fstype: str, target: str, *opts: str) -> None:
    subprocess.run(["mount", "-t", fstype, *(["-o", ",".join(opts)] if opts else []), "lt-" + fstype, target],
                   check=True)


# ------------------------------------------------------------------ mounts, types, order


def test_every_mount_type_of_the_default_config(lamina, bundle):
    rows = mountinfo(ran(lamina, sh(bundle, "cat /proc/self/mountinfo")))
    want = {"/proc": "proc", "/dev": "tmpfs", "/dev/pts": "devpts", "/dev/shm": "tmpfs",
            "/dev/mqueue": "mqueue", "/sys": "sysfs", "/sys/fs/cgroup": "tmpfs"}
    for point, fstype in want.items():
        assert at(rows, point)["type"] == fstype, point
    # the cgroup mount on this hybrid host: one directory per hierarchy, and the v2 one
    assert at(rows, "/sys/fs/cgroup/memory")["type"] == "cgroup"
    assert at(rows, "/sys/fs/cgroup/unified")["type"] == "cgroup2"
    assert {"ro", "nosuid", "nodev", "noexec"} <= at(rows, "/sys")["opts"]
    assert {"gid=5", "mode=620", "ptmxmode=666"} <= at(rows, "/dev/pts")["super"]


def test_mounts_are_made_in_config_order(lamina, bundle, host_dir):
    src = host_dir()
    with open(os.path.join(src, "from-bind"), "w") as f:
        f.write("bound\n")
    b = sh(bundle, "cat /proc/self/mountinfo; cat /m/inner/from-bind; ls /m/inner/deep")
    mount(b, "/m", "tmpfs", "tmpfs", ["size=1m"])
    mount(b, "/m/inner", "bind", src, ["bind"])  # onto the tmpfs just made
    mount(b, "/m/inner/deep", "tmpfs", "tmpfs", ["size=1m"])  # onto the bind
    out = ran(lamina, b)
    rows = mountinfo(out)
    order = [r["point"] for r in rows if r["point"].startswith("/m")]
    assert order == ["/m", "/m/inner", "/m/inner/deep"]
    assert at(rows, "/m/inner")["parent"] == at(rows, "/m")["id"]
    assert at(rows, "/m/inner/deep")["parent"] == at(rows, "/m/inner")["id"]
    assert "bound" in out


def test_a_later_mount_covers_an_earlier_one(lamina, bundle, host_dir):
    src = host_dir()
    open(os.path.join(src, "marker"), "w").close()
    b = sh(bundle, "ls -A /m | wc -l; cat /proc/self/mountinfo")
    mount(b, "/m/x", "bind", src, ["rbind"])
    mount(b, "/m", "tmpfs", "tmpfs", ["size=1m"])  # after: hides /m/x
    out = ran(lamina, b)
    rows = mountinfo(out)
    assert [r["point"] for r in rows if r["point"].startswith("/m")] == ["/m/x", "/m"]
    assert out.split("\n", 1)[0] == "0"  # /m is the empty tmpfs


def test_bind_is_not_recursive_and_rbind_is(lamina, bundle, host_dir):
    src = host_dir()
    os.makedirs(os.path.join(src, "sub"))
    host_mount("tmpfs", os.path.join(src, "sub"), "size=1m")
    open(os.path.join(src, "sub", "in-submount"), "w").close()
    b = sh(bundle, "ls /plain/sub; echo --; ls /recursive/sub")
    mount(b, "/plain", "bind", src, ["bind"])
    mount(b, "/recursive", "bind", src, ["rbind"])
    plain, recursive = ran(lamina, b).split("--\n")
    assert plain == ""  # a plain bind shows the directory under the submount
    assert recursive == "in-submount\n"


def test_file_bind_mount(lamina, bundle, tmp_path):
    src = tmp_path / "hosts"
    src.write_text("10.0.0.1 lt-host\n")
    b = sh(bundle, "cat /etc/hosts-from-host; grep -c ' /etc/hosts-from-host ' /proc/self/mountinfo")
    mount(b, "/etc/hosts-from-host", "bind", str(src), ["bind", "ro"])
    assert ran(lamina, b) == "10.0.0.1 lt-host\n1\n"


def test_relative_bind_source_is_taken_from_the_bundle(lamina, bundle):
    b = sh(bundle, "cat /data/f")
    os.makedirs(os.path.join(b.path, "data"))
    with open(os.path.join(b.path, "data", "f"), "w") as f:
        f.write("in-bundle\n")
    mount(b, "/data", "none", "data", ["rbind"])
    assert ran(lamina, b) == "in-bundle\n"


def test_bind_source_missing_is_refused_naming_it(lamina, bundle):
    b = sh(bundle, "true")
    mount(b, "/data", "bind", "/var/tmp/lt-no-such-source", ["rbind"])
    msg = refused(lamina, b)
    assert "bind source /var/tmp/lt-no-such-source: no such file or directory" in msg


def test_bind_type_without_bind_option_names_the_mount(lamina, bundle, tmp_path):
    # conformance case 018: "bind" as a filesystem type is handed to mount(2) and fails
    b = sh(bundle, "true")
    mount(b, "/mnt", "bind", str(tmp_path))
    msg = refused(lamina, b)
    assert "/mnt" in msg and "no such device" in msg


# ------------------------------------------------------------------ options


def test_mount_options_show_in_mountinfo(lamina, bundle, host_dir):
    src = host_dir()
    b = sh(bundle, "cat /proc/self/mountinfo")
    mount(b, "/t", "tmpfs", "tmpfs", ["ro", "nosuid", "nodev", "noexec", "size=1m", "mode=0710"])
    mount(b, "/b", "bind", src, ["rbind", "ro", "nosuid", "nodev", "noexec"])
    mount(b, "/w", "tmpfs", "tmpfs", ["rw", "size=2m", "mode=1777", "noatime"])
    rows = mountinfo(ran(lamina, b))
    t = at(rows, "/t")
    assert {"ro", "nosuid", "nodev", "noexec"} <= t["opts"]
    assert {"size=1024k", "mode=710"} <= t["super"]
    bnd = at(rows, "/b")
    assert {"ro", "nosuid", "nodev", "noexec"} <= bnd["opts"] and bnd["root"] == src
    w = at(rows, "/w")
    assert "rw" in w["opts"] and "noatime" in w["opts"] and not {"nosuid", "noexec"} & w["opts"]
    assert "size=2048k" in w["super"]


def test_mount_options_are_enforced(lamina, bundle):
    b = sh(bundle, "touch /ro/x 2>&1; cp /bin/busybox /noexec/true && /noexec/true 2>&1;"
                   " cp /bin/busybox /exec/true && /exec/true && echo exec-ok")
    mount(b, "/ro", "tmpfs", "tmpfs", ["ro", "size=1m"])
    mount(b, "/noexec", "tmpfs", "tmpfs", ["noexec", "size=4m"])
    mount(b, "/exec", "tmpfs", "tmpfs", ["exec", "size=4m"])
    out = ran(lamina, b)
    assert "Read-only file system" in out
    assert "Permission denied" in out
    assert "exec-ok" in out


def test_unsupported_mount_option_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    mount(b, "/t", "tmpfs", "tmpfs", ["rro"])
    assert "mounts[7].options: 'rro' is not supported by lamina" in refused(lamina, b)


def test_readonly_tmpfs_is_populated_then_made_readonly(lamina, bundle):
    # conformance case 019: /dev read-only, yet its devices and sub-mounts are in place
    b = sh(bundle, "grep -E '^tmpfs /dev ' /proc/self/mounts; echo x > /dev/null && echo null-ok;"
                   " touch /dev/newfile 2>/dev/null || echo dev-ro; ls /dev/pts/ptmx")
    b.config["mounts"][1]["options"].append("ro")
    out = ran(lamina, b)
    assert out.startswith("tmpfs /dev tmpfs ro,")
    assert "null-ok" in out and "dev-ro" in out and "/dev/pts/ptmx" in out


# ------------------------------------------------------------------ propagation


class Propagation:
    """A shared tmpfs on the host bound into a container at /s; the container is created (its
    namespace exists), then the host mounts something under the source, then it starts."""

    def __init__(self, lamina, bundle, host_dir, script: str, bind_options: list[str],
                 rootfs_propagation: str | None = None) -> None:
        self.src = host_dir()
        host_mount("tmpfs", self.src, "size=1m")
        subprocess.run(["mount", "--make-shared", self.src], check=True)
        os.makedirs(os.path.join(self.src, "late"))
        os.makedirs(os.path.join(self.src, "in"))
        self.b = sh(bundle, script)
        mount(self.b, "/s", "bind", self.src, ["rbind", *bind_options])
        if rootfs_propagation:
            self.b.config["linux"]["rootfsPropagation"] = rootfs_propagation
        grant(self.b, SYS_ADMIN)
        self.b.write()
        self.lamina = lamina
        self.out = os.path.join(self.b.path, "out")

    def run(self) -> str:
        with open(self.out, "w") as f:
            p = self.lamina.create(self.b, stdout=f, stderr=subprocess.STDOUT)
        assert p.returncode == 0, open(self.out).read()
        host_mount("tmpfs", os.path.join(self.src, "late"), "size=1m")
        open(os.path.join(self.src, "late", "marker"), "w").close()
        assert self.lamina("start", self.b.id).returncode == 0
        deadline = time.monotonic() + 10
        while self.lamina.state(self.b.id)["status"] != "stopped":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return open(self.out).read()

    def on_host(self, sub: str) -> bool:
        return os.path.ismount(os.path.join(self.src, sub))


def test_bind_of_a_shared_source_receives_host_mounts_by_default(lamina, bundle, host_dir, subreaper):
    t = Propagation(lamina, bundle, host_dir, "ls /s/late; grep ' /s ' /proc/self/mountinfo;"
                                             " mount -t tmpfs inner /s/in && echo mounted", [])
    out = t.run()
    assert out.startswith("marker\n"), out  # host -> container: the mount arrived
    assert "master:" in out  # the container's copy is a slave of the host's
    assert "mounted" in out and not t.on_host("in")  # container -> host: nothing leaks


def test_private_bind_option_stops_host_mounts(lamina, bundle, host_dir, subreaper):
    t = Propagation(lamina, bundle, host_dir, "ls /s/late | wc -l", ["rprivate"])
    assert t.run() == "0\n"


def test_rootfs_propagation_private_stops_host_mounts(lamina, bundle, host_dir, subreaper):
    t = Propagation(lamina, bundle, host_dir, "ls /s/late | wc -l", [], rootfs_propagation="rprivate")
    assert t.run() == "0\n"


def test_rshared_bind_with_rshared_rootfs_propagation_is_two_way(lamina, bundle, host_dir, subreaper):
    # what kubelet's Bidirectional mount propagation relies on (as with runc)
    t = Propagation(lamina, bundle, host_dir, "ls /s/late; grep -E ' / | /s ' /proc/self/mountinfo;"
                                             " mount -t tmpfs inner /s/in && echo mounted",
                    ["rshared"], rootfs_propagation="rshared")
    out = t.run()
    rows = mountinfo(out)
    assert out.startswith("marker\n"), out
    assert any(tag.startswith("shared:") for tag in at(rows, "/")["tags"])
    s_tags = at(rows, "/s")["tags"]
    assert any(tag.startswith("shared:") for tag in s_tags)
    assert not any(tag.startswith("master:") for tag in s_tags)  # a peer of the host's, not a slave
    assert "mounted" in out
    assert t.on_host("in"), "the container's mount did not reach the host"


def test_rshared_bind_without_rootfs_propagation_stays_one_way(lamina, bundle, host_dir, subreaper):
    t = Propagation(lamina, bundle, host_dir, "ls /s/late; mount -t tmpfs inner /s/in && echo mounted",
                    ["rshared"])
    out = t.run()
    assert out == "marker\nmounted\n"
    assert not t.on_host("in")


def test_default_root_has_no_propagation_to_the_host(lamina, bundle):
    rows = mountinfo(ran(lamina, sh(bundle, "cat /proc/self/mountinfo")))
    assert not any(tag.startswith("shared:") for r in rows for tag in r["tags"])


def test_unknown_rootfs_propagation_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    b.config["linux"]["rootfsPropagation"] = "sideways"
    assert "linux.rootfsPropagation: unknown value 'sideways'" in refused(lamina, b)


# ------------------------------------------------------------------ destinations inside the rootfs


def test_destinations_resolve_inside_the_rootfs_through_symlinks(lamina, bundle):
    marker = f"/var/tmp/lt-escape-{uuid.uuid4().hex[:8]}"
    b = sh(bundle, "cat /proc/self/mountinfo")
    r = b.rootfs
    os.makedirs(os.path.join(r, "mnt"))
    os.symlink("/mnt/real", os.path.join(r, "abs"))  # absolute, dangling: its target is made
    os.symlink("../mnt/rel", os.path.join(r, "tmp", "rel"))  # relative
    os.symlink("../../../../../../../.." + marker, os.path.join(r, "up"))  # tries to climb out
    os.symlink("/etc", os.path.join(r, "hostetc"))  # the host's /etc, if resolved outside
    mount(b, "/abs/x", "tmpfs", "tmpfs", ["size=1m"])
    mount(b, "/tmp/rel", "tmpfs", "tmpfs", ["size=1m"])
    mount(b, "/up", "tmpfs", "tmpfs", ["size=1m"])
    mount(b, "/hostetc/lt-mounted", "tmpfs", "tmpfs", ["size=1m"])
    before = testing.mount_table()
    points = {row["point"] for row in mountinfo(ran(lamina, b))}
    assert {"/mnt/real/x", "/mnt/rel", marker, "/etc/lt-mounted"} <= points
    assert os.path.isdir(os.path.join(r, "mnt/real/x")) and os.path.isdir(os.path.join(r, "mnt/rel"))
    assert os.path.isdir(os.path.join(r, marker.lstrip("/")))
    assert not os.path.exists(marker)
    assert not os.path.exists("/etc/lt-mounted")
    assert testing.mount_table() == before


def test_file_bind_through_a_dangling_symlink_creates_its_target(lamina, bundle, tmp_path):
    # an image's /etc/resolv.conf -> /run/resolv.conf with no /run
    src = tmp_path / "resolv.conf"
    src.write_text("nameserver 10.0.0.53\n")
    b = sh(bundle, "cat /etc/resolv.conf")
    os.symlink("/run/resolv.conf", os.path.join(b.rootfs, "etc", "resolv.conf"))
    mount(b, "/etc/resolv.conf", "bind", str(src), ["bind", "ro"])
    assert ran(lamina, b) == "nameserver 10.0.0.53\n"
    assert os.path.isfile(os.path.join(b.rootfs, "run", "resolv.conf"))


def test_symlink_loop_in_a_destination_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    os.symlink("/loop2", os.path.join(b.rootfs, "loop1"))
    os.symlink("/loop1", os.path.join(b.rootfs, "loop2"))
    mount(b, "/loop1/x", "tmpfs", "tmpfs", [])
    assert "too many levels of symbolic links" in refused(lamina, b).lower()


def test_proc_that_is_a_symlink_in_the_image_is_refused(lamina, bundle):
    # conformance case 016 (CVE-2019-16884 class): nothing gets mounted through the link
    b = bundle(["true"])
    os.rmdir(os.path.join(b.rootfs, "proc"))
    os.makedirs(os.path.join(b.rootfs, "bad-proc"))
    os.symlink("/bad-proc", os.path.join(b.rootfs, "proc"))
    msg = refused(lamina, b)
    assert "mounts[0]: /proc is a symlink inside the rootfs; refusing to mount there" in msg
    assert os.listdir(os.path.join(b.rootfs, "bad-proc")) == []


# ------------------------------------------------------------------ read-only root, masks


def test_readonly_root(lamina, bundle):
    b = sh(bundle, "touch /x 2>&1; echo rc=$?; grep ' / ' /proc/self/mountinfo;"
                   " touch /dev/shm/ok && echo shm-rw")
    b.config["root"]["readonly"] = True
    out = ran(lamina, b)
    assert "Read-only file system" in out and "rc=1" in out
    assert at(mountinfo(out), "/")["opts"] >= {"ro"}
    assert "shm-rw" in out  # the mounts on it keep their own options
    assert not os.path.exists(os.path.join(b.rootfs, "x"))


def test_readonly_root_needs_a_mount_namespace(lamina, bundle):
    # conformance case 023: without one the remount would hit the host; refused, not run writable
    b = sh(bundle, "touch /written")
    b.config["root"]["readonly"] = True
    b.config["linux"]["namespaces"] = [ns for ns in b.config["linux"]["namespaces"] if ns["type"] != "mount"]
    assert "linux.namespaces: a \"mount\" namespace is required" in refused(lamina, b)
    assert not os.path.exists(os.path.join(b.rootfs, "written"))


def test_masked_file_reads_empty_and_masked_dir_is_an_empty_readonly_tmpfs(lamina, bundle):
    b = sh(bundle, "cat /etc/secret; stat -c '%F %t:%T' /etc/secret; ls -A /etc/secret-dir | wc -l;"
                   " touch /etc/secret-dir/x 2>&1; grep ' /etc/secret-dir ' /proc/self/mountinfo;"
                   " stat -c '%t:%T' /proc/keys; wc -c < /proc/keys")
    with open(os.path.join(b.rootfs, "etc", "secret"), "w") as f:
        f.write("TOP SECRET\n")
    os.makedirs(os.path.join(b.rootfs, "etc", "secret-dir"))
    open(os.path.join(b.rootfs, "etc", "secret-dir", "key"), "w").close()
    b.config["linux"]["maskedPaths"] += ["/etc/secret", "/etc/secret-dir", "/no/such/path"]
    out = ran(lamina, b)
    lines = out.splitlines()
    assert "TOP SECRET" not in out
    assert lines[0] == "character special file 1:3"
    assert lines[1] == "0"
    assert "Read-only file system" in lines[2]
    row = mountinfo(lines[3])[0]
    assert row["type"] == "tmpfs" and "ro" in row["opts"]
    assert lines[4:] == ["1:3", "0"]  # the default masks of /proc
    assert not os.path.exists(os.path.join(b.rootfs, "no"))  # missing paths are skipped, not made


def test_readonly_paths(lamina, bundle):
    b = sh(bundle, "echo 1 2>&1 > /proc/sys/kernel/shmmax; echo rc=$?; touch /etc/x 2>&1; echo rc=$?;"
                   " touch /tmp/x && echo tmp-ok; grep -E ' /proc/sys | /etc ' /proc/self/mountinfo")
    b.config["linux"]["readonlyPaths"] += ["/etc", "/no/such/path"]
    out = ran(lamina, b)
    assert out.count("Read-only file system") == 2 and out.count("rc=1") == 2
    assert "tmp-ok" in out
    rows = mountinfo(out)
    for p in ("/proc/sys", "/etc"):
        assert {"ro", "nosuid", "nodev", "noexec"} <= at(rows, p)["opts"]
    assert not os.path.exists(os.path.join(b.rootfs, "no"))


# ------------------------------------------------------------------ pivot_root and --no-pivot


def expected_points(config: dict) -> set[str]:
    linux = config["linux"]
    points = {"/"} | {os.path.normpath(m["destination"]) for m in config["mounts"]}
    points |= set(linux.get("maskedPaths", [])) | set(linux.get("readonlyPaths", []))
    return points


def test_after_pivot_root_no_host_mount_is_visible(lamina, bundle):
    b = sh(bundle, "cat /proc/self/mountinfo")
    rows = mountinfo(ran(lamina, b))
    allowed = expected_points(b.config)
    stray = [r["point"] for r in rows
             if r["point"] not in allowed and not r["point"].startswith("/sys/fs/cgroup/")]
    assert stray == []
    host_only = {line.split()[4] for line in testing.mount_table()
                 if not line.split()[4].startswith("/sys/fs/cgroup/")} - allowed
    assert host_only and not host_only & {r["point"] for r in rows}
    # the root is the bundle's rootfs, nothing above it
    assert at(rows, "/")["root"] == os.path.realpath(b.rootfs)


def test_no_pivot_runs(lamina, bundle):
    b = sh(bundle, "echo $$; ls /; grep -c . /proc/self/mountinfo")
    out = ran(lamina, b, "--no-pivot")
    assert out.startswith("1\nbin\n")


def _listdir(path: str) -> list[str] | None:
    try:
        return os.listdir(path)
    except OSError:
        return None


def _reach_below_root(pid: int, marker: str) -> list:
    """From a host child in the container's mount namespace: detach the mount at its "/" and
    enter the namespace again, which puts us at what lies beneath. What is to be seen there?"""
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            fd = os.open(f"/proc/{pid}/ns/mnt", os.O_RDONLY)
            syscalls.setns(fd, syscalls.CLONE.NEWNS)
            syscalls.umount2("/", syscalls.MNT_DETACH)
            syscalls.setns(fd, syscalls.CLONE.NEWNS)
            res = [os.path.exists(marker), _listdir("/proc"), _listdir("/sys")]
            os.write(w, json.dumps(res).encode())
        finally:
            os._exit(0)
    os.close(w)
    os.waitpid(child, 0)
    with os.fdopen(r) as f:
        return json.loads(f.read())


@pytest.mark.parametrize("no_pivot", [False, True])
def test_what_is_left_below_the_root(lamina, bundle, subreaper, tmp_path, no_pivot):
    """The security difference of --no-pivot: pivot_root takes the host's mount tree out of the
    container's namespace; --no-pivot only moves the rootfs on top of it and chroots, so the
    host's files stay in the namespace, a umount away for a process that may unmount. As runc,
    lamina at least detaches the host's proc and sysfs there (a visible full proc would let a
    container mount a fresh, unmasked one)."""
    marker = str(tmp_path / "host-marker")
    open(marker, "w").close()
    b = bundle(["sleep", "60"])
    extra = ["--no-pivot"] if no_pivot else []
    assert lamina.create(b, *extra).returncode == 0
    host_marker, proc, sys = _reach_below_root(lamina.state(b.id)["pid"], marker)
    if no_pivot:
        assert host_marker, "the host's root should still be below the container's (--no-pivot)"
        assert proc == [] and sys == [], "the host's proc and sysfs must be detached"
    else:
        assert not host_marker, "the host's root is still in the container's mount namespace"
