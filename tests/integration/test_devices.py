"""Device nodes with real containers: the runtime spec's default devices (right type, major:minor
and mode 0666, and usable), linux.devices with fileMode/uid/gid, the /dev symlinks and ptmx,
devices in a user namespace (bound from the host, as mknod is not allowed there).
"""

from __future__ import annotations

import os
import subprocess
import tempfile

import pytest
from lamina import testing
from lamina.testing import ran, refused

pytestmark = pytest.mark.integration

DEFAULTS = {"null": (1, 3), "zero": (1, 5), "full": (1, 7), "random": (1, 8), "urandom": (1, 9),
            "tty": (5, 0)}


def sh(bundle, script: str) -> testing.Bundle:
    return bundle(["sh", "-c", script])


STAT = "stat -c '%n %F %t:%T %a %u:%g'"


def stats(out: str) -> dict[str, tuple[str, tuple[int, int], str, str]]:
    """name -> (type, (major, minor), octal mode, uid:gid) from STAT lines (major/minor are hex)."""
    res = {}
    for line in out.splitlines():
        name, rest = line.split(" ", 1)
        kind, rest = rest.rsplit(" ", 3)[0], rest.rsplit(" ", 3)[1:]
        major, minor = (int(x, 16) for x in rest[0].split(":"))
        res[name] = (kind, (major, minor), rest[1], rest[2])
    return res


def test_default_devices(lamina, bundle):
    out = ran(lamina, sh(bundle, f"{STAT} " + " ".join(f"/dev/{n}" for n in DEFAULTS)))
    got = stats(out)
    for name, nums in DEFAULTS.items():
        assert got[f"/dev/{name}"] == ("character special file", nums, "666", "0:0"), name


def test_default_devices_work(lamina, bundle):
    # also conformance case 024: without linux.resources they are there and usable
    b = sh(bundle, "echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c;"
                   " head -c 4 /dev/urandom | wc -c; head -c 4 /dev/random | wc -c;"
                   " echo x 2>&1 > /dev/full; true")
    b.config["linux"].pop("resources", None)
    out = ran(lamina, b).splitlines()
    assert out[:4] == ["null-ok", "4", "4", "4"]
    assert "No space left on device" in out[4]


def test_dev_symlinks_and_ptmx(lamina, bundle):
    out = ran(lamina, sh(bundle, "for l in fd stdin stdout stderr ptmx; do echo $l $(readlink /dev/$l); done;"
                                 " stat -c '%t:%T' /dev/pts/ptmx"))
    links = dict(line.split(" ", 1) for line in out.splitlines()[:-1])
    assert links == {"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
                     "stderr": "/proc/self/fd/2", "ptmx": "pts/ptmx"}
    assert out.splitlines()[-1] == "5:2"


def test_linux_devices_with_mode_and_owner(lamina, bundle):
    b = sh(bundle, f"{STAT} /dev/lt-char /dev/sub/lt-block /dev/lt-fifo")
    b.config["linux"]["devices"] = [
        {"path": "/dev/lt-char", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640, "uid": 1000,
         "gid": 5},
        {"path": "/dev/sub/lt-block", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600},
        {"path": "/dev/lt-fifo", "type": "p", "fileMode": 0o620, "uid": 0, "gid": 1000},
    ]
    got = stats(ran(lamina, b))
    assert got["/dev/lt-char"] == ("character special file", (10, 229), "640", "1000:5")
    assert got["/dev/sub/lt-block"] == ("block special file", (7, 200), "600", "0:0")
    assert got["/dev/lt-fifo"][0] == "fifo" and got["/dev/lt-fifo"][2:] == ("620", "0:1000")


def test_linux_devices_without_file_mode_get_0666(lamina, bundle):
    b = sh(bundle, f"{STAT} /dev/lt-null2")
    b.config["linux"]["devices"] = [{"path": "/dev/lt-null2", "type": "c", "major": 1, "minor": 3}]
    assert stats(ran(lamina, b))["/dev/lt-null2"] == ("character special file", (1, 3), "666", "0:0")


def test_device_replaces_what_the_image_has_at_its_path(lamina, bundle):
    # an image's /dev/null that is a symlink to a host file must not redirect writes there
    victim = tempfile.NamedTemporaryFile(dir="/var/tmp", prefix="lt-victim-", delete=False)
    victim.close()
    try:
        b = sh(bundle, "echo pwned > /dev/null; stat -c '%F' /dev/null")
        b.config["mounts"] = [m for m in b.config["mounts"] if m["destination"] != "/dev"]
        os.makedirs(os.path.join(b.rootfs, "dev"), exist_ok=True)
        os.symlink(victim.name, os.path.join(b.rootfs, "dev", "null"))
        assert ran(lamina, b) == "character special file\n"
        assert open(victim.name).read() == ""
    finally:
        os.unlink(victim.name)


def test_device_outside_dev_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    b.config["linux"]["devices"] = [{"path": "/etc/lt-dev", "type": "c", "major": 1, "minor": 3}]
    assert "linux.devices[0].path: device nodes must be under /dev" in refused(lamina, b)


def test_device_of_unknown_type_is_refused(lamina, bundle):
    b = sh(bundle, "true")
    b.config["linux"]["devices"] = [{"path": "/dev/x", "type": "z", "major": 1, "minor": 3}]
    assert "linux.devices[0].type: unknown device type 'z'" in refused(lamina, b)


def test_host_dev_bind_gets_no_device_nodes_made(lamina, bundle):
    # with /dev bound from the host, runc makes no nodes of its own: neither does lamina
    b = sh(bundle, "test -e /dev/vda && echo host-dev; readlink /dev/ptmx || echo no-link")
    b.config["mounts"] = [m for m in b.config["mounts"] if not m["destination"].startswith("/dev")]
    b.config["mounts"].insert(1, {"destination": "/dev", "type": "bind", "source": "/dev",
                                  "options": ["rbind", "nosuid", "noexec"]})
    before = set(os.listdir("/dev"))
    out = ran(lamina, b)
    assert "host-dev" in out and "no-link" in out
    assert set(os.listdir("/dev")) == before


def test_devices_in_a_user_namespace_are_bound_from_the_host(lamina, subreaper):
    # mknod is not allowed in a user namespace: the host's nodes are bind-mounted instead
    parent = tempfile.mkdtemp(prefix="devices-", dir=testing.CACHE)
    os.chmod(parent, 0o755)
    try:
        b = testing.make_bundle(parent, args=["sh", "-c", f"{STAT} /dev/null /dev/zero; echo x > /dev/null &&"
                                                          " head -c 3 /dev/zero | wc -c"])
        b.config["linux"]["namespaces"].append({"type": "user"})
        b.config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        b.config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        subprocess.run(["chown", "-R", "-h", "100000:100000", b.rootfs], check=True)
        out = ran(lamina, b)
        got = stats("\n".join(out.splitlines()[:2]))
        assert got["/dev/null"][:2] == ("character special file", (1, 3))
        assert got["/dev/zero"][:2] == ("character special file", (1, 5))
        assert out.splitlines()[2] == "3"
    finally:
        subprocess.run(["rm", "-rf", parent])
